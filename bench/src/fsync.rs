//! This disk's fsync latency: the floor under every durable replicated write, and so the
//! ceiling on throughput for one writer (one fsync per write) and the unit of group commit.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::load::percentile;
use crate::results::FsyncProbe;

/// Writes 4 KiB and fdatasyncs, `samples` times, in `dir`; then three threads at once for the
/// same count each.
pub fn probe(dir: &Path, samples: usize) -> std::io::Result<FsyncProbe> {
    std::fs::create_dir_all(dir)?;
    let lat = sync_loop(&dir.join("fsync-probe-0"), samples)?;
    let started = Instant::now();
    let handles: Vec<_> = (1..=3)
        .map(|i| {
            let path = dir.join(format!("fsync-probe-{i}"));
            std::thread::spawn(move || sync_loop(&path, samples))
        })
        .collect();
    let mut total = 0usize;
    for h in handles {
        total += h.join().map_err(|_| std::io::Error::other("fsync probe thread panicked"))??.len();
    }
    let concurrent = total as f64 / started.elapsed().as_secs_f64();
    for i in 0..=3 {
        let _ = std::fs::remove_file(dir.join(format!("fsync-probe-{i}")));
    }
    let mean = lat.iter().map(|d| d.as_secs_f64()).sum::<f64>() / lat.len().max(1) as f64 * 1e3;
    Ok(FsyncProbe {
        path: dir.display().to_string(),
        samples,
        p50_ms: percentile(&lat, 0.5).as_secs_f64() * 1e3,
        p99_ms: percentile(&lat, 0.99).as_secs_f64() * 1e3,
        mean_ms: mean,
        concurrent3_fsyncs_per_sec: concurrent,
    })
}

fn sync_loop(path: &Path, samples: usize) -> std::io::Result<Vec<Duration>> {
    let mut f = OpenOptions::new().create(true).truncate(true).write(true).open(path)?;
    let block = [0x5au8; 4096];
    f.write_all(&block)?;
    f.sync_all()?;
    let mut lat = Vec::with_capacity(samples);
    for i in 0..samples {
        let t = Instant::now();
        // Appends like a log: new blocks each time, so metadata changes too.
        f.write_all_at(&block, (i as u64 + 1) * 4096)?;
        f.sync_data()?;
        lat.push(t.elapsed());
    }
    lat.sort();
    Ok(lat)
}

#[cfg(test)]
mod tests {
    #[test]
    fn probe_measures_something() {
        let dir = tempfile::tempdir().unwrap();
        let p = super::probe(dir.path(), 20).unwrap();
        assert_eq!(p.samples, 20);
        assert!(p.p50_ms > 0.0 && p.p99_ms >= p.p50_ms);
        assert!(p.concurrent3_fsyncs_per_sec > 0.0);
    }
}
