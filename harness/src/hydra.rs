//! Ory Hydra: where its APIs are and the admin calls the scenarios need.

use serde::{Deserialize, Serialize};
use url::Url;

use reqwest::Method;

use crate::error::Result;
use crate::response::json;
use crate::transport::{Expect, Step, Transport, get_json};
use crate::urls::join;

/// A Hydra deployment, by its public and admin base URLs.
#[derive(Debug, Clone)]
pub struct Hydra {
    public: Url,
    admin: Url,
}

/// An OAuth2 client as the admin API takes and returns it (the fields
/// orygate sets or reads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct OAuth2Client {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub client_name: String,
    #[serde(default)]
    pub grant_types: Vec<String>,
    #[serde(default)]
    pub response_types: Vec<String>,
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    #[serde(default)]
    pub scope: String,
    #[serde(default)]
    pub token_endpoint_auth_method: String,
}

impl Hydra {
    pub fn new(public: Url, admin: Url) -> Self {
        Self { public, admin }
    }

    /// A URL on the public API.
    pub fn public(&self, path: &str) -> Url {
        join(&self.public, path)
    }

    /// A URL on the admin API.
    pub fn admin(&self, path: &str) -> Url {
        join(&self.admin, path)
    }

    /// `POST /admin/clients`: registers a client; the answer carries its id
    /// and (for confidential clients) its secret.
    pub async fn create_client<T: Transport>(
        &self,
        transport: &T,
        client: &OAuth2Client,
    ) -> Result<OAuth2Client> {
        let url = self.admin("admin/clients");
        let step = Step::new("hydra", Method::POST, &url, Expect::Status(201));
        let request = transport.client().post(url).json(client);
        json(&step, transport.send(&step, request).await?).await
    }

    /// `GET /admin/clients/{id}`.
    pub async fn client<T: Transport>(&self, transport: &T, id: &str) -> Result<OAuth2Client> {
        get_json(
            transport,
            "hydra",
            self.admin(&format!("admin/clients/{id}")),
        )
        .await
    }
}
