//! freon, Apache Ozone's load generator, as one driver for both Ozone's OM and omring: the
//! same jars and the same command line, pointed at a ring by the `ozone-site.xml` it is given.
//! That makes freon's rows the comparison with equal client work on both sides.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// Names of the volume and bucket freon writes into (both systems' harnesses create them).
pub const VOLUME: &str = "bench";
pub const BUCKET: &str = "keys";

#[derive(Debug, thiserror::Error)]
pub enum FreonError {
    #[error("{what}: {source}")]
    Io { what: String, source: std::io::Error },
    #[error("freon {generator} printed no summary ({status}); see {log}")]
    NoSummary { generator: String, status: String, log: String },
}

/// freon with its jars, its configuration directory and a working directory for its logs.
pub struct Freon {
    pub lib: PathBuf,
    pub dir: PathBuf,
    pub conf_dir: PathBuf,
}

impl Freon {
    /// freon for the ring `ozone_site_xml` names: writes it and log4j.properties under
    /// `dir/conf`.
    pub fn for_ring(lib: &Path, dir: &Path, ozone_site_xml: &str) -> Result<Self, FreonError> {
        let conf_dir = dir.join("conf");
        let io = |what: &str| {
            let what = what.to_string();
            move |source| FreonError::Io { what, source }
        };
        std::fs::create_dir_all(&conf_dir).map_err(io("creating freon's conf directory"))?;
        std::fs::write(conf_dir.join("ozone-site.xml"), ozone_site_xml).map_err(io("writing ozone-site.xml"))?;
        std::fs::write(conf_dir.join("log4j.properties"), crate::jvm::LOG4J).map_err(io("writing log4j"))?;
        Ok(Freon { lib: lib.to_path_buf(), dir: dir.to_path_buf(), conf_dir })
    }

    /// `generator` (`omkg`, `ombg` or `om-echo`) with `threads` threads for about `secs`
    /// seconds. `ombg` ignores `--duration` (it runs to `-n`), so it gets `count` operations,
    /// sized by the caller; the others honour the duration. `om-echo` runs with `--ratis`: every
    /// echo is a replicated log entry that changes nothing (the ceiling of a write).
    pub fn run(
        &self,
        generator: &str,
        threads: usize,
        secs: u64,
        count: u64,
        prefix: &str,
    ) -> Result<FreonRun, FreonError> {
        let mut args: Vec<String> = vec![
            generator.into(),
            "-t".into(),
            threads.to_string(),
            "-n".into(),
            count.to_string(),
            "--duration".into(),
            format!("{secs}s"),
            "-p".into(),
            prefix.into(),
        ];
        match generator {
            "omkg" => args.extend(["-v", VOLUME, "-b", BUCKET, "-r", "ONE", "--type", "RATIS"].map(String::from)),
            "ombg" => args.extend(["-v", VOLUME].map(String::from)),
            _ => args.push("--ratis".into()),
        }
        let classpath = format!("{}:{}/*", self.conf_dir.display(), self.lib.display());
        let log = self.dir.join(format!("freon-{generator}-{threads}.log"));
        // freon stops at --duration only between operations; a stuck call would hang it.
        let out = crate::child::output_within(
            crate::jvm::java(&classpath, &self.conf_dir, &self.dir, "org.apache.hadoop.ozone.freon.Freon", "1g", &[])
                .args(&args),
            Duration::from_secs(secs + 180),
        )
        .map_err(|e| {
            let _ = std::fs::write(&log, e.to_string());
            FreonError::Io { what: format!("running freon {generator} with {threads} threads"), source: e }
        })?;
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        std::fs::write(&log, &text)
            .map_err(|source| FreonError::Io { what: format!("writing {}", log.display()), source })?;
        parse_freon(&text).ok_or_else(|| FreonError::NoSummary {
            generator: generator.into(),
            status: out.status.to_string(),
            log: log.display().to_string(),
        })
    }
}

/// What one freon run printed: its counts, and its timer's percentiles when it logged them.
#[derive(Debug, Clone, PartialEq)]
pub struct FreonRun {
    pub ok: u64,
    /// freon's total time, whole seconds.
    pub secs: f64,
    /// The median and 99th percentile of the generator's timer, ms. freon's timer (Dropwizard
    /// metrics' default) keeps an exponentially decaying sample of 1,028 operations weighted
    /// toward the last 5 minutes: over a 60 s step, close to a uniform sample of the step.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

/// freon's summary: "Total execution time (sec): N" and "Successful executions: N", and the
/// line its Slf4jReporter logs for the generator's timer (`type=TIMER, name=key-create, ...,
/// median=…, p99=…, …, duration_unit=milliseconds`; shown when the `metrics` logger is at
/// INFO, see [`crate::jvm::LOG4J`]).
pub fn parse_freon(text: &str) -> Option<FreonRun> {
    let after = |marker: &str| -> Option<f64> {
        text.lines().rev().find_map(|l| l.split_once(marker)).and_then(|(_, v)| v.trim().parse::<f64>().ok())
    };
    let ok = after("Successful executions:")? as u64;
    let secs = after("Total execution time (sec):")?;
    let timer = text.lines().rev().find_map(|l| l.split_once("type=TIMER, ").map(|(_, t)| t));
    let field = |name: &str| -> Option<&str> {
        timer?.split(", ").find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == name).map(|(_, v)| v.trim()))
    };
    let to_ms = match field("duration_unit") {
        Some("milliseconds") => Some(1.0),
        Some("microseconds") => Some(1e-3),
        Some("nanoseconds") => Some(1e-6),
        Some("seconds") => Some(1e3),
        _ => None,
    };
    let ms = |name: &str| -> Option<f64> { Some(field(name)?.parse::<f64>().ok()? * to_ms?) };
    Some(FreonRun { ok, secs, p50_ms: ms("median"), p99_ms: ms("p99") })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The lines freon 2.2.0 logs at the end of a run (its Slf4jReporter, then its summary).
    const LOGGED: &str = "2026-12-07 09:00:01,100 INFO metrics: type=TIMER, name=key-create, count=2000, \
        min=1.2, max=80.5, mean=9.1, stddev=4.0, median=8.25, p75=10.0, p95=20.0, p98=30.0, p99=41.5, \
        p999=80.0, mean_rate=110.0, m1=100.0, m5=90.0, m15=80.0, rate_unit=events/second, \
        duration_unit=milliseconds
2026-12-07 09:00:01,101 INFO BaseFreonGenerator: Total execution time (sec): 18
2026-12-07 09:00:01,101 INFO BaseFreonGenerator: Failures: 0
2026-12-07 09:00:01,101 INFO BaseFreonGenerator: Successful executions: 2000
";

    #[test]
    fn parses_the_summary_and_the_timer() {
        let r = parse_freon(LOGGED).unwrap();
        assert_eq!(r, FreonRun { ok: 2000, secs: 18.0, p50_ms: Some(8.25), p99_ms: Some(41.5) });
        let us = LOGGED.replace("median=8.25", "median=8250").replace("milliseconds", "microseconds");
        assert_eq!(parse_freon(&us).unwrap().p50_ms, Some(8.25));
    }

    #[test]
    fn a_run_without_its_timer_line_has_no_percentiles() {
        let summary_only: String = LOGGED.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let r = parse_freon(&summary_only).unwrap();
        assert_eq!((r.ok, r.p50_ms, r.p99_ms), (2000, None, None));
        assert_eq!(parse_freon("nothing"), None);
    }
}
