//! `dev ring`: a local ring of processes for trying things out.

use om_client::FailoverClient;

use super::CliError;

/// `dev ring`: starts `nodes` local processes of this binary and waits for Ctrl-C.
pub async fn run_dev_ring(nodes: usize, dir: &std::path::Path, service_id: &str) -> Result<(), CliError> {
    if !(1..=9).contains(&nodes) {
        return Err(CliError::Usage(format!("--nodes must be between 1 and 9, got {nodes}")));
    }
    let io =
        |e: &dyn std::fmt::Display| CliError::Usage(format!("cannot start the local ring in {}: {e}", dir.display()));
    if dir.join("ozone-site.xml").exists() {
        return Err(CliError::Usage(format!(
            "{} already holds a ring; remove it or choose another --dir",
            dir.display()
        )));
    }
    let bin = std::env::current_exe().map_err(|e| io(&e))?;
    let mut ring = om_localring::LocalRing::configure(&bin, dir, service_id, nodes, &[]).map_err(|e| io(&e))?;
    ring.start_all().map_err(|e| io(&e))?;
    let leader = ring.wait_leader(std::time::Duration::from_secs(30)).await;
    let conf = ring.conf_path.display().to_string();
    match leader {
        Some(l) => eprintln!("ring {service_id} is up with {nodes} nodes; leader {l}"),
        None => eprintln!("ring {service_id} started but no leader yet; see the logs in {}", dir.display()),
    }
    let client = FailoverClient::from_config(&ring.conf, Some(service_id))?;
    print!("{}", super::roles::format_table(&super::roles::collect(&client).await));
    eprintln!(
        "\nTry:\n  om-node --conf {conf} sh volume create /vol1\n  om-node --conf {conf} sh bucket create /vol1/bucket1\n  om-node --conf {conf} sh key create /vol1/bucket1/key1 --size 1024\n  om-node --conf {conf} sh key list /vol1/bucket1\n  om-node --conf {conf} admin om roles --table\nLogs and data: {}\nCtrl-C stops the ring.",
        dir.display()
    );
    let _ = tokio::signal::ctrl_c().await;
    for i in 0..ring.nodes.len() {
        let _ = ring.terminate(i, std::time::Duration::from_secs(20));
    }
    Ok(())
}
