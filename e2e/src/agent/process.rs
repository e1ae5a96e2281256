//! Container processes that die with the agent.
//!
//! Each process gets its own process group (signals reach everything it starts) and the
//! parent-death signal SIGKILL, so a killed agent or test never leaves pods running that hold
//! ports. Linux delivers that signal when the *thread* that forked the child ends, so all
//! children are forked by one dedicated thread that lives as long as the [`Spawner`].

use std::fs::OpenOptions;
use std::io;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};

/// What to run.
#[derive(Debug, Clone)]
pub struct SpawnSpec {
    pub program: PathBuf,
    pub args: Vec<String>,
    /// The whole environment (nothing is inherited from the agent).
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// stdout and stderr are appended here.
    pub log: PathBuf,
}

/// How a process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitInfo {
    pub code: Option<i32>,
    pub signal: Option<i32>,
}

impl ExitInfo {
    /// The exit code the kubelet reports: the code, or 128 + signal.
    pub fn exit_code(&self) -> i32 {
        self.code.unwrap_or_else(|| 128 + self.signal.unwrap_or(0))
    }
}

/// A running (or just ended) process group.
#[derive(Debug, Clone)]
pub struct ProcessHandle {
    pub pid: u32,
    exited: Arc<AtomicBool>,
}

impl ProcessHandle {
    /// Sends `signal` to the process group unless the process was already reaped.
    pub fn signal(&self, signal: i32) {
        if !self.exited.load(Ordering::SeqCst) {
            // SAFETY: kill(2) with a negative pid signals the group we created; no memory involved.
            unsafe {
                libc::kill(-(self.pid as i32), signal);
            }
        }
    }

    pub fn has_exited(&self) -> bool {
        self.exited.load(Ordering::SeqCst)
    }
}

type Reply = tokio::sync::oneshot::Sender<io::Result<(ProcessHandle, tokio::sync::oneshot::Receiver<ExitInfo>)>>;

/// Forks children from one long-lived thread.
pub struct Spawner {
    tx: Mutex<mpsc::Sender<(SpawnSpec, Reply)>>,
}

impl Spawner {
    pub fn new() -> io::Result<Self> {
        let (tx, rx) = mpsc::channel::<(SpawnSpec, Reply)>();
        std::thread::Builder::new().name("omring-spawner".into()).spawn(move || {
            while let Ok((spec, reply)) = rx.recv() {
                let _ = reply.send(spawn_now(&spec));
            }
        })?;
        Ok(Self { tx: Mutex::new(tx) })
    }

    /// Starts a process; the receiver yields once it has ended and was reaped.
    pub async fn spawn(
        &self,
        spec: SpawnSpec,
    ) -> io::Result<(ProcessHandle, tokio::sync::oneshot::Receiver<ExitInfo>)> {
        let (reply_tx, reply_rx) = tokio::sync::oneshot::channel();
        {
            let tx = self.tx.lock().map_err(|_| io::Error::other("spawner lock poisoned"))?;
            tx.send((spec, reply_tx)).map_err(|_| io::Error::other("spawner thread is gone"))?;
        }
        reply_rx.await.map_err(|_| io::Error::other("spawner thread dropped the request"))?
    }
}

fn spawn_now(spec: &SpawnSpec) -> io::Result<(ProcessHandle, tokio::sync::oneshot::Receiver<ExitInfo>)> {
    let log = OpenOptions::new().create(true).append(true).open(&spec.log)?;
    let mut cmd = Command::new(&spec.program);
    cmd.args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        .process_group(0);
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid, _exit) run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != parent {
                libc::_exit(137); // the agent died before prctl took effect
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn()?;
    let exited = Arc::new(AtomicBool::new(false));
    let handle = ProcessHandle { pid: child.id(), exited: exited.clone() };
    let (exit_tx, exit_rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new().name(format!("wait-{}", child.id())).spawn(move || {
        let info = match child.wait() {
            Ok(st) => ExitInfo { code: st.code(), signal: st.signal() },
            Err(_) => ExitInfo { code: None, signal: Some(libc::SIGKILL) },
        };
        exited.store(true, Ordering::SeqCst);
        let _ = exit_tx.send(info);
    })?;
    Ok((handle, exit_rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn spawned_process_runs_with_given_env_and_is_signalled_as_a_group() {
        let dir = tempfile::tempdir().unwrap();
        let spawner = Spawner::new().unwrap();
        let log = dir.path().join("out.log");
        let (h, exit) = spawner
            .spawn(SpawnSpec {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), "echo \"v=$V\"; exit 3".into()],
                env: vec![("V".into(), "42".into())],
                cwd: dir.path().into(),
                log: log.clone(),
            })
            .await
            .unwrap();
        assert_eq!(exit.await.unwrap(), ExitInfo { code: Some(3), signal: None });
        assert!(h.has_exited());
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "v=42\n");

        let (h, exit) = spawner
            .spawn(SpawnSpec {
                program: "/bin/sh".into(),
                args: vec!["-c".into(), "sleep 30 & wait".into()],
                env: vec![],
                cwd: dir.path().into(),
                log,
            })
            .await
            .unwrap();
        h.signal(libc::SIGKILL);
        let info = tokio::time::timeout(std::time::Duration::from_secs(10), exit).await.unwrap().unwrap();
        assert_eq!(info.signal, Some(libc::SIGKILL));
        assert_eq!(info.exit_code(), 137);
    }
}
