//! The reuse check: an authorization code works once, and a refresh token
//! used twice is refused and takes its chain with it (RFC 6749 4.1.2 and
//! 10.4; OAuth 2.0 Security BCP 4.14.2).

use harness::hydra::Hydra;
use harness::hydra::tokens::Pkce;
use reqwest::Method;
use serde_json::{Value, json};

use super::super::{Context, Evidence, Probe, Verdict};
use super::grants::{param, through_consent};
use super::{REDIRECT, client, remove};

/// `POST /oauth2/token` with `form`, authenticated as the client.
async fn token(
    cx: &Context<'_>,
    hydra: &Hydra,
    form: &[(&str, &str)],
    what: &str,
) -> Result<Probe, Evidence> {
    let url = hydra.public("oauth2/token");
    let agent = cx.app.agent();
    let request = agent.client().post(url.clone()).form(form);
    Probe::send(agent, "hydra", Method::POST, &url, what, request).await
}

/// Whether `token` is active, per the admin API's introspection.
async fn active(cx: &Context<'_>, hydra: &Hydra, token: &str) -> Result<bool, Evidence> {
    hydra
        .introspect(&cx.app, token)
        .await
        .map(|i| i.active)
        .map_err(|e| Evidence::config("hydra", "admin/oauth2/introspect", e.to_string()))
}

fn field(probe: &Probe, key: &str) -> String {
    probe
        .json()
        .and_then(|v| v.get(key).and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default()
}

pub(super) async fn reuse(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::super::absent("hydra");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let secret = "orygate-gate-reuse-check-secret-0123456789";
    let body = json!({"client_name": "orygate gate: reuse", "client_secret": secret, "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"], "redirect_uris": [REDIRECT], "scope": "openid offline_access", "token_endpoint_auth_method": "client_secret_post"});
    let id = match client(cx, hydra, body).await {
        Ok(id) => id,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let verdict = match run(cx, hydra, &id, secret).await {
        Ok(evidence) => Verdict::from_evidence(
            evidence,
            "a code works once; a reused refresh token is refused and its chain revoked",
        ),
        Err(e) => Verdict::Failed(vec![e]),
    };
    remove(cx, hydra, &id).await;
    verdict
}

/// A fresh grant: through login and consent to a code, exchanged once;
/// the code and the token answer.
async fn grant(
    cx: &Context<'_>,
    hydra: &Hydra,
    id: &str,
    secret: &str,
) -> Result<(Code, Probe), Evidence> {
    // With PKCE, which a deployment may require of every client.
    let pkce = Pkce::new();
    let query = [
        ("client_id", id),
        ("response_type", "code"),
        ("scope", "openid offline_access"),
        ("redirect_uri", REDIRECT),
        ("state", "orygate-state-5"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let callback = through_consent(cx, hydra, &query).await?;
    let location = callback.header("location").unwrap_or_default().to_owned();
    let code = param(&location, "code")
        .ok_or_else(|| Evidence::answer(&callback, format!("no code: {location}")))?;
    let code = Code {
        code,
        verifier: pkce.verifier,
    };
    let first = token(cx, hydra, &exchange(&code, id, secret), "the code").await?;
    if first.status != 200 || field(&first, "refresh_token").is_empty() {
        return Err(Evidence::answer(
            &first,
            format!("no tokens for the code: {}", first.body_start()),
        ));
    }
    Ok((code, first))
}

/// An authorization code and the PKCE verifier it was asked with.
struct Code {
    code: String,
    verifier: String,
}

fn exchange<'a>(code: &'a Code, id: &'a str, secret: &'a str) -> [(&'static str, &'a str); 6] {
    [
        ("grant_type", "authorization_code"),
        ("code", &code.code),
        ("code_verifier", &code.verifier),
        ("redirect_uri", REDIRECT),
        ("client_id", id),
        ("client_secret", secret),
    ]
}

async fn run(
    cx: &Context<'_>,
    hydra: &Hydra,
    id: &str,
    secret: &str,
) -> Result<Vec<Evidence>, Evidence> {
    let mut evidence = Vec::new();
    // A code used twice: refused, and what it first gave revoked.
    let (code, first) = grant(cx, hydra, id, secret).await?;
    let access = field(&first, "access_token");
    let again = token(
        cx,
        hydra,
        &exchange(&code, id, secret),
        "the same code again",
    )
    .await?;
    if again.status == 200 {
        evidence.push(Evidence::answer(
            &again,
            "the code was exchanged a second time",
        ));
    } else if active(cx, hydra, &access).await? {
        evidence.push(Evidence::answer(
            &again,
            "the code's reuse was refused, but the tokens it first gave stay active",
        ));
    }
    // A refresh token used twice, on a grant of its own: refused, and the
    // token that replaced it revoked.
    let (_, first) = grant(cx, hydra, id, secret).await?;
    let refresh = field(&first, "refresh_token");
    let form = [
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", id),
        ("client_secret", secret),
    ];
    let rotated = token(cx, hydra, &form, "the refresh token").await?;
    let newer = field(&rotated, "refresh_token");
    if rotated.status != 200 || newer.is_empty() {
        return Err(Evidence::answer(
            &rotated,
            format!("the refresh failed: {}", rotated.body_start()),
        ));
    }
    if newer == refresh {
        evidence.push(Evidence::answer(
            &rotated,
            "the refresh token was not rotated",
        ));
    }
    let reused = token(cx, hydra, &form, "the used refresh token again").await?;
    if reused.status == 200 {
        evidence.push(Evidence::answer(
            &reused,
            "a used refresh token was accepted again",
        ));
    } else if active(cx, hydra, &newer).await? {
        evidence.push(Evidence::answer(
            &reused,
            "the reuse was refused, but the refresh token that replaced it stays active",
        ));
    }
    Ok(evidence)
}
