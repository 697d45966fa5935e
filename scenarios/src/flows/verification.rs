//! Address verification by a one-time code sent by email.

use harness::kratos::Flow;
use harness::navigate::follow;
use harness::{Error, Expect, Result, Step, kratos::Kratos, transport::Transport};
use reqwest::Method;
use serde_json::json;
use url::Url;

use super::{Kind, Outcome, action, fetch_flow, flow_param, submit_api, submit_browser};

/// The state of a verification flow whose code was accepted.
pub const PASSED: &str = "passed_challenge";

/// Submits `code` to the browser verification flow `flow_id`; succeeds
/// when the flow passed its challenge.
pub async fn browser<T: Transport>(
    t: &T,
    kratos: &Kratos,
    flow_id: &str,
    code: &str,
) -> Result<Flow> {
    let flow = fetch_flow(t, kratos, Kind::Verification, flow_id).await?;
    let outcome = submit_browser(
        t,
        kratos,
        Kind::Verification,
        &flow,
        &[("method", "code"), ("code", code)],
    )
    .await?;
    match outcome {
        Outcome::SameFlow(flow) => passed(flow),
        Outcome::Elsewhere(landing) => Err(Error::unexpected(
            action(&flow, Expect::Redirect)?.1.name(),
            format!(
                "expected the verification flow again, landed on {}",
                landing.url
            ),
        )),
    }
}

/// The verification flow's state once a code was mailed (or, for an
/// unknown address, would have been: the answer is the same).
pub const SENT: &str = "sent_email";

/// Asks the browser verification flow `flow` to mail a (new) code to
/// `email`; returns the flow, which waits for the code.
pub async fn browser_send_code<T: Transport>(
    t: &T,
    kratos: &Kratos,
    flow: &Flow,
    email: &str,
) -> Result<Flow> {
    let step = action(flow, Expect::Redirect)?.1.name().to_owned();
    match submit_browser(
        t,
        kratos,
        Kind::Verification,
        flow,
        &[("method", "code"), ("email", email)],
    )
    .await?
    {
        Outcome::SameFlow(sent) if sent.state_str() == Some(SENT) => Ok(sent),
        Outcome::SameFlow(other) => Err(Error::unexpected(
            step,
            format!("the flow is in state {:?}, not {SENT}", other.state_str()),
        )),
        Outcome::Elsewhere(landing) => Err(Error::unexpected(
            step,
            format!(
                "expected the verification form again, landed on {}",
                landing.url
            ),
        )),
    }
}

/// Follows the verification link from a mail, hop by hop, as a browser
/// does when the address's owner clicks it; succeeds when the flow it
/// lands on passed its challenge.
pub async fn browser_link<T: Transport>(t: &T, kratos: &Kratos, link: &Url) -> Result<Flow> {
    let step = Step::new("kratos", Method::GET, link, Expect::Redirect);
    let response = t.send(&step, t.client().get(link.clone())).await?;
    let landing = follow(t, kratos.public_base(), &step, response).await?;
    let id = flow_param(&landing.url).ok_or_else(|| {
        Error::unexpected(
            step.name(),
            format!("landed on {} without a flow id", landing.url),
        )
    })?;
    passed(fetch_flow(t, kratos, Kind::Verification, &id).await?)
}

/// Submits `code` to the API verification flow `flow_id`.
pub async fn api<T: Transport>(t: &T, kratos: &Kratos, flow_id: &str, code: &str) -> Result<Flow> {
    let flow = fetch_flow(t, kratos, Kind::Verification, flow_id).await?;
    let flow: Flow = submit_api(t, &flow, &json!({ "method": "code", "code": code })).await?;
    passed(flow)
}

/// The flow passed its challenge, or the post that should have passed it
/// failed.
fn passed(flow: Flow) -> Result<Flow> {
    if flow.state_str() == Some(PASSED) {
        Ok(flow)
    } else {
        Err(Error::unexpected(
            action(&flow, Expect::Redirect)?.1.name(),
            format!(
                "flow {} is in state {:?}, not {PASSED}; messages: {:?}",
                flow.id,
                flow.state_str(),
                flow.messages()
            ),
        ))
    }
}
