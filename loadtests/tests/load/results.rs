//! What a run leaves behind: the results in every format (the JSON valid
//! against the committed schema), shards of one run merged exactly, and
//! the baseline gate passing a rerun and failing a slower config.

use std::path::{Path, PathBuf};

use super::{alone, alone_exclusively, load_stack, load_stack_with, run, step, table};

const SCHEMA: &str = include_str!("../../../reports/schema/results.schema.json");

/// Every way `document` breaks the committed schema.
fn schema_errors(document: &Path) -> Vec<String> {
    let schema: serde_json::Value = serde_json::from_str(SCHEMA).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let text = std::fs::read_to_string(document).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    validator
        .iter_errors(&value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect()
}

/// A folder of this test's own.
fn fresh_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orygate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn a_run_writes_every_format_and_its_json_is_valid_against_the_schema() {
    if !alone().await {
        return;
    }
    let stack = load_stack(&[]).await;
    let report = run(
        &stack,
        &[
            "--profile",
            "whoami",
            "-u",
            "3",
            "-t",
            "3s",
            "--identities",
            "40",
        ],
    )
    .await
    .unwrap_or_else(|e| panic!("failed to {e}"));
    let table = table(&report);
    assert!(report.passed(), "{table}");

    let errors = schema_errors(report.json());
    assert!(errors.is_empty(), "{errors:#?}");
    let back = reports::read(report.json()).unwrap();
    let whoami = back
        .load
        .as_ref()
        .unwrap()
        .steps
        .iter()
        .find(|s| s.step == "kratos GET /sessions/whoami")
        .unwrap();
    assert_eq!(
        whoami.latency.len(),
        whoami.requests,
        "every request is in the histogram"
    );
    assert!(!whoami.timeline.is_empty());
    assert_eq!(back.settings.identities, 40);

    let html = std::fs::read_to_string(report.file("html").expect("an HTML report")).unwrap();
    assert!(html.contains("<svg") && html.contains("kratos GET /sessions/whoami"));
    for outside in ["<script", "<link", " src=", "url(", "@import"] {
        assert!(
            !html.contains(outside),
            "the report loads something ({outside})"
        );
    }
    let md = std::fs::read_to_string(report.file("md").expect("a Markdown summary")).unwrap();
    assert!(md.contains("| `kratos GET /sessions/whoami` |"), "{md}");
    let junit = std::fs::read_to_string(report.file("junit.xml").expect("JUnit XML")).unwrap();
    assert!(junit.contains("<testsuite name=\"load\""), "{junit}");
    assert!(
        junit.contains("name=\"kratos GET /sessions/whoami\""),
        "{junit}"
    );

    // The identities were created: 40 and the 3 users' own, no more.
    let admin = harness::NativeApp::new().unwrap();
    let page = stack.kratos().identities(&admin, 500, None).await.unwrap();
    assert_eq!(page.items.len(), 43, "identities on the stack");
}

/// Runs the binary with `args`; its exit status and output.
async fn orygate(args: &[&str]) -> std::process::Output {
    orygate_with(args, &[]).await
}

/// Runs the binary with `args` and `env`; its exit status and output.
async fn orygate_with(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .args(args)
        .env_remove("JOB_COMPLETION_INDEX")
        .envs(env.iter().copied())
        .kill_on_drop(true)
        .output()
        .await
        .unwrap()
}

fn said(output: &std::process::Output) -> String {
    format!(
        "exit {:?}\n{}{}",
        output.status.code(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// Runs shards 1/2 and 2/2 of a whoami-api load of 4 users against
/// `stack`'s Kratos, as two processes at once, writing JSON to `out`:
/// the first told its shard by `--shard`, the second as a Kubernetes
/// Indexed Job tells it (`JOB_COMPLETION_INDEX=1` of `--shards 2`); one
/// run id, and one `--start-at` for both windows. The run id and that
/// instant (ms since the Unix epoch).
async fn two_shards(stack: &harness::OryStack, out: &Path) -> (String, u64) {
    let (public, admin) = (
        stack.kratos().public_base().to_string(),
        stack.kratos().admin_base().unwrap().to_string(),
    );
    let run = format!("test-{}", std::process::id());
    let epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let shard = |i: u32| {
        let (flag, value, index) = if i == 1 {
            ("--shard", "1/2", None)
        } else {
            ("--shards", "2", Some("1"))
        };
        let (public, admin, out) = (public.clone(), admin.clone(), out.display().to_string());
        let (run, epoch) = (run.clone(), epoch.clone());
        async move {
            let env: Vec<(&str, &str)> = index
                .map(|i| ("JOB_COMPLETION_INDEX", i))
                .into_iter()
                .collect();
            orygate_with(
                &[
                    "--run-id",
                    &run,
                    "--start-at",
                    "+12s",
                    "--epoch",
                    &epoch,
                    "--kratos-url",
                    &public,
                    "--kratos-admin-url",
                    &admin,
                    "--profile",
                    "whoami-api",
                    "-u",
                    "4",
                    "-t",
                    "3s",
                    flag,
                    value,
                    "--no-smoke",
                    "-q",
                    "--out",
                    &out,
                    "--formats",
                    "json",
                ],
                &env,
            )
            .await
        }
    };
    let (a, b) = tokio::join!(shard(1), shard(2));
    assert!(a.status.success(), "{}", said(&a));
    assert!(b.status.success(), "{}", said(&b));
    (run, (epoch.parse::<u64>().unwrap() + 12) * 1000)
}

#[tokio::test]
async fn two_shards_merge_into_the_histogram_of_all_their_requests() {
    if !alone().await {
        return;
    }
    let stack = load_stack(&[]).await;
    let out = fresh_dir("shards");
    let (run, start_at_ms) = two_shards(&stack, &out).await;
    let find = |suffix: &str| {
        std::fs::read_dir(&out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no {suffix} in {}", out.display()))
    };
    let (one, two) = (find("-shard-1-of-2.json"), find("-shard-2-of-2.json"));
    let all_path = out.join("all.json");
    // The folder the shards wrote to, as a shared volume holds them.
    let merged = orygate(&[
        "report",
        "merge",
        &out.display().to_string(),
        "-o",
        &all_path.display().to_string(),
    ])
    .await;
    assert!(merged.status.success(), "{}", said(&merged));
    assert!(
        schema_errors(&all_path).is_empty(),
        "{:?}",
        schema_errors(&all_path)
    );

    let (one, two, all) = (
        reports::read(&one).unwrap(),
        reports::read(&two).unwrap(),
        reports::read(&all_path).unwrap(),
    );
    assert_eq!(
        (one.settings.users, two.settings.users, all.settings.users),
        (2, 2, 4)
    );
    assert_eq!(
        two.settings.shard.map(|s| s.to_string()).as_deref(),
        Some("2/2")
    );
    assert_eq!(all.settings.run_id.as_deref(), Some(run.as_str()));
    assert_eq!(all.merged_from.len(), 2);
    // One --start-at: both windows opened at the same instant, within the
    // control's poll and the processes' clocks (one clock here).
    let skew = all
        .window_skew_s
        .expect("both shards say when their window opened");
    assert!(skew < 0.25, "the windows opened {skew} s apart");
    // Their users were ready within a few seconds; the windows waited for
    // the instant asked.
    for shard in &all.merged_from {
        let opened = shard.window_opened_at_ms.unwrap();
        assert!(
            (start_at_ms..start_at_ms + 250).contains(&opened),
            "a window opened at {opened} ms, --start-at was {start_at_ms} ms"
        );
    }
    let steps = |r: &reports::document::Results| r.load.clone().unwrap().steps;
    let name = "kratos GET /sessions/whoami";
    let of =
        |r: &reports::document::Results| steps(r).into_iter().find(|s| s.step == name).unwrap();
    let (x, y, merged) = (of(&one), of(&two), of(&all));
    assert!(x.requests > 0 && y.requests > 0);
    assert_eq!(merged.requests, x.requests + y.requests);
    // Every request of both shards is in the merged histogram, once.
    assert_eq!(merged.latency.len(), merged.requests);
    assert_eq!(merged.latency.len(), x.latency.len() + y.latency.len());
    assert_eq!(merged.failures, x.failures + y.failures);
    // The merged histogram is the one of every request of both shards.
    let mut every = x.latency.clone();
    every.add(&y.latency);
    assert_eq!(merged.latency, every);
    for (q, got) in [
        (0.5, merged.p50_ms),
        (0.95, merged.p95_ms),
        (0.99, merged.p99_ms),
    ] {
        assert!(
            (got - every.quantile_ms(q)).abs() < 1e-9,
            "q {q}: {got} vs {}",
            every.quantile_ms(q)
        );
    }
    println!(
        "shard 1: {} requests, p50 {:.2} ms, p99 {:.2} ms; shard 2: {} requests, p50 {:.2} ms, p99 {:.2} ms; merged: {} requests, p50 {:.2} ms, p99 {:.2} ms",
        x.requests,
        x.p50_ms,
        x.p99_ms,
        y.requests,
        y.p50_ms,
        y.p99_ms,
        merged.requests,
        merged.p50_ms,
        merged.p99_ms
    );

    println!("the shards' windows opened {skew:.3} s apart");

    refuses_a_document_twice(&find("-shard-1-of-2.json"), &all_path, &out).await;
    let _ = std::fs::remove_dir_all(out);
}

/// A merge refuses what is not one run: a shard twice, or the merged
/// document (no shard) with itself; each exits 2, writing nothing.
async fn refuses_a_document_twice(shard: &Path, all_path: &Path, out: &Path) {
    // A merge refuses what is not one run: a shard twice.
    let again = orygate(&[
        "report",
        "merge",
        &shard.display().to_string(),
        &shard.display().to_string(),
        "-o",
        &out.join("bad.json").display().to_string(),
    ])
    .await;
    assert_eq!(again.status.code(), Some(2), "{}", said(&again));
    assert!(
        said(&again).contains("are the same document"),
        "{}",
        said(&again)
    );
    // The merged document is no shard: merged with itself, refused too.
    let twice = orygate(&[
        "report",
        "merge",
        &all_path.display().to_string(),
        &all_path.display().to_string(),
        "-o",
        &out.join("twice.json").display().to_string(),
    ])
    .await;
    assert_eq!(twice.status.code(), Some(2), "{}", said(&twice));
    assert!(
        said(&twice).contains("are the same document"),
        "{}",
        said(&twice)
    );
}

#[tokio::test]
async fn the_gate_passes_a_rerun_and_fails_a_slower_bcrypt_cost() {
    if !alone_exclusively().await {
        return;
    }
    let fast = load_stack(&[]).await;
    // 12 rounds of bcrypt instead of the load tuning's 4: about 250 ms
    // more per login here.
    let slow = load_stack(&[("HASHERS_BCRYPT_COST", "12")]).await;
    let login = "kratos POST /self-service/login?flow=%";
    // Tolerant thresholds: the stacks share two cores. No other load test
    // runs beside this one (beside three, a rerun's p99 of 3 requests came
    // out 3.4 times the baseline's).
    let args = [
        "--profile",
        "login",
        "-u",
        "4",
        "-t",
        "2s",
        "--gate-ratio",
        "3",
        "--gate-floor",
        "50ms",
        "--gate-min-tail",
        "1",
    ];
    let with = |baseline: &Path| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--baseline".to_owned(), baseline.display().to_string()]);
        all
    };
    let base = run(&fast, &args)
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    assert!(base.passed(), "{}", table(&base));
    // Enough logins for their p95 to be compared (20: one beyond it).
    // Four users for 2 s made about 280 here, with no other test's load.
    assert!(
        step(&base, login).is_some_and(|s| s.requests >= 20),
        "{}",
        table(&base)
    );

    let rerun_args = with(base.json());
    let rerun_args: Vec<&str> = rerun_args.iter().map(String::as_str).collect();
    let rerun = run(&fast, &rerun_args)
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let gate = rerun.results.baseline.as_ref().expect("a comparison");
    assert!(rerun.passed(), "{}", reports::baseline::render(gate));

    let slower = run(&slow, &rerun_args)
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    assert!(
        slower.results.passed,
        "the slow run itself has no failure: {}",
        table(&slower)
    );
    assert!(!slower.passed(), "the gate must fail it");
    let gate = slower.results.baseline.as_ref().unwrap();
    let regressed: Vec<_> = gate
        .failing()
        .map(|r| (r.step.as_str(), r.metric.as_str()))
        .collect();
    assert!(
        regressed.contains(&(login, "p95 ms")),
        "{}",
        reports::baseline::render(gate)
    );
    let md = std::fs::read_to_string(slower.file("md").unwrap()).unwrap();
    assert!(
        md.contains("FAILED against the baseline") && md.contains("**REGRESSED**"),
        "{md}"
    );
    let html = std::fs::read_to_string(slower.file("html").unwrap()).unwrap();
    assert!(html.contains("Against the baseline") && html.contains("REGRESSED"));
}

/// The gateway profile against a running Oathkeeper given by URL, as the
/// binary takes it: the step through the proxy ran, the settings say the
/// cache is the deployment's own; without the URL the profile is refused.
#[tokio::test]
async fn the_gateway_profile_goes_through_an_oathkeeper_given_by_url() {
    if !alone().await {
        return;
    }
    let stack = load_stack_with(&[harness::Service::Oathkeeper]).await;
    let out = fresh_dir("oathkeeper-url");
    let public = stack.kratos().public_base().to_string();
    let admin = stack.kratos().admin_base().unwrap().to_string();
    let proxy = stack.oathkeeper().proxy("").to_string();
    let common = [
        "--kratos-url",
        public.as_str(),
        "--kratos-admin-url",
        admin.as_str(),
        "--profile",
        "gateway",
        "-u",
        "2",
        "-t",
        "2s",
        "--no-smoke",
        "-q",
        "--formats",
        "json",
    ];
    let refused = orygate(&common).await;
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert!(
        said(&refused).contains("--oathkeeper-url"),
        "{}",
        said(&refused)
    );

    let dir = out.display().to_string();
    let mut args = common.to_vec();
    args.extend(["--oathkeeper-url", proxy.as_str(), "--out", dir.as_str()]);
    let ran = orygate(&args).await;
    assert!(ran.status.success(), "{}", said(&ran));
    let json = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no JSON in {}", out.display()));
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        results["settings"]["oathkeeper"],
        "Oathkeeper given by URL: its cache settings are its own"
    );
    let steps = results["load"]["steps"].as_array().unwrap();
    let through = steps
        .iter()
        .find(|s| s["step"] == "oathkeeper GET /me [cookie]")
        .unwrap_or_else(|| panic!("no gateway step: {results}"));
    assert!(through["requests"].as_u64().unwrap() > 0, "{through}");
    assert_eq!(through["failures"], 0, "{through}");
}
