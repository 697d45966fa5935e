//! Hydra's redirects: its own cookies on the way to the login and consent
//! UIs, the exact match of a client's redirect URI, and the clients a
//! deployment registered.

use harness::Browser;
use serde_json::{Value, json};
use url::Url;

use harness::urls::site;

use super::super::kratos::cookies::judge_cookies;
use super::super::probe::SetCookie;
use super::super::{Context, Evidence, Probe, Verdict};
use super::grants::param;
use super::{REDIRECT, client, remove};

pub(super) async fn cookies(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::super::absent("hydra");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let body = json!({"client_name": "orygate gate: cookies", "grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": [REDIRECT], "scope": "openid", "token_endpoint_auth_method": "client_secret_basic"});
    let id = match client(cx, hydra, body).await {
        Ok(id) => id,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let verdict = walk(cx, hydra, &id).await;
    remove(cx, hydra, &id).await;
    verdict
}

/// The authorization request to the consent UI, judging every cookie
/// Hydra sets on the way (its login and consent CSRF cookies).
async fn walk(cx: &Context<'_>, hydra: &harness::hydra::Hydra, id: &str) -> Verdict {
    let browser = match Browser::new() {
        Ok(b) => b,
        Err(e) => return Verdict::Skipped(format!("no browser: {e}")),
    };
    let agent = browser.agent();
    let mut url = hydra.public("oauth2/auth");
    url.query_pairs_mut().extend_pairs([
        ("client_id", id),
        ("response_type", "code"),
        ("scope", "openid"),
        ("redirect_uri", REDIRECT),
        ("state", "orygate-state-6"),
    ]);
    let mut answers = Vec::new();
    let mut probe = match Probe::get(agent, "hydra", &url).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let location = probe.header("location").unwrap_or_default().to_owned();
    if let Some(challenge) = param(&location, "login_challenge") {
        let accept = harness::hydra::AcceptLogin {
            subject: "orygate-gate".into(),
            ..Default::default()
        };
        answers.push(probe);
        let next = match hydra.accept_login(&cx.app, &challenge, &accept).await {
            Ok(n) => n,
            Err(e) => {
                return Verdict::Failed(vec![Evidence::config(
                    "hydra",
                    "login accept",
                    e.to_string(),
                )]);
            }
        };
        let Ok(next) = Url::parse(&next.redirect_to) else {
            return Verdict::Failed(vec![Evidence::config(
                "hydra",
                "redirect_to",
                next.redirect_to,
            )]);
        };
        probe = match Probe::get(agent, "hydra", &next).await {
            Ok(p) => p,
            Err(e) => return Verdict::Failed(vec![e]),
        };
    }
    answers.push(probe);
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    for answer in &answers {
        let ory = |name: &str| name.starts_with("ory_hydra_");
        judge_cookies(answer, cx.policy, &ory, &mut evidence, &mut seen);
    }
    if seen.is_empty() && evidence.is_empty() {
        return Verdict::Failed(vec![Evidence::config(
            "hydra",
            "Set-Cookie",
            "Hydra set no cookie on the way to login and consent",
        )]);
    }
    // Every cookie Hydra set on the way, whatever the config names them.
    let strict: Vec<String> = answers
        .iter()
        .flat_map(Probe::set_cookies)
        .filter_map(SetCookie::parse)
        .filter(|c| {
            c.same_site
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("strict"))
        })
        .map(|c| c.name)
        .collect();
    if !strict.is_empty() {
        let login_ui = url.join(&location).ok().filter(|_| !location.is_empty());
        evidence.extend(strict_across_sites(cx, hydra, id, &strict, login_ui).await);
    }
    Verdict::from_evidence(evidence, format!("{} as the policy says", seen.join(", ")))
}

/// Hydra's cookies `strict` are `SameSite=Strict`, which a browser
/// withholds from a navigation that started on another site than
/// Hydra's (its authorization endpoint's). So:
/// - a login UI (`login_ui`, where Hydra sent the browser) on another
///   site sends every login back to Hydra's `login_verifier` cross-site,
///   without Hydra's login CSRF cookie: no login completes;
/// - a client whose redirect URI is on another site starts sign-ins that
///   reach Hydra without them: Hydra does not know the person it logged
///   in, and single sign-on is lost (Kratos as login provider asks for
///   the password again, `scenarios/tests/flows/ui_oauth2.rs`).
///
/// Native apps' redirect URIs (a custom scheme, loopback) are not
/// judged: their sign-ins open in the system browser, a navigation no
/// site starts. The gate's own client `own` is left out.
async fn strict_across_sites(
    cx: &Context<'_>,
    hydra: &harness::hydra::Hydra,
    own: &str,
    strict: &[String],
    login_ui: Option<Url>,
) -> Vec<Evidence> {
    let url = hydra.public(".well-known/openid-configuration");
    let discovery = match Probe::get_json(cx.app.agent(), "hydra", &url).await {
        Ok(p) => p,
        Err(e) => return vec![e],
    };
    let Some(endpoint) = discovery
        .json()
        .and_then(|v| {
            v.get("authorization_endpoint")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .and_then(|i| Url::parse(&i).ok())
    else {
        return vec![Evidence::answer(
            &discovery,
            "discovery names no authorization_endpoint",
        )];
    };
    let home = site(&endpoint);
    let cookies = strict.join(", ");
    let mut evidence = Vec::new();
    if let Some(mut ui) = login_ui.filter(|ui| site(ui) != home) {
        ui.set_query(None);
        evidence.push(Evidence::answer(
            &discovery,
            format!(
                "the login UI {ui} is on another site than Hydra's {endpoint}: with {cookies} \
                 SameSite=Strict every login's way back to Hydra is cross-site, without its \
                 login CSRF cookie, and no login completes"
            ),
        ));
    }
    let pages = match super::clients::list(cx.app.agent(), hydra, super::clients::PAGE_SIZE).await {
        Ok((pages, false)) => pages,
        Ok((_, true)) => {
            evidence.push(Evidence::answer(
                &discovery,
                format!(
                    "more than {} pages of clients: their redirect URIs not judged against \
                     {cookies} SameSite=Strict",
                    super::clients::MAX_PAGES
                ),
            ));
            return evidence;
        }
        Err(e) => {
            evidence.push(e);
            return evidence;
        }
    };
    let web_elsewhere = |uri: &str| {
        Url::parse(uri).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https")
                && matches!(u.host(), Some(url::Host::Domain(d)) if d != "localhost")
                && site(&u) != home
        })
    };
    let (_, judged) = super::clients::judge(&pages, |client| {
        if client.get("client_id").and_then(Value::as_str) == Some(own) {
            return Vec::new();
        }
        let elsewhere = client
            .get("redirect_uris")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .find(|uri| web_elsewhere(uri));
        elsewhere
            .map(|uri| {
                format!(
                    "redirects to {uri}, another site than Hydra's {endpoint}: with {cookies} \
                     SameSite=Strict the sign-in it starts reaches Hydra without them, and \
                     single sign-on is lost (the login is asked for again)"
                )
            })
            .into_iter()
            .collect()
    });
    evidence.extend(judged);
    evidence
}

/// Variants of `REDIRECT` a client did not register, each of which Hydra
/// must refuse (exact match, RFC 6749 3.1.2.3 and the OAuth 2.0 Security
/// BCP 4.1.3).
fn variants() -> Vec<String> {
    vec![
        "https://app.orygate.test/callback/x".into(),
        "https://app.orygate.test/callback?x=1".into(),
        "https://app.orygate.test/CALLBACK".into(),
        "https://app.orygate.test/callback/".into(),
        "https://evil@app.orygate.test/callback".into(),
        "https://evil.app.orygate.test/callback".into(),
        "http://app.orygate.test/callback".into(),
    ]
}

/// What's wrong with a registered client.
fn client_faults(client: &Value) -> Vec<String> {
    let mut faults = Vec::new();
    let list = |key: &str| -> Vec<String> {
        client
            .get(key)
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    // Hydra runs the implicit flow for a client whose grant types have
    // `implicit`; a `token` response type alone does nothing.
    if list("grant_types").iter().any(|g| g == "implicit") {
        let kinds = list("response_types").join(", ");
        faults.push(format!(
            "grant type implicit ({kinds}): the implicit flow puts tokens in the URL"
        ));
    }
    for uri in list("redirect_uris") {
        let Ok(url) = Url::parse(&uri) else {
            faults.push(format!("redirect URI {uri:?} is not a URL"));
            continue;
        };
        let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if url.scheme() == "http" && !loopback {
            faults.push(format!("redirect URI {uri} is plain http off loopback"));
        }
    }
    faults
}

pub(super) async fn redirect_uri(cx: &Context<'_>) -> Verdict {
    let Some(hydra) = &cx.deployment.hydra else {
        return super::super::absent("hydra");
    };
    if !cx.deployment.admin {
        return super::super::no_admin();
    }
    let mut evidence = Vec::new();
    // The deployment's own clients, every page.
    let (pages, more) =
        match super::clients::list(cx.app.agent(), hydra, super::clients::PAGE_SIZE).await {
            Ok(listed) => listed,
            Err(e) => return Verdict::Failed(vec![e]),
        };
    let (clients, faults) = super::clients::judge(&pages, client_faults);
    evidence.extend(faults);
    let read = if more {
        format!("the first {clients} clients (more were announced)")
    } else {
        format!("{clients} clients")
    };
    // Exact matching, on a client of the check's own.
    let body = json!({"client_name": "orygate gate: redirect uri", "grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": [REDIRECT], "scope": "openid", "token_endpoint_auth_method": "client_secret_basic"});
    let id = match client(cx, hydra, body).await {
        Ok(id) => id,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let variants = variants();
    for variant in &variants {
        let mut url = hydra.public("oauth2/auth");
        url.query_pairs_mut().extend_pairs([
            ("client_id", id.as_str()),
            ("response_type", "code"),
            ("scope", "openid"),
            ("redirect_uri", variant),
            ("state", "orygate-state-7"),
        ]);
        match Probe::get(cx.app.agent(), "hydra", &url).await {
            Ok(p) => {
                let location = p.header("location").unwrap_or_default();
                if location.starts_with(variant.as_str()) || location.contains("login_challenge") {
                    evidence.push(Evidence::answer(
                        &p,
                        format!("redirect_uri={variant} was taken (Location: {location})"),
                    ));
                }
            }
            Err(e) => evidence.push(e),
        }
    }
    remove(cx, hydra, &id).await;
    Verdict::from_evidence(
        evidence,
        format!(
            "{read} without implicit or plain-http redirects; {} near-miss redirect URIs refused",
            variants.len()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn implicit_and_plain_http_clients_are_faults() {
        let good = json!({"grant_types": ["authorization_code"], "response_types": ["code"], "redirect_uris": ["https://app.example.com/cb", "http://127.0.0.1:4455/cb"]});
        assert!(client_faults(&good).is_empty());
        let service = json!({"grant_types": ["client_credentials"], "response_types": ["token"]});
        assert!(client_faults(&service).is_empty());
        assert!(client_faults(&good).is_empty());
        let bad = json!({"grant_types": ["implicit"], "response_types": ["id_token token"], "redirect_uris": ["http://app.example.com/cb"]});
        assert_eq!(
            client_faults(&bad),
            [
                "grant type implicit (id_token token): the implicit flow puts tokens in the URL",
                "redirect URI http://app.example.com/cb is plain http off loopback"
            ]
        );
    }
}
