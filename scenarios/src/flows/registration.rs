//! Sign-up with email and password.

use harness::kratos::{Flow, NativeRegistration};
use harness::{Error, Expect, Result, kratos::Kratos, transport::Transport};
use serde_json::json;

use super::{
    Kind, Outcome, action, flow_param, start_api, start_browser, submit_api, submit_browser,
};
use crate::user::Person;

/// Registers `person` in a browser. With the `show_verification_ui` hook
/// Kratos sends the browser on to a verification flow for the new address;
/// its id is returned.
pub async fn browser<T: Transport>(t: &T, kratos: &Kratos, person: &Person) -> Result<String> {
    let flow = start_browser(t, kratos, Kind::Registration).await?;
    let outcome = submit_browser(
        t,
        kratos,
        Kind::Registration,
        &flow,
        &[
            ("method", "password"),
            ("traits.email", &person.email),
            ("traits.name.first", &person.first_name),
            ("traits.name.last", &person.last_name),
            ("password", &person.password),
        ],
    )
    .await?;
    let step = action(&flow, Expect::Redirect)?.1.name().to_owned();
    match outcome {
        Outcome::Elsewhere(landing) if landing.url.path().ends_with("/verification") => {
            flow_param(&landing.url).ok_or_else(|| {
                Error::unexpected(
                    &step,
                    format!("verification UI without a flow id: {}", landing.url),
                )
            })
        }
        Outcome::Elsewhere(landing) => Err(Error::unexpected(
            step,
            format!(
                "expected to be sent to the verification UI, landed on {}",
                landing.url
            ),
        )),
        Outcome::SameFlow(_) => Err(Error::unexpected(
            step,
            "the registration form came back without errors",
        )),
    }
}

/// Registers `person` from a native app: JSON in, identity out, no cookies.
pub async fn api<T: Transport>(
    t: &T,
    kratos: &Kratos,
    person: &Person,
) -> Result<NativeRegistration> {
    Ok(api_posted(t, kratos, person).await?.1)
}

/// Registers `person` from a native app, as [`api`], and returns the id of
/// the verification flow Kratos started for the address (the
/// `show_verification_ui` hook); without one the registration step fails.
pub async fn api_to_verification<T: Transport>(
    t: &T,
    kratos: &Kratos,
    person: &Person,
) -> Result<(NativeRegistration, String)> {
    let (flow, registered) = api_posted(t, kratos, person).await?;
    let flow_id = registered
        .verification_flow_id()
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::unexpected(
                action(&flow, Expect::Status(200))
                    .map_or_else(|e| e.to_string(), |(_, s)| s.name().to_owned()),
                "the answer has no show_verification_ui continue_with",
            )
        })?;
    Ok((registered, flow_id))
}

async fn api_posted<T: Transport>(
    t: &T,
    kratos: &Kratos,
    person: &Person,
) -> Result<(Flow, NativeRegistration)> {
    let flow = start_api(t, kratos, Kind::Registration).await?;
    let registered = submit_api(
        t,
        &flow,
        &json!({
            "method": "password",
            "password": person.password,
            "traits": person.traits(),
        }),
    )
    .await?;
    Ok((flow, registered))
}
