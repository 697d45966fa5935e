//! Changes that meet existing data. People are made on the old config,
//! through the flows (registered and verified, registered and not,
//! created by an operator; each signed in by token and in a browser) and
//! imported in bulk with hashed passwords through the batch admin API;
//! then, once Kratos runs the new config on the same database, [`after`]
//! checks what they can still do and which identities no longer validate
//! against the schema they name.

use std::time::{Duration, Instant};

use harness::kratos::Kratos;
use harness::{Browser, Error, Mailboxes, NativeApp, Result};
use serde_json::{Value, json};

use crate::checks::flow_on;
use crate::checks::someone::{self, Someone};
use crate::derived::{failed, register_identity, setting};
use crate::flows::verification;
use crate::journey::MAIL_TIMEOUT;

mod after;
pub mod schemas;
pub mod upgrade;

pub use after::{Verdict, after, after_as};

/// The password of every imported person and its bcrypt hash (cost 10,
/// made by golang.org/x/crypto, the library Kratos verifies with), from
/// `fixtures/users/imported.json`.
fn imported_password() -> (String, String) {
    let fixture: Value =
        serde_json::from_str(include_str!("../../../fixtures/users/imported.json"))
            .expect("fixtures/users/imported.json is JSON");
    let text = |v: &Value| v.as_str().expect("a string in imported.json").to_owned();
    (
        text(&fixture["password"]),
        text(&fixture["hashes"]["bcrypt"]),
    )
}

/// Identities one batch request creates (Kratos v1.3 takes up to 2,000).
const BATCH: usize = 1000;

/// Someone made through the flows on the old config, with the sessions
/// they hold.
#[derive(Debug)]
pub struct Known {
    /// How they came to be (`registered and verified`, ...).
    pub how: &'static str,
    /// Their identity's id.
    pub id: String,
    pub(crate) someone: Someone,
    /// Their sessions, unless the old config lets them not sign in (an
    /// unverified address where login needs a verified one).
    pub(crate) signed_in: Option<SignedIn>,
    /// Their email addresses Kratos listed on the old config, for
    /// recovery and for verification (its admin API's answer).
    pub(crate) mailed: Mailed,
}

/// Email addresses an identity had for recovery and for verification.
#[derive(Debug, Default)]
pub(crate) struct Mailed {
    pub recovery: Vec<String>,
    pub verification: Vec<String>,
}

impl Mailed {
    /// The addresses for `flow` (`recovery`, `verification`).
    pub(crate) fn of(&self, flow: &str) -> &[String] {
        if flow == "recovery" {
            &self.recovery
        } else {
            &self.verification
        }
    }

    /// What Kratos lists for the identity `id`.
    async fn listed(app: &NativeApp, kratos: &Kratos, id: &str) -> Result<Self> {
        let identity = kratos.identity(app, id).await?;
        let email = |via: &str| via == "email";
        Ok(Self {
            recovery: identity
                .recovery_addresses
                .iter()
                .filter(|a| email(&a.via))
                .map(|a| a.value.clone())
                .collect(),
            verification: identity
                .verifiable_addresses
                .iter()
                .filter(|a| email(&a.via))
                .map(|a| a.value.clone())
                .collect(),
        })
    }
}

/// Someone's sessions: by token in a native app, by cookie in a browser.
#[derive(Debug)]
pub(crate) struct SignedIn {
    pub id: String,
    pub app: NativeApp,
    pub token: String,
    pub browser: Browser,
    /// The sessions' ids: by token, by cookie.
    pub sessions: (String, String),
}

/// The people of the old config.
#[derive(Debug)]
pub struct Population {
    pub known: Vec<Known>,
    /// The imported people's ids, in order.
    pub imported: Vec<String>,
    /// A few imported people, verified and not, and whether each could
    /// log in on the old config: those who could log in later.
    pub(crate) sample: Vec<(Someone, bool)>,
    /// How long the import took.
    pub import: Duration,
    /// The old config's schemas as its Kratos served them.
    pub schemas: schemas::Schemas,
    /// The mail flows the old config had on (`recovery`, `verification`).
    pub(crate) mail_flows: Vec<&'static str>,
}

impl Population {
    /// Every person made.
    pub fn len(&self) -> usize {
        self.known.len() + self.imported.len()
    }

    /// Whether no one was made.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Makes the people on the old config's Kratos: three through the flows
/// and `imported` more through the batch admin API, half of them with
/// their addresses verified. `config` is the old Kratos config (which
/// flows are on); `mail` the stack's sink.
pub async fn populate(
    kratos: &Kratos,
    config: Option<&Value>,
    mail: Option<&Mailboxes>,
    imported: usize,
) -> Result<Population> {
    let app = NativeApp::new()?;
    let schemas = schemas::served(&app, kratos).await?;
    let mut known = Vec::new();
    let verifies = flow_on(config, "verification")
        && setting(config, "selfservice.flows.verification.use").and_then(Value::as_str)
            != Some("link");
    if flow_on(config, "registration") {
        let app = NativeApp::new()?;
        let (mut person, identity) = register_identity(&app, kratos).await?;
        let mailed = Mailed::listed(&NativeApp::new()?, kratos, &identity.id).await?;
        // Verified by the code mailed to an address Kratos verifies, when
        // the old config verifies by code and the schema marks one.
        let how = match (verifies, mail, mailed.verification.first()) {
            (true, Some(mail), Some(address)) => {
                verify_by_code(&app, kratos, mail, address).await?;
                "registered and verified"
            }
            _ => "registered (nothing the old config verifies by code)",
        };
        person.prefer(&someone::password_identifiers(&app, kratos).await);
        // Someone verified must sign in; someone not verified may be
        // refused where the old config wants a verified address (and
        // verifies by link, which this person did not follow).
        let signed = match signed_in(app, kratos, &person).await {
            Ok(signed) => Some(signed),
            Err(e) if how == "registered and verified" => return Err(e),
            Err(_) => None,
        };
        known.push(Known {
            how,
            mailed,
            id: identity.id,
            someone: person,
            signed_in: signed,
        });
        let app = NativeApp::new()?;
        let (person, identity) = register_identity(&app, kratos).await?;
        // Signed in only where the old config lets an unverified address
        // in; either way their identity and address are checked later.
        let signed = signed_in(app, kratos, &person).await.ok();
        known.push(Known {
            how: "registered, not verified",
            mailed: Mailed::listed(&NativeApp::new()?, kratos, &identity.id).await?,
            id: identity.id,
            someone: person,
            signed_in: signed,
        });
    }
    let operator = NativeApp::new()?;
    let (person, id) = someone::created(&operator, kratos)
        .await
        .map_err(|e| failed("kratos POST /admin/identities", &e))?;
    let mailed = Mailed::listed(&operator, kratos, &id).await?;
    let signed = signed_in(operator, kratos, &person).await?;
    known.push(Known {
        how: "created by an operator",
        mailed,
        id,
        someone: person,
        signed_in: Some(signed),
    });
    // What the flows mailed so far is not what the checks wait for.
    if let Some(mail) = mail {
        for k in &known {
            for (address, _) in &k.someone.addresses {
                mail.open(address).clear();
            }
        }
    }
    let started = Instant::now();
    let (ids, sample) = import(&app, kratos, imported).await?;
    let import = started.elapsed();
    let mut tried = Vec::with_capacity(sample.len());
    for person in sample {
        let could = someone::api_login(&app, kratos, &person).await.is_ok();
        tried.push((person, could));
    }
    if !tried.is_empty() && !tried.iter().any(|(_, could)| *could) {
        return Err(Error::unexpected(
            "kratos POST /self-service/login?flow=%",
            "no imported person could log in on the old config, verified or not",
        ));
    }
    Ok(Population {
        known,
        imported: ids,
        sample: tried,
        import,
        schemas,
        mail_flows: ["recovery", "verification"]
            .into_iter()
            .filter(|flow| flow_on(config, flow))
            .collect(),
    })
}

/// Verifies a freshly registered person's `email` by the code mailed to
/// it.
async fn verify_by_code(
    app: &NativeApp,
    kratos: &Kratos,
    mail: &Mailboxes,
    email: &str,
) -> Result<()> {
    let (message, code) = mail.open(email).next_code(MAIL_TIMEOUT).await?;
    let flow_id = message
        .link_to("/self-service/verification")
        .and_then(|l| crate::flows::flow_param(&l))
        .ok_or_else(|| Error::unexpected("mail", "the verification code mail names no flow"))?;
    verification::api(app, kratos, &flow_id, &code)
        .await
        .map(drop)
}

/// Signs `person` in by API and in a browser and keeps both sessions.
async fn signed_in(app: NativeApp, kratos: &Kratos, person: &Someone) -> Result<SignedIn> {
    let step = "kratos POST /self-service/login?flow=%";
    let login = someone::api_login(&app, kratos, person)
        .await
        .map_err(|e| failed(step, &e))?;
    let token = someone::session_token(&login).map_err(|e| failed(step, &e))?;
    let browser = Browser::new()?;
    someone::browser_login(&browser, kratos, person)
        .await
        .map_err(|e| failed(step, &e))?;
    let by_token = kratos.whoami(&app, Some(&token)).await?;
    let by_cookie = kratos.whoami(&browser, None).await?;
    let id = by_token
        .identity
        .as_ref()
        .map(|i| i.id.clone())
        .ok_or_else(|| {
            Error::unexpected(
                "kratos GET /sessions/whoami",
                "the session names no identity",
            )
        })?;
    Ok(SignedIn {
        id,
        app,
        token,
        browser,
        sessions: (by_token.id, by_cookie.id),
    })
}

/// Imports `count` people made from the registration form, in batches,
/// with the fixture's bcrypt hash as their password; even ones with their
/// addresses verified. Returns their ids and a sample (the first, a
/// middle one and the last verified ones, and the first unverified one).
async fn import(
    app: &NativeApp,
    kratos: &Kratos,
    count: usize,
) -> Result<(Vec<String>, Vec<Someone>)> {
    if count == 0 {
        return Ok((Vec::new(), Vec::new()));
    }
    let flow = someone::registration_flow(app, kratos)
        .await
        .map_err(|e| failed("kratos GET /self-service/registration/api", &e))?;
    let identifiers = someone::password_identifiers(app, kratos).await;
    let tag = someone::tag();
    let (password, hash) = imported_password();
    if count > someone::NUMBERED_BELOW as usize {
        return Err(Error::unexpected(
            "import",
            format!("{count} people: at most {}", someone::NUMBERED_BELOW),
        ));
    }
    let last_even = (count - 1) / 2 * 2;
    let sampled = [0, 1, count / 4 * 2, last_even];
    let mut sample = Vec::new();
    let mut ids = Vec::with_capacity(count);
    let mut batch = Vec::with_capacity(BATCH);
    for n in 0..count {
        let n32 = u32::try_from(n).map_err(|_| Error::unexpected("import", "too many people"))?;
        let mut person = someone::from_form_as(&flow, &tag, n32);
        person.prefer(&identifiers);
        let mut body = json!({
            "traits": person.traits,
            "credentials": {"password": {"config": {"hashed_password": hash}}},
        });
        if n % 2 == 0 {
            body["verifiable_addresses"] = person
                .addresses
                .iter()
                .map(|(value, via)| json!({"value": value, "via": via, "verified": true, "status": "completed"}))
                .collect();
        }
        batch.push(body);
        if sampled.contains(&n) && !sample.iter().any(|s: &Someone| s.traits == person.traits) {
            person.password.clone_from(&password);
            sample.push(person);
        }
        if batch.len() == BATCH || n + 1 == count {
            ids.extend(kratos.create_identities(app, &batch).await?);
            batch.clear();
        }
    }
    Ok((ids, sample))
}
