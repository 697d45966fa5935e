//! Options that shape a run: its people's seed, a fresh stack's storage,
//! and Hydra and Keto given by URL as a deployment's.

use std::collections::BTreeSet;
use std::time::Duration;

use harness::{OryStack, Service, Tuning};

use super::{alone, load_stack, run, run_by_url, step, table};

/// The seeds in the addresses of `stack`'s identities: a fake person's
/// address ends in `.<seed>@` (`scenarios::Person::fake`).
async fn seeds(stack: &OryStack) -> BTreeSet<u64> {
    let admin = harness::NativeApp::new().unwrap();
    let page = stack
        .kratos()
        .identities(&admin, 100, None)
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    page.items
        .iter()
        .map(|identity| {
            let email = identity.traits["email"].as_str().expect("an email trait");
            let (name, _) = email.split_once('@').expect("an address");
            let (_, seed) = name.rsplit_once('.').expect("a seed in the address");
            seed.parse()
                .unwrap_or_else(|_| panic!("no seed in {email}"))
        })
        .collect()
}

/// `--seed` picks the run's people: the first user's is made from the
/// seed and each next one from the seed after, so a run repeated on
/// another stack signs up the same people, and another seed other people.
#[tokio::test]
async fn a_seed_makes_the_same_people_on_another_stack() {
    if !alone().await {
        return;
    }
    let (a, b) = tokio::join!(load_stack(&[]), load_stack(&[]));
    let args = |seed| {
        [
            "--profile",
            "whoami",
            "--users",
            "3",
            "--duration",
            "1s",
            "--seed",
            seed,
        ]
    };
    for stack in [&a, &b] {
        let report = run(stack, &args("4200"))
            .await
            .unwrap_or_else(|e| panic!("failed to {e}"));
        assert!(report.passed(), "{}", table(&report));
        assert_eq!(report.results.load.as_ref().unwrap().setup.retries, 0);
    }
    let first = BTreeSet::from([4200, 4201, 4202]);
    assert_eq!(seeds(&a).await, first);
    assert_eq!(seeds(&b).await, first);

    let report = run(&b, &args("4300"))
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    assert!(report.passed(), "{}", table(&report));
    assert_eq!(
        seeds(&b).await,
        BTreeSet::from([4200, 4201, 4202, 4300, 4301, 4302])
    );
}

/// `--in-memory` starts the fresh stack without PostgreSQL: while the
/// `health` profile runs on it, the stack has no database folder, where
/// a stack tuned for load otherwise has one.
#[tokio::test]
async fn in_memory_runs_the_health_profile_on_a_stack_without_postgresql() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    // The control: a stack tuned for load keeps its data in PostgreSQL,
    // in a folder named after the stack.
    let control = load_stack(&[]).await;
    let folder = harness::database_folder;
    assert!(
        folder(control.id()).is_dir(),
        "{}",
        folder(control.id()).display()
    );
    drop(control);

    let out = std::env::temp_dir().join("orygate-load-tests-in-memory");
    let _ = std::fs::remove_dir_all(&out);
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .args(["--in-memory", "--profile", "health", "-u", "2", "-t", "3s"])
        .args(["--no-smoke", "-q", "--out"])
        .arg(&out)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
    let mut said = Vec::new();
    let stack = tokio::time::timeout(Duration::from_secs(60), async {
        let mut stack = None;
        while let Some(line) = stderr.next_line().await.unwrap() {
            said.push(line.clone());
            if let Some((_, rest)) = line.split_once("a fresh stack ") {
                stack = rest.split(':').next().map(str::to_owned);
            }
            if line.contains("orygate: load:") {
                break;
            }
        }
        stack
    })
    .await
    .expect("the load starts within a minute")
    .unwrap_or_else(|| panic!("no stack id in {said:?}"));
    assert!(
        said.iter().any(|l| l.contains("data in memory")),
        "{said:?}"
    );
    assert!(
        !folder(&stack).exists(),
        "{} exists",
        folder(&stack).display()
    );

    let done = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the run ends within 30 s of its start")
        .unwrap();
    assert_eq!(done.code(), Some(0), "{said:?}");
    let json = std::fs::read_dir(&out)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("a results document");
    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let steps = results["load"]["steps"].as_array().expect("steps");
    let alive = steps
        .iter()
        .find(|s| s["step"] == "kratos GET /health/alive")
        .unwrap_or_else(|| panic!("no health step in {steps:?}"));
    assert!(alive["requests"].as_u64().unwrap() > 10, "{alive}");
    assert_eq!(alive["failures"], 0, "{alive}");
    let _ = std::fs::remove_dir_all(&out);
}

/// Hydra and Keto given by URL, beside Kratos', as a deployment's: their
/// profiles run against them as against a fresh stack's.
#[tokio::test]
async fn hydra_and_keto_by_url_run_their_profiles() {
    if !alone().await {
        return;
    }
    let stack = OryStack::builder()
        .with_kratos()
        .with(Service::Hydra)
        .with(Service::Keto)
        .tuning(Tuning::Load)
        .ready_made_keys()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let url = |service| {
        let endpoints = stack.endpoints(service).expect("the service runs");
        (endpoints.public.to_string(), endpoints.admin.to_string())
    };
    let ((hydra, hydra_admin), (keto_read, keto_write)) = (url(Service::Hydra), url(Service::Keto));
    let report = run_by_url(
        &stack,
        &[
            "--hydra-url",
            &hydra,
            "--hydra-admin-url",
            &hydra_admin,
            "--keto-read-url",
            &keto_read,
            "--keto-write-url",
            &keto_write,
            "--mix",
            "oauth2-code=1,client-credentials=1,keto-check=1",
            "--users",
            "3",
            "--duration",
            "3s",
        ],
    )
    .await;
    let table = table(&report);
    assert!(report.passed(), "{table}");
    for service in ["hydra", "keto"] {
        let sent: u64 = report
            .results
            .load
            .as_ref()
            .unwrap()
            .steps
            .iter()
            .filter(|s| s.step.starts_with(&format!("{service} ")))
            .map(|s| s.requests)
            .sum();
        assert!(sent > 0, "nothing sent to {service}:\n{table}");
    }
    let check = "keto POST /relation-tuples/check/openapi [direct]";
    assert!(
        step(&report, check).is_some_and(|s| s.failures == 0),
        "{table}"
    );
    assert!(
        report.results.settings.target.contains(&hydra),
        "{}",
        report.results.settings.target
    );
}
