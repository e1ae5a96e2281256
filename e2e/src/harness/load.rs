//! Client load through the failover client while a scenario disturbs the ring: every
//! acknowledged key is remembered (to be read back at the end), every failed request counted
//! with its error, and the longest stretch without an acknowledgement measured.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use om_client::wire::{ErrorCode, ReadOp, ReadResponse, WriteOp};
use om_client::FailoverClient;

use super::{wait_for, HarnessError, Result};

/// What the load did.
#[derive(Debug, Default)]
pub struct LoadReport {
    pub volume: String,
    pub bucket: String,
    /// Keys whose creation was acknowledged.
    pub acked: Vec<String>,
    /// (seconds since start, error) of every failed key creation.
    pub failures: Vec<(f64, String)>,
    pub elapsed: Duration,
    /// Longest time no worker got an acknowledgement.
    pub longest_gap: Duration,
}

impl LoadReport {
    pub fn summary(&self) -> String {
        format!(
            "{} keys acknowledged, {} failed in {:.1}s ({:.0}/s), longest gap without acks {:.2}s",
            self.acked.len(),
            self.failures.len(),
            self.elapsed.as_secs_f64(),
            self.acked.len() as f64 / self.elapsed.as_secs_f64().max(0.001),
            self.longest_gap.as_secs_f64()
        )
    }

    /// Fails when any request failed.
    pub fn expect_no_failures(&self) -> Result<()> {
        if self.failures.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::Check(format!(
                "{} client writes failed, first: {:?}",
                self.failures.len(),
                &self.failures[..self.failures.len().min(5)]
            )))
        }
    }

    /// Reads every acknowledged key back through the leader.
    pub async fn verify_readable(&self, client: &FailoverClient) -> Result<()> {
        let mut missing = Vec::new();
        for chunk in self.acked.chunks(64) {
            let reads = chunk.iter().map(|k| async move {
                let r = client
                    .read(ReadOp::KeyInfo { volume: self.volume.clone(), bucket: self.bucket.clone(), key: k.clone() })
                    .await;
                (k, r)
            });
            for (k, r) in futures::future::join_all(reads).await {
                match r {
                    Ok(ReadResponse::Key { key }) if key.name == *k => {}
                    other => missing.push(format!("{k}: {other:?}")),
                }
            }
        }
        if missing.is_empty() {
            Ok(())
        } else {
            Err(HarnessError::Check(format!(
                "{} of {} acknowledged keys not readable, first: {:?}",
                missing.len(),
                self.acked.len(),
                &missing[..missing.len().min(3)]
            )))
        }
    }
}

struct Shared {
    stop: AtomicBool,
    acked: AtomicU64,
    failed: AtomicU64,
    start: Instant,
    last_ack: Mutex<Instant>,
    longest_gap: Mutex<Duration>,
    failures: Mutex<Vec<(f64, String)>>,
}

/// A running load.
pub struct Load {
    shared: Arc<Shared>,
    workers: Vec<tokio::task::JoinHandle<Vec<String>>>,
    volume: String,
    bucket: String,
}

impl Load {
    /// Creates `volume`/`bucket` (if absent) and starts `workers` writers, each creating keys
    /// (open + commit) back to back.
    pub async fn start(client: Arc<FailoverClient>, volume: &str, bucket: &str, workers: usize) -> Result<Load> {
        for op in [WriteOp::create_volume(volume), WriteOp::create_bucket(volume, bucket)] {
            match client.write(op).await {
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.code(),
                        Some(ErrorCode::VolumeAlreadyExists) | Some(ErrorCode::BucketAlreadyExists)
                    ) => {}
                Err(e) => return Err(HarnessError::Check(format!("preparing {volume}/{bucket}: {e}"))),
            }
        }
        let now = Instant::now();
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            start: now,
            last_ack: Mutex::new(now),
            longest_gap: Mutex::new(Duration::ZERO),
            failures: Mutex::new(Vec::new()),
        });
        let handles = (0..workers)
            .map(|w| {
                let (client, shared) = (client.clone(), shared.clone());
                let (volume, bucket) = (volume.to_string(), bucket.to_string());
                tokio::spawn(async move {
                    let mut acked = Vec::new();
                    let mut seq = 0u64;
                    while !shared.stop.load(Ordering::SeqCst) {
                        let key = format!("w{w}-{seq:07}");
                        seq += 1;
                        match client.create_key(&volume, &bucket, &key, 1024, None, Default::default()).await {
                            Ok(_) => {
                                acked.push(key);
                                shared.acked.fetch_add(1, Ordering::SeqCst);
                                let now = Instant::now();
                                let mut last = shared.last_ack.lock().unwrap_or_else(|e| e.into_inner());
                                let gap = now.duration_since(*last);
                                *last = now;
                                let mut longest = shared.longest_gap.lock().unwrap_or_else(|e| e.into_inner());
                                *longest = (*longest).max(gap);
                            }
                            Err(e) => {
                                shared.failed.fetch_add(1, Ordering::SeqCst);
                                let t = shared.start.elapsed().as_secs_f64();
                                shared
                                    .failures
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .push((t, format!("{key}: {e}")));
                            }
                        }
                    }
                    acked
                })
            })
            .collect();
        Ok(Load { shared, workers: handles, volume: volume.into(), bucket: bucket.into() })
    }

    pub fn acked(&self) -> u64 {
        self.shared.acked.load(Ordering::SeqCst)
    }

    pub fn failed(&self) -> u64 {
        self.shared.failed.load(Ordering::SeqCst)
    }

    /// Waits until `more` further keys were acknowledged (the ring is taking writes).
    pub async fn wait_progress(&self, more: u64, timeout: Duration) -> Result<()> {
        let target = self.acked() + more;
        wait_for(&format!("{more} more acknowledged writes"), timeout, Duration::from_millis(50), || async {
            let n = self.acked();
            if n >= target {
                Ok(Some(()))
            } else {
                Err(format!("{n} of {target} acknowledged, {} failed", self.failed()))
            }
        })
        .await
    }

    /// Stops the writers (each finishes its request in flight) and reports.
    pub async fn stop(self) -> LoadReport {
        self.shared.stop.store(true, Ordering::SeqCst);
        let mut acked = Vec::new();
        for w in self.workers {
            acked.extend(w.await.unwrap_or_default());
        }
        let s = &self.shared;
        let longest = s.longest_gap.lock().map(|g| *g).unwrap_or_default();
        LoadReport {
            volume: self.volume,
            bucket: self.bucket,
            acked,
            failures: std::mem::take(&mut *s.failures.lock().unwrap_or_else(|e| e.into_inner())),
            elapsed: s.start.elapsed(),
            longest_gap: longest,
        }
    }
}
