//! Account recovery by a one-time code sent by email: the code signs the
//! browser in with a privileged session and sends it to the settings flow,
//! where a new password is set.

use harness::kratos::Flow;
use harness::{Error, Expect, Kratos, Result, Transport};

use super::{Kind, Outcome, action, flow_param, start_browser, submit_browser};

/// The recovery flow's state once the code was mailed (or, for an unknown
/// address, would have been: the answer is the same).
pub const SENT: &str = "sent_email";

/// Asks for a recovery code for `email` in a browser; returns the flow,
/// which waits for the code.
pub async fn browser_request<T: Transport>(t: &T, kratos: &Kratos, email: &str) -> Result<Flow> {
    let flow = start_browser(t, kratos, Kind::Recovery).await?;
    let step = action(&flow, Expect::Redirect)?.1.name();
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
    let step = action(flow, Expect::Redirect)?.1.name();
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
