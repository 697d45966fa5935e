//! Keto's checks: its write API kept off the read port, and the
//! permission model it runs.

use std::path::{Path, PathBuf};

use reqwest::Method;
use serde_json::{Value, json};

use super::{Context, Evidence, Probe, Verdict};

check!(
    Keto,
    WRITE_NOT_ON_READ,
    "keto-write-not-on-read",
    "Keto's read port does not take writes",
    write_not_on_read
);

check!(
    Keto,
    MODEL,
    "keto-model",
    "Keto's permission model passes its syntax check and every namespace it declares is served",
    model
);

async fn write_not_on_read(cx: &Context<'_>) -> Verdict {
    let Some(keto) = &cx.deployment.keto else {
        return super::absent("keto");
    };
    let url = keto.read("admin/relation-tuples");
    let agent = cx.app.agent();
    // An empty list of changes: the write API takes it (204) and writes
    // nothing, so probing a deployment changes nothing; a read port
    // answers it 404 or 405.
    let request = agent.client().patch(url.clone()).json(&json!([]));
    match Probe::send(agent, "keto", Method::PATCH, &url, "no changes", request).await {
        Ok(p) if matches!(p.status, 404 | 405) => {
            Verdict::Passed(format!("the read port answers a write with {}", p.status))
        }
        Ok(p) => Verdict::Failed(vec![Evidence::answer(
            &p,
            format!(
                "the read port handled a write ({}): {}",
                p.status,
                p.body_start()
            ),
        )]),
        Err(e) => Verdict::Failed(vec![e]),
    }
}

/// Where the permission model of a Keto config (`namespaces.location`,
/// a `file://` URL inside the container) is on this machine: in
/// `keto_dir` (the config folder, `/etc/config/keto/`) or in one of the
/// `overlays` (`/etc/config/keto/overlays/<folder name>/`). `None` when
/// the config lists its namespaces instead of naming a model.
pub fn model_file(config: &Value, keto_dir: &Path, overlays: &[PathBuf]) -> Option<PathBuf> {
    let location = config.pointer("/namespaces/location")?.as_str()?;
    let inside = location.strip_prefix("file://")?;
    let rest = inside.strip_prefix("/etc/config/keto/")?;
    if let Some(in_overlay) = rest.strip_prefix("overlays/") {
        let (name, file) = in_overlay.split_once('/')?;
        return overlays
            .iter()
            .find(|o| o.file_name().is_some_and(|n| n == name))
            .map(|o| o.join(file));
    }
    Some(keto_dir.join(rest))
}

/// The namespaces a model declares (`class X implements Namespace`).
fn declared(model: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut words = model.split_whitespace().peekable();
    while let Some(word) = words.next() {
        if word == "class"
            && let Some(name) = words.next()
            && words.next() == Some("implements")
            && words.peek().is_some_and(|w| w.starts_with("Namespace"))
        {
            names.push(name.to_owned());
        }
    }
    names
}

async fn model(cx: &Context<'_>) -> Verdict {
    let Some(keto) = &cx.deployment.keto else {
        return super::absent("keto");
    };
    let Some(model) = &cx.deployment.config.keto_model else {
        return Verdict::Skipped(
            "reads the permission model Keto was started with, which a deployment by URL \
             does not show (or the config lists namespaces and has no model)"
                .into(),
        );
    };
    let mut evidence = Vec::new();
    match keto.syntax_check(&cx.app, model).await {
        Ok(errors) => {
            for e in errors {
                evidence.push(Evidence::config(
                    "the permission model",
                    &format!("line {}:{}", e.start.line, e.start.column),
                    e.message,
                ));
            }
        }
        Err(e) => evidence.push(Evidence {
            request: "POST /opl/syntax/check".into(),
            status: None,
            part: e.to_string(),
            subject: None,
        }),
    }
    let url = keto.read("namespaces");
    let served: Vec<String> = match Probe::get_json(cx.app.agent(), "keto", &url).await {
        Ok(p) => {
            // `{}` is Keto's answer when no model loaded: none served.
            let names = p
                .json()
                .filter(Value::is_object)
                .and_then(|v| match v.get("namespaces") {
                    None => Some(Vec::new()),
                    Some(list) => list.as_array().map(|a| {
                        a.iter()
                            .filter_map(|n| n.get("name")?.as_str().map(str::to_owned))
                            .collect::<Vec<_>>()
                    }),
                });
            names.unwrap_or_else(|| {
                evidence.push(Evidence::answer(
                    &p,
                    format!("not a list of namespaces: {}", p.body_start()),
                ));
                Vec::new()
            })
        }
        Err(e) => {
            evidence.push(e);
            Vec::new()
        }
    };
    let declared = declared(model);
    for name in declared.iter().filter(|n| !served.contains(n)) {
        evidence.push(
            Evidence::config(
                "the permission model",
                name,
                format!(
                    "declares namespace {name}, which Keto does not serve (it serves {})",
                    if served.is_empty() {
                        "none: the model did not load".to_owned()
                    } else {
                        served.join(", ")
                    }
                ),
            )
            .about(name),
        );
    }
    Verdict::from_evidence(
        evidence,
        format!(
            "the model passes the syntax check; Keto serves its {} namespaces ({})",
            declared.len(),
            declared.join(", ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_model_file_is_found_in_the_folder_or_an_overlay() {
        let dir = Path::new("/team/keto");
        let overlays = [PathBuf::from("/fix/keto")];
        let at = |location: &str| {
            model_file(
                &json!({"namespaces": {"location": location}}),
                dir,
                &overlays,
            )
        };
        assert_eq!(
            at("file:///etc/config/keto/namespaces.keto.ts"),
            Some(PathBuf::from("/team/keto/namespaces.keto.ts"))
        );
        assert_eq!(
            at("file:///etc/config/keto/overlays/keto/model.ts"),
            Some(PathBuf::from("/fix/keto/model.ts"))
        );
        assert_eq!(at("file:///etc/config/keto/overlays/other/model.ts"), None);
        let listed = json!({"namespaces": [{"id": 0, "name": "files"}]});
        assert_eq!(model_file(&listed, dir, &overlays), None);
    }

    #[test]
    fn declared_namespaces_are_read_from_the_classes() {
        let model = "import { Namespace, Context } from \"@ory/keto-namespace-types\"\n\
                     class User implements Namespace {}\n\
                     class Document implements Namespace {\n  related: { owners: User[] }\n}\n\
                     class Helper {}\n";
        assert_eq!(declared(model), ["User", "Document"]);
    }
}
