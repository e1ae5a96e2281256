//! The signal a long-running omring program stops on: SIGTERM (what the kubelet, systemd and
//! the test harnesses send) or SIGINT (Ctrl-C in a terminal).
//!
//! om-node and the operator both shut down gracefully on it; one copy keeps the two answering
//! the same signals. It lives here because om-client is the crate both already depend on.

/// The stop signal's handlers, installed when this is made: a SIGTERM that arrives before
/// [`StopSignal::wait`] is polled is kept, not fatal. Make it before slow start-up work (a node
/// opening its database and joining its ring), so a kubelet or test harness that stops the
/// program early still gets a graceful stop instead of the default action of SIGTERM.
pub struct StopSignal {
    #[cfg(unix)]
    term: Option<tokio::signal::unix::Signal>,
}

impl StopSignal {
    /// Installs the SIGTERM handler now (needs a Tokio runtime). Where none can be installed
    /// (or off Unix) [`StopSignal::wait`] waits for Ctrl-C alone.
    pub fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            StopSignal { term: signal(SignalKind::terminate()).ok() }
        }
        #[cfg(not(unix))]
        {
            StopSignal {}
        }
    }

    /// Resolves once SIGTERM (since [`StopSignal::install`]) or SIGINT arrives.
    pub async fn wait(self) {
        #[cfg(unix)]
        {
            if let Some(mut term) = self.term {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
                return;
            }
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Resolves once SIGTERM or SIGINT arrives; the handlers are installed on the first poll.
pub async fn stop_signal() {
    StopSignal::install().wait().await
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn resolves_on_sigterm() {
        let stop = stop_signal();
        tokio::pin!(stop);
        // The first poll installs the handlers; until then SIGTERM would end the test process.
        assert!(futures::poll!(&mut stop).is_pending(), "resolved before any signal");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        tokio::time::timeout(Duration::from_secs(10), stop).await.expect("stop_signal resolves on SIGTERM");
    }

    #[tokio::test]
    async fn a_sigterm_before_the_wait_is_kept() {
        let stop = StopSignal::install();
        let status = std::process::Command::new("kill")
            .args(["-TERM", &std::process::id().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
        // Only now does anything wait for it.
        tokio::time::timeout(Duration::from_secs(10), stop.wait()).await.expect("the earlier SIGTERM is seen");
    }
}
