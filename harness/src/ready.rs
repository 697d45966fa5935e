//! Readiness: poll a service's `/health/ready` until it answers 200, with a
//! deadline, and notice at once when the container exits instead.

use std::time::{Duration, Instant};

use testcontainers::{ContainerAsync, GenericImage};

use crate::error::{Error, Result};
use crate::logs;
use crate::service::Service;

const POLL_EVERY: Duration = Duration::from_millis(100);
const LOG_LINES: usize = 30;

pub(crate) async fn wait(
    service: Service,
    container: &ContainerAsync<GenericImage>,
    url: &str,
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
    loop {
        let last = match client.get(url).send().await {
            Ok(resp) if resp.status().is_success() => return Ok(()),
            Ok(resp) => format!("HTTP {}", resp.status()),
            Err(e) => e.to_string(),
        };
        if !container.is_running().await.unwrap_or(true) {
            let code = container.exit_code().await.ok().flatten().unwrap_or(-1);
            return Err(Error::Exited {
                service,
                code,
                log: logs::tail(container, LOG_LINES).await,
            });
        }
        if Instant::now() >= deadline {
            return Err(Error::NotReady {
                service,
                url: url.to_owned(),
                timeout,
                last,
                log: logs::tail(container, LOG_LINES).await,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
