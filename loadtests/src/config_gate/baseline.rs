//! `orygate gate --baseline`: a short load against the gate's stack,
//! compared with a saved run.

use harness::OryStack;
use scenarios::derived::{FlowOutcome, FlowResult};

use super::GateArgs;
use crate::error::{Error, Result};

/// The mix a gate's load runs when there is no baseline to copy it from:
/// session checks and logins of people the admin API creates.
const LOAD_MIX: &str = "whoami=5,whoami-api=3,login=1";

/// The short load of `--baseline` against the stack's Kratos, compared
/// with the baseline (or, with `--accept` and none yet, saved as it).
pub(super) async fn load(args: &GateArgs, stack: &OryStack) -> FlowResult {
    let started = std::time::Instant::now();
    let outcome = match load_run(args, stack).await {
        Ok(outcome) => outcome,
        Err(e) => FlowOutcome::Failed {
            error: e.to_string(),
        },
    };
    FlowResult {
        name: "load compared with the baseline".into(),
        outcome,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

async fn load_run(args: &GateArgs, stack: &OryStack) -> Result<FlowOutcome> {
    let path = match &args.baseline {
        Some(Some(p)) => p.clone(),
        _ => args.ory_dir.join(".orygate/baseline.json"),
    };
    let saved = if path.is_file() {
        Some(reports::read(&path).map_err(|e| Error::Usage(format!("--baseline: {e}")))?)
    } else {
        None
    };
    let kratos = stack.kratos();
    let admin = kratos
        .admin_base()
        .map(ToString::to_string)
        .unwrap_or_default();
    let (mix, users, rate, seconds) = saved.as_ref().map_or_else(
        || {
            (
                LOAD_MIX.to_owned(),
                8,
                None,
                args.load_duration.as_secs_f64(),
            )
        },
        |b| {
            let s = &b.settings;
            (s.mix.clone(), s.users, s.rate, s.duration_s)
        },
    );
    let out = args.out().join("load");
    let mut command_line: Vec<String> = vec![
        "orygate".into(),
        "--kratos-url".into(),
        kratos.public_base().to_string(),
        "--kratos-admin-url".into(),
        admin,
        "--mix".into(),
        mix,
        "--users".into(),
        users.to_string(),
        "--duration".into(),
        format!("{seconds}s"),
        "--no-smoke".into(),
        "-q".into(),
        "--out".into(),
        out.display().to_string(),
    ];
    if let Some(rate) = rate {
        command_line.extend(["--rate".into(), rate.to_string()]);
    }
    if saved.is_some() {
        command_line.extend([
            "--baseline".into(),
            path.display().to_string(),
            "--gate-ratio".into(),
            args.load_ratio.to_string(),
        ]);
    }
    let options = <crate::Options as clap::Parser>::try_parse_from(&command_line)
        .map_err(|e| Error::Usage(format!("the gate's load: {e}")))?;
    let report = crate::run(options).await?;
    let json = report.json().to_path_buf();
    Ok(match (saved, args.accept) {
        (Some(_), _) if report.passed() => FlowOutcome::Passed,
        (Some(_), _) => FlowOutcome::Failed {
            error: format!(
                "the load regressed against {} (report: {})",
                path.display(),
                json.display()
            ),
        },
        (None, true) => {
            std::fs::copy(&json, &path)
                .map_err(|e| Error::Report(format!("write {}: {e}", path.display())))?;
            FlowOutcome::Skipped {
                why: format!("accepted: wrote the baseline {}", path.display()),
            }
        }
        (None, false) => FlowOutcome::Failed {
            error: format!(
                "no baseline at {}; run orygate gate --baseline --accept on a reviewed change",
                path.display()
            ),
        },
    })
}
