//! The checks that take an OAuth2 grant through: PKCE after login and
//! consent, and the lifetimes of what Hydra issues.

use std::time::Duration;

use harness::hydra::{AcceptConsent, AcceptLogin, Hydra};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::super::{Context, Evidence, Probe, Verdict, at};
use super::{REDIRECT, client, remove};

/// The value of the query parameter `name` of a `Location`.
pub(super) fn param(location: &str, name: &str) -> Option<String> {
    Url::parse(location)
        .ok()?
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// An authorization request with `query` taken through login and consent
/// (accepted through the admin API, as a login app does) to where Hydra
/// finally sends the browser: Hydra applies PKCE and the response type's
/// rules only there. The last answer.
pub(super) async fn through_consent(
    cx: &Context<'_>,
    hydra: &Hydra,
    query: &[(&str, &str)],
) -> Result<Probe, Evidence> {
    let browser =
        harness::Browser::new().map_err(|e| Evidence::config("client", "", e.to_string()))?;
    let agent = browser.agent();
    let mut url = hydra.public("oauth2/auth");
    url.query_pairs_mut().extend_pairs(query);
    let mut probe = Probe::get(agent, "hydra", &url).await?;
    for _ in 0..6 {
        let location = probe.header("location").unwrap_or_default().to_owned();
        let next = if let Some(challenge) = param(&location, "login_challenge") {
            let accept = AcceptLogin {
                subject: "orygate-gate".into(),
                ..AcceptLogin::default()
            };
            hydra.accept_login(&cx.app, &challenge, &accept).await
        } else if let Some(challenge) = param(&location, "consent_challenge") {
            let scope = query
                .iter()
                .find(|(k, _)| *k == "scope")
                .map_or("openid", |(_, v)| *v);
            let accept = AcceptConsent {
                grant_scope: scope.split(' ').map(str::to_owned).collect(),
                ..AcceptConsent::default()
            };
            hydra.accept_consent(&cx.app, &challenge, &accept).await
        } else {
            return Ok(probe);
        };
        let next = next.map_err(|e| {
            Evidence::answer(&probe, format!("accepting the challenge failed: {e}"))
        })?;
        let url = Url::parse(&next.redirect_to)
            .map_err(|e| Evidence::answer(&probe, format!("redirect_to: {e}")))?;
        probe = Probe::get(agent, "hydra", &url).await?;
    }
    Ok(probe)
}

pub(super) async fn pkce(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::super::absent("hydra");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let mut kinds = vec![("public", "none")];
    if cx.policy.oauth2.pkce_for_all_clients {
        kinds.push(("confidential", "client_secret_basic"));
    }
    let mut evidence = Vec::new();
    let mut refused = 0;
    for (kind, auth) in kinds {
        let body = json!({"client_name": format!("orygate gate: pkce {kind}"), "grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": [REDIRECT], "scope": "openid", "token_endpoint_auth_method": auth});
        let id = match client(cx, hydra, body).await {
            Ok(id) => id,
            Err(e) => {
                evidence.push(e);
                continue;
            }
        };
        let base = [
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", REDIRECT),
            ("state", "orygate-state-4"),
        ];
        let plain = "orygate-plain-challenge-0123456789-0123456789";
        let cases: [(&str, Vec<(&str, &str)>); 2] = [
            ("without code_challenge", Vec::new()),
            (
                "with code_challenge_method=plain",
                vec![
                    ("code_challenge", plain),
                    ("code_challenge_method", "plain"),
                ],
            ),
        ];
        for (what, extra) in cases {
            let query: Vec<(&str, &str)> = base.iter().copied().chain(extra).collect();
            match through_consent(cx, hydra, &query).await {
                Ok(p) => {
                    let location = p.header("location").unwrap_or_default().to_owned();
                    if param(&location, "code").is_some() {
                        evidence.push(
                            Evidence::answer(
                                &p,
                                format!("a {kind} client's request {what} got a code: {location}"),
                            )
                            .about(kind),
                        );
                    } else if param(&location, "error").as_deref() == Some("invalid_request") {
                        refused += 1;
                    } else {
                        evidence.push(Evidence::answer(
                            &p,
                            format!("neither a code nor an error: {location}"),
                        ));
                    }
                }
                Err(e) => evidence.push(e),
            }
        }
        remove(cx, hydra, &id).await;
    }
    Verdict::from_evidence(
        evidence,
        format!("{refused} requests without S256 PKCE refused"),
    )
}

pub(super) async fn token_lifespans(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::super::absent("hydra");
    };
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    if let Some(config) = &cx.deployment.config.hydra {
        configured_lifespans(config, &cx.policy.tokens, &mut evidence, &mut seen);
    }
    if cx.deployment.admin {
        match issued_lifespan(cx, hydra).await {
            Ok(secs) => seen.push(format!("an access token expires_in {secs} s")),
            Err(e) => evidence.push(e),
        }
        client_lifespans(cx, hydra, &mut evidence, &mut seen).await;
    }
    if seen.is_empty() && evidence.is_empty() {
        return super::super::no_admin();
    }
    Verdict::from_evidence(evidence, seen.join(", "))
}

/// The lifespans each registered client sets for its own tokens (they
/// override `ttl.*`) against the policy.
async fn client_lifespans(
    cx: &Context<'_>,
    hydra: &Hydra,
    evidence: &mut Vec<Evidence>,
    seen: &mut Vec<String>,
) {
    let pages = match super::clients::list(cx.app.agent(), hydra, super::clients::PAGE_SIZE).await {
        Ok((pages, _)) => pages,
        Err(e) => return evidence.push(e),
    };
    let (count, faults) = super::clients::judge(&pages, |client| {
        super::clients::lifespan_faults(client, &cx.policy.tokens)
    });
    evidence.extend(faults);
    seen.push(format!("{count} clients' own lifespans"));
}

/// The `ttl.*` of Hydra's config against the policy.
fn configured_lifespans(
    config: &Value,
    t: &super::super::policy::Tokens,
    evidence: &mut Vec<Evidence>,
    seen: &mut Vec<String>,
) {
    let bounds = [
        ("ttl.access_token", t.max_access_token),
        ("ttl.refresh_token", t.max_refresh_token),
        ("ttl.id_token", t.max_id_token),
        ("ttl.auth_code", t.max_auth_code),
    ];
    for (key, max) in bounds {
        let Some(value) = at(config, key).and_then(Value::as_str) else {
            continue;
        };
        match humantime::parse_duration(value) {
            Ok(d) if d > max => evidence.push(Evidence::config(
                "hydra.yml",
                key,
                format!(
                    "{value}; the policy allows {}",
                    humantime::format_duration(max)
                ),
            )),
            Ok(_) => seen.push(format!("{key} {value}")),
            Err(e) => evidence.push(Evidence::config(
                "hydra.yml",
                key,
                format!("{value:?} is not a duration: {e}"),
            )),
        }
    }
}

/// The `expires_in` of an access token Hydra issues to a client of the
/// check's own, within the policy.
async fn issued_lifespan(cx: &Context<'_>, hydra: &Hydra) -> Result<u64, Evidence> {
    let max = cx.policy.tokens.max_access_token;
    let body = json!({"client_name": "orygate gate: token lifespans", "grant_types": ["client_credentials"], "response_types": [], "scope": "", "token_endpoint_auth_method": "client_secret_post"});
    let url = hydra.admin("admin/clients");
    let agent = cx.app.agent();
    let request = agent.client().post(url.clone()).json(&body);
    let note = "a client for the checks";
    let created = Probe::send(agent, "hydra", Method::POST, &url, note, request).await?;
    let v = created.json().unwrap_or_default();
    let field = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (id, secret) = (field("client_id"), field("client_secret"));
    let token_url = hydra.public("oauth2/token");
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
    ];
    let request = agent.client().post(token_url.clone()).form(&form);
    let note = "client_credentials";
    let answer = Probe::send(agent, "hydra", Method::POST, &token_url, note, request).await;
    remove(cx, hydra, &id).await;
    let p = answer?;
    match p
        .json()
        .and_then(|v| v.get("expires_in").and_then(Value::as_u64))
    {
        Some(secs) if Duration::from_secs(secs) > max + Duration::from_secs(5) => {
            Err(Evidence::answer(
                &p,
                format!(
                    "expires_in {secs} s; the policy allows {}",
                    humantime::format_duration(max)
                ),
            ))
        }
        Some(secs) => Ok(secs),
        None => Err(Evidence::answer(
            &p,
            format!("no expires_in: {}", p.body_start()),
        )),
    }
}
