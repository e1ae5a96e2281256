//! Apache Ozone's own command line (`ozone sh`, `ozone admin`) run in a JVM against a ring:
//! the client jars come from Maven Central through the bench's setup script
//! (`bench/scripts/setup-peers.sh`, `ONLY=ozone`, cached by version under
//! `~/.cache/omring/ozone-<version>/lib`), the configuration is the ring's own ozone-site.xml
//! (service id, node ids, `ozone.om.address.<sid>.<nid>`) on the classpath, as Ozone's
//! `OzoneConfiguration` finds it.
//!
//! `sh` and `admin` commands run one after another in one JVM per [`OzoneCli`]
//! (`CliBatch.java`: a fresh instance of Ozone's CLI class per command, its `execute`, its exit
//! code): a JVM start with Ozone's classes costs 4-10 s of CPU, and the tests run some sixty
//! commands. `freon` and the client programs get a JVM of their own, as users run them.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Output, Stdio};
use std::sync::{mpsc, Mutex};
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
    /// The JVM running `sh` and `admin` commands, started by the first one.
    batch: Mutex<Option<Batch>>,
}

/// A running `CliBatch.java`: commands go to its stdin, a thread reads its replies.
struct Batch {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<Result<Output, String>>,
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
             log4j.appender.stderr.Follow=true\n\
             log4j.appender.stderr.layout=org.apache.log4j.PatternLayout\n\
             log4j.appender.stderr.layout.ConversionPattern=%p %c{1}: %m%n\n",
        )
        .expect("log4j.properties");
        OzoneCli { lib, conf_dir, batch: Mutex::new(None) }
    }

    /// `ozone sh <args>`.
    pub fn sh(&self, args: &[&str]) -> Output {
        self.run_in_batch(SHELL, args)
    }

    /// `ozone admin <args>`.
    pub fn admin(&self, args: &[&str]) -> Output {
        self.run_in_batch(ADMIN, args)
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

    /// `class` with `args` in the batch JVM (started on first use): what `ozone` would print and
    /// exit with.
    fn run_in_batch(&self, class: &str, args: &[&str]) -> Output {
        let mut guard = self.batch.lock().unwrap_or_else(|e| e.into_inner());
        if guard.is_none() {
            *guard = Some(self.start_batch());
        }
        let batch = guard.as_mut().expect("started");
        assert!(args.iter().all(|a| !a.contains(['\0', '\n'])), "a CLI argument with NUL or newline: {args:?}");
        let line = format!("{}\n", [class].iter().chain(args).copied().collect::<Vec<_>>().join("\0"));
        if let Err(e) = batch.stdin.write_all(line.as_bytes()).and_then(|()| batch.stdin.flush()) {
            panic!("ozone {class} {args:?}: the CLI runner is gone ({e})");
        }
        match batch.replies.recv_timeout(COMMAND_TIMEOUT) {
            Ok(Ok(out)) => out,
            Ok(Err(e)) => panic!("ozone {class} {args:?}: {e}"),
            Err(_) => {
                *guard = None; // dropping the Batch kills and reaps the JVM
                panic!("ozone {class} {args:?} hung for {COMMAND_TIMEOUT:?} (killed)");
            }
        }
    }

    fn start_batch(&self) -> Batch {
        // From the repository root: bench/tests/ozone_parity.rs includes this module too.
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../om-node/tests/ozone_cli/CliBatch.java");
        let mut child = self
            .java(&source.display().to_string(), &[])
            .stdin(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start java (Java 17 is installed by setup-peers.sh)");
        let stdin = child.stdin.take().expect("stdin");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, replies) = mpsc::channel();
        std::thread::spawn(move || loop {
            let reply = read_reply(&mut stdout);
            let done = reply.is_err();
            if tx.send(reply).is_err() || done {
                return;
            }
        });
        Batch { child, stdin, replies }
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

impl Drop for Batch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One `EXIT <code> <stdout bytes> <stderr bytes>` reply of `CliBatch.java` and its outputs.
fn read_reply(from: &mut impl BufRead) -> Result<Output, String> {
    let mut header = String::new();
    match from.read_line(&mut header) {
        Ok(0) => return Err("the CLI runner exited".into()),
        Ok(_) => {}
        Err(e) => return Err(format!("reading the CLI runner: {e}")),
    }
    let numbers: Option<Vec<usize>> = match header.split_whitespace().collect::<Vec<_>>()[..] {
        ["EXIT", ref rest @ ..] if rest.len() == 3 => rest.iter().map(|f| f.parse().ok()).collect(),
        _ => None,
    };
    let Some([code, out_len, err_len]) = numbers.as_deref().and_then(|n| <[usize; 3]>::try_from(n).ok()) else {
        return Err(format!("the CLI runner sent {header:?}, not EXIT <code> <out> <err>"));
    };
    let mut stdout = vec![0; out_len];
    let mut stderr = vec![0; err_len];
    from.read_exact(&mut stdout)
        .and_then(|()| from.read_exact(&mut stderr))
        .map_err(|e| format!("reading output: {e}"))?;
    let status = ExitStatus::from_raw((code as i32) << 8);
    Ok(Output { status, stdout, stderr })
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
