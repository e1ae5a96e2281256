//! Closed-loop load: `clients` tasks each issue one operation at a time until the deadline,
//! recording the latency of every successful operation.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What one timed step produced.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    /// Sorted latencies of successful operations.
    pub latencies: Vec<Duration>,
    pub first_error: Option<String>,
}

impl LoadResult {
    pub fn ops_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Latency at quantile `p` (0..=1) in milliseconds; 0 without samples.
    pub fn percentile_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1e3
    }
}

/// Nearest-rank quantile of sorted samples.
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p.clamp(0.0, 1.0)).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

/// Runs `op(worker, i)` from `clients` concurrent tasks for `duration`.
pub async fn run<F, Fut, E>(clients: usize, duration: Duration, op: F) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    let op = Arc::new(op);
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::with_capacity(clients);
    for worker in 0..clients {
        let op = Arc::clone(&op);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match op(worker, i).await {
                    Ok(()) => lat.push(t.elapsed()),
                    Err(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(e.to_string());
                        }
                    }
                }
                i += 1;
            }
            (lat, errors, first_error)
        }));
    }
    let mut out = LoadResult::default();
    for t in tasks {
        match t.await {
            Ok((lat, errors, first_error)) => {
                out.latencies.extend(lat);
                out.errors += errors;
                if out.first_error.is_none() {
                    out.first_error = first_error;
                }
            }
            Err(e) => {
                out.errors += 1;
                out.first_error.get_or_insert_with(|| format!("load task failed: {e}"));
            }
        }
    }
    out.secs = started.elapsed().as_secs_f64();
    out.latencies.sort();
    out.ops = out.latencies.len() as u64;
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_nearest_rank() {
        let v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&v, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&v, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }

    #[tokio::test]
    async fn run_counts_successes_and_errors() {
        let r = run(4, Duration::from_millis(200), |_, i| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            if i % 2 == 0 {
                Ok(())
            } else {
                Err("odd")
            }
        })
        .await;
        assert!(r.ops > 10, "{r:?}");
        assert!(r.errors > 10, "{r:?}");
        assert_eq!(r.first_error.as_deref(), Some("odd"));
        assert!(r.percentile_ms(0.5) >= 5.0);
    }
}
