//! The store of a dev or production-like stack without PostgreSQL: Kratos'
//! and Hydra's data in a SQLite file in the container's config folder
//! (mounted from this machine), a copy of one
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
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use testcontainers::ImageExt;
use testcontainers::bollard::Docker;

use crate::error::{Error, Result};
use crate::ports::Ports;
use crate::service::{Service, Tuning};

use super::containers::{Spec, StackWide, container_request, migrate_once, service_env};
use super::files::{Written, sqlite_dsn, sqlite_staged, write_sqlite};
use super::template;

/// The migrated file of Kratos and Hydra (of `services`) outside
/// PostgreSQL (`postgres`), unless tuned for load (its `in_memory` is
/// Ory's `DSN=memory`), given a `DSN` of the caller's, or another process
/// is making it (or it cannot be made: said at warning level); those keep
/// `DSN=memory`. Keto migrates in milliseconds and answers deep checks
/// faster in memory: it keeps `DSN=memory`.
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
        let own_dsn = spec.env.iter().any(|(key, _)| key == "DSN");
        if !matches!(service, Service::Kratos | Service::Hydra)
            || postgres.contains_key(service)
            || own_dsn
        {
            continue;
        }
        // A template that cannot be made or shared here is no reason to
        // fail the stack: it runs its migrations in memory, as before.
        match template(docker, wide, *service, spec, &ports[service]).await {
            Ok(Some(file)) => {
                files.insert(*service, file);
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(%service, error = %e, "no migrated SQLite file: DSN=memory"),
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
    let what = "the migration of its SQLite template";
    let container = migrate_once(service, what, request, wide.ready_timeout).await?;
    drop(container);
    // Copied beside the template, then renamed: no process sees it half
    // written (the staged folder may be on another filesystem).
    let dest = template::file(&claim);
    let partial = dest.with_extension("partial");
    // Read-only to others: every stack of every user starts from it.
    std::fs::copy(sqlite_staged(&staged), &partial)
        .and_then(|_| std::fs::set_permissions(&partial, std::fs::Permissions::from_mode(0o644)))
        .and_then(|()| std::fs::rename(&partial, &dest))
        .map_err(|e| Error::io(format!("keep {}", dest.display()), e))?;
    tracing::info!(%key, elapsed_ms = started.elapsed().as_millis(), "migrated SQLite file kept");
    Ok(Some(dest))
}

/// Puts the migrated file back into a service's folder `files` (its
/// container stopped), as a restart of a service whose data is in memory
/// finds nothing of it.
pub(super) fn reset(files: &Written, template: &Path) -> Result<()> {
    let file = sqlite_staged(files);
    write_sqlite(&file, Some(template)).map_err(|e| {
        Error::io(
            format!("put {} back as {}", template.display(), file.display()),
            e,
        )
    })
}
