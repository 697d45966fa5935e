//! `orygate`: a fresh Ory stack, every flow once, a short load run and a
//! summary. `orygate --help` lists the options.

use std::process::ExitCode;

use clap::Parser;
use loadtests::{Error, Options};

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,goose=error".into()),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match loadtests::run(Options::parse()).await {
        Ok(report) => {
            eprintln!("results: {}", report.path.display());
            if report.results.interrupted {
                ExitCode::from(130)
            } else if report.passed() {
                ExitCode::SUCCESS
            } else {
                eprintln!("orygate: failures above");
                ExitCode::from(1)
            }
        }
        Err(e @ Error::Interrupted(_)) => {
            eprintln!("orygate: {e}");
            ExitCode::from(130)
        }
        Err(e @ (Error::Usage(_) | Error::Target(_))) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}
