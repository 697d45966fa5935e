//! Which services a stack starts, from which config, with what overrides,
//! and its start.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::Result;
use crate::mail::MailSink;
use crate::oathkeeper::Upstreams;
use crate::ports::Ports;
use crate::postgres::Postgres;
use crate::service::{Endpoints, Service, Tuning};

use super::DEFAULT_READY_TIMEOUT;
use super::containers::{Spec, StackWide, Store, confine, reserve, stack_id, start_service};
use super::files::Written;
use super::running::OryStack;
use super::{sqlite, template};

/// Configures which services to start, from which config, with what
/// overrides. Built by [`OryStack::builder`].
#[derive(Debug)]
pub struct OryStackBuilder {
    services: BTreeMap<Service, Spec>,
    tuning: Tuning,
    ready_timeout: Duration,
    /// Where the services keep their data, when asked rather than by the
    /// tuning.
    storage: Option<Storage>,
    /// The stack lives as long as the process (see
    /// [`OryStackBuilder::for_the_process`]).
    process_lifetime: bool,
    /// Where Oathkeeper's rules send what they let through.
    upstreams: Upstreams,
    /// Give Hydra the ready-made signing keys in every tuning.
    ready_made_keys: bool,
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
            confined: None,
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

    /// Oathkeeper in front of an upstream the harness runs
    /// ([`OryStack::upstream`]), its authenticators, authorizer and error
    /// redirect wired to whichever of Kratos, Hydra and Keto the stack
    /// has. Its rules are the config folder's `rules.json` (an overlay's
    /// replaces it), each upstream `http://upstream.orygate.test` pointed
    /// at the harness's.
    #[must_use]
    pub fn with_oathkeeper(self) -> Self {
        self.with(Service::Oathkeeper)
    }

    /// A team's config, whose apps and services are not on this machine:
    /// nothing a service calls leaves it. Kratos' and Hydra's web and
    /// token hooks go to a recorder of the stack's
    /// ([`OryStack::hooks`]), their courier to its mail sink, anything
    /// else they would call to a closed loopback port, tracing and
    /// Kratos' leaked-password lookup off ([`crate::confine`]; what
    /// changed is in [`OryStack::confined`]); every Oathkeeper rule's
    /// upstream goes to the harness's app, not only the placeholder's
    /// (see [`Upstreams::Every`]), and its handlers' URLs to the stack.
    #[must_use]
    pub fn confined(mut self) -> Self {
        self.upstreams = Upstreams::Every;
        self
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

    /// Runs the services tuned as `tuning` (by default [`Tuning::Dev`]).
    #[must_use]
    pub fn tuning(mut self, tuning: Tuning) -> Self {
        self.tuning = tuning;
        self
    }

    /// Gives Hydra ready-made RSA 2048 signing keys before it counts as
    /// ready, in every tuning, instead of letting the measured and
    /// production-like stacks make their own (RSA 4096, about 2 CPU
    /// seconds a set here): for tests that are not about key generation.
    /// The keys are public in this repository: never trust them anywhere
    /// else.
    #[must_use]
    pub fn ready_made_keys(mut self) -> Self {
        self.ready_made_keys = true;
        self
    }

    /// Keeps the services' data out of PostgreSQL when tuned for load or
    /// production too: in memory under load, as Ory's own published
    /// benchmarks run them (fast, but concurrent writes fail there, see
    /// [`Tuning::Load`]); in the production-like tuning, in the dev
    /// tuning's fresh stores.
    #[must_use]
    pub fn in_memory(mut self) -> Self {
        self.storage = Some(Storage::Memory);
        self
    }

    /// Keeps the services' data in a PostgreSQL the stack starts, in the
    /// dev tuning too: for a stack that several tests use at once, since
    /// the dev stores refuse concurrent writes or make them wait.
    #[must_use]
    pub fn postgres(mut self) -> Self {
        self.storage = Some(Storage::Postgres);
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

    /// The app behind Oathkeeper, started, and Oathkeeper's rules pointed
    /// at it; `None` without Oathkeeper. The confined config it wrote, if
    /// any, is pushed to `written`.
    async fn oathkeepers_app(
        &mut self,
        peers: &BTreeMap<Service, Endpoints>,
        id: &str,
        written: &mut Vec<Written>,
    ) -> Result<Option<std::sync::Arc<crate::WebhookSink>>> {
        let Some(spec) = self.services.get_mut(&Service::Oathkeeper) else {
            return Ok(None);
        };
        let app = crate::WebhookSink::start().await?;
        written.extend(super::oathkeeper::rules(
            spec,
            self.upstreams,
            &app,
            peers,
            id,
        )?);
        Ok(Some(std::sync::Arc::new(app)))
    }

    /// With [`OryStackBuilder::confined`], the recorder of Kratos' and
    /// Hydra's hooks, started (answering 204, no changes), and Kratos',
    /// Hydra's and Keto's configs confined (what changed, by service).
    async fn confine(
        &mut self,
        id: &str,
    ) -> Result<(
        Option<std::sync::Arc<crate::WebhookSink>>,
        BTreeMap<Service, Vec<String>>,
        Vec<Written>,
    )> {
        let mut changed = BTreeMap::new();
        let mut written = Vec::new();
        if self.upstreams != Upstreams::Every {
            return Ok((None, changed, written));
        }
        let hooked = [Service::Kratos, Service::Hydra];
        let hooks = if hooked.iter().any(|s| self.services.contains_key(s)) {
            let hooks = crate::WebhookSink::start().await?;
            // No changes: a token hook's 200 would replace the tokens'
            // claims with its body, a web hook's 204 leaves the identity.
            hooks.reply_with(crate::webhook::Reply {
                status: 204,
                body: String::new(),
                delay: Duration::ZERO,
            });
            Some(hooks)
        } else {
            None
        };
        let recorder = hooks.as_ref().map_or_else(
            || url::Url::parse(crate::confine::NOWHERE).expect("a URL"),
            |h| h.url(""),
        );
        for service in [Service::Kratos, Service::Hydra, Service::Keto] {
            if let Some(spec) = self.services.get_mut(&service) {
                let (lines, folder) = confine(id, service, spec, &recorder)?;
                changed.insert(service, lines);
                written.push(folder);
            }
        }
        Ok((hooks.map(std::sync::Arc::new), changed, written))
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
        let docker = crate::prepare::ready(&self.needs()).await?;
        let mail = if self.services.contains_key(&Service::Kratos) {
            Some(MailSink::start().await?)
        } else {
            None
        };
        let id = stack_id(self.process_lifetime);
        let certificates = if self.tuning == Tuning::Production {
            Some(crate::certs::StackCertificates::generate(&id)?)
        } else {
            None
        };
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
            .map(|(service, p)| (*service, Endpoints::local(*service, p.all(), self.tuning)))
            .collect();
        let (hooks, confined, mut written) = self.confine(&id).await?;
        let upstream = self.oathkeepers_app(&peers, &id, &mut written).await?;

        // The load tuning keeps every service's data in PostgreSQL, a
        // database each.
        let databases: Vec<Service> = Service::ALL
            .into_iter()
            .filter(|s| self.wants_postgres() && self.services.contains_key(s))
            .collect();
        let wide = StackWide {
            id: &id,
            tuning: self.tuning,
            smtp,
            ready_timeout: self.ready_timeout,
            peers: &peers,
            certificates: certificates.as_ref(),
            ready_made_keys: self.ready_made_keys,
        };
        let (postgres, migrated) =
            Box::pin(self.databases(&docker, wide, &databases, &ports)).await?;
        let dsns: BTreeMap<Service, String> = databases
            .iter()
            .filter_map(|s| postgres.as_ref().map(|p| (*s, p.dsn(s.name()))))
            .collect();
        let files = Box::pin(sqlite::files(&docker, &wide, &self.services, &dsns, &ports)).await?;

        // Start every service and wait for all of them, even after one
        // failed: a container whose start was cut short would be left behind.
        let attempts = futures::future::join_all(self.services.iter().map(|(service, spec)| {
            let store = match (dsns.get(service), files.get(service)) {
                (Some(dsn), _) => Store::Postgres { dsn, migrated },
                (None, Some(file)) => Store::Sqlite(file),
                (None, None) => Store::Memory,
            };
            let own = ports
                .remove(service)
                .expect("every service's ports were chosen");
            start_service(wide, *service, spec, own, store)
        }))
        .await;
        // The confined configs were copied into the containers' folders.
        drop(written);
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
            upstream,
            hooks,
            confined,
            certificates,
            tuning: self.tuning,
            smtp,
            peers,
            ready_timeout: self.ready_timeout,
            ready_made_keys: self.ready_made_keys,
            postgres,
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

impl OryStackBuilder {
    /// A PostgreSQL with a database for each of `databases` (none if
    /// empty), and whether they are migrated already (copied from a
    /// template).
    async fn databases(
        &self,
        docker: &testcontainers::bollard::Docker,
        wide: StackWide<'_>,
        databases: &[Service],
        ports: &BTreeMap<Service, Ports>,
    ) -> Result<(Option<Postgres>, bool)> {
        if databases.is_empty() {
            return Ok((None, false));
        }
        let template = template::postgres(docker, wide, &self.services, databases, ports).await?;
        let postgres = Postgres::start_from(wide.id, template.as_deref()).await?;
        if template.is_none() {
            for service in databases {
                postgres.create_database(service.name()).await?;
            }
        }
        Ok((Some(postgres), template.is_some()))
    }

    /// The images and programs the stack needs on this machine.
    fn needs(&self) -> crate::prepare::Needs<'_> {
        crate::prepare::Needs {
            images: self
                .services
                .iter()
                .map(|(service, spec)| (*service, spec.tag.as_str()))
                .collect(),
            postgres: self.wants_postgres(),
        }
    }

    /// Whether the services keep their data in a PostgreSQL the stack
    /// starts: tuned for load or production unless asked to keep it in
    /// memory, or asked for.
    fn wants_postgres(&self) -> bool {
        match self.storage {
            Some(storage) => storage == Storage::Postgres,
            None => self.tuning != Tuning::Dev,
        }
    }
}

/// Where a stack's services keep their data, when the builder was told
/// ([`OryStackBuilder::in_memory`], [`OryStackBuilder::postgres`]; the
/// last call wins) rather than left to the tuning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Storage {
    Memory,
    Postgres,
}

impl OryStack {
    /// A builder for a stack: add services, then [`OryStackBuilder::start`].
    pub fn builder() -> OryStackBuilder {
        OryStackBuilder {
            services: BTreeMap::new(),
            tuning: Tuning::default(),
            ready_timeout: DEFAULT_READY_TIMEOUT,
            storage: None,
            ready_made_keys: false,
            process_lifetime: false,
            upstreams: Upstreams::default(),
        }
    }
}
