//! Ory Kratos: where its APIs are, its JSON, and the calls the scenarios
//! need outside the self-service flows (whoami, the admin API). The flows
//! themselves live in `scenarios`.

mod admin;
pub(crate) mod models;
mod sessions;

pub use admin::Page;
pub use models::*;

use url::Url;

use crate::error::Result;
use crate::response::{json, status_error, text};
use crate::step::{Expect, Step};
use crate::transport::Transport;
use crate::urls::join;

/// A Kratos deployment, by its public and (optionally) admin base URLs: one
/// started by [`crate::OryStack`], or an existing one. Cheap to clone: the
/// URLs are shared.
#[derive(Debug, Clone)]
pub struct Kratos {
    urls: std::sync::Arc<Urls>,
}

#[derive(Debug)]
struct Urls {
    public: Url,
    admin: Option<Url>,
    /// `/sessions/whoami` and its step, built once: a load run checks
    /// sessions thousands of times a second.
    whoami: Url,
    whoami_step: Step,
}

impl Kratos {
    pub fn new(public: Url, admin: Url) -> Self {
        Self::with(public, Some(admin))
    }

    /// A deployment reached by its public API only: admin calls fail with
    /// an error that says so.
    pub fn public_only(public: Url) -> Self {
        Self::with(public, None)
    }

    fn with(public: Url, admin: Option<Url>) -> Self {
        let whoami = join(&public, "sessions/whoami");
        let whoami_step = Step::get("kratos", &whoami);
        let urls = Urls {
            public,
            admin,
            whoami,
            whoami_step,
        };
        Self {
            urls: std::sync::Arc::new(urls),
        }
    }

    /// The public base URL.
    pub fn public_base(&self) -> &Url {
        &self.urls.public
    }

    /// The admin base URL, when the deployment's admin API is reachable.
    pub fn admin_base(&self) -> Option<&Url> {
        self.urls.admin.as_ref()
    }

    /// A URL on the public API, `path` relative to the base.
    pub fn public(&self, path: &str) -> Url {
        join(&self.urls.public, path)
    }

    /// A URL on the admin API, `path` relative to the base.
    pub fn admin(&self, path: &str) -> Result<Url> {
        self.urls
            .admin
            .as_ref()
            .map(|base| join(base, path))
            .ok_or_else(|| {
                crate::Error::unexpected(
                    format!("kratos admin /{}", path.trim_start_matches('/')),
                    "no Kratos admin URL was given",
                )
            })
    }

    /// The step of `GET /sessions/whoami`, expecting a session.
    pub fn whoami_step(&self) -> &Step {
        &self.urls.whoami_step
    }

    /// `GET /sessions/whoami` with whatever credentials the transport
    /// carries (a cookie) or the given session token.
    pub async fn whoami<T: Transport>(
        &self,
        transport: &T,
        token: Option<&str>,
    ) -> Result<Session> {
        let step = self.whoami_step();
        let response = transport
            .send(step, whoami_request(transport, self, token))
            .await?;
        json(step, response).await
    }

    /// `GET /sessions/whoami` for credentials that must no longer work:
    /// the step expects 401, and the refusal Kratos answered with is
    /// returned as an error value to look at.
    pub async fn whoami_refused<T: Transport>(
        &self,
        transport: &T,
        token: Option<&str>,
    ) -> Result<crate::Error> {
        let step = self.whoami_step().clone().expecting(Expect::Status(401));
        let response = transport
            .send(&step, whoami_request(transport, self, token))
            .await?;
        Ok(status_error(
            step.name(),
            401,
            &text(&step, response).await?,
        ))
    }
}

fn whoami_request<T: Transport>(
    transport: &T,
    kratos: &Kratos,
    token: Option<&str>,
) -> reqwest::RequestBuilder {
    let mut request = transport
        .client()
        .get(kratos.urls.whoami.clone())
        .header("Accept", "application/json");
    if let Some(token) = token {
        request = request.header("X-Session-Token", token);
    }
    request
}
