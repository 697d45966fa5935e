//! Sign-in with identifier and password.

use harness::kratos::NativeLogin;
use harness::navigate::Landing;
use harness::{Error, Expect, Result, kratos::Kratos, transport::Transport};
use serde_json::json;

use super::{
    Kind, Outcome, action, flow_param, start_api, start_browser_with, submit_api, submit_browser,
};

/// Signs in in a browser. On success Kratos sets the session cookie and
/// sends the browser to the return URL, where the walk ends.
pub async fn browser<T: Transport>(
    t: &T,
    kratos: &Kratos,
    identifier: &str,
    password: &str,
) -> Result<Landing> {
    browser_with(t, kratos, identifier, password, &[]).await
}

/// Signs in again in a browser that has a session (`refresh=true`), as
/// Kratos asks before a privileged change once the session is no longer
/// fresh.
pub async fn browser_refresh<T: Transport>(
    t: &T,
    kratos: &Kratos,
    identifier: &str,
    password: &str,
) -> Result<Landing> {
    browser_with(t, kratos, identifier, password, &[("refresh", "true")]).await
}

/// A browser login from a flow started with `query`.
pub async fn browser_with<T: Transport>(
    t: &T,
    kratos: &Kratos,
    identifier: &str,
    password: &str,
    query: &[(&str, &str)],
) -> Result<Landing> {
    let flow = start_browser_with(t, kratos, Kind::Login, query).await?;
    submit_password(t, kratos, &flow, identifier, password).await
}

/// Signs in with a password in the browser login flow `flow` (one the
/// browser was sent to, e.g. by Hydra with a login challenge): the walk
/// ends where Kratos sends the browser once signed in.
pub async fn submit_password<T: Transport>(
    t: &T,
    kratos: &Kratos,
    flow: &harness::kratos::Flow,
    identifier: &str,
    password: &str,
) -> Result<Landing> {
    let outcome = submit_browser(
        t,
        kratos,
        Kind::Login,
        flow,
        &[
            ("method", "password"),
            ("identifier", identifier),
            ("password", password),
        ],
    )
    .await?;
    match outcome {
        // Sent on to another flow (an expired login flow restarts as a new
        // one) is not a login.
        Outcome::Elsewhere(landing) if flow_param(&landing.url).is_some() => {
            Err(Error::unexpected(
                action(flow, Expect::Redirect)?.1.name(),
                format!("sent to another flow instead of signed in: {}", landing.url),
            ))
        }
        Outcome::Elsewhere(landing) => Ok(landing),
        Outcome::SameFlow(_) => Err(Error::unexpected(
            action(flow, Expect::Redirect)?.1.name(),
            "the login form came back without errors and without a session",
        )),
    }
}

/// Signs in from a native app; the answer carries the session token.
pub async fn api<T: Transport>(
    t: &T,
    kratos: &Kratos,
    identifier: &str,
    password: &str,
) -> Result<NativeLogin> {
    let flow = start_api(t, kratos, Kind::Login).await?;
    submit_api(
        t,
        &flow,
        &json!({ "method": "password", "identifier": identifier, "password": password }),
    )
    .await
}
