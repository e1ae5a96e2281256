//! Apache Ozone's own command line (`ozone sh`, `ozone admin`) run in a JVM against a ring:
//! the client jars come from Maven Central through the bench's setup script
//! (`bench/scripts/setup-peers.sh`, `ONLY=ozone`, cached by version under
//! `~/.cache/omring/ozone-<version>/lib`), the configuration is the ring's own ozone-site.xml
//! (service id, node ids, `ozone.om.address.<sid>.<nid>`) on the classpath, as Ozone's
//! `OzoneConfiguration` finds it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// `ozone sh` is this class; `ozone admin` is [`ADMIN`].
pub const SHELL: &str = "org.apache.hadoop.ozone.shell.OzoneShell";
pub const ADMIN: &str = "org.apache.hadoop.ozone.admin.OzoneAdmin";
/// `ozone freon`.
pub const FREON: &str = "org.apache.hadoop.ozone.freon.Freon";
/// One CLI command may take this long (a JVM start on a busy machine is slow); longer is a hang.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(240);

/// Ozone's client jars and a configuration directory for one ring.
pub struct OzoneCli {
    lib: PathBuf,
    conf_dir: PathBuf,
}

/// The Ozone jars, installed (or found in the cache) by the bench's setup script. Panics with
/// the script's output when they cannot be had: the test must not pass without them.
pub fn install() -> PathBuf {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let script = repo.join("bench/scripts/setup-peers.sh");
    let out = Command::new("bash")
        .arg(&script)
        .env("ONLY", "ozone")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lib = stdout.lines().find_map(|l| l.strip_prefix("OZONE_LIB=")).map(PathBuf::from);
    match lib {
        Some(lib) if out.status.success() && lib.join("ozone-cli-shell-2.2.0.jar").exists() => lib,
        _ => panic!(
            "Apache Ozone's client jars could not be installed from Maven Central by {} (ONLY=ozone): \
             this test needs them and does not pass without them.\nstatus: {:?}\nstdout:\n{stdout}\nstderr:\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

impl OzoneCli {
    /// A configuration directory under `dir` holding `site_xml` and a log4j setup that keeps
    /// Ozone's logging (warnings and worse) on stderr, apart from the command's output.
    pub fn new(lib: PathBuf, dir: &Path, site_xml: &str) -> OzoneCli {
        let conf_dir = dir.join("ozone-client-conf");
        std::fs::create_dir_all(&conf_dir).expect("client conf dir");
        std::fs::write(conf_dir.join("ozone-site.xml"), site_xml).expect("ozone-site.xml");
        std::fs::write(
            conf_dir.join("log4j.properties"),
            "log4j.rootLogger=WARN, stderr\n\
             log4j.appender.stderr=org.apache.log4j.ConsoleAppender\n\
             log4j.appender.stderr.Target=System.err\n\
             log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.stderr.layout.ConversionPattern=%p %c{1}: %m%n\n",
        )
        .expect("log4j.properties");
        OzoneCli { lib, conf_dir }
    }

    /// `ozone sh <args>`.
    pub fn sh(&self, args: &[&str]) -> Output {
        self.run(SHELL, args)
    }

    /// `ozone admin <args>`.
    pub fn admin(&self, args: &[&str]) -> Output {
        self.run(ADMIN, args)
    }

    /// `ozone freon <args>`.
    pub fn freon(&self, args: &[&str]) -> Output {
        self.run(FREON, args)
    }

    /// A JVM with Ozone's jars and this ring's configuration on the classpath, running `main`
    /// (a class name, or a `.java` file for Java's source launcher) with `args`.
    pub fn java(&self, main: &str, args: &[&str]) -> Command {
        let classpath = format!("{}:{}/*", self.conf_dir.display(), self.lib.display());
        let mut cmd = Command::new("nice");
        cmd.args(["-n", "10", "java", "-Xmx256m", "-XX:TieredStopAtLevel=1", "-Xshare:auto"])
            .arg(format!("-Dlog4j.configuration=file:{}", self.conf_dir.join("log4j.properties").display()))
            .args(["-cp", &classpath, main])
            .args(args)
            .env("OZONE_CONF_DIR", &self.conf_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    fn run(&self, class: &str, args: &[&str]) -> Output {
        let child = self.java(class, args).spawn().expect("start java (Java 17 is installed by setup-peers.sh)");
        let pid = child.id();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(child.wait_with_output());
        });
        match rx.recv_timeout(COMMAND_TIMEOUT) {
            Ok(out) => out.expect("java ran"),
            Err(_) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("ozone {class} {args:?} hung for {COMMAND_TIMEOUT:?} (killed)");
            }
        }
    }
}

pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// The command's stdout; panics with both streams if it failed.
pub fn ok(what: &str, o: Output) -> String {
    assert!(o.status.success(), "{what} failed ({:?}):\nstdout:\n{}\nstderr:\n{}", o.status, stdout(&o), stderr(&o));
    stdout(&o)
}

/// The command's stdout and stderr; panics if it succeeded.
pub fn fails(what: &str, o: Output) -> String {
    assert!(!o.status.success(), "{what} should fail:\nstdout:\n{}\nstderr:\n{}", stdout(&o), stderr(&o));
    format!("{}{}", stdout(&o), stderr(&o))
}
