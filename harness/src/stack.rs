//! [`OryStack`]: a set of Ory services in containers, owned by one value.
//!
//! Every container runs with host networking and listens on 127.0.0.1 at
//! ports picked here. Dropping the stack removes every container it started,
//! also when a test panics.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use testcontainers::CopyTargetOptions;
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};

use crate::error::{Error, Result};
use crate::hydra::Hydra;
use crate::keto::Keto;
use crate::kratos::Kratos;
use crate::logs::{self, Telemetry};
use crate::mail::{MailSink, Mailbox, Mailboxes};
use crate::ports::Ports;
use crate::postgres::Postgres;
use crate::service::{Endpoints, Profile, Service};

/// Label put on every container a stack starts; its value is the stack id.
pub const STACK_LABEL: &str = "dev.orygate.stack";

/// The longest the harness waits for the image check and for a container
/// to be created and started.
pub const DOCKER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a service may take to answer its readiness probe by default.
pub const DEFAULT_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// Configures which services to start, from which config, with what
/// overrides. Built by [`OryStack::builder`].
#[derive(Debug)]
pub struct OryStackBuilder {
    services: BTreeMap<Service, Spec>,
    profile: Profile,
    ready_timeout: Duration,
    /// Keep the load profile's data in memory rather than PostgreSQL.
    in_memory: bool,
    /// Keep the data in PostgreSQL in the dev profile too.
    postgres: bool,
    /// The stack lives as long as the process (see
    /// [`OryStackBuilder::for_the_process`]).
    process_lifetime: bool,
}

#[derive(Debug)]
struct Spec {
    config_dir: PathBuf,
    tag: String,
    env: Vec<(String, String)>,
    /// Ports reserved by the caller instead of picked here.
    ports: Option<Ports>,
    /// Folders whose config file is merged over the main one, in order.
    overlays: Vec<PathBuf>,
}

impl Spec {
    /// Each overlay folder and where it is copied in the container.
    fn overlay_dirs(&self, service: Service) -> Vec<(PathBuf, String)> {
        self.overlays
            .iter()
            .map(|dir| {
                let name = dir
                    .file_name()
                    .map_or_else(|| "overlay".into(), |n| n.to_string_lossy().into_owned());
                (dir.clone(), service.overlay_dir(&name))
            })
            .collect()
    }

    /// The overlays' config files in the container, for `-c`.
    fn overlay_files(&self, service: Service) -> Vec<String> {
        self.overlay_dirs(service)
            .into_iter()
            .map(|(_, inside)| format!("{inside}/{}", service.config_file()))
            .collect()
    }
}

impl OryStackBuilder {
    /// Adds a service with its config from `ory/<service>/`.
    #[must_use]
    pub fn with(mut self, service: Service) -> Self {
        self.spec(service);
        self
    }

    /// The settings of `service`, added with its defaults if it was not.
    fn spec(&mut self, service: Service) -> &mut Spec {
        self.services.entry(service).or_insert_with(|| Spec {
            config_dir: service.default_config_dir(),
            tag: service.tag().to_owned(),
            env: Vec::new(),
            ports: None,
            overlays: Vec::new(),
        })
    }

    #[must_use]
    pub fn with_kratos(self) -> Self {
        self.with(Service::Kratos)
    }

    #[must_use]
    pub fn with_hydra(self) -> Self {
        self.with(Service::Hydra)
    }

    #[must_use]
    pub fn with_keto(self) -> Self {
        self.with(Service::Keto)
    }

    /// Kratos, Hydra and Keto.
    #[must_use]
    pub fn with_all(self) -> Self {
        Service::ALL.into_iter().fold(self, Self::with)
    }

    /// Runs `service` from another config folder (it must hold the same file
    /// names as `ory/<service>/`). Adds the service if it was not added.
    #[must_use]
    pub fn config_dir(mut self, service: Service, dir: impl Into<PathBuf>) -> Self {
        self.spec(service).config_dir = dir.into();
        self
    }

    /// Runs `service` from another tag of its image than the pinned one
    /// (for example to try a newer release).
    #[must_use]
    pub fn image_tag(mut self, service: Service, tag: impl Into<String>) -> Self {
        self.spec(service).tag = tag.into();
        self
    }

    /// Sets one of Ory's environment overrides (for example
    /// `SELFSERVICE_FLOWS_REGISTRATION_ENABLED=false`) on top of the
    /// harness's own.
    #[must_use]
    pub fn env(
        mut self,
        service: Service,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        self.spec(service).env.push((key.into(), value.into()));
        self
    }

    /// Merges the folder `overlay` over `service`'s config: its config file
    /// (`kratos.yml`, ...) is passed after the main one (Ory merges its `-c`
    /// files in order, the last one winning), and the folder is copied to
    /// `/etc/config/<service>/overlays/<folder name>/`, where its config can
    /// name other files of it (an identity schema). E.g. the short lifespans
    /// of `fixtures/kratos/short-lifespans/`. Adds the service if it was not
    /// added.
    #[must_use]
    pub fn overlay(mut self, service: Service, overlay: impl Into<PathBuf>) -> Self {
        self.spec(service).overlays.push(overlay.into());
        self
    }

    /// Runs `service` on these reserved ports of 127.0.0.1 instead of
    /// free ones (`Ports::fixed` for a UI configured with fixed URLs): as
    /// many as it listens on, in its order (Kratos and Hydra: public,
    /// admin; Keto: read, write, metrics, OPL). If something else holds
    /// one, the start fails saying who.
    #[must_use]
    pub fn ports(mut self, service: Service, ports: Ports) -> Self {
        self.spec(service).ports = Some(ports);
        self
    }

    /// Runs the services in `profile` (by default [`Profile::Dev`]).
    #[must_use]
    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    /// Keeps the services' data in their in-memory stores in the load
    /// profile too (no PostgreSQL), as Ory's own published benchmarks run
    /// them: fast, but concurrent writes fail there (see [`Profile::Load`]).
    #[must_use]
    pub fn in_memory(mut self) -> Self {
        self.in_memory = true;
        self
    }

    /// Keeps the services' data in a PostgreSQL the stack starts, in the
    /// dev profile too: for a stack that several tests use at once, since
    /// the in-memory stores fail concurrent writes.
    #[must_use]
    pub fn postgres(mut self) -> Self {
        self.postgres = true;
        self
    }

    /// Marks the stack as one that lives as long as the process (shared by
    /// a test binary's tests and never dropped): its containers carry the
    /// label `dev.orygate.lifetime=process`, and the harness's watcher,
    /// which removes them when the process ends, notes them as such
    /// rather than as left behind.
    #[must_use]
    pub fn for_the_process(mut self) -> Self {
        self.process_lifetime = true;
        self
    }

    /// How long each service may take to become ready.
    #[must_use]
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the services together and waits until each is ready.
    ///
    /// Fails fast, with the end of the service's log, when a service exits
    /// (Ory exits on a config it rejects); fails with the same log when the
    /// deadline passes.
    pub async fn start(mut self) -> Result<OryStack> {
        let started = Instant::now();
        for (service, spec) in &self.services {
            crate::config::check(*service, &spec.config_dir, &spec.overlays)?;
        }
        let needs = crate::prepare::Needs {
            images: self
                .services
                .iter()
                .map(|(service, spec)| (*service, spec.tag.as_str()))
                .collect(),
            postgres: (self.profile == Profile::Load && !self.in_memory) || self.postgres,
        };
        crate::prepare::ready(&needs).await?;
        let mail = if self.services.contains_key(&Service::Kratos) {
            Some(MailSink::start().await?)
        } else {
            None
        };
        let id = stack_id(self.process_lifetime);
        // Removes this process's containers if it dies without dropping
        // the stack.
        crate::reaper::watch();
        let smtp = mail.as_ref().map(|m| m.addr().port());
        // Every port of the stack first: each service's environment names
        // the others' (Kratos as Hydra's login provider, Hydra's admin API
        // for Kratos).
        let mut ports = BTreeMap::new();
        for (service, spec) in &mut self.services {
            ports.insert(*service, reserve(*service, spec.ports.take())?);
        }
        let peers: BTreeMap<Service, Endpoints> = ports
            .iter()
            .map(|(service, p)| (*service, Endpoints::local(*service, p.all())))
            .collect();

        // The load profile keeps every service's data in PostgreSQL, a
        // database each.
        let databases: Vec<Service> = Service::ALL
            .into_iter()
            .filter(|s| {
                let wanted = (self.profile == Profile::Load && !self.in_memory) || self.postgres;
                wanted && self.services.contains_key(s)
            })
            .collect();
        let postgres = if databases.is_empty() {
            None
        } else {
            let postgres = Postgres::start(&id).await?;
            for service in &databases {
                postgres.create_database(service.name()).await?;
            }
            Some(postgres)
        };
        let dsns: BTreeMap<Service, String> = databases
            .iter()
            .filter_map(|s| postgres.as_ref().map(|p| (*s, p.dsn(s.name()))))
            .collect();

        // Start every service and wait for all of them, even after one
        // failed: a container whose start was cut short would be left behind.
        let attempts = futures::future::join_all(self.services.iter().map(|(service, spec)| {
            let database = dsns.get(service).map(String::as_str);
            let own = ports
                .remove(service)
                .expect("every service's ports were chosen");
            let wide = StackWide {
                id: &id,
                profile: self.profile,
                smtp,
                ready_timeout: self.ready_timeout,
                peers: &peers,
            };
            start_service(wide, *service, spec, own, database)
        }))
        .await;
        let mut services = BTreeMap::new();
        let mut first_error = None;
        for attempt in attempts {
            match attempt {
                Ok(running) => {
                    services.insert(running.service, running);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        let stack = OryStack {
            id,
            services,
            mail,
            _postgres: postgres,
        };
        if let Some(e) = first_error {
            return Err(e);
        }
        tracing::info!(
            stack = %stack.id,
            services = ?stack.services.keys().collect::<Vec<_>>(),
            elapsed_ms = started.elapsed().as_millis(),
            "ory stack ready"
        );
        Ok(stack)
    }
}

/// A running set of Ory services. Dropping it removes the containers.
#[derive(Debug)]
pub struct OryStack {
    id: String,
    services: BTreeMap<Service, Running>,
    mail: Option<MailSink>,
    /// The load profile's database; dropped after the services' containers
    /// (fields drop in order).
    _postgres: Option<Postgres>,
}

#[derive(Debug)]
struct Running {
    service: Service,
    container: ContainerAsync<GenericImage>,
    ports: Ports,
    endpoints: Endpoints,
}

impl OryStack {
    pub fn builder() -> OryStackBuilder {
        OryStackBuilder {
            services: BTreeMap::new(),
            profile: Profile::default(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            in_memory: false,
            postgres: false,
            process_lifetime: false,
        }
    }

    /// The id in the containers' `dev.orygate.stack` label and names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The base URLs of a running service.
    pub fn endpoints(&self, service: Service) -> Option<&Endpoints> {
        self.services.get(&service).map(|r| &r.endpoints)
    }

    /// Every port a running service listens on (Keto: read, write,
    /// metrics and OPL).
    pub fn ports(&self, service: Service) -> Option<&[u16]> {
        self.services.get(&service).map(|r| r.ports.all())
    }

    /// Kratos' public and admin APIs. Panics if Kratos was not started.
    pub fn kratos(&self) -> Kratos {
        let e = self.expect(Service::Kratos);
        Kratos::new(e.public.clone(), e.admin.clone())
    }

    /// Hydra's public and admin APIs. Panics if Hydra was not started.
    pub fn hydra(&self) -> Hydra {
        let e = self.expect(Service::Hydra);
        Hydra::new(e.public.clone(), e.admin.clone())
    }

    /// Keto's read and write APIs. Panics if Keto was not started.
    pub fn keto(&self) -> Keto {
        let e = self.expect(Service::Keto);
        let keto = Keto::new(e.public.clone(), e.admin.clone());
        match self.ports(Service::Keto).and_then(|p| p.get(3)) {
            Some(opl) => keto.with_opl(
                url::Url::parse(&format!("http://127.0.0.1:{opl}/")).expect("a loopback URL"),
            ),
            None => keto,
        }
    }

    /// The mailbox of one address at the stack's SMTP sink. Panics if Kratos
    /// (and so the sink) was not started.
    pub fn mailbox(&self, address: &str) -> Mailbox {
        self.mail
            .as_ref()
            .expect("the stack has a mail sink only when Kratos runs")
            .mailbox(address)
    }

    /// Opens mailboxes at the stack's SMTP sink from code that cannot keep
    /// a borrow of the stack (a load run's users); `None` without Kratos.
    pub fn mailboxes(&self) -> Option<Mailboxes> {
        self.mail.as_ref().map(MailSink::mailboxes)
    }

    /// Kills a service's container (`docker kill`, no grace period), to see
    /// what a run does when a service dies under it. The stack still
    /// removes the container when it is dropped.
    pub async fn kill(&self, service: Service) -> Result<()> {
        let running = self.services.get(&service).ok_or_else(|| Error::Docker {
            reason: format!("kill {service}: it is not part of this stack"),
        })?;
        tokio::time::timeout(DOCKER_TIMEOUT, running.container.stop_with_timeout(Some(0)))
            .await
            .map_err(|_| Error::Docker {
                reason: format!("kill {service}: no answer within {DOCKER_TIMEOUT:?}"),
            })?
            .map_err(|e| Error::Docker {
                reason: format!("kill {service}: {e}"),
            })
    }

    /// The last `lines` lines a service logged.
    pub async fn log_tail(&self, service: Service, lines: usize) -> String {
        match self.services.get(&service) {
            Some(r) => logs::tail(&r.container, lines).await,
            None => format!("({service} is not part of this stack)"),
        }
    }

    /// The last `lines` warnings, errors and audit records a service
    /// logged, one short line each (the plain tail if there are none).
    pub async fn warnings(&self, service: Service, lines: usize) -> String {
        match self.services.get(&service) {
            Some(r) => logs::relevant(&r.container, lines).await,
            None => format!("({service} is not part of this stack)"),
        }
    }

    /// What each service's log says of Ory's usage telemetry: every
    /// service here runs with it off, and a test holds the harness to that.
    pub async fn telemetry(&self) -> Vec<(Service, Telemetry)> {
        let mut states = Vec::new();
        for (service, running) in &self.services {
            states.push((
                *service,
                logs::telemetry(&logs::read(&running.container, None).await),
            ));
        }
        states
    }

    /// Appends the end of the log of the service a failed step talked to
    /// (steps are named `<service> <METHOD> <path>`) to the error's message.
    pub async fn explain(&self, error: &Error) -> String {
        let service = match error {
            // Mail is sent by Kratos' courier: its log says why none came.
            Error::MailTimeout { .. } | Error::Mail { .. } => Some(Service::Kratos),
            _ => error.step().and_then(|step| {
                Service::ALL
                    .into_iter()
                    .find(|s| step.starts_with(s.name()))
            }),
        };
        match service {
            Some(service) => match self.services.get(&service) {
                Some(running) => format!(
                    "{error}\n--- {service}'s last warnings, errors and audit records ---\n{}",
                    logs::relevant(&running.container, 15).await
                ),
                None => error.to_string(),
            },
            _ => error.to_string(),
        }
    }

    /// Stops and removes every container now and reports a removal that
    /// failed. Dropping the stack removes them too, as synchronously, but
    /// can only log a failure. Each Docker call is bounded by the Docker
    /// client's own two-minute timeout.
    pub async fn stop(mut self) -> Result<()> {
        let services = std::mem::take(&mut self.services);
        let mut first_error = None;
        for (
            service,
            Running {
                container, ports, ..
            },
        ) in services
        {
            let removed = container.rm().await;
            // The reservation ends once the container is gone.
            drop(ports);
            if let Err(e) = removed {
                first_error.get_or_insert(Error::Remove {
                    service,
                    reason: e.to_string(),
                });
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    fn expect(&self, service: Service) -> &Endpoints {
        self.endpoints(service)
            .unwrap_or_else(|| panic!("{service} is not part of this stack"))
    }
}

/// What every service of one stack starts with.
#[derive(Debug, Clone, Copy)]
struct StackWide<'a> {
    id: &'a str,
    profile: Profile,
    smtp: Option<u16>,
    ready_timeout: Duration,
    /// Where every service of the stack listens.
    peers: &'a BTreeMap<Service, Endpoints>,
}

/// The ports `service` listens on: those the caller reserved (as many as
/// it needs) or free ones.
fn reserve(service: Service, given: Option<Ports>) -> Result<Ports> {
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

async fn start_service(
    wide: StackWide<'_>,
    service: Service,
    spec: &Spec,
    ports: Ports,
    database: Option<&str>,
) -> Result<Running> {
    let StackWide {
        id: stack,
        profile,
        smtp,
        ready_timeout,
        peers,
    } = wide;
    let mut env = service.env(profile, ports.all(), smtp);
    env.extend(service.peer_env(peers));
    for (key, value) in &spec.env {
        env.retain(|(k, _)| k != key);
        env.push((key.clone(), value.clone()));
    }
    if let Some(dsn) = database {
        env.retain(|(k, _)| k != "DSN");
        env.push(("DSN".into(), dsn.to_owned()));
        let migrate = container_request(stack, service, spec, &env, "migrate")
            .with_cmd(service.migrate_command(&spec.overlay_files(service)));
        tracing::debug!(%service, stack, "migrating the database");
        migrate_once(service, migrate, ready_timeout).await?;
    }
    let request = container_request(stack, service, spec, &env, "")
        .with_cmd(service.command(&spec.overlay_files(service)));
    tracing::debug!(%service, stack, ports = ?ports.all(), profile = ?profile, "creating and starting the container");
    let container = run_container(service, "start", request).await?;
    tracing::debug!(%service, id = container.id(), "container started");
    // On an error the container is dropped (removed) before the ports.
    crate::ready::wait(service, &container, &ports, ready_timeout).await?;
    Ok(Running {
        service,
        container,
        endpoints: Endpoints::local(service, ports.all()),
        ports,
    })
}

/// A container of `service` for this stack, with its config and `env`;
/// `role` names a helper container (`migrate`) apart from the service's.
fn container_request(
    stack: &str,
    service: Service,
    spec: &Spec,
    env: &[(String, String)],
    role: &str,
) -> testcontainers::ContainerRequest<GenericImage> {
    let name = if role.is_empty() {
        format!("orygate-{stack}-{service}")
    } else {
        format!("orygate-{stack}-{service}-{role}")
    };
    let mut request = GenericImage::new(service.image(), spec.tag.clone())
        .with_network("host")
        .with_container_name(name)
        .with_label(STACK_LABEL, stack)
        .with_label(crate::reaper::OWNER_LABEL, crate::reaper::owner())
        .with_label("dev.orygate.service", service.name())
        .with_copy_to(
            CopyTargetOptions::new(service.container_config_dir()),
            spec.config_dir.clone(),
        );
    for (dir, inside) in spec.overlay_dirs(service) {
        request = request.with_copy_to(CopyTargetOptions::new(inside), dir);
    }
    if let Some(run) = crate::reaper::run() {
        request = request.with_label(crate::reaper::RUN_LABEL, run);
    }
    if stack.ends_with("-process") {
        request = request.with_label(crate::reaper::LIFETIME_LABEL, "process");
    }
    for (key, value) in env {
        request = request.with_env_var(key, value);
    }
    request
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

/// Runs the service's database migration to completion; a non-zero exit
/// fails with the migration's log. The container is removed either way.
async fn migrate_once(
    service: Service,
    request: testcontainers::ContainerRequest<GenericImage>,
    timeout: Duration,
) -> Result<()> {
    let container = run_container(service, "migrate", request).await?;
    let deadline = Instant::now() + timeout;
    while container.is_running().await.unwrap_or(false) {
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                service,
                url: "its database migration".into(),
                timeout,
                last: "still running".into(),
                log: logs::tail(&container, 30).await,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    match container.exit_code().await.ok().flatten() {
        Some(0) => Ok(()),
        code => Err(Error::Exited {
            service,
            code: code.unwrap_or(-1),
            log: format!(
                "(its database migration)\n{}",
                logs::tail(&container, 30).await
            ),
        }),
    }
}

/// `<pid>-<n>-<random>`: the pid first, so a cleanup can tell a live run's
/// containers from a dead one's; the random part keeps names unique when a
/// pid comes round again. A stack for the life of the process ends in
/// `-process` (its database folder too, which is how the watcher knows it).
fn stack_id(process_lifetime: bool) -> String {
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
