//! Kratos' self-service flows, each written once over a [`Transport`].
//!
//! Browser flows behave as a server-rendered UI in a browser does: start the
//! flow, follow the redirect to the UI, fetch the flow's form, post it as
//! `application/x-www-form-urlencoded` with the CSRF token, and follow the
//! answer's redirects hop by hop. API flows post JSON from a cookie-less
//! client and carry the session as a token.

pub mod login;
pub mod logout;
pub mod registration;
pub mod verification;

use harness::kratos::Flow;
use harness::response::{expect_json, expect_status, recorded_error, status_error};
use harness::transport::{Landing, follow, get_json, step_name};
use harness::{Error, Kratos, Result, Transport};
use serde::Serialize;
use url::Url;

/// What a browser sends as `Accept` when it navigates.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

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

/// Starts a browser flow: `GET /self-service/<kind>/browser`, follows the
/// redirect to the UI and fetches the flow it names.
pub async fn start_browser<T: Transport>(t: &T, kratos: &Kratos, kind: Kind) -> Result<Flow> {
    let url = kratos.public(&format!("self-service/{}/browser", kind.path()));
    let step = step_name("kratos", "GET", &url);
    let response = t
        .send(&step, t.client().get(url).header("Accept", BROWSER_ACCEPT))
        .await?;
    let landing = follow(t, "kratos", kratos.public_base(), response).await?;
    fail_on_error_page(t, kratos, &step, &landing).await?;
    let id = flow_param(&landing.url).ok_or_else(|| {
        Error::unexpected(
            &step,
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

/// Posts a browser flow's form with its CSRF token and the given fields,
/// then follows the redirects. Landing back on the same flow with errors on
/// the form is an [`Error::Flow`] naming Kratos' message ids.
pub async fn submit_browser<T: Transport>(
    t: &T,
    kratos: &Kratos,
    kind: Kind,
    flow: &Flow,
    fields: &[(&str, &str)],
) -> Result<Outcome> {
    let action = Url::parse(&flow.ui.action)
        .map_err(|e| Error::unexpected("kratos flow action", format!("{e}: {}", flow.ui.action)))?;
    let step = step_name("kratos", "POST", &action);
    let csrf = flow
        .csrf_token()
        .ok_or_else(|| Error::unexpected(&step, "the form has no csrf_token node"))?;
    let mut form: Vec<(&str, &str)> = vec![("csrf_token", csrf)];
    form.extend_from_slice(fields);
    let response = t
        .send(
            &step,
            t.client()
                .post(action)
                .header("Accept", BROWSER_ACCEPT)
                .form(&form),
        )
        .await?;
    let status = response.status().as_u16();
    if !response.status().is_redirection() {
        let body = response.text().await.unwrap_or_default();
        return Err(status_error(&step, status, &body));
    }
    let landing = follow(t, "kratos", kratos.public_base(), response).await?;
    fail_on_error_page(t, kratos, &step, &landing).await?;
    if flow_param(&landing.url).as_deref() == Some(flow.id.as_str()) {
        let again = fetch_flow(t, kratos, kind, &flow.id).await?;
        let errors = again.errors();
        if errors.is_empty() {
            return Ok(Outcome::SameFlow(again));
        }
        return Err(Error::Flow {
            step,
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

/// Posts an API flow as JSON. A 400 with the flow in the body (wrong
/// password, invalid code) becomes an [`Error::Flow`].
pub async fn submit_api<T: Transport, B: Serialize + ?Sized, R: serde::de::DeserializeOwned>(
    t: &T,
    flow: &Flow,
    body: &B,
) -> Result<R> {
    let action = Url::parse(&flow.ui.action)
        .map_err(|e| Error::unexpected("kratos flow action", format!("{e}: {}", flow.ui.action)))?;
    let step = step_name("kratos", "POST", &action);
    let response = t
        .send(
            &step,
            t.client()
                .post(action)
                .header("Accept", "application/json")
                .json(body),
        )
        .await?;
    if response.status().as_u16() == 400 {
        let text = response.text().await.unwrap_or_default();
        if let Ok(rejected) = serde_json::from_str::<Flow>(&text) {
            return Err(Error::Flow {
                step,
                flow_id: rejected.id.clone(),
                messages: rejected.errors(),
            });
        }
        return Err(status_error(&step, 400, &text));
    }
    expect_json(&step, response, &[200]).await
}

/// When Kratos sent the browser to its error UI (`?id=` and no flow), reads
/// the error (`GET /self-service/errors?id=`) and fails the step with it,
/// as the UI would show it: the status, Ory's error id and the reason.
async fn fail_on_error_page<T: Transport>(
    t: &T,
    kratos: &Kratos,
    step: &str,
    landing: &Landing,
) -> Result<()> {
    let (Some(id), None) = (query_param(&landing.url, "id"), flow_param(&landing.url)) else {
        return Ok(());
    };
    let mut url = kratos.public("self-service/errors");
    url.query_pairs_mut().append_pair("id", &id);
    let error_step = step_name("kratos", "GET", &url);
    let response = t
        .send(
            &error_step,
            t.client().get(url).header("Accept", "application/json"),
        )
        .await?;
    let body = expect_status(&error_step, response, &[200])
        .await?
        .text()
        .await
        .unwrap_or_default();
    // The status Kratos recorded for the error; the redirect's own if none.
    let redirect = landing.hops.last().map_or(0, |hop| hop.status);
    Err(recorded_error(step, redirect, &body))
}

/// The `flow` query parameter of a UI URL.
pub fn flow_param(url: &Url) -> Option<String> {
    query_param(url, "flow")
}

/// The first value of the query parameter `name`.
fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}
