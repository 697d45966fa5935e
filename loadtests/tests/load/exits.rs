//! The binary's exit codes, as CI reads them: 2 for bad input, 1 for a run
//! that failed, 0 for one that passed, from the main job and from
//! `orygate report` re-rendering a saved run against a baseline.

use std::path::Path;
use std::process::Output;

fn orygate(args: &[&str], out: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .args(args)
        .args(["-q", "--out"])
        .arg(out)
        .output()
        .expect("the binary runs")
}

fn report(args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .arg("report")
        .args(args)
        .output()
        .expect("the binary runs")
}

fn text(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn folder(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("orygate-exits-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn bad_input_exits_2_saying_what_is_wrong() {
    let out = folder("usage");
    let zero = orygate(&["--users", "0"], &out);
    assert_eq!(zero.status.code(), Some(2), "{}", text(&zero));
    assert!(
        text(&zero).contains("error: --users must be at least 1"),
        "{}",
        text(&zero)
    );
    // Nothing listens on port 1 of 127.0.0.1: refused before any load.
    let nobody = orygate(
        &[
            "--kratos-url",
            "http://127.0.0.1:1/",
            "--profile",
            "health",
            "--no-smoke",
        ],
        &out,
    );
    assert_eq!(nobody.status.code(), Some(2), "{}", text(&nobody));
    assert!(text(&nobody).contains("127.0.0.1:1"), "{}", text(&nobody));
}

/// A fresh stack whose registration is off: the smoke's sign-up flows fail,
/// and so does the run, with 1.
#[test]
fn a_run_whose_smoke_fails_exits_1() {
    let out = folder("failed");
    let failed = orygate(
        &[
            "--kratos-env",
            "SELFSERVICE_FLOWS_REGISTRATION_ENABLED=false",
            "--profile",
            "health",
            "-u",
            "1",
            "-t",
            "1s",
        ],
        &out,
    );
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed));
    assert!(
        text(&failed).contains("orygate: failures above"),
        "{}",
        text(&failed)
    );
    let written = std::fs::read_dir(&out).unwrap().count();
    assert!(written >= 4, "the results were written all the same");
}

/// The same failed run as a shard that leaves the verdict to the merge
/// (`--defer-verdict`): it exits 0 once its results are written, and they
/// say it failed.
#[test]
fn a_failed_run_that_defers_its_verdict_exits_0_with_failed_results() {
    let out = folder("deferred");
    let deferred = orygate(
        &[
            "--kratos-env",
            "SELFSERVICE_FLOWS_REGISTRATION_ENABLED=false",
            "--profile",
            "health",
            "-u",
            "1",
            "-t",
            "1s",
            "--defer-verdict",
        ],
        &out,
    );
    assert_eq!(deferred.status.code(), Some(0), "{}", text(&deferred));
    assert!(
        text(&deferred).contains("the merge gives the verdict"),
        "{}",
        text(&deferred)
    );
    let json = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "json"))
        .expect("the results were written");
    assert!(!reports::read(&json).unwrap().passed);
}

/// `orygate report` re-renders a saved run: against itself as baseline it
/// passes (0); a run that failed stays failed (1); a document that is not
/// one is bad input (2).
#[test]
fn a_saved_run_re_rendered_exits_by_its_verdict_and_its_baseline() {
    let out = folder("report");
    let baseline = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/baselines/login.json");
    let saved = out.join("login.json");
    std::fs::copy(&baseline, &saved).unwrap();
    let saved = saved.to_str().unwrap();
    let again = report(&[saved, "--baseline", baseline.to_str().unwrap()]);
    assert_eq!(again.status.code(), Some(0), "{}", text(&again));
    assert!(out.join("login.html").is_file());

    let mut failed: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&baseline).unwrap()).unwrap();
    failed["passed"] = false.into();
    let failed_path = out.join("failed.json");
    std::fs::write(&failed_path, failed.to_string()).unwrap();
    let still = report(&[failed_path.to_str().unwrap()]);
    assert_eq!(still.status.code(), Some(1), "{}", text(&still));
    assert!(
        text(&still).contains("the results failed"),
        "{}",
        text(&still)
    );

    let other = out.join("other.json");
    std::fs::write(&other, r#"{"schema":"oha","version":1}"#).unwrap();
    let refused = report(&[other.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2), "{}", text(&refused));
    assert!(
        text(&refused).contains("not an orygate results document"),
        "{}",
        text(&refused)
    );
}
