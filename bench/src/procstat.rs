//! CPU seconds and resident memory of server processes, from `/proc/<pid>/stat` and
//! `/proc/<pid>/status`, so the three systems are charged the same way.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("unexpected format in {path}: {what}")]
    Format { path: PathBuf, what: &'static str },
}

/// User + system CPU seconds a process has used so far.
pub fn cpu_seconds(pid: u32) -> Result<f64, ProcError> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = std::fs::read_to_string(&path).map_err(|source| ProcError::Read { path: path.clone(), source })?;
    // The command name (field 2) may contain spaces; fields after its closing parenthesis are fixed.
    let rest = text.rsplit_once(')').map(|(_, r)| r).ok_or(ProcError::Format { path: path.clone(), what: "no ')'" })?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 =
        fields.get(11).and_then(|f| f.parse().ok()).ok_or(ProcError::Format { path: path.clone(), what: "utime" })?;
    let stime: u64 = fields.get(12).and_then(|f| f.parse().ok()).ok_or(ProcError::Format { path, what: "stime" })?;
    Ok((utime + stime) as f64 / clock_ticks())
}

/// Resident set size in bytes (VmRSS).
pub fn rss_bytes(pid: u32) -> Result<u64, ProcError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(&path).map_err(|source| ProcError::Read { path: path.clone(), source })?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or(ProcError::Format { path, what: "VmRSS" })?;
    Ok(kb * 1024)
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as f64
    } else {
        100.0
    }
}

/// CPU seconds of terminated, waited-for children (getrusage RUSAGE_CHILDREN).
pub fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the struct we pass.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(ru.ru_utime) + t(ru.ru_stime)
}

/// Summed CPU seconds of `pids` (processes that vanished count as 0).
pub fn total_cpu(pids: &[u32]) -> f64 {
    pids.iter().filter_map(|p| cpu_seconds(*p).ok()).sum()
}

/// RSS of each pid in MiB (0 for a vanished process).
pub fn rss_mib(pids: &[u32]) -> Vec<f64> {
    pids.iter().map(|p| rss_bytes(*p).map(|b| b as f64 / 1048576.0).unwrap_or(0.0)).collect()
}

/// The machine's load average line, recorded next to every measurement.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.trim().to_string()).unwrap_or_default()
}

/// The machine's CPU time so far from the `cpu` line of /proc/stat, in clock ticks: (all
/// states, stolen by the hypervisor).
pub fn cpu_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    parse_cpu_line(stat.lines().next()?)
}

fn parse_cpu_line(line: &str) -> Option<(u64, u64)> {
    let mut fields = line.split_whitespace();
    if fields.next()? != "cpu" {
        return None;
    }
    // user nice system idle iowait irq softirq steal [guest guest_nice: already in user/nice]
    let v: Vec<u64> = fields.take(8).map(|f| f.parse().ok()).collect::<Option<_>>()?;
    (v.len() == 8).then(|| (v.iter().sum(), v[7]))
}

/// Share of CPU time stolen between two [`cpu_ticks`] readings, %.
pub fn steal_pct(before: Option<(u64, u64)>, after: Option<(u64, u64)>) -> Option<f64> {
    let ((t0, s0), (t1, s1)) = (before?, after?);
    let total = t1.checked_sub(t0)?;
    (total > 0).then(|| s1.saturating_sub(s0) as f64 / total as f64 * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_cpu_and_rss() {
        let pid = std::process::id();
        // Burn at least two clock ticks of CPU so the counters move.
        let t = std::time::Instant::now();
        let mut x = 0u64;
        while t.elapsed() < std::time::Duration::from_millis(50) {
            x = std::hint::black_box(x.wrapping_add(1));
        }
        assert!(cpu_seconds(pid).unwrap() > 0.0);
        assert!(rss_bytes(pid).unwrap() > 1024 * 1024);
        assert_eq!(rss_mib(&[u32::MAX]), vec![0.0]);
    }

    #[test]
    fn steal_comes_from_the_eighth_cpu_field() {
        let a = parse_cpu_line("cpu  100 0 50 800 10 0 5 35 0 0");
        let b = parse_cpu_line("cpu  200 0 100 1600 20 0 10 70 0 0");
        assert_eq!(a, Some((1000, 35)));
        assert!((steal_pct(a, b).unwrap() - 3.5).abs() < 1e-9);
        assert_eq!(parse_cpu_line("cpu0 1 2 3 4 5 6 7 8"), None);
        assert!(cpu_ticks().is_some());
    }
}
