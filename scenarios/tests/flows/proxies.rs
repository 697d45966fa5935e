//! Reverse proxies in front of Kratos' public API that get one thing
//! wrong, as deployments do: the misconfigurations the gate's checks of
//! what sits in front of Ory must catch.
//! - [`Fault::CachesWhoami`]: a CDN or gateway told to cache `GET` keeps
//!   whoami answers, so a logged-out session stays alive there.
//! - [`Fault::RepairsCsrf`]: a backend-for-frontend that "fixes" CSRF
//!   errors by putting the flow's own token into every form it forwards,
//!   so a forged post passes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use url::Url;

/// What the proxy gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// None: forwards as it got it (the control).
    Faithful,
    CachesWhoami,
    RepairsCsrf,
}

type Answer = (u16, Vec<(String, String)>, Bytes);

struct State {
    fault: Fault,
    upstream: OnceLock<Url>,
    // The harness's own agent: it trusts the stack's CA.
    client: harness::NativeApp,
    cache: Mutex<HashMap<String, Answer>>,
}

/// A proxy listening on 127.0.0.1 for as long as the test's runtime.
pub struct Proxy {
    url: Url,
    state: Arc<State>,
}

impl Proxy {
    /// Listens now; forwards once [`Proxy::forward_to`] says where (so a
    /// Kratos can be started with this proxy as its base URL).
    pub async fn listen(fault: Fault) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = Url::parse(&format!("http://{}/", listener.local_addr().unwrap())).unwrap();
        let state = Arc::new(State {
            fault,
            upstream: OnceLock::new(),
            client: harness::NativeApp::new().unwrap(),
            cache: Mutex::default(),
        });
        let serving = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let state = Arc::clone(&serving);
                tokio::spawn(async move {
                    let service = service_fn(move |r| forward(Arc::clone(&state), r));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { url, state }
    }

    pub fn url(&self) -> &Url {
        &self.url
    }

    pub fn forward_to(&self, upstream: Url) {
        self.state.upstream.set(upstream).expect("set once");
    }
}

/// A proxy with `fault` in front of `upstream`; its base URL.
pub async fn start(fault: Fault, upstream: Url) -> Url {
    let proxy = Proxy::listen(fault).await;
    proxy.forward_to(upstream);
    proxy.url.clone()
}

async fn forward(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let upstream = state.upstream.get().expect("forward_to was called").clone();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = (state.fault == Fault::CachesWhoami
        && parts.method == hyper::Method::GET
        && parts.uri.path() == "/sessions/whoami")
        .then(|| format!("{}|{}", header("x-session-token"), header("cookie")));
    if let Some(hit) = key
        .as_ref()
        .and_then(|k| state.cache.lock().unwrap().get(k).cloned())
    {
        return Ok(respond(hit));
    }
    let mut body = body.collect().await?.to_bytes();
    let url = upstream.join(path.trim_start_matches('/')).unwrap();
    if state.fault == Fault::RepairsCsrf
        && parts.method == hyper::Method::POST
        && header("content-type").starts_with("application/x-www-form-urlencoded")
        && let Some(token) = flow_token(&state, &upstream, &url, &header("cookie")).await
    {
        let mut form: Vec<(String, String)> = url::form_urlencoded::parse(&body)
            .into_owned()
            .filter(|(k, _)| k != "csrf_token")
            .collect();
        form.push(("csrf_token".into(), token));
        body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form)
            .finish()
            .into();
    }
    let agent = state.client.agent();
    let step = harness::Step::new(
        "kratos",
        parts.method.clone(),
        &url,
        harness::Expect::Navigate,
    );
    let mut outgoing = agent.client().request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST && name != hyper::header::CONTENT_LENGTH {
            outgoing = outgoing.header(name, value);
        }
    }
    let got = agent
        .exchange(&step, outgoing)
        .await
        .expect("Kratos answers the proxy");
    let status = got.status().as_u16();
    let headers = got
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_owned()))
        .collect();
    let answer = (status, headers, got.bytes().await.unwrap_or_default());
    if let Some(key) = key
        && status == 200
    {
        state.cache.lock().unwrap().insert(key, answer.clone());
    }
    Ok(respond(answer))
}

/// The CSRF token of the self-service flow `url` posts to, read with the
/// caller's cookies, as the "repairing" proxy fetches it.
async fn flow_token(state: &State, upstream: &Url, url: &Url, cookie: &str) -> Option<String> {
    let kind = url
        .path()
        .strip_prefix("/self-service/")?
        .split('/')
        .next()?;
    let id = url.query_pairs().find(|(k, _)| k == "flow")?.1.into_owned();
    let mut flows = upstream.join(&format!("self-service/{kind}/flows")).ok()?;
    flows.query_pairs_mut().append_pair("id", &id);
    let agent = state.client.agent();
    let step = harness::Step::get("kratos", &flows);
    let request = agent.client().get(flows.clone()).header("cookie", cookie);
    let flow: Value = agent
        .exchange(&step, request)
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    flow.pointer("/ui/nodes")?
        .as_array()?
        .iter()
        .find(|n| n.pointer("/attributes/name").and_then(Value::as_str) == Some("csrf_token"))?
        .pointer("/attributes/value")?
        .as_str()
        .map(str::to_owned)
}

fn respond((status, headers, body): Answer) -> Response<Full<Bytes>> {
    let mut response = Response::builder().status(status);
    for (name, value) in headers {
        if !matches!(
            name.as_str(),
            "transfer-encoding" | "connection" | "content-length"
        ) {
            response = response.header(name, value);
        }
    }
    response.body(Full::new(body)).unwrap()
}
