//! A virtual user's HTTP client: a [`Browser`] with its own cookie jar, or a
//! cookie-less [`NativeApp`] for Kratos' API flows. Neither follows
//! redirects by itself: flows follow them hop by hop (see
//! [`crate::navigate::follow`]) so each hop is visible and named.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, ClientBuilder, RequestBuilder, Response};
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use url::Url;

use crate::agent::{Agent, Cookie, Limits};
use crate::error::{Error, Result};
use crate::step::Step;
use crate::transport::Transport;

/// How long one request may take, end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The settings every orygate client shares: no redirects followed, no
/// proxy, the process's one TLS configuration. The clients only build
/// requests: their [`Agent`]s send them.
pub fn client_builder() -> ClientBuilder {
    Client::builder()
        .tls_backend_preconfigured(crate::tls::for_building())
        .redirect(reqwest::redirect::Policy::none())
        // Loopback only: never route through a proxy from the environment.
        .no_proxy()
        .user_agent(USER_AGENT)
}

fn build(builder: ClientBuilder, what: &str) -> Result<Client> {
    builder.build().map_err(|e| Error::Http {
        step: format!("build the {what} client"),
        source: e,
    })
}

/// The user agent every orygate client sends.
const USER_AGENT: &str = concat!("orygate/", env!("CARGO_PKG_VERSION"));

/// A browser: one user's client with a cookie jar of its own, sending on
/// its own connections (an [`Agent`]).
#[derive(Debug, Clone)]
pub struct Browser {
    agent: Agent,
}

impl Browser {
    /// A browser with an empty cookie jar, each request answered within
    /// [`REQUEST_TIMEOUT`].
    pub fn new() -> Result<Self> {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    /// A browser whose requests may each take `timeout`, with an empty
    /// cookie jar of its own.
    pub fn with_timeout(timeout: Duration) -> Result<Self> {
        Self::with_limits(Limits::timeout(timeout))
    }

    /// A browser whose requests keep to `limits`, with an empty cookie jar
    /// of its own.
    pub fn with_limits(limits: Limits) -> Result<Self> {
        let jar = Arc::new(CookieStoreMutex::new(CookieStore::default()));
        let builder = client_builder().cookie_provider(Arc::clone(&jar));
        let client = build(builder, "browser")?;
        let agent = Agent::new(client, Some(jar), limits, USER_AGENT);
        Ok(Self { agent })
    }

    /// What sends the browser's requests: its client, jar and connections.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The cookies the jar would send to `url`.
    pub fn cookies_for(&self, url: &Url) -> Vec<Cookie> {
        self.agent.cookies_for(url)
    }

    /// The cookie named `name` that the jar would send to `url`.
    pub fn cookie(&self, url: &Url, name: &str) -> Option<Cookie> {
        self.cookies_for(url).into_iter().find(|c| c.name() == name)
    }
}

/// A native app: no cookies at all, as Kratos requires of API flows;
/// sessions travel as tokens.
#[derive(Debug, Clone)]
pub struct NativeApp {
    agent: Agent,
}

impl NativeApp {
    /// An app whose requests are each answered within [`REQUEST_TIMEOUT`].
    pub fn new() -> Result<Self> {
        Self::with_timeout(REQUEST_TIMEOUT)
    }

    /// An app whose requests may each take `timeout`.
    pub fn with_timeout(timeout: Duration) -> Result<Self> {
        Self::with_limits(Limits::timeout(timeout))
    }

    /// An app whose requests keep to `limits`.
    pub fn with_limits(limits: Limits) -> Result<Self> {
        let client = build(client_builder(), "native app")?;
        Ok(Self {
            agent: Agent::new(client, None, limits, USER_AGENT),
        })
    }

    /// What sends the app's requests: its client and connections.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

/// Sends `request` as `step` with `agent` (whose policy says when a
/// request goes out again) and checks the answer, logging each request at
/// debug level with its step, status and time.
async fn send(agent: &Agent, step: &Step, request: RequestBuilder) -> Result<Response> {
    let started = Instant::now();
    let response = agent.exchange(step, request).await.inspect_err(|e| {
        tracing::debug!(
            step = %step,
            ms = started.elapsed().as_millis(),
            error = %e,
            "request failed before an answer"
        );
    })?;
    tracing::debug!(
        step = %step,
        status = response.status().as_u16(),
        ms = started.elapsed().as_millis(),
        "request"
    );
    step.check(response).await
}

impl Transport for Browser {
    fn client(&self) -> &Client {
        self.agent.client()
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        send(&self.agent, step, request).await
    }

    fn cookies_for(&self, url: &Url) -> Vec<Cookie> {
        self.agent.cookies_for(url)
    }
}

impl Transport for NativeApp {
    fn client(&self) -> &Client {
        self.agent.client()
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        send(&self.agent, step, request).await
    }

    /// None: an app has no jar.
    fn cookies_for(&self, _url: &Url) -> Vec<Cookie> {
        Vec::new()
    }
}
