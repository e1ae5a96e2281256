//! Child processes of a harness: tied to it so they cannot outlive it, and stopped the way a
//! supervisor stops them (SIGTERM, a grace period, then SIGKILL).
//!
//! The local ring, the e2e harness (node agent, operator) and the benchmark each start
//! long-running children; one copy of these steps keeps their shutdown the same everywhere,
//! including the easy-to-miss parts: a child that already exited is not signalled again (its
//! pid may belong to another process by then), and a killed child is always reaped.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

/// How often [`terminate`] looks whether the child has exited.
const POLL: Duration = Duration::from_millis(20);

/// The child gets SIGKILL when the thread that spawned it exits (PR_SET_PDEATHSIG), so a
/// killed or crashed harness leaves nothing running. Spawn from a thread that lives as long as
/// the child should (the main thread, or the runtime's `block_on` thread).
pub fn tie_to_parent(cmd: &mut Command) -> &mut Command {
    // SAFETY: prctl is async-signal-safe; nothing else runs between fork and exec here.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd
}

/// How [`terminate`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Termination {
    /// The child exited by itself within the grace period (or had exited before).
    Exited(ExitStatus),
    /// The child still ran when the grace period ended; it got SIGKILL and was reaped.
    Killed,
}

/// Sends SIGTERM, waits up to `grace` for the child to exit, then sends SIGKILL and reaps it.
/// An error means the child's state could not be read; it has been sent SIGKILL then too.
pub fn terminate(child: &mut Child, grace: Duration) -> std::io::Result<Termination> {
    if let Some(status) = reaped_or_kill(child)? {
        return Ok(Termination::Exited(status));
    }
    // SAFETY: kill(2) of our own child, which has not been reaped (checked above), so its pid
    // is still its own.
    unsafe {
        libc::kill(child.id() as libc::pid_t, libc::SIGTERM);
    }
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        std::thread::sleep(POLL);
        if let Some(status) = reaped_or_kill(child)? {
            return Ok(Termination::Exited(status));
        }
    }
    kill(child);
    Ok(Termination::Killed)
}

/// SIGKILL (a crash, as far as the child can tell) and reaps it. Nothing happens to a child
/// that was already reaped.
pub fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// The exit status if the child has exited; kills it when its state cannot be read.
fn reaped_or_kill(child: &mut Child) -> std::io::Result<Option<ExitStatus>> {
    child.try_wait().inspect_err(|_| kill(child))
}

#[cfg(test)]
mod tests {
    use std::os::unix::process::ExitStatusExt;

    use super::*;

    #[test]
    fn sigterm_stops_a_child_that_obeys_it() {
        let mut child = Command::new("sleep").arg("30").spawn().expect("spawn sleep");
        let t = Instant::now();
        match terminate(&mut child, Duration::from_secs(10)).expect("terminate") {
            Termination::Exited(status) => assert_eq!(status.signal(), Some(libc::SIGTERM), "{status:?}"),
            Termination::Killed => panic!("sleep ignored SIGTERM"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_child_ignoring_sigterm_is_killed_after_the_grace_period() {
        let mut child = Command::new("sh").args(["-c", "trap '' TERM; exec sleep 30"]).spawn().expect("spawn sh");
        // Let the shell install its trap before the signal.
        std::thread::sleep(Duration::from_millis(200));
        let t = Instant::now();
        assert_eq!(terminate(&mut child, Duration::from_millis(300)).expect("terminate"), Termination::Killed);
        assert!(t.elapsed() >= Duration::from_millis(300));
        assert!(child.try_wait().expect("state").is_some(), "killed child is reaped");
    }

    #[test]
    fn a_child_that_already_exited_is_not_signalled() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let status = child.wait().expect("wait");
        assert_eq!(terminate(&mut child, Duration::from_secs(1)).expect("terminate"), Termination::Exited(status));
    }

    #[test]
    fn a_tied_child_runs_normally() {
        let out = tie_to_parent(Command::new("sh").args(["-c", "echo tied"])).output().expect("run");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "tied\n");
    }
}
