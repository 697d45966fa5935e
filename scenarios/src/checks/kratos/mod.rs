//! Kratos' checks: what its public API answers about dev mode, cookies,
//! redirects, CORS, passwords, sessions and hashing, and whether its
//! identities fit the schemas it serves.

pub(super) mod cookies;
mod courier;
mod credentials;
mod redirects;
mod schemas;
mod sessions;
mod ui;

use serde_json::Value;
use url::Url;

use super::probe::SetCookie;
use super::{Context, Evidence, Probe, Verdict};

check!(
    Kratos,
    DEV_MODE,
    "dev-mode",
    "Kratos does not run in dev mode: https base URL, Secure cookies",
    dev_mode
);
check!(
    Kratos,
    IDENTITY_SCHEMAS,
    "identity-schemas",
    "every identity names a schema /schemas serves, and validates against it",
    schemas::identity_schemas
);
check!(
    Kratos,
    COOKIES,
    "cookies",
    "session and CSRF cookies are HttpOnly, Secure, SameSite and Domain as the policy says",
    cookies::cookies
);
check!(
    Kratos,
    RETURN_TO,
    "return-to",
    "flows refuse return_to URLs outside the allow-list (no open redirect)",
    redirects::return_to
);
check!(
    Kratos,
    UI_REACH,
    "ui-reach",
    "the self-service UI's hosts get Kratos' CSRF and session cookies, and its origin is a return_to Kratos takes",
    ui::ui_reach
);
check!(
    Kratos,
    FALLBACK_UI,
    "fallback-ui",
    "browser flows go to the team's UI, not Ory's fallback pages",
    fallback_ui
);
check!(
    Kratos,
    CORS,
    "cors",
    "Kratos' public API echoes only allowed origins, never * with credentials",
    cors
);
check!(
    Kratos,
    PASSWORD_POLICY,
    "password-policy",
    "registration refuses short passwords and a password equal to the identifier",
    credentials::password_policy
);
check!(
    Kratos,
    CSRF,
    "csrf",
    "a browser flow's form posted without its CSRF token, or with a tampered one, is refused (403)",
    sessions::csrf
);
check!(
    Kratos,
    SESSION_ENDS,
    "session-ends",
    "a session ends on logout and when its identity is disabled",
    sessions::session_ends
);
check!(
    Kratos,
    ENUMERATION,
    "enumeration",
    "login, recovery and verification answer an unknown identifier as a known one",
    sessions::enumeration
);
check!(
    Kratos,
    COURIER,
    "courier",
    "a mail Kratos queues is sent to its SMTP server within the policy's bound",
    courier::courier
);
check!(
    Kratos,
    SESSION_LIFESPAN,
    "session-lifespan",
    "a session lives no longer than the policy allows",
    credentials::session_lifespan
);
check!(
    Kratos,
    HASHING,
    "hashing",
    "passwords are stored with at least the policy's hashing cost",
    credentials::hashing
);

/// The self-service flows a browser starts, as enabled in the config
/// (login and registration when the config is not known).
fn browser_flows(config: Option<&Value>) -> Vec<&'static str> {
    ["login", "registration", "recovery", "verification"]
        .into_iter()
        .filter(|f| super::flow_on(config, f))
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
            format!(
                "{dev}: dev mode is on wherever this file decides it (Kratos v1.3.1's serve \
                 lets its --dev flag override the file)"
            ),
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
    for c in cookies.iter().filter(|c| c.is_ory() && !c.secure) {
        evidence.push(Evidence::answer(
            &probe,
            format!(
                "Set-Cookie {} without Secure, as in dev mode: {}",
                c.name, c.raw
            ),
        ));
    }
    let names: Vec<&str> = cookies.iter().map(|c| c.name.as_str()).collect();
    let mut seen = format!("https, Secure cookies ({})", names.join(", "));
    if let Some(shown) = courier_bodies(cx, kratos, &mut evidence).await {
        seen.push_str(&shown);
    }
    Verdict::from_evidence(evidence, seen)
}

/// Outside dev mode Kratos redacts mail bodies on the admin API's
/// courier list; a body shown there is dev mode (or a build that leaks
/// codes and links to whoever reads the admin API). What was seen, when
/// the admin API is there to ask.
async fn courier_bodies(
    cx: &Context<'_>,
    kratos: &harness::kratos::Kratos,
    evidence: &mut Vec<Evidence>,
) -> Option<String> {
    const REDACTED: &str = "<redacted-unless-dev-mode>";
    if !cx.deployment.admin {
        return None;
    }
    let mut url = kratos.admin("admin/courier/messages").ok()?;
    url.query_pairs_mut().append_pair("page_size", "10");
    let listed = match Probe::get_json(cx.app.agent(), "kratos", &url).await {
        Ok(p) => p,
        Err(e) => {
            evidence.push(e);
            return None;
        }
    };
    let Some(messages) = listed
        .json()
        .filter(|_| listed.status == 200)
        .and_then(|v| v.as_array().cloned())
    else {
        // Not a sign of dev mode either way: said, not failed.
        return Some(format!(
            "; the courier list answered {}, not a list of mails: its bodies not judged ({})",
            listed.status,
            listed.body_start()
        ));
    };
    let bodies: Vec<&str> = messages
        .iter()
        .filter_map(|m| m.get("body").and_then(Value::as_str))
        .collect();
    if let Some(body) = bodies.iter().find(|b| **b != REDACTED) {
        let start: String = body.chars().take(80).collect();
        evidence.push(Evidence::answer(
            &listed,
            format!("the admin API shows a mail's body ({start:?}...), as only dev mode does"),
        ));
    }
    Some(if bodies.is_empty() {
        "; no mail on the courier list to look at".to_owned()
    } else {
        format!("; {} mail bodies redacted on the admin API", bodies.len())
    })
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
        let fallback = url::Url::parse(&location)
            .is_ok_and(|l| l.host_str() == Some("www.ory.sh") || l.path().contains("/fallback/"));
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

async fn cors(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::absent("kratos");
    };
    super::cors::cors_of(cx, "kratos", &kratos.public("sessions/whoami")).await
}
