//! `omring-operator`: parses flags, sets up logging, runs the operator (see the library).

use clap::Parser;

#[tokio::main]
async fn main() {
    let cli = omring_operator::cli::Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        // Colours only on a terminal: `kubectl logs` and log files get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .init();
    if let Err(e) = omring_operator::run::run(cli).await {
        tracing::error!("{e}");
        std::process::exit(1);
    }
}
