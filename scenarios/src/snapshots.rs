//! The gate's form snapshots: the shape ([`crate::forms::shape`]) of
//! each self-service form the config enables, kept beside the team's
//! config (`<ory-dir>/.orygate/snapshots/<flow>.txt`) and compared on
//! every run. A change to the identity schema or a method switched on
//! changes a form; the gate shows the difference and fails until someone
//! reviews it and accepts it (`orygate gate --accept`).

use std::path::{Path, PathBuf};

use harness::kratos::{Flow, Kratos};
use harness::{NativeApp, Step};
use serde_json::Value;

use crate::checks::someone;
use crate::derived::{FlowOutcome, FlowResult};

/// The forms to snapshot, by flow, as enabled in `config`.
fn forms(config: Option<&Value>) -> Vec<&'static str> {
    let mut forms = vec!["login"];
    for flow in ["registration", "recovery", "verification"] {
        if crate::checks::flow_on(config, flow) {
            forms.push(flow);
        }
    }
    forms.push("settings");
    forms
}

/// The form of the API flow `kind`, started as a native app does (the
/// settings form with a session token).
async fn form(app: &NativeApp, kratos: &Kratos, kind: &str) -> Result<Flow, String> {
    let url = kratos.public(&format!("self-service/{kind}/api"));
    let mut request = app
        .agent()
        .client()
        .get(url.clone())
        .header("Accept", "application/json");
    if kind == "settings" {
        let (person, _) = someone::created(app, kratos)
            .await
            .map_err(|e| e.to_string())?;
        let login = someone::api_login(app, kratos, &person)
            .await
            .map_err(|e| e.to_string())?;
        let token = someone::session_token(&login).map_err(|e| e.to_string())?;
        request = request.header("X-Session-Token", token);
    }
    let step = Step::get("kratos", &url);
    let response = app
        .agent()
        .exchange(&step, request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status().as_u16();
    let body = response.text().await.map_err(|e| e.to_string())?;
    if status != 200 {
        return Err(format!("{step} -> {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("{step}: not a flow ({e})"))
}

/// The snapshot file of `kind` in `dir`.
pub fn file(dir: &Path, kind: &str) -> PathBuf {
    dir.join(format!("{kind}.txt"))
}

/// Compares each enabled form with its snapshot in `dir` (or, with
/// `accept`, writes the snapshots): a result per form.
pub async fn compare(
    kratos: &Kratos,
    config: Option<&Value>,
    dir: &Path,
    accept: bool,
) -> Vec<FlowResult> {
    let mut results = Vec::new();
    let app = match NativeApp::new() {
        Ok(app) => app,
        Err(e) => {
            return vec![result(
                "form snapshots",
                FlowOutcome::Failed {
                    error: e.to_string(),
                },
            )];
        }
    };
    for kind in forms(config) {
        let name = format!("form snapshot: {kind}");
        let outcome = match form(&app, kratos, kind).await {
            Ok(flow) => judge(&crate::forms::shape(&flow), &file(dir, kind), accept),
            Err(error) => FlowOutcome::Failed { error },
        };
        results.push(result(&name, outcome));
    }
    results
}

fn result(name: &str, outcome: FlowOutcome) -> FlowResult {
    FlowResult {
        name: name.to_owned(),
        outcome,
        millis: 0,
    }
}

/// The form's `shape` against the snapshot at `path`.
fn judge(shape: &str, path: &Path, accept: bool) -> FlowOutcome {
    let kept = std::fs::read_to_string(path).ok();
    if accept {
        if kept.as_deref() == Some(shape) {
            return FlowOutcome::Passed;
        }
        let written = path
            .parent()
            .map_or(Ok(()), std::fs::create_dir_all)
            .and_then(|()| std::fs::write(path, shape));
        return match written {
            Ok(()) => FlowOutcome::Skipped {
                why: format!("accepted: wrote {}", path.display()),
            },
            Err(e) => FlowOutcome::Failed {
                error: format!("write {}: {e}", path.display()),
            },
        };
    }
    match kept {
        None => FlowOutcome::Failed {
            error: format!(
                "no snapshot at {}; review the form and run orygate gate --accept",
                path.display()
            ),
        },
        Some(kept) if kept == shape => FlowOutcome::Passed,
        Some(kept) => FlowOutcome::Failed {
            error: format!(
                "the form changed (- kept, + now); review it and run orygate gate --accept:\n{}",
                diff(&kept, shape)
            ),
        },
    }
}

/// The lines that differ, `-` kept and `+` now.
fn diff(kept: &str, now: &str) -> String {
    similar::TextDiff::from_lines(kept, now)
        .iter_all_changes()
        .filter(|c| c.tag() != similar::ChangeTag::Equal)
        .map(|c| {
            let sign = if c.tag() == similar::ChangeTag::Delete {
                '-'
            } else {
                '+'
            };
            format!("{sign} {}", c.value().trim_end())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_changed_form_fails_with_its_difference_until_accepted() {
        let dir = std::env::temp_dir().join(format!("orygate-snapshots-{}", std::process::id()));
        let path = file(&dir, "login");
        let _ = std::fs::remove_dir_all(&dir);
        let missing = judge("a\nb\n", &path, false);
        assert!(
            matches!(&missing, FlowOutcome::Failed { error } if error.contains("no snapshot")),
            "{missing:?}"
        );
        assert!(matches!(
            judge("a\nb\n", &path, true),
            FlowOutcome::Skipped { .. }
        ));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "a\nb\n");
        assert_eq!(judge("a\nb\n", &path, false), FlowOutcome::Passed);
        match judge("a\nc\n", &path, false) {
            FlowOutcome::Failed { error } => assert!(error.ends_with("- b\n+ c"), "{error}"),
            other => panic!("{other:?}"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_forms_follow_the_config() {
        let off = serde_json::json!({"selfservice": {"flows": {"recovery": {"enabled": false}, "verification": {"enabled": true}}}});
        assert_eq!(
            forms(Some(&off)),
            ["login", "registration", "verification", "settings"]
        );
    }
}
