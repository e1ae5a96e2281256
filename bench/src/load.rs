//! Closed-loop load: `clients` tasks each issue one operation at a time until the deadline,
//! recording the latency of every successful operation.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The length of the windows a step's successful operations are counted in, to show whether its
/// throughput was flat (steady) or still climbing.
pub const WINDOW: Duration = Duration::from_secs(10);

/// What one timed step produced.
#[derive(Debug, Clone, Default)]
pub struct LoadResult {
    pub ops: u64,
    pub errors: u64,
    pub secs: f64,
    /// Sorted latencies of successful operations.
    pub latencies: Vec<Duration>,
    pub first_error: Option<String>,
    /// Successful operations completed in each whole `window` from the start; the partial
    /// window at the end is left out.
    pub windows: Vec<u64>,
    pub window: Duration,
}

impl LoadResult {
    pub fn ops_per_sec(&self) -> f64 {
        if self.secs > 0.0 {
            self.ops as f64 / self.secs
        } else {
            0.0
        }
    }

    /// Throughput of each whole window, ops/s.
    pub fn window_ops_per_sec(&self) -> Vec<f64> {
        self.windows.iter().map(|&n| n as f64 / self.window.as_secs_f64()).collect()
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

/// Runs `op(worker, i)` from `clients` concurrent tasks for `duration`, counting successes in
/// [`WINDOW`]s.
pub async fn run<F, Fut, E>(clients: usize, duration: Duration, op: F) -> LoadResult
where
    F: Fn(usize, u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
    E: std::fmt::Display,
{
    run_windowed(clients, duration, WINDOW, op).await
}

async fn run_windowed<F, Fut, E>(clients: usize, duration: Duration, window: Duration, op: F) -> LoadResult
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
            let mut windows: Vec<u64> = Vec::new();
            let mut errors = 0u64;
            let mut first_error = None;
            let mut i = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                match op(worker, i).await {
                    Ok(()) => {
                        lat.push(t.elapsed());
                        let k = (started.elapsed().as_secs_f64() / window.as_secs_f64()) as usize;
                        if windows.len() <= k {
                            windows.resize(k + 1, 0);
                        }
                        windows[k] += 1;
                    }
                    Err(e) => {
                        errors += 1;
                        if first_error.is_none() {
                            first_error = Some(e.to_string());
                        }
                    }
                }
                i += 1;
            }
            (lat, windows, errors, first_error)
        }));
    }
    let mut out = LoadResult { window, ..LoadResult::default() };
    for t in tasks {
        match t.await {
            Ok((lat, windows, errors, first_error)) => {
                out.latencies.extend(lat);
                if out.windows.len() < windows.len() {
                    out.windows.resize(windows.len(), 0);
                }
                for (sum, n) in out.windows.iter_mut().zip(windows) {
                    *sum += n;
                }
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
    // The step's own whole windows: not those after the deadline (calls that ended late), and
    // windows without a success are zeros, not missing (a stall at the end must show).
    let whole = (out.secs.min(duration.as_secs_f64()) / window.as_secs_f64()) as usize;
    out.windows.resize(whole, 0);
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
        assert!(r.windows.is_empty(), "a 200 ms step has no whole 10 s window: {:?}", r.windows);
    }

    #[tokio::test]
    async fn successes_are_counted_in_whole_windows() {
        // Client 0 succeeds every 20 ms and client 1 only fails, for 500 ms in 200 ms windows:
        // two whole windows of at most 10 successes each; the partial last window is left out
        // and errors are not counted.
        let r = run_windowed(2, Duration::from_millis(500), Duration::from_millis(200), |w, _| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if w == 0 {
                Ok(())
            } else {
                Err("second client fails")
            }
        })
        .await;
        assert_eq!(r.windows.len(), 2, "{r:?}");
        assert!(r.windows.iter().all(|&n| n <= 10), "{:?}", r.windows);
        assert!(r.windows.iter().sum::<u64>() <= r.ops, "{r:?}");
        let rates = r.window_ops_per_sec();
        assert!((rates[0] - r.windows[0] as f64 * 5.0).abs() < 1e-9, "{rates:?}");
    }

    #[tokio::test]
    async fn windows_without_a_success_are_zeros_not_missing() {
        // Successes only in the first 150 ms of a 500 ms step: the second window is 0.
        let started = Instant::now();
        let r = run_windowed(1, Duration::from_millis(500), Duration::from_millis(200), move |_, _| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if started.elapsed() < Duration::from_millis(150) {
                Ok(())
            } else {
                Err("stalled")
            }
        })
        .await;
        assert_eq!(r.windows.len(), 2, "{r:?}");
        assert_eq!(r.windows[1], 0, "{r:?}");
    }
}
