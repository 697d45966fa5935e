//! What the people of the old config can still do once Kratos runs the
//! new one on the same database, and which identities no longer validate.

use harness::kratos::Kratos;
use harness::{Error, Mailboxes, NativeApp, Result};
use serde::Serialize;
use serde_json::Value;

use super::Population;
use super::schemas::{self, Fix, Invalid, Schemas};
use crate::checks::flow_on;
use crate::derived::{FlowResult, register_identity, setting, skipped, timed};

mod identities;
mod people;

use identities::{edits, every_identity, fixes_for, gone, invalid_rows};
use people::{logins, mail_row, sessions, settings_saved};

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

fn clone(e: &Error) -> Error {
    Error::unexpected("migration", e.to_string())
}

pub(super) fn row(name: String, outcome: std::result::Result<(), String>) -> FlowResult {
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
