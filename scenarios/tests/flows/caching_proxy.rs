//! A reverse proxy in front of Kratos' public API that caches whoami
//! answers, as a CDN or an API gateway told to cache `GET` does when it
//! ignores `Cache-Control`: the deployment misconfiguration that keeps a
//! logged-out session alive for whoever asks the proxy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use url::Url;

type Cached = (u16, Vec<(String, String)>, Bytes);

/// Starts the proxy on 127.0.0.1 in front of `upstream`; its base URL.
/// It lives as long as the test's runtime.
pub async fn start(upstream: Url) -> Url {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    // The harness's own agent: it trusts the stack's CA.
    let client = Arc::new(harness::NativeApp::new().unwrap());
    let cache: Arc<Mutex<HashMap<String, Cached>>> = Arc::default();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (client, cache, upstream) = (client.clone(), Arc::clone(&cache), upstream.clone());
            tokio::spawn(async move {
                let service = service_fn(move |request| {
                    forward(
                        client.clone(),
                        Arc::clone(&cache),
                        upstream.clone(),
                        request,
                    )
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Url::parse(&format!("http://{addr}/")).unwrap()
}

async fn forward(
    client: Arc<harness::NativeApp>,
    cache: Arc<Mutex<HashMap<String, Cached>>>,
    upstream: Url,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let header = |name: &str| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let key = (parts.method == hyper::Method::GET && parts.uri.path() == "/sessions/whoami")
        .then(|| format!("{}|{}", header("x-session-token"), header("cookie")));
    if let Some(hit) = key
        .as_ref()
        .and_then(|k| cache.lock().unwrap().get(k).cloned())
    {
        return Ok(answer(hit));
    }
    let body = body.collect().await?.to_bytes();
    let url = upstream.join(path.trim_start_matches('/')).unwrap();
    let agent = client.agent();
    let step = harness::Step::new(
        "kratos",
        parts.method.clone(),
        &url,
        harness::Expect::Navigate,
    );
    let mut outgoing = agent.client().request(parts.method.clone(), url).body(body);
    for (name, value) in &parts.headers {
        if name != hyper::header::HOST {
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
    let bytes = got.bytes().await.unwrap_or_default();
    let cached = (status, headers, bytes);
    if let Some(key) = key
        && status == 200
    {
        cache.lock().unwrap().insert(key, cached.clone());
    }
    Ok(answer(cached))
}

fn answer((status, headers, body): Cached) -> Response<Full<Bytes>> {
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
