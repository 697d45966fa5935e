//! What the old people can still do: their sessions, their logins, their
//! settings saved, their recovery and verification mail.

use harness::kratos::Kratos;
use harness::{Browser, Error, Mailboxes, NativeApp, Result};
use serde_json::Value;

use super::super::{Population, SignedIn};
use super::row;
use crate::checks::{flow_on, someone};
use crate::derived::{FlowResult, setting, skipped, timed};
use crate::flows::{Kind, Outcome, settings, start_browser, submit_browser};

/// How long a recovery or verification mail may take to arrive. The
/// courier of a started stack delivers in about a second; an address
/// Kratos no longer knows gets nothing, which only a bound can tell.
const REACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Whether `flow`'s mail still reaches the old people's addresses, or
/// why that was not tried.
pub(super) async fn mail_row(
    gate: &str,
    flow: &str,
    kratos: &Kratos,
    config: Option<&Value>,
    mail: Option<&Mailboxes>,
    population: &Population,
) -> FlowResult {
    let name = format!("{gate}: {flow} still reaches old people");
    let addresses: usize = population
        .known
        .iter()
        .map(|k| k.mailed.of(flow).len())
        .sum();
    if !flow_on(config, flow) {
        if population.mail_flows.contains(&flow) && addresses > 0 {
            return row(
                name,
                Err(format!(
                    "the new config turns {flow} off, which the old config had on: old people lose it"
                )),
            );
        }
        return skipped(&name, &format!("{flow} is off"));
    }
    let via = setting(config, &format!("selfservice.flows.{flow}.use"))
        .and_then(Value::as_str)
        .unwrap_or("code");
    match mail {
        Some(_) if addresses == 0 => skipped(
            &name,
            &format!("no one had an email address for {flow} on the old config"),
        ),
        Some(mail) => timed(name, reaches(kratos, mail, population, flow, via)).await,
        None => skipped(&name, "the mail does not reach orygate"),
    }
}

/// Each old session, by token and by cookie, is the same session still.
pub(super) async fn sessions(kratos: &Kratos, population: &Population) -> Result<()> {
    for (how, signed) in signed_in(population) {
        let SignedIn {
            app,
            token,
            browser,
            sessions: (by_token, by_cookie),
            ..
        } = signed;
        for (by, before, after) in [
            ("token", by_token, kratos.whoami(app, Some(token)).await),
            ("cookie", by_cookie, kratos.whoami(browser, None).await),
        ] {
            let after = after.map_err(|e| {
                Error::unexpected(
                    "kratos GET /sessions/whoami",
                    format!("someone {how}: the session by {by} is gone: {e}"),
                )
            })?;
            if &after.id != before {
                return Err(Error::unexpected(
                    "kratos GET /sessions/whoami",
                    format!(
                        "someone {how}: by {by}, session {before} became {}",
                        after.id
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The people who were signed in, and how they came to be.
fn signed_in(population: &Population) -> impl Iterator<Item = (&'static str, &SignedIn)> {
    population
        .known
        .iter()
        .filter_map(|k| k.signed_in.as_ref().map(|s| (k.how, s)))
}

/// The people who signed in before log in with their passwords, and the
/// sampled imported ones who could log in before with the password of
/// their imported hash.
pub(super) async fn logins(kratos: &Kratos, population: &Population) -> Result<()> {
    let app = NativeApp::new()?;
    let people = population
        .known
        .iter()
        .filter(|k| k.signed_in.is_some())
        .map(|k| (k.how, &k.someone))
        .chain(
            population
                .sample
                .iter()
                .filter(|(_, could)| *could)
                .map(|(s, _)| ("imported", s)),
        );
    for (how, person) in people {
        someone::api_login(&app, kratos, person)
            .await
            .map_err(|e| {
                Error::unexpected(
                    "kratos POST /self-service/login?flow=%",
                    format!("someone {how} ({}): {e}", person.identifiers.join(", ")),
                )
            })?;
    }
    Ok(())
}

/// Each person who was signed in opens the settings page in their
/// browser and saves it as shown, and keeps every trait they had: a
/// trait the new schema no longer shows is not posted, and Kratos, which
/// replaces the traits with what was posted, would drop it.
pub(super) async fn settings_saved(kratos: &Kratos, population: &Population) -> Result<()> {
    let admin = NativeApp::new()?;
    for (how, signed) in signed_in(population) {
        let before = kratos.identity(&admin, &signed.id).await?.traits;
        settings::browser_profile_unchanged(&signed.browser, kratos)
            .await
            .map_err(|e| {
                let step = e
                    .step()
                    .unwrap_or("kratos POST /self-service/settings?flow=%")
                    .to_owned();
                let said = e.to_string();
                let reason = said.strip_prefix(&format!("{step}: ")).unwrap_or(&said);
                Error::unexpected(
                    step.clone(),
                    format!("someone {how} ({}): {reason}", signed.id),
                )
            })?;
        let after = kratos.identity(&admin, &signed.id).await?.traits;
        let changed = changed_traits(&before, &after);
        if !changed.is_empty() {
            return Err(Error::unexpected(
                "kratos POST /self-service/settings?flow=%",
                format!(
                    "someone {how} ({}): saving the settings as shown changed their traits: {}",
                    signed.id,
                    changed.join("; ")
                ),
            ));
        }
    }
    Ok(())
}

/// Each value of `before` (by JSON pointer, down to scalars and arrays)
/// that `after` lost or holds differently.
fn changed_traits(before: &Value, after: &Value) -> Vec<String> {
    fn walk(at: &str, before: &Value, after: &Value, out: &mut Vec<String>) {
        match before {
            Value::Object(fields) => {
                for (name, value) in fields {
                    let here = format!("{at}/{}", name.replace('~', "~0").replace('/', "~1"));
                    walk(&here, value, after, out);
                }
            }
            value => match after.pointer(at) {
                None => out.push(format!("/traits{at} (was {value}) is gone")),
                Some(now) if now != value => {
                    out.push(format!("/traits{at} was {value}, is {now}"));
                }
                Some(_) => {}
            },
        }
    }
    let mut out = Vec::new();
    walk("", before, after, &mut out);
    out
}

/// A recovery or verification flow for each email address Kratos listed
/// for it on the old config mails it a code (or a link, for the link
/// method).
async fn reaches(
    kratos: &Kratos,
    mail: &Mailboxes,
    population: &Population,
    flow: &str,
    via: &str,
) -> Result<()> {
    let kind = if flow == "recovery" {
        Kind::Recovery
    } else {
        Kind::Verification
    };
    let app = NativeApp::new()?;
    for known in &population.known {
        // Kratos mails only an address it lists for the identity; one it
        // dropped (a schema that no longer marks the trait) gets nothing,
        // which its admin API says at once.
        let identity = kratos.identity(&app, &known.id).await?;
        for address in known.mailed.of(flow) {
            let listed = if kind == Kind::Recovery {
                identity
                    .recovery_addresses
                    .iter()
                    .any(|a| a.value.eq_ignore_ascii_case(address))
            } else {
                identity.verifiable_address(address).is_some()
            };
            if !listed {
                return Err(Error::unexpected(
                    format!("kratos GET /admin/identities/{}", known.id),
                    format!(
                        "someone {}: Kratos no longer lists {address} as a {flow} address, so no {flow} mail reaches it",
                        known.how
                    ),
                ));
            }
            let browser = Browser::new()?;
            let started = start_browser(&browser, kratos, kind).await?;
            let mailbox = mail.open(address);
            mailbox.clear();
            let sent = submit_browser(
                &browser,
                kratos,
                kind,
                &started,
                &[("method", via), ("email", address)],
            )
            .await?;
            if let Outcome::Elsewhere(landing) = sent {
                return Err(Error::unexpected(
                    format!("kratos POST /self-service/{flow}?flow=%"),
                    format!("expected the {flow} form again, landed on {}", landing.url),
                ));
            }
            let lost = |why: String| {
                Error::unexpected(
                    "mail",
                    format!("{flow} mail to {address} (someone {}): {why}", known.how),
                )
            };
            let message = mailbox
                .next(REACH_TIMEOUT)
                .await
                .map_err(|e| lost(e.to_string()))?;
            let usable = match via {
                "link" => message.link_to(&format!("/self-service/{flow}")).is_some(),
                _ => message.code().is_some(),
            };
            if !usable {
                return Err(lost(format!(
                    "a mail came without a {via}: Kratos no longer knows the address ({:?})",
                    message.subject
                )));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_trait_lost_or_changed_by_a_save_is_named_and_an_added_one_is_not() {
        let before = json!({"email": "a@orygate.test", "name": {"first": "A", "last": "B"}});
        assert!(changed_traits(&before, &before).is_empty());
        let mut added = before.clone();
        added["phone"] = "".into();
        assert!(changed_traits(&before, &added).is_empty());
        let after = json!({"email": "a@orygate.test", "name": {"first": "Z"}});
        assert_eq!(
            changed_traits(&before, &after),
            [
                "/traits/name/first was \"A\", is \"Z\"",
                "/traits/name/last (was \"B\") is gone"
            ]
        );
    }
}
