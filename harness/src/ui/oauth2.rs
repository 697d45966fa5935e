//! Hydra's consent, as the app asks it, and a client of Hydra's on a site
//! of its own that starts an authorization and gets the code back.

use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use hyper::Request;
use hyper::body::Incoming;
use tokio::task::JoinHandle;
use url::Url;

use super::pages::{Page, escape, html, redirect};
use super::{CLIENT_HOST, Shared, named, param, query, serve};
use crate::Ports;
use crate::error::{Error, Result};
use crate::hydra::tokens::random_token;
use crate::hydra::{AcceptConsent, Hydra};

fn hydra(shared: &Shared) -> Result<&Hydra> {
    shared.hydra.as_ref().ok_or_else(|| {
        Error::unexpected(
            "the self-service UI's consent page",
            "the app was started without Hydra (UiApp::start_with_hydra)",
        )
    })
}

/// `GET /consent?consent_challenge=`: what the client asks, as a form to
/// grant or deny; a consent Hydra remembers (`skip`) is granted at once.
pub(super) async fn consent(shared: &Shared, challenge: Option<String>) -> Result<Page> {
    let Some(challenge) = challenge else {
        return Ok(html(400, "Consent", "<p>No consent_challenge.</p>"));
    };
    let hydra = hydra(shared)?;
    let asked = hydra.consent_request(&shared.app, &challenge).await?;
    if asked.skip {
        let granted = grant(asked.requested_scope, asked.requested_access_token_audience);
        let to = hydra
            .accept_consent(&shared.app, &challenge, &granted)
            .await?;
        return Ok(redirect(&parsed(&to.redirect_to)?));
    }
    let client = if asked.client.client_name.is_empty() {
        asked.client.client_id.clone().unwrap_or_default()
    } else {
        asked.client.client_name.clone()
    };
    let mut body = format!("<p id=\"asks\">{} asks for:</p><ul>", escape(&client));
    for scope in &asked.requested_scope {
        let _ = write!(body, "<li class=\"scope\">{}</li>", escape(scope));
    }
    let _ = write!(
        body,
        "</ul><form action=\"consent\" method=\"POST\">\
         <input type=\"hidden\" name=\"consent_challenge\" value=\"{}\">",
        escape(&challenge)
    );
    for scope in &asked.requested_scope {
        let _ = write!(
            body,
            "<input type=\"hidden\" name=\"grant_scope\" value=\"{}\">",
            escape(scope)
        );
    }
    // The app's own CSRF token: in the form and in a cookie of its own,
    // which another site's page cannot read or set (double submit).
    let token = random_token(24);
    let _ = write!(
        body,
        "<input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">"
    );
    body.push_str(
        "<button type=\"submit\" name=\"action\" value=\"accept\">Allow</button>\
         <button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></form>",
    );
    let mut page = html(200, "Consent", &body);
    let cookie = format!("{CSRF_COOKIE}={token}; Path=/consent; HttpOnly; SameSite=Lax");
    if let Ok(value) = hyper::header::HeaderValue::from_str(&cookie) {
        page.headers_mut().insert(hyper::header::SET_COOKIE, value);
    }
    Ok(page)
}

/// The app's consent CSRF cookie.
const CSRF_COOKIE: &str = "ui_consent_csrf";

/// Whether the form's CSRF token is the one in the browser's cookie.
fn csrf_holds(form: &[(String, String)], cookie: &str) -> bool {
    let sent = cookie.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        (name == CSRF_COOKIE).then_some(value)
    });
    matches!((sent, param(form, "csrf_token")), (Some(a), Some(b)) if !a.is_empty() && a == b)
}

/// `POST /consent`: the person's answer, told to Hydra; the browser goes on
/// where Hydra says.
pub(super) async fn decide(
    shared: &Shared,
    form: &[(String, String)],
    cookie: &str,
) -> Result<Page> {
    if !csrf_holds(form, cookie) {
        return Ok(html(
            403,
            "Consent",
            "<p class=\"error\">The consent form's CSRF token does not match its cookie.</p>",
        ));
    }
    let Some(challenge) = param(form, "consent_challenge") else {
        return Ok(html(400, "Consent", "<p>No consent_challenge.</p>"));
    };
    let hydra = hydra(shared)?;
    let to = if param(form, "action").as_deref() == Some("accept") {
        // Only what Hydra asked is granted, whatever the form adds.
        let asked = hydra.consent_request(&shared.app, &challenge).await?;
        let scopes = form
            .iter()
            .filter(|(k, v)| k == "grant_scope" && asked.requested_scope.contains(v))
            .map(|(_, v)| v.clone())
            .collect();
        let granted = grant(scopes, asked.requested_access_token_audience);
        hydra
            .accept_consent(&shared.app, &challenge, &granted)
            .await?
    } else {
        hydra
            .reject_consent(&shared.app, &challenge, "The person did not allow it.")
            .await?
    };
    Ok(redirect(&parsed(&to.redirect_to)?))
}

fn grant(scopes: Vec<String>, audience: Vec<String>) -> AcceptConsent {
    AcceptConsent {
        grant_scope: scopes,
        grant_access_token_audience: audience,
        ..AcceptConsent::default()
    }
}

fn parsed(to: &str) -> Result<Url> {
    Url::parse(to)
        .map_err(|e| Error::unexpected("hydra's redirect_to", format!("{to:?} is not a URL: {e}")))
}

/// A client of Hydra's on a site of its own,
/// `http://client.orygate-client.test:PORT/`: its home page links to the
/// authorization it is told to offer ([`RelyingParty::offer`]), and its
/// callback shows what came back (`code`, `state`, or `error`,
/// `error_description`, `error_hint`), each in an element of that id.
/// Exchanging the code is its back end's part, left to the caller.
#[derive(Debug)]
pub struct RelyingParty {
    origin: Url,
    offered: Arc<Mutex<Option<Url>>>,
    _port: Ports,
    task: JoinHandle<()>,
}

impl RelyingParty {
    /// Starts the client on a free port.
    pub async fn start() -> Result<Self> {
        let (port, listener, addr) = Ports::listen("relying party").await?;
        let origin = named(CLIENT_HOST, addr.port());
        let offered = Arc::new(Mutex::new(None));
        let shared = Arc::clone(&offered);
        let task = tokio::spawn(serve(listener, addr, "relying party", move |request| {
            let shared = Arc::clone(&shared);
            async move { client_page(&shared, &request) }
        }));
        Ok(Self {
            origin,
            offered,
            _port: port,
            task,
        })
    }

    /// `path` on the client.
    pub fn url(&self, path: &str) -> Url {
        self.origin.join(path).expect("a path on the client")
    }

    /// Its redirect URI, `/callback`.
    pub fn callback(&self) -> Url {
        self.url("callback")
    }

    /// The authorization request the home page's "Sign in" link
    /// (`#sign-in`) starts.
    pub fn offer(&self, authorize: Url) {
        *self.offered.lock().expect("offer lock") = Some(authorize);
    }
}

impl Drop for RelyingParty {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn client_page(offered: &Mutex<Option<Url>>, request: &Request<Incoming>) -> Page {
    match request.uri().path() {
        "/" => match offered.lock().expect("offer lock").as_ref() {
            Some(to) => html(
                200,
                "Client",
                &format!(
                    "<p><a id=\"sign-in\" href=\"{}\">Sign in</a></p>",
                    escape(to.as_str())
                ),
            ),
            None => html(503, "Client", "<p>No sign-in offered yet.</p>"),
        },
        "/callback" => {
            let pairs = query(request);
            let mut body = String::from("<dl>");
            for name in ["code", "state", "error", "error_description", "error_hint"] {
                if let Some(value) = param(&pairs, name) {
                    let _ = write!(
                        body,
                        "<dt>{name}</dt><dd id=\"{name}\">{}</dd>",
                        escape(&value)
                    );
                }
            }
            body.push_str("</dl>");
            html(200, "Callback", &body)
        }
        _ => html(404, "Not found", "<p>No such page.</p>"),
    }
}
