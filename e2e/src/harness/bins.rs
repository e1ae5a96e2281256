//! The locally built binaries, the images made from them, and the control-plane binaries.
//!
//! Tests run from `<target>/debug/deps/`, so the workspace's binaries are in `<target>/debug/`.
//! `make test` builds them all before the tests run; when one is missing (e.g. only
//! `cargo test -p omring-e2e` was run) it is built here with cargo.
//!
//! [`BIN_DIR_ENV`] names a directory to take them from instead: `scripts/test-lanes.sh` copies
//! them there so that the other lane can build the fault suite's om-node variant, which cargo
//! writes to the same `<target>/debug/om-node`, while these tests run.

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

/// When set: the directory holding the om-node and operator binaries the tests use (and make
/// images of); nothing is built.
pub const BIN_DIR_ENV: &str = "OMRING_E2E_BIN_DIR";

/// The directory named by [`BIN_DIR_ENV`], if set.
fn bin_dir_override() -> Option<PathBuf> {
    std::env::var_os(BIN_DIR_ENV).map(PathBuf::from)
}

/// The directory the workspace's binaries are taken from.
fn bin_dir() -> Result<PathBuf> {
    bin_dir_override().map_or_else(target_debug_dir, Ok)
}

/// The path of workspace binary `name` of package `package`, built if missing (unless
/// [`BIN_DIR_ENV`] is set: then it must be there).
pub fn workspace_binary(package: &str, name: &str) -> Result<PathBuf> {
    if let Some(dir) = bin_dir_override() {
        let path = dir.join(name);
        if !path.is_file() {
            let dir = dir.display();
            return Err(HarnessError::Setup(format!("{BIN_DIR_ENV} is {dir}, which holds no {name}")));
        }
        return Ok(path);
    }
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

static IMAGES_LOCK: Mutex<()> = Mutex::new(());

/// The om-node and operator images (OCI archives of `images/build-oci.sh`) of the binaries this
/// test build made, in `<target>/images`; rebuilt when a binary is newer than its archive.
pub fn images() -> Result<Vec<PathBuf>> {
    let bins = [om_node()?, operator()?];
    let dir = target_debug_dir()?.parent().map(Path::to_path_buf).unwrap_or_default().join("images");
    let archive = |bin: &Path| {
        let name = bin.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default();
        dir.join(format!("{name}-{}.oci.tar", env!("CARGO_PKG_VERSION")))
    };
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let _guard = IMAGES_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    let stale = bins.iter().any(|b| match (modified(b), modified(&archive(b))) {
        (Some(bin), Some(img)) => img < bin,
        _ => true,
    });
    if stale {
        super::step(format!("building the om-node and operator images into {}", dir.display()));
        let script = repo_root().join("images/build-oci.sh");
        let out = Command::new(&script)
            .env("OMRING_IMAGES_DIR", &dir)
            .env("OMRING_BIN_DIR", bin_dir()?)
            .env("CARGO_TARGET_DIR", target_debug_dir()?.parent().unwrap_or(Path::new(".")))
            .stderr(std::process::Stdio::piped())
            .output()
            .map_err(|source| HarnessError::Io { what: script.display().to_string(), source })?;
        if !out.status.success() {
            return Err(HarnessError::Command {
                cmd: script.display().to_string(),
                status: out.status.to_string(),
                stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            });
        }
    }
    Ok(bins.iter().map(|b| archive(b)).collect())
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
