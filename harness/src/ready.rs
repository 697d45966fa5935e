//! Readiness: poll each of a service's `/health/ready` endpoints until it
//! answers 200, within one deadline, and notice at once when the container
//! exits instead. Keto's database must answer a read, and in a measured
//! or production-like stack Hydra's signing keys must exist, before the
//! service counts as ready; a dev stack's Hydra is given ready-made ones.

use std::time::{Duration, Instant};

use testcontainers::{ContainerAsync, GenericImage};

use crate::error::{Error, Result};
use crate::logs;
use crate::ports::Ports;
use crate::service::{Service, Tuning};

const POLL_EVERY: Duration = Duration::from_millis(100);
const LOG_LINES: usize = 30;
const SETTLE: Duration = Duration::from_millis(100);

pub(crate) async fn wait(
    service: Service,
    container: &ContainerAsync<GenericImage>,
    ports: &Ports,
    tuning: Tuning,
    ready_made_keys: bool,
    timeout: Duration,
) -> Result<()> {
    let urls = service.health_urls(ports.all(), tuning);
    tracing::debug!(%service, ?urls, "waiting for readiness");
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(crate::tls::config()?.as_ref().clone())
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| Error::Http {
            step: format!("{service} readiness client"),
            source: e,
        })?;
    let started = Instant::now();
    let deadline = started + timeout;
    for url in &urls {
        let mut said = String::new();
        let mut polls = 0u32;
        loop {
            polls += 1;
            let last = match client.get(url).send().await {
                Ok(resp) if resp.status().is_success() => {
                    tracing::debug!(%service, url, polls, ms = started.elapsed().as_millis(), "probe answered 200");
                    break;
                }
                Ok(resp) => format!("HTTP {}", resp.status()),
                Err(e) => e.to_string(),
            };
            // Each new kind of answer once, not every 100 ms.
            if last != said {
                tracing::debug!(%service, url, answer = %last, "probe not ready yet");
                said.clone_from(&last);
            }
            exited(service, container).await?;
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    service,
                    url: url.clone(),
                    timeout,
                    last,
                    log: logs::tail(container, LOG_LINES).await,
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
    // Ory exits at once when a bind fails: give it a moment to show, then
    // look again.
    tokio::time::sleep(SETTLE).await;
    exited(service, container).await?;
    // A 200 can also come from another process holding a port this
    // container failed to bind (Keto v0.13 does not exit then): the
    // listener must be this container's.
    owned(service, container, ports).await?;
    match service {
        Service::Keto => keto_database(&client, container, ports, deadline, timeout).await?,
        Service::Hydra if tuning != Tuning::Dev && !ready_made_keys => {
            let url = service.public_url(ports.all(), tuning, ".well-known/jwks.json");
            hydra_keys(&client, container, &url, deadline, timeout).await?;
        }
        Service::Hydra => {
            hydra_dev_keys(&client, container, ports, deadline, timeout).await?;
        }
        Service::Kratos | Service::Oathkeeper => {}
    }
    tracing::debug!(%service, ports = ?ports.all(), "ready, every listener its own");
    Ok(())
}

/// Where a readiness wait stands: the service, its container, what the
/// error names, and the deadline.
struct Wait<'a> {
    service: Service,
    container: &'a ContainerAsync<GenericImage>,
    url: String,
    deadline: Instant,
    timeout: Duration,
}

impl Wait<'_> {
    /// Tries `attempt` every [`POLL_EVERY`] until it succeeds, the
    /// container exits, or the deadline passes (then the last reason and
    /// the end of the log are the error).
    async fn until<F, Fut>(&self, mut attempt: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = std::result::Result<(), String>>,
    {
        loop {
            let last = match attempt().await {
                Ok(()) => return Ok(()),
                Err(last) => last,
            };
            exited(self.service, self.container).await?;
            if Instant::now() >= self.deadline {
                return Err(Error::NotReady {
                    service: self.service,
                    url: self.url.clone(),
                    timeout: self.timeout,
                    last,
                    log: logs::tail(self.container, LOG_LINES).await,
                });
            }
            tokio::time::sleep(POLL_EVERY).await;
        }
    }
}

/// Keto v0.13 can answer `/health/ready` while its in-memory database is
/// still being migrated, and on a busy machine a request arriving then was
/// seen to have its connection closed unanswered. Ready means a read of the
/// database answered: the first
/// namespace's relationships (`GET /namespaces`, then
/// `GET /relation-tuples?namespace=..&page_size=1`).
async fn keto_database(
    client: &reqwest::Client,
    container: &ContainerAsync<GenericImage>,
    ports: &Ports,
    deadline: Instant,
    timeout: Duration,
) -> Result<()> {
    #[derive(serde::Deserialize)]
    struct Namespaces {
        // Keto answers `{}` when its permission model did not load (a
        // misspelt relation): no namespaces, and nothing left to wait for.
        #[serde(default)]
        namespaces: Vec<Named>,
    }
    #[derive(serde::Deserialize)]
    struct Named {
        name: String,
    }
    let read = format!("http://127.0.0.1:{}", ports.get(0));
    let wait = Wait {
        service: Service::Keto,
        container,
        url: format!("{read}/relation-tuples"),
        deadline,
        timeout,
    };
    wait.until(|| async {
        let r = client
            .get(format!("{read}/namespaces"))
            .send()
            .await
            .map_err(|e| format!("namespaces: {e}"))?;
        if !r.status().is_success() {
            return Err(format!("namespaces: HTTP {}", r.status()));
        }
        let list: Namespaces = r.json().await.map_err(|e| format!("namespaces: {e}"))?;
        let Some(first) = list.namespaces.first() else {
            return Ok(());
        };
        let query = [("namespace", first.name.as_str()), ("page_size", "1")];
        match client
            .get(format!("{read}/relation-tuples"))
            .query(&query)
            .send()
            .await
        {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("relationships: HTTP {}", r.status())),
            Err(e) => Err(format!("relationships: {e}")),
        }
    })
    .await
}

/// Hydra makes its signing keys (RSA 4096) at their first use, which takes
/// seconds on a busy machine and would land in a measured login's or
/// token's latency, as it never does in a deployment that has run before.
/// So a stack that is measured (load) or stands in for a deployment (the
/// gate) is ready when the keys exist: `GET /.well-known/jwks.json` makes
/// the missing ones and answers 200. Each
/// attempt may take what is left of the deadline, so a slow key is waited
/// for, not abandoned and begun again.
async fn hydra_keys(
    client: &reqwest::Client,
    container: &ContainerAsync<GenericImage>,
    url: &str,
    deadline: Instant,
    timeout: Duration,
) -> Result<()> {
    let wait = Wait {
        service: Service::Hydra,
        container,
        url: url.to_owned(),
        deadline,
        timeout,
    };
    wait.until(|| async {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_secs(1));
        match client.get(url).timeout(left).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status())),
            Err(e) => Err(e.to_string()),
        }
    })
    .await
}

/// Ready-made RSA 2048 signing keys for dev stacks (and stacks that ask for
/// them), one set for ID tokens and one for JWT access tokens, keyed by
/// Hydra's set names. Made once for throwaway stacks on loopback: never
/// trust them anywhere else.
const HYDRA_DEV_KEYS: &str = include_str!("hydra_dev_keys.json");

/// Hydra makes a missing signing key set (RSA 4096) inside the request that
/// first needs it, and Hydra's server ends any answer after 10 s (its
/// write timeout): on a busy 2-core machine the first token exchange or
/// `GET /.well-known/jwks.json` was seen to outlast that and get its
/// connection closed unanswered. A dev stack is therefore given the sets it
/// lacks through `PUT /admin/keys/{set}`, which costs nothing, before it counts
/// as ready. The measured and production-like stacks make their own
/// ([`hydra_keys`]), as a deployment does, unless built with
/// [`ready_made_keys`](crate::OryStackBuilder::ready_made_keys).
async fn hydra_dev_keys(
    client: &reqwest::Client,
    container: &ContainerAsync<GenericImage>,
    ports: &Ports,
    deadline: Instant,
    timeout: Duration,
) -> Result<()> {
    let sets: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(HYDRA_DEV_KEYS).expect("the committed dev key sets are JSON");
    for (set, keys) in &sets {
        let url = Service::Hydra.admin_url(ports.all(), &format!("admin/keys/{set}"));
        let wait = Wait {
            service: Service::Hydra,
            container,
            url: url.clone(),
            deadline,
            timeout,
        };
        // A set already there (a stack on a kept database, restarted) is
        // kept: what was signed with it stays valid.
        wait.until(|| async {
            match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => Ok(()),
                Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                    match client.put(&url).json(keys).send().await {
                        Ok(r) if r.status().is_success() => Ok(()),
                        Ok(r) => Err(format!("PUT: HTTP {}", r.status())),
                        Err(e) => Err(format!("PUT: {e}")),
                    }
                }
                Ok(r) => Err(format!("GET: HTTP {}", r.status())),
                Err(e) => Err(format!("GET: {e}")),
            }
        })
        .await?;
    }
    Ok(())
}

/// Fails when a socket listening on one of the service's ports is not the
/// container's. Where the container process's file descriptors can be read
/// (root, or the same user) each socket must be one of them; otherwise each
/// must at least belong to the container process's user (the images run as
/// a user of their own). A pid that names another program (Docker's pid
/// from another pid namespace) proves nothing, and is said so at debug
/// level.
async fn owned(
    service: Service,
    container: &ContainerAsync<GenericImage>,
    ports: &Ports,
) -> Result<()> {
    let Some(pid) = container_pid(container).await else {
        tracing::debug!(%service, "no pid from Docker: listener ownership not checked");
        return Ok(());
    };
    if crate::sockets::process_name(pid).as_deref() != Some(service.name()) {
        tracing::debug!(%service, pid, "the pid is not this service's here: ownership not checked");
        return Ok(());
    }
    let own_sockets = crate::sockets::socket_inodes(pid).ok();
    let own_uid = crate::sockets::process_uid(pid);
    if own_sockets.is_none() {
        tracing::debug!(%service, pid, "fds unreadable: ownership checked by user id");
    }
    for &port in ports.all() {
        for listener in crate::sockets::listeners(port) {
            let ours = match &own_sockets {
                Some(own) => own.contains(&listener.inode),
                None => own_uid.is_none_or(|uid| uid == listener.uid),
            };
            if ours {
                continue;
            }
            let holder = crate::sockets::holder(listener.inode).map_or_else(
                || format!("a process of user {}", listener.uid),
                |(pid, comm)| format!("pid {pid}, {comm}"),
            );
            return Err(Error::PortTaken {
                service,
                port,
                holder,
                log: logs::tail(container, LOG_LINES).await,
            });
        }
    }
    Ok(())
}

/// The host pid of the container's main process.
async fn container_pid(container: &ContainerAsync<GenericImage>) -> Option<u32> {
    let docker = testcontainers::bollard::Docker::connect_with_local_defaults().ok()?;
    let inspected = tokio::time::timeout(
        Duration::from_secs(10),
        docker.inspect_container(
            container.id(),
            None::<testcontainers::bollard::query_parameters::InspectContainerOptions>,
        ),
    )
    .await
    .ok()?
    .ok()?;
    inspected
        .state?
        .pid
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|pid| *pid > 0)
}

/// Fails with the container's exit code and log if it is no longer running.
async fn exited(service: Service, container: &ContainerAsync<GenericImage>) -> Result<()> {
    if container.is_running().await.unwrap_or(true) {
        return Ok(());
    }
    let code = container.exit_code().await.ok().flatten().unwrap_or(-1);
    Err(Error::Exited {
        service,
        code,
        log: logs::exit_tail(container, LOG_LINES).await,
    })
}
