//! Migrated databases kept between stacks: the first stack on PostgreSQL
//! with a given set of services migrates a cluster of its own once and
//! keeps its stopped data; later stacks copy that folder instead of
//! creating a cluster and running every service's migrations again (about
//! 2 CPU seconds a stack on two cores).
//!
//! A template is named after what its data depends on: the PostgreSQL
//! binaries and each service's image id (an image built again, or another
//! tag, gets a template of its own). The services' migrations do not
//! depend on their config. A stack that finds the template being built by
//! another process does not wait: it creates and migrates its own cluster,
//! as without templates.

use std::fs::File;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use testcontainers::bollard::Docker;

use crate::error::{Error, Result};
use crate::service::Service;

/// Where the templates are kept: beside the stacks' own clusters, outside
/// the pattern (`orygate-*-postgres`) of those removed with their owner.
fn root() -> PathBuf {
    std::env::temp_dir().join("orygate-templates")
}

/// The name of the template for `services` (with their image tags).
pub(super) async fn key(docker: &Docker, services: &[(Service, &str)]) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(crate::postgres::binaries()?.display().to_string());
    for (service, tag) in services {
        let image = format!("{}:{tag}", service.image());
        let id = docker
            .inspect_image(&image)
            .await
            .map_err(|e| Error::Docker {
                reason: format!("inspect {image}: {e}"),
            })?
            .id
            .unwrap_or_default();
        hash.update(format!("\n{}={id}", service.name()));
    }
    let names: Vec<&str> = services.iter().map(|(s, _)| s.name()).collect();
    let digest = hash.finalize();
    let short = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 8 bytes"));
    Ok(format!("{}-{short:016x}", names.join("-")))
}

/// The template's folder, if it was made.
pub(super) fn find(key: &str) -> Option<PathBuf> {
    let dir = root().join(key);
    dir.join("PG_VERSION").is_file().then_some(dir)
}

/// The right to make the template `key`, unless another process holds it
/// (the kernel releases it when its holder exits, however it exits).
pub(super) fn claim(key: &str) -> Result<Option<Claim>> {
    let root = root();
    std::fs::create_dir_all(&root)
        .map_err(|e| Error::io(format!("create {}", root.display()), e))?;
    let path = root.join(format!("{key}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Claim {
            _lock: file,
            dest: root.join(key),
        })),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(Error::io(format!("lock {}", path.display()), e))
        }
    }
}

/// Held while one process makes a template.
pub(super) struct Claim {
    _lock: File,
    /// Where the template goes.
    pub(super) dest: PathBuf,
}
