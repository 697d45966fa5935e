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
//! as without templates (or, for a SQLite file, migrates in memory).
//!
//! The same folder keeps the migrated SQLite files of Kratos and Hydra
//! ([`sqlite`](super::sqlite)), one per image.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;

use sha2::{Digest, Sha256};
use testcontainers::bollard::Docker;

use crate::error::{Error, Result};
use crate::ports::Ports;
use crate::postgres::Postgres;
use crate::service::Service;

use super::containers::{Spec, StackWide, migrate, service_env};

/// Where the templates are kept: beside the stacks' own clusters, outside
/// the pattern (`orygate-*-postgres`) of those removed with their owner.
fn root() -> PathBuf {
    crate::postgres::data_root().join("orygate-templates")
}

/// The name of the template for `services` (with their image tags).
pub(super) async fn key(docker: &Docker, services: &[(Service, &str)]) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(crate::postgres::binaries()?.display().to_string());
    for (service, tag) in services {
        let id = image_id(docker, *service, tag).await?;
        hash.update(format!("\n{}={id}", service.name()));
    }
    let names: Vec<&str> = services.iter().map(|(s, _)| s.name()).collect();
    Ok(format!("{}-{}", names.join("-"), short(hash)))
}

/// The name of the migrated SQLite file of `service`'s image
/// ([`sqlite`](super::sqlite)).
pub(super) async fn sqlite_key(docker: &Docker, service: Service, tag: &str) -> Result<String> {
    let mut hash = Sha256::new();
    hash.update(image_id(docker, service, tag).await?);
    Ok(format!("{}-sqlite-{}", service.name(), short(hash)))
}

/// The id of `service`'s image at `tag`.
async fn image_id(docker: &Docker, service: Service, tag: &str) -> Result<String> {
    let image = format!("{}:{tag}", service.image());
    Ok(docker
        .inspect_image(&image)
        .await
        .map_err(|e| Error::Docker {
            reason: format!("inspect {image}: {e}"),
        })?
        .id
        .unwrap_or_default())
}

/// The first 8 bytes of a hash, in hex.
fn short(hash: Sha256) -> String {
    let digest = hash.finalize();
    let short = u64::from_be_bytes(digest[..8].try_into().expect("a SHA-256 has 8 bytes"));
    format!("{short:016x}")
}

/// The migrated SQLite file `key`, if it was made.
pub(super) fn find_file(key: &str) -> Option<PathBuf> {
    let file = root().join(format!("{key}.sqlite"));
    file.is_file().then_some(file)
}

/// Where the SQLite file of a claim goes.
pub(super) fn file(claim: &Claim) -> PathBuf {
    claim.dest.with_extension("sqlite")
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

/// The folder of a migrated cluster for `databases` (of `services`) to
/// copy, made now in a cluster of its own if no process made it yet;
/// `None` while another process makes it.
pub(super) async fn postgres(
    docker: &Docker,
    wide: StackWide<'_>,
    services: &BTreeMap<Service, Spec>,
    databases: &[Service],
    ports: &BTreeMap<Service, Ports>,
) -> Result<Option<PathBuf>> {
    let tags: Vec<(Service, &str)> = databases
        .iter()
        .map(|s| (*s, services[s].tag.as_str()))
        .collect();
    let key = key(docker, &tags).await?;
    if let Some(found) = find(&key) {
        return Ok(Some(found));
    }
    let Some(claim) = claim(&key)? else {
        return Ok(None);
    };
    if let Some(found) = find(&key) {
        return Ok(Some(found));
    }
    let started = std::time::Instant::now();
    let building = Postgres::start(&format!("{}-template", wide.id)).await?;
    for service in databases {
        building.create_database(service.name()).await?;
        let spec = &services[service];
        let dsn = building.dsn(service.name());
        let env = service_env(&wide, *service, spec, &ports[service], Some(&dsn));
        migrate(&wide, *service, spec, &env).await?;
    }
    building.keep_as(claim.dest.clone()).await?;
    tracing::info!(%key, elapsed_ms = started.elapsed().as_millis(), "migrated template kept");
    Ok(Some(claim.dest))
}
