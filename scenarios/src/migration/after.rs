//! What the people of the old config can still do once Kratos runs the
//! new one on the same database, and which identities no longer validate.

use harness::kratos::{Identity, Kratos};
use harness::{Browser, Error, Mailboxes, NativeApp, Result};
use serde::Serialize;
use serde_json::Value;

use super::schemas::{self, Fix, Invalid, Schemas};
use super::{Population, SignedIn};
use crate::checks::flow_on;
use crate::checks::someone;
use crate::derived::{FlowResult, register_identity, setting, skipped, timed};
use crate::flows::{Kind, Outcome, settings, start_browser, submit_browser};

/// Identities read per page of `GET /admin/identities`.
const PAGE: usize = 500;
/// Invalid identities named in a row's message; all are in the verdict.
const NAMED: usize = 10;
/// How long a recovery or verification mail may take to arrive. The
/// courier of a started stack delivers in about a second; an address
/// Kratos no longer knows gets nothing, which only a bound can tell.
const REACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// What the migration gate found.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// One row per check, as the gate's flows (which is where the gate's
    /// JSON has them).
    #[serde(skip)]
    pub rows: Vec<FlowResult>,
    /// Every identity that no longer validates, and why.
    pub invalid: Vec<Invalid>,
    /// A JSON Patch per invalid identity that a patch of traits can fix.
    pub fixes: Vec<Fix>,
    /// Identities read back.
    pub identities: usize,
    /// The ids of the old schemas whose content the new config changed
    /// under the same id.
    pub edited: Vec<String>,
}

impl Verdict {
    /// A verdict with nothing checked (no Kratos to check).
    pub fn empty() -> Self {
        Self {
            rows: Vec::new(),
            invalid: Vec::new(),
            fixes: Vec::new(),
            identities: 0,
            edited: Vec::new(),
        }
    }
}

/// Runs the checks on the new config's Kratos (`config`), in order: the
/// old sessions, the old logins, the settings saved unchanged (which is
/// when Kratos recomputes an identity's addresses and identifiers), then
/// recovery and verification mail to the old addresses, every identity
/// against its schema, the schemas edited in place, and a new
/// registration.
pub async fn after(
    kratos: &Kratos,
    config: Option<&Value>,
    mail: Option<&Mailboxes>,
    population: &Population,
) -> Verdict {
    after_as("migration", kratos, config, mail, population).await
}

/// The same, each row's name under `gate` (`migration`, `upgrade`).
pub async fn after_as(
    gate: &str,
    kratos: &Kratos,
    config: Option<&Value>,
    mail: Option<&Mailboxes>,
    population: &Population,
) -> Verdict {
    let name = |what: &str| format!("{gate}: {what}");
    let mut rows = Vec::new();
    rows.push(
        timed(
            name("old sessions still pass whoami"),
            sessions(kratos, population),
        )
        .await,
    );
    rows.push(timed(name("old people log in"), logins(kratos, population)).await);
    rows.push(
        timed(
            name("old people's settings open and save unchanged"),
            settings_saved(kratos, population),
        )
        .await,
    );
    for flow in ["recovery", "verification"] {
        rows.push(mail_row(gate, flow, kratos, config, mail, population).await);
    }
    let app = NativeApp::new();
    let started = std::time::Instant::now();
    let (identities, new_schemas) = match &app {
        Ok(app) => (
            every_identity(app, kratos).await,
            schemas::served(app, kratos).await,
        ),
        Err(e) => (Err(clone(e)), Err(clone(e))),
    };
    let mut invalid = Vec::new();
    let mut fixes = Vec::new();
    let edited = match &new_schemas {
        Ok(new) => population
            .schemas
            .iter()
            .filter(|(id, old)| new.get(*id).is_some_and(|now| now != *old))
            .map(|(id, _)| id.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    let mut read = 0;
    let validated = name("every identity validates against the schema it names");
    match (&identities, &new_schemas) {
        (Ok(identities), Ok(new)) => {
            read = identities.len();
            invalid = schemas::validate(identities, new);
            fixes = fixes_for(&invalid, identities, new);
            rows.push(row(
                name("every old identity is still there"),
                gone(population, identities),
            ));
            let mut checked = row(validated, invalid_rows(&invalid, identities.len()));
            checked.millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            rows.push(checked);
            rows.push(row(
                name("schemas edited in place keep what Kratos reads from them"),
                edits(&population.schemas, new, identities),
            ));
        }
        (Err(e), _) | (_, Err(e)) => rows.push(row(validated, Err(e.to_string()))),
    }
    let registered = name("new registrations follow the new schema");
    if flow_on(config, "registration") {
        let default = setting(config, "identity.default_schema_id")
            .and_then(Value::as_str)
            .unwrap_or("default")
            .to_owned();
        let schemas = new_schemas.as_ref().ok();
        rows.push(timed(registered, new_registration(kratos, &default, schemas)).await);
    } else {
        rows.push(skipped(&registered, "registration is off"));
    }
    Verdict {
        rows,
        invalid,
        fixes,
        identities: read,
        edited,
    }
}

/// Whether `flow`'s mail still reaches the old people's addresses, or
/// why that was not tried.
async fn mail_row(
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

/// A fix per invalid identity a patch of traits can fix, each schema
/// compiled once for the whole population.
fn fixes_for(invalid: &[Invalid], identities: &[Identity], new: &Schemas) -> Vec<Fix> {
    let by_id: std::collections::HashMap<&str, &Identity> =
        identities.iter().map(|i| (i.id.as_str(), i)).collect();
    let mut compiled = std::collections::HashMap::new();
    invalid
        .iter()
        .filter_map(|bad| {
            let identity = by_id.get(bad.identity.as_str())?;
            let schema = new.get(&bad.schema_id);
            let validator = compiled
                .entry(bad.schema_id.clone())
                .or_insert_with(|| {
                    schema.and_then(|s| {
                        jsonschema::options()
                            .should_validate_formats(true)
                            .build(s)
                            .ok()
                    })
                })
                .as_ref();
            schemas::fix(bad, identity, schema, validator)
        })
        .collect()
}

fn clone(e: &Error) -> Error {
    Error::unexpected("migration", e.to_string())
}

fn row(name: String, outcome: std::result::Result<(), String>) -> FlowResult {
    use crate::derived::FlowOutcome;
    FlowResult {
        name,
        outcome: match outcome {
            Ok(()) => FlowOutcome::Passed,
            Err(error) => FlowOutcome::Failed { error },
        },
        millis: 0,
    }
}

/// Each old session, by token and by cookie, is the same session still.
async fn sessions(kratos: &Kratos, population: &Population) -> Result<()> {
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
async fn logins(kratos: &Kratos, population: &Population) -> Result<()> {
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
async fn settings_saved(kratos: &Kratos, population: &Population) -> Result<()> {
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

/// Every identity, page by page.
async fn every_identity(app: &NativeApp, kratos: &Kratos) -> Result<Vec<Identity>> {
    let mut all = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..10_000 {
        let page = kratos.identities(app, PAGE, token.as_deref()).await?;
        all.extend(page.items);
        match page.next {
            Some(next) => token = Some(next),
            None => return Ok(all),
        }
    }
    Err(Error::unexpected(
        "kratos GET /admin/identities",
        "more than 10,000 pages",
    ))
}

/// The identities made on the old config that the new one no longer
/// lists.
fn gone(population: &Population, identities: &[Identity]) -> std::result::Result<(), String> {
    let there: std::collections::HashSet<&str> = identities.iter().map(|i| i.id.as_str()).collect();
    let missing: Vec<&str> = population
        .known
        .iter()
        .map(|k| k.id.as_str())
        .chain(population.imported.iter().map(String::as_str))
        .filter(|id| !there.contains(id))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let named: Vec<&str> = missing.iter().take(NAMED).copied().collect();
    Err(format!(
        "{} of the {} identities made on the old config are gone: {}{}",
        missing.len(),
        population.len(),
        named.join(", "),
        if missing.len() > NAMED { ", ..." } else { "" }
    ))
}

fn invalid_rows(invalid: &[Invalid], total: usize) -> std::result::Result<(), String> {
    if invalid.is_empty() {
        return Ok(());
    }
    let named: Vec<String> = invalid
        .iter()
        .take(NAMED)
        .map(|i| {
            let problems: Vec<String> = i.problems.iter().map(ToString::to_string).collect();
            format!("{} ({}): {}", i.identity, i.schema_id, problems.join("; "))
        })
        .collect();
    let more = invalid.len().saturating_sub(NAMED);
    Err(format!(
        "{} of {total} identities no longer validate: {}{}. To do: a migration that applies each identity's JSON Patch (`migration.fixes` in the gate's JSON; --fix-plan FILE writes them) with PATCH /admin/identities/{{id}}, or a new schema id for the change",
        invalid.len(),
        named.join(" | "),
        if more > 0 {
            format!(" | and {more} more (all in the gate's JSON)")
        } else {
            String::new()
        }
    ))
}

/// A schema under an id the old config had must still be there while
/// identities name it, and an edit of it in place must keep every
/// trait's role; the identities affected are named.
fn edits(old: &Schemas, new: &Schemas, identities: &[Identity]) -> std::result::Result<(), String> {
    let naming = |id: &str| {
        let ids: Vec<&str> = identities
            .iter()
            .filter(|i| i.schema_id == id)
            .map(|i| i.id.as_str())
            .collect();
        let shown: Vec<&str> = ids.iter().take(NAMED).copied().collect();
        let more = ids.len().saturating_sub(NAMED);
        (
            ids.len(),
            format!(
                "{}{}",
                shown.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            ),
        )
    };
    let mut wrong = Vec::new();
    for (id, before) in old {
        match new.get(id) {
            None => {
                let (count, ids) = naming(id);
                if count > 0 {
                    wrong.push(format!(
                        "schema {id:?} is gone; {count} identities name it: {ids}"
                    ));
                }
            }
            Some(after) if after != before => {
                let lost = schemas::lost_roles(before, after);
                let (count, ids) = naming(id);
                if !lost.is_empty() && count > 0 {
                    wrong.push(format!(
                        "schema {id:?} was edited in place: {}; {count} identities name it and lose that at their next update: {ids}",
                        lost.join(", "),
                    ));
                }
            }
            Some(_) => {}
        }
    }
    if wrong.is_empty() {
        Ok(())
    } else {
        Err(wrong.join(" | "))
    }
}

/// Someone registers on the new config: their identity names its default
/// schema and validates against it.
async fn new_registration(kratos: &Kratos, default: &str, schemas: Option<&Schemas>) -> Result<()> {
    let app = NativeApp::new()?;
    let (_, identity) = register_identity(&app, kratos).await?;
    let step = "kratos POST /self-service/registration?flow=%";
    if identity.schema_id != default {
        return Err(Error::unexpected(
            step,
            format!(
                "registered under schema {:?}, the default is {default:?}",
                identity.schema_id
            ),
        ));
    }
    if let Some(bad) =
        schemas.and_then(|s| schemas::validate(std::slice::from_ref(&identity), s).pop())
    {
        let problems: Vec<String> = bad.problems.iter().map(ToString::to_string).collect();
        return Err(Error::unexpected(
            step,
            format!(
                "the new identity does not validate: {}",
                problems.join("; ")
            ),
        ));
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
