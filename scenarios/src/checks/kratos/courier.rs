//! The courier check: a mail Kratos queues reaches its SMTP server within
//! the policy's bound, read from the admin API's courier messages.

use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{Value, json};

use super::super::someone;
use super::super::{Context, Evidence, Probe, Verdict, at};

/// The self-service flow that mails a code or link to an address, as the
/// config has it: verification, else recovery; and its method.
fn mailing_flow(config: Option<&Value>) -> Option<(&'static str, String)> {
    let setting = |path: &str| config.and_then(|c| at(c, path));
    ["verification", "recovery"].into_iter().find_map(|flow| {
        let on = super::super::flow_enabled(config, flow).unwrap_or(false);
        on.then(|| {
            let via = setting(&format!("selfservice.flows.{flow}.use"))
                .and_then(Value::as_str)
                .unwrap_or("code")
                .to_owned();
            (flow, via)
        })
    })
}

pub(super) async fn courier(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let Some((flow, via)) = mailing_flow(cx.deployment.config.kratos.as_ref()) else {
        return Verdict::Skipped(if cx.deployment.config.kratos.is_none() {
            "which flow mails people is in the config, which a deployment by URL does not show"
                .into()
        } else {
            "neither verification nor recovery mails anyone".into()
        });
    };
    let (person, _) = match someone::created(&cx.app, kratos).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let Some((email, _)) = person.addresses.iter().find(|(_, v)| *v == "email") else {
        return Verdict::Skipped("the identity schema has no email address to mail".into());
    };
    let agent = cx.app.agent();
    // Ask the flow to mail the address.
    let action = match someone::start_flow(agent, kratos, flow, "api").await {
        Ok((_, _, action)) => action,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let request = agent
        .client()
        .post(action.clone())
        .json(&json!({"method": via, "email": email}));
    if let Err(e) = Probe::send(
        agent,
        "kratos",
        Method::POST,
        &action,
        "mail the address",
        request,
    )
    .await
    {
        return Verdict::Failed(vec![e]);
    }
    // Wait, bounded, for the message to be sent.
    let bound = cx.policy.courier.max_delivery;
    let mut url = match kratos.admin("admin/courier/messages") {
        Ok(u) => u,
        Err(e) => return Verdict::Skipped(e.to_string()),
    };
    url.query_pairs_mut().append_pair("recipient", email);
    let started = Instant::now();
    let polled = harness::poll::until(Duration::from_millis(250), bound, || async {
        // Each request within what is left of the bound (at least a
        // second), so that a stalled admin API cannot stretch it.
        let left = bound
            .saturating_sub(started.elapsed())
            .max(Duration::from_secs(1));
        let listed = match Probe::get_json_within(agent, "kratos", &url, Some(left)).await {
            Ok(p) => p,
            Err(e) => return ControlFlow::Break(Err(e)),
        };
        let message = listed
            .json()
            .and_then(|v| v.as_array().and_then(|a| a.first().cloned()));
        let status = message
            .as_ref()
            .and_then(|m| m.get("status").and_then(Value::as_str))
            .unwrap_or("not queued")
            .to_owned();
        let tries = message
            .as_ref()
            .and_then(|m| m.get("send_count").and_then(Value::as_u64))
            .unwrap_or(0);
        match status.as_str() {
            "sent" => ControlFlow::Break(Ok(())),
            "abandoned" => {
                ControlFlow::Break(Err(stuck(&listed, flow, email, &status, tries, started)))
            }
            _ => ControlFlow::Continue(stuck(&listed, flow, email, &status, tries, started)),
        }
    })
    .await;
    match polled {
        Ok(Ok(())) => Verdict::Passed(format!(
            "the {flow} mail was sent within {} ms",
            started.elapsed().as_millis()
        )),
        Ok(Err(e)) | Err(e) => Verdict::Failed(vec![e]),
    }
}

/// The evidence of a mail not sent.
fn stuck(
    listed: &Probe,
    flow: &str,
    email: &str,
    status: &str,
    tries: u64,
    started: Instant,
) -> Evidence {
    Evidence::answer(
        listed,
        format!(
            "the {flow} mail to {email} is {status} after {} s ({tries} tries to send it): the courier does not reach its SMTP server",
            started.elapsed().as_secs()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mailing_flow_follows_the_config() {
        let recovery_only =
            json!({"selfservice": {"flows": {"recovery": {"enabled": true, "use": "link"}}}});
        assert_eq!(
            mailing_flow(Some(&recovery_only)),
            Some(("recovery", "link".to_owned()))
        );
        let none = json!({"selfservice": {"flows": {"verification": {"enabled": false}}}});
        assert_eq!(mailing_flow(Some(&none)), None);
        assert_eq!(mailing_flow(None), None);
        let on = json!({"selfservice": {"flows": {"verification": {"enabled": true}}}});
        assert_eq!(
            mailing_flow(Some(&on)),
            Some(("verification", "code".to_owned()))
        );
    }
}
