//! A scripted HTTP server for the load tests that need one that is not
//! Ory: it closes connections or answers late as a test says.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use goose::goose::{Scenario, Transaction, TransactionFunction};
use harness::{Expect, Step, transport::Transport};
use loadtests::{Context, GooseTransport};
use reports::document::StepSummary;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use url::Url;

use super::options;

/// A server on 127.0.0.1 speaking just enough HTTP/1.1: it closes the
/// connection of the next `close_next` requests without answering, and
/// answers the others 200 after the delay its script gives the n-th
/// request (from 0, over all connections).
pub struct Scripted {
    pub url: Url,
    requests: Arc<AtomicUsize>,
    pub close_next: Arc<AtomicUsize>,
}

impl Scripted {
    pub async fn start(delay: fn(usize) -> Duration) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/x", listener.local_addr().unwrap())).unwrap();
        let requests = Arc::new(AtomicUsize::new(0));
        let close_next = Arc::new(AtomicUsize::new(0));
        let (seen, closing) = (Arc::clone(&requests), Arc::clone(&close_next));
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (seen, closing) = (Arc::clone(&seen), Arc::clone(&closing));
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    while read_request(&mut stream, &mut buffer).await {
                        let n = seen.fetch_add(1, Ordering::SeqCst);
                        let close = closing
                            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                            .is_ok();
                        if close {
                            return;
                        }
                        let wait = delay(n);
                        if !wait.is_zero() {
                            tokio::time::sleep(wait).await;
                        }
                        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(ok).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        Self {
            url,
            requests,
            close_next,
        }
    }

    /// The requests it has read.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

/// Reads one request (its head and a `content-length` body); `false`
/// when the client closed.
async fn read_request(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buffer[..end]).to_ascii_lowercase();
            let length: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                buffer.drain(..end + 4 + length);
                return true;
            }
        }
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => buffer.extend_from_slice(&chunk[..n]),
        }
    }
}

/// A user's start for a test's own scenario: a browser of orygate's own,
/// as every profile's users have, and the wait for the window.
pub fn seated(ctx: &Arc<Context>) -> TransactionFunction {
    let ctx = Arc::clone(ctx);
    Arc::new(move |user| {
        let ctx = Arc::clone(&ctx);
        Box::pin(async move {
            let browser = ctx.browser().unwrap();
            ctx.seat(user, browser.agent());
            ctx.start_over(user.weighted_users_index, &Ok(())).await;
            Ok(())
        })
    })
}

/// One Goose user sending GETs to `server` for `seconds`, back to back or
/// (with `rate`) as the open model's rounds, each request within
/// `request_timeout`: the steps it recorded. The caller runs [`super::alone`].
pub async fn one_user(
    server: &Scripted,
    rate: Option<f64>,
    seconds: u64,
    request_timeout: Duration,
) -> Vec<StepSummary> {
    let length = Duration::from_secs(seconds);
    let ctx = Arc::new(
        Context::new(
            harness::kratos::Kratos::public_only(server.url.clone()),
            None,
            1,
            request_timeout,
        )
        .with_rate(rate, length),
    );
    let start = seated(&ctx);
    let (sender, url) = (Arc::clone(&ctx), server.url.clone());
    let get: TransactionFunction = Arc::new(move |user| {
        let (ctx, url) = (Arc::clone(&sender), url.clone());
        Box::pin(async move {
            let t = GooseTransport::new(user, &ctx)?;
            let step = Step::get("test", &url).expecting(Expect::Status(200));
            let answered = t.send(&step, t.client().get(url)).await.map(drop);
            t.finish(answered)
        })
    });
    let round = loadtests::profiles::round(&ctx, "test", get);
    let scenario = Scenario::new("test")
        .set_host(server.url.as_str())
        .register_transaction(Transaction::new(start).set_on_start())
        .register_transaction(Transaction::new(round));
    let opts = options(&["--users", "1", "--duration", &format!("{seconds}s")]);
    let run = loadtests::load::run_scenarios(&ctx, vec![scenario], &opts)
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"));
    run.steps
}
