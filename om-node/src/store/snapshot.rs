//! Snapshots: RocksDB checkpoints packed as a tar file under `snapshots/`, with
//! `snapshots/current.json` naming the current one.
//!
//! Installing one swaps the database directory with two renames, so a crash at any point leaves
//! a usable database ([`super::schema::recover_dirs`] finishes or rolls back the swap). A
//! superseded archive is deleted only when nothing holds it any more: the leader may be
//! streaming it to a follower while the next snapshot is built.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use rocksdb::checkpoint::Checkpoint;

use crate::types::{SnapshotMeta, TypeConfig};

use super::double_buffer::DoubleBuffer;
use super::io_err;
use super::schema::{load_full_tables, open_db, read_applied, recover_dirs, Applied, DB_INCOMING, DB_NAME, DB_OLD};

const CURRENT_SNAPSHOT: &str = "current.json";
const CURRENT_SNAPSHOT_TMP: &str = "current.json.tmp";

/// The snapshot payload: a tar of a RocksDB checkpoint on local disk.
#[derive(Debug, Clone)]
pub struct SnapshotFile {
    pub path: PathBuf,
    /// Keeps a stored snapshot's archive on disk while this payload exists (`None` for an
    /// incoming one, which belongs to its receiver until installed).
    _held: Option<Arc<SnapshotArchive>>,
}

impl SnapshotFile {
    /// A payload for an archive at `path` that nothing else deletes.
    pub fn at(path: PathBuf) -> Self {
        Self { path, _held: None }
    }
}

/// A stored snapshot archive. Once superseded it is deleted when its last holder drops it.
#[derive(Debug)]
struct SnapshotArchive {
    path: PathBuf,
    superseded: AtomicBool,
}

impl SnapshotArchive {
    fn new(path: PathBuf) -> Arc<Self> {
        Arc::new(Self { path, superseded: AtomicBool::new(false) })
    }

    /// A payload that keeps this archive on disk while it exists.
    fn payload(self: &Arc<Self>) -> SnapshotFile {
        SnapshotFile { path: self.path.clone(), _held: Some(Arc::clone(self)) }
    }
}

impl Drop for SnapshotArchive {
    fn drop(&mut self) {
        if *self.superseded.get_mut() {
            if let Err(e) = std::fs::remove_file(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not delete a superseded snapshot");
            }
        }
    }
}

/// The snapshot openraft sees as current, and its archive.
type CurrentSnapshot = Option<(SnapshotMeta, Arc<SnapshotArchive>)>;

pub(super) type Snapshot = openraft::alias::SnapshotOf<TypeConfig, SnapshotFile>;

/// The snapshots of one state directory.
pub(super) struct Snapshots {
    /// The state directory (the database is under it).
    dir: PathBuf,
    /// Where the archives are: `snapshots/` in the state directory unless configured.
    snapshot_dir: PathBuf,
    /// Mirrors `snapshots/current.json`; replaced under this lock, so a reader never sees a
    /// pointer to an archive that is already gone.
    current: Mutex<CurrentSnapshot>,
}

impl Snapshots {
    /// Reads the current snapshot of the state directory `dir` from `snapshot_dir` and deletes
    /// whatever else a previous run left there.
    pub(super) fn load(dir: &Path, snapshot_dir: &Path) -> Result<Self, io::Error> {
        let current = load_current_snapshot(snapshot_dir)?;
        Ok(Self { dir: dir.to_path_buf(), snapshot_dir: snapshot_dir.to_path_buf(), current: Mutex::new(current) })
    }

    fn snapshot_dir(&self) -> PathBuf {
        self.snapshot_dir.clone()
    }

    /// A path where an incoming snapshot can be written before it is installed.
    pub(super) fn incoming_path(&self) -> PathBuf {
        self.snapshot_dir().join(format!("incoming-{:016x}.tar", rand::random::<u64>()))
    }

    /// The current snapshot; its archive stays on disk while the returned payload exists.
    pub(super) fn latest(&self) -> Option<Snapshot> {
        let current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        current.as_ref().map(|(meta, archive)| Snapshot { meta: meta.clone(), snapshot: archive.payload() })
    }

    /// Makes the archive at `path` the current snapshot. The previous archive is deleted once
    /// no replication stream holds it.
    fn set_current(&self, meta: &SnapshotMeta, path: &Path) -> Result<Snapshot, io::Error> {
        let name = snapshot_file_name(meta);
        let dest = self.snapshot_dir().join(&name);
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        if path != dest {
            std::fs::rename(path, &dest)?;
        }
        let tmp = self.snapshot_dir().join(CURRENT_SNAPSHOT_TMP);
        std::fs::write(&tmp, serde_json::to_vec(&(meta, &name)).map_err(io_err)?)?;
        std::fs::rename(&tmp, self.snapshot_dir().join(CURRENT_SNAPSHOT))?;
        let archive = match current.take() {
            // The same archive again (a rename onto itself): keep its holders' handle.
            Some((_, same)) if same.path == dest => same,
            previous => {
                if let Some((_, old)) = previous {
                    old.superseded.store(true, Ordering::Release);
                }
                SnapshotArchive::new(dest)
            }
        };
        let snapshot = Snapshot { meta: meta.clone(), snapshot: archive.payload() };
        *current = Some((meta.clone(), archive));
        Ok(snapshot)
    }

    /// Builds a snapshot of everything applied so far and makes it current (blocking).
    pub(super) fn build(&self, buffer: &DoubleBuffer) -> Result<Snapshot, io::Error> {
        buffer.barrier()?;
        let db = buffer.db()?;
        db.flush_wal(true).map_err(io_err)?;
        let work = self.snapshot_dir().join(format!("build-{:016x}", rand::random::<u64>()));
        Checkpoint::new(&db).map_err(io_err)?.create_checkpoint(&work).map_err(io_err)?;
        drop(db);
        let result = (|| {
            // The checkpoint carries its own TRANSACTIONINFO: the snapshot's exact position.
            let applied = {
                let cp = open_db(&work, &Arc::default(), buffer.memory())?;
                read_applied(&cp)?
            };
            let meta = SnapshotMeta { last_log_id: applied.last_applied, last_membership: applied.membership };
            let tar_path = work.with_extension("tar");
            pack_dir(&work, &tar_path)?;
            self.set_current(&meta, &tar_path)
        })();
        let _ = std::fs::remove_dir_all(&work);
        result
    }

    /// Replaces the state in `buffer` with the snapshot archive at `tar_path`, described by
    /// `meta`, and makes it current (blocking).
    pub(super) fn install(&self, buffer: &DoubleBuffer, meta: &SnapshotMeta, tar_path: &Path) -> Result<(), io::Error> {
        let started = Instant::now();
        buffer.barrier()?;
        let dir = &self.dir;
        let incoming = dir.join(DB_INCOMING);
        if incoming.exists() {
            std::fs::remove_dir_all(&incoming)?;
        }
        unpack_dir(tar_path, &incoming)?;
        {
            let check = open_db(&incoming, &Arc::default(), buffer.memory())?;
            let got = read_applied(&check)?;
            if got.last_applied != meta.last_log_id {
                drop(check);
                let _ = std::fs::remove_dir_all(&incoming);
                return Err(io_err(format!(
                    "snapshot content is at {:?} but its metadata says {:?}",
                    got.last_applied, meta.last_log_id
                )));
            }
        }
        {
            // Readers wait on the lock; the old database must be closed before the new one
            // opens at the same path (RocksDB locks files by path within a process).
            let mut guard = buffer.lock_db();
            super::double_buffer::close_slot(&mut guard).map_err(|e| io_err(format!("{e}; snapshot not installed")))?;
            let swapped = std::fs::rename(dir.join(DB_NAME), dir.join(DB_OLD))
                .and_then(|_| std::fs::rename(&incoming, dir.join(DB_NAME)));
            if let Err(e) = swapped {
                // Put the old database back in service before reporting the failure.
                recover_dirs(dir)?;
                *guard = Some(Arc::new(open_db(&dir.join(DB_NAME), buffer.retry_horizon(), buffer.memory())?));
                return Err(e);
            }
            let db = open_db(&dir.join(DB_NAME), buffer.retry_horizon(), buffer.memory())?;
            let full = load_full_tables(&db)?;
            *guard = Some(Arc::new(db));
            buffer.reset(
                full,
                Applied { last_applied: meta.last_log_id.clone(), membership: meta.last_membership.clone() },
            );
        }
        let _ = std::fs::remove_dir_all(dir.join(DB_OLD));
        drop(self.set_current(meta, tar_path)?);
        tracing::info!(last_log_id = ?meta.last_log_id, elapsed_ms = started.elapsed().as_millis() as u64, "installed snapshot");
        Ok(())
    }
}

/// Reads `current.json` and deletes whatever else a previous run left in the snapshot
/// directory (superseded archives, unfinished builds and uploads).
fn load_current_snapshot(snapshots: &Path) -> Result<CurrentSnapshot, io::Error> {
    let current = match std::fs::read(snapshots.join(CURRENT_SNAPSHOT)) {
        Ok(bytes) => {
            let (meta, file): (SnapshotMeta, String) = serde_json::from_slice(&bytes).map_err(|e| {
                io_err(format!("{} is not a snapshot pointer: {e}", snapshots.join(CURRENT_SNAPSHOT).display()))
            })?;
            let path = snapshots.join(&file);
            if path.exists() {
                Some((meta, SnapshotArchive::new(path)))
            } else {
                tracing::warn!(file, "the current snapshot's archive is missing; starting without a snapshot");
                None
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    for entry in std::fs::read_dir(snapshots)? {
        let path = entry?.path();
        let keep = path.file_name().is_some_and(|n| n == CURRENT_SNAPSHOT)
            || current.as_ref().is_some_and(|(_, a)| a.path == path);
        if !keep {
            let removed = if path.is_dir() { std::fs::remove_dir_all(&path) } else { std::fs::remove_file(&path) };
            if let Err(e) = removed {
                tracing::warn!(path = %path.display(), error = %e, "could not delete a leftover snapshot file");
            }
        }
    }
    Ok(current)
}

fn snapshot_file_name(meta: &SnapshotMeta) -> String {
    match &meta.last_log_id {
        Some(l) => format!("snapshot-{}-{}.tar", l.leader_id.term, l.index),
        None => "snapshot-empty.tar".to_string(),
    }
}

fn pack_dir(dir: &Path, tar_path: &Path) -> Result<(), io::Error> {
    let file = std::fs::File::create(tar_path)?;
    let mut builder = tar::Builder::new(io::BufWriter::new(file));
    builder.append_dir_all(".", dir)?;
    builder.into_inner()?.into_inner().map_err(|e| e.into_error())?.sync_all()
}

fn unpack_dir(tar_path: &Path, dest: &Path) -> Result<(), io::Error> {
    std::fs::create_dir_all(dest)?;
    let file = std::fs::File::open(tar_path)?;
    tar::Archive::new(io::BufReader::new(file)).unpack(dest)
}
