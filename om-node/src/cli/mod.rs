//! The Ozone-shaped command line: `om` runs a node, `sh` edits the namespace, `admin om`
//! inspects and steers the ring. Users paste Ozone commands, so `-id` works as `--service-id`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use om_client::{ClientError, FailoverClient, OzoneConfig};

mod acl;
mod args;
mod dev;
mod open_files;
mod ozone_json;
mod prepare;
mod print;
mod roles;
mod sh;
mod uri;

pub use acl::AclOp;
pub use args::normalize_args;
pub use dev::run_dev_ring;
use print::print;

/// omring: a Raft-replicated Ozone Manager metadata ring.
#[derive(Parser, Debug)]
#[command(name = "om-node", version, about)]
pub struct Cli {
    /// Configuration file [default: $OZONE_CONF_DIR/ozone-site.xml, else ./ozone-site.xml]
    #[arg(long, global = true, value_name = "FILE")]
    pub conf: Option<PathBuf>,
    /// Override a configuration property (repeatable; Ozone's `-D` and `--set`).
    #[arg(short = 'D', long = "set", global = true, value_name = "KEY=VALUE")]
    pub define: Vec<String>,
    /// Service id of the ring (aliases: -id, --om-service-id).
    #[arg(long = "service-id", alias = "om-service-id", global = true, value_name = "SID")]
    pub service_id: Option<String>,
    /// Print the API's JSON records (snake_case, epoch milliseconds) instead of Ozone's output.
    #[arg(long, global = true)]
    pub json: bool,
    /// Also print what a create or rename made (silent otherwise, as Ozone's shell is).
    #[arg(long, global = true)]
    pub verbose: bool,
    /// CA bundle to check the ring's certificates with [default: omring.client.tls.ca.file, else omring.tls.ca.file].
    #[arg(long = "ca-file", global = true, value_name = "PEM")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate [default: omring.client.certificate.file, else omring.tls.certificate.file].
    #[arg(long = "cert-file", global = true, value_name = "PEM")]
    pub cert_file: Option<PathBuf>,
    /// Key of the client certificate [default: omring.client.private.key.file, else omring.tls.private.key.file].
    #[arg(long = "key-file", global = true, value_name = "PEM")]
    pub key_file: Option<PathBuf>,
    /// File holding a bearer token, e.g. a Kubernetes ServiceAccount token [default: omring.client.token.file].
    #[arg(long = "token-file", global = true, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// The failover client the flags, `conf` and an `sh` command's `o3://` address describe
    /// (service, retries, TLS, token).
    pub fn client(&self, conf: &OzoneConfig) -> Result<FailoverClient, CliError> {
        let overrides = om_client::tls::ClientTlsOverrides {
            ca: self.ca_file.clone(),
            cert: self.cert_file.clone(),
            key: self.key_file.clone(),
        };
        let path = match &self.command {
            Command::Sh { what } => Some(what.path()),
            _ => None,
        };
        let service = uri::service_for(conf, self.service_id.as_deref(), path)?;
        Ok(FailoverClient::builder(service)
            .retry_policy(conf.retry_policy()?)
            .security_from_config(conf, &overrides, self.token_file.as_deref())?
            .build()?)
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run an Ozone Manager node.
    Om(OmArgs),
    /// Namespace operations (volumes, buckets, keys, prefix ACLs).
    Sh {
        #[command(subcommand)]
        what: ShCommand,
    },
    /// Administration.
    Admin {
        #[command(subcommand)]
        what: AdminCommand,
    },
    /// Local development helpers.
    Dev {
        #[command(subcommand)]
        what: DevCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum DevCommand {
    /// Start a ring of local processes on loopback and keep it running until Ctrl-C.
    Ring {
        /// Number of nodes.
        #[arg(long, default_value_t = 3)]
        nodes: usize,
        /// Where the config, data and logs go.
        #[arg(long, default_value = ".omring/local-ring")]
        dir: PathBuf,
        /// Service id of the ring.
        #[arg(long = "ring-service-id", default_value = "omservice")]
        ring_service_id: String,
    },
}

#[derive(Args, Debug)]
pub struct OmArgs {
    /// Ozone's first step (`ozone om --init`): checks the configuration and exits. A node
    /// creates its storage on its first start, so there is nothing else to initialize.
    #[arg(long, conflicts_with = "bootstrap")]
    pub init: bool,
    /// Join a running ring as a new node.
    #[arg(long)]
    pub bootstrap: bool,
    /// With --bootstrap: skip the check that every node lists this one in its configuration.
    #[arg(long, requires = "bootstrap")]
    pub force: bool,
}

#[derive(Subcommand, Debug)]
pub enum ShCommand {
    /// Volume operations.
    Volume {
        #[command(subcommand)]
        op: VolumeOp,
    },
    /// Bucket operations.
    Bucket {
        #[command(subcommand)]
        op: BucketOp,
    },
    /// Key operations (metadata only: this ring stores no data blocks).
    Key {
        #[command(subcommand)]
        op: KeyOp,
    },
    /// Prefix ACLs (a prefix path ends with '/': /volume/bucket/dir/).
    Prefix {
        #[command(subcommand)]
        op: AclOp,
    },
}

impl ShCommand {
    /// The path the command acts on (an `o3://` address there names the ring).
    fn path(&self) -> &str {
        match self {
            ShCommand::Volume { op } => match op {
                VolumeOp::Create { path, .. }
                | VolumeOp::Info { path }
                | VolumeOp::List { path, .. }
                | VolumeOp::Delete { path }
                | VolumeOp::Update { path, .. } => path,
                VolumeOp::Quota(q) => q.path(),
                VolumeOp::Acl(a) => a.path(),
            },
            ShCommand::Bucket { op } => match op {
                BucketOp::Create { path, .. }
                | BucketOp::Info { path }
                | BucketOp::List { path, .. }
                | BucketOp::Delete { path }
                | BucketOp::Update { path, .. } => path,
                BucketOp::Quota(q) => q.path(),
                BucketOp::Acl(a) => a.path(),
            },
            ShCommand::Key { op } => match op {
                KeyOp::Create { path, .. }
                | KeyOp::Info { path }
                | KeyOp::List { path, .. }
                | KeyOp::Delete { path }
                | KeyOp::Rename { path, .. } => path,
                KeyOp::Acl(a) => a.path(),
            },
            ShCommand::Prefix { op } => op.path(),
        }
    }
}

#[derive(Args, Debug, Clone)]
pub struct QuotaArgs {
    /// Space quota, e.g. 10GB, 512MB, 1024 (bytes); -1 for unlimited.
    #[arg(long = "quota", alias = "space-quota", allow_hyphen_values = true)]
    pub quota: Option<String>,
    /// Namespace quota: buckets in a volume, keys in a bucket; -1 for unlimited.
    #[arg(long = "namespace-quota", allow_hyphen_values = true)]
    pub namespace_quota: Option<i64>,
}

/// The quota commands volumes and buckets both have (silent, as in Ozone).
#[derive(Subcommand, Debug, Clone)]
pub enum QuotaOp {
    /// Set the space and/or namespace quota.
    Setquota {
        path: String,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    /// Remove the space and/or namespace quota.
    Clrquota {
        path: String,
        #[command(flatten)]
        clear: ClearQuotaArgs,
    },
}

impl QuotaOp {
    fn path(&self) -> &str {
        match self {
            QuotaOp::Setquota { path, .. } | QuotaOp::Clrquota { path, .. } => path,
        }
    }

    /// (quota_in_bytes, quota_in_namespace) of the change; at least one must be named.
    fn change(&self) -> Result<(Option<i64>, Option<i64>), CliError> {
        match self {
            QuotaOp::Setquota { quota, .. } => {
                if quota.quota.is_none() && quota.namespace_quota.is_none() {
                    return Err(CliError::Usage("setquota needs --space-quota and/or --namespace-quota".into()));
                }
                Ok((quota.bytes()?, quota.namespace_quota))
            }
            QuotaOp::Clrquota { clear, .. } => clear.change(),
        }
    }
}

impl QuotaArgs {
    /// The space quota in bytes, if given.
    fn bytes(&self) -> Result<Option<i64>, CliError> {
        self.quota.as_deref().map(parse_size).transpose()
    }
}

/// Which quotas `clrquota` removes (Ozone's flags take no value here).
#[derive(Args, Debug, Clone)]
pub struct ClearQuotaArgs {
    #[arg(long = "space-quota")]
    pub space: bool,
    #[arg(long = "namespace-quota")]
    pub namespace: bool,
}

impl ClearQuotaArgs {
    /// (quota_in_bytes, quota_in_namespace) of the change: -1 for each quota named.
    fn change(&self) -> Result<(Option<i64>, Option<i64>), CliError> {
        if !self.space && !self.namespace {
            return Err(CliError::Usage("clrquota needs --space-quota and/or --namespace-quota".into()));
        }
        Ok((self.space.then_some(-1), self.namespace.then_some(-1)))
    }
}

#[derive(Args, Debug, Clone)]
pub struct ListArgs {
    /// Only names starting with this prefix.
    #[arg(long, short = 'p', default_value = "")]
    pub prefix: String,
    /// List after this name (exclusive).
    #[arg(long, short = 's', default_value = "")]
    pub start: String,
    /// Page size (at most 1000).
    #[arg(long, short = 'l', default_value_t = 100)]
    pub length: u32,
    /// Page through everything.
    #[arg(long, short = 'a')]
    pub all: bool,
}

#[derive(Subcommand, Debug)]
pub enum VolumeOp {
    Create {
        path: String,
        /// Owner of the volume.
        #[arg(long, short = 'u')]
        user: Option<String>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    Info {
        path: String,
    },
    /// Every volume, or with --user the volumes that user owns.
    List {
        #[arg(default_value = "/")]
        path: String,
        #[command(flatten)]
        list: ListArgs,
        /// Only the volumes this user owns.
        #[arg(long, short = 'u')]
        user: Option<String>,
    },
    Delete {
        path: String,
    },
    /// Change owner or quotas.
    Update {
        path: String,
        #[arg(long, short = 'u')]
        user: Option<String>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    #[command(flatten)]
    Quota(QuotaOp),
    #[command(flatten)]
    Acl(AclOp),
}

#[derive(Subcommand, Debug)]
pub enum BucketOp {
    Create {
        path: String,
        /// OBJECT_STORE, FILE_SYSTEM_OPTIMIZED or LEGACY.
        #[arg(long, short = 'l')]
        layout: Option<String>,
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Keep versions of overwritten keys.
        #[arg(long)]
        versioning: bool,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    Info {
        path: String,
    },
    List {
        path: String,
        #[command(flatten)]
        list: ListArgs,
    },
    Delete {
        path: String,
    },
    /// Change owner, versioning or quotas.
    Update {
        path: String,
        #[arg(long, short = 'u')]
        user: Option<String>,
        /// Keep (true) or stop keeping (false) versions of overwritten keys.
        #[arg(long)]
        versioning: Option<bool>,
        #[command(flatten)]
        quota: QuotaArgs,
    },
    #[command(flatten)]
    Quota(QuotaOp),
    #[command(flatten)]
    Acl(AclOp),
}

#[derive(Subcommand, Debug)]
pub enum KeyOp {
    /// Create (open + commit) a key with the given metadata.
    Create {
        path: String,
        #[arg(long, default_value_t = 0)]
        size: u64,
        #[arg(long, short = 'r')]
        replication: Option<String>,
        /// User metadata KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
    },
    Info {
        path: String,
    },
    List {
        path: String,
        #[command(flatten)]
        list: ListArgs,
    },
    Delete {
        path: String,
    },
    Rename {
        path: String,
        to: String,
    },
    #[command(flatten)]
    Acl(AclOp),
}

#[derive(Subcommand, Debug)]
pub enum AdminCommand {
    /// Ozone Manager ring administration.
    Om {
        #[command(subcommand)]
        what: AdminOmCommand,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminOmCommand {
    /// List every node with its live Raft role.
    #[command(alias = "getserviceroles")]
    Roles {
        /// Bordered table (with --json, JSON wins, as in Ozone).
        #[arg(long)]
        table: bool,
    },
    /// Move leadership to another voter.
    Transfer {
        /// The node to hand leadership to.
        #[arg(
            short = 'n',
            long = "newLeaderId",
            alias = "new-leader-id",
            value_name = "NODE",
            required_unless_present = "random",
            conflicts_with = "random"
        )]
        new_leader: Option<String>,
        /// Pick a caught-up follower at random.
        #[arg(short = 'r', long)]
        random: bool,
    },
    /// Remove a node from the ring.
    Decommission {
        /// The node to remove.
        #[arg(long = "nodeid", value_name = "NODE")]
        node_id: String,
        /// Its host name or address (`-hostname`), checked against the configuration.
        #[arg(long = "node-host-address", value_name = "HOST")]
        host: String,
        /// Skip the check that every remaining node's configuration lists it as decommissioned.
        #[arg(long)]
        force: bool,
    },
    /// Prepare the ring for an upgrade: every node applies everything, takes a snapshot and
    /// refuses writes until `cancelprepare`.
    Prepare {
        #[command(flatten)]
        wait: prepare::PrepareWait,
    },
    /// End a prepare: the ring takes writes again.
    Cancelprepare,
    /// Whether the ring's metadata layout needs finalizing (omring has one layout version).
    Finalizationstatus,
    /// Keys opened and not yet committed (administrators only).
    #[command(name = "list-open-files", aliases = ["list-open-keys", "lof", "lok"])]
    ListOpenFiles(open_files::ListOpenFiles),
}

/// A CLI failure and its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] om_client::ConfigError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Node(#[from] crate::settings::NodeError),
    /// A safety check refused the operation; the message says what to fix.
    #[error("{0}")]
    Refused(String),
}

/// Ozone's exit code for a command that failed while running (`GenericCli`'s -1).
pub const EXECUTION_ERROR_EXIT_CODE: i32 = 255;

impl CliError {
    /// 2 for a usage error (picocli's), else Ozone's [`EXECUTION_ERROR_EXIT_CODE`].
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => 2,
            _ => EXECUTION_ERROR_EXIT_CODE,
        }
    }

    /// The line a user sees. An error the ring answered prints as Ozone's shell prints an
    /// `OMException`: the result code, a space, the message (`VOLUME_NOT_FOUND Volume vol9 is
    /// not found`).
    pub fn user_message(&self) -> String {
        match self {
            CliError::Client(ClientError::Api(e)) => format!("{} {}", e.code, e.message),
            other => other.to_string(),
        }
    }
}

/// Ozone's check before a decommission: `host` resolves to the address the configuration gives
/// `node_id` (`ozone.om.address.<sid>.<nid>`), so a typo in either is caught before the ring
/// changes.
fn check_decommission_host(conf: &OzoneConfig, service_id: &str, node_id: &str, host: &str) -> Result<(), CliError> {
    let key = format!("ozone.om.address.{service_id}.{node_id}");
    let configured = conf.get(&key).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
        CliError::Refused(format!("There is no OM corresponding to {node_id} in the configuration ({key} is not set)."))
    })?;
    let (configured_host, _) = om_client::config::split_host_port(&key, configured.trim(), 0)?;
    let resolve = |h: &str| -> Result<Vec<std::net::IpAddr>, CliError> {
        let addrs = std::net::ToSocketAddrs::to_socket_addrs(&(h, 0))
            .map_err(|e| CliError::Refused(format!("cannot resolve host {h}: {e}")))?;
        Ok(addrs.map(|a| a.ip()).collect())
    };
    // Ozone compares the first address of each; any shared address is accepted here, so a
    // name with both an IPv4 and an IPv6 address matches either.
    let (given, expected) = (resolve(host)?, resolve(&configured_host)?);
    if !given.iter().any(|g| expected.contains(g)) {
        let show = |a: &[std::net::IpAddr]| a.iter().map(|a| a.to_string()).collect::<Vec<_>>().join(",");
        return Err(CliError::Refused(format!(
            "OM {node_id}'s host address in config - {} does not match the provided host address {host}/{}",
            show(&expected),
            show(&given)
        )));
    }
    Ok(())
}

/// Loads the configuration named by `--conf`, else `$OZONE_CONF_DIR/ozone-site.xml`, else
/// `./ozone-site.xml`, then applies `-D` overrides.
pub fn load_config(cli: &Cli) -> Result<OzoneConfig, CliError> {
    let path = cli.conf.clone().unwrap_or_else(|| {
        std::env::var_os("OZONE_CONF_DIR")
            .map(|d| PathBuf::from(d).join("ozone-site.xml"))
            .unwrap_or_else(|| PathBuf::from("ozone-site.xml"))
    });
    let mut conf = if path.exists() || cli.conf.is_some() { OzoneConfig::load(&path)? } else { OzoneConfig::new() };
    conf.apply_overrides(&cli.define)?;
    Ok(conf)
}

/// `path` without its `o3://service` part, if it has one.
pub fn strip_service(path: &str) -> &str {
    path.strip_prefix("o3://").map(|rest| rest.split_once('/').map(|x| x.1).unwrap_or("")).unwrap_or(path)
}

/// Splits `/vol/bucket/key` (also `o3://host/vol/...`) into at most three parts.
pub fn split_path(path: &str, want: usize) -> Result<Vec<String>, CliError> {
    let p = strip_service(path).trim_start_matches('/');
    let parts: Vec<String> = if want == 3 {
        p.splitn(3, '/').map(str::to_string).collect()
    } else {
        p.trim_end_matches('/').split('/').map(str::to_string).collect()
    };
    if parts.len() != want || parts.iter().any(|s| s.is_empty()) {
        let shape = ["/volume", "/volume/bucket", "/volume/bucket/key"][want.clamp(1, 3) - 1];
        return Err(CliError::Usage(format!("invalid path {path:?}: expected {shape}")));
    }
    Ok(parts)
}

/// Parses `10GB`, `512 MB`, `1024`, `-1`.
pub fn parse_size(s: &str) -> Result<i64, CliError> {
    let t = s.trim().to_ascii_uppercase();
    if t == "-1" {
        return Ok(-1);
    }
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: i64 = num.parse().map_err(|_| CliError::Usage(format!("invalid size {s:?}: expected e.g. 10GB")))?;
    let mult: i64 = match unit.trim() {
        "" | "B" => 1,
        "KB" | "K" => 1 << 10,
        "MB" | "M" => 1 << 20,
        "GB" | "G" => 1 << 30,
        "TB" | "T" => 1 << 40,
        "PB" | "P" => 1 << 50,
        u => return Err(CliError::Usage(format!("invalid size unit {u:?} in {s:?}: use B, KB, MB, GB, TB or PB"))),
    };
    n.checked_mul(mult).ok_or_else(|| CliError::Usage(format!("size {s:?} is too large")))
}

/// Runs `sh` and `admin` commands (everything but `om` and `dev`).
pub async fn run_client_command(cli: &Cli) -> Result<(), CliError> {
    let conf = load_config(cli)?;
    let client = cli.client(&conf)?;
    let json = cli.json;
    match &cli.command {
        Command::Om(_) | Command::Dev { .. } => Err(CliError::Usage("not a client command".into())),
        Command::Sh { what } => sh::run(&client, what, json, cli.verbose).await,
        Command::Admin { what: AdminCommand::Om { what } } => match what {
            AdminOmCommand::Roles { table } => {
                let roles = roles::collect(&client).await;
                let out = if json {
                    roles::format_json(&roles)
                } else if *table {
                    roles::format_table(&roles)
                } else {
                    roles::format_plain(&roles)
                };
                print!("{out}");
                Ok(())
            }
            AdminOmCommand::Transfer { new_leader, random } => {
                let target = if *random { None } else { new_leader.as_deref() };
                let r = client.transfer_leader(target).await?;
                if json {
                    print(true, &r, String::new);
                } else {
                    println!("Transfer leadership successfully to {}.", r.new_leader);
                }
                Ok(())
            }
            AdminOmCommand::Prepare { wait } => prepare::prepare(&client, wait).await,
            AdminOmCommand::Cancelprepare => {
                client.cancel_prepare().await?;
                println!("Cancel prepare succeeded, cluster can now accept write requests.");
                Ok(())
            }
            AdminOmCommand::ListOpenFiles(args) => open_files::run(&client, args, json).await,
            AdminOmCommand::Finalizationstatus => {
                println!("{}", prepare::FINALIZATION_STATUS);
                Ok(())
            }
            AdminOmCommand::Decommission { node_id, host, force } => {
                check_decommission_host(&conf, client.service_id(), node_id, host)?;
                if !force {
                    let disagree = client.decommission_disagreements(node_id).await;
                    if !disagree.is_empty() {
                        return Err(CliError::Refused(format!(
                            "not decommissioning {node_id}: {}. Add {node_id} to ozone.om.decommissioned.nodes.{} on every remaining node (or pass --force)",
                            disagree.iter().map(|(n, why)| format!("{n}: {why}")).collect::<Vec<_>>().join("; "),
                            client.service_id()
                        )));
                    }
                }
                let r = client.decommission(node_id).await?;
                print(json, &r, || {
                    if r.changed {
                        format!("Successfully decommissioned OM {node_id}")
                    } else {
                        r.message.clone()
                    }
                });
                Ok(())
            }
        },
    }
}
