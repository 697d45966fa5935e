//! The store of a dev or production-like stack without PostgreSQL: Kratos'
//! and Hydra's data in a SQLite file inside the container, a copy of one
//! migrated once per image. It is the empty store `DSN=memory` gives,
//! without running every migration at each start (about 0.3 CPU seconds
//! for Kratos, a third of its start here, and 0.08 of Hydra's 0.2), and
//! it is lost as memory is: with the container, and on a restart, which
//! puts the migrated copy back ([`reset`]). The load tuning's `in_memory`
//! keeps `DSN=memory`, as Ory's published benchmarks run it.
//!
//! The file keeps its journal in memory and is never synced: nothing
//! but the file is on disk, so putting it back is the whole reset, and a
//! crash loses what memory would lose. Writers wait for each other (a
//! busy timeout) where the shared in-memory store refuses them; under
//! load that serializes Kratos' nested connections into timeouts, which is
//! why the load tuning keeps PostgreSQL (see [`Tuning::Load`]).
//!
//! [`Tuning::Load`]: crate::Tuning::Load

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::{
    DownloadFromContainerOptionsBuilder, UploadToContainerOptionsBuilder,
};
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::error::{Error, Result};
use crate::ports::Ports;
use crate::service::{Service, Tuning};

use super::containers::{
    Spec, StackWide, container_request, migrate_once, service_env, sqlite_dsn, sqlite_path,
};
use super::template;

/// The migrated file of Kratos and Hydra (of `services`) outside
/// PostgreSQL (`postgres`), unless tuned for load (its `in_memory` is
/// Ory's `DSN=memory`) or another process is making it. Keto migrates in
/// milliseconds and answers deep checks faster in memory: it keeps
/// `DSN=memory`.
pub(super) async fn files(
    docker: &Docker,
    wide: &StackWide<'_>,
    services: &BTreeMap<Service, Spec>,
    postgres: &BTreeMap<Service, String>,
    ports: &BTreeMap<Service, Ports>,
) -> Result<BTreeMap<Service, PathBuf>> {
    let mut files = BTreeMap::new();
    if wide.tuning == Tuning::Load {
        return Ok(files);
    }
    for (service, spec) in services {
        if !matches!(service, Service::Kratos | Service::Hydra) || postgres.contains_key(service) {
            continue;
        }
        if let Some(file) = template(docker, wide, *service, spec, &ports[service]).await? {
            files.insert(*service, file);
        }
    }
    Ok(files)
}

/// The migrated file for `service`'s image, made now if no process made
/// it yet; `None` while another process makes it (the stack then keeps
/// `DSN=memory`).
async fn template(
    docker: &Docker,
    wide: &StackWide<'_>,
    service: Service,
    spec: &Spec,
    ports: &Ports,
) -> Result<Option<PathBuf>> {
    let key = template::sqlite_key(docker, service, &spec.tag).await?;
    if let Some(found) = template::find_file(&key) {
        return Ok(Some(found));
    }
    let Some(claim) = template::claim(&key)? else {
        return Ok(None);
    };
    if let Some(found) = template::find_file(&key) {
        return Ok(Some(found));
    }
    let started = std::time::Instant::now();
    let env = service_env(wide, service, spec, ports, Some(&sqlite_dsn(service)));
    let (request, staged) = container_request(wide, service, spec, &env, "sqlite", None)?;
    let request = request.with_cmd(service.migrate_command(&spec.overlay_files(service)));
    let container = migrate_once(service, request, wide.ready_timeout).await?;
    drop(staged);
    let dest = template::file(&claim);
    let partial = dest.with_extension("partial");
    let data = copy_out(container.id(), &sqlite_path(service))
        .await
        .map_err(|reason| Error::Docker {
            reason: format!("copy {service}'s migrated SQLite file out: {reason}"),
        })?;
    std::fs::write(&partial, data)
        .and_then(|()| std::fs::rename(&partial, &dest))
        .map_err(|e| Error::io(format!("keep {}", dest.display()), e))?;
    tracing::info!(%key, elapsed_ms = started.elapsed().as_millis(), "migrated SQLite file kept");
    Ok(Some(dest))
}

/// The file at `path` in the container `id` (stopped or not), within
/// [`DOCKER_TIMEOUT`](super::DOCKER_TIMEOUT).
async fn copy_out(id: &str, path: &str) -> std::result::Result<Vec<u8>, String> {
    use futures::TryStreamExt as _;
    use tokio::io::AsyncReadExt as _;
    let docker = Docker::connect_with_local_defaults().map_err(|e| e.to_string())?;
    let options = DownloadFromContainerOptionsBuilder::default()
        .path(path)
        .build();
    let download = docker
        .download_from_container(id, Some(options))
        .map_ok(|chunk| chunk.to_vec())
        .try_concat();
    let tar = tokio::time::timeout(super::DOCKER_TIMEOUT, download)
        .await
        .map_err(|_| format!("no answer within {:?}", super::DOCKER_TIMEOUT))?
        .map_err(|e| e.to_string())?;
    let mut archive = tokio_tar::Archive::new(tar.as_slice());
    let mut entries = archive.entries().map_err(|e| e.to_string())?;
    while let Some(entry) = entries.try_next().await.map_err(|e| e.to_string())? {
        if entry.header().entry_type().is_file() {
            let mut data = Vec::new();
            let mut entry = entry;
            entry
                .read_to_end(&mut data)
                .await
                .map_err(|e| e.to_string())?;
            return Ok(data);
        }
    }
    Err(format!("no file at {path}"))
}

/// Puts the migrated file back into `container` (stopped), as a restart
/// of a service whose data is in memory finds nothing of it.
pub(super) async fn reset(
    container: &ContainerAsync<GenericImage>,
    service: Service,
    template: &Path,
) -> Result<()> {
    let failed = |reason: String| Error::Docker {
        reason: format!("put {service}'s migrated SQLite file back: {reason}"),
    };
    let data = std::fs::read(template).map_err(|e| failed(e.to_string()))?;
    let mut header = tokio_tar::Header::new_gnu();
    header.set_size(data.len() as u64);
    header.set_mode(0o666);
    header.set_cksum();
    let mut tar = tokio_tar::Builder::new(Vec::new());
    tar.append_data(
        &mut header,
        sqlite_path(service).trim_start_matches('/'),
        data.as_slice(),
    )
    .await
    .map_err(|e| failed(e.to_string()))?;
    let tar = tar.into_inner().await.map_err(|e| failed(e.to_string()))?;
    let docker = Docker::connect_with_local_defaults().map_err(|e| failed(e.to_string()))?;
    let options = UploadToContainerOptionsBuilder::default().path("/").build();
    let upload = docker.upload_to_container(
        container.id(),
        Some(options),
        testcontainers::bollard::body_full(tar.into()),
    );
    tokio::time::timeout(super::DOCKER_TIMEOUT, upload)
        .await
        .map_err(|_| failed(format!("no answer within {:?}", super::DOCKER_TIMEOUT)))?
        .map_err(|e| failed(e.to_string()))
}
