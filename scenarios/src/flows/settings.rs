//! The settings flow: new traits or a new password for the signed-in
//! identity.

use harness::kratos::Flow;
use harness::response::json;
use harness::{Error, Expect, Result, Step, kratos::Kratos, transport::Transport};

use super::{Kind, Outcome, action, fetch_flow, start_browser, submit_browser};

/// The settings flow's state once the changes were saved.
pub const SAVED: &str = "success";

/// Sets a new password in a browser, in the settings flow `flow_id` (the one
/// recovery sent the browser to) or a new one.
pub async fn browser_password<T: Transport>(
    t: &T,
    kratos: &Kratos,
    flow_id: Option<&str>,
    password: &str,
) -> Result<Flow> {
    let flow = match flow_id {
        Some(id) => fetch_flow(t, kratos, Kind::Settings, id).await?,
        None => start_browser(t, kratos, Kind::Settings).await?,
    };
    save(
        t,
        kratos,
        &flow,
        &[("method", "password"), ("password", password)],
    )
    .await
}

/// Changes traits in a browser: `fields` are the form's names
/// (`traits.name.first`), every trait of the schema given.
pub async fn browser_profile<T: Transport>(
    t: &T,
    kratos: &Kratos,
    fields: &[(&str, &str)],
) -> Result<Flow> {
    let flow = start_browser(t, kratos, Kind::Settings).await?;
    let mut form = vec![("method", "profile")];
    form.extend_from_slice(fields);
    save(t, kratos, &flow, &form).await
}

/// Opens the settings page in a browser and saves the profile as it is
/// shown, changing nothing: what someone does who only looks. Every
/// `traits.*` input is sent with the value the form shows (an empty one
/// as the browser sends it: empty).
pub async fn browser_profile_unchanged<T: Transport>(t: &T, kratos: &Kratos) -> Result<Flow> {
    let flow = start_browser(t, kratos, Kind::Settings).await?;
    let values: Vec<(String, String)> = flow
        .ui
        .nodes
        .iter()
        .filter(|n| n.group == "profile")
        .filter_map(|n| {
            let name = n.attributes.name.as_deref()?;
            if !name.starts_with("traits.") {
                return None;
            }
            let value = match &n.attributes.value {
                None | Some(serde_json::Value::Null) => String::new(),
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
            };
            Some((name.to_owned(), value))
        })
        .collect();
    let mut form = vec![("method", "profile")];
    form.extend(values.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    save(t, kratos, &flow, &form).await
}

/// Sets a new password from a native app, by its session token, in the
/// settings flow `flow_id` (the one recovery gave) or a new one
/// (`GET /self-service/settings/api`); the flow's action takes JSON.
pub async fn api_password<T: Transport>(
    t: &T,
    kratos: &Kratos,
    token: &str,
    flow_id: Option<&str>,
    password: &str,
) -> Result<Flow> {
    let url = match flow_id {
        Some(id) => {
            let mut url = kratos.public("self-service/settings/flows");
            url.query_pairs_mut().append_pair("id", id);
            url
        }
        None => kratos.public("self-service/settings/api"),
    };
    let step = Step::get("kratos", &url);
    let request = t
        .client()
        .get(url)
        .header("Accept", "application/json")
        .header("X-Session-Token", token);
    let flow: Flow = json(&step, t.send(&step, request).await?).await?;
    let (url, step) = action(&flow, Expect::Status(200))?;
    let request = t
        .client()
        .post(url)
        .header("Accept", "application/json")
        .header("X-Session-Token", token)
        .json(&serde_json::json!({ "method": "password", "password": password }));
    let saved: Flow = json(&step, t.send(&step, request).await?).await?;
    if saved.state_str() == Some(SAVED) {
        Ok(saved)
    } else {
        Err(Error::unexpected(
            step.name(),
            format!(
                "the settings flow is in state {:?}, not {SAVED}",
                saved.state_str()
            ),
        ))
    }
}

/// Posts the settings form; it must come back saved.
async fn save<T: Transport>(
    t: &T,
    kratos: &Kratos,
    flow: &Flow,
    fields: &[(&str, &str)],
) -> Result<Flow> {
    let step = action(flow, Expect::Redirect)?.1.name().to_owned();
    match submit_browser(t, kratos, Kind::Settings, flow, fields).await? {
        Outcome::SameFlow(saved) if saved.state_str() == Some(SAVED) => Ok(saved),
        Outcome::SameFlow(other) => Err(Error::unexpected(
            step,
            format!(
                "the settings flow is in state {:?}, not {SAVED}",
                other.state_str()
            ),
        )),
        Outcome::Elsewhere(landing) => Err(Error::unexpected(
            step,
            format!(
                "expected the settings form again, landed on {}",
                landing.url
            ),
        )),
    }
}
