//! Ozone's native ACLs on a secure ring (security and `ozone.acl.enabled` on), through real
//! sockets: the rights table on every namespace endpoint for every kind of caller, and Ozone's
//! 403.

#[path = "../common/mod.rs"]
mod common;
mod setup;
mod table;

use setup::SecureRing;

#[tokio::test(flavor = "multi_thread")]
async fn a_secure_ring_enforces_the_rights_table_on_every_endpoint() {
    let ring = SecureRing::start(1).await;
    table::refusals_are_403_with_ozones_message(&ring).await;
    table::every_endpoint_allows_and_refuses_as_the_rights_table_says(&ring).await;
}
