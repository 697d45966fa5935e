//! Hydra's checks: its issuer and UI URLs, error answers, client
//! registration, PKCE, redirect URIs, token lifetimes, signing keys, CORS,
//! and its admin API kept off the public port.

use std::time::Duration;

use harness::hydra::{AcceptConsent, AcceptLogin, Hydra};
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::kratos::cors_of;
use super::probe::SetCookie;
use super::{Check, CheckFuture, Context, Evidence, Probe, Scope, Verdict, at};

macro_rules! check {
    ($name:ident, $id:literal, $title:literal, $run:ident) => {
        pub const $name: Check = Check {
            id: $id,
            scope: Scope::Hydra,
            title: $title,
            run: |cx| Box::pin($run(cx)) as CheckFuture<'_>,
        };
    };
}

check!(
    ISSUER,
    "issuer",
    "the issuer is https and the policy's; OAuth2 requests go to the team's UI, not Hydra's fallbacks",
    issuer
);
check!(
    ERROR_DEBUG,
    "error-debug",
    "error answers carry no error_debug (internal errors not exposed)",
    error_debug
);
check!(
    DYNAMIC_REGISTRATION,
    "dynamic-registration",
    "dynamic client registration is closed unless the policy opens it",
    dynamic_registration
);
check!(
    PKCE,
    "pkce",
    "public clients must use PKCE with S256; plain is refused",
    pkce
);
check!(
    TOKEN_LIFESPANS,
    "token-lifespans",
    "access, refresh, ID tokens and codes live no longer than the policy allows",
    token_lifespans
);
check!(
    JWKS,
    "jwks",
    "the published keys have no private parts and RSA keys are 2048 bits or more",
    jwks
);
check!(
    CORS,
    "hydra-cors",
    "Hydra's public API echoes only allowed origins, never * with credentials",
    cors
);
check!(
    ADMIN_NOT_PUBLIC,
    "admin-not-public",
    "Hydra's and Kratos' admin APIs do not answer on the public port",
    admin_not_public
);

/// A redirect URI no one answers: Hydra only puts it in a `Location`.
const REDIRECT: &str = "https://app.orygate.test/callback";

/// Registers a client for a check through the admin API; its id.
async fn client(cx: &Context<'_>, hydra: &Hydra, body: Value) -> Result<String, Evidence> {
    let url = hydra.admin("admin/clients");
    let agent = cx.app.agent();
    let request = agent.client().post(url.clone()).json(&body);
    let probe = Probe::send(
        agent,
        "hydra",
        Method::POST,
        &url,
        "a client for the checks",
        request,
    )
    .await?;
    probe
        .json()
        .and_then(|v| {
            v.get("client_id")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|_| probe.status == 201)
        .ok_or_else(|| {
            Evidence::answer(
                &probe,
                format!("the client was not created: {}", probe.body_start()),
            )
        })
}

/// Removes a check's client again.
async fn remove(cx: &Context<'_>, hydra: &Hydra, id: &str) {
    let url = hydra.admin(&format!("admin/clients/{id}"));
    let agent = cx.app.agent();
    let request = agent.client().delete(url.clone());
    let _ = Probe::send(agent, "hydra", Method::DELETE, &url, "", request).await;
}

/// `GET /oauth2/auth` with `query`.
async fn authorize(
    cx: &Context<'_>,
    hydra: &Hydra,
    query: &[(&str, &str)],
) -> Result<Probe, Evidence> {
    let mut url = hydra.public("oauth2/auth");
    url.query_pairs_mut().extend_pairs(query);
    Probe::get(cx.app.agent(), "hydra", &url).await
}

async fn issuer(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
    };
    let mut evidence = Vec::new();
    let url = hydra.public(".well-known/openid-configuration");
    let discovery = match Probe::get_json(cx.app.agent(), "hydra", &url).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let issuer = discovery
        .json()
        .and_then(|v| v.get("issuer").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    if !issuer.starts_with("https://") {
        evidence.push(Evidence::answer(
            &discovery,
            format!("issuer {issuer:?} is not https"),
        ));
    }
    let wanted = &cx.policy.oauth2.issuer;
    if !wanted.is_empty() && issuer != *wanted {
        evidence.push(Evidence::answer(
            &discovery,
            format!("issuer {issuer:?}, the policy's is {wanted:?}"),
        ));
    }
    // An unknown client lands on the error UI.
    let mut places = Vec::new();
    match authorize(
        cx,
        hydra,
        &[
            ("client_id", "orygate-unknown-client"),
            ("response_type", "code"),
            ("state", "orygate-state-1"),
        ],
    )
    .await
    {
        Ok(p) => places.push(("error", p)),
        Err(e) => evidence.push(e),
    }
    // A known client lands on the login UI.
    if cx.deployment.admin {
        let body = json!({"client_name": "orygate gate: issuer", "grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": [REDIRECT], "scope": "openid", "token_endpoint_auth_method": "client_secret_basic"});
        match client(cx, hydra, body).await {
            Ok(id) => {
                let query = [
                    ("client_id", id.as_str()),
                    ("response_type", "code"),
                    ("scope", "openid"),
                    ("redirect_uri", REDIRECT),
                    ("state", "orygate-state-2"),
                ];
                match authorize(cx, hydra, &query).await {
                    Ok(p) => places.push(("login", p)),
                    Err(e) => evidence.push(e),
                }
                remove(cx, hydra, &id).await;
            }
            Err(e) => evidence.push(e),
        }
    }
    for (ui, probe) in &places {
        let location = probe.header("location").unwrap_or_default();
        if location.contains("/oauth2/fallbacks/") {
            evidence.push(Evidence::answer(
                probe,
                format!("Location: {location}: Hydra's fallback page, no urls.{ui} set"),
            ));
        }
        for cookie in probe.set_cookies().into_iter().filter_map(SetCookie::parse) {
            if cookie.name.contains("_dev") || !cookie.secure {
                evidence.push(Evidence::answer(
                    probe,
                    format!("Set-Cookie {}: a dev-mode cookie", cookie.raw),
                ));
            }
        }
    }
    Verdict::from_evidence(
        evidence,
        format!(
            "issuer {issuer}; {} answers lead to the team's UI",
            places.len()
        ),
    )
}

/// What in an error answer is internal: fosite's `error_debug`, or the
/// storage error Hydra appends to the description when it exposes
/// internal errors (an unknown client's lookup: "Unable to locate the
/// resource", from its SQL layer).
fn internal(text: &str) -> Option<&'static str> {
    const LEAKS: &[&str] = &[
        "error_debug",
        "Unable to locate the resource",
        "sql: ",
        "no rows in result set",
    ];
    LEAKS.iter().copied().find(|l| text.contains(l))
}

async fn error_debug(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
    };
    let agent = cx.app.agent();
    let url = hydra.public("oauth2/token");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", "orygate-not-a-code"),
        ("client_id", "orygate-unknown-client"),
        ("redirect_uri", REDIRECT),
    ];
    let request = agent.client().post(url.clone()).form(&form);
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    match Probe::send(
        agent,
        "hydra",
        Method::POST,
        &url,
        "an unknown client and code",
        request,
    )
    .await
    {
        Ok(p) => {
            if let Some(leak) = internal(&p.body) {
                evidence.push(Evidence::answer(
                    &p,
                    format!("the error exposes {leak:?}: {}", p.body_start()),
                ));
            }
            seen.push(p.status.to_string());
        }
        Err(e) => evidence.push(e),
    }
    match authorize(
        cx,
        hydra,
        &[
            ("client_id", "orygate-unknown-client"),
            ("response_type", "code"),
            ("state", "orygate-state-3"),
        ],
    )
    .await
    {
        Ok(p) => {
            let location = p.header("location").unwrap_or_default();
            if let Some(leak) = internal(location).or_else(|| internal(&p.body)) {
                evidence.push(Evidence::answer(
                    &p,
                    format!("the error exposes {leak:?}: {location}"),
                ));
            }
            seen.push(p.status.to_string());
        }
        Err(e) => evidence.push(e),
    }
    Verdict::from_evidence(
        evidence,
        format!("errors ({}) without internal details", seen.join(", ")),
    )
}

async fn dynamic_registration(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
    };
    let agent = cx.app.agent();
    let url = hydra.public("oauth2/register");
    // A body Hydra refuses even when registration is open, so probing
    // a deployment by URL registers nothing.
    let request = agent
        .client()
        .post(url.clone())
        .json(&json!({"redirect_uris": "not-a-list"}));
    let probe = match Probe::send(
        agent,
        "hydra",
        Method::POST,
        &url,
        "an invalid client",
        request,
    )
    .await
    {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let open = probe.status != 404;
    if open && !cx.policy.oauth2.dynamic_client_registration {
        return Verdict::Failed(vec![Evidence::answer(
            &probe,
            format!(
                "/oauth2/register answers ({}), so anyone can register clients: {}",
                probe.status,
                probe.body_start()
            ),
        )]);
    }
    Verdict::Passed(format!("/oauth2/register answers {}", probe.status))
}

/// The value of the query parameter `name` of a `Location`.
fn param(location: &str, name: &str) -> Option<String> {
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
async fn through_consent(
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
            let accept = AcceptConsent {
                grant_scope: vec!["openid".into()],
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

async fn pkce(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
    };
    if !cx.deployment.admin {
        return super::no_admin();
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
                    } else if param(&location, "error").is_some() || p.status >= 400 {
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

async fn token_lifespans(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
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
    }
    if seen.is_empty() && evidence.is_empty() {
        return super::no_admin();
    }
    Verdict::from_evidence(evidence, seen.join(", "))
}

/// The `ttl.*` of Hydra's config against the policy.
fn configured_lifespans(
    config: &Value,
    t: &super::policy::Tokens,
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

/// What's wrong with a published key set.
fn jwks_faults(keys: &Value) -> Vec<String> {
    const PRIVATE: &[&str] = &["d", "p", "q", "dp", "dq", "qi", "k"];
    let mut faults = Vec::new();
    for key in keys
        .get("keys")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let kid = key.get("kid").and_then(Value::as_str).unwrap_or("?");
        let private: Vec<&str> = PRIVATE
            .iter()
            .copied()
            .filter(|p| key.get(*p).is_some())
            .collect();
        if !private.is_empty() {
            faults.push(format!(
                "key {kid} publishes private parts {}",
                private.join(", ")
            ));
        }
        if key.get("kty").and_then(Value::as_str) == Some("RSA") {
            let n = key.get("n").and_then(Value::as_str).unwrap_or_default();
            // base64url without padding: 4 characters per 3 bytes.
            let bits = n.trim_end_matches('=').len() * 6 / 8 * 8;
            if bits < 2048 {
                faults.push(format!("key {kid} is RSA with a {bits}-bit modulus"));
            }
        }
    }
    faults
}

async fn jwks(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
    };
    let url = hydra.public(".well-known/jwks.json");
    let probe = match Probe::get_json(cx.app.agent(), "hydra", &url).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let Some(keys) = probe.json() else {
        return Verdict::Failed(vec![Evidence::answer(
            &probe,
            format!("not JSON: {}", probe.body_start()),
        )]);
    };
    let count = keys
        .get("keys")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    let evidence = jwks_faults(&keys)
        .into_iter()
        .map(|f| Evidence::answer(&probe, f))
        .collect();
    Verdict::from_evidence(evidence, format!("{count} public keys"))
}

async fn cors(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::absent("hydra");
    };
    cors_of(
        cx,
        "hydra",
        &hydra.public(".well-known/openid-configuration"),
    )
    .await
}

async fn admin_not_public(cx: &Context<'_>) -> Verdict {
    let mut targets: Vec<(&'static str, Url)> = Vec::new();
    if let Some(hydra) = &cx.deployment.hydra {
        targets.push(("hydra", hydra.public("admin/clients")));
    }
    if let Some(kratos) = &cx.deployment.kratos {
        targets.push(("kratos", kratos.public("admin/identities")));
    }
    if targets.is_empty() {
        return super::absent("hydra or kratos");
    }
    let mut evidence = Vec::new();
    for (service, url) in &targets {
        match Probe::get_json(cx.app.agent(), service, url).await {
            Ok(p) if p.status == 200 => evidence.push(Evidence::answer(
                &p,
                format!(
                    "the admin API answers on the public port: {}",
                    p.body_start()
                ),
            )),
            Ok(p) if (300..400).contains(&p.status) => {
                // Kratos sends /admin/* on its public port to the admin
                // base URL: harmless only if that is not this public port.
                let location = p.header("location").unwrap_or_default();
                let target = Url::parse(location).ok();
                if target.as_ref().is_some_and(|t| {
                    t.host_str() == url.host_str()
                        && t.port_or_known_default() == url.port_or_known_default()
                }) {
                    evidence.push(Evidence::answer(
                        &p,
                        format!("redirects to {location}, on the public port itself"),
                    ));
                }
            }
            Ok(_) => {}
            Err(e) => evidence.push(e),
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("{} admin paths not served publicly", targets.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_key_parts_and_short_rsa_keys_fail() {
        // A 2048-bit modulus is 342 base64url characters; 1024 bits is 171.
        let long = "A".repeat(342);
        let short = "A".repeat(171);
        let good = json!({"keys": [{"kid": "a", "kty": "RSA", "n": long, "e": "AQAB"}]});
        assert!(jwks_faults(&good).is_empty());
        let bad = json!({"keys": [{"kid": "b", "kty": "RSA", "n": short, "e": "AQAB", "d": "x"}]});
        assert_eq!(
            jwks_faults(&bad),
            [
                "key b publishes private parts d",
                "key b is RSA with a 1024-bit modulus"
            ]
        );
    }
}
