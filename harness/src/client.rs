//! A virtual user's HTTP client: a [`Browser`] with its own cookie jar, or a
//! cookie-less [`NativeApp`] for Kratos' API flows. Neither follows
//! redirects by itself: flows follow them hop by hop (see
//! [`crate::navigate::follow`]) so each hop is visible and named.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, ClientBuilder, RequestBuilder, Response};
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use url::Url;

use crate::agent::Agent;
use crate::error::{Error, NoAnswer, Result};
use crate::transport::{Step, Transport};

/// How long one request may take, end to end.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A cookie as the jar holds it, with the attributes the server set.
pub type Cookie = cookie_store::Cookie<'static>;

/// The settings every orygate client shares: no redirects followed, no
/// proxy, bounded connect and request times. The load crate builds its
/// Goose users' clients from this too.
pub fn client_builder() -> ClientBuilder {
    let builder = match shared_tls() {
        Some(tls) => Client::builder().tls_backend_preconfigured(tls),
        // reqwest builds its own, and says what is wrong if it cannot.
        None => Client::builder(),
    };
    builder
        .redirect(reqwest::redirect::Policy::none())
        // Loopback only: never route through a proxy from the environment.
        .no_proxy()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .user_agent(USER_AGENT)
}

/// One TLS configuration for every client of the process, as reqwest
/// would build it (the platform's roots, HTTP/2 or 1.1): left to itself,
/// reqwest reads and parses the system's CA certificates again for every
/// client, a millisecond of CPU and some 200 KB per user of a load run.
fn shared_tls() -> Option<rustls::ClientConfig> {
    static TLS: std::sync::OnceLock<Option<rustls::ClientConfig>> = std::sync::OnceLock::new();
    TLS.get_or_init(|| {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(&provider)).ok()?;
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .ok()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Some(config)
    })
    .clone()
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
    jar: Arc<CookieStoreMutex>,
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
        let jar = Arc::new(CookieStoreMutex::new(CookieStore::default()));
        let builder = client_builder().timeout(timeout);
        let client = build(builder.cookie_provider(Arc::clone(&jar)), "browser")?;
        let agent = Agent::new(client, Some(Arc::clone(&jar)), timeout, USER_AGENT);
        Ok(Self { agent, jar })
    }

    /// What sends the browser's requests: its client, jar and connections.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }

    /// The cookies the jar would send to `url`.
    pub fn cookies_for(&self, url: &Url) -> Vec<Cookie> {
        self.jar
            .lock()
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
        let client = build(client_builder().timeout(timeout), "native app")?;
        Ok(Self {
            agent: Agent::new(client, None, timeout, USER_AGENT),
        })
    }

    /// What sends the app's requests: its client and connections.
    pub fn agent(&self) -> &Agent {
        &self.agent
    }
}

/// Sends `request` as `step` with `agent` and checks the answer, logging
/// each request at debug level with its step, status and time.
async fn send(agent: &Agent, step: &Step, request: RequestBuilder) -> Result<Response> {
    let started = Instant::now();
    let again = (matches!(*step.method(), reqwest::Method::GET | reqwest::Method::HEAD))
        .then(|| request.try_clone())
        .flatten();
    let first = agent.exchange(step, request).await;
    let first = match (first, again) {
        // A server may close a kept-alive connection just as a request
        // goes out on it; a request it gives back unsent goes out again on
        // a new connection at once (see `Agent`), and one it may have read
        // is sent again once if idempotent, as a browser does (RFC 9110
        // 9.2.2). Only at once: a connection closed after a while may have
        // been closed after the server acted on the request (Hydra's
        // verifiers work once).
        (Err(e), Some(again))
            if closed_unanswered(&e) && started.elapsed() < Duration::from_secs(1) =>
        {
            tracing::debug!(step = %step, error = %e, "closed unanswered; sending it again once");
            tokio::time::sleep(Duration::from_millis(100)).await;
            agent.exchange(step, again).await
        }
        (first, _) => first,
    };
    let response = first.inspect_err(|e| {
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

/// Whether the connection was closed or reset before any answer came.
fn closed_unanswered(error: &Error) -> bool {
    match error {
        Error::Unanswered { failure, .. } => *failure == NoAnswer::Closed,
        Error::Http { source, .. } if !(source.is_timeout() || source.is_connect()) => {
            let mut cause: Option<&dyn std::error::Error> = Some(source);
            while let Some(e) = cause {
                let text = e.to_string();
                if text.contains("closed before message completed")
                    || text.contains("connection reset")
                {
                    return true;
                }
                cause = e.source();
            }
            false
        }
        _ => false,
    }
}

impl Transport for Browser {
    fn client(&self) -> &Client {
        self.agent.client()
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        send(&self.agent, step, request).await
    }
}

impl Transport for NativeApp {
    fn client(&self) -> &Client {
        self.agent.client()
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        send(&self.agent, step, request).await
    }
}
