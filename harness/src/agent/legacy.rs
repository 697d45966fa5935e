//! An agent's connections through hyper-util's legacy pooled client (the
//! `legacy-pool` feature), to compare with its own (`pool.rs`) under load:
//! the same connect timeout, idle time, number kept and TLS configuration;
//! hyper-util opens, keeps and picks the connections, and sends a request
//! a kept connection gave back unsent again on another.
//!
//! Differences from the agent's own connections: [`MAX_IDLE`] idle connections
//! are kept per origin rather than per agent; an idle connection past
//! [`IDLE_TIMEOUT`] is dropped when next looked at (no timer task per agent); a
//! TLS handshake the server cuts without an alert is
//! [`NoAnswer::Refused`], not [`NoAnswer::Tls`].

use std::error::Error as StdError;
use std::io;
use std::sync::OnceLock;
use std::time::Instant;

use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::{Connect, HttpConnector};
use hyper_util::client::legacy::{self, Client};
use hyper_util::rt::TokioExecutor;
use url::{Position, Url};

use super::{Agent, Answer, BoxError, CONNECT_TIMEOUT, IDLE_TIMEOUT, MAX_IDLE, failure};
use crate::error::NoAnswer;

/// An agent's two pooled clients: one for `http://`, made with the agent,
/// and one for `https://`, made at its first https request (an agent that
/// only speaks http never needs the system's certificates).
#[derive(Debug)]
pub(super) struct Connections {
    http: Client<HttpConnector, reqwest::Body>,
    https: OnceLock<Client<HttpsConnector<HttpConnector>, reqwest::Body>>,
}

impl Connections {
    pub(super) fn new() -> Self {
        Self {
            http: client(tcp()),
            https: OnceLock::new(),
        }
    }

    /// The https client, made with the process's one TLS configuration
    /// (ALPN `http/1.1` only, so every connection speaks HTTP/1.1).
    fn https(
        &self,
    ) -> Result<&Client<HttpsConnector<HttpConnector>, reqwest::Body>, (NoAnswer, BoxError)> {
        if let Some(client) = self.https.get() {
            return Ok(client);
        }
        let config =
            crate::tls::config().map_err(|e| (NoAnswer::Tls, BoxError::from(e.to_string())))?;
        // Not through `HttpsConnectorBuilder`, which refuses a configuration
        // that already names its ALPN protocols, and offers none for
        // HTTP/1.1 only: the one configuration, shared as it is.
        let _ = self
            .https
            .set(client(HttpsConnector::from((tcp(), config))));
        Ok(self.https.get().expect("set just now"))
    }
}

/// hyper-util's pooled client over `connector`, keeping connections as the
/// agent's own do.
fn client<C: Connect + Clone>(connector: C) -> Client<C, reqwest::Body> {
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(IDLE_TIMEOUT)
        .pool_max_idle_per_host(MAX_IDLE)
        .retry_canceled_requests(true)
        .build(connector)
}

/// TCP with no delay, opened within [`CONNECT_TIMEOUT`], for either scheme
/// (the https connector wraps it).
fn tcp() -> HttpConnector {
    let mut tcp = HttpConnector::new();
    tcp.set_nodelay(true);
    tcp.set_connect_timeout(Some(CONNECT_TIMEOUT));
    tcp.enforce_http(false);
    tcp
}

/// The request's target as the pooled client takes it: absolute (it
/// picks the connection by it and sends the origin-form itself).
pub(super) fn target(url: &Url) -> &str {
    &url[..Position::AfterQuery]
}

impl Agent {
    /// Sends `request` through the pooled client for `url`'s scheme and
    /// returns the answer's head; the caller's deadline bounds it all.
    pub(super) async fn round_trip(
        &self,
        _origin: &str,
        url: &Url,
        request: http::Request<reqwest::Body>,
        _deadline: Instant,
    ) -> Answer {
        let connections = &self.inner.connections;
        let sent = match url.scheme() {
            "http" => connections.http.request(request).await,
            "https" => connections.https()?.request(request).await,
            other => {
                return Err((
                    NoAnswer::Failed,
                    format!("{url}: orygate speaks http and https, not {other}").into(),
                ));
            }
        };
        sent.map_err(|error| (classify(&error), error.into()))
    }

    /// How many connections the agent keeps open for its next requests:
    /// hyper-util's pool does not say, so with `legacy-pool` always 0.
    #[allow(clippy::unused_self)]
    pub fn kept_connections(&self) -> usize {
        0
    }
}

/// What went wrong, by the types of `error`'s causes (never their text):
/// a TLS error is [`NoAnswer::Tls`]; no connection, in time
/// ([`NoAnswer::TimedOut`]) or at all ([`NoAnswer::Refused`]); then as
/// for the agent's own connections ([`failure`]).
fn classify(error: &legacy::Error) -> NoAnswer {
    let found = |kinds: &[io::ErrorKind]| {
        causes(error).any(|e| {
            e.downcast_ref::<io::Error>()
                .is_some_and(|io| kinds.contains(&io.kind()))
        })
    };
    if causes(error).any(<dyn StdError>::is::<rustls::Error>) {
        return NoAnswer::Tls;
    }
    if error.is_connect() {
        return if found(&[io::ErrorKind::TimedOut]) {
            NoAnswer::TimedOut
        } else {
            NoAnswer::Refused
        };
    }
    if let Some(hyper) = causes(error).find_map(|e| e.downcast_ref::<hyper::Error>()) {
        return failure(hyper);
    }
    if found(&[
        io::ErrorKind::ConnectionReset,
        io::ErrorKind::ConnectionAborted,
        io::ErrorKind::BrokenPipe,
        io::ErrorKind::UnexpectedEof,
    ]) {
        return NoAnswer::Closed;
    }
    NoAnswer::Failed
}

/// `error` and its causes, the error inside an [`io::Error`] included
/// (its `source` passes over it: hyper-rustls wraps rustls' errors so).
fn causes<'a>(
    error: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(error), |&e: &&'a (dyn StdError + 'static)| {
        match e.downcast_ref::<io::Error>().and_then(io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => e.source(),
        }
    })
}
