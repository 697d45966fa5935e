//! A running stack: its services' containers, ports and endpoints, its
//! clients, logs and diagnostics, and its removal.

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::hydra::Hydra;
use crate::keto::Keto;
use crate::kratos::Kratos;
use crate::logs::{self, Telemetry};
use crate::mail::{MailSink, Mailbox, Mailboxes};
use crate::postgres::Postgres;
use crate::service::{Endpoints, Service, Tuning};

use super::DOCKER_TIMEOUT;
use super::containers::Running;

/// A running set of Ory services. Dropping it removes the containers.
#[derive(Debug)]
pub struct OryStack {
    pub(super) id: String,
    pub(super) services: BTreeMap<Service, Running>,
    pub(super) mail: Option<MailSink>,
    /// The app behind Oathkeeper, which records what reached it.
    pub(super) upstream: Option<std::sync::Arc<crate::WebhookSink>>,
    /// The recorder of a confined stack's Kratos and Hydra hooks.
    pub(super) hooks: Option<std::sync::Arc<crate::WebhookSink>>,
    /// What confining a team's config changed, by service.
    pub(super) confined: BTreeMap<Service, Vec<String>>,
    /// The production-like tuning's CA and server certificate.
    pub(super) certificates: Option<crate::certs::StackCertificates>,
    /// How the services were started, for their readiness after a restart.
    pub(super) tuning: Tuning,
    /// What a service started again with another config needs of the rest
    /// of the stack.
    pub(super) smtp: Option<u16>,
    pub(super) peers: BTreeMap<Service, Endpoints>,
    pub(super) ready_timeout: std::time::Duration,
    /// Hydra is given ready-made signing keys (see
    /// [`OryStackBuilder::ready_made_keys`](super::OryStackBuilder::ready_made_keys)).
    pub(super) ready_made_keys: bool,
    /// The load tuning's database; dropped after the services' containers
    /// (fields drop in order).
    pub(super) postgres: Option<Postgres>,
}

impl OryStack {
    /// The id in the containers' `dev.orygate.stack` label and names.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The CA and certificate the public APIs serve, when tuned as
    /// production ([`Tuning::Production`](crate::Tuning::Production)).
    pub fn certificates(&self) -> Option<&crate::certs::StackCertificates> {
        self.certificates.as_ref()
    }

    /// The app behind Oathkeeper (its rules' upstream): it answers 200 to
    /// whatever reaches it and keeps every request, headers included, so a
    /// test can see what got through and what Oathkeeper added.
    ///
    /// # Panics
    /// If the stack has no Oathkeeper.
    pub fn upstream(&self) -> &crate::WebhookSink {
        self.upstream
            .as_ref()
            .expect("the stack was built with_oathkeeper()")
    }

    /// The app behind Oathkeeper, shared with code that outlives a borrow
    /// of the stack (the gate's checks); `None` without Oathkeeper.
    pub fn upstream_shared(&self) -> Option<std::sync::Arc<crate::WebhookSink>> {
        self.upstream.clone()
    }

    /// Where a confined stack's Kratos and Hydra send their web and token
    /// hooks (see [`OryStackBuilder::confined`](super::OryStackBuilder::confined)):
    /// a recorder, answering `200 {}`.
    pub fn hooks(&self) -> Option<&crate::WebhookSink> {
        self.hooks.as_deref()
    }

    /// What confining a team's config changed in each service's, one line
    /// each (`key: from -> to`); empty unless the stack is confined.
    pub fn confined(&self) -> &BTreeMap<Service, Vec<String>> {
        &self.confined
    }

    /// Oathkeeper's proxy and API. Panics if Oathkeeper was not started.
    pub fn oathkeeper(&self) -> crate::oathkeeper::Oathkeeper {
        let e = self.expect(Service::Oathkeeper);
        crate::oathkeeper::Oathkeeper::new(e.public.clone(), e.admin.clone())
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

    /// Stops a service's container as an orchestrator rolls a pod (SIGTERM,
    /// SIGKILL after 10 s), starts it again with the same config, ports and
    /// database, and waits until it is ready: what a deployment's sessions
    /// and secrets must survive.
    pub async fn restart(&self, service: Service) -> Result<()> {
        let running = self.services.get(&service).ok_or_else(|| Error::Docker {
            reason: format!("restart {service}: it is not part of this stack"),
        })?;
        let failed = |what: &str, reason: String| Error::Docker {
            reason: format!("restart {service}: {what}: {reason}"),
        };
        let late = || format!("no answer within {DOCKER_TIMEOUT:?}");
        tokio::time::timeout(
            DOCKER_TIMEOUT,
            running.container.stop_with_timeout(Some(10)),
        )
        .await
        .map_err(|_| failed("stop", late()))?
        .map_err(|e| failed("stop", e.to_string()))?;
        if let Some(template) = &running.sqlite {
            super::sqlite::reset(&running.files, template)?;
        }
        tokio::time::timeout(DOCKER_TIMEOUT, running.container.start())
            .await
            .map_err(|_| failed("start", late()))?
            .map_err(|e| failed("start", e.to_string()))?;
        crate::ready::wait(
            service,
            &running.container,
            &running.ports,
            self.tuning,
            self.ready_made_keys,
            super::DEFAULT_READY_TIMEOUT,
        )
        .await
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
                Service::EVERY
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
