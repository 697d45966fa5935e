//! Readiness: poll each of a service's `/health/ready` endpoints until it
//! answers 200, within one deadline, and notice at once when the container
//! exits instead.

use std::time::{Duration, Instant};

use testcontainers::{ContainerAsync, GenericImage};

use crate::error::{Error, Result};
use crate::logs;
use crate::service::Service;

const POLL_EVERY: Duration = Duration::from_millis(100);
const LOG_LINES: usize = 30;
const SETTLE: Duration = Duration::from_millis(100);

pub(crate) async fn wait(
    service: Service,
    container: &ContainerAsync<GenericImage>,
    urls: &[String],
    timeout: Duration,
) -> Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| Error::Http {
            step: format!("{service} readiness client"),
            source: e,
        })?;
    let deadline = Instant::now() + timeout;
    for url in urls {
        loop {
            let last = match client.get(url).send().await {
                Ok(resp) if resp.status().is_success() => break,
                Ok(resp) => format!("HTTP {}", resp.status()),
                Err(e) => e.to_string(),
            };
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
    // A 200 can come from another process holding a port this container
    // failed to bind (the harness keeps its own stacks apart, not other
    // processes). Ory exits at once when a bind fails: give it a moment to
    // show, then look again.
    tokio::time::sleep(SETTLE).await;
    exited(service, container).await
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
        log: logs::tail(container, LOG_LINES).await,
    })
}
