//! The locally built binaries that stand in for images, and the control-plane binaries.
//!
//! Tests run from `<target>/debug/deps/`, so the workspace's binaries are in `<target>/debug/`.
//! `make test` builds them all before the tests run; when one is missing (e.g. only
//! `cargo test -p omring-e2e` was run) it is built here with cargo.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use super::{repo_root, HarnessError, Result};

/// `<target>/debug` of the running test or binary.
pub fn target_debug_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe().map_err(|source| HarnessError::Io { what: "current_exe".into(), source })?;
    let mut dir = exe.parent().map(Path::to_path_buf).unwrap_or_default();
    if dir.ends_with("deps") {
        dir.pop();
    }
    Ok(dir)
}

static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The path of workspace binary `name` of package `package`, built if missing.
pub fn workspace_binary(package: &str, name: &str) -> Result<PathBuf> {
    let path = target_debug_dir()?.join(name);
    if path.is_file() {
        return Ok(path);
    }
    let _guard = BUILD_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    if path.is_file() {
        return Ok(path);
    }
    super::step(format!("building {name} (cargo build -p {package} --bin {name})"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let target_dir = target_debug_dir()?.parent().map(Path::to_path_buf).unwrap_or_default();
    let status = Command::new(cargo)
        .args(["build", "-p", package, "--bin", name])
        .env("CARGO_TARGET_DIR", &target_dir)
        .current_dir(repo_root())
        .status()
        .map_err(|source| HarnessError::Io { what: format!("cargo build -p {package}"), source })?;
    if !status.success() || !path.is_file() {
        return Err(HarnessError::Setup(format!("cargo build -p {package} --bin {name} failed ({status})")));
    }
    Ok(path)
}

pub fn om_node() -> Result<PathBuf> {
    workspace_binary("om-node", "om-node")
}

pub fn operator() -> Result<PathBuf> {
    workspace_binary("omring-operator", "omring-operator")
}

pub fn node_agent() -> Result<PathBuf> {
    workspace_binary("omring-e2e", "omring-node-agent")
}

/// Builds (or finds cached) the control-plane binaries; returns their directory.
pub fn control_plane_bin() -> Result<PathBuf> {
    let script = repo_root().join("e2e/controlplane/build.sh");
    let out = Command::new(&script)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|source| HarnessError::Io { what: script.display().to_string(), source })?;
    if !out.status.success() {
        return Err(HarnessError::Setup(format!("{} failed ({})", script.display(), out.status)));
    }
    let dir = String::from_utf8_lossy(&out.stdout).trim().lines().last().unwrap_or_default().to_string();
    Ok(PathBuf::from(dir))
}
