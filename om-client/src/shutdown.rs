//! The signal a long-running omring program stops on: SIGTERM (what the kubelet, systemd and
//! the test harnesses send) or SIGINT (Ctrl-C in a terminal).
//!
//! om-node and the operator both shut down gracefully on it; one copy keeps the two answering
//! the same signals. It lives here because om-client is the crate both already depend on.

/// Resolves once SIGTERM or SIGINT arrives. Where no SIGTERM handler can be installed (or
/// off Unix) it waits for Ctrl-C alone.
pub async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
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
}
