//! A user agent's own HTTP/1.1 connections.
//!
//! Flows build their requests with reqwest (forms, JSON, query strings) and
//! an [`Agent`] sends them on keep-alive connections of its own, through
//! hyper directly: the user's cookie jar adds `Cookie` and stores
//! `Set-Cookie` as reqwest's would, and the answer comes back as a
//! [`reqwest::Response`]. Under load this is most of a request's cost on
//! the generator's side: reqwest's client stack parses each request's URL
//! three times and clones itself per request, for redirects and pooling
//! across hosts that a user of a few Ory endpoints does not need. What the
//! connections do not carry (`https://` URLs) goes through the reqwest
//! client, which has the same jar.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use reqwest::cookie::CookieStore as _;
use reqwest::header::{ACCEPT, COOKIE, HOST, HeaderValue, SET_COOKIE, USER_AGENT};
use reqwest::{Client, RequestBuilder, Response, ResponseBuilderExt};
use reqwest_cookie_store::CookieStoreMutex;
use url::{Position, Url};

use crate::error::{Error, NoAnswer, Result};
use crate::transport::Step;

/// How long a connection may take to open.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// At most this many idle connections are kept per agent (a browser keeps
/// six per host; a flow talks to a few hosts, one request at a time).
const KEPT: usize = 8;

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
    user_agent: HeaderValue,
    idle: Mutex<Vec<Connection>>,
}

/// A kept-alive connection to one `host:port`.
#[derive(Debug)]
struct Connection {
    authority: Box<str>,
    sender: SendRequest<reqwest::Body>,
    /// When its last answer came: a connection idle for [`IDLE`] is not
    /// used again.
    answered: Instant,
}

/// How long a connection may sit idle and still be used: a server closes
/// idle connections after a while (nginx after 75 s), and a request sent
/// as it does would be lost on the way.
const IDLE: Duration = Duration::from_secs(50);

impl Agent {
    /// An agent sending with `client`'s requests, cookies from and to
    /// `jar`, each request answered within `timeout`.
    pub(crate) fn new(
        client: Client,
        jar: Option<Arc<CookieStoreMutex>>,
        timeout: Duration,
        user_agent: &'static str,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                client,
                jar,
                timeout,
                user_agent: HeaderValue::from_static(user_agent),
                idle: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The client requests are built with. Sending with it directly works
    /// too (same jar), on reqwest's connections rather than the agent's.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Sends `request` as `step` and returns the answer, whatever its
    /// status: a request that got no answer is an [`Error::Unanswered`]
    /// (or, for what reqwest sent, an [`Error::Http`]).
    pub async fn exchange(&self, step: &Step, request: RequestBuilder) -> Result<Response> {
        let request = request.build().map_err(|source| Error::Http {
            step: step.name().to_owned(),
            source,
        })?;
        if request.url().scheme() != "http" {
            return self
                .inner
                .client
                .execute(request)
                .await
                .map_err(|source| Error::Http {
                    step: step.name().to_owned(),
                    source,
                });
        }
        let at = authority(request.url()).to_owned();
        self.send(request)
            .await
            .map_err(|(failure, source)| Error::Unanswered {
                step: step.name().to_owned(),
                at,
                failure,
                source,
            })
    }

    async fn send(&self, request: reqwest::Request) -> Result<Response, (NoAnswer, BoxError)> {
        let began = Instant::now();
        let deadline = began + request.timeout().copied().unwrap_or(self.inner.timeout);
        let (url, mut request) = self.prepare(request)?;
        let authority = authority(&url);
        // A kept connection the server closed before reading the request
        // gives the request back unsent: then it goes out on a new one.
        let answer = loop {
            let (mut connection, kept) = self.connection(authority, &url, deadline).await?;
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
        let body = reqwest::Body::wrap(Bounded {
            inner: body,
            deadline,
            sleep: None,
        });
        let response = builder
            .body(body)
            .map_err(|e| (NoAnswer::Failed, BoxError::from(e)))?;
        Ok(Response::from(response))
    }

    /// The request as hyper sends it on a connection: origin-form target,
    /// `Host`, the client's default `Accept` and `User-Agent`, the jar's
    /// cookies.
    fn prepare(
        &self,
        request: reqwest::Request,
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

    /// A ready connection to `authority`: a kept one (true) or a new one.
    async fn connection(
        &self,
        authority: &str,
        url: &Url,
        deadline: Instant,
    ) -> Result<(Connection, bool), (NoAnswer, BoxError)> {
        let kept = {
            let mut idle = self.inner.idle.lock().expect("connections lock");
            idle.retain(Connection::usable);
            // A connection still reading its last answer's body (a flow
            // that holds a response while it sends the next request) is
            // passed over, as a browser opens another.
            let ready = idle
                .iter()
                .position(|c| &*c.authority == authority && c.sender.is_ready());
            ready.map(|i| idle.swap_remove(i))
        };
        if let Some(connection) = kept {
            return Ok((connection, true));
        }
        let began = Instant::now();
        let until = deadline.min(began + CONNECT_TIMEOUT);
        match within(until, self.open(authority, url)).await {
            Some(opened) => opened.map(|c| (c, false)),
            None => Err((
                NoAnswer::TimedOut,
                format!(
                    "no connection within {} ms",
                    until.saturating_duration_since(began).as_millis()
                )
                .into(),
            )),
        }
    }

    async fn open(&self, authority: &str, url: &Url) -> Result<Connection, (NoAnswer, BoxError)> {
        let refused = |e: std::io::Error| (NoAnswer::Refused, BoxError::from(e));
        let port = url.port_or_known_default().unwrap_or(80);
        let stream = match url.host() {
            Some(url::Host::Ipv4(ip)) => tokio::net::TcpStream::connect((ip, port)).await,
            Some(url::Host::Ipv6(ip)) => tokio::net::TcpStream::connect((ip, port)).await,
            Some(url::Host::Domain(name)) => tokio::net::TcpStream::connect((name, port)).await,
            None => return Err((NoAnswer::Failed, format!("{url} has no host").into())),
        }
        .map_err(refused)?;
        stream.set_nodelay(true).map_err(refused)?;
        let failed = |e: hyper::Error| (failure(&e), BoxError::from(e));
        let (mut sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(failed)?;
        let at = authority.to_owned();
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(authority = at, %error, "connection ended");
            }
        });
        sender.ready().await.map_err(failed)?;
        Ok(Connection {
            authority: authority.into(),
            sender,
            answered: Instant::now(),
        })
    }

    /// Keeps `connection` for the next request; it is ready again once its
    /// answer's body is read.
    fn keep(&self, mut connection: Connection) {
        connection.answered = Instant::now();
        let mut idle = self.inner.idle.lock().expect("connections lock");
        idle.retain(Connection::usable);
        if idle.len() < KEPT {
            idle.push(connection);
        }
    }

    /// How many connections the agent keeps open for its next requests.
    pub fn kept_connections(&self) -> usize {
        let idle = self.inner.idle.lock().expect("connections lock");
        idle.iter().filter(|c| c.usable()).count()
    }
}

impl Connection {
    /// Open, and not idle so long that the server may be closing it.
    fn usable(&self) -> bool {
        !self.sender.is_closed() && self.answered.elapsed() < IDLE
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

/// An answer's body, read by the request's deadline. The timer is armed
/// only when the body is not all there: a small answer arrives with its
/// head.
struct Bounded {
    inner: Incoming,
    deadline: Instant,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl Body for Bounded {
    type Data = bytes::Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => Poll::Ready(frame.map(|f| f.map_err(BoxError::from))),
            Poll::Pending => {
                let deadline = self.deadline;
                let sleep = self
                    .sleep
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline.into())));
                match sleep.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        "the answer's body did not arrive in time",
                    ))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;
    use crate::transport::{Expect, Transport};
    use crate::{Browser, NativeApp};

    /// What the test server does with its n-th request (from 0).
    enum Reply {
        /// Writes these bytes and waits for the next request.
        Answer(&'static str),
        /// Writes these bytes and closes the connection, without saying so.
        AnswerAndClose(&'static str),
        /// Writes these bytes and then nothing more.
        Stall(&'static str),
        /// Closes the connection without an answer.
        Close,
        /// Writes these bytes, then closes the connection when the test
        /// says ([`Server::close`]) and says when it has ([`Server::closed`]).
        AnswerAndCloseWhenTold(&'static str),
    }

    /// A plain TCP server on 127.0.0.1 speaking just enough HTTP/1.1 to
    /// answer as a test says, counting connections and keeping each
    /// request's head.
    struct Server {
        url: Url,
        connections: Arc<AtomicUsize>,
        heads: Arc<Mutex<Vec<String>>>,
        close: Arc<tokio::sync::Notify>,
        closed: Arc<tokio::sync::Notify>,
    }

    async fn serve(reply: fn(usize) -> Reply) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (counted, kept) = (Arc::clone(&connections), Arc::clone(&heads));
        let close = Arc::new(tokio::sync::Notify::new());
        let closed = Arc::new(tokio::sync::Notify::new());
        let (told, done) = (Arc::clone(&close), Arc::clone(&closed));
        tokio::spawn(async move {
            let requests = Arc::new(AtomicUsize::new(0));
            while let Ok((mut stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                let (heads, requests) = (Arc::clone(&kept), Arc::clone(&requests));
                let (told, done) = (Arc::clone(&told), Arc::clone(&done));
                tokio::spawn(async move {
                    let mut buffer = Vec::new();
                    loop {
                        let Some(head) = read_request(&mut stream, &mut buffer).await else {
                            return;
                        };
                        heads.lock().unwrap().push(head);
                        match reply(requests.fetch_add(1, Ordering::SeqCst)) {
                            Reply::Answer(bytes) => {
                                stream.write_all(bytes.as_bytes()).await.unwrap();
                            }
                            Reply::AnswerAndClose(bytes) => {
                                stream.write_all(bytes.as_bytes()).await.unwrap();
                                return;
                            }
                            Reply::Close => return,
                            Reply::AnswerAndCloseWhenTold(bytes) => {
                                stream.write_all(bytes.as_bytes()).await.unwrap();
                                told.notified().await;
                                drop(stream);
                                done.notify_one();
                                return;
                            }
                            Reply::Stall(bytes) => {
                                stream.write_all(bytes.as_bytes()).await.unwrap();
                                tokio::time::sleep(Duration::from_secs(30)).await;
                                return;
                            }
                        }
                    }
                });
            }
        });
        Server {
            url,
            connections,
            heads,
            close,
            closed,
        }
    }

    /// A request's head (lowercase), its body read past by its length.
    async fn read_request(
        stream: &mut tokio::net::TcpStream,
        buffer: &mut Vec<u8>,
    ) -> Option<String> {
        let end = loop {
            if let Some(at) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buffer[..end]).to_lowercase();
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |n| n.trim().parse().unwrap());
        while buffer.len() < end + length {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.ok()?;
            if n == 0 {
                return None;
            }
            buffer.extend_from_slice(&chunk[..n]);
        }
        buffer.drain(..end + length);
        Some(head)
    }

    const OK_WITH_COOKIE: &str = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nset-cookie: sid=s3cr3t; Path=/; HttpOnly\r\n\r\none";
    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntwo";
    /// An answer whose body stops short of its length.
    const HALF: &str = "HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nhalf";

    /// A cookie with the first answer, none after.
    fn cookie_then_ok(n: usize) -> Reply {
        if n == 0 {
            Reply::Answer(OK_WITH_COOKIE)
        } else {
            Reply::Answer(OK)
        }
    }

    fn post_step(url: &Url) -> Step {
        Step::new("test", reqwest::Method::POST, url, Expect::Status(200))
    }

    #[tokio::test]
    async fn a_browser_keeps_its_connection_and_sends_its_cookies() {
        let server = serve(cookie_then_ok).await;
        let browser = Browser::new().unwrap();
        let url = server.url.join("page?x=1").unwrap();
        let step = Step::get("test", &url);
        for body in ["one", "two"] {
            let response = browser
                .send(&step, browser.client().get(url.clone()))
                .await
                .unwrap();
            assert_eq!(response.url(), &url);
            assert_eq!(response.text().await.unwrap(), body);
        }
        assert_eq!(
            server.connections.load(Ordering::SeqCst),
            1,
            "one kept-alive connection"
        );
        assert!(
            browser
                .cookie(&url, "sid")
                .is_some_and(|c| c.http_only() == Some(true))
        );
        let heads = server.heads.lock().unwrap().clone();
        let authority = authority(&url);
        assert!(
            heads[0].starts_with("get /page?x=1 http/1.1\r\n"),
            "{}",
            heads[0]
        );
        assert!(
            heads[0].contains(&format!("host: {authority}\r\n")),
            "{}",
            heads[0]
        );
        assert!(heads[0].contains("user-agent: orygate/"), "{}", heads[0]);
        assert!(!heads[0].contains("cookie:"), "{}", heads[0]);
        assert!(heads[1].contains("cookie: sid=s3cr3t\r\n"), "{}", heads[1]);
        assert_eq!(browser.agent().kept_connections(), 1);
    }

    #[tokio::test]
    async fn an_app_sends_no_cookies() {
        let server = serve(cookie_then_ok).await;
        let app = NativeApp::new().unwrap();
        let step = Step::get("test", &server.url);
        for _ in 0..2 {
            let response = app
                .send(&step, app.client().get(server.url.clone()))
                .await
                .unwrap();
            response.text().await.unwrap();
        }
        let heads = server.heads.lock().unwrap().clone();
        assert!(!heads[1].contains("cookie:"), "{}", heads[1]);
    }

    #[tokio::test]
    async fn a_post_on_a_connection_the_server_closed_goes_out_on_a_new_one() {
        let server = serve(|_| Reply::AnswerAndClose(OK)).await;
        let app = NativeApp::new().unwrap();
        let step = post_step(&server.url);
        for _ in 0..3 {
            let request = app.client().post(server.url.clone()).body("a=1");
            let response = app.send(&step, request).await.unwrap();
            assert_eq!(response.text().await.unwrap(), "two");
        }
        assert_eq!(server.connections.load(Ordering::SeqCst), 3);
        let heads = server.heads.lock().unwrap().clone();
        assert_eq!(heads.len(), 3, "each post sent once: {heads:?}");
    }

    #[tokio::test]
    async fn a_post_the_closing_connection_did_not_take_goes_out_on_a_new_one() {
        let server = serve(|n| {
            if n == 0 {
                Reply::AnswerAndCloseWhenTold(OK)
            } else {
                Reply::Answer(OK)
            }
        })
        .await;
        let app = NativeApp::new().unwrap();
        let step = post_step(&server.url);
        let post = || app.client().post(server.url.clone()).body("a=1");
        let first = app.send(&step, post()).await.unwrap();
        assert_eq!(first.text().await.unwrap(), "two");
        assert_eq!(app.agent().kept_connections(), 1);
        // The server closes the kept connection; the next post goes out at
        // once, before the agent's connection has read the close.
        server.close.notify_one();
        server.closed.notified().await;
        let second = app.send(&step, post()).await.unwrap();
        assert_eq!(second.text().await.unwrap(), "two");
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
        assert_eq!(server.heads.lock().unwrap().len(), 2, "each post sent once");
    }

    #[tokio::test]
    async fn a_get_closed_unanswered_is_sent_again_once_and_a_post_is_not() {
        let server = serve(|n| {
            if n % 2 == 1 {
                Reply::Close
            } else {
                Reply::Answer(OK)
            }
        })
        .await;
        let browser = Browser::new().unwrap();
        let get = Step::get("test", &server.url);
        for _ in 0..2 {
            let response = browser
                .send(&get, browser.client().get(server.url.clone()))
                .await;
            assert_eq!(response.unwrap().text().await.unwrap(), "two");
        }
        assert_eq!(
            server.heads.lock().unwrap().len(),
            3,
            "the second get sent twice"
        );

        let post = post_step(&server.url);
        let request = browser.client().post(server.url.clone()).body("a=1");
        let error = browser.send(&post, request).await.unwrap_err();
        assert!(
            matches!(
                error,
                Error::Unanswered {
                    failure: NoAnswer::Closed,
                    ..
                }
            ),
            "{error}"
        );
        assert_eq!(server.heads.lock().unwrap().len(), 4, "the post sent once");
    }

    #[tokio::test]
    async fn a_held_answer_does_not_hold_up_the_next_request() {
        // The first answer's body never ends: its connection is busy.
        let server = serve(|n| {
            if n == 0 {
                Reply::Stall(HALF)
            } else {
                Reply::Answer(OK)
            }
        })
        .await;
        let browser = Browser::new().unwrap();
        let step = Step::get("test", &server.url);
        let held = browser
            .send(&step, browser.client().get(server.url.clone()))
            .await
            .unwrap();
        let next = browser
            .send(&step, browser.client().get(server.url.clone()))
            .await
            .unwrap();
        assert_eq!(next.text().await.unwrap(), "two");
        assert_eq!(server.connections.load(Ordering::SeqCst), 2);
        drop(held);
    }

    #[tokio::test]
    async fn no_answer_in_time_is_a_timeout_and_a_cut_body_an_error() {
        let silent = serve(|_| Reply::Stall("")).await;
        let app = NativeApp::with_timeout(Duration::from_millis(300)).unwrap();
        let step = Step::get("test", &silent.url);
        let began = Instant::now();
        let error = app
            .send(&step, app.client().get(silent.url.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Unanswered {
                    failure: NoAnswer::TimedOut,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{:?}",
            began.elapsed()
        );
        assert!(
            error
                .to_string()
                .starts_with("test GET /: no answer in time (127.0.0.1:"),
            "{error}"
        );

        let cut = serve(|_| Reply::Stall(HALF)).await;
        let response = app
            .send(&step, app.client().get(cut.url.clone()))
            .await
            .unwrap();
        let began = Instant::now();
        let error = response.text().await.unwrap_err();
        assert!(
            began.elapsed() < Duration::from_secs(2),
            "{:?}",
            began.elapsed()
        );
        assert!(
            format!("{error:?}").contains("did not arrive in time"),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn nobody_listening_is_refused() {
        let url = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap()
        };
        let app = NativeApp::new().unwrap();
        let step = Step::get("test", &url);
        let error = app
            .send(&step, app.client().get(url.clone()))
            .await
            .unwrap_err();
        assert!(
            matches!(
                error,
                Error::Unanswered {
                    failure: NoAnswer::Refused,
                    ..
                }
            ),
            "{error}"
        );
        assert!(
            error.to_string().contains("no connection (127.0.0.1:"),
            "{error}"
        );
    }
}
