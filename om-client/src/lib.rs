//! Shared by om-node, its CLI and the operator: `ozone-site.xml` configuration, the client
//! API's wire types, and the failover client. No RocksDB here, so the operator stays small.

pub mod acl;
pub mod client;
mod client_acl;
pub mod config;
mod hadoop_vars;
mod hadoop_xml;
pub mod jackson;
pub mod wire;

pub mod ports;
pub mod shutdown;
pub mod tls;
pub use client::{ClientError, FailoverClient};
pub use client_acl::AclChange;
pub use config::{ConfigError, NodeAddress, OzoneConfig, RetryPolicy, ServiceConfig};
pub use wire::*;
