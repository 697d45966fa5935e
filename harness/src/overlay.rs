//! A config overlay filled in at run time: a copy of a fixture folder whose
//! config file names something only known once it runs (the port of a web
//! hook receiver), with that text replaced. The copy lives in a temporary
//! folder of its own, under the fixture's folder name (the name the stack
//! mounts it by), and is removed on drop.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::error::{Error, Result};

/// A filled-in copy of an overlay folder; pass [`FilledOverlay::path`] to
/// [`OryStackBuilder::overlay`](crate::OryStackBuilder::overlay).
#[derive(Debug)]
pub struct FilledOverlay {
    dir: PathBuf,
}

impl FilledOverlay {
    /// Copies every file of `fixture`, replacing in its `config_file`
    /// (e.g. `kratos.yml`) each `(from, to)` of `fills` in order.
    pub fn new(fixture: &Path, config_file: &str, fills: &[(&str, &str)]) -> Result<Self> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = fixture
            .file_name()
            .ok_or_else(|| Error::Config {
                path: fixture.display().to_string(),
                reason: "an overlay is a folder with a name".into(),
            })?
            .to_owned();
        let home = std::env::temp_dir().join(format!(
            "orygate-overlay-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let dir = home.join(name);
        std::fs::create_dir_all(&dir)
            .map_err(|e| Error::io(format!("create {}", dir.display()), e))?;
        let filled = Self { dir };
        let entries = std::fs::read_dir(fixture)
            .map_err(|e| Error::io(format!("read {}", fixture.display()), e))?;
        for entry in entries {
            let path = entry
                .map_err(|e| Error::io(format!("read {}", fixture.display()), e))?
                .path();
            let Some(file) = path.file_name() else {
                continue;
            };
            let text = std::fs::read_to_string(&path)
                .map_err(|e| Error::io(format!("read {}", path.display()), e))?;
            let text = if file == config_file {
                fills
                    .iter()
                    .fold(text, |text, (from, to)| text.replace(from, to))
            } else {
                text
            };
            let to = filled.dir.join(file);
            std::fs::write(&to, text)
                .map_err(|e| Error::io(format!("write {}", to.display()), e))?;
        }
        Ok(filled)
    }

    /// The filled folder.
    pub fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for FilledOverlay {
    fn drop(&mut self) {
        if let Some(home) = self.dir.parent() {
            let _ = std::fs::remove_dir_all(home);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_config_file_is_filled_other_files_are_copied_and_all_go_on_drop() {
        let fixture = crate::repo_root().join("fixtures/kratos/webhooks");
        let filled = FilledOverlay::new(
            &fixture,
            "kratos.yml",
            &[("RECEIVER/", "http://127.0.0.1:9/"), ("PARSE", "false")],
        )
        .unwrap();
        assert!(filled.path().ends_with("webhooks"), "{:?}", filled.path());
        let config = std::fs::read_to_string(filled.path().join("kratos.yml")).unwrap();
        assert!(
            config.contains("url: http://127.0.0.1:9/registered"),
            "{config}"
        );
        assert!(config.contains("parse: false"), "{config}");
        assert!(!config.contains("url: RECEIVER/"), "{config}");
        let original = std::fs::read_to_string(fixture.join("registered.jsonnet")).unwrap();
        let copied = std::fs::read_to_string(filled.path().join("registered.jsonnet")).unwrap();
        assert_eq!(copied, original);
        let home = filled.path().parent().unwrap().to_owned();
        drop(filled);
        assert!(!home.exists());
    }
}
