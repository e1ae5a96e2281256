//! The end-to-end scenarios on real Kubernetes Nodes, all on one cluster (see [`common`]).
//!
//! A custom test harness (libtest-mimic) keeps libtest's command line (`make test-one T=e2e
//! ARGS=drain`, `--list`, `--exact`, `--skip`) while the cluster is started once and stopped
//! after the last scenario. Scenarios run one at a time: they share the cluster and, on two
//! cores, the CPU.

mod certmanager;
mod common;
mod crd_validation;
mod failures;
mod maintenance;
mod operator;
mod scaling;
mod scenario;
mod security;
mod statefulset_ring;

fn main() -> std::process::ExitCode {
    let mut args = libtest_mimic::Arguments::from_args();
    args.test_threads = Some(1);
    let trials: Vec<libtest_mimic::Trial> = [
        crd_validation::trials(),
        statefulset_ring::trials(),
        operator::trials(),
        failures::trials(),
        maintenance::trials(),
        scaling::trials(),
        security::trials(),
        certmanager::trials(),
    ]
    .into_iter()
    .flatten()
    .collect();
    let conclusion = libtest_mimic::run(&args, trials);
    common::finish();
    conclusion.exit_code()
}
