//! A service of a running stack started again from another config or
//! another image, on the same ports and the same database, migrated first:
//! what a deployment does when it rolls out a config change or an upgrade.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::service::Service;

use super::DOCKER_TIMEOUT;
use super::containers::{StackWide, Store, confine, migrate, service_env, start_service};
use super::running::OryStack;

/// What a replaced service starts from; what is not set stays as it was.
#[derive(Debug, Clone, Default)]
pub struct Replacement {
    /// The config folder (as [`OryStackBuilder::config_dir`](super::OryStackBuilder::config_dir)).
    pub config_dir: Option<PathBuf>,
    /// The overlays merged over it, in order (replacing the old ones).
    pub overlays: Option<Vec<PathBuf>>,
    /// The image tag (another Ory version).
    pub tag: Option<String>,
}

/// How long a replacement's parts took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replaced {
    /// The new config's or version's SQL migration.
    pub migration: Duration,
    /// From the new container's creation until it was ready.
    pub start: Duration,
}

impl OryStack {
    /// Stops `service` as a rollout does (SIGTERM, SIGKILL after 10 s),
    /// on a stack whose data is in PostgreSQL (one in memory is refused
    /// before anything stops),
    /// runs the replacement's SQL migration on the service's database,
    /// and starts the replacement on the same ports, with the same
    /// environment and peers, waiting until it is ready. A config the
    /// harness can tell is broken fails before anything stops; a
    /// migration or start that fails leaves the service stopped and says
    /// why, with its log.
    pub async fn replace(&mut self, service: Service, with: Replacement) -> Result<Replaced> {
        let running = self.services.get(&service).ok_or_else(|| Error::Docker {
            reason: format!("replace {service}: it is not part of this stack"),
        })?;
        if self.postgres.is_none() {
            return Err(Error::unexpected(
                format!("replace {service}"),
                "the stack keeps its data in memory, which a replacement would start without (start it on PostgreSQL)",
            ));
        }
        let mut spec = running.spec.without_ports();
        if let Some(dir) = with.config_dir {
            spec.config_dir = dir;
        }
        if let Some(overlays) = with.overlays {
            spec.overlays = overlays;
        }
        if let Some(tag) = with.tag {
            spec.tag = tag;
        }
        crate::config::check(service, &spec.config_dir, &spec.overlays)?;
        // A confined stack's replacement is confined too: its config is
        // the new one.
        let mut _written = None;
        if let (Some(_), Some(hooks)) = (&spec.confined, &self.hooks) {
            let (changed, written) = confine(&self.id, service, &mut spec, &hooks.url(""))?;
            self.confined.insert(service, changed);
            _written = Some(written);
        }
        let needs = crate::prepare::Needs {
            images: vec![(service, spec.tag.as_str())],
            postgres: false,
        };
        crate::prepare::ready(&needs).await?;
        let running = self.services.remove(&service).expect("looked up above");
        tokio::time::timeout(
            DOCKER_TIMEOUT,
            running.container.stop_with_timeout(Some(10)),
        )
        .await
        .map_err(|_| Error::Docker {
            reason: format!("replace {service}: stop: no answer within {DOCKER_TIMEOUT:?}"),
        })?
        .map_err(|e| Error::Docker {
            reason: format!("replace {service}: stop: {e}"),
        })?;
        // The container goes (its name is the replacement's); its ports
        // stay reserved for the replacement.
        tokio::time::timeout(DOCKER_TIMEOUT, running.container.rm())
            .await
            .map_err(|_| Error::Docker {
                reason: format!("replace {service}: remove: no answer within {DOCKER_TIMEOUT:?}"),
            })?
            .map_err(|e| Error::Docker {
                reason: format!("replace {service}: remove: {e}"),
            })?;
        let ports = running.ports;
        let dsn = self.postgres.as_ref().map(|p| p.dsn(service.name()));
        let wide = StackWide {
            id: &self.id,
            tuning: self.tuning,
            smtp: self.smtp,
            ready_timeout: self.ready_timeout,
            peers: &self.peers,
            certificates: self.certificates.as_ref(),
            ready_made_keys: self.ready_made_keys,
        };
        let started = Instant::now();
        if let Some(dsn) = &dsn {
            let env = service_env(&wide, service, &spec, &ports, Some(dsn));
            migrate(&wide, service, &spec, &env).await?;
        }
        let migration = started.elapsed();
        let started = Instant::now();
        let store = match dsn.as_deref() {
            Some(dsn) => Store::Postgres {
                dsn,
                migrated: true,
            },
            None => Store::Memory,
        };
        let running = start_service(wide, service, &spec, ports, store).await?;
        let start = started.elapsed();
        self.services.insert(service, running);
        tracing::info!(%service, ?migration, ?start, "service replaced");
        Ok(Replaced { migration, start })
    }
}
