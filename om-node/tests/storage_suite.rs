//! openraft's storage conformance suite against our RocksDB log store and state machine.

use openraft::testing::log::{StoreBuilder, Suite};
use openraft::StorageError;

use om_node::metrics::NodeMetrics;
use om_node::store::{LogStore, StateMachineStore};
use om_node::types::TypeConfig;

struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir> for Builder {
    async fn build(&self) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), StorageError<TypeConfig>> {
        let dir = tempfile::tempdir().map_err(|e| StorageError::read(openraft::error::ErrorSource::from_error(&e)))?;
        let log = LogStore::open(&dir.path().join("log"))
            .map_err(|e| StorageError::read(openraft::error::ErrorSource::from_error(&e)))?;
        let sm = StateMachineStore::open(&dir.path().join("sm"), 1000, NodeMetrics::new())
            .map_err(|e| StorageError::read(openraft::error::ErrorSource::from_error(&e)))?;
        Ok((dir, log, sm))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rocksdb_stores_pass_the_openraft_suite() -> Result<(), StorageError<TypeConfig>> {
    Suite::test_all(Builder).await?;
    // Every store is dropped by now: let their threads close the databases before the process
    // exits (RocksDB aborts when torn down under an open database).
    assert!(om_node::store::wait_for_storage_threads(std::time::Duration::from_secs(30)), "storage threads still run");
    Ok(())
}
