//! A self-service UI on an origin of its own, as a team's app is: it
//! renders Kratos' browser flows (login, registration, verification,
//! recovery, settings, errors) as HTML forms that post to Kratos, and a
//! welcome page that asks Kratos who the browser is. People reach it at
//! `http://app.orygate.test:PORT/` and Kratos at
//! `http://auth.orygate.test:PORT/`: two names, so that cookies cross
//! between the app's host and Kratos' as they do in a deployment (Kratos'
//! cookies are set for `orygate.test`).
//!
//! Started with Hydra ([`UiApp::start_with_hydra`]) it is Hydra's login and
//! consent UI too, as Ory's own UIs are: Hydra (at
//! `http://oauth.orygate.test:PORT/`) sends a login to the app's login
//! page, which hands its `login_challenge` to Kratos' login flow (Kratos
//! accepts the login at Hydra itself), and a consent to the app's consent
//! page, which asks the person and tells Hydra. A client on a site of its
//! own ([`RelyingParty`], `client.orygate-client.test`) starts the
//! authorization and gets the code back.
//!
//! Every one of these names is this machine: the harness's agents connect
//! to 127.0.0.1 for any name under `orygate.test` or `orygate-client.test`
//! ([`is_harness_name`]; `.test` is never in public DNS, RFC 6761).
//!
//! It is served by hyper, as the harness's other servers are, and renders
//! with a few escaping functions rather than a template engine: a form is
//! a loop over Kratos' nodes, and the page is what a browser reads, not
//! what a designer edits.

mod kratos;
mod oauth2;
mod pages;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use http_body_util::BodyExt as _;
use hyper::body::Incoming;
use hyper::header::COOKIE;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::task::JoinHandle;
use url::Url;

use crate::error::{Error, Result};
use crate::hydra::Hydra;
use crate::{NativeApp, Ports};

use kratos::{error_page, flow_page, start, welcome};
pub use oauth2::RelyingParty;
use pages::{Page, escape, html};

/// The app's host name.
pub const APP_HOST: &str = "app.orygate.test";
/// Kratos' public host name, as browsers reach it beside the app.
pub const AUTH_HOST: &str = "auth.orygate.test";
/// Hydra's public host name (its issuer's), beside the app.
pub const OAUTH2_HOST: &str = "oauth.orygate.test";
/// The domain the app, Kratos and Hydra share, which Kratos' cookies are
/// set for: one site.
pub const COOKIE_DOMAIN: &str = "orygate.test";
/// A client's host, on a site of its own (`orygate-client.test`).
pub const CLIENT_HOST: &str = "client.orygate-client.test";

/// Whether `host` is one of the harness's names for this machine: under
/// [`COOKIE_DOMAIN`] or the client's site.
pub fn is_harness_name(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    ["orygate.test", "orygate-client.test"]
        .iter()
        .any(|d| host.ends_with(&format!(".{d}")))
}

/// The flows the app renders, by their path on it.
const FLOWS: [&str; 5] = [
    "login",
    "registration",
    "verification",
    "recovery",
    "settings",
];

/// The most of a form post the app reads.
const FORM_LIMIT: usize = 64 * 1024;

/// The UI app, serving until dropped.
#[derive(Debug)]
pub struct UiApp {
    origin: Url,
    kratos_origin: Url,
    _port: Ports,
    kratos_ports: Mutex<Option<Ports>>,
    hydra: Option<HydraSide>,
    overlay: PathBuf,
    task: JoinHandle<()>,
}

/// Hydra, when the app is its login and consent UI.
#[derive(Debug)]
struct HydraSide {
    /// Its public API as browsers reach it, its issuer.
    origin: Url,
    /// Its public and admin ports, reserved for the stack.
    ports: Mutex<Option<Ports>>,
}

/// What every request of the app needs.
struct Shared {
    /// Kratos' public API as the app calls it (loopback).
    kratos: Url,
    /// Kratos' public API as browsers reach it.
    kratos_origin: Url,
    origin: Url,
    /// Hydra, with its admin API on loopback, when the app is its UI.
    hydra: Option<Hydra>,
    app: NativeApp,
}

impl UiApp {
    /// Starts the app on a free port, with Kratos' ports reserved for the
    /// stack it will front ([`crate::OryStackBuilder::self_service_ui`]),
    /// and writes the Kratos config that points Kratos' flows at it.
    pub async fn start() -> Result<Self> {
        Self::starting(false).await
    }

    /// [`UiApp::start`], the app also Hydra's login and consent UI: Hydra's
    /// ports are reserved too, and the stack it fronts gets Hydra.
    pub async fn start_with_hydra() -> Result<Self> {
        Self::starting(true).await
    }

    async fn starting(with_hydra: bool) -> Result<Self> {
        let (port, listener, addr) = Ports::listen("self-service UI").await?;
        let kratos_ports = Ports::take(2)?;
        let origin = named(APP_HOST, addr.port());
        let kratos_origin = named(AUTH_HOST, kratos_ports.get(0));
        let overlay =
            std::env::temp_dir().join(format!("orygate-ui-{}-{}", std::process::id(), addr.port()));
        write_overlay(&overlay, &origin, &kratos_origin)?;
        let (hydra, hydra_side) = if with_hydra {
            let ports = Ports::take(2)?;
            let origin = named(OAUTH2_HOST, ports.get(0));
            let admin =
                Url::parse(&format!("http://127.0.0.1:{}/", ports.get(1))).expect("a loopback URL");
            (
                Some(Hydra::new(origin.clone(), admin)),
                Some(HydraSide {
                    origin,
                    ports: Mutex::new(Some(ports)),
                }),
            )
        } else {
            (None, None)
        };
        let shared = Arc::new(Shared {
            kratos: Url::parse(&format!("http://127.0.0.1:{}/", kratos_ports.get(0)))
                .expect("a loopback URL"),
            kratos_origin: kratos_origin.clone(),
            origin: origin.clone(),
            hydra,
            app: NativeApp::new()?,
        });
        let task = tokio::spawn(serve(listener, addr, "self-service UI", move |request| {
            let shared = Arc::clone(&shared);
            async move { page(&shared, request).await }
        }));
        Ok(Self {
            origin,
            kratos_origin,
            _port: port,
            kratos_ports: Mutex::new(Some(kratos_ports)),
            hydra: hydra_side,
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

    /// Kratos as browsers reach it beside the app, with `stack`'s admin API
    /// (the stack this app fronts).
    pub fn kratos(&self, stack: &crate::OryStack) -> crate::kratos::Kratos {
        let public = self.kratos_origin.clone();
        match stack.kratos().admin_base() {
            Some(admin) => crate::kratos::Kratos::new(public, admin.clone()),
            None => crate::kratos::Kratos::public_only(public),
        }
    }

    /// Hydra's public API as browsers reach it, its issuer; `None` for an
    /// app started without Hydra.
    pub fn hydra_origin(&self) -> Option<&Url> {
        self.hydra.as_ref().map(|h| &h.origin)
    }

    /// Kratos' ports, reserved for the stack; `None` once taken.
    pub(crate) fn take_kratos_ports(&self) -> Option<Ports> {
        self.kratos_ports.lock().expect("ports lock").take()
    }

    /// Hydra's ports and the environment that makes the app its login and
    /// consent UI and `oauth.orygate.test` its issuer; `None` for an app
    /// without Hydra, or once taken.
    pub(crate) fn take_hydra(&self) -> Option<(Ports, Vec<(&'static str, String)>)> {
        let hydra = self.hydra.as_ref()?;
        let ports = hydra.ports.lock().expect("ports lock").take()?;
        let at = |path: &str| self.url(path).to_string();
        let env = vec![
            ("URLS_SELF_ISSUER", hydra.origin.to_string()),
            ("URLS_SELF_PUBLIC", hydra.origin.to_string()),
            ("URLS_LOGIN", at("login")),
            ("URLS_CONSENT", at("consent")),
            ("URLS_ERROR", at("error")),
            ("URLS_POST_LOGOUT_REDIRECT", at("")),
        ];
        Some((ports, env))
    }

    /// The folder of Kratos' config overlay pointing its flows here (its
    /// `kratos.yml`).
    pub fn kratos_overlay(&self) -> &PathBuf {
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

/// Serves `handler` on `listener` until the task is aborted.
async fn serve<H, F>(
    listener: tokio::net::TcpListener,
    addr: SocketAddr,
    what: &'static str,
    handler: H,
) where
    H: Fn(Request<Incoming>) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Page> + Send + 'static,
{
    while let Ok((stream, _)) = listener.accept().await {
        let handler = handler.clone();
        tokio::spawn(async move {
            let service = service_fn(move |request| {
                let answer = handler(request);
                async move { Ok::<_, hyper::Error>(answer.await) }
            });
            if let Err(e) = http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, %addr, "{what}: connection ended");
            }
        });
    }
}

/// The query's pairs.
fn query(request: &Request<Incoming>) -> Vec<(String, String)> {
    request
        .uri()
        .query()
        .map(|q| {
            url::form_urlencoded::parse(q.as_bytes())
                .into_owned()
                .collect()
        })
        .unwrap_or_default()
}

/// The value of the first pair named `name`.
fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.clone())
}

/// A form post's pairs, read up to [`FORM_LIMIT`].
async fn form_pairs(body: Incoming) -> Result<Vec<(String, String)>, String> {
    let body = http_body_util::Limited::new(body, FORM_LIMIT)
        .collect()
        .await
        .map_err(|e| format!("the form could not be read: {e}"))?
        .to_bytes();
    Ok(url::form_urlencoded::parse(&body).into_owned().collect())
}

async fn page(shared: &Shared, request: Request<Incoming>) -> Page {
    let path = request.uri().path().trim_matches('/').to_owned();
    let query = query(&request);
    let cookie = request
        .headers()
        .get(COOKIE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let post = request.method() == Method::POST;
    let answer = match path.as_str() {
        "" => welcome(shared, &cookie).await,
        "error" => error_page(shared, &query).await,
        "consent" if post => match form_pairs(request.into_body()).await {
            Ok(pairs) => oauth2::decide(shared, &pairs, &cookie).await,
            Err(e) => Ok(html(400, "Consent", &format!("<p>{}</p>", escape(&e)))),
        },
        "consent" => oauth2::consent(shared, param(&query, "consent_challenge")).await,
        flow if FLOWS.contains(&flow) => match param(&query, "flow") {
            Some(id) => flow_page(shared, flow, &id, &cookie).await,
            None => Ok(start(shared, flow, &query)),
        },
        _ => Ok(html(404, "Not found", "<p>No such page.</p>")),
    };
    answer.unwrap_or_else(|e| {
        html(
            502,
            "Ory did not answer",
            &format!("<p>{}</p>", escape(&e.to_string())),
        )
    })
}
