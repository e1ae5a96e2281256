//! Ozone's native ACLs on a secure ring (security and `ozone.acl.enabled` on), through real
//! sockets: the rights table on every namespace endpoint for every kind of caller, Ozone's 403,
//! and the ACL commands of the CLI with DEFAULT ACLs handed down.

#[path = "../common/mod.rs"]
mod common;
mod setup;
mod shell;
mod snapshot;
mod table;

use setup::SecureRing;

#[tokio::test(flavor = "multi_thread")]
async fn a_secure_ring_enforces_the_rights_table_on_every_endpoint() {
    let ring = SecureRing::start(1).await;
    table::refusals_are_403_with_ozones_message(&ring).await;
    table::every_endpoint_allows_and_refuses_as_the_rights_table_says(&ring).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_adds_removes_sets_and_gets_acls_and_defaults_are_handed_down() {
    let ring = SecureRing::start(3).await;
    shell::acl_commands_and_inheritance(&ring).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_snapshot_carries_acls_and_prefix_entries() {
    snapshot::a_snapshot_carries_acls_and_prefix_entries().await;
}
