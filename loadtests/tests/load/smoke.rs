//! The smoke run: every flow once before the load. A flow that fails fails
//! the run, with its step and status in the summary, the Markdown and the
//! `JUnit` report; on a working stack every flow passes.

use clap::Parser;
use loadtests::Options;

use super::{alone, init_tracing, load_stack};

/// The options of a run with the smoke (the other load tests skip it).
fn with_smoke(args: &[&str]) -> Options {
    let out = std::env::temp_dir().join("orygate-load-tests");
    let out = out.display().to_string();
    let base = ["orygate", "-q", "--out", out.as_str()];
    Options::parse_from(base.iter().chain(args))
}

async fn run_with_smoke(stack: &harness::OryStack) -> loadtests::Report {
    init_tracing();
    let opts = with_smoke(&["--profile", "health", "-u", "1", "-t", "1s"]);
    let mix = opts.validate().unwrap();
    let target = loadtests::Target::Existing {
        kratos: stack.kratos(),
        mailboxes: stack.mailboxes(),
        keto: None,
        hydra: None,
        oathkeeper: None,
    };
    loadtests::run_on(&target, &opts, &mix)
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

const SIGN_UP: &str = "browser sign-up, verification, login, logout";

#[tokio::test]
async fn a_smoke_flow_that_fails_fails_the_run_in_every_format() {
    if !alone().await {
        return;
    }
    let stack = load_stack(&[("SELFSERVICE_FLOWS_REGISTRATION_ENABLED", "false")]).await;
    let report = run_with_smoke(&stack).await;
    let results = &report.results;
    assert!(!results.passed, "a failed smoke fails the run");
    assert!(!report.passed());
    let signup = results
        .smoke
        .iter()
        .find(|s| s.flow == SIGN_UP)
        .expect("the sign-up flow ran");
    match &signup.outcome {
        reports::document::Outcome::Failed { step, ory_id, .. } => {
            assert_eq!(
                step.as_deref(),
                Some("kratos GET /self-service/registration/browser")
            );
            assert_eq!(ory_id.as_deref(), Some("self_service_flow_disabled"));
        }
        other => panic!("the sign-up flow did not fail: {other:?}"),
    }
    // The flow that needs no registration still passed.
    let admin = results
        .smoke
        .iter()
        .find(|s| s.flow == "admin-created identity logs in and out")
        .unwrap();
    assert!(!admin.failed(), "{admin:?}");

    let markdown = std::fs::read_to_string(report.file("md").unwrap()).unwrap();
    assert!(markdown.starts_with("## orygate: FAILED"), "{markdown}");
    assert!(
        markdown.contains(&format!(
            "- smoke **{SIGN_UP}**: kratos GET /self-service/registration/browser"
        )),
        "{markdown}"
    );
    let junit = std::fs::read_to_string(report.file("junit.xml").unwrap()).unwrap();
    let case = junit
        .split(&format!("<testcase name=\"{SIGN_UP}\""))
        .nth(1)
        .expect("a case for the flow");
    assert!(
        case.split("</testcase>")
            .next()
            .unwrap()
            .contains("<failure"),
        "{junit}"
    );
}

#[tokio::test]
async fn every_smoke_flow_passes_on_a_working_stack() {
    if !alone().await {
        return;
    }
    let stack = load_stack(&[]).await;
    let report = run_with_smoke(&stack).await;
    let flows: Vec<(&str, bool)> = report
        .results
        .smoke
        .iter()
        .map(|s| (s.flow.as_str(), s.failed()))
        .collect();
    assert_eq!(
        flows,
        [
            ("whoami without a session is refused", false),
            (SIGN_UP, false),
            ("native sign-up, verification, login, logout", false),
            ("admin-created identity logs in and out", false),
        ]
    );
    assert!(report.passed());
}
