//! Account recovery by a one-time code sent by email: the code signs the
//! browser in with a privileged session and sends it to the settings flow,
//! where a new password is set.

use harness::kratos::Flow;
use harness::{Error, Expect, Result, kratos::Kratos, transport::Transport};

use super::{
    Kind, Outcome, action, flow_param, start_api, start_browser, submit_api, submit_browser,
};
use serde_json::json;

/// The recovery flow's state once the code was mailed (or, for an unknown
/// address, would have been: the answer is the same).
pub const SENT: &str = "sent_email";

/// Asks for a recovery code for `email` in a browser; returns the flow,
/// which waits for the code.
pub async fn browser_request<T: Transport>(t: &T, kratos: &Kratos, email: &str) -> Result<Flow> {
    let flow = start_browser(t, kratos, Kind::Recovery).await?;
    let step = action(&flow, Expect::Redirect)?.1.name().to_owned();
    match submit_browser(
        t,
        kratos,
        Kind::Recovery,
        &flow,
        &[("method", "code"), ("email", email)],
    )
    .await?
    {
        Outcome::SameFlow(flow) if flow.state_str() == Some(SENT) => Ok(flow),
        Outcome::SameFlow(flow) => Err(Error::unexpected(
            step,
            format!("the flow is in state {:?}, not {SENT}", flow.state_str()),
        )),
        Outcome::Elsewhere(landing) => Err(Error::unexpected(
            step,
            format!(
                "expected the recovery form again, landed on {}",
                landing.url
            ),
        )),
    }
}

/// Submits the mailed `code` to the recovery flow; Kratos signs the browser
/// in and sends it to a settings flow, whose id is returned.
pub async fn browser_code<T: Transport>(
    t: &T,
    kratos: &Kratos,
    flow: &Flow,
    code: &str,
) -> Result<String> {
    let step = action(flow, Expect::Redirect)?.1.name().to_owned();
    match submit_browser(
        t,
        kratos,
        Kind::Recovery,
        flow,
        &[("method", "code"), ("code", code)],
    )
    .await?
    {
        Outcome::Elsewhere(landing) if landing.url.path().ends_with("/settings") => {
            flow_param(&landing.url).ok_or_else(|| {
                Error::unexpected(
                    &step,
                    format!("settings UI without a flow id: {}", landing.url),
                )
            })
        }
        Outcome::Elsewhere(landing) => Err(Error::unexpected(
            step,
            format!("expected the settings UI, landed on {}", landing.url),
        )),
        Outcome::SameFlow(flow) => Err(Error::unexpected(
            step,
            format!(
                "the recovery form came back (state {:?}) without errors",
                flow.state_str()
            ),
        )),
    }
}

/// What a native app gets for a recovery code: a session token and the
/// settings flow to set a new password in.
#[derive(Debug, Clone)]
pub struct Recovered {
    pub session_token: String,
    pub settings_flow: String,
}

/// Asks for a recovery code for `email` from a native app.
pub async fn api_request<T: Transport>(t: &T, kratos: &Kratos, email: &str) -> Result<Flow> {
    let flow = start_api(t, kratos, Kind::Recovery).await?;
    let sent: Flow = submit_api(t, &flow, &json!({ "method": "code", "email": email })).await?;
    if sent.state_str() == Some(SENT) {
        Ok(sent)
    } else {
        Err(Error::unexpected(
            action(&flow, Expect::Status(200))?.1.name(),
            format!("the flow is in state {:?}, not {SENT}", sent.state_str()),
        ))
    }
}

/// Submits the mailed `code` from a native app: the answer carries a
/// session token and the settings flow (`continue_with`).
pub async fn api_code<T: Transport>(t: &T, flow: &Flow, code: &str) -> Result<Recovered> {
    let step = action(flow, Expect::Status(200))?.1.name().to_owned();
    let answer: RecoveryAnswer =
        submit_api(t, flow, &json!({ "method": "code", "code": code })).await?;
    let token = answer
        .continue_with
        .iter()
        .find_map(|c| c.ory_session_token.clone());
    let settings = answer
        .continue_with
        .iter()
        .filter(|c| c.action == "show_settings_ui")
        .find_map(|c| c.flow.as_ref().map(|f| f.id.clone()));
    match (token, settings) {
        (Some(session_token), Some(settings_flow)) => Ok(Recovered {
            session_token,
            settings_flow,
        }),
        _ => Err(Error::unexpected(
            step,
            format!(
                "expected a session token and a settings flow in continue_with, got {:?}",
                answer
                    .continue_with
                    .iter()
                    .map(|c| &c.action)
                    .collect::<Vec<_>>()
            ),
        )),
    }
}

#[derive(Debug, serde::Deserialize)]
struct RecoveryAnswer {
    #[serde(default)]
    continue_with: Vec<harness::kratos::ContinueWith>,
}
