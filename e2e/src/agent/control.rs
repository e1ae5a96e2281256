//! What the agent records about running containers, and the operations built on it that tests
//! and users run from outside the agent: kill a container's process (a crash), hold it down,
//! exec a command in its environment, find its log.
//!
//! Layout under the agent directory (like the kubelet's `/var/lib/kubelet/pods` and
//! `/var/log/pods`): `pods/<ns>_<pod>_<uid>/` holds the pod's volumes, hosts file and one
//! `<container>.json` record per running container; `logs/<ns>_<pod>_<uid>/<container>/<n>.log`
//! the output of the n-th run.

use std::path::{Path, PathBuf};

/// One container run, as recorded when its process started.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ContainerRecord {
    pub namespace: String,
    pub pod: String,
    pub uid: String,
    pub container: String,
    pub pid: u32,
    pub program: PathBuf,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: PathBuf,
    /// (mount path, host path) pairs, for rebasing paths given to `exec`.
    pub mounts: Vec<(String, PathBuf)>,
    pub log: PathBuf,
    pub restart_count: i32,
}

/// Errors of the control operations.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error("no running pod {namespace}/{pod} under {dir}")]
    NoPod { namespace: String, pod: String, dir: String },
    #[error("pod {namespace}/{pod} has no running container {container}")]
    NoContainer { namespace: String, pod: String, container: String },
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("process {pid} of {container} is not running any more")]
    Stale { pid: u32, container: String },
}

pub fn pod_dir_name(ns: &str, pod: &str, uid: &str) -> String {
    format!("{ns}_{pod}_{uid}")
}

pub fn record_path(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join(format!("{container}.json"))
}

/// While this file exists the container is not restarted after it exits.
pub fn hold_path(pod_dir: &Path, container: &str) -> PathBuf {
    pod_dir.join(format!("{container}.hold"))
}

/// The directory of the current incarnation of a pod (the newest one with records).
pub fn find_pod_dir(agent_dir: &Path, ns: &str, pod: &str) -> Result<PathBuf, ControlError> {
    let prefix = format!("{ns}_{pod}_");
    let pods = agent_dir.join("pods");
    let rd = std::fs::read_dir(&pods)
        .map_err(|source| ControlError::Io { what: format!("reading {}", pods.display()), source })?;
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .filter_map(|e| {
            let t = e.metadata().and_then(|m| m.modified()).ok()?;
            Some((t, e.path()))
        })
        .max()
        .map(|(_, p)| p)
        .ok_or_else(|| ControlError::NoPod {
            namespace: ns.into(),
            pod: pod.into(),
            dir: agent_dir.display().to_string(),
        })
}

/// The record of `container` (or of the pod's only/first container).
pub fn read_record(
    agent_dir: &Path,
    ns: &str,
    pod: &str,
    container: Option<&str>,
) -> Result<ContainerRecord, ControlError> {
    let dir = find_pod_dir(agent_dir, ns, pod)?;
    let no_container = || ControlError::NoContainer {
        namespace: ns.into(),
        pod: pod.into(),
        container: container.unwrap_or("(any)").into(),
    };
    let path = match container {
        Some(c) => record_path(&dir, c),
        None => {
            let mut records: Vec<PathBuf> = std::fs::read_dir(&dir)
                .map_err(|source| ControlError::Io { what: format!("reading {}", dir.display()), source })?
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "json"))
                .collect();
            records.sort();
            records.into_iter().next().ok_or_else(no_container)?
        }
    };
    let bytes = std::fs::read(&path).map_err(|_| no_container())?;
    serde_json::from_slice(&bytes)
        .map_err(|e| ControlError::Io { what: format!("parsing {}", path.display()), source: std::io::Error::other(e) })
}

fn process_alive(rec: &ContainerRecord) -> bool {
    // The pid must still run the recorded program (pids are reused).
    std::fs::read_link(format!("/proc/{}/exe", rec.pid))
        .map(|exe| {
            let exe = exe.to_string_lossy().trim_end_matches(" (deleted)").to_string();
            Path::new(&exe).file_name() == rec.program.file_name()
        })
        .unwrap_or(false)
}

/// Sends `signal` to a container's process group (SIGKILL simulates a crash); returns the pid.
pub fn signal_container(
    agent_dir: &Path,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    signal: i32,
) -> Result<ContainerRecord, ControlError> {
    let rec = read_record(agent_dir, ns, pod, container)?;
    if !process_alive(&rec) {
        return Err(ControlError::Stale { pid: rec.pid, container: rec.container });
    }
    // SAFETY: kill(2) on the process group the agent created for this container.
    unsafe {
        libc::kill(-(rec.pid as i32), signal);
    }
    Ok(rec)
}

/// Keeps a container from being restarted (`hold = true`) or lets it restart again.
pub fn set_hold(agent_dir: &Path, ns: &str, pod: &str, container: &str, hold: bool) -> Result<(), ControlError> {
    let dir = find_pod_dir(agent_dir, ns, pod)?;
    let path = hold_path(&dir, container);
    let r = if hold { std::fs::write(&path, b"held\n") } else { std::fs::remove_file(&path).or(Ok(())) };
    r.map_err(|source| ControlError::Io { what: format!("writing {}", path.display()), source })
}

/// A command prepared to run in a container's environment (its env, working directory, the
/// binaries standing in for its image, mount paths rebased).
pub fn exec_command(
    agent_dir: &Path,
    ns: &str,
    pod: &str,
    container: Option<&str>,
    argv: &[String],
) -> Result<std::process::Command, ControlError> {
    let rec = read_record(agent_dir, ns, pod, container)?;
    let info = super::AgentInfo::read(agent_dir);
    let bins = super::BinaryResolver {
        bin_dirs: info.map(|i| i.bin_dirs).unwrap_or_default(),
        image_entrypoints: Default::default(),
    };
    let mounts = super::container::MountMap::new(rec.mounts.clone());
    let (first, rest) = argv
        .split_first()
        .ok_or_else(|| ControlError::Io { what: "exec".into(), source: std::io::Error::other("no command given") })?;
    let program = bins.resolve_command(first).ok_or_else(|| ControlError::Io {
        what: format!("exec {first}"),
        source: std::io::Error::new(std::io::ErrorKind::NotFound, "no such binary in the bin dirs or PATH"),
    })?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(rest.iter().map(|a| mounts.rebase(a)))
        .env_clear()
        .envs(rec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&rec.cwd);
    Ok(cmd)
}
