//! Kratos' checks: what its public API answers about dev mode, cookies,
//! redirects, CORS, passwords, sessions and hashing; and its secrets.

use std::time::Duration;

use harness::kratos::Kratos;
use harness::{Agent, Browser};
use serde_json::Value;
use url::Url;

use super::probe::SetCookie;
use super::someone;
use super::{Check, CheckFuture, Context, Evidence, Probe, Scope, Verdict, at};

macro_rules! check {
    ($name:ident, $id:literal, $title:literal, $run:ident) => {
        pub const $name: Check = Check {
            id: $id,
            scope: Scope::Kratos,
            title: $title,
            run: |cx| Box::pin($run(cx)) as CheckFuture<'_>,
        };
    };
}

check!(
    DEV_MODE,
    "dev-mode",
    "Kratos does not run in dev mode: https base URL, Secure cookies",
    dev_mode
);
check!(
    COOKIES,
    "cookies",
    "session and CSRF cookies are HttpOnly, Secure, SameSite and Domain as the policy says",
    cookies
);
check!(
    RETURN_TO,
    "return-to",
    "flows refuse return_to URLs outside the allow-list (no open redirect)",
    return_to
);
check!(
    FALLBACK_UI,
    "fallback-ui",
    "browser flows go to the team's UI, not Ory's fallback pages",
    fallback_ui
);
check!(
    CORS,
    "cors",
    "Kratos' public API echoes only allowed origins, never * with credentials",
    cors
);
check!(
    PASSWORD_POLICY,
    "password-policy",
    "registration refuses short passwords and a password equal to the identifier",
    password_policy
);
check!(
    SESSION_LIFESPAN,
    "session-lifespan",
    "a session lives no longer than the policy allows",
    session_lifespan
);
check!(
    HASHING,
    "hashing",
    "passwords are stored with at least the policy's hashing cost",
    hashing
);

pub const SECRETS: Check = Check {
    id: "secrets",
    scope: Scope::All,
    title: "secrets are long, not Ory's example values, not shared between services",
    run: |cx| Box::pin(std::future::ready(secrets(cx))) as CheckFuture<'_>,
};

/// The self-service flows a browser starts, as enabled in the config
/// (all of them when the config is not known).
fn browser_flows(config: Option<&Value>) -> Vec<&'static str> {
    let enabled = |flow: &str| {
        config
            .and_then(|c| at(c, &format!("selfservice.flows.{flow}.enabled")))
            .and_then(Value::as_bool)
            .unwrap_or(true)
    };
    ["login", "registration", "recovery", "verification"]
        .into_iter()
        .filter(|f| *f == "login" || enabled(f))
        .collect()
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    }
}

async fn dev_mode(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    let mut evidence = Vec::new();
    if let Some(dev) = cx
        .deployment
        .config
        .kratos
        .as_ref()
        .and_then(|c| c.get("dev"))
        .filter(|d| d.as_bool() == Some(true))
    {
        evidence.push(Evidence::config(
            "kratos.yml",
            "dev",
            format!("{dev}: dev mode is on"),
        ));
    }
    let url = kratos.public("self-service/login/browser");
    let probe = match Probe::get(cx.app.agent(), "kratos", &url).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    if url.scheme() != "https" {
        evidence.push(Evidence::answer(
            &probe,
            "the public API is plain http: dev mode or TLS terminated elsewhere",
        ));
    }
    let cookies: Vec<SetCookie> = probe
        .set_cookies()
        .into_iter()
        .filter_map(SetCookie::parse)
        .collect();
    if cookies.is_empty() {
        evidence.push(Evidence::answer(
            &probe,
            "no Set-Cookie on a browser flow's start",
        ));
    }
    for c in cookies.iter().filter(|c| !c.secure) {
        evidence.push(Evidence::answer(
            &probe,
            format!(
                "Set-Cookie {} without Secure, as in dev mode: {}",
                c.name, c.raw
            ),
        ));
    }
    let names: Vec<&str> = cookies.iter().map(|c| c.name.as_str()).collect();
    Verdict::from_evidence(
        evidence,
        format!("https, Secure cookies ({})", names.join(", ")),
    )
}

/// What's wrong with `cookie` under the policy.
fn cookie_faults(cookie: &SetCookie, policy: &super::Policy) -> Vec<String> {
    let mut faults = Vec::new();
    if !cookie.http_only {
        faults.push("no HttpOnly".to_owned());
    }
    if !cookie.secure {
        faults.push("no Secure".to_owned());
    }
    match &cookie.same_site {
        Some(s)
            if policy
                .cookies
                .same_site
                .iter()
                .any(|p| p.eq_ignore_ascii_case(s)) => {}
        other => faults.push(format!(
            "SameSite={} where the policy allows {}",
            other.as_deref().unwrap_or("(none)"),
            policy.cookies.same_site.join(" or ")
        )),
    }
    if let Some(domain) = &cookie.domain {
        let max = policy.cookies.max_domain.trim_start_matches('.');
        let within = !max.is_empty()
            && (domain.eq_ignore_ascii_case(max)
                || domain
                    .to_ascii_lowercase()
                    .ends_with(&format!(".{}", max.to_ascii_lowercase())));
        if !within {
            faults.push(format!(
                "Domain={domain} is broader than the policy's {}",
                if max.is_empty() {
                    "host-only cookies"
                } else {
                    max
                }
            ));
        }
    }
    faults
}

async fn cookies(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    let mut judge = |probe: &Probe, wanted: &dyn Fn(&str) -> bool| {
        for cookie in probe.set_cookies().into_iter().filter_map(SetCookie::parse) {
            if !wanted(&cookie.name) {
                continue;
            }
            let faults = cookie_faults(&cookie, cx.policy);
            if faults.is_empty() {
                seen.push(cookie.name.clone());
            } else {
                evidence.push(
                    Evidence::answer(
                        probe,
                        format!("Set-Cookie {}: {}", cookie.raw, faults.join(", ")),
                    )
                    .about(cookie.name.clone()),
                );
            }
        }
    };
    let browser = match Browser::new() {
        Ok(b) => b,
        Err(e) => return Verdict::Skipped(format!("no browser: {e}")),
    };
    if !cx.deployment.admin {
        let url = kratos.public("self-service/login/browser");
        return match Probe::get_json(browser.agent(), "kratos", &url).await {
            Ok(start) => {
                judge(&start, &|n| n.starts_with("csrf_token"));
                Verdict::from_evidence(
                    evidence,
                    format!(
                        "{} as the policy says; the session cookie needs the admin API",
                        seen.join(", ")
                    ),
                )
            }
            Err(e) => Verdict::Failed(vec![e]),
        };
    }
    let (someone, _) = match someone::created(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    match someone::browser_login(&browser, kratos, &someone).await {
        Ok((start, post)) => {
            judge(&start, &|n| n.starts_with("csrf_token"));
            let session_name = session_cookie_name(cx);
            judge(&post, &|n| n == session_name);
            if !seen.iter().any(|n| *n == session_name)
                && !evidence
                    .iter()
                    .any(|e| e.subject.as_deref() == Some(session_name))
            {
                evidence.push(Evidence::answer(
                    &post,
                    format!("the login set no {session_name} cookie"),
                ));
            }
        }
        Err(e) => evidence.push(e),
    }
    Verdict::from_evidence(evidence, format!("{} as the policy says", seen.join(", ")))
}

/// The session cookie's name: the config's, or Kratos' default.
fn session_cookie_name<'c>(cx: &'c Context<'_>) -> &'c str {
    cx.deployment
        .config
        .kratos
        .as_ref()
        .and_then(|c| at(c, "session.cookie.name"))
        .and_then(Value::as_str)
        .unwrap_or("ory_kratos_session")
}

/// Redirect targets an attacker would try against the allow-list entry
/// `entry`: a suffix host, userinfo, and (for an entry with a path and no
/// trailing slash) a longer path.
fn attacks_on(entry: &str) -> Vec<String> {
    let Ok(url) = Url::parse(&entry.replace("*.", "wildcard.")) else {
        return Vec::new();
    };
    let Some(host) = url.host_str().map(|h| h.replace("wildcard.", "")) else {
        return Vec::new();
    };
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    let scheme = url.scheme();
    let mut attacks = vec![
        format!("{scheme}://{host}{port}.evil.example/"),
        format!("{scheme}://{host}{port}@evil.example/"),
    ];
    if entry.contains("*.") {
        attacks.push(format!("{scheme}://evil.{host}{port}/"));
    }
    let path = url.path();
    if path.len() > 1 && !path.ends_with('/') {
        attacks.push(format!("{scheme}://{host}{port}{path}-evil/"));
    }
    attacks
}

/// What's wrong with an allow-list entry itself.
fn entry_faults(entry: &str, policy: &super::Policy) -> Vec<String> {
    let mut faults = Vec::new();
    if entry.contains('*') {
        faults.push("a wildcard lets every matching host in".to_owned());
    }
    match Url::parse(&entry.replace("*.", "wildcard.")) {
        Ok(url) => {
            if url.scheme() != "https" && !is_loopback(&url) {
                faults.push("not https".to_owned());
            }
            if !entry.ends_with('/') {
                faults.push("no trailing slash: any path starting with it passes".to_owned());
            }
        }
        Err(e) => faults.push(format!("not a URL: {e}")),
    }
    if !policy.return_urls.allowed.is_empty()
        && !policy
            .return_urls
            .allowed
            .iter()
            .any(|a| entry.starts_with(a.as_str()))
    {
        faults.push(format!(
            "not within the policy's {}",
            policy.return_urls.allowed.join(", ")
        ));
    }
    faults
}

async fn return_to(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    let config = cx.deployment.config.kratos.as_ref();
    let entries: Vec<String> = config
        .and_then(|c| at(c, "selfservice.allowed_return_urls"))
        .and_then(Value::as_array)
        .map_or_else(
            || cx.policy.return_urls.allowed.clone(),
            |a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            },
        );
    let mut evidence = Vec::new();
    for entry in &entries {
        let faults = entry_faults(entry, cx.policy);
        if !faults.is_empty() && config.is_some() {
            evidence.push(
                Evidence::config(
                    "kratos.yml",
                    "selfservice.allowed_return_urls",
                    format!("{entry}: {}", faults.join("; ")),
                )
                .about(entry.clone()),
            );
        }
    }
    let mut attacks: Vec<String> = vec!["https://evil.example/".into(), "//evil.example/".into()];
    attacks.extend(entries.iter().flat_map(|e| attacks_on(e)));
    attacks.dedup();
    let flows = browser_flows(config);
    let agent: &Agent = cx.app.agent();
    let mut tried = 0;
    for flow in &flows {
        for attack in &attacks {
            let mut url = kratos.public(&format!("self-service/{flow}/browser"));
            url.query_pairs_mut().append_pair("return_to", attack);
            let probe = match Probe::get_json(agent, "kratos", &url).await {
                Ok(p) => p,
                Err(e) => {
                    evidence.push(e);
                    continue;
                }
            };
            tried += 1;
            let accepted = probe.status < 300
                && probe
                    .json()
                    .and_then(|f| {
                        f.get("return_to")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                    })
                    .is_some_and(|r| r == *attack);
            if accepted || (300..400).contains(&probe.status) {
                evidence.push(Evidence::answer(
                    &probe,
                    format!("the {flow} flow took return_to={attack}: an open redirect"),
                ));
            }
        }
    }
    Verdict::from_evidence(
        evidence,
        format!(
            "{tried} hostile return_to values refused by {}",
            flows.join(", ")
        ),
    )
}

async fn fallback_ui(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    let flows = browser_flows(cx.deployment.config.kratos.as_ref());
    let mut evidence = Vec::new();
    for flow in &flows {
        let url = kratos.public(&format!("self-service/{flow}/browser"));
        let probe = match Probe::get(cx.app.agent(), "kratos", &url).await {
            Ok(p) => p,
            Err(e) => {
                evidence.push(e);
                continue;
            }
        };
        let location = probe.header("location").unwrap_or_default().to_owned();
        let fallback = location.contains("ory.sh") || location.contains("/fallback/");
        if !(300..400).contains(&probe.status) || location.is_empty() {
            evidence.push(Evidence::answer(
                &probe,
                format!("no redirect to a UI: {}", probe.body_start()),
            ));
        } else if fallback {
            evidence.push(Evidence::answer(
                &probe,
                format!("Location: {location}: Ory's fallback page, no ui_url set for {flow}"),
            ));
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("{} redirect to the team's UI", flows.join(", ")),
    )
}

/// Checks the CORS answers of `url` (on `service`) to a hostile and, if the
/// policy names one, an allowed origin.
pub(super) async fn cors_of(cx: &Context<'_>, service: &'static str, url: &Url) -> Verdict {
    let agent = cx.app.agent();
    let mut evidence = Vec::new();
    let hostile = "https://evil.example";
    let mut origins = vec![hostile.to_owned()];
    origins.extend(cx.policy.cors.allowed_origins.iter().cloned());
    for origin in &origins {
        for preflight in [true, false] {
            let (method, request) = if preflight {
                (
                    reqwest::Method::OPTIONS,
                    agent
                        .client()
                        .request(reqwest::Method::OPTIONS, url.clone())
                        .header("Origin", origin)
                        .header("Access-Control-Request-Method", "GET"),
                )
            } else {
                (
                    reqwest::Method::GET,
                    agent.client().get(url.clone()).header("Origin", origin),
                )
            };
            let note = format!("Origin: {origin}");
            let probe = match Probe::send(agent, service, method, url, &note, request).await {
                Ok(p) => p,
                Err(e) => {
                    evidence.push(e);
                    continue;
                }
            };
            let allowed = probe
                .header("access-control-allow-origin")
                .map(str::to_owned);
            let credentials = probe.header("access-control-allow-credentials") == Some("true");
            match (origin == hostile, allowed.as_deref()) {
                (true, Some(a)) => evidence.push(Evidence::answer(
                    &probe,
                    format!("Access-Control-Allow-Origin: {a}{} for an origin the policy does not allow", if credentials { " with credentials" } else { "" }),
                )),
                (false, Some("*")) if credentials => evidence.push(Evidence::answer(
                    &probe,
                    "Access-Control-Allow-Origin: * with credentials",
                )),
                (false, Some(a)) if a != origin && a != "*" => evidence.push(Evidence::answer(
                    &probe,
                    format!("Access-Control-Allow-Origin: {a}, not the exact origin"),
                )),
                _ => {}
            }
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("no Access-Control-Allow-Origin for {hostile}; allowed origins echoed exactly"),
    )
}

async fn cors(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    cors_of(cx, "kratos", &kratos.public("sessions/whoami")).await
}

/// Whether a registration with `password` was refused; evidence if not.
async fn refused(
    cx: &Context<'_>,
    kratos: &Kratos,
    someone: &someone::Someone,
    password: &str,
    why: &str,
) -> Option<Evidence> {
    let flow = match someone::registration_flow(&cx.app, kratos).await {
        Ok(f) => f,
        Err(e) => return Some(e),
    };
    let action = match Url::parse(&flow.ui.action) {
        Ok(a) => a,
        Err(e) => {
            return Some(Evidence::config(
                "registration flow",
                "ui.action",
                e.to_string(),
            ));
        }
    };
    let body =
        serde_json::json!({"method": "password", "traits": someone.traits, "password": password});
    let agent = cx.app.agent();
    let request = agent.client().post(action.clone()).json(&body);
    match Probe::send(
        agent,
        "kratos",
        reqwest::Method::POST,
        &action,
        why,
        request,
    )
    .await
    {
        Ok(p) if p.status == 200 => Some(Evidence::answer(
            &p,
            format!("registration with {why} was accepted"),
        )),
        Ok(p) if p.status == 400 => None,
        Ok(p) => Some(Evidence::answer(
            &p,
            format!("neither accepted nor refused as a form: {}", p.body_start()),
        )),
        Err(e) => Some(e),
    }
}

async fn password_policy(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    let flow = match someone::registration_flow(&cx.app, kratos).await {
        Ok(f) => f,
        Err(e) => return Verdict::Skipped(format!("registration is closed: {e}")),
    };
    let mut evidence = Vec::new();
    let short = cx.policy.password.min_length.saturating_sub(1).max(1);
    let someone = someone::from_form(&flow);
    let why = format!("a {short}-character password");
    evidence.extend(refused(cx, kratos, &someone, &someone::password(short), &why).await);
    if cx.policy.password.identifier_similarity {
        let mut other = someone::from_form(&flow);
        other.prefer(&someone::password_identifiers(&cx.app, kratos).await);
        if let Some(identifier) = other.identifiers.first() {
            evidence.extend(
                refused(cx, kratos, &other, identifier, "the identifier as password").await,
            );
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("{short} characters and the identifier refused"),
    )
}

/// Parses an RFC 3339 time of Kratos' JSON.
fn time(session: &Value, key: &str) -> Option<jiff::Timestamp> {
    session.get(key)?.as_str()?.parse().ok()
}

async fn session_lifespan(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::no_admin();
    }
    let max = cx.policy.session.max_lifespan;
    let mut evidence = Vec::new();
    let (someone, _) = match someone::created(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let login = match someone::api_login(&cx.app, kratos, &someone).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let session = login
        .json()
        .and_then(|v| v.get("session").cloned())
        .unwrap_or_default();
    let (Some(from), Some(to)) = (
        time(&session, "authenticated_at"),
        time(&session, "expires_at"),
    ) else {
        return Verdict::Failed(vec![Evidence::answer(
            &login,
            "the session has no authenticated_at or expires_at",
        )]);
    };
    let lives = Duration::from_secs(u64::try_from(to.as_second() - from.as_second()).unwrap_or(0));
    if lives > max + Duration::from_secs(60) {
        evidence.push(Evidence::answer(
            &login,
            format!(
                "the session lives {} (expires_at {to} - authenticated_at {from}); the policy allows {}",
                humantime::format_duration(lives),
                humantime::format_duration(max)
            ),
        ));
    }
    Verdict::from_evidence(
        evidence,
        format!("a session lives {}", humantime::format_duration(lives)),
    )
}

/// The cost of a stored hash, and what's wrong with it under the policy.
fn hash_faults(hash: &str, policy: &super::Policy) -> Result<String, String> {
    let h = &policy.hashing;
    if let Some(rest) = hash
        .strip_prefix("$2a$")
        .or_else(|| hash.strip_prefix("$2b$"))
        .or_else(|| hash.strip_prefix("$2y$"))
    {
        let cost: u32 = rest
            .get(..2)
            .and_then(|c| c.parse().ok())
            .ok_or("a bcrypt hash without a cost")?;
        return if cost >= h.bcrypt_min_cost {
            Ok(format!("bcrypt cost {cost}"))
        } else {
            Err(format!(
                "bcrypt cost {cost}, below the policy's {}",
                h.bcrypt_min_cost
            ))
        };
    }
    if hash.starts_with("$argon2") {
        let params = hash.split('$').nth(3).unwrap_or_default();
        let param = |k: &str| {
            params
                .split(',')
                .find_map(|p| p.strip_prefix(&format!("{k}=")))
                .and_then(|v| v.parse::<u64>().ok())
        };
        let (m, t) = (param("m").unwrap_or(0), param("t").unwrap_or(0));
        return if m >= h.argon2_min_memory_kib && t >= u64::from(h.argon2_min_iterations) {
            Ok(format!("argon2 m={m} KiB t={t}"))
        } else {
            Err(format!(
                "argon2 m={m} KiB t={t}, below the policy's m={} KiB t={}",
                h.argon2_min_memory_kib, h.argon2_min_iterations
            ))
        };
    }
    Err(format!(
        "an unknown hash format: {}",
        hash.split('$').nth(1).unwrap_or("?")
    ))
}

async fn hashing(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    if !cx.deployment.admin {
        return super::no_admin();
    }
    let (_, id) = match someone::created(&cx.app, kratos).await {
        Ok(s) => s,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let mut url = match kratos.admin(&format!("admin/identities/{id}")) {
        Ok(u) => u,
        Err(e) => return Verdict::Skipped(e.to_string()),
    };
    url.query_pairs_mut()
        .append_pair("include_credential", "password");
    let probe = match Probe::get_json(cx.app.agent(), "kratos", &url).await {
        Ok(p) => p,
        Err(e) => return Verdict::Failed(vec![e]),
    };
    let hash = probe.json().and_then(|v| {
        at(&v, "credentials.password.config.hashed_password")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    let Some(hash) = hash else {
        return Verdict::Failed(vec![Evidence::answer(
            &probe,
            "no credentials.password.config.hashed_password",
        )]);
    };
    match hash_faults(&hash, cx.policy) {
        Ok(seen) => Verdict::Passed(seen),
        Err(fault) => Verdict::Failed(vec![Evidence::answer(
            &probe,
            format!("hashed_password: {fault}"),
        )]),
    }
}

/// Values from Ory's docs and quickstarts that must never reach a
/// deployment, and words that mark a placeholder.
const EXAMPLE_SECRETS: &[&str] = &[
    "PLEASE-CHANGE-ME-I-AM-VERY-INSECURE",
    "32-LONG-SECRET-NOT-SECURE-AT-ALL",
    "youReallyNeedToChangeThis",
];
const PLACEHOLDER_WORDS: &[&str] = &[
    "change-me",
    "changeme",
    "change_me",
    "insecure",
    "not-secure",
    "example",
    "not-for-production",
    "placeholder",
];

/// The secrets of a config: `(key, value)` for every entry of `secrets.*`.
fn secrets_of(config: &Value) -> Vec<(String, String)> {
    let Some(secrets) = config.get("secrets").and_then(Value::as_object) else {
        return Vec::new();
    };
    secrets
        .iter()
        .flat_map(|(kind, values)| {
            let values: Vec<String> = match values {
                Value::Array(a) => a
                    .iter()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect(),
                Value::String(s) => vec![s.clone()],
                _ => Vec::new(),
            };
            values
                .into_iter()
                .enumerate()
                .map(move |(i, v)| (format!("secrets.{kind}[{i}]"), v))
        })
        .collect()
}

/// What's wrong with one secret.
fn secret_faults(value: &str, min: usize) -> Vec<String> {
    let mut faults = Vec::new();
    let lower = value.to_ascii_lowercase();
    if EXAMPLE_SECRETS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(value))
    {
        faults.push("one of Ory's documented example values".to_owned());
    } else if let Some(word) = PLACEHOLDER_WORDS.iter().find(|w| lower.contains(*w)) {
        faults.push(format!("reads as a placeholder ({word:?})"));
    }
    if value.len() < min {
        faults.push(format!(
            "{} characters, the policy wants {min}",
            value.len()
        ));
    }
    faults
}

fn secrets(cx: &Context<'_>) -> Verdict {
    let configs = [
        ("kratos.yml", cx.deployment.config.kratos.as_ref()),
        ("hydra.yml", cx.deployment.config.hydra.as_ref()),
        ("keto.yml", cx.deployment.config.keto.as_ref()),
    ];
    if configs.iter().all(|(_, c)| c.is_none()) {
        return super::no_config("any service");
    }
    let mut evidence = Vec::new();
    let mut all: Vec<(&str, String, String)> = Vec::new();
    for (file, config) in configs {
        let Some(config) = config else { continue };
        for (key, value) in secrets_of(config) {
            // Kratos' cipher secret is exactly 32 characters by design.
            let min = if key.starts_with("secrets.cipher") {
                32
            } else {
                cx.policy.secrets.min_length
            };
            let faults = secret_faults(&value, min);
            if !faults.is_empty() {
                evidence.push(
                    Evidence::config(file, &key, faults.join("; ")).about(format!("{file} {key}")),
                );
            }
            all.push((file, key, value));
        }
    }
    for (i, (file, key, value)) in all.iter().enumerate() {
        for (other_file, other_key, other) in &all[i + 1..] {
            if value == other && file != other_file {
                evidence.push(Evidence::config(
                    file,
                    key,
                    format!("the same value as {other_file} {other_key}: services share a secret"),
                ));
            }
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("{} secrets, none an example, none shared", all.len()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Policy;

    #[test]
    fn cookie_faults_follow_the_policy() {
        let policy = Policy::default_policy();
        let good = SetCookie::parse("s=1; Path=/; HttpOnly; Secure; SameSite=Lax").unwrap();
        assert!(cookie_faults(&good, &policy).is_empty());
        let bad = SetCookie::parse("s=1; Path=/; Domain=.example.com; SameSite=None").unwrap();
        let faults = cookie_faults(&bad, &policy).join(", ");
        assert_eq!(
            faults,
            "no HttpOnly, no Secure, SameSite=None where the policy allows Lax or Strict, Domain=example.com is broader than the policy's host-only cookies"
        );
    }

    #[test]
    fn allow_list_entries_and_their_attacks() {
        let policy = Policy::default_policy();
        assert!(entry_faults("https://app.example.com/", &policy).is_empty());
        assert!(entry_faults("http://127.0.0.1:4455/", &policy).is_empty());
        let faults = entry_faults("https://*.example.com/app", &policy).join("; ");
        assert!(
            faults.contains("wildcard") && faults.contains("trailing slash"),
            "{faults}"
        );
        assert!(entry_faults("http://app.example.com/", &policy).contains(&"not https".to_owned()));
        assert_eq!(
            attacks_on("https://app.example.com/app"),
            [
                "https://app.example.com.evil.example/",
                "https://app.example.com@evil.example/",
                "https://app.example.com/app-evil/"
            ]
        );
    }

    #[test]
    fn hashes_are_read_for_their_cost() {
        let policy = Policy::default_policy();
        // A bcrypt hash of cost 12 and one of cost 10 (format per the
        // modular crypt format), an argon2id PHC string with m=16 MiB.
        let b12 = "$2a$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        let b10 = "$2a$10$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW";
        let argon = "$argon2id$v=19$m=16384,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
        assert_eq!(hash_faults(b12, &policy), Ok("bcrypt cost 12".into()));
        assert!(
            hash_faults(b10, &policy)
                .unwrap_err()
                .contains("below the policy's 12")
        );
        assert!(hash_faults(argon, &policy).unwrap_err().contains("m=16384"));
    }

    #[test]
    fn secrets_from_the_docs_and_short_ones_fail() {
        assert!(secret_faults("PLEASE-CHANGE-ME-I-AM-VERY-INSECURE", 32)[0].contains("example"));
        assert!(secret_faults("short", 32)[0].contains("5 characters"));
        assert!(secret_faults("k3Qx9vLw2mRt7YpZ4nHs8dFj6bGc1aVe", 32).is_empty());
    }
}
