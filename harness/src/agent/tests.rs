//! The agent against a plain TCP server on 127.0.0.1 that answers as each
//! test says: kept connections, cookies, what goes out again and what
//! does not, deadlines.
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;
use crate::step::Expect;
use crate::transport::Transport;
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
async fn read_request(stream: &mut tokio::net::TcpStream, buffer: &mut Vec<u8>) -> Option<String> {
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

const OK_WITH_COOKIE: &str =
    "HTTP/1.1 200 OK\r\ncontent-length: 3\r\nset-cookie: sid=s3cr3t; Path=/; HttpOnly\r\n\r\none";
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
    // Host as RFC 9110 7.2 has it: the host and the port, from the URL
    // the test's server was given.
    let authority = format!("127.0.0.1:{}", url.port().expect("the server's port"));
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

/// An answer longer than the agent's body limit fails when its body is
/// read, naming the step and the limit; one within it reads whole.
#[tokio::test]
async fn a_body_over_the_limit_is_an_error_naming_the_step_and_the_limit() {
    const BIG: &str = "HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\ntwelve bytes";
    let server = serve(|_| Reply::Answer(BIG)).await;
    let step = Step::get("test", &server.url);
    let small = NativeApp::with_limits(Limits {
        timeout: Duration::from_secs(5),
        body: 11,
    })
    .unwrap();
    let answer = small
        .send(&step, small.client().get(server.url.clone()))
        .await
        .unwrap();
    let error = crate::response::text(&step, answer).await.unwrap_err();
    assert_eq!(error.body_too_large(), Some(11), "{error}");
    assert!(!error.is_transient(), "the same the next time");
    let text = error.to_string();
    assert!(text.starts_with("test GET /: "), "{text}");
    assert!(
        text.contains("the answer's body is over the limit of 11 bytes"),
        "{text}"
    );

    let enough = NativeApp::with_limits(Limits {
        timeout: Duration::from_secs(5),
        body: 12,
    })
    .unwrap();
    let answer = enough
        .send(&step, enough.client().get(server.url.clone()))
        .await
        .unwrap();
    assert_eq!(
        crate::response::text(&step, answer).await.unwrap(),
        "twelve bytes"
    );
}
