//! The images a stack runs from, checked before anything starts.
//!
//! testcontainers pulls an image that is missing; where no registry can be
//! reached that would fail late and obscurely, so a missing image is reported
//! up front with the command that builds it.

use testcontainers::bollard::Docker;

use crate::error::{Error, Result};
use crate::service::Service;

/// How long the daemon may take to answer a ping before it counts as hung.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// Connects to the local Docker daemon and checks that it answers. The
/// errors name the daemon's address and what to do.
pub(crate) async fn docker() -> Result<Docker> {
    let host =
        std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into());
    tracing::debug!(%host, "pinging the Docker daemon");
    let docker = Docker::connect_with_local_defaults().map_err(|e| Error::Docker {
        reason: format!("{e} ({host}); scripts/prepare.sh starts a daemon (as root)"),
    })?;
    tokio::time::timeout(PING_TIMEOUT, docker.ping())
        .await
        .map_err(|_| Error::Docker {
            reason: format!(
                "no answer to a ping from {host} within {PING_TIMEOUT:?}: the daemon seems hung; \
                 restart it (scripts/prepare.sh starts one when none answers)"
            ),
        })?
        .map_err(|e| Error::Docker {
            reason: format!(
                "{e} ({host}): no daemon answers there; scripts/prepare.sh starts one (as root)"
            ),
        })?;
    Ok(docker)
}

/// Fails with [`Error::ImageMissing`] unless `service`'s image is present.
pub(crate) async fn ensure_present(docker: &Docker, service: Service, tag: &str) -> Result<()> {
    let image = format!("{}:{tag}", service.image());
    match docker.inspect_image(&image).await {
        Ok(_) => Ok(()),
        Err(testcontainers::bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }) => Err(Error::ImageMissing {
            hint: if tag == service.tag() {
                format!(
                    "Pull it from a registry (docker pull {image}) or build it offline with \
                     `ory/images/build.sh {}`",
                    service.name()
                )
            } else {
                format!(
                    "Pull it from a registry (docker pull {image}) or build it offline with \
                     `ory/images/build.sh {}@{tag}` (where the Go module proxy serves that \
                     release)",
                    service.name()
                )
            },
            image,
        }),
        Err(e) => Err(Error::Docker {
            reason: format!("inspect {image}: {e}"),
        }),
    }
}

/// The names of the containers (running or not) that carry the
/// `dev.orygate.stack` label with this stack id: none, once a stack is gone.
pub async fn stack_containers(stack_id: &str) -> Result<Vec<String>> {
    use std::collections::HashMap;
    use testcontainers::bollard::query_parameters::ListContainersOptionsBuilder;

    let docker = docker().await?;
    let filters = HashMap::from([(
        "label".to_owned(),
        vec![format!("{}={stack_id}", crate::STACK_LABEL)],
    )]);
    let options = ListContainersOptionsBuilder::default()
        .all(true)
        .filters(&filters)
        .build();
    let containers = docker
        .list_containers(Some(options))
        .await
        .map_err(|e| Error::Docker {
            reason: format!("list containers: {e}"),
        })?;
    Ok(containers
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect())
}
