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
/// the folder is copied) must exist there and be JSON. Schemas elsewhere
/// (`https://`, `base64://`) are Ory's to fetch and judge.
fn check_schema(
    service: Service,
    dir: &Path,
    overlays: &[PathBuf],
    main: &Path,
    url: &str,
) -> Result<()> {
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
    serde_json::from_str::<serde_json::Value>(&text).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: format!("the identity schema is not valid JSON: {e}"),
    })?;
    Ok(())
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
}
