//! `orygate`: a fresh Ory stack, every flow once, a short load run and a
//! summary. `orygate --help` lists the options.

use std::process::ExitCode;

/// Thousands of users' small allocations from several threads: glibc's
/// per-thread arenas left a run of 1,000 users a third bigger.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{CommandFactory as _, FromArgMatches as _};
use loadtests::report::Command;
use loadtests::{Error, Options};

/// The version, and the commit it was built from where the environment
/// says so (`ORYGATE_COMMIT`, which the image sets to the commit its
/// build ran at).
fn version() -> &'static str {
    let version = env!("CARGO_PKG_VERSION");
    match std::env::var("ORYGATE_COMMIT") {
        Ok(commit) if !commit.is_empty() => {
            Box::leak(format!("{version} (commit {commit})").into_boxed_str())
        }
        _ => version,
    }
}

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
    let matches = Options::command().version(version()).get_matches();
    let opts = match Options::from_arg_matches(&matches) {
        Ok(opts) => opts,
        Err(e) => e.exit(),
    };
    if let Some(Command::Gate(args)) = &opts.command {
        return match Box::pin(loadtests::config_gate::run(args)).await {
            Ok(report) => {
                print_paths(&report.paths);
                if report.passed() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e @ Error::Usage(_)) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(1)
            }
        };
    }
    if let Some(Command::Report(args)) = &opts.command {
        return match loadtests::report::run(args) {
            Ok(rendered) => {
                print_paths(&rendered.paths);
                if rendered.results.gate_passed() {
                    ExitCode::SUCCESS
                } else {
                    eprintln!("orygate: the results failed (see the report)");
                    ExitCode::from(1)
                }
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(2)
            }
        };
    }
    let defer_verdict = opts.defer_verdict;
    match loadtests::run(opts).await {
        Ok(report) => {
            print_paths(&report.paths);
            if report.results.interrupted {
                ExitCode::from(130)
            } else if report.passed() {
                ExitCode::SUCCESS
            } else if defer_verdict {
                eprintln!(
                    "orygate: failures above; the results are written and the merge gives the verdict (--defer-verdict)"
                );
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

/// The files written, the HTML report last (the one to open).
fn print_paths(paths: &[std::path::PathBuf]) {
    let html = |p: &&std::path::PathBuf| p.extension().is_some_and(|e| e == "html");
    for path in paths
        .iter()
        .filter(|p| !html(p))
        .chain(paths.iter().filter(html))
    {
        eprintln!("results: {}", path.display());
    }
}
