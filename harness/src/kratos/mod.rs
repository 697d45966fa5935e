//! Ory Kratos: where its APIs are, its JSON, and the admin calls the
//! scenarios need. The self-service flows themselves live in `scenarios`.

mod models;

pub use models::*;

use url::Url;

use crate::error::Result;
use crate::response::expect_json;
use crate::transport::{Transport, get_json, step_name};

/// A Kratos deployment, by its public and admin base URLs: one started by
/// [`crate::OryStack`], or an existing one.
#[derive(Debug, Clone)]
pub struct Kratos {
    public: Url,
    admin: Url,
}

impl Kratos {
    pub fn new(public: Url, admin: Url) -> Self {
        Self { public, admin }
    }

    /// The public base URL.
    pub fn public_base(&self) -> &Url {
        &self.public
    }

    /// The admin base URL.
    pub fn admin_base(&self) -> &Url {
        &self.admin
    }

    /// A URL on the public API, `path` relative to the base.
    pub fn public(&self, path: &str) -> Url {
        join(&self.public, path)
    }

    /// A URL on the admin API, `path` relative to the base.
    pub fn admin(&self, path: &str) -> Url {
        join(&self.admin, path)
    }

    /// `GET /admin/identities/{id}`.
    pub async fn identity<T: Transport>(&self, transport: &T, id: &str) -> Result<Identity> {
        get_json(
            transport,
            "kratos",
            self.admin(&format!("admin/identities/{id}")),
        )
        .await
    }

    /// `GET /sessions/whoami` with whatever credentials the transport
    /// carries (a cookie) or the given session token.
    pub async fn whoami<T: Transport>(
        &self,
        transport: &T,
        token: Option<&str>,
    ) -> Result<Session> {
        let url = self.public("sessions/whoami");
        let step = step_name("kratos", "GET", &url);
        let mut request = transport
            .client()
            .get(url)
            .header("Accept", "application/json");
        if let Some(token) = token {
            request = request.header("X-Session-Token", token);
        }
        let response = transport.send(&step, request).await?;
        expect_json(&step, response, &[200]).await
    }
}

/// Joins a relative path onto a base URL that ends with `/`.
pub(crate) fn join(base: &Url, path: &str) -> Url {
    base.join(path.trim_start_matches('/'))
        .expect("a relative path joins onto a base URL")
}
