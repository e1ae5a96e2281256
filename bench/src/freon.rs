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

    /// `omkg` or `ombg` with `threads` threads for about `secs` seconds: (successful
    /// operations, freon's total seconds). `ombg` ignores `--duration` (it runs to `-n`), so it
    /// gets `count` operations, sized by the caller; `omkg` honours the duration.
    pub fn run(
        &self,
        generator: &str,
        threads: usize,
        secs: u64,
        count: u64,
        prefix: &str,
    ) -> Result<(u64, f64), FreonError> {
        let mut args: Vec<String> = vec![
            generator.into(),
            "-v".into(),
            VOLUME.into(),
            "-t".into(),
            threads.to_string(),
            "-n".into(),
            count.to_string(),
            "--duration".into(),
            format!("{secs}s"),
            "-p".into(),
            prefix.into(),
        ];
        if generator == "omkg" {
            args.extend(["-b", BUCKET, "-r", "ONE", "--type", "RATIS"].map(String::from));
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

/// freon's summary: "Total execution time (sec): N" and "Successful executions: N".
pub fn parse_freon(text: &str) -> Option<(u64, f64)> {
    let after = |marker: &str| -> Option<f64> {
        text.lines().rev().find_map(|l| l.split_once(marker)).and_then(|(_, v)| v.trim().parse::<f64>().ok())
    };
    let ok = after("Successful executions:")? as u64;
    let secs = after("Total execution time (sec):")?;
    Some((ok, secs))
}
