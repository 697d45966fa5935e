//! The flows an Ory config enables, derived from the config itself, for
//! the gate: sign-up when registration is open, verification by code or
//! link as configured, login and logout by API and in a browser, recovery
//! when it is on, the OAuth2 grants each registered client can do, and the
//! permission table when there is one. People are made from the
//! deployment's own registration form, so any identity schema works.

use std::future::Future;
use std::time::Instant;

use harness::hydra::{Hydra, OAuth2Client};
use harness::keto::Keto;
use harness::kratos::{Kratos, NativeRegistration};
use harness::{Browser, Error, Mailboxes, NativeApp, Result};
use serde::Serialize;
use serde_json::Value;

use crate::checks::flow_on;
use crate::checks::someone::{self, Someone};
use crate::flows::oauth2::{self, Client, Consent, Login, Request};
use crate::flows::{logout, recovery, verification};
use crate::journey::MAIL_TIMEOUT;
use crate::permissions::Row;

/// How one derived flow went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FlowResult {
    pub name: String,
    pub outcome: FlowOutcome,
    pub millis: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum FlowOutcome {
    Passed,
    /// The error, naming the step, the status and Ory's error id.
    Failed {
        error: String,
    },
    /// Not run, and why (the config turns it off).
    Skipped {
        why: String,
    },
}

/// What the flows run against.
#[derive(Debug)]
pub struct Target<'a> {
    pub kratos: Option<&'a Kratos>,
    pub hydra: Option<&'a Hydra>,
    pub keto: Option<&'a Keto>,
    /// Kratos' config as started.
    pub kratos_config: Option<&'a Value>,
    /// The stack's mail sink, when Kratos mails it.
    pub mailboxes: Option<&'a Mailboxes>,
    /// The OAuth2 clients registered from the config folder: as stored
    /// and as the flows use them.
    pub clients: &'a [(OAuth2Client, Client)],
    /// The permission table and the relationships it assumes.
    pub permissions: Option<(&'a [harness::keto::Relationship], &'a [Row])>,
}

pub(crate) async fn timed(name: String, run: impl Future<Output = Result<()>>) -> FlowResult {
    let started = Instant::now();
    let outcome = match run.await {
        Ok(()) => FlowOutcome::Passed,
        Err(e) => FlowOutcome::Failed {
            error: e.to_string(),
        },
    };
    FlowResult {
        name,
        outcome,
        millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
    }
}

/// A flow not run, and why.
pub fn skipped(name: &str, why: &str) -> FlowResult {
    FlowResult {
        name: name.to_owned(),
        outcome: FlowOutcome::Skipped {
            why: why.to_owned(),
        },
        millis: 0,
    }
}

/// A setting of Kratos' config, if set.
pub(crate) fn setting<'v>(config: Option<&'v Value>, path: &str) -> Option<&'v Value> {
    crate::checks::at(config?, path)
}

/// An evidence from the checks' helpers as a flow error.
pub(crate) fn failed(step: &str, e: &crate::checks::Evidence) -> Error {
    Error::unexpected(step, e.to_string())
}

/// Runs every flow the config enables, in order.
pub async fn run(target: &Target<'_>) -> Vec<FlowResult> {
    let mut results = Vec::new();
    if let Some(kratos) = target.kratos {
        let config = target.kratos_config;
        if flow_on(config, "registration") {
            let name = "sign-up by API".to_owned();
            let run = async { register(&NativeApp::new()?, kratos).await.map(drop) };
            results.push(timed(name, run).await);
        } else {
            results.push(skipped("sign-up by API", "registration is off"));
        }
        if flow_on(config, "verification") {
            let via = setting(config, "selfservice.flows.verification.use")
                .and_then(Value::as_str)
                .unwrap_or("code");
            let name = format!("verification by {via}");
            match target.mailboxes {
                Some(mail) => results.push(timed(name, verify(kratos, mail, via)).await),
                None => results.push(skipped(&name, "the mail does not reach orygate")),
            }
        }
        results.push(timed("login, whoami, logout by API".into(), api_session(kratos)).await);
        results.push(
            timed(
                "login, whoami, logout in a browser".into(),
                browser_session(kratos),
            )
            .await,
        );
        if flow_on(config, "recovery") {
            let via = setting(config, "selfservice.flows.recovery.use")
                .and_then(Value::as_str)
                .unwrap_or("code");
            let name = format!("recovery by {via}");
            match (target.mailboxes, via) {
                (Some(mail), "code") => results.push(timed(name, recover(kratos, mail)).await),
                (Some(_), _) => results.push(skipped(&name, "recovery by link is not driven yet")),
                (None, _) => results.push(skipped(&name, "the mail does not reach orygate")),
            }
        } else {
            results.push(skipped("recovery", "recovery is off"));
        }
    }
    if let Some(hydra) = target.hydra {
        for (stored, client) in target.clients {
            let label = if stored.client_name.is_empty() {
                stored.client_id.clone().unwrap_or_default()
            } else {
                stored.client_name.clone()
            };
            if stored.grant_types.iter().any(|g| g == "authorization_code") {
                let name = format!("OAuth2 code flow: {label}");
                results.push(timed(name, code_flow(target, hydra, stored, client)).await);
            }
            if stored.grant_types.iter().any(|g| g == "client_credentials") {
                let name = format!("OAuth2 client credentials: {label}");
                let run = async {
                    hydra
                        .client_credentials(&NativeApp::new()?, &client.auth, &stored.scope, "")
                        .await
                        .map(drop)
                };
                results.push(timed(name, run).await);
            }
        }
    }
    if let (Some(keto), Some((tuples, rows))) = (target.keto, target.permissions) {
        let name = format!("permission table ({} rows)", rows.len());
        results.push(timed(name, permissions(keto, tuples, rows)).await);
    }
    results
}

/// Someone from the registration form, created through the admin API
/// with their addresses verified.
async fn someone_created(app: &NativeApp, kratos: &Kratos) -> Result<Someone> {
    someone::created(app, kratos)
        .await
        .map(|(s, _)| s)
        .map_err(|e| failed("kratos POST /admin/identities", &e))
}

/// Registers a fresh person through the API form, as a native app
/// signs up; the person.
pub(crate) async fn register(app: &NativeApp, kratos: &Kratos) -> Result<Someone> {
    register_identity(app, kratos)
        .await
        .map(|(person, _)| person)
}

/// The same, with the identity Kratos made.
pub(crate) async fn register_identity(
    app: &NativeApp,
    kratos: &Kratos,
) -> Result<(Someone, harness::kratos::Identity)> {
    let step = "kratos POST /self-service/registration?flow=%";
    let flow = someone::registration_flow(app, kratos)
        .await
        .map_err(|e| failed(step, &e))?;
    let mut person = someone::from_form(&flow);
    person.prefer(&someone::password_identifiers(app, kratos).await);
    let body = serde_json::json!({"method": "password", "traits": person.traits, "password": person.password});
    let registered: NativeRegistration = crate::flows::submit_api(app, &flow, &body).await?;
    Ok((person, registered.identity))
}

/// A verification mail to a freshly registered person's email address,
/// used as its owner would: the code entered in the flow the mail names,
/// or the link followed.
async fn verify(kratos: &Kratos, mail: &Mailboxes, via: &str) -> Result<()> {
    let app = NativeApp::new()?;
    let browser = Browser::new()?;
    let person = register(&app, kratos).await?;
    let Some((email, _)) = person.addresses.iter().find(|(_, v)| *v == "email") else {
        return Err(Error::unexpected(
            "verification",
            "the identity schema has no email trait to verify",
        ));
    };
    // The sink keeps what arrived before the mailbox is opened.
    let mailbox = mail.open(email);
    if via == "code" {
        let (message, code) = mailbox.next_code(MAIL_TIMEOUT).await?;
        let flow_id = message
            .link_to("/self-service/verification")
            .and_then(|l| crate::flows::flow_param(&l))
            .ok_or_else(|| Error::unexpected("mail", "the verification code mail names no flow"))?;
        return verification::api(&app, kratos, &flow_id, &code)
            .await
            .map(drop);
    }
    let message = mailbox.next(MAIL_TIMEOUT).await?;
    let link = message
        .link_to("/self-service/verification")
        .ok_or_else(|| {
            Error::unexpected(
                "mail",
                format!("the verification mail has no link: {:?}", message.links()),
            )
        })?;
    verification::browser_link(&browser, kratos, &link)
        .await
        .map(drop)
}

/// Someone logs in by API, sees themselves in whoami, logs out, and the
/// token no longer works.
async fn api_session(kratos: &Kratos) -> Result<()> {
    let app = NativeApp::new()?;
    let person = someone_created(&app, kratos).await?;
    let step = "kratos POST /self-service/login?flow=%";
    let login = someone::api_login(&app, kratos, &person)
        .await
        .map_err(|e| failed(step, &e))?;
    let token = someone::session_token(&login).map_err(|e| failed(step, &e))?;
    kratos.whoami(&app, Some(&token)).await?;
    logout::api(&app, kratos, &token).await?;
    kratos.whoami_refused(&app, Some(&token)).await.map(drop)
}

/// The name of the flow [`across_a_restart`] runs.
pub const ACROSS_A_RESTART: &str = "sessions survive a restart of Kratos";

/// Someone signed in by token and in a browser before Kratos restarts is
/// still signed in after it, as the same session: sessions are kept in the
/// database and cookies signed with the config's own secrets, not with
/// ones made at start. `restart` restarts Kratos and returns once it is
/// ready.
pub async fn across_a_restart<F: Future<Output = Result<()>>>(
    kratos: &Kratos,
    restart: impl FnOnce() -> F,
) -> FlowResult {
    let run = async {
        let app = NativeApp::new()?;
        let browser = Browser::new()?;
        let person = someone_created(&app, kratos).await?;
        let step = "kratos POST /self-service/login?flow=%";
        let login = someone::api_login(&app, kratos, &person)
            .await
            .map_err(|e| failed(step, &e))?;
        let token = someone::session_token(&login).map_err(|e| failed(step, &e))?;
        someone::browser_login(&browser, kratos, &person)
            .await
            .map_err(|e| failed(step, &e))?;
        let by_token = kratos.whoami(&app, Some(&token)).await?;
        let by_cookie = kratos.whoami(&browser, None).await?;
        restart().await?;
        for (how, before, after) in [
            ("token", by_token, kratos.whoami(&app, Some(&token)).await),
            ("cookie", by_cookie, kratos.whoami(&browser, None).await),
        ] {
            let after = after.map_err(|e| {
                Error::unexpected(
                    "kratos GET /sessions/whoami",
                    format!("the session by {how} did not survive the restart: {e}"),
                )
            })?;
            if after.id != before.id {
                return Err(Error::unexpected(
                    "kratos GET /sessions/whoami",
                    format!(
                        "by {how}, session {} before the restart, {} after",
                        before.id, after.id
                    ),
                ));
            }
        }
        Ok(())
    };
    timed(ACROSS_A_RESTART.to_owned(), run).await
}

/// The same in a browser, with its cookie jar.
async fn browser_session(kratos: &Kratos) -> Result<()> {
    let app = NativeApp::new()?;
    let browser = Browser::new()?;
    let person = someone_created(&app, kratos).await?;
    someone::browser_login(&browser, kratos, &person)
        .await
        .map_err(|e| failed("kratos POST /self-service/login?flow=%", &e))?;
    kratos.whoami(&browser, None).await?;
    logout::browser(&browser, kratos).await?;
    kratos.whoami_refused(&browser, None).await.map(drop)
}

/// Someone who forgot their password recovers the account by the code
/// mailed to them and sets a new password, which then logs in.
async fn recover(kratos: &Kratos, mail: &Mailboxes) -> Result<()> {
    let app = NativeApp::new()?;
    let mut person = someone_created(&app, kratos).await?;
    let Some((email, _)) = person
        .addresses
        .iter()
        .find(|(_, v)| *v == "email")
        .cloned()
    else {
        return Err(Error::unexpected(
            "recovery",
            "the identity schema has no email trait to recover by",
        ));
    };
    let user = crate::User {
        person: crate::Person {
            email: email.clone(),
            password: person.password.clone(),
            first_name: String::new(),
            last_name: String::new(),
        },
        mailbox: mail.open(&email),
    };
    let browser = Browser::new()?;
    let flow = recovery::browser_request(&browser, kratos, &email).await?;
    let (_, code) = crate::journey::wait_for_code(&browser, &user).await?;
    let settings = recovery::browser_code(&browser, kratos, &flow, &code).await?;
    let renewed = someone::password(24);
    crate::flows::settings::browser_password(&browser, kratos, Some(&settings), &renewed).await?;
    person.password = renewed;
    someone::api_login(&app, kratos, &person)
        .await
        .map(drop)
        .map_err(|e| failed("kratos POST /self-service/login?flow=%", &e))
}

/// The authorization code flow for `client`: with Kratos as the login
/// provider when the deployment has it, else the harness accepting the
/// login through the admin API.
async fn code_flow(
    target: &Target<'_>,
    hydra: &Hydra,
    stored: &OAuth2Client,
    client: &Client,
) -> Result<()> {
    let app = NativeApp::new()?;
    let login = match target.kratos {
        Some(kratos) => {
            let person = someone_created(&app, kratos).await?;
            Login::Kratos {
                kratos: kratos.clone(),
                identifier: person.identifiers.first().cloned().unwrap_or_default(),
                password: person.password,
            }
        }
        None => Login::Harness {
            subject: "orygate-gate".into(),
            remember: false,
        },
    };
    let scope = if stored.scope.split(' ').any(|s| s == "openid") {
        "openid".to_owned()
    } else {
        stored.scope.clone()
    };
    let (_, tokens) = oauth2::code_flow(
        &Browser::new()?,
        hydra,
        client,
        &Request::new(&scope),
        &login,
        &Consent::default(),
    )
    .await?;
    if scope == "openid" && tokens.id_token.is_none() {
        return Err(Error::unexpected(
            "hydra POST /oauth2/token",
            "no id_token for scope openid",
        ));
    }
    Ok(())
}

/// Writes the table's relationships and checks every row.
pub(crate) async fn permissions(
    keto: &Keto,
    tuples: &[harness::keto::Relationship],
    rows: &[Row],
) -> Result<()> {
    let app = NativeApp::new()?;
    keto.insert_all(&app, tuples).await?;
    let wrong = crate::permissions::disagreements(&app, keto, rows).await?;
    if wrong.is_empty() {
        Ok(())
    } else {
        let rows: Vec<String> = wrong.iter().map(ToString::to_string).collect();
        Err(Error::unexpected(
            "keto GET /relation-tuples/check",
            format!("{} rows disagree: {}", wrong.len(), rows.join("; ")),
        ))
    }
}
