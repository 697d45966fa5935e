//! The cookie check: the attributes of the CSRF and session cookies as
//! Kratos sets them.

use harness::Browser;
use serde_json::Value;

use super::super::probe::SetCookie;
use super::super::someone;
use super::super::{Context, Evidence, Probe, Verdict, at};

/// What's wrong with `cookie` under the policy.
pub(in crate::checks) fn cookie_faults(
    cookie: &SetCookie,
    policy: &super::super::Policy,
) -> Vec<String> {
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

/// What's wrong with how long the session cookie `cookie` lives under the
/// policy: persistent where it must not be. (How long a persistent one
/// lives is the session's lifespan, which `session-lifespan` checks.)
pub(in crate::checks) fn lifetime_faults(
    cookie: &SetCookie,
    policy: &super::super::Policy,
) -> Vec<String> {
    let mut faults = Vec::new();
    if cookie.persistent() && !policy.cookies.persistent_session {
        faults.push(format!(
            "persistent ({}) where the policy wants it to end with the browser",
            cookie
                .max_age
                .map_or_else(|| "Expires".to_owned(), |s| format!("Max-Age={s}"))
        ));
    }
    faults
}

/// Judges every cookie `probe`'s answer set whose name is `wanted`:
/// evidence for each with a fault, the names of the others in `seen`.
pub(in crate::checks) fn judge_cookies(
    probe: &Probe,
    policy: &super::super::Policy,
    wanted: &dyn Fn(&str) -> bool,
    evidence: &mut Vec<Evidence>,
    seen: &mut Vec<String>,
) {
    for cookie in probe.set_cookies().into_iter().filter_map(SetCookie::parse) {
        if !wanted(&cookie.name) {
            continue;
        }
        let faults = cookie_faults(&cookie, policy);
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
}

pub(super) async fn cookies(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
    };
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    let mut judge = |probe: &Probe, wanted: &dyn Fn(&str) -> bool| {
        judge_cookies(probe, cx.policy, wanted, &mut evidence, &mut seen);
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
            let sessions = post.set_cookies().into_iter().filter_map(SetCookie::parse);
            for cookie in sessions.filter(|c| c.name == session_name) {
                let faults = lifetime_faults(&cookie, cx.policy);
                if !faults.is_empty() {
                    evidence.push(
                        Evidence::answer(
                            &post,
                            format!("Set-Cookie {}: {}", cookie.raw, faults.join(", ")),
                        )
                        .about(cookie.name.clone()),
                    );
                }
            }
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
pub(super) fn session_cookie_name<'c>(cx: &'c Context<'_>) -> &'c str {
    cx.deployment
        .config
        .kratos
        .as_ref()
        .and_then(|c| at(c, "session.cookie.name"))
        .and_then(Value::as_str)
        .unwrap_or("ory_kratos_session")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Policy;

    #[test]
    fn a_session_cookie_lives_as_the_policy_says() {
        let mut policy = Policy::default_policy();
        let day = SetCookie::parse("s=1; HttpOnly; Secure; SameSite=Lax; Max-Age=86400").unwrap();
        let month =
            SetCookie::parse("s=1; HttpOnly; Secure; SameSite=Lax; Max-Age=2592000").unwrap();
        let browser = SetCookie::parse("s=1; HttpOnly; Secure; SameSite=Lax").unwrap();
        assert!(lifetime_faults(&day, &policy).is_empty());
        assert!(lifetime_faults(&month, &policy).is_empty());
        policy.cookies.persistent_session = false;
        assert_eq!(
            lifetime_faults(&day, &policy),
            ["persistent (Max-Age=86400) where the policy wants it to end with the browser"]
        );
        assert!(lifetime_faults(&browser, &policy).is_empty());
        let dated = SetCookie::parse("s=1; Expires=Wed, 09 Jun 2027 10:18:14 GMT").unwrap();
        assert_eq!(
            lifetime_faults(&dated, &policy),
            ["persistent (Expires) where the policy wants it to end with the browser"]
        );
    }

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
}
