//! The identity-schema migration gate on each change of
//! `fixtures/migration/`: people made on ory/'s Kratos config, the change
//! rolled out on the same PostgreSQL, the verdict and the identities it
//! names.

use std::path::Path;

use serde_json::Value;

use super::{folder, gate, kratos_only, ory_part, read, text};

/// People imported besides the three made through the flows.
const IMPORTED: usize = 40;

/// The migration gate alone on ory/'s Kratos changed by `overlay`; the
/// exit code, what it said and its JSON.
fn migrate(
    case: &str,
    overlay: &str,
    extra: &[&str],
) -> (Option<i32>, String, Value, std::path::PathBuf) {
    let out = folder(&format!("migration-{case}"));
    let dir = kratos_only(&out);
    let dir = dir.to_str().unwrap();
    let population = IMPORTED.to_string();
    let mut args = vec![
        "--ory-dir",
        dir,
        "--overlay",
        overlay,
        "--migrate-from-dir",
        dir,
        "--population",
        &population,
    ];
    args.extend_from_slice(extra);
    let run = gate(&args, &out);
    let said = text(&run);
    let json: Value = serde_json::from_str(&read(&out.join("gate.json")))
        .unwrap_or_else(|e| panic!("{e}: {said}"));
    (run.status.code(), said, json, out)
}

fn row<'a>(json: &'a Value, name: &str) -> &'a Value {
    json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["name"] == format!("migration: {name}"))
        .unwrap_or_else(|| panic!("no row {name:?}: {json:#}"))
}

fn outcome(json: &Value, name: &str) -> String {
    row(json, name)["outcome"]["outcome"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Every identity the verdict names, with its problems as said.
fn named(json: &Value) -> Vec<(String, Vec<String>)> {
    json["migration"]["invalid"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let problems = i["problems"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| {
                    format!(
                        "{} {}",
                        p["kind"].as_str().unwrap(),
                        p["property"].as_str().unwrap_or("")
                    )
                })
                .collect();
            (i["identity"].as_str().unwrap().to_owned(), problems)
        })
        .collect()
}

#[test]
fn an_optional_trait_added_in_place_passes() {
    let (code, said, json, _) = migrate(
        "optional",
        "fixtures/migration/optional-trait",
        &["--migration-only"],
    );
    assert_eq!(code, Some(0), "{said}");
    assert_eq!(
        json["migration"]["edited"],
        serde_json::json!(["person"]),
        "{said}"
    );
    assert_eq!(json["migration"]["identities"], IMPORTED + 3, "{said}");
    assert!(named(&json).is_empty(), "{said}");
    for name in [
        "old sessions still pass whoami",
        "old people log in",
        "old people's settings open and save unchanged",
        "recovery still reaches old people",
        "verification still reaches old people",
        "every old identity is still there",
        "every identity validates against the schema it names",
        "new registrations follow the new schema",
    ] {
        assert_eq!(outcome(&json, name), "passed", "{name}: {said}");
    }
}

#[test]
fn a_required_trait_added_in_place_names_every_old_identity_and_plans_the_fix() {
    let out = folder("migration-plan");
    let plan = out.join("fix-plan.json");
    let (code, said, json, _) = migrate(
        "required",
        "fixtures/migration/required-trait",
        &["--migration-only", "--fix-plan", plan.to_str().unwrap()],
    );
    assert_eq!(code, Some(1), "{said}");
    let named = named(&json);
    // Every identity made on the old config, and only those: the new
    // registration has the trait.
    assert_eq!(named.len(), IMPORTED + 3, "{said}");
    assert!(
        named.iter().all(|(_, p)| p == &["missing phone"]),
        "{named:?}"
    );
    assert_eq!(
        outcome(
            &json,
            "every identity validates against the schema it names"
        ),
        "failed"
    );
    assert!(said.contains("/traits/phone: required, missing"), "{said}");
    assert_eq!(
        outcome(&json, "new registrations follow the new schema"),
        "passed",
        "{said}"
    );
    let plan: Value = serde_json::from_str(&read(&plan)).unwrap();
    let fixes = plan["fixes"].as_array().unwrap();
    assert_eq!(fixes.len(), IMPORTED + 3, "{plan:#}");
    assert_eq!(
        fixes[0]["patch"],
        serde_json::json!([{"op": "add", "path": "/traits/phone", "value": null}])
    );
}

#[test]
fn a_renamed_identifier_is_named_and_the_plan_keeps_the_value() {
    let (code, said, json, _) = migrate(
        "renamed",
        "fixtures/migration/renamed-identifier",
        &["--migration-only"],
    );
    assert_eq!(code, Some(1), "{said}");
    let named = named(&json);
    assert_eq!(named.len(), IMPORTED + 3, "{said}");
    for (_, problems) in &named {
        assert!(
            problems.contains(&"missing mail".to_owned()),
            "{problems:?}"
        );
        assert!(
            problems.contains(&"unexpected email".to_owned()),
            "{problems:?}"
        );
    }
    // The renamed value kept: added under the new name, the old removed.
    let patch = &json["migration"]["fixes"][0]["patch"];
    assert_eq!(patch[0]["op"], "add", "{patch}");
    assert_eq!(patch[0]["path"], "/traits/mail", "{patch}");
    assert!(
        patch[0]["value"]
            .as_str()
            .unwrap()
            .ends_with("@orygate.test"),
        "{patch}"
    );
    assert_eq!(
        patch[1],
        serde_json::json!({"op": "remove", "path": "/traits/email"})
    );
    let edits = &row(
        &json,
        "schemas edited in place keep what Kratos reads from them",
    )["outcome"]["error"];
    assert!(
        edits
            .as_str()
            .unwrap()
            .contains("traits.email is no longer a password identifier"),
        "{said}"
    );
    assert_eq!(
        outcome(&json, "old people's settings open and save unchanged"),
        "failed",
        "{said}"
    );
}

#[test]
fn verification_taken_off_the_email_stops_mail_to_old_people_who_save() {
    let (code, said, json, _) = migrate(
        "no-verification",
        "fixtures/migration/no-verification",
        &["--migration-only"],
    );
    assert_eq!(code, Some(1), "{said}");
    // The identities still validate: what breaks is what Kratos derives.
    assert!(named(&json).is_empty(), "{said}");
    assert_eq!(
        outcome(&json, "verification still reaches old people"),
        "failed",
        "{said}"
    );
    let verification = &row(&json, "verification still reaches old people")["outcome"]["error"];
    assert!(
        verification
            .as_str()
            .unwrap()
            .contains("Kratos no longer lists gate-"),
        "{said}"
    );
    assert_eq!(
        outcome(&json, "recovery still reaches old people"),
        "passed",
        "{said}"
    );
    // An identity without verifiable addresses (Kratos answers null).
    assert_eq!(
        outcome(&json, "new registrations follow the new schema"),
        "passed",
        "{said}"
    );
    let edits = &row(
        &json,
        "schemas edited in place keep what Kratos reads from them",
    )["outcome"]["error"];
    assert!(
        edits
            .as_str()
            .unwrap()
            .contains("traits.email is no longer verified via email"),
        "{said}"
    );
}

#[test]
fn a_cookie_secret_replaced_instead_of_rotated_signs_browsers_out() {
    let (code, said, json, _) = migrate(
        "rotated",
        "fixtures/migration/rotated-secrets",
        &["--migration-only"],
    );
    assert_eq!(code, Some(1), "{said}");
    assert!(named(&json).is_empty(), "{said}");
    let sessions = &row(&json, "old sessions still pass whoami")["outcome"]["error"];
    assert!(
        sessions
            .as_str()
            .unwrap()
            .contains("the session by cookie is gone"),
        "{said}"
    );
    assert_eq!(outcome(&json, "old people log in"), "passed", "{said}");
}

#[test]
fn the_same_change_as_a_new_schema_version_passes_and_the_forms_ask_for_review() {
    // Not --migration-only: the flows and a check run on the new config
    // afterwards, on the stack that holds the old people. The migration
    // passes; what fails is the form snapshots, as for any change that
    // adds a field to a form: a person reviews it and accepts it.
    let (code, said, json, out) = migrate(
        "versioned",
        "fixtures/migration/versioned",
        &["--check", "secrets"],
    );
    assert_eq!(code, Some(1), "{said}");
    assert_eq!(json["migration"]["edited"], serde_json::json!([]), "{said}");
    assert!(named(&json).is_empty(), "{said}");
    let failed: Vec<&str> = json["flows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["outcome"]["outcome"] == "failed")
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        failed,
        ["form snapshot: registration", "form snapshot: settings"],
        "{said}"
    );
    assert!(said.contains("traits.phone"), "{said}");
    let md = read(&Path::new(&out).join("gate.md"));
    for name in [
        "every identity validates against the schema it names",
        "new registrations follow the new schema",
        "old people's settings open and save unchanged",
    ] {
        assert!(
            md.contains(&format!("| migration: {name} | passed")),
            "{md}"
        );
    }
    assert!(
        md.contains("| login, whoami, logout in a browser | passed"),
        "{md}"
    );
}

/// ory/'s Kratos config as Kratos v1.0.0 reads it: without the settings
/// that release does not know (it refuses unknown keys).
fn kratos_v1_0_0_config(out: &Path) -> std::path::PathBuf {
    let dir = out.join("old");
    std::fs::create_dir_all(dir.join("kratos")).unwrap();
    let ory = harness::repo_root().join("ory/kratos");
    std::fs::copy(
        ory.join("identity.schema.json"),
        dir.join("kratos/identity.schema.json"),
    )
    .unwrap();
    let mut skip_next = false;
    let kept: Vec<&str> = include_str!("../../../ory/kratos/kratos.yml")
        .lines()
        .filter(|line| {
            let skip = skip_next;
            skip_next = line.trim() == "passkey:";
            !(skip
                || skip_next
                || line.contains("passwordless_enabled")
                || line.starts_with("feature_flags:")
                || line.contains("use_continue_with_transitions"))
        })
        .collect();
    std::fs::write(dir.join("kratos/kratos.yml"), kept.join("\n")).unwrap();
    dir
}

/// The upgrade gate from the releases `ory/images/build.sh kratos@v1.0.0
/// hydra@v2.1.2` builds (minutes on a cold machine, so not in every CI
/// run: `cargo test -p loadtests --test gate -- --ignored`). Keto stays:
/// the module proxy here refuses its older releases, so no older Keto
/// image can be built.
#[test]
#[ignore = "needs oryd/kratos:v1.0.0 and oryd/hydra:v2.1.2 (ory/images/build.sh kratos@v1.0.0 hydra@v2.1.2)"]
fn an_upgrade_from_older_releases_keeps_sessions_and_grants() {
    let out = folder("upgrade");
    let old = kratos_v1_0_0_config(&out);
    let run = gate(
        &[
            "--ory-dir",
            "ory",
            "--upgrade-from",
            "kratos=v1.0.0,hydra=v2.1.2",
            "--migrate-from-dir",
            old.to_str().unwrap(),
            "--migration-only",
            "--population",
            "200",
        ],
        &out,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    let json: Value = serde_json::from_str(&read(&out.join("gate.json"))).unwrap();
    let rows = json["flows"].as_array().unwrap();
    for wanted in [
        "upgrade: kratos v1.0.0 -> v1.3.1: migrated and started",
        "upgrade: hydra v2.1.2 -> v2.3.0: migrated and started",
        "upgrade: old sessions still pass whoami",
        "upgrade: refresh tokens still refresh",
        "upgrade: a remembered consent still skips the screen",
    ] {
        let row = rows
            .iter()
            .find(|f| f["name"].as_str().unwrap().starts_with(wanted))
            .unwrap_or_else(|| panic!("no row {wanted:?}: {said}"));
        assert_eq!(row["outcome"]["outcome"], "passed", "{wanted}: {said}");
    }
}

/// An upgrade of Hydra alone with a Kratos config change: Kratos moves to
/// the new config on its own release, and the migration's verdict is the
/// new config's (a required trait added in place names every old
/// identity). Without OAuth2 clients: Kratos v1.3.1 cannot accept a
/// login challenge of Hydra v2.1.2 (it answers 500, "Unable to accept
/// OAuth 2.0 Login Challenge"), which the grant would need.
#[test]
#[ignore = "needs oryd/hydra:v2.1.2 (ory/images/build.sh hydra@v2.1.2)"]
fn an_upgrade_of_hydra_alone_still_moves_kratos_to_the_new_config() {
    let out = folder("upgrade-hydra-config");
    let dir = ory_part(&out, &["kratos", "hydra"]);
    let dir = dir.to_str().unwrap();
    let run = gate(
        &[
            "--ory-dir",
            dir,
            "--overlay",
            "fixtures/migration/required-trait",
            "--upgrade-from",
            "hydra=v2.1.2",
            "--migrate-from-dir",
            dir,
            "--migration-only",
            "--population",
            "20",
        ],
        &out,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(1), "{said}");
    let json: Value = serde_json::from_str(&read(&out.join("gate.json"))).unwrap();
    let rows = json["flows"].as_array().unwrap();
    let moved = rows
        .iter()
        .find(|f| {
            f["name"]
                .as_str()
                .unwrap()
                .starts_with("upgrade: kratos on the new config: migrated and started")
        })
        .unwrap_or_else(|| panic!("Kratos did not move: {said}"));
    assert_eq!(moved["outcome"]["outcome"], "passed", "{said}");
    assert_eq!(
        json["migration"]["invalid"].as_array().unwrap().len(),
        23,
        "{said}"
    );
}

/// The migration gate on a config unlike ory/'s (fixtures/ory-alt:
/// username and phone, recovery off, verification by link), its login
/// made to refuse unverified addresses: people the old config does not
/// let sign in are still made and checked, and an unchanged config
/// passes.
#[test]
fn an_unchanged_config_that_refuses_unverified_logins_passes() {
    let out = folder("migration-alt");
    let dir = out.join("ory-alt");
    let alt = harness::repo_root().join("fixtures/ory-alt");
    for sub in ["kratos", "hydra"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
        for entry in std::fs::read_dir(alt.join(sub)).unwrap() {
            let from = entry.unwrap().path();
            if from.is_file() {
                std::fs::copy(&from, dir.join(sub).join(from.file_name().unwrap())).unwrap();
            }
        }
    }
    let config = dir.join("kratos/kratos.yml");
    let login = "    login:\n      ui_url: https://members.orygate.test/sign-in\n";
    let yaml = read(&config);
    assert!(yaml.contains(login), "fixtures/ory-alt's login flow moved");
    let refusing = yaml.replace(
        login,
        &format!("{login}      after:\n        password:\n          hooks:\n            - hook: require_verified_address\n"),
    );
    std::fs::write(&config, refusing).unwrap();
    let dir = dir.to_str().unwrap();
    let run = gate(
        &[
            "--ory-dir",
            dir,
            "--migrate-from-dir",
            dir,
            "--migration-only",
            "--population",
            "12",
        ],
        &out,
    );
    let said = text(&run);
    assert_eq!(run.status.code(), Some(0), "{said}");
    let json: Value = serde_json::from_str(&read(&out.join("gate.json"))).unwrap();
    assert_eq!(json["migration"]["identities"], 12 + 3, "{said}");
    assert_eq!(outcome(&json, "old people log in"), "passed", "{said}");
    assert_eq!(
        outcome(&json, "verification still reaches old people"),
        "passed",
        "{said}"
    );
    assert_eq!(
        outcome(&json, "recovery still reaches old people"),
        "skipped",
        "{said}"
    );
}
