//! `admin om prepare`, as Ozone's `PrepareSubCommand` runs it: the prepare request through the
//! leader, then every node asked for its prepare status until all report PREPARE_COMPLETED or
//! the timeout passes, printing Ozone's lines.

use std::time::{Duration, Instant};

use om_client::wire::PrepareStatus;
use om_client::FailoverClient;

use super::CliError;

/// What `admin om finalizationstatus` prints: omring's state database has one layout version,
/// so there is never an upgrade to finalize (Ozone prints the same for a finalized cluster).
pub const FINALIZATION_STATUS: &str = "ALREADY_FINALIZED";

/// Ozone's prepare timings, in seconds (hidden options there too).
#[derive(clap::Args, Debug, Clone)]
pub struct PrepareWait {
    /// Accepted for Ozone's scripts; the leader answers once the prepare entry is applied.
    #[arg(long = "transaction-apply-wait-timeout", default_value_t = 120, hide = true)]
    pub apply_wait_timeout: u64,
    /// Accepted for Ozone's scripts (see --transaction-apply-wait-timeout).
    #[arg(long = "transaction-apply-check-interval", default_value_t = 5, hide = true)]
    pub apply_check_interval: u64,
    /// Seconds between rounds of asking every node.
    #[arg(long = "prepare-check-interval", default_value_t = 10, hide = true)]
    pub check_interval: u64,
    /// Seconds to wait for every node to be prepared.
    #[arg(long = "prepare-timeout", default_value_t = 300, hide = true)]
    pub timeout: u64,
}

pub async fn prepare(client: &FailoverClient, wait: &PrepareWait) -> Result<(), CliError> {
    let txn_id = client.prepare().await?.txn_id;
    println!("Ozone Manager Prepare Request successfully returned with Transaction Id : [{txn_id}].");
    println!();
    println!("Checking individual OM instances for prepare request completion...");
    let nodes = client.nodes().to_vec();
    let mut prepared = vec![false; nodes.len()];
    let deadline = Instant::now() + Duration::from_secs(wait.timeout);
    while Instant::now() < deadline && prepared.iter().any(|p| !p) {
        for (node, done) in nodes.iter().zip(prepared.iter_mut()).filter(|(_, d)| !**d) {
            match client.node_status(node).await {
                Ok(st) => {
                    println!(
                        "OM : [{}], Prepare Status : [{}], Current Transaction Id : [{}]",
                        node.host,
                        st.prepare.status.as_str(),
                        st.prepare.index
                    );
                    *done = st.prepare.status == PrepareStatus::PrepareCompleted;
                }
                Err(e) => {
                    println!("Exception while checking preparation completeness for [{}], Error : [{e}]", node.host)
                }
            }
        }
        if prepared.iter().any(|p| !p) {
            println!("Waiting for {} seconds before retrying...", wait.check_interval);
            tokio::time::sleep(Duration::from_secs(wait.check_interval)).await;
        }
    }
    let done = prepared.iter().filter(|p| **p).count();
    if done < nodes.len().div_ceil(2) {
        return Err(CliError::Refused("OM Preparation failed since a majority OMs are not prepared yet.".into()));
    }
    println!();
    println!("OM Preparation successful! ");
    if done == nodes.len() {
        println!("All OMs are prepared");
    } else {
        let missing: Vec<&str> =
            nodes.iter().zip(&prepared).filter(|(_, p)| !**p).map(|(n, _)| n.host.as_str()).collect();
        println!("A majority of OMs are prepared. OMs that are not prepared : {}", missing.concat());
    }
    println!("No new write requests will be allowed until preparation is cancelled or upgrade/downgrade is done.");
    Ok(())
}
