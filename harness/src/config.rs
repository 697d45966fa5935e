//! A service's config folder, checked before any container starts: the
//! main file must be YAML, and every identity schema it names in the folder
//! must be JSON. A broken file is reported by its path and line, where Ory
//! would only say what its parser disliked.

use std::path::{Path, PathBuf};

use serde_yaml_ng::Value;

use crate::error::{Error, Result};
use crate::service::Service;

/// A service's config as Ory reads `files` (its main file, then each
/// overlay): maps merged key by key, anything else replaced by the later
/// file. The error names the file.
pub fn merged_config(files: &[PathBuf]) -> std::result::Result<serde_json::Value, String> {
    let mut merged = serde_json::Value::Object(serde_json::Map::new());
    for file in files {
        let text =
            std::fs::read_to_string(file).map_err(|e| format!("read {}: {e}", file.display()))?;
        let value: serde_json::Value = serde_yaml_ng::from_str(&text)
            .map_err(|e| format!("{} is not valid YAML: {e}", file.display()))?;
        merge(&mut merged, value);
    }
    Ok(merged)
}

/// Merges `over` into `base` as Ory merges config files.
fn merge(base: &mut serde_json::Value, over: serde_json::Value) {
    match (base, over) {
        (serde_json::Value::Object(b), serde_json::Value::Object(o)) => {
            for (key, value) in o {
                match b.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        b.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// Checks `service`'s config folder `dir` and the overlay folders merged
/// over it (see `OryStackBuilder::overlay`).
pub(crate) fn check(service: Service, dir: &Path, overlays: &[std::path::PathBuf]) -> Result<()> {
    for folder in std::iter::once(dir).chain(overlays.iter().map(PathBuf::as_path)) {
        let file = folder.join(service.config_file());
        let config = yaml(&file)?;
        if service == Service::Kratos {
            for schema in identity_schemas(&config) {
                check_schema(service, dir, overlays, &file, &schema)?;
            }
        }
    }
    Ok(())
}

/// The YAML in `file`, or an error naming it (and the line).
fn yaml(file: &Path) -> Result<Value> {
    let text = std::fs::read_to_string(file).map_err(|e| Error::Config {
        path: file.display().to_string(),
        reason: if e.kind() == std::io::ErrorKind::NotFound {
            "no such file".into()
        } else {
            e.to_string()
        },
    })?;
    serde_yaml_ng::from_str(&text).map_err(|e| Error::Config {
        path: file.display().to_string(),
        reason: format!("not valid YAML: {e}"),
    })
}

/// The `url`s of `identity.schemas`.
fn identity_schemas(config: &Value) -> Vec<String> {
    config
        .get("identity")
        .and_then(|i| i.get("schemas"))
        .and_then(Value::as_sequence)
        .into_iter()
        .flatten()
        .filter_map(|s| s.get("url").and_then(Value::as_str).map(str::to_owned))
        .collect()
}

/// A schema in the config folder (`file:///etc/config/<service>/...`, where
/// the folder is copied) must exist there and be JSON; inline
/// (`base64://`) too. Neither may `$ref` a document off this machine,
/// which Kratos would fetch. Schemas elsewhere (`https://`) are Ory's to
/// fetch and judge (a confined stack refuses them).
fn check_schema(
    service: Service,
    dir: &Path,
    overlays: &[PathBuf],
    main: &Path,
    url: &str,
) -> Result<()> {
    if let Some(inline) = url.strip_prefix("base64://") {
        use base64::Engine as _;
        let bad = |reason: String| Error::Config {
            path: main.display().to_string(),
            reason: format!(
                "the identity schema {}...: {reason}",
                &url[..url.len().min(40)]
            ),
        };
        let engine = base64::engine::general_purpose::STANDARD;
        let bytes = engine
            .decode(inline)
            .or_else(|_| base64::engine::general_purpose::URL_SAFE.decode(inline))
            .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(inline))
            .map_err(|e| bad(format!("not base64: {e}")))?;
        let schema: serde_json::Value =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        return remote_refs(&schema).map_err(bad);
    }
    let inside = format!("file://{}/", service.container_config_dir());
    let Some(relative) = url.strip_prefix(&inside) else {
        return Ok(());
    };
    // `overlays/<name>/...` is in the overlay folder of that name.
    let in_overlay = relative.strip_prefix("overlays/").and_then(|rest| {
        let (name, file) = rest.split_once('/')?;
        overlays
            .iter()
            .find(|o| o.file_name().is_some_and(|n| n == name))
            .map(|o| o.join(file))
    });
    let path = in_overlay.unwrap_or_else(|| dir.join(relative));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: format!(
            "the identity schema {url} named in {} cannot be read: {e}",
            main.display()
        ),
    })?;
    let schema = serde_json::from_str::<serde_json::Value>(&text).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: format!("the identity schema is not valid JSON: {e}"),
    })?;
    remote_refs(&schema).map_err(|reason| Error::Config {
        path: path.display().to_string(),
        reason: format!("the identity schema {reason}"),
    })
}

/// Refuses a schema that `$ref`s an http(s) document off this machine:
/// Kratos would fetch it.
fn remote_refs(schema: &serde_json::Value) -> std::result::Result<(), String> {
    match schema {
        serde_json::Value::Object(map) => {
            if let Some(reference) = map.get("$ref").and_then(serde_json::Value::as_str)
                && let Ok(url) = url::Url::parse(reference)
                && matches!(url.scheme(), "http" | "https")
                && !crate::confine::text_on_loopback(reference)
            {
                return Err(format!(
                    "refers to {reference}, off this machine, which Kratos would fetch: keep what it refers to in the folder (file://)"
                ));
            }
            map.values().try_for_each(remote_refs)
        }
        serde_json::Value::Array(items) => items.iter().try_for_each(remote_refs),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn overlays_merge_over_the_main_file() {
        let mut base = serde_json::json!({"session": {"lifespan": "24h", "cookie": {"name": "s"}}, "list": [1, 2]});
        merge(
            &mut base,
            serde_json::json!({"session": {"lifespan": "720h"}, "list": [3]}),
        );
        assert_eq!(
            base,
            serde_json::json!({"session": {"lifespan": "720h", "cookie": {"name": "s"}}, "list": [3]})
        );
    }

    use super::*;

    /// A throw-away folder with a test's config files, deleted on drop.
    struct Folder(std::path::PathBuf);

    fn folder(files: &[(&str, &str)]) -> Folder {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("orygate-config-test-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).unwrap();
        for (name, text) in files {
            std::fs::write(path.join(name), text).unwrap();
        }
        Folder(path)
    }

    impl Drop for Folder {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    const MAIN: &str = "identity:\n  schemas:\n    - id: person\n      url: file:///etc/config/kratos/person.json\n";

    #[test]
    fn a_good_folder_passes() {
        let dir = folder(&[
            ("kratos.yml", MAIN),
            ("person.json", "{\"type\": \"object\"}"),
        ]);
        check(Service::Kratos, &dir.0, &[]).unwrap();
    }

    #[test]
    fn broken_yaml_names_the_file_and_line() {
        let dir = folder(&[("kratos.yml", "serve:\n  public:\n\tport: 1\n")]);
        let err = check(Service::Kratos, &dir.0, &[]).unwrap_err().to_string();
        assert!(err.contains("kratos.yml"), "{err}");
        assert!(
            err.contains("not valid YAML") && err.contains("line 3"),
            "{err}"
        );
    }

    #[test]
    fn a_broken_or_missing_schema_names_the_schema_file() {
        let dir = folder(&[
            ("kratos.yml", MAIN),
            ("person.json", "{\"type\": \"object\",}"),
        ]);
        let err = check(Service::Kratos, &dir.0, &[]).unwrap_err().to_string();
        assert!(err.contains("person.json"), "{err}");
        assert!(
            err.contains("not valid JSON") && err.contains("line 1"),
            "{err}"
        );

        let dir = folder(&[("kratos.yml", MAIN)]);
        let err = check(Service::Kratos, &dir.0, &[]).unwrap_err().to_string();
        assert!(
            err.contains("person.json") && err.contains("cannot be read"),
            "{err}"
        );
    }

    #[test]
    fn a_schema_that_refers_off_this_machine_is_refused() {
        use base64::Engine as _;
        let remote =
            "{\"properties\": {\"traits\": {\"$ref\": \"https://cfg.team.example/traits.json\"}}}";
        let dir = folder(&[("kratos.yml", MAIN), ("person.json", remote)]);
        let err = check(Service::Kratos, &dir.0, &[]).unwrap_err().to_string();
        assert!(
            err.contains("person.json") && err.contains("https://cfg.team.example/traits.json"),
            "{err}"
        );
        let inline = format!(
            "identity:\n  default_schema_id: p\n  schemas:\n    - id: p\n      url: base64://{}\n",
            base64::engine::general_purpose::STANDARD.encode(remote)
        );
        let dir = folder(&[("kratos.yml", &inline)]);
        let err = check(Service::Kratos, &dir.0, &[]).unwrap_err().to_string();
        assert!(err.contains("cfg.team.example"), "{err}");
        // On loopback, or within the document: nothing is fetched.
        let local =
            "{\"$defs\": {\"t\": {}}, \"properties\": {\"traits\": {\"$ref\": \"#/$defs/t\"}}}";
        let dir = folder(&[("kratos.yml", MAIN), ("person.json", local)]);
        check(Service::Kratos, &dir.0, &[]).unwrap();
    }
}
