//! Every flow once, before the load: pass or fail per flow, with the
//! failing step, its status and Ory's error id.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use harness::Result;
use scenarios::flows::{login, logout};
use scenarios::journey;

use crate::context::Context;
use crate::target::Target;

use reports::document::{Outcome, SmokeResult};

/// Runs every flow the target allows, once each, in order.
pub async fn run(target: &Target, ctx: &Context) -> Vec<SmokeResult> {
    let kratos = &ctx.kratos;
    let mut results = Vec::new();
    let mail = ctx.mailboxes.is_some();

    let browser = ctx.browser();
    let app = ctx.app();
    let (browser, app) = match (browser, app) {
        (Ok(b), Ok(a)) => (b, a),
        (Err(e), _) | (_, Err(e)) => {
            results.push(failed("clients", Duration::ZERO, target, &e).await);
            return results;
        }
    };

    let no_session = kratos.whoami_refused(&app, None);
    results.push(timed("whoami without a session is refused", target, no_session).await);

    if mail {
        let user = ctx.next_user().expect("mail is there");
        let done = journey::browser_signup(&browser, &user, kratos);
        let flow = "browser sign-up, verification, login, logout";
        results.push(timed(flow, target, done).await);

        let user = ctx.next_user().expect("mail is there");
        let done = journey::api_signup(&app, &user, kratos);
        let flow = "native sign-up, verification, login, logout";
        results.push(timed(flow, target, done).await);
    } else {
        results.push(skipped(
            "sign-up and verification",
            "the deployment's mail does not reach orygate's sink",
        ));
    }

    let flow = "admin-created identity logs in and out";
    if kratos.admin_base().is_some() {
        results.push(timed(flow, target, admin_login(ctx)).await);
    } else {
        results.push(skipped(flow, "no --kratos-admin-url was given"));
    }
    results
}

/// Runs one flow and notes how it went and how long it took.
async fn timed<T>(
    flow: &'static str,
    target: &Target,
    run: impl Future<Output = Result<T>>,
) -> SmokeResult {
    let started = Instant::now();
    let result = run.await;
    match result {
        Ok(_) => SmokeResult {
            flow: flow.to_owned(),
            outcome: Outcome::Passed,
            millis: millis(started.elapsed()),
        },
        Err(e) => failed(flow, started.elapsed(), target, &e).await,
    }
}

/// An identity created through the admin API logs in in a browser, sees
/// itself in whoami, and logs out.
async fn admin_login(ctx: &Context) -> Result<()> {
    let browser = &ctx.browser()?;
    let kratos = &ctx.kratos;
    let (person, identity) = ctx.admin_account().await?;
    login::browser(browser, kratos, &person.email, &person.password).await?;
    let session = kratos.whoami(browser, None).await?;
    let seen = session.identity.map(|i| i.id);
    if seen.as_deref() != Some(identity.id.as_str()) {
        return Err(harness::Error::unexpected(
            kratos.whoami_step().name(),
            format!(
                "the session is {seen:?}'s, not the new identity's ({})",
                identity.id
            ),
        ));
    }
    logout::browser(browser, kratos).await?;
    kratos.whoami_refused(browser, None).await.map(drop)
}

async fn failed(
    flow: &'static str,
    took: Duration,
    target: &Target,
    error: &harness::Error,
) -> SmokeResult {
    SmokeResult {
        flow: flow.to_owned(),
        outcome: Outcome::Failed {
            step: error.step().map(str::to_owned),
            status: error.status(),
            ory_id: error.ory_id(),
            message: target.explain(error).await,
        },
        millis: millis(took),
    }
}

fn millis(took: Duration) -> u64 {
    u64::try_from(took.as_millis()).unwrap_or(u64::MAX)
}

fn skipped(flow: &'static str, reason: &str) -> SmokeResult {
    SmokeResult {
        flow: flow.to_owned(),
        outcome: Outcome::Skipped {
            reason: reason.to_owned(),
        },
        millis: 0,
    }
}

/// The smoke results as lines for the terminal.
pub fn render(results: &[SmokeResult]) -> String {
    let mut out = String::from("smoke: every flow once\n");
    for r in results {
        match &r.outcome {
            Outcome::Passed => {
                let _ = writeln!(out, "  pass  {} ({} ms)", r.flow, r.millis);
            }
            Outcome::Skipped { reason } => {
                let _ = writeln!(out, "  skip  {}: {reason}", r.flow);
            }
            Outcome::Failed { message, .. } => {
                let _ = writeln!(out, "  FAIL  {} ({} ms)", r.flow, r.millis);
                for line in message.lines() {
                    let _ = writeln!(out, "        {line}");
                }
            }
        }
    }
    out
}
