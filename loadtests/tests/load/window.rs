//! The measured window is the one asked for: users get their accounts and
//! sessions before it opens (slow starts do not eat into it), starts that
//! fail for a moment are tried again, and a run whose users mostly cannot
//! start fails before any load, naming the cause.

use std::time::{Duration, Instant};

use harness::{FilledOverlay, OryStack, Reply, Service, Tuning, WebhookSink};

use super::{alone, init_tracing, load_stack, options, run, run_by_url, step, table};

/// The window a run measured, against the one asked.
fn assert_measured(report: &loadtests::Report, asked: f64) {
    let load = report.results.load.as_ref().expect("a load ran");
    assert!(
        (load.measured_s - asked).abs() <= asked * 0.02,
        "asked {asked} s, measured {:.3} s:\n{}",
        load.measured_s,
        table(report)
    );
}

/// A deployment by URL whose logins are slow (bcrypt at cost 12, as Kratos
/// hashes in production): eight users started four a second take seconds
/// to get their accounts and sessions, and the run still measures the
/// three seconds it was asked for, every user's whoami inside them.
#[tokio::test]
async fn slow_starts_by_url_leave_the_asked_window_whole() {
    if !alone().await {
        return;
    }
    let stack = load_stack(&[("HASHERS_BCRYPT_COST", "12")]).await;
    let report = run_by_url(
        &stack,
        &[
            "--profile",
            "whoami",
            "--users",
            "8",
            "--increase-rate",
            "4",
            "--duration",
            "3s",
        ],
    )
    .await;
    assert_measured(&report, 3.0);
    let table = table(&report);
    let load = report.results.load.as_ref().unwrap();
    assert_eq!(load.setup_failures, 0, "{table}");
    assert_eq!(load.setup.ready, 8, "{table}");
    assert!(
        load.setup.seconds >= 1.75,
        "8 users at 4 a second take 1.75 s to launch: {:?}",
        load.setup
    );
    let whoami = step(&report, "kratos GET /sessions/whoami").expect(&table);
    assert!(whoami.requests >= 8, "{table}");
    assert_eq!(whoami.failures, 0, "{table}");
    assert!(report.passed(), "{table}");
}

/// Kratos calls a web hook after each registration and waits for it; the
/// hook answers 501 to its first three calls, so three sign-ups fail with
/// Kratos' 502 (as they fail with a 500 when its store is briefly locked).
/// Those users start again, with new people, and the run measures its
/// window with all of them.
#[tokio::test]
async fn starts_that_fail_for_a_moment_are_tried_again() {
    if !alone().await {
        return;
    }
    let sink = WebhookSink::start().await.unwrap();
    // 501: Kratos does not call the hook again (it does after a 500).
    let failing = Reply {
        status: 501,
        body: r#"{"error":"not now"}"#.into(),
        delay: Duration::ZERO,
    };
    sink.reply_next(std::iter::repeat_n(failing, 3));
    let overlay = FilledOverlay::new(
        &harness::repo_root().join("fixtures/kratos/webhooks"),
        "kratos.yml",
        &[
            ("RECEIVER/", sink.url("").as_str()),
            ("PARSE", "false"),
            ("IGNORE", "false"),
        ],
    )
    .unwrap();
    let stack = OryStack::builder()
        .with_kratos()
        .tuning(Tuning::Load)
        .overlay(Service::Kratos, overlay.path())
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let report = run(
        &stack,
        &["--profile", "whoami", "--users", "4", "--duration", "2s"],
    )
    .await
    .unwrap_or_else(|e| panic!("failed to {e}"));
    let table = table(&report);
    assert_measured(&report, 2.0);
    let load = report.results.load.as_ref().unwrap();
    assert_eq!(load.setup_failures, 0, "{table}");
    assert_eq!(load.setup.ready, 4, "{table}");
    assert_eq!(load.setup.retries, 3, "one per failed hook: {table}");
    assert!(report.passed(), "{table}");
}

/// Users whose start cannot succeed (Keto's writes sent to a Kratos, which
/// refuses with a 403: the same the next time, so not tried again) fail the run
/// before any load, with the first cause, within seconds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_whose_users_cannot_start_fails_before_the_load() {
    if !alone().await {
        return;
    }
    let stack = load_stack(&[]).await;
    init_tracing();
    let opts = options(&[
        "--profile",
        "keto-check",
        "--users",
        "4",
        "--duration",
        "2s",
    ]);
    let mix = opts.validate().unwrap();
    let kratos = stack.kratos();
    let target = loadtests::Target::Existing {
        kratos: kratos.clone(),
        mailboxes: stack.mailboxes(),
        keto: Some(harness::keto::Keto::new(
            kratos.public_base().clone(),
            kratos.public_base().clone(),
        )),
        hydra: None,
        oathkeeper: None,
    };
    let started = Instant::now();
    let outcome = tokio::time::timeout(
        Duration::from_secs(60),
        loadtests::run_on(&target, &opts, &mix),
    )
    .await
    .expect("the run did not end within 60 s");
    let took = started.elapsed();
    let err = match outcome {
        Ok(report) => panic!(
            "a run without users ran its load (measured {:?} s):\n{}",
            report.results.load.as_ref().map(|l| l.measured_s),
            table(&report)
        ),
        Err(e) => e.to_string(),
    };
    assert!(took < Duration::from_secs(20), "{took:?}");
    assert!(err.contains("0 of 4 users"), "{err}");
    assert!(err.contains("keto PATCH /admin/relation-tuples"), "{err}");
    assert!(err.contains("HTTP 403"), "{err}");
}

/// A request still running when the window closes counts to its end: the
/// server holds its 31st answer past the 1 s request timeout, so the GET
/// sent inside the window times out after it, and the run counts that
/// failure (the window waited for it, within the timeout).
#[tokio::test]
async fn a_request_running_when_the_window_closes_counts_to_its_end() {
    if !alone().await {
        return;
    }
    let server = super::server::Scripted::start(|n| {
        if n == 30 {
            Duration::from_secs(3)
        } else {
            Duration::ZERO
        }
    })
    .await;
    init_tracing();
    let steps = super::server::one_user(&server, None, 1, Duration::from_secs(1)).await;
    let table = loadtests::summary::render(&steps);
    let get = steps
        .iter()
        .find(|s| s.step == "test GET /x")
        .unwrap_or_else(|| panic!("no step:\n{table}"));
    assert_eq!(get.failures, 1, "{table}");
    assert_eq!(get.errors, [("timed out".to_owned(), 1)], "{table}");
    assert!(get.max_ms >= 1000.0, "{table}");
}

/// Ctrl-C (here Goose's kill switch, as its Ctrl-C handler pulls it)
/// while users are still starting ends the run as interrupted once the
/// starts under way are done, not after the setup's timeout, and nothing
/// is measured.
#[tokio::test]
async fn ctrl_c_during_the_setup_ends_the_run_as_interrupted() {
    use goose::goose::{Scenario, Transaction, TransactionFunction};
    use std::sync::Arc;
    if !alone().await {
        return;
    }

    let server = super::server::Scripted::start(|_| Duration::ZERO).await;
    let ctx = Arc::new(loadtests::Context::new(
        harness::kratos::Kratos::public_only(server.url.clone()),
        None,
        1,
        Duration::from_secs(5),
    ));
    // A start that takes 2 s, as a slow sign-up does.
    let slow = Arc::clone(&ctx);
    let start: TransactionFunction = Arc::new(move |user| {
        let ctx = Arc::clone(&slow);
        Box::pin(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            ctx.start_over(user.weighted_users_index, &Ok(())).await;
            Ok(())
        })
    });
    let idle: TransactionFunction = Arc::new(|_| {
        Box::pin(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Ok(())
        })
    });
    let round = loadtests::profiles::round(&ctx, "idle", idle);
    let scenario = Scenario::new("slow-start")
        .set_host(server.url.as_str())
        .register_transaction(Transaction::new(start).set_on_start())
        .register_transaction(Transaction::new(round));
    init_tracing();
    let opts = options(&["--users", "2", "--duration", "5s"]);
    let began = Instant::now();
    let stop = tokio::spawn(async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        goose::trigger_killswitch("a test's Ctrl-C");
    });
    let outcome = tokio::time::timeout(
        Duration::from_secs(30),
        loadtests::load::run_scenarios(&ctx, vec![scenario], &opts),
    )
    .await
    .expect("the run ended within 30 s");
    stop.abort();
    let took = began.elapsed();
    match outcome {
        Err(loadtests::Error::Interrupted(phase)) => assert_eq!(phase, "the users' start"),
        Err(other) => panic!("not an interruption: {other}"),
        Ok(run) => panic!("a run was measured: {:?}", run.measured_seconds),
    }
    assert!(took < Duration::from_secs(6), "took {took:?}");
}
