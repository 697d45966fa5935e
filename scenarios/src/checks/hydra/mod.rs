//! Hydra's checks: its issuer and UI URLs, error answers, client
//! registration, PKCE, token lifetimes, signing keys, CORS, and its admin
//! API kept off the public port.

pub mod clients;
mod grants;
mod redirects;
mod reuse;

use harness::hydra::Hydra;
use reqwest::Method;
use serde_json::{Value, json};
use url::Url;

use super::cors::cors_of;
use super::probe::SetCookie;
use super::{Context, Evidence, Probe, Verdict};

check!(
    Hydra,
    ISSUER,
    "issuer",
    "the issuer is https and the policy's; OAuth2 requests go to the team's UI, not Hydra's fallbacks",
    issuer
);
check!(
    Hydra,
    ERROR_DEBUG,
    "error-debug",
    "error answers carry no error_debug (internal errors not exposed)",
    error_debug
);
check!(
    Hydra,
    DYNAMIC_REGISTRATION,
    "dynamic-registration",
    "dynamic client registration is closed unless the policy opens it",
    dynamic_registration
);
check!(
    Hydra,
    PKCE,
    "pkce",
    "public clients must use PKCE with S256; plain is refused",
    grants::pkce
);
check!(
    Hydra,
    COOKIES,
    "hydra-cookies",
    "Hydra's login and consent cookies are HttpOnly, Secure, SameSite and Domain as the policy says, and not Strict where a client is on another site",
    redirects::cookies
);
check!(
    Hydra,
    REDIRECT_URI,
    "redirect-uri",
    "redirect URIs match exactly; no client uses the implicit flow or plain http off loopback",
    redirects::redirect_uri
);
check!(
    Hydra,
    REUSE,
    "reuse",
    "an authorization code works once; a reused refresh token is refused and its chain revoked",
    reuse::reuse
);
check!(
    Hydra,
    TOKEN_LIFESPANS,
    "token-lifespans",
    "access, refresh, ID tokens and codes live no longer than the policy allows, in the config and in each client's own lifespans",
    grants::token_lifespans
);
check!(
    Hydra,
    JWKS,
    "jwks",
    "the published keys have no private parts and RSA keys are 2048 bits or more",
    jwks
);
check!(
    Hydra,
    CORS,
    "hydra-cors",
    "Hydra's public API echoes only allowed origins, never * with credentials",
    cors
);
check!(
    Hydra,
    ADMIN_NOT_PUBLIC,
    "admin-not-public",
    "Hydra's and Kratos' admin APIs do not answer on the public port",
    admin_not_public
);

/// A redirect URI no one answers: Hydra only puts it in a `Location`.
pub(super) const REDIRECT: &str = "https://app.orygate.test/callback";

/// Registers a client for a check through the admin API; its id.
pub(super) async fn client(
    cx: &Context<'_>,
    hydra: &Hydra,
    body: Value,
) -> Result<String, Evidence> {
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
pub(super) async fn remove(cx: &Context<'_>, hydra: &Hydra, id: &str) {
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
            if cookie.is_ory() && (cookie.name.contains("_dev") || !cookie.secure) {
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
