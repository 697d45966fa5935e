//! Kratos' self-service flows, each written once over a [`Transport`].
//!
//! Browser flows behave as a server-rendered UI in a browser does: start the
//! flow, follow the redirect to the UI, fetch the flow's form, post it as
//! `application/x-www-form-urlencoded` with the CSRF token, and follow the
//! answer's redirects hop by hop. API flows post JSON from a cookie-less
//! client and carry the session as a token.

pub mod login;
pub mod logout;
pub mod oauth2;
pub mod recovery;
pub mod registration;
pub mod settings;
pub mod ui;
pub mod verification;

use harness::kratos::Flow;
use harness::navigate::{Landing, follow};
use harness::response::{recorded_error, text};
use harness::transport::get_json;
use harness::{Error, Expect, Result, Step, kratos::Kratos, transport::Transport};
use reqwest::Method;
use serde::Serialize;
use url::Url;

/// What a browser sends as `Accept` when it navigates.
pub(crate) const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// The self-service flows, by the name Kratos uses in its paths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Registration,
    Login,
    Verification,
    Recovery,
    Settings,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Login => "login",
            Self::Verification => "verification",
            Self::Recovery => "recovery",
            Self::Settings => "settings",
        }
    }
}

/// Where a submitted browser form left the user.
#[derive(Debug)]
pub enum Outcome {
    /// Back on the same flow (its form re-rendered), without errors: for
    /// example a verification flow that passed its challenge.
    SameFlow(Flow),
    /// Somewhere else: another flow's UI or the return URL.
    Elsewhere(Landing),
}

/// The URL a flow's form posts to and the step that posting is, e.g.
/// `kratos POST /self-service/login?flow=%`, expecting `expect`.
pub fn action(flow: &Flow, expect: Expect) -> Result<(Url, Step)> {
    let url = Url::parse(&flow.ui.action).map_err(|e| {
        Error::unexpected(
            "kratos POST (the flow's action)",
            format!("the flow's action {:?} is not a URL: {e}", flow.ui.action),
        )
    })?;
    let step = Step::new("kratos", Method::POST, &url, expect);
    Ok((url, step))
}

/// Starts a browser flow: `GET /self-service/<kind>/browser`, which must
/// redirect to the UI, then fetches the flow the UI URL names.
pub async fn start_browser<T: Transport>(t: &T, kratos: &Kratos, kind: Kind) -> Result<Flow> {
    start_browser_with(t, kratos, kind, &[]).await
}

/// [`start_browser`] with query parameters (`refresh=true`,
/// `return_to=...`).
pub async fn start_browser_with<T: Transport>(
    t: &T,
    kratos: &Kratos,
    kind: Kind,
    query: &[(&str, &str)],
) -> Result<Flow> {
    let mut url = kratos.public(&format!("self-service/{}/browser", kind.path()));
    if !query.is_empty() {
        url.query_pairs_mut().extend_pairs(query);
    }
    let step = Step::new("kratos", Method::GET, &url, Expect::Redirect);
    let response = t
        .send(&step, t.client().get(url).header("Accept", BROWSER_ACCEPT))
        .await?;
    let landing = follow(t, kratos.public_base(), &step, response).await?;
    fail_on_error_page(t, kratos, &step, &landing).await?;
    let id = flow_param(&landing.url).ok_or_else(|| {
        Error::unexpected(
            step.name(),
            format!("landed on {} without a flow id", landing.url),
        )
    })?;
    fetch_flow(t, kratos, kind, &id).await
}

/// Fetches a flow's current form: `GET /self-service/<kind>/flows?id=`.
pub async fn fetch_flow<T: Transport>(
    t: &T,
    kratos: &Kratos,
    kind: Kind,
    id: &str,
) -> Result<Flow> {
    let mut url = kratos.public(&format!("self-service/{}/flows", kind.path()));
    url.query_pairs_mut().append_pair("id", id);
    get_json(t, "kratos", url).await
}

/// Posts a browser flow's form with its CSRF token and the given fields;
/// the answer must be a redirect, which is followed. Landing back on the
/// same flow with errors on the form is an [`Error::Flow`] naming Kratos'
/// message ids, charged to the post.
pub async fn submit_browser<T: Transport>(
    t: &T,
    kratos: &Kratos,
    kind: Kind,
    flow: &Flow,
    fields: &[(&str, &str)],
) -> Result<Outcome> {
    let (url, step) = action(flow, Expect::Redirect)?;
    let csrf = flow
        .csrf_token()
        .ok_or_else(|| Error::unexpected(step.name(), "the form has no csrf_token node"))?;
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    let response = t
        .send(
            &step,
            t.client()
                .post(url)
                .header("Accept", BROWSER_ACCEPT)
                .form(&form),
        )
        .await?;
    let landing = follow(t, kratos.public_base(), &step, response).await?;
    fail_on_error_page(t, kratos, &step, &landing).await?;
    if flow_param(&landing.url).as_deref() == Some(flow.id.as_str()) {
        let again = fetch_flow(t, kratos, kind, &flow.id).await?;
        let errors = again.errors();
        if errors.is_empty() {
            return Ok(Outcome::SameFlow(again));
        }
        return Err(Error::Flow {
            step: step.name().to_owned(),
            flow_id: flow.id.clone(),
            messages: errors,
        });
    }
    Ok(Outcome::Elsewhere(landing))
}

/// Starts an API flow: `GET /self-service/<kind>/api`.
pub async fn start_api<T: Transport>(t: &T, kratos: &Kratos, kind: Kind) -> Result<Flow> {
    let url = kratos.public(&format!("self-service/{}/api", kind.path()));
    get_json(t, "kratos", url).await
}

/// Posts an API flow as JSON, expecting a 200. A rejection (wrong
/// password, invalid code: a 400 with the flow in the body) is an
/// [`Error::Flow`] with Kratos' message ids.
pub async fn submit_api<T: Transport, B: Serialize + ?Sized, R: serde::de::DeserializeOwned>(
    t: &T,
    flow: &Flow,
    body: &B,
) -> Result<R> {
    let (url, step) = action(flow, Expect::Status(200))?;
    let response = t
        .send(
            &step,
            t.client()
                .post(url)
                .header("Accept", "application/json")
                .json(body),
        )
        .await?;
    harness::response::json(&step, response).await
}

/// When Kratos sent the browser to its error UI (`?id=` and no flow), reads
/// the error (`GET /self-service/errors?id=`) and fails `step` with it, as
/// the UI would show it: the status, Ory's error id and the reason.
async fn fail_on_error_page<T: Transport>(
    t: &T,
    kratos: &Kratos,
    step: &Step,
    landing: &Landing,
) -> Result<()> {
    let (Some(id), None) = (query_param(&landing.url, "id"), flow_param(&landing.url)) else {
        return Ok(());
    };
    let mut url = kratos.public("self-service/errors");
    url.query_pairs_mut().append_pair("id", &id);
    let error_step = Step::get("kratos", &url);
    let response = t
        .send(
            &error_step,
            t.client().get(url).header("Accept", "application/json"),
        )
        .await?;
    let body = text(&error_step, response).await?;
    // The status Kratos recorded for the error; the redirect's own if none.
    let redirect = landing.hops.last().map_or(0, |hop| hop.status);
    Err(recorded_error(step.name(), redirect, &body))
}

/// The `flow` query parameter of a UI URL.
pub fn flow_param(url: &Url) -> Option<String> {
    query_param(url, "flow")
}

/// The first value of the query parameter `name`.
pub fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
