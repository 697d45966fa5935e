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

/// The namespaces a model declares (`class X implements Namespace`),
/// comments and strings left out.
fn declared(model: &str) -> Vec<String> {
    let words = words(model);
    words
        .windows(4)
        .filter(|w| w[0] == "class" && w[2] == "implements" && w[3] == "Namespace")
        .filter(|w| {
            w[1].chars()
                .all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
        .map(|w| w[1].to_owned())
        .collect()
}

/// The words and punctuation of TypeScript source, without its comments
/// and string literals: each identifier a word, each other character
/// one.
fn words(source: &str) -> Vec<&str> {
    let ident = |c: char| c.is_alphanumeric() || c == '_' || c == '$';
    let mut out = Vec::new();
    let mut rest = source;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
        } else if let Some(after) = rest.strip_prefix("//") {
            rest = after.find('\n').map_or("", |i| &after[i..]);
        } else if let Some(after) = rest.strip_prefix("/*") {
            rest = after.find("*/").map_or("", |i| &after[i + 2..]);
        } else if matches!(c, '"' | '\'' | '`') {
            let after = &rest[1..];
            let mut end = after.len();
            let mut escaped = false;
            for (i, ch) in after.char_indices() {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == c {
                    end = i + 1;
                    break;
                }
            }
            rest = &after[end.min(after.len())..];
        } else if ident(c) {
            let end = rest.find(|ch: char| !ident(ch)).unwrap_or(rest.len());
            out.push(&rest[..end]);
            rest = &rest[end..];
        } else {
            out.push(&rest[..c.len_utf8()]);
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// Why there is no model to check: a deployment by URL, a config that
/// lists its namespaces, or a model the gate cannot read.
fn no_model(keto: Option<&Value>) -> String {
    let Some(config) = keto else {
        return "reads the permission model Keto was started with, which a deployment by URL \
                does not show"
            .into();
    };
    match config.pointer("/namespaces") {
        Some(Value::Array(_)) => {
            "the config lists its namespaces (no permission model to check)".into()
        }
        None => "the config names no namespaces (no permission model to check)".into(),
        Some(namespaces) => format!(
            "namespaces.location is {}: only a file:// URL in the Keto config folder \
             (/etc/config/keto/...) is read",
            namespaces.get("location").unwrap_or(namespaces)
        ),
    }
}

async fn model(cx: &Context<'_>) -> Verdict {
    let Some(keto) = &cx.deployment.keto else {
        return super::absent("keto");
    };
    let Some(model) = &cx.deployment.config.keto_model else {
        return Verdict::Skipped(no_model(cx.deployment.config.keto.as_ref()));
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
    let declared = declared(model);
    if declared.is_empty() {
        evidence.push(Evidence::config(
            "the permission model",
            "class ... implements Namespace",
            "declares no namespace: every permission check and write is refused".to_owned(),
        ));
    }
    let url = keto.read("namespaces");
    // `None` when Keto's answer could not be read (that is the evidence).
    let served: Option<Vec<String>> = match Probe::get_json(cx.app.agent(), "keto", &url).await {
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
            if names.is_none() {
                evidence.push(Evidence::answer(
                    &p,
                    format!("not a list of namespaces: {}", p.body_start()),
                ));
            }
            names
        }
        Err(e) => {
            evidence.push(e);
            None
        }
    };
    for name in served
        .iter()
        .flat_map(|served| declared.iter().filter(move |n| !served.contains(n)))
    {
        let listed = served.as_deref().unwrap_or_default();
        evidence.push(
            Evidence::config(
                "the permission model",
                name,
                format!(
                    "declares namespace {name}, which Keto does not serve (it serves {})",
                    if listed.is_empty() {
                        "none: the model did not load".to_owned()
                    } else {
                        listed.join(", ")
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
        let tricky = "// class Old implements Namespace {}\n\
                      /* class Gone implements Namespace {} */\n\
                      const s = \"class Str implements Namespace\"\n\
                      class F{}\nclass Group implements Namespace{}\n\
                      class Team implements NamespaceLike {}\n";
        assert_eq!(declared(tricky), ["Group"]);
        assert!(declared("class Helper {}").is_empty());
    }

    #[test]
    fn a_missing_model_says_why() {
        assert!(no_model(None).contains("by URL"));
        let listed = json!({"namespaces": [{"id": 0, "name": "files"}]});
        assert!(no_model(Some(&listed)).contains("lists its namespaces"));
        let elsewhere = json!({"namespaces": {"location": "https://models.orygate.test/m.ts"}});
        assert!(no_model(Some(&elsewhere)).contains("https://models.orygate.test/m.ts"));
    }
}
