//! Address verification by a one-time code sent by email.

use harness::kratos::Flow;
use harness::{Error, Expect, Kratos, Result, Transport};
use serde_json::json;

use super::{Kind, Outcome, action, fetch_flow, submit_api, submit_browser};

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
