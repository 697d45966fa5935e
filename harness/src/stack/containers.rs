//! One service's container: its spec, its ports, its request to Docker,
//! its migration and start.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use testcontainers::core::Mount;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::error::{Error, Result};
use crate::logs::{self};
use crate::ports::Ports;
use crate::service::{Endpoints, Service, Tuning};

use super::files::{STACK_CA_FILE, Written, sqlite_dsn, stage};
use super::{DOCKER_TIMEOUT, STACK_LABEL};

#[derive(Debug)]
pub(super) struct Spec {
    pub(super) config_dir: PathBuf,
    pub(super) tag: String,
    pub(super) env: Vec<(String, String)>,
    /// Ports reserved by the caller instead of picked here.
    pub(super) ports: Option<Ports>,
    /// Folders whose config file is merged over the main one, in order.
    pub(super) overlays: Vec<PathBuf>,
    /// A team's config with nothing it calls off this machine, merged
    /// over all of them (see [`confine`]); the folder is removed once the
    /// container has its copy.
    pub(super) confined: Option<PathBuf>,
}

impl Spec {
    /// The same settings, the ports left to whoever reserved them.
    pub(super) fn without_ports(&self) -> Self {
        Self {
            config_dir: self.config_dir.clone(),
            tag: self.tag.clone(),
            env: self.env.clone(),
            ports: None,
            overlays: self.overlays.clone(),
            confined: self.confined.clone(),
        }
    }

    /// Each overlay folder and where it is copied in the container.
    fn overlay_dirs(&self, service: Service) -> Vec<(PathBuf, String)> {
        self.overlays
            .iter()
            .chain(&self.confined)
            .map(|dir| {
                let name = dir
                    .file_name()
                    .map_or_else(|| "overlay".into(), |n| n.to_string_lossy().into_owned());
                (dir.clone(), service.overlay_dir(&name))
            })
            .collect()
    }

    /// The overlays' config files in the container, for `-c`.
    pub(super) fn overlay_files(&self, service: Service) -> Vec<String> {
        self.overlay_dirs(service)
            .into_iter()
            .map(|(_, inside)| format!("{inside}/{}", service.config_file()))
            .collect()
    }
}

/// Writes `service`'s merged config (the folder's and its overlays'), with
/// nothing it calls off this machine ([`crate::confine::service_config`],
/// hooks sent to `hooks`), to a folder of its own, merged last. Returns
/// what changed, and the folder.
pub(super) fn confine(
    stack: &str,
    service: Service,
    spec: &mut Spec,
    hooks: &url::Url,
) -> Result<(Vec<String>, Written)> {
    let files: Vec<PathBuf> = std::iter::once(&spec.config_dir)
        .chain(&spec.overlays)
        .map(|dir| dir.join(service.config_file()))
        .filter(|file| file.is_file())
        .collect();
    let mut config = crate::merged_config(&files).map_err(|reason| Error::Config {
        path: spec.config_dir.display().to_string(),
        reason,
    })?;
    let changed = crate::confine::service_config(service, &mut config, hooks)?;
    let dir = confined_dir(stack, service);
    let failed = |reason: String| Error::Config {
        path: dir.display().to_string(),
        reason,
    };
    std::fs::create_dir_all(&dir).map_err(|e| failed(e.to_string()))?;
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| failed(e.to_string()))?;
    std::fs::write(dir.join(service.config_file()), yaml).map_err(|e| failed(e.to_string()))?;
    spec.confined = Some(dir.clone());
    if !changed.is_empty() {
        tracing::info!(%service, ?changed, "config: calls off this machine confined");
    }
    Ok((changed, Written(dir)))
}

/// Where [`confine`] writes `service`'s config for `stack`.
fn confined_dir(stack: &str, service: Service) -> PathBuf {
    std::env::temp_dir().join(format!("orygate-{stack}-{service}-confined"))
}

/// What every service of one stack starts with.
#[derive(Debug, Clone, Copy)]
pub(super) struct StackWide<'a> {
    pub(super) id: &'a str,
    pub(super) tuning: Tuning,
    pub(super) smtp: Option<u16>,
    pub(super) ready_timeout: Duration,
    /// Where every service of the stack listens.
    pub(super) peers: &'a BTreeMap<Service, Endpoints>,
    /// The production-like tuning's certificates.
    pub(super) certificates: Option<&'a crate::certs::StackCertificates>,
    /// Hydra is given ready-made signing keys in every tuning.
    pub(super) ready_made_keys: bool,
}

/// The ports `service` listens on: those the caller reserved (as many as
/// it needs) or free ones.
pub(super) fn reserve(service: Service, given: Option<Ports>) -> Result<Ports> {
    match given {
        Some(given) if given.all().len() == service.port_count() => Ok(given),
        Some(given) => Err(Error::Config {
            path: format!("the ports of {service}"),
            reason: format!(
                "{} given, {service} listens on {}",
                given.all().len(),
                service.port_count()
            ),
        }),
        None => Ports::take(service.port_count()),
    }
}

/// The environment `service`'s containers run with: the tuning's, the
/// peers', the caller's overrides, and `dsn` as its database.
pub(super) fn service_env(
    wide: &StackWide<'_>,
    service: Service,
    spec: &Spec,
    ports: &Ports,
    dsn: Option<&str>,
) -> Vec<(String, String)> {
    let server_tls = wide
        .certificates
        .map(|c| (c.server_pem.as_str(), c.server_key_pem.as_str()));
    let mut env = service.env(wide.tuning, ports.all(), wide.smtp, server_tls);
    env.extend(service.peer_env(wide.peers));
    for (key, value) in &spec.env {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    // Oathkeeper calls Kratos' public API, which the production-like
    // tuning serves over TLS: it trusts the stack's CA.
    if let (Some(_), Service::Oathkeeper) = (wide.certificates, service) {
        let ca = format!("{}/{STACK_CA_FILE}", service.container_config_dir());
        env.push(("SSL_CERT_FILE".into(), ca));
    }
    if let Some(dsn) = dsn {
        env.retain(|(k, _)| k != "DSN");
        env.push(("DSN".into(), dsn.to_owned()));
    }
    env
}

/// Runs `service`'s SQL migration against the database `env` names, to
/// completion.
pub(super) async fn migrate(
    wide: &StackWide<'_>,
    service: Service,
    spec: &Spec,
    env: &[(String, String)],
) -> Result<()> {
    let (request, staged) = container_request(wide, service, spec, env, "migrate", None)?;
    let migrate = request.with_cmd(service.migrate_command(&spec.overlay_files(service)));
    tracing::debug!(%service, stack = wide.id, "migrating the database");
    let migrated = migrate_once(
        service,
        "its database migration",
        migrate,
        wide.ready_timeout,
    )
    .await
    .map(drop);
    drop(staged);
    migrated
}

/// Where a service keeps its data.
#[derive(Debug, Clone, Copy)]
pub(super) enum Store<'a> {
    /// `DSN=memory` (or no database at all: Oathkeeper).
    Memory,
    /// A copy of this migrated SQLite file (made by the `sqlite` module).
    Sqlite(&'a Path),
    /// A PostgreSQL database, migrated already or not.
    Postgres { dsn: &'a str, migrated: bool },
}

/// Starts `service` and waits until it is ready, its data kept in
/// `store` (a PostgreSQL database migrated first unless it is already).
pub(super) async fn start_service(
    wide: StackWide<'_>,
    service: Service,
    spec: &Spec,
    ports: Ports,
    store: Store<'_>,
) -> Result<Running> {
    let (dsn, sqlite) = match store {
        Store::Memory => (None, None),
        Store::Sqlite(file) => (Some(sqlite_dsn(service)), Some(file)),
        Store::Postgres { dsn, .. } => (Some(dsn.to_owned()), None),
    };
    let env = service_env(&wide, service, spec, &ports, dsn.as_deref());
    if let Store::Postgres {
        migrated: false, ..
    } = store
    {
        migrate(&wide, service, spec, &env).await?;
    }
    let StackWide {
        id: stack,
        tuning,
        ready_timeout,
        ..
    } = wide;
    let (request, staged) = container_request(&wide, service, spec, &env, "", sqlite)?;
    let request = request.with_cmd(service.command(&spec.overlay_files(service), tuning));
    tracing::debug!(%service, stack, ports = ?ports.all(), tuning = ?tuning, "creating and starting the container");
    let container = run_container(service, "start", request).await?;
    tracing::debug!(%service, id = container.id(), "container started");
    // On an error the container is dropped (removed) before the ports.
    crate::ready::wait(
        service,
        &container,
        &ports,
        tuning,
        wide.ready_made_keys,
        ready_timeout,
    )
    .await?;
    Ok(Running {
        service,
        container,
        endpoints: Endpoints::local(service, ports.all(), tuning),
        ports,
        spec: spec.without_ports(),
        sqlite: sqlite.map(Path::to_path_buf),
        files: staged,
    })
}

/// A container of `service` for this stack, with its config and `env`;
/// `role` names a helper container (`migrate`) apart from the service's;
/// `sqlite` is the migrated file it keeps its data in a copy of. Its files
/// are staged in one folder, mounted as its config folder (a copy into a
/// container costs Docker a process of its own per upload); the folder is
/// removed when the returned guard drops, which must outlive the
/// container.
pub(super) fn container_request(
    wide: &StackWide<'_>,
    service: Service,
    spec: &Spec,
    env: &[(String, String)],
    role: &str,
    sqlite: Option<&Path>,
) -> Result<(testcontainers::ContainerRequest<GenericImage>, Written)> {
    let stack = wide.id;
    let name = if role.is_empty() {
        format!("orygate-{stack}-{service}")
    } else {
        format!("orygate-{stack}-{service}-{role}")
    };
    let staged = stage(
        &name,
        service,
        &spec.config_dir,
        &spec.overlay_dirs(service),
        wide.certificates,
        sqlite,
    )?;
    let mut request = GenericImage::new(service.image(), spec.tag.clone())
        .with_network("host")
        .with_container_name(name)
        .with_label(STACK_LABEL, stack)
        .with_label(crate::reaper::OWNER_LABEL, crate::reaper::owner())
        .with_label("dev.orygate.service", service.name())
        .with_mount(Mount::bind_mount(
            staged.0.display().to_string(),
            service.container_config_dir(),
        ));
    if let Some(run) = crate::reaper::run() {
        request = request.with_label(crate::reaper::RUN_LABEL, run);
    }
    if stack.ends_with("-process") {
        request = request.with_label(crate::reaper::LIFETIME_LABEL, "process");
    }
    for (key, value) in env {
        request = request.with_env_var(key, value);
    }
    Ok((request, staged))
}

/// Creates and starts a container of `service` for `what` (`start`,
/// `migrate`), within [`DOCKER_TIMEOUT`].
async fn run_container(
    service: Service,
    what: &str,
    request: testcontainers::ContainerRequest<GenericImage>,
) -> Result<ContainerAsync<GenericImage>> {
    tokio::time::timeout(DOCKER_TIMEOUT, request.start())
        .await
        .map_err(|_| Error::Docker {
            reason: format!("{what} {service}: no answer within {DOCKER_TIMEOUT:?}"),
        })?
        .map_err(|e| Error::Start {
            service,
            source: Box::new(e),
        })
}

/// Runs the service's database migration (`what`, as errors name it) to
/// completion; a non-zero exit fails with the migration's log. The
/// container is removed when the returned one drops, or at once on an
/// error.
pub(super) async fn migrate_once(
    service: Service,
    what: &str,
    request: testcontainers::ContainerRequest<GenericImage>,
    timeout: Duration,
) -> Result<ContainerAsync<GenericImage>> {
    let container = run_container(service, "migrate", request).await?;
    let deadline = Instant::now() + timeout;
    while container.is_running().await.unwrap_or(false) {
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                service,
                url: what.into(),
                timeout,
                last: "still running".into(),
                log: logs::tail(&container, 30).await,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match container.exit_code().await.ok().flatten() {
        Some(0) => Ok(container),
        code => Err(Error::Exited {
            service,
            code: code.unwrap_or(-1),
            log: format!("({what})\n{}", logs::tail(&container, 30).await),
        }),
    }
}

/// `<pid>-<n>-<random>`: the pid first, so a cleanup can tell a live run's
/// containers from a dead one's; the random part keeps names unique when a
/// pid comes round again. A stack for the life of the process ends in
/// `-process` (its database folder too, which is how the watcher knows it).
pub(super) fn stack_id(process_lifetime: bool) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "{}-{}-{:05x}{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        nanos & 0xfffff,
        if process_lifetime { "-process" } else { "" }
    )
}

/// A service of the stack, started.
#[derive(Debug)]
pub(super) struct Running {
    pub(super) service: Service,
    pub(super) container: ContainerAsync<GenericImage>,
    pub(super) ports: Ports,
    pub(super) endpoints: Endpoints,
    /// What it was started from (its ports aside).
    pub(super) spec: Spec,
    /// The migrated SQLite file its data is a copy of, put back on a
    /// restart.
    pub(super) sqlite: Option<PathBuf>,
    /// Its config folder (mounted), removed after the container.
    pub(super) files: Written,
}
