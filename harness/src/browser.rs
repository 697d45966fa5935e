//! A virtual user's HTTP client: a browser with its own cookie jar, or a
//! cookie-less native app for Kratos' API flows.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, RequestBuilder, Response};
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use url::Url;

use crate::error::{Error, Result};
use crate::transport::Transport;

/// How long one request may take, end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A cookie as the jar holds it, with the attributes the server set.
pub type Cookie = cookie_store::Cookie<'static>;

/// One user's client. Redirects are never followed automatically: flows
/// follow them hop by hop (see [`crate::transport::follow`]) so each hop is
/// visible and named.
#[derive(Debug, Clone)]
pub struct Browser {
    client: Client,
    jar: Option<Arc<CookieStoreMutex>>,
}

impl Browser {
    /// A browser with an empty cookie jar of its own.
    pub fn new() -> Result<Self> {
        let jar = Arc::new(CookieStoreMutex::new(CookieStore::default()));
        let client = builder()
            .cookie_provider(Arc::clone(&jar))
            .build()
            .map_err(|e| Error::Http {
                step: "build the browser client".into(),
                source: e,
            })?;
        Ok(Self {
            client,
            jar: Some(jar),
        })
    }

    /// A native (API) client: no cookies at all, as Kratos requires of API
    /// flows; sessions travel as tokens.
    pub fn api() -> Result<Self> {
        let client = builder().build().map_err(|e| Error::Http {
            step: "build the API client".into(),
            source: e,
        })?;
        Ok(Self { client, jar: None })
    }

    /// The cookies the jar would send to `url`.
    pub fn cookies_for(&self, url: &Url) -> Vec<Cookie> {
        let Some(jar) = &self.jar else {
            return Vec::new();
        };
        jar.lock()
            .expect("cookie jar lock")
            .matches(url)
            .into_iter()
            .map(|c| c.clone().into_owned())
            .collect()
    }

    /// The cookie named `name` that the jar would send to `url`.
    pub fn cookie(&self, url: &Url, name: &str) -> Option<Cookie> {
        self.cookies_for(url).into_iter().find(|c| c.name() == name)
    }

    /// Whether this client keeps cookies.
    pub fn has_jar(&self) -> bool {
        self.jar.is_some()
    }
}

fn builder() -> reqwest::ClientBuilder {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        // Loopback only: never route through a proxy from the environment.
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(concat!("orygate/", env!("CARGO_PKG_VERSION")))
}

impl Transport for Browser {
    fn client(&self) -> &Client {
        &self.client
    }

    async fn send(&self, step: &str, request: RequestBuilder) -> Result<Response> {
        let started = Instant::now();
        let response = request.send().await.map_err(|e| Error::Http {
            step: step.to_owned(),
            source: e,
        })?;
        tracing::debug!(
            step,
            status = response.status().as_u16(),
            ms = started.elapsed().as_millis(),
            "request"
        );
        Ok(response)
    }
}
