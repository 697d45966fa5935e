//! A self-service UI on an origin of its own, as a team's app is: it
//! renders Kratos' browser flows (login, registration, verification,
//! recovery, settings, errors) as HTML forms that post to Kratos, and a
//! welcome page that asks Kratos who the browser is. People reach it at
//! `http://app.orygate.test:PORT/` and Kratos at
//! `http://auth.orygate.test:PORT/`: two names, so that cookies cross
//! between the app's host and Kratos' as they do in a deployment (Kratos'
//! cookies are set for `orygate.test`). Both names are this machine: the
//! harness's agents connect to 127.0.0.1 for any `*.orygate.test`.
//!
//! It is served by hyper, as the harness's other servers are, and renders
//! with a few escaping functions rather than a template engine: a form is
//! a loop over Kratos' nodes, and the page is what a browser reads, not
//! what a designer edits.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::header::{CONTENT_TYPE, COOKIE, LOCATION};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use reqwest::header::ACCEPT;
use serde_json::Value;
use tokio::task::JoinHandle;
use url::Url;

use crate::error::{Error, Result};
use crate::{NativeApp, Ports, Step};

/// The app's host name.
pub const APP_HOST: &str = "app.orygate.test";
/// Kratos' public host name, as browsers reach it beside the app.
pub const AUTH_HOST: &str = "auth.orygate.test";
/// The domain both share, which Kratos' cookies are set for.
pub const COOKIE_DOMAIN: &str = "orygate.test";

/// The flows the app renders, by their path on it.
const FLOWS: [&str; 5] = [
    "login",
    "registration",
    "verification",
    "recovery",
    "settings",
];

/// The UI app, serving until dropped.
#[derive(Debug)]
pub struct UiApp {
    origin: Url,
    kratos_origin: Url,
    _port: Ports,
    kratos_ports: Mutex<Option<Ports>>,
    overlay: PathBuf,
    task: JoinHandle<()>,
}

/// What every request of the app needs.
struct Shared {
    /// Kratos' public API as the app calls it (loopback).
    kratos: Url,
    /// Kratos' public API as browsers reach it.
    kratos_origin: Url,
    origin: Url,
    app: NativeApp,
}

impl UiApp {
    /// Starts the app on a free port, with Kratos' ports reserved for the
    /// stack it will front ([`crate::OryStackBuilder::self_service_ui`]),
    /// and writes the Kratos config that points Kratos' flows at it.
    pub async fn start() -> Result<Self> {
        let (port, listener, addr) = Ports::listen("self-service UI").await?;
        let kratos_ports = Ports::take(2)?;
        let origin = named(APP_HOST, addr.port());
        let kratos_origin = named(AUTH_HOST, kratos_ports.get(0));
        let overlay =
            std::env::temp_dir().join(format!("orygate-ui-{}-{}", std::process::id(), addr.port()));
        write_overlay(&overlay, &origin, &kratos_origin)?;
        let shared = Arc::new(Shared {
            kratos: Url::parse(&format!("http://127.0.0.1:{}/", kratos_ports.get(0)))
                .expect("a loopback URL"),
            kratos_origin: kratos_origin.clone(),
            origin: origin.clone(),
            app: NativeApp::new()?,
        });
        let task = tokio::spawn(serve(listener, shared, addr));
        Ok(Self {
            origin,
            kratos_origin,
            _port: port,
            kratos_ports: Mutex::new(Some(kratos_ports)),
            overlay,
            task,
        })
    }

    /// The app's origin, `http://app.orygate.test:PORT/`.
    pub fn origin(&self) -> &Url {
        &self.origin
    }

    /// `path` on the app.
    pub fn url(&self, path: &str) -> Url {
        self.origin.join(path).expect("a path on the app")
    }

    /// Kratos' public API as browsers reach it beside the app.
    pub fn kratos_origin(&self) -> &Url {
        &self.kratos_origin
    }

    /// Kratos' ports, reserved for the stack; `None` once taken.
    pub(crate) fn take_kratos_ports(&self) -> Option<Ports> {
        self.kratos_ports.lock().expect("ports lock").take()
    }

    /// The folder of Kratos' config overlay pointing its flows here.
    pub(crate) fn overlay(&self) -> &PathBuf {
        &self.overlay
    }
}

impl Drop for UiApp {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_dir_all(&self.overlay);
    }
}

fn named(host: &str, port: u16) -> Url {
    Url::parse(&format!("http://{host}:{port}/")).expect("a URL of a name and a port")
}

/// Kratos' config for a UI at `app`: its flows' UI URLs and return URLs
/// there, its public base URL `kratos`, its cookies for both hosts.
fn write_overlay(dir: &PathBuf, app: &Url, kratos: &Url) -> Result<()> {
    let at = |path: &str| app.join(path).expect("a path on the app").to_string();
    let mut flows = serde_json::json!({});
    for flow in FLOWS.iter().chain(&["error"]) {
        flows[*flow] = serde_json::json!({ "ui_url": at(flow) });
    }
    flows["verification"]["after"] = serde_json::json!({"default_browser_return_url": at("")});
    flows["logout"] = serde_json::json!({"after": {"default_browser_return_url": at("login")}});
    let config = serde_json::json!({
        // The app's own pages may call Kratos from the browser too.
        "serve": {"public": {"base_url": kratos.as_str(), "cors": {
            "enabled": true,
            "allowed_origins": [app.as_str().trim_end_matches('/')],
            "allow_credentials": true,
        }}},
        "selfservice": {
            "default_browser_return_url": at(""),
            "allowed_return_urls": [app.as_str()],
            "flows": flows,
        },
        "session": {"cookie": {"domain": COOKIE_DOMAIN}},
        "cookies": {"domain": COOKIE_DOMAIN},
    });
    let failed = |e: String| Error::Config {
        path: dir.display().to_string(),
        reason: e,
    };
    std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
    let yaml = serde_yaml_ng::to_string(&config).map_err(|e| failed(e.to_string()))?;
    std::fs::write(dir.join("kratos.yml"), yaml).map_err(|e| failed(e.to_string()))
}

async fn serve(listener: tokio::net::TcpListener, shared: Arc<Shared>, addr: SocketAddr) {
    while let Ok((stream, _)) = listener.accept().await {
        let shared = Arc::clone(&shared);
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let shared = Arc::clone(&shared);
                async move { Ok::<_, hyper::Error>(page(&shared, request).await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, %addr, "self-service UI: connection ended");
            }
        });
    }
}

type Page = Response<Full<Bytes>>;

async fn page(shared: &Shared, request: Request<Incoming>) -> Page {
    let path = request.uri().path().trim_matches('/').to_owned();
    let query: Vec<(String, String)> = request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let cookie = request
        .headers()
        .get(COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let answer = match path.as_str() {
        "" => welcome(shared, &cookie).await,
        "error" => error_page(shared, param("id").as_deref()).await,
        flow if FLOWS.contains(&flow) => match param("flow") {
            Some(id) => flow_page(shared, flow, &id, &cookie).await,
            None => Ok(start(shared, flow, param("return_to").as_deref())),
        },
        _ => Ok(html(404, "Not found", "<p>No such page.</p>")),
    };
    answer.unwrap_or_else(|e| {
        html(
            502,
            "Kratos did not answer",
            &format!("<p>{}</p>", escape(&e.to_string())),
        )
    })
}

/// A new browser flow of `kind`, started at Kratos, which sends the
/// browser back here with its id; `return_to` passed on, as Ory's UIs do.
fn start(shared: &Shared, kind: &str, return_to: Option<&str>) -> Page {
    let mut to = shared
        .kratos_origin
        .join(&format!("self-service/{kind}/browser"))
        .expect("a Kratos path");
    if let Some(return_to) = return_to {
        to.query_pairs_mut().append_pair("return_to", return_to);
    }
    redirect(&to)
}

/// GET `path` on Kratos' public API with the browser's cookies.
async fn kratos(shared: &Shared, path: &str, cookie: &str) -> Result<(u16, Value)> {
    let url = shared.kratos.join(path).expect("a Kratos path");
    let agent = shared.app.agent();
    let mut request = agent
        .client()
        .get(url.clone())
        .header(ACCEPT, "application/json");
    if !cookie.is_empty() {
        request = request.header(reqwest::header::COOKIE, cookie);
    }
    let step = Step::get("ui", &url);
    let answer = agent.exchange(&step, request).await?;
    let status = answer.status().as_u16();
    let body = answer.text().await.unwrap_or_default();
    Ok((status, serde_json::from_str(&body).unwrap_or(Value::Null)))
}

async fn flow_page(shared: &Shared, kind: &str, id: &str, cookie: &str) -> Result<Page> {
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let (status, flow) = kratos(
        shared,
        &format!("self-service/{kind}/flows?id={id}"),
        cookie,
    )
    .await?;
    Ok(match status {
        200 => html(200, &title(kind), &form(&flow)),
        // Expired, of another browser, or gone: a new one, as Ory's UIs do.
        403 | 404 | 410 => start(shared, kind, None),
        _ => html(
            502,
            &title(kind),
            &format!(
                "<p>Kratos answered {status}: {}</p>",
                escape(&flow.to_string())
            ),
        ),
    })
}

async fn error_page(shared: &Shared, id: Option<&str>) -> Result<Page> {
    let Some(id) = id else {
        return Ok(html(400, "Error", "<p>No error id.</p>"));
    };
    let id: String = url::form_urlencoded::byte_serialize(id.as_bytes()).collect();
    let (_, error) = kratos(shared, &format!("self-service/errors?id={id}"), "").await?;
    let text = |pointer: &str| error.pointer(pointer).and_then(Value::as_str).map(escape);
    let mut body = format!(
        "<p class=\"error\">{}</p>",
        text("/error/message").unwrap_or_else(|| "unknown error".into())
    );
    // Kratos' reason says which parameter, which URL.
    if let Some(reason) = text("/error/reason") {
        let _ = write!(body, "<p class=\"error reason\">{reason}</p>");
    }
    Ok(html(200, "Error", &body))
}

/// Who the browser is, with a way out; or the login, for nobody.
async fn welcome(shared: &Shared, cookie: &str) -> Result<Page> {
    let (status, session) = kratos(shared, "sessions/whoami", cookie).await?;
    if status != 200 {
        return Ok(redirect(
            &shared.origin.join("login").expect("a path on the app"),
        ));
    }
    let email = session
        .pointer("/identity/traits/email")
        .and_then(Value::as_str)
        .unwrap_or("someone");
    let (_, logout) = kratos(shared, "self-service/logout/browser", cookie).await?;
    let mut body = format!("<p id=\"who\">Signed in as {}</p>", escape(email));
    if let Some(url) = logout.get("logout_url").and_then(Value::as_str) {
        let _ = write!(
            body,
            "<p><a id=\"logout\" href=\"{}\">Sign out</a></p>",
            escape(url)
        );
    }
    Ok(html(200, "Welcome", &body))
}

fn title(kind: &str) -> String {
    let mut t = kind.to_owned();
    if let Some(first) = t.get_mut(0..1) {
        first.make_ascii_uppercase();
    }
    t
}

/// A flow's UI as a form: its messages, then each node (inputs, buttons,
/// links, text), each with its own messages.
fn form(flow: &Value) -> String {
    let ui = &flow["ui"];
    let mut out = messages(&ui["messages"]);
    let _ = write!(
        out,
        "<form action=\"{}\" method=\"{}\">",
        escape(ui["action"].as_str().unwrap_or_default()),
        escape(ui["method"].as_str().unwrap_or("POST"))
    );
    for node in ui["nodes"].as_array().into_iter().flatten() {
        let a = &node["attributes"];
        let label = node
            .pointer("/meta/label/text")
            .and_then(Value::as_str)
            .unwrap_or_default();
        match node["type"].as_str().unwrap_or_default() {
            "input" => {
                let name = escape(a["name"].as_str().unwrap_or_default());
                let kind = a["type"].as_str().unwrap_or("text");
                let value = match &a["value"] {
                    Value::String(s) => escape(s),
                    Value::Null => String::new(),
                    other => escape(&other.to_string()),
                };
                let required = if a["required"].as_bool() == Some(true) {
                    " required"
                } else {
                    ""
                };
                match kind {
                    "submit" | "button" => {
                        let _ = write!(
                            out,
                            "<button type=\"submit\" name=\"{name}\" value=\"{value}\">{}</button>",
                            escape(label)
                        );
                    }
                    "hidden" => {
                        let _ = write!(
                            out,
                            "<input type=\"hidden\" name=\"{name}\" value=\"{value}\">"
                        );
                    }
                    _ => {
                        let _ = write!(
                            out,
                            "<label>{} <input type=\"{}\" name=\"{name}\" value=\"{value}\"{required}></label>",
                            escape(label),
                            escape(kind)
                        );
                    }
                }
            }
            "a" => {
                let _ = write!(
                    out,
                    "<a href=\"{}\">{}</a>",
                    escape(a["href"].as_str().unwrap_or_default()),
                    escape(
                        a.pointer("/title/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )
                );
            }
            "text" => {
                let _ = write!(
                    out,
                    "<p>{}</p>",
                    escape(
                        a.pointer("/text/text")
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                    )
                );
            }
            _ => {}
        }
        out.push_str(&messages(&node["messages"]));
    }
    out.push_str("</form>");
    out
}

fn messages(list: &Value) -> String {
    let mut out = String::new();
    for m in list.as_array().into_iter().flatten() {
        let _ = write!(
            out,
            "<p class=\"message {}\" data-id=\"{}\">{}</p>",
            escape(m["type"].as_str().unwrap_or("info")),
            m["id"].as_i64().unwrap_or_default(),
            escape(m["text"].as_str().unwrap_or_default())
        );
    }
    out
}

fn redirect(to: &Url) -> Page {
    Response::builder()
        .status(303)
        .header(LOCATION, to.as_str())
        .body(Full::new(Bytes::new()))
        .expect("a valid response")
}

fn html(status: u16, title: &str, body: &str) -> Page {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = escape(title)
    );
    Response::builder()
        .status(status)
        .header(CONTENT_TYPE, "text/html; charset=utf-8")
        .body(Full::new(Bytes::from(page)))
        .expect("a valid response")
}

/// One field per line, readable without a stylesheet to fetch.
const STYLE: &str = "body{font-family:sans-serif;max-width:26rem;margin:2rem auto;padding:0 1rem}\
label{display:block;margin:.75rem 0}input:not([type=hidden]){display:block;width:100%;\
padding:.4rem;margin-top:.25rem;box-sizing:border-box}button{margin:.75rem .5rem 0 0;\
padding:.4rem .9rem}.message{margin:.25rem 0}.error{color:#b00020}";

/// Text for HTML, in text and in attribute values.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
