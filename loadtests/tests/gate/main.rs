//! `orygate gate` as CI runs it: a production-like stack of an Ory
//! folder, the checks under its policy, the reports, and the exit code
//! (0 passed, 1 a check failed, 2 bad input).

use std::path::{Path, PathBuf};
use std::process::Output;

mod migration;

fn gate(args: &[&str], out: &Path) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .arg("gate")
        .args(args)
        .arg("--out")
        .arg(out)
        .current_dir(harness::repo_root())
        .env_remove("GITHUB_STEP_SUMMARY")
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

fn folder(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("orygate-gate-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// ory/'s Kratos alone, with its gate files, in a folder under `out`: for
/// the tests of what Kratos alone shows (a form, a lifespan, a load), a
/// stack without Hydra and Keto and their flows.
fn kratos_only(out: &Path) -> PathBuf {
    ory_part(out, &["kratos"])
}

/// A copy of ory/ with the files (not the folders) of `subs` and the
/// gate's own files, its Kratos hashing new passwords with Argon2id at
/// 64 KiB and one pass instead of bcrypt: a cost-12 hash takes about
/// 240 ms of a core here, and Kratos without `--dev` raises any lower
/// bcrypt cost to 12; this Argon2id takes well under a millisecond. The
/// tests that use it run some checks only (`--check`), never `hashing`,
/// or the migration gate, which no hashing cost changes;
/// `the_gate_passes_on_ory` runs ory/ as it is.
fn ory_part(out: &Path, subs: &[&str]) -> PathBuf {
    let dir = out.join("ory");
    let ory = harness::repo_root().join("ory");
    for sub in subs.iter().chain(&[".orygate/snapshots"]) {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(ory.join(sub)).unwrap() {
            let from = entry.unwrap().path();
            if from.is_file() {
                std::fs::copy(&from, dir.join(sub).join(from.file_name().unwrap())).unwrap();
            }
        }
    }
    std::fs::copy(
        ory.join(".orygate/policy.toml"),
        dir.join(".orygate/policy.toml"),
    )
    .unwrap();
    let kratos = dir.join("kratos/kratos.yml");
    let yaml = read(&kratos);
    let from = "hashers:\n  algorithm: bcrypt\n  bcrypt:\n    cost: 12\n";
    let to = "hashers:\n  algorithm: argon2\n  argon2:\n    memory: 64KB\n    iterations: 1\n    parallelism: 1\n";
    assert!(yaml.contains(from), "ory/kratos/kratos.yml's hashers moved");
    std::fs::write(&kratos, yaml.replace(from, to)).unwrap();
    dir
}

#[test]
fn the_gate_passes_on_ory() {
    passes("ory");
}

#[test]
fn the_gate_passes_on_a_quite_different_folder() {
    passes("fixtures/ory-alt");
}

/// The whole gate on `dir`, as the repository's CI runs it: passed.
fn passes(dir: &str) {
    let out = folder(&dir.replace('/', "-"));
    let run = gate(&["--ory-dir", dir], &out);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{dir}: {said}");
    assert!(said.contains("gate: passed (31 checks, "), "{said}");
    assert!(!said.contains("FAILED"), "{said}");
    // The pinned images' advisories: acknowledged, never hidden.
    assert!(said.contains("acknowledged  advisories"), "{said}");
    if dir == "ory" {
        // Oathkeeper's rules probed, not skipped: every non-public one.
        assert!(
            said.contains("passed        oathkeeper-open-rules"),
            "{said}"
        );
        assert!(
            said.contains("requests without credentials refused (signed-in, reports-api, documents, /me, /api/reports, /documents/orygate)"),
            "{said}"
        );
    }
    let junit = read(&out.join("gate.junit.xml"));
    assert!(junit.contains(" failures=\"0\""), "{junit}");
    assert!(
        junit.contains("classname=\"gate.flows\" name=\"login, whoami, logout in a browser\""),
        "{junit}"
    );
    let md = read(&out.join("gate.md"));
    assert!(
        md.contains(&format!("## orygate gate on `{dir}`: passed")),
        "{md}"
    );
}

#[test]
fn a_misconfiguration_fails_the_gate_with_its_evidence() {
    let out = folder("misconfig");
    let dir = kratos_only(&out);
    let run = gate(
        &[
            "--ory-dir",
            dir.to_str().unwrap(),
            "--overlay",
            "fixtures/misconfig/session-lifespan",
            "--check",
            "session-lifespan",
            "--check",
            "cookies",
        ],
        &out,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(said.contains("FAILED        session-lifespan"), "{said}");
    assert!(said.contains("the policy allows 1day"), "{said}");
    assert!(said.contains("the end of kratos's log:"), "{said}");
    assert!(said.contains("passed        cookies"), "{said}");
    let junit = read(&out.join("gate.junit.xml"));
    assert!(junit.contains(" failures=\"1\""), "{junit}");
    assert!(
        junit.contains("<failure message=\"a session lives no longer"),
        "{junit}"
    );
    let md = read(&out.join("gate.md"));
    assert!(md.contains("**FAILED** (1 of 2 checks, 0 of "), "{md}");
    assert!(md.contains("### `session-lifespan`"), "{md}");
    let html = read(&out.join("gate.html"));
    assert!(
        html.contains("<span class=\"verdict failed\">FAILED</span>"),
        "{html}"
    );
    assert!(
        html.contains("<tr class=\"bad\"><td><code>session-lifespan</code>"),
        "{html}"
    );
    assert!(html.contains("the policy allows 1day"), "{html}");
}

#[test]
fn bad_input_exits_2_saying_what_is_wrong() {
    let out = folder("bad");
    let missing = gate(&["--ory-dir", "no/such/folder"], &out);
    assert_eq!(missing.status.code(), Some(2), "{}", text(&missing));
    assert!(text(&missing).contains("no/such/folder: no such folder"));

    let unknown = gate(&["--check", "nope"], &out);
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        text(&unknown).contains("no check \"nope\""),
        "{}",
        text(&unknown)
    );

    let policy = out.join("policy.toml");
    std::fs::write(&policy, "[session]\nmax_lifespam = \"1h\"\n").unwrap();
    let typo = gate(&["--policy", policy.to_str().unwrap()], &out);
    assert_eq!(typo.status.code(), Some(2));
    assert!(text(&typo).contains("max_lifespam"), "{}", text(&typo));

    let release = gate(
        &["--upgrade-from", "kratos=1.0.0", "--migration-only"],
        &out,
    );
    assert_eq!(release.status.code(), Some(2), "{}", text(&release));
    assert!(
        text(&release).contains("a release tag, as v1.0.0"),
        "{}",
        text(&release)
    );

    let broken = out.join("broken");
    std::fs::create_dir_all(broken.join("kratos")).unwrap();
    std::fs::write(broken.join("kratos/kratos.yml"), "serve: [unclosed\n").unwrap();
    let yaml = gate(&["--ory-dir", broken.to_str().unwrap()], &out);
    assert_eq!(yaml.status.code(), Some(2), "{}", text(&yaml));
    assert!(text(&yaml).contains("kratos.yml"), "{}", text(&yaml));
    assert!(text(&yaml).contains("not valid YAML"), "{}", text(&yaml));
}

#[tokio::test]
async fn by_url_the_checks_needing_more_are_skipped_not_passed() {
    // A dev stack over plain HTTP: the gate, given only Kratos' public
    // URL, fails dev mode and lists what it could not check.
    let stack = harness::OryStack::builder()
        .with_kratos()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let out = folder("by-url");
    let url = stack.kratos().public_base().to_string();
    let run = tokio::task::spawn_blocking(move || gate(&["--kratos-url", &url], &out))
        .await
        .unwrap();
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(said.contains("FAILED        dev-mode"), "{said}");
    assert!(said.contains("the public API is plain http"), "{said}");
    for skipped in ["session-lifespan", "hashing", "secrets", "advisories"] {
        assert!(
            said.contains(&format!("skipped       {skipped}")),
            "{skipped}: {said}"
        );
    }
}

/// A team's rules through the gate: their upstreams (not on this
/// machine) replaced by the recording app, the overlay's rules over
/// ory/'s, and the anonymous fallback on `/admin` failing the gate with
/// Oathkeeper's log.
#[test]
fn an_open_oathkeeper_rule_fails_the_gate() {
    let out = folder("oathkeeper-open");
    let dir = ory_part(&out, &["kratos", "oathkeeper"]);
    let args = [
        "--ory-dir",
        dir.to_str().unwrap(),
        "--overlay",
        "fixtures/misconfig/oathkeeper-open-rules",
        "--check",
        "oathkeeper-open-rules",
        "--check",
        "oathkeeper-api-not-public",
    ];
    let run = gate(&args, &out);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAILED        oathkeeper-open-rules"),
        "{said}"
    );
    for rule in ["rule admin (", "rule metrics ("] {
        assert!(said.contains(rule), "{rule}: {said}");
    }
    assert!(!said.contains("rule signed-in ("), "{said}");
    assert!(said.contains("the end of oathkeeper's log:"), "{said}");
    assert!(
        said.contains("passed        oathkeeper-api-not-public"),
        "{said}"
    );
}

/// Oathkeeper by its proxy alone: the rules cannot be read, so the
/// policy's protected paths are probed without credentials; `/admin`,
/// which the fixture's anonymous fallback opens, fails the gate.
#[tokio::test]
async fn by_url_oathkeeper_is_probed_at_the_policys_protected_paths() {
    let fixture = harness::repo_root().join("fixtures/misconfig/oathkeeper-open-rules/oathkeeper");
    let stack = harness::OryStack::builder()
        .with_kratos()
        .with_oathkeeper()
        .overlay(harness::Service::Oathkeeper, fixture)
        .confined()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    let out = folder("by-url-oathkeeper");
    let policy = read(&harness::repo_root().join("ory/.orygate/policy.toml"))
        .replace("protected = [\"/me\",", "protected = [\"/admin\", \"/me\",");
    assert!(policy.contains("\"/admin\""), "{policy}");
    std::fs::write(out.join("policy.toml"), policy).unwrap();
    let proxy = stack.oathkeeper().proxy("").to_string();
    let policy = out.join("policy.toml").display().to_string();
    let args = [
        "--oathkeeper-url".to_owned(),
        proxy,
        "--policy".to_owned(),
        policy,
    ];
    let run = tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        gate(&args, &out)
    })
    .await
    .unwrap();
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAILED        oathkeeper-open-rules"),
        "{said}"
    );
    assert!(
        said.contains("/admin, protected by the policy, passed a request without credentials on"),
        "{said}"
    );
    assert!(!said.contains("/me, protected by the policy"), "{said}");
    assert!(
        said.contains("passed        oathkeeper-api-not-public"),
        "{said}"
    );
    assert!(
        said.contains("the versions of oathkeeper need the admin API"),
        "{said}"
    );
}

#[test]
fn a_flow_that_fails_fails_the_gate() {
    // ory/'s Keto with one row of its permission table flipped: the model
    // says carol may not edit the roadmap, the table now says she may.
    let out = folder("flow");
    let dir = out.join("ory");
    std::fs::create_dir_all(dir.join("keto")).unwrap();
    let keto = harness::repo_root().join("ory/keto");
    for file in ["keto.yml", "namespaces.keto.ts", "tuples.txt"] {
        std::fs::copy(keto.join(file), dir.join("keto").join(file)).unwrap();
    }
    let table = read(&keto.join("permissions.txt")).replace(
        "carol      edit        Document:roadmap    deny",
        "carol      edit        Document:roadmap    allow",
    );
    std::fs::write(dir.join("keto/permissions.txt"), table).unwrap();
    let policy = harness::repo_root().join("ory/.orygate/policy.toml");
    let args = [
        "--ory-dir",
        dir.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ];
    let run = gate(&args, &out);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAILED        flow                     permission table"),
        "{said}"
    );
    assert!(said.contains("carol"), "{said}");
    assert!(said.contains("0 of 31 checks, 1 of 1 flows"), "{said}");
}

#[test]
fn a_changed_form_fails_the_gate_with_its_difference() {
    // Sign-in by code switched on: ory/'s login snapshot lacks the method.
    let out = folder("form");
    let dir = kratos_only(&out);
    let args = [
        "--ory-dir",
        dir.to_str().unwrap(),
        "--overlay",
        "fixtures/gate/form-drift",
        "--check",
        "secrets",
    ];
    let run = gate(&args, &out);
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    assert!(
        said.contains("FAILED        flow                     form snapshot: login"),
        "{said}"
    );
    assert!(said.contains("+ code      input  method"), "{said}");
    assert!(
        said.contains("passed        flow                     form snapshot: settings"),
        "{said}"
    );

    // CI never writes snapshots.
    let accept = std::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .args(["gate", "--accept", "--ory-dir", "ory"])
        .current_dir(harness::repo_root())
        .env("CI", "true")
        .output()
        .unwrap();
    assert_eq!(accept.status.code(), Some(2), "{}", text(&accept));
    assert!(text(&accept).contains("CI only compares"));
}

#[test]
fn a_load_becomes_the_baseline_when_accepted_and_is_compared_after() {
    // ory/'s Kratos alone, with its gate files: the load needs no more.
    let out = folder("baseline");
    let dir = kratos_only(&out);
    let baseline = out.join("baseline.json");
    let path = baseline.to_str().unwrap();
    let dir = dir.to_str().unwrap();
    let common = ["--ory-dir", dir, "--check", "secrets", "--baseline", path];
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_orygate"))
        .arg("gate")
        .args(common)
        .args(["--accept", "--load-duration", "2s", "--out"])
        .arg(&out)
        .current_dir(harness::repo_root())
        .env_remove("CI")
        .output()
        .unwrap();
    let said = text(&first);
    assert_eq!(first.status.code(), Some(0), "{said}");
    assert!(said.contains("accepted: wrote the baseline"), "{said}");
    let saved = reports::read(&baseline).unwrap();
    assert!(
        (saved.settings.duration_s - 2.0).abs() < 1e-9,
        "{}",
        saved.settings.duration_s
    );

    // The comparison is what is tested here, not this machine's steadiness
    // while other tests run beside it: latency may triple, errors may not.
    let mut tolerant = common.to_vec();
    tolerant.extend(["--load-ratio", "3"]);
    let second = gate(&tolerant, &out);
    let said = text(&second);
    assert_eq!(second.status.code(), Some(0), "{said}");
    assert!(said.contains("baseline gate: passed"), "{said}");
    assert!(
        said.contains("passed        flow                     load compared with the baseline"),
        "{said}"
    );
}
