//! A virtual user's HTTP client: a [`Browser`] with its own cookie jar, or a
//! cookie-less [`NativeApp`] for Kratos' API flows. Neither follows
//! redirects by itself: flows follow them hop by hop (see
//! [`crate::navigate::follow`]) so each hop is visible and named.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::{Client, ClientBuilder, RequestBuilder, Response};
use reqwest_cookie_store::{CookieStore, CookieStoreMutex};
use url::Url;

use crate::error::{Error, Result};
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
        .user_agent(concat!("orygate/", env!("CARGO_PKG_VERSION")))
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

/// A browser: one user's client with a cookie jar of its own.
#[derive(Debug, Clone)]
pub struct Browser {
    client: Client,
    jar: Arc<CookieStoreMutex>,
}

impl Browser {
    /// A browser with an empty cookie jar, built with [`client_builder`].
    pub fn new() -> Result<Self> {
        Self::from_builder(client_builder())
    }

    /// A browser whose client is `builder` (for example with a shorter
    /// timeout) plus an empty cookie jar of its own.
    pub fn from_builder(builder: ClientBuilder) -> Result<Self> {
        let jar = Arc::new(CookieStoreMutex::new(CookieStore::default()));
        let client = build(builder.cookie_provider(Arc::clone(&jar)), "browser")?;
        Ok(Self { client, jar })
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
    client: Client,
}

impl NativeApp {
    pub fn new() -> Result<Self> {
        Self::from_builder(client_builder())
    }

    pub fn from_builder(builder: ClientBuilder) -> Result<Self> {
        Ok(Self {
            client: build(builder, "native app")?,
        })
    }
}

/// Sends `request` as `step` and checks the answer, logging each request
/// at debug level with its step, status and time.
async fn send(step: &Step, request: RequestBuilder) -> Result<Response> {
    let started = Instant::now();
    let again = (matches!(*step.method(), reqwest::Method::GET | reqwest::Method::HEAD))
        .then(|| request.try_clone())
        .flatten();
    let first = request.send().await;
    let first = match (first, again) {
        // A server may close a kept-alive connection just as a request
        // goes out on it, before reading it; a browser sends an idempotent
        // request again once (RFC 9110 9.2.2). Only at once: a connection
        // closed after a while may have been closed after the server acted
        // on the request (Hydra's verifiers work once).
        (Err(e), Some(again))
            if closed_unanswered(&e) && started.elapsed() < std::time::Duration::from_secs(1) =>
        {
            tracing::debug!(step = %step, error = %e, "closed unanswered; sending it again once");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            again.send().await
        }
        (first, _) => first,
    };
    let response = first.map_err(|e| {
        tracing::debug!(
            step = %step,
            ms = started.elapsed().as_millis(),
            error = %e,
            "request failed before an answer"
        );
        Error::Http {
            step: step.name().to_owned(),
            source: e,
        }
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
fn closed_unanswered(error: &reqwest::Error) -> bool {
    if error.is_timeout() || error.is_connect() {
        return false;
    }
    let mut source: Option<&dyn std::error::Error> = Some(error);
    while let Some(e) = source {
        let text = e.to_string();
        if text.contains("closed before message completed") || text.contains("connection reset") {
            return true;
        }
        source = e.source();
    }
    false
}

impl Transport for Browser {
    fn client(&self) -> &Client {
        &self.client
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        send(step, request).await
    }
}

impl Transport for NativeApp {
    fn client(&self) -> &Client {
        &self.client
    }

    async fn send(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        send(step, request).await
    }
}
