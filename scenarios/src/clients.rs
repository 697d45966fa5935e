//! The OAuth2 clients in `ory/hydra/clients/`, registered through
//! Hydra's admin API.

use harness::hydra::{ClientAuth, OAuth2Client};
use harness::{Error, Result, hydra::Hydra, transport::Transport};

use crate::flows::oauth2::Client;

/// The client fixture `name` (`web-basic`, `web-post`, `spa`, `service`).
pub fn fixture(name: &str) -> Result<OAuth2Client> {
    let path = harness::repo_root()
        .join("ory/hydra/clients")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path).map_err(|e| Error::Io {
        context: format!("read {}", path.display()),
        source: e,
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Config {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// Registers `client` and returns what Hydra stored and the client as the
/// flows use it (its id, secret and authentication method, its first
/// redirect URI).
pub async fn register<T: Transport>(
    t: &T,
    hydra: &Hydra,
    client: &OAuth2Client,
) -> Result<(OAuth2Client, Client)> {
    let created = hydra.create_client(t, client).await?;
    let step = "hydra POST /admin/clients";
    let id = created
        .client_id
        .clone()
        .ok_or_else(|| Error::unexpected(step, "the new client has no id"))?;
    // Hydra shows the secret once, in this answer; a secret the fixture
    // set is the same.
    let secret = created
        .client_secret
        .clone()
        .or_else(|| client.client_secret.clone())
        .unwrap_or_default();
    let auth = match created.token_endpoint_auth_method.as_str() {
        "client_secret_post" => ClientAuth::Post { id, secret },
        "none" => ClientAuth::Public { id },
        _ => ClientAuth::Basic { id, secret },
    };
    let redirect_uri = created.redirect_uris.first().cloned().unwrap_or_default();
    Ok((created, Client { auth, redirect_uri }))
}

/// Registers the fixture `name`.
pub async fn register_fixture<T: Transport>(
    t: &T,
    hydra: &Hydra,
    name: &str,
) -> Result<(OAuth2Client, Client)> {
    register(t, hydra, &fixture(name)?).await
}
