//! A webhook receiver on 127.0.0.1 for Kratos' `web_hook` hooks: it keeps
//! every request it receives, hands them out in order (bounded waits, as
//! the mailbox does), and answers each with a reply the test sets: a
//! status, a body, a delay.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use url::Url;

use crate::error::{Error, Result};

/// A request as the receiver got it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub method: String,
    /// The path and query.
    pub path: String,
    /// Header names in lowercase.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Delivery {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_str(&self.body).map_err(|e| {
            Error::unexpected(
                format!("webhook {} {}", self.method, self.path),
                format!("the body is not JSON ({e}): {}", self.body),
            )
        })
    }
}

/// How the receiver answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub delay: Duration,
}

impl Default for Reply {
    fn default() -> Self {
        Self {
            status: 200,
            body: "{}".into(),
            delay: Duration::ZERO,
        }
    }
}

#[derive(Debug, Default)]
struct Shared {
    received: Mutex<VecDeque<Delivery>>,
    arrived: Notify,
    reply: Mutex<Reply>,
    /// Replies for the next requests, in order, before `reply`.
    queued: Mutex<VecDeque<Reply>>,
}

/// The receiver. Stops when dropped.
#[derive(Debug)]
pub struct WebhookSink {
    addr: SocketAddr,
    /// The port's reservation, for as long as the receiver listens.
    _port: crate::Ports,
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

/// How many deliveries the receiver keeps uncollected.
const MAX_DELIVERIES: usize = 1_000;

impl WebhookSink {
    /// Binds a free port on 127.0.0.1, reserved as the services' are, and
    /// starts answering.
    pub async fn start() -> Result<Self> {
        let (port, listener, addr) = crate::Ports::listen("webhook receiver").await?;
        let shared = Arc::new(Shared::default());
        let serving = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let shared = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |request| answer(Arc::clone(&shared), request));
                    if let Err(e) = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await
                    {
                        tracing::debug!(error = %e, "webhook receiver: connection ended");
                    }
                });
            }
        });
        Ok(Self {
            addr,
            _port: port,
            shared,
            task,
        })
    }

    /// The URL of `path` on the receiver.
    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!(
            "http://{}/{}",
            self.addr,
            path.trim_start_matches('/')
        ))
        .expect("a loopback URL parses")
    }

    /// Answers every later request with `reply`.
    pub fn reply_with(&self, reply: Reply) {
        *self.shared.reply.lock().expect("reply lock") = reply;
    }

    /// Answers the next requests with `replies`, one each in order, and
    /// then goes back to the reply set by [`WebhookSink::reply_with`]: a
    /// hook slow the first time and quick when retried.
    pub fn reply_next(&self, replies: impl IntoIterator<Item = Reply>) {
        self.shared
            .queued
            .lock()
            .expect("reply lock")
            .extend(replies);
    }

    /// Waits up to `timeout` for the next request.
    pub async fn next(&self, timeout: Duration) -> Result<Delivery> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.shared.arrived.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(delivery) = self
                .shared
                .received
                .lock()
                .expect("webhook lock")
                .pop_front()
            {
                return Ok(delivery);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(Error::unexpected(
                    format!("webhook {}", self.addr),
                    format!("no request arrived within {timeout:?}"),
                ));
            }
        }
    }
}

impl Drop for WebhookSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    shared: Arc<Shared>,
    request: Request<Incoming>,
) -> std::result::Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let delivery = Delivery {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), ToString::to_string),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    tracing::debug!(method = %delivery.method, path = %delivery.path, "webhook received");
    {
        let mut received = shared.received.lock().expect("webhook lock");
        if received.len() >= MAX_DELIVERIES {
            received.pop_front();
        }
        received.push_back(delivery);
    }
    shared.arrived.notify_waiters();
    let queued = shared.queued.lock().expect("reply lock").pop_front();
    let reply = queued.unwrap_or_else(|| shared.reply.lock().expect("reply lock").clone());
    tokio::time::sleep(reply.delay).await;
    let response = Response::builder()
        .status(reply.status)
        .header("Content-Type", "application/json")
        .body(Full::new(Bytes::from(reply.body)))
        .expect("a valid response");
    Ok(response)
}
