//! The files of one container, staged in a folder of this machine and
//! mounted as the service's config folder: its config, overlays, the
//! stack's CA and its SQLite store.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::service::Service;

/// A folder written for a container to copy or mount, removed when this
/// drops.
#[derive(Debug)]
pub(super) struct Written(pub(super) PathBuf);

impl Drop for Written {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The folder of a service's SQLite file in its config folder in the
/// container; writable by the service's user.
const SQLITE_DIR: &str = "orygate-db";
/// The SQLite file's name in [`SQLITE_DIR`].
const SQLITE_FILE: &str = "orygate.sqlite";

/// The SQLite file in the folder staged for a container.
pub(super) fn sqlite_staged(staged: &Written) -> PathBuf {
    staged.0.join(SQLITE_DIR).join(SQLITE_FILE)
}

/// The SQLite file's path in `service`'s container.
pub(super) fn sqlite_path(service: Service) -> String {
    format!(
        "{}/{SQLITE_DIR}/{SQLITE_FILE}",
        service.container_config_dir()
    )
}

/// The DSN `service` is started with to keep its data in its SQLite
/// file: foreign keys on, the journal in memory, no syncs, and writers
/// waiting up to 10 s for each other.
pub(super) fn sqlite_dsn(service: Service) -> String {
    format!(
        "sqlite://{}?_fk=true&_journal_mode=MEMORY&_sync=OFF&_busy_timeout=10000",
        sqlite_path(service)
    )
}

/// A production-like stack's CA in its containers, in the service's
/// config folder.
pub(super) const STACK_CA_FILE: &str = "orygate-stack-ca.pem";

/// The files of the container `name` as they are laid out under the
/// service's config folder inside it: the config folder's, each overlay
/// folder under `overlays/` ([`Service::overlay_dir`]), the stack's CA
/// ([`STACK_CA_FILE`]), and for a service with a database a folder and
/// file its user can write ([`SQLITE_DIR`]): a copy of the `sqlite` file
/// if given, else empty (a file the service made would be its user's
/// alone).
pub(super) fn stage(
    name: &str,
    service: Service,
    config_dir: &Path,
    overlays: &[(PathBuf, String)],
    certificates: Option<&crate::certs::StackCertificates>,
    sqlite: Option<&Path>,
) -> Result<Written> {
    // A folder of its own per container: one replacing another of the same
    // name (`OryStack::replace`) must not take the other's folder.
    static STAGED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = STAGED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("{name}-{n}-files"));
    let staged = Written(dir.clone());
    let failed = |what: &std::path::Path, e: std::io::Error| Error::Config {
        path: what.display().to_string(),
        reason: format!("staging the files of {name}: {e}"),
    };
    let _ = std::fs::remove_dir_all(&dir);
    copy_tree(config_dir, &dir).map_err(|e| failed(config_dir, e))?;
    let root = service.container_config_dir();
    for (from, inside) in overlays {
        let relative = inside
            .strip_prefix(&root)
            .expect("overlays are copied under the config folder");
        let to = dir.join(relative.trim_start_matches('/'));
        let overlays = to.parent().expect("an overlay's folder is in `overlays/`");
        std::fs::create_dir_all(overlays)
            .and_then(|()| {
                std::fs::set_permissions(overlays, std::fs::Permissions::from_mode(0o755))
            })
            .and_then(|()| copy_tree(from, &to))
            .map_err(|e| failed(from, e))?;
    }
    if let Some(certificates) = certificates {
        let file = dir.join(STACK_CA_FILE);
        std::fs::write(&file, &certificates.ca_pem)
            .and_then(|()| std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)))
            .map_err(|e| failed(&file, e))?;
    }
    if service.has_database() {
        let db = dir.join(SQLITE_DIR);
        std::fs::create_dir_all(&db).map_err(|e| failed(&db, e))?;
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o777))
            .map_err(|e| failed(&db, e))?;
        let file = db.join(SQLITE_FILE);
        write_sqlite(&file, sqlite).map_err(|e| failed(&file, e))?;
    }
    Ok(staged)
}

/// Writes a container's SQLite `file`, on staging and again on a restart:
/// a copy of `template`, or empty, writable by the container's user.
pub(super) fn write_sqlite(file: &Path, template: Option<&Path>) -> std::io::Result<()> {
    match template {
        Some(template) => std::fs::copy(template, file).map(drop),
        None => std::fs::write(file, b""),
    }?;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o666))
}

/// Copies the folder `from` to `to` (created, and open to the container's
/// user whatever the umask), following links.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755))?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let (source, dest) = (entry.path(), to.join(entry.file_name()));
        if std::fs::metadata(&source)?.is_dir() {
            copy_tree(&source, &dest)?;
        } else {
            std::fs::copy(&source, &dest)?;
        }
    }
    Ok(())
}
