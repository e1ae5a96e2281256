//! How the harness starts Apache Ozone's Java programs (OMs, SCM, freon, the admin CLI,
//! OmDriver): one command line, so every JVM gets the same flags and logging.

use std::path::Path;
use std::process::Command;

/// JVM flags Ozone needs on Java 17 (its own launcher script sets the same).
pub const JVM_FLAGS: &[&str] = &[
    "--add-opens",
    "java.base/java.nio=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang=ALL-UNNAMED",
    "--add-opens",
    "java.base/java.lang.reflect=ALL-UNNAMED",
    "--add-opens",
    "java.management/com.sun.jmx.mbeanserver=ALL-UNNAMED",
    "--add-exports",
    "java.management/com.sun.jmx.mbeanserver=ALL-UNNAMED",
    "-Dorg.apache.ratis.thirdparty.io.netty.allocator.useCacheForAllThreads=false",
];

pub const LOG4J: &str = "log4j.rootLogger=WARN, stderr
log4j.appender.stderr=org.apache.log4j.ConsoleAppender
log4j.appender.stderr.Target=System.err
log4j.appender.stderr.layout=org.apache.log4j.PatternLayout
log4j.appender.stderr.layout.ConversionPattern=%d{ISO8601} %p %c{1}: %m%n
log4j.logger.org.apache.hadoop.ozone.om=INFO
log4j.logger.org.apache.hadoop.hdds.scm.server=INFO
log4j.logger.org.apache.hadoop.ozone.freon=INFO
log4j.logger.metrics=INFO
log4j.logger.org.apache.hadoop.io.retry.RetryInvocationHandler=ERROR
";

/// `java` with Ozone's flags (plus `extra`), a heap of `heap`, log4j from `conf_dir` and the
/// temp directory and working directory `dir`.
pub fn java(classpath: &str, conf_dir: &Path, dir: &Path, main: &str, heap: &str, extra: &[String]) -> Command {
    let mut cmd = Command::new("java");
    crate::child::tie_to_parent(&mut cmd);
    cmd.args(JVM_FLAGS)
        .args(extra)
        .arg(format!("-Xmx{heap}"))
        .arg(format!("-Dlog4j.configuration=file:{}", conf_dir.join("log4j.properties").display()))
        .arg(format!("-Djava.io.tmpdir={}", dir.display()))
        .arg("-cp")
        .arg(classpath)
        .arg(main)
        .current_dir(dir);
    cmd
}
