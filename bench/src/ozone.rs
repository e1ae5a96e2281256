//! Apache Ozone's own Ozone Manager as the peer for key create+commit and bucket create: one SCM
//! plus a 3-OM HA ring on loopback, run from the Maven Central jars with Java 17.
//!
//! Load comes from two drivers: freon (`omkg`, `ombg`, `om-echo`; Ozone's official tool, which
//! logs counts, whole seconds and its timer's percentiles) and `OmDriver.java`
//! (bench/scripts/ozone), which calls the same client API as freon's generators and times
//! every operation and every 10 s window, so Ozone's p50/p99 are taken the same way as ours. Availability uses the
//! driver too (leader transfer through `OzoneManagerProtocol.transferLeadership`, which is what
//! `ozone admin om transfer` calls); the admin CLI itself is run once to show it works.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::time::{Duration, Instant};

use crate::freon::Freon;
use crate::jvm::LOG4J;
use crate::omring::free_port;

#[derive(Debug, thiserror::Error)]
pub enum OzoneError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("{0}")]
    Timeout(String),
    #[error("{what} failed ({status}); see {log}")]
    Failed { what: String, status: String, log: String },
    #[error("driver: {0}")]
    Driver(String),
    #[error(transparent)]
    Freon(#[from] crate::freon::FreonError),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> OzoneError {
    let what = what.into();
    move |source| OzoneError::Io { what, source }
}

pub const SERVICE_ID: &str = "omservice";
pub use crate::freon::{BUCKET, VOLUME};

/// Heap of each OM JVM. Ozone's guide sizes the OM heap by the namespace it caches, and the OM
/// keeps its whole volume and bucket tables on the heap: at 1 GiB the bucket-create steps (about
/// 130,000 buckets after two repeats) ran the three OMs into back-to-back full GCs and the
/// driver stopped getting answers (GC logs of the run of 763c4e8: over 1 GiB live, about 7 KiB
/// per bucket). Five repeats make up to about 600,000 buckets, so 6 GiB; the GC logs show what
/// was used, and the RSS columns what it cost.
pub const OM_HEAP: &str = "6g";
/// `ozone.om.handler.count.key` for the bench's OMs.
pub const OM_HANDLERS: usize = 20;

struct Om {
    id: String,
    rpc_port: u16,
    child: Option<Child>,
}

pub struct OzoneCluster {
    lib: PathBuf,
    driver_classes: PathBuf,
    dir: PathBuf,
    conf_dir: PathBuf,
    scm: Option<Child>,
    oms: Vec<Om>,
}

impl OzoneCluster {
    /// Writes ozone-site.xml, initialises and starts the SCM, then the three OMs.
    pub fn start(lib: &Path, driver_classes: &Path, dir: &Path) -> Result<Self, OzoneError> {
        let conf_dir = dir.join("conf");
        std::fs::create_dir_all(&conf_dir).map_err(io(format!("creating {}", conf_dir.display())))?;
        let p = || free_port().map_err(io("picking a port"));
        let scm_client = p()?;
        let mut props: Vec<(String, String)> = vec![
            ("ozone.scm.names".into(), "127.0.0.1".into()),
            ("ozone.scm.client.address".into(), format!("127.0.0.1:{scm_client}")),
            ("ozone.scm.block.client.address".into(), format!("127.0.0.1:{}", p()?)),
            ("ozone.scm.datanode.address".into(), format!("127.0.0.1:{}", p()?)),
            ("ozone.scm.http-address".into(), format!("127.0.0.1:{}", p()?)),
            ("ozone.scm.ratis.port".into(), p()?.to_string()),
            ("ozone.scm.grpc.port".into(), p()?.to_string()),
            ("ozone.scm.security.service.address".into(), format!("127.0.0.1:{}", p()?)),
            ("ozone.security.enabled".into(), "false".into()),
            ("ozone.om.s3.grpc.server_enabled".into(), "false".into()),
            ("ozone.om.snapshot.load.native.lib".into(), "false".into()),
            ("ozone.om.service.ids".into(), SERVICE_ID.into()),
            (format!("ozone.om.nodes.{SERVICE_ID}"), "om1,om2,om3".into()),
            ("ozone.replication".into(), "1".into()),
            // The 256-byte-write workload creates a volume per write; the default cap is 1,024
            // volumes per user.
            ("ozone.om.user.max.volume".into(), "100000000".into()),
            // Likewise buckets (default cap 100,000 per cluster).
            ("ozone.om.max.buckets".into(), "100000000".into()),
            // Same client retry pause as our ring's client (LocalRing uses 100 ms too).
            ("ozone.client.wait.between.retries.millis".into(), "100".into()),
            // What Ozone's SCM and datanodes use: a follower's appender sends as soon as there is
            // something to send (the OM's default waits up to 10 ms to batch).
            ("ozone.om.ha.raft.server.log.appender.wait-time.min".into(), "0ms".into()),
            // Handlers for 2 cores (default 100 threads; the load generators share the cores).
            ("ozone.om.handler.count.key".into(), OM_HANDLERS.to_string()),
        ];
        let mut oms = Vec::new();
        for i in 1..=3 {
            let id = format!("om{i}");
            let rpc_port = p()?;
            props.push((format!("ozone.om.address.{SERVICE_ID}.{id}"), format!("127.0.0.1:{rpc_port}")));
            props.push((format!("ozone.om.ratis.port.{SERVICE_ID}.{id}"), p()?.to_string()));
            props.push((format!("ozone.om.http-address.{SERVICE_ID}.{id}"), format!("127.0.0.1:{}", p()?)));
            oms.push(Om { id, rpc_port, child: None });
        }
        let mut xml = String::from("<?xml version=\"1.0\"?>\n<configuration>\n");
        for (k, v) in &props {
            xml.push_str(&format!("  <property><name>{k}</name><value>{v}</value></property>\n"));
        }
        xml.push_str("</configuration>\n");
        std::fs::write(conf_dir.join("ozone-site.xml"), xml).map_err(io("writing ozone-site.xml"))?;
        std::fs::write(conf_dir.join("log4j.properties"), LOG4J).map_err(io("writing log4j.properties"))?;
        let mut c = OzoneCluster {
            lib: lib.to_path_buf(),
            driver_classes: driver_classes.to_path_buf(),
            dir: dir.to_path_buf(),
            conf_dir,
            scm: None,
            oms,
        };
        let scm_args = ["-D".to_string(), format!("ozone.metadata.dirs={}", dir.join("scm").display())];
        c.run_to_end(
            "scm-init",
            "org.apache.hadoop.hdds.scm.server.StorageContainerManagerStarter",
            &scm_args,
            "--init",
        )?;
        c.scm = Some(c.spawn(
            "scm",
            "org.apache.hadoop.hdds.scm.server.StorageContainerManagerStarter",
            &scm_args,
            None,
        )?);
        wait_port(scm_client, Duration::from_secs(120))?;
        for i in 0..3 {
            let args = c.om_args(i);
            c.run_to_end(
                &format!("{}-init", c.oms[i].id),
                "org.apache.hadoop.ozone.om.OzoneManagerStarter",
                &args,
                "--init",
            )?;
        }
        for i in 0..3 {
            c.start_om(i)?;
        }
        Ok(c)
    }

    /// The settings of the OMs that are not addresses or ports (for the results), plus the JVM's.
    pub fn settings(&self) -> Vec<(String, String)> {
        let mut out = vec![(
            "Ozone OM JVM".to_string(),
            format!("-Xmx{OM_HEAP}, GC log per OM (<work>/ozone/omN-gc.log), Java 17 flags of Ozone's launcher"),
        )];
        if let Ok(conf) = om_client::config::OzoneConfig::load(&self.conf_dir.join("ozone-site.xml")) {
            let tuning = conf
                .iter()
                .filter(|(k, _)| !k.contains("address") && !k.contains("port") && !k.starts_with("ozone.om.nodes"))
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", ");
            out.push(("Ozone ozone-site.xml (besides addresses)".to_string(), tuning));
        }
        out
    }

    fn classpath(&self) -> String {
        format!("{}:{}/*:{}", self.conf_dir.display(), self.lib.display(), self.driver_classes.display())
    }

    fn java(&self, main: &str, heap: &str) -> Command {
        crate::jvm::java(&self.classpath(), &self.conf_dir, &self.dir, main, heap, &[])
    }

    fn conf_file(&self) -> String {
        self.conf_dir.join("ozone-site.xml").display().to_string()
    }

    fn om_args(&self, i: usize) -> Vec<String> {
        let id = &self.oms[i].id;
        vec![
            "-D".into(),
            format!("ozone.om.node.id={id}"),
            "-D".into(),
            format!("ozone.metadata.dirs={}", self.dir.join(id).display()),
            "-D".into(),
            "ozone.om.grpc.port=0".into(),
        ]
    }

    fn log_file(&self, name: &str) -> Result<std::fs::File, OzoneError> {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .map_err(io("opening a log"))
    }

    fn spawn(&self, name: &str, main: &str, args: &[String], extra: Option<&str>) -> Result<Child, OzoneError> {
        let heap = if name == "scm" { "512m" } else { OM_HEAP };
        let log = self.log_file(name)?;
        let log2 = log.try_clone().map_err(io("cloning a log handle"))?;
        // GC logging, so a report can show whether collections shaped the OM's numbers.
        let gc = format!("-Xlog:gc*:file={}:time,uptime", self.dir.join(format!("{name}-gc.log")).display());
        crate::jvm::java(&self.classpath(), &self.conf_dir, &self.dir, main, heap, &[gc])
            .arg("-conf")
            .arg(self.conf_file())
            .args(args)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(io(format!("starting java {main}")))
    }

    fn run_to_end(&self, name: &str, main: &str, args: &[String], extra: &str) -> Result<(), OzoneError> {
        let status = self.spawn(name, main, args, Some(extra))?.wait().map_err(io(format!("waiting for {name}")))?;
        if !status.success() {
            return Err(OzoneError::Failed {
                what: name.into(),
                status: status.to_string(),
                log: self.dir.join(format!("{name}.log")).display().to_string(),
            });
        }
        Ok(())
    }

    fn start_om(&mut self, i: usize) -> Result<(), OzoneError> {
        let args = self.om_args(i);
        let child =
            self.spawn(&self.oms[i].id.clone(), "org.apache.hadoop.ozone.om.OzoneManagerStarter", &args, None)?;
        self.oms[i].child = Some(child);
        Ok(())
    }

    /// The cluster's ozone-site.xml, for a client of this ring (Ozone's CLI).
    pub fn ozone_site_xml(&self) -> Result<String, OzoneError> {
        let path = self.conf_dir.join("ozone-site.xml");
        std::fs::read_to_string(&path).map_err(io(format!("reading {}", path.display())))
    }

    /// Pids of the three OMs (the SCM is not part of the metadata ring; it is idle here).
    pub fn om_pids(&self) -> Vec<u32> {
        self.oms.iter().filter_map(|o| o.child.as_ref().map(|c| c.id())).collect()
    }

    pub fn scm_pid(&self) -> Option<u32> {
        self.scm.as_ref().map(|c| c.id())
    }

    pub fn ids(&self) -> Vec<String> {
        self.oms.iter().map(|o| o.id.clone()).collect()
    }

    pub fn kill9(&mut self, id: &str) {
        if let Some(o) = self.oms.iter_mut().find(|o| o.id == id) {
            if let Some(mut c) = o.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// Restarts a killed OM and waits until its RPC port answers.
    pub fn restart(&mut self, id: &str) -> Result<(), OzoneError> {
        if let Some(i) = self.oms.iter().position(|o| o.id == id && o.child.is_none()) {
            self.start_om(i)?;
            wait_port(self.oms[i].rpc_port, Duration::from_secs(120))?;
        }
        Ok(())
    }

    pub fn wait_oms_listening(&self, timeout: Duration) -> Result<(), OzoneError> {
        for o in &self.oms {
            wait_port(o.rpc_port, timeout)?;
        }
        Ok(())
    }

    /// Starts the load/availability driver (a JVM reading commands on stdin).
    pub fn driver(&self) -> Result<Driver, OzoneError> {
        let log = self.log_file("driver")?;
        let mut child = self
            .java("OmDriver", "2g")
            .args([self.conf_file(), SERVICE_ID.into(), VOLUME.into(), BUCKET.into()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .map_err(io("starting OmDriver"))?;
        let stdin = child.stdin.take().ok_or_else(|| OzoneError::Driver("no stdin".into()))?;
        let stdout = child.stdout.take().ok_or_else(|| OzoneError::Driver("no stdout".into()))?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            break;
                        }
                    }
                    Err(_) => break,
                }
            }
        });
        let mut d = Driver { child, stdin, lines: rx };
        let first = d.next_line(Duration::from_secs(120))?;
        if first != "ready" {
            return Err(OzoneError::Driver(format!("expected ready, got {first}")));
        }
        Ok(d)
    }

    /// freon `omkg`, `ombg` or `om-echo` against this cluster (see [`Freon::run`]).
    pub fn freon(
        &self,
        generator: &str,
        threads: usize,
        secs: u64,
        count: u64,
        prefix: &str,
    ) -> Result<crate::freon::FreonRun, OzoneError> {
        Freon { lib: self.lib.clone(), dir: self.dir.clone(), conf_dir: self.conf_dir.clone() }
            .run(generator, threads, secs, count, prefix)
            .map_err(OzoneError::from)
    }

    /// `ozone admin om transfer --service-id omservice -n <target>` through the real CLI; wall
    /// time including the JVM start.
    pub fn admin_transfer(&self, target: &str) -> Result<(Duration, String), OzoneError> {
        let t0 = Instant::now();
        let out = crate::child::output_within(
            self.java("org.apache.hadoop.ozone.admin.OzoneAdmin", "512m").args([
                "om",
                "transfer",
                "--service-id",
                SERVICE_ID,
                "-n",
                target,
            ]),
            Duration::from_secs(180),
        )
        .map_err(io("running ozone admin"))?;
        let elapsed = t0.elapsed();
        let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or_default().to_string();
            return Err(OzoneError::Driver(format!("ozone admin om transfer: {} {err}", out.status)));
        }
        Ok((elapsed, stdout))
    }
}

impl Drop for OzoneCluster {
    fn drop(&mut self) {
        for o in self.oms.iter_mut() {
            if let Some(mut c) = o.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        if let Some(mut c) = self.scm.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn wait_port(port: u16, timeout: Duration) -> Result<(), OzoneError> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_millis(200)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(OzoneError::Timeout(format!("nothing listens on 127.0.0.1:{port} after {timeout:?}")))
}

/// The OmDriver JVM.
pub struct Driver {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

/// The driver's answer to `load`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct DriverLoad {
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub first_error: String,
    /// Successful calls in each whole window of `window_secs` (the partial last one left out).
    #[serde(default)]
    pub windows: Vec<u64>,
    #[serde(default)]
    pub window_secs: f64,
}

impl DriverLoad {
    /// Throughput of each whole window, ops/s.
    pub fn window_ops_per_sec(&self) -> Vec<f64> {
        if self.window_secs <= 0.0 {
            return Vec::new();
        }
        self.windows.iter().map(|&n| n as f64 / self.window_secs).collect()
    }
}

impl Driver {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn next_line(&mut self, timeout: Duration) -> Result<String, OzoneError> {
        self.lines.recv_timeout(timeout).map_err(|e| OzoneError::Driver(format!("no answer within {timeout:?}: {e}")))
    }

    pub fn call(&mut self, command: &str, timeout: Duration) -> Result<String, OzoneError> {
        writeln!(self.stdin, "{command}").and_then(|_| self.stdin.flush()).map_err(io("writing to OmDriver"))?;
        let line = self.next_line(timeout)?;
        match line.strip_prefix("error ") {
            Some(e) => Err(OzoneError::Driver(format!("{command}: {e}"))),
            None => Ok(line),
        }
    }

    pub fn leader(&mut self) -> Result<Option<String>, OzoneError> {
        let l = self.call("leader", Duration::from_secs(60))?;
        Ok(l.strip_prefix("leader ").filter(|x| *x != "none").map(str::to_string))
    }

    pub fn wait_leader(&mut self, timeout: Duration) -> Result<String, OzoneError> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.leader() {
                Ok(Some(l)) => return Ok(l),
                Ok(None) | Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(200)),
                Ok(None) => return Err(OzoneError::Timeout("ozone: no leader".into())),
                Err(e) => return Err(e),
            }
        }
    }

    pub fn load(&mut self, workload: &str, clients: usize, secs: f64, prefix: &str) -> Result<DriverLoad, OzoneError> {
        let line =
            self.call(&format!("load {workload} {clients} {secs} {prefix}"), Duration::from_secs_f64(secs + 300.0))?;
        serde_json::from_str(&line).map_err(|e| OzoneError::Driver(format!("bad load answer {line}: {e}")))
    }

    /// Creates a volume, retrying until it succeeds.
    pub fn write(&mut self, name: &str) -> Result<(), OzoneError> {
        self.call(&format!("write {name}"), Duration::from_secs(180)).map(|_| ())
    }

    /// Asks the leader to hand over to `target`; returns the call's own duration.
    pub fn transfer(&mut self, target: &str) -> Result<f64, OzoneError> {
        let l = self.call(&format!("transfer {target}"), Duration::from_secs(120))?;
        l.strip_prefix("transferred ")
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| OzoneError::Driver(format!("bad transfer answer {l}")))
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
