//! Child processes that cannot outlive the harness or hang it: every server and tool is tied
//! to the harness with PR_SET_PDEATHSIG (a killed or crashed run leaves no cluster behind; the
//! same [`tie_to_parent`] the other harnesses use), and one-shot tools run under a deadline.

use std::io::Read;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use om_localring::child::tie_to_parent;

/// Like `Command::output`, but kills the child after `timeout`.
pub fn output_within(cmd: &mut Command, timeout: Duration) -> std::io::Result<Output> {
    let mut child = tie_to_parent(cmd).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn()?;
    let mut out = child.stdout.take().ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut err = child.stderr.take().ok_or_else(|| std::io::Error::other("no stderr"))?;
    let o = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = out.read_to_end(&mut v);
        v
    });
    let e = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = err.read_to_end(&mut v);
        v
    });
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if Instant::now() > deadline {
            om_localring::child::kill(&mut child);
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                format!("{:?} did not finish within {timeout:?}", cmd.get_program()),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Ok(Output { status, stdout: o.join().unwrap_or_default(), stderr: e.join().unwrap_or_default() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_within_returns_output_and_enforces_deadline() {
        let out =
            output_within(Command::new("sh").args(["-c", "echo hi; echo err >&2"]), Duration::from_secs(10)).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "hi\n");
        assert_eq!(String::from_utf8_lossy(&out.stderr), "err\n");
        let t = Instant::now();
        let slow = output_within(Command::new("sleep").arg("30"), Duration::from_millis(300));
        assert_eq!(slow.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        assert!(t.elapsed() < Duration::from_secs(5));
    }
}
