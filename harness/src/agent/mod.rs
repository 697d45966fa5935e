//! A user agent's own HTTP/1.1 connections.
//!
//! Flows build their requests with reqwest (forms, JSON, query strings) and
//! an [`Agent`] sends them on keep-alive connections of its own, through
//! hyper directly: the user's cookie jar adds `Cookie` and stores
//! `Set-Cookie` as reqwest's would, and the answer comes back as a
//! [`reqwest::Response`]. Under load this is most of a request's cost on
//! the generator's side: reqwest's client stack parses each request's URL
//! three times and clones itself per request, for redirects and pooling
//! across hosts that a user of a few Ory endpoints does not need.
//!
//! The agent is the one place of the send policy, for tests and load
//! alike: `http://` and `https://` (TLS through the process's one
//! configuration, [`crate::tls`]), connect and answer deadlines, a bound on
//! what is read, and when a request goes out again: one a kept connection
//! gave back unsent goes out on a new connection, and an idempotent one
//! whose connection closed before any answer is sent once more at once.

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hyper::client::conn::http1::SendRequest;
use reqwest::cookie::CookieStore as _;
use reqwest::header::{ACCEPT, COOKIE, HOST, HeaderValue, SET_COOKIE, USER_AGENT};
use reqwest::{Client, Method, RequestBuilder, Response, ResponseBuilderExt};
use reqwest_cookie_store::CookieStoreMutex;
use url::{Position, Url};

use crate::error::{Error, NoAnswer, Result};
use crate::step::Step;

mod body;
mod pool;

use body::Bounded;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The most of an answer's body an agent reads by default.
pub const BODY_LIMIT: usize = 4 << 20;

/// An idempotent request whose connection closed before any answer is
/// sent once more only if that happened this soon: a connection closed
/// after a while may have been closed after the server acted on the
/// request (Hydra's verifiers work once).
const RESEND_WITHIN: Duration = Duration::from_secs(1);

/// At most this many idle connections are kept per agent (a browser keeps
/// six per host; a flow talks to a few hosts, one request at a time).
const MAX_IDLE: usize = 8;

/// One virtual user's way out: a reqwest client to build requests with,
/// its cookie jar (or none, for an app), and its connections. Cloning an
/// agent shares all three.
#[derive(Debug, Clone)]
pub struct Agent {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    client: Client,
    jar: Option<Arc<CookieStoreMutex>>,
    timeout: Duration,
    body_limit: usize,
    user_agent: HeaderValue,
    idle: Mutex<Vec<Connection>>,
}

/// A kept-alive connection to one origin (`scheme://host:port`).
#[derive(Debug)]
struct Connection {
    origin: Box<str>,
    sender: SendRequest<reqwest::Body>,
    /// When its last answer came: a connection idle for [`IDLE_TIMEOUT`] is not
    /// used again.
    answered: Instant,
}

/// How long a connection may sit idle and still be used: a server closes
/// idle connections after a while (nginx after 75 s), and a request sent
/// as it does would be lost on the way.
const IDLE_TIMEOUT: Duration = Duration::from_secs(50);

impl Agent {
    /// An agent sending with `client`'s requests, cookies from and to
    /// `jar`, each request answered within `limits.timeout`.
    pub(crate) fn new(
        client: Client,
        jar: Option<Arc<CookieStoreMutex>>,
        limits: Limits,
        user_agent: &'static str,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                jar,
                timeout: limits.timeout,
                body_limit: limits.body,
                user_agent: HeaderValue::from_static(user_agent),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The cookies the agent's jar would send to `url`; none for an agent
    /// without a jar.
    pub fn cookies_for(&self, url: &Url) -> Vec<Cookie> {
        self.inner.jar.as_ref().map_or_else(Vec::new, |jar| {
            jar.lock()
                .expect("cookie jar lock")
                .matches(url)
                .into_iter()
                .map(|c| c.clone().into_owned())
                .collect()
        })
    }

    /// The client requests are built with (the agent sends them).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Sends `request` as `step` and returns the answer, whatever its
    /// status: a request that got no answer is an [`Error::Unanswered`].
    /// A GET or HEAD whose connection closed before any answer, at once,
    /// is sent once more after 100 ms, as a browser does (RFC 9110 9.2.2);
    /// a POST, PUT or DELETE is not.
    pub async fn exchange(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        let request = request.build().map_err(|source| Error::Http {
            step: step.name().to_owned(),
            source,
        })?;
        let at = authority(request.url()).to_owned();
        // GET and HEAD only: Hydra's accepts (PUT) and Kratos' DELETEs are
        // idempotent in RFC 9110's terms but work once, and a second one
        // answers 404, 409 or 410.
        let again = matches!(*request.method(), Method::GET | Method::HEAD)
            .then(|| request.try_clone())
            .flatten();
        let began = Instant::now();
        let own = step.own_cookies();
        let answer = match (self.send(request, own).await, again) {
            (Err((NoAnswer::Closed, error)), Some(again)) if began.elapsed() < RESEND_WITHIN => {
                tracing::debug!(step = %step, %error, "closed unanswered; sending it again once");
                tokio::time::sleep(Duration::from_millis(100)).await;
                self.send(again, own).await
            }
            (answer, _) => answer,
        };
        answer.map_err(|(failure, source)| Error::Unanswered {
            step: step.name().to_owned(),
            at,
            failure,
            source,
        })
    }

    /// Sends `request`; with `own_cookies`, only the `Cookie` header it
    /// was built with.
    async fn send(
        &self,
        request: reqwest::Request,
        own_cookies: bool,
    ) -> Result<Response, (NoAnswer, BoxError)> {
        let began = Instant::now();
        let deadline = began + request.timeout().copied().unwrap_or(self.inner.timeout);
        let (url, mut request) = self.prepare(request, own_cookies)?;
        let origin = &url[..Position::AfterPort];
        // A kept connection the server closed before reading the request
        // gives the request back unsent: then it goes out on a new one.
        let answer = loop {
            let (mut connection, kept) = self.connection(origin, &url, deadline).await?;
            let sent = within(deadline, connection.sender.try_send_request(request)).await;
            match sent {
                None => {
                    let waited = deadline.saturating_duration_since(began).as_millis();
                    return Err((
                        NoAnswer::TimedOut,
                        format!("nothing within {waited} ms").into(),
                    ));
                }
                Some(Ok(answer)) => {
                    self.keep(connection);
                    break answer;
                }
                Some(Err(mut failed)) => match failed.take_message() {
                    Some(unsent) if kept => request = unsent,
                    _ => {
                        let error = failed.into_error();
                        return Err((failure(&error), error.into()));
                    }
                },
            }
        };
        let (parts, body) = answer.into_parts();
        if let Some(jar) = &self.inner.jar {
            let mut cookies = parts.headers.get_all(SET_COOKIE).iter().peekable();
            if cookies.peek().is_some() {
                jar.set_cookies(&mut cookies, &url);
            }
        }
        let mut builder = http::Response::builder()
            .status(parts.status)
            .version(parts.version)
            .url(url);
        if let Some(headers) = builder.headers_mut() {
            *headers = parts.headers;
        }
        // What is read of the body is bounded as it streams: a flow that
        // reads it gets an error naming the limit.
        let limit = self.inner.body_limit;
        let body = reqwest::Body::wrap(Bounded {
            inner: body,
            deadline,
            sleep: None,
            left: limit,
            limit,
        });
        let response = builder
            .body(body)
            .map_err(|e| (NoAnswer::Failed, BoxError::from(e)))?;
        Ok(Response::from(response))
    }

    /// The request as hyper sends it on a connection: origin-form target,
    /// `Host`, the client's default `Accept` and `User-Agent`, the jar's
    /// cookies (unless the request's are its own, [`Step::with_own_cookies`]).
    fn prepare(
        &self,
        request: reqwest::Request,
        own_cookies: bool,
    ) -> Result<(Url, http::Request<reqwest::Body>), (NoAnswer, BoxError)> {
        let bad = |e: http::Error| (NoAnswer::Failed, BoxError::from(e));
        let mut request = request;
        let url = request.url().clone();
        let target = &url[Position::BeforePath..Position::AfterQuery];
        let mut headers = std::mem::take(request.headers_mut());
        if !headers.contains_key(HOST) {
            let host = HeaderValue::from_str(authority(&url)).map_err(|e| bad(e.into()))?;
            headers.insert(HOST, host);
        }
        if !headers.contains_key(ACCEPT) {
            headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
        }
        if !headers.contains_key(USER_AGENT) {
            headers.insert(USER_AGENT, self.inner.user_agent.clone());
        }
        if let Some(jar) = &self.inner.jar
            && !own_cookies
            && !headers.contains_key(COOKIE)
            && let Some(cookies) = jar.cookies(&url)
        {
            headers.insert(COOKIE, cookies);
        }
        let body = request.body_mut().take().unwrap_or_default();
        let mut out = http::Request::builder()
            .method(request.method().clone())
            .uri(target)
            .body(body)
            .map_err(bad)?;
        *out.headers_mut() = headers;
        Ok((url, out))
    }
}

/// A cookie as the jar holds it, with the attributes the server set.
pub type Cookie = cookie_store::Cookie<'static>;

/// How long a request may take and how much of its answer is read.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// From sending to the last byte of the answer's body.
    pub timeout: Duration,
    /// The most of a body read: an answer beyond it is an error naming
    /// the step and the limit, not a process out of memory.
    pub body: usize,
}

impl Limits {
    /// `timeout`, and the default [`BODY_LIMIT`].
    pub fn timeout(timeout: Duration) -> Self {
        Self {
            timeout,
            body: BODY_LIMIT,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// `host:port` of `url`, as `Host` carries it (no port when the scheme's
/// own).
fn authority(url: &Url) -> &str {
    &url[Position::BeforeHost..Position::AfterPort]
}

/// A connection closed, reset or cut before the whole answer came is
/// [`NoAnswer::Closed`]; anything else went wrong otherwise.
fn failure(error: &hyper::Error) -> NoAnswer {
    if error.is_incomplete_message() || error.is_canceled() || error.is_closed() {
        return NoAnswer::Closed;
    }
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
                    | std::io::ErrorKind::UnexpectedEof
            )
        {
            return NoAnswer::Closed;
        }
        cause = e.source();
    }
    NoAnswer::Failed
}

/// `future`'s output, or `None` when `deadline` passes first.
async fn within<F: Future>(deadline: Instant, future: F) -> Option<F::Output> {
    tokio::time::timeout_at(deadline.into(), future).await.ok()
}

#[cfg(test)]
mod https_tests;
#[cfg(test)]
mod tests;
