//! The Ory upgrade gate's data beyond people: an OAuth2 grant (a refresh
//! token and a remembered consent) and the permission table's
//! relationships, made on the old versions and used again once the new
//! ones run on the same databases.

use harness::hydra::{Hydra, OAuth2Client};
use harness::keto::{Keto, Relationship};
use harness::{Browser, Error, NativeApp, Result};

use super::Population;
use crate::derived::{FlowResult, skipped, timed};
use crate::flows::oauth2::{self, Client, Consent, Login, Request};
use crate::permissions::Row;

/// Who consents when the stack has no Kratos to sign in at.
pub const HARNESS_SUBJECT: &str = "orygate-upgrade";

/// A grant made before the upgrade: the browser that consented (and
/// was remembered), the client, and the refresh token.
#[derive(Debug)]
pub struct Grant {
    label: String,
    client: Client,
    browser: Browser,
    login: Login,
    scope: String,
    /// The refresh token, or why the client has none.
    refresh: std::result::Result<String, String>,
    /// Whether the first flow asked for consent: only then is there one
    /// to remember (a consent app may skip it for a client that skips
    /// consent).
    consented: bool,
}

/// A code flow for the first registered client that can do one, with
/// `offline_access` when the client may ask for it, the consent
/// remembered. The person signs in at Kratos (the first person of the
/// population who was signed in) or, without Kratos, at the harness.
pub async fn grant(
    hydra: &Hydra,
    clients: &[(OAuth2Client, Client)],
    population: Option<&Population>,
    kratos: Option<&harness::kratos::Kratos>,
) -> Result<Option<Grant>> {
    let Some((stored, client)) = clients
        .iter()
        .find(|(c, _)| c.grant_types.iter().any(|g| g == "authorization_code"))
    else {
        return Ok(None);
    };
    let scopes: Vec<&str> = stored.scope.split(' ').collect();
    let scope = ["openid", "offline_access"]
        .into_iter()
        .filter(|s| scopes.contains(s))
        .collect::<Vec<_>>()
        .join(" ");
    let login = match (kratos, population) {
        (Some(kratos), Some(population)) => {
            let person = population
                .known
                .iter()
                .find(|k| k.signed_in.is_some())
                .map(|k| &k.someone)
                .ok_or_else(|| {
                    Error::unexpected("upgrade", "no one could sign in on the old Kratos")
                })?;
            Login::Kratos {
                kratos: kratos.clone(),
                identifier: person.identifiers.first().cloned().unwrap_or_default(),
                password: person.password.clone(),
            }
        }
        _ => Login::Harness {
            subject: HARNESS_SUBJECT.into(),
            remember: true,
        },
    };
    let browser = Browser::new()?;
    let consent = Consent {
        remember: true,
        ..Consent::default()
    };
    let (callback, tokens) = oauth2::code_flow(
        &browser,
        hydra,
        client,
        &Request::new(&scope),
        &login,
        &consent,
    )
    .await?;
    let label = if stored.client_name.is_empty() {
        stored.client_id.clone().unwrap_or_default()
    } else {
        stored.client_name.clone()
    };
    let refresh = match tokens.refresh_token {
        Some(token) => Ok(token),
        None if !scopes.contains(&"offline_access") => {
            Err(format!("{label} may not ask for offline_access"))
        }
        None if !stored.grant_types.iter().any(|g| g == "refresh_token") => {
            Err(format!("{label} lacks the refresh_token grant type"))
        }
        None => {
            return Err(Error::unexpected(
                "hydra POST /oauth2/token",
                format!(
                    "{label} asked for offline_access and may refresh, yet Hydra gave no refresh token on the old release"
                ),
            ));
        }
    };
    Ok(Some(Grant {
        refresh,
        consented: callback.consents > 0,
        label,
        client: client.clone(),
        browser,
        login,
        scope,
    }))
}

/// After the upgrade: the refresh token still refreshes, and the same
/// browser is not asked to consent again.
pub async fn grant_after(hydra: &Hydra, grant: Option<&Grant>) -> Vec<FlowResult> {
    let refreshes = "upgrade: refresh tokens still refresh";
    let remembered = "upgrade: a remembered consent still skips the screen";
    let Some(grant) = grant else {
        return vec![
            skipped(refreshes, "no registered client does the code flow"),
            skipped(remembered, "no registered client does the code flow"),
        ];
    };
    let mut rows = Vec::new();
    match &grant.refresh {
        Ok(token) => {
            let run = async {
                hydra
                    .refresh(&NativeApp::new()?, &grant.client.auth, token)
                    .await
                    .map(drop)
            };
            rows.push(timed(format!("{refreshes} ({})", grant.label), run).await);
        }
        Err(why) => rows.push(skipped(refreshes, why)),
    }
    if !grant.consented {
        rows.push(skipped(
            remembered,
            &format!(
                "{} was not asked to consent: there is none to remember",
                grant.label
            ),
        ));
        return rows;
    }
    let run = async {
        let consent = Consent {
            remember: true,
            ..Consent::default()
        };
        let request = Request::new(&grant.scope);
        let (callback, _) = oauth2::code_flow(
            &grant.browser,
            hydra,
            &grant.client,
            &request,
            &grant.login,
            &consent,
        )
        .await?;
        if callback.consents == 0 {
            Ok(())
        } else {
            Err(Error::unexpected(
                "hydra GET /oauth2/auth",
                "the consent given before the upgrade was asked for again",
            ))
        }
    };
    rows.push(timed(format!("{remembered} ({})", grant.label), run).await);
    rows
}

/// Writes the permission table's relationships and checks every row, on
/// the old Keto.
pub async fn relationships(keto: &Keto, tuples: &[Relationship], rows: &[Row]) -> Result<()> {
    crate::derived::permissions(keto, tuples, rows).await
}

/// After the upgrade: every row of the table still holds on the
/// relationships written before it. A table without an allowed row
/// cannot tell relationships that were lost: that is said, not passed.
pub async fn relationships_after(keto: &Keto, rows: &[Row]) -> FlowResult {
    let name = format!("upgrade: relationships still decide ({} rows)", rows.len());
    if !rows.iter().any(|r| r.allowed) {
        return skipped(
            &name,
            "the permission table allows nothing: relationships lost would go unseen",
        );
    }
    let run = async {
        let wrong = crate::permissions::disagreements(&NativeApp::new()?, keto, rows).await?;
        if wrong.is_empty() {
            return Ok(());
        }
        let rows: Vec<String> = wrong.iter().map(ToString::to_string).collect();
        Err(Error::unexpected(
            "keto GET /relation-tuples/check",
            format!(
                "{} rows disagree after the upgrade: {}",
                wrong.len(),
                rows.join("; ")
            ),
        ))
    };
    timed(name, run).await
}
