//! Oathkeeper's checks: no route opens to anyone unless the policy calls
//! it public, and its API is not reachable through the proxy.
//!
//! Both read the rules when the gate started Oathkeeper (the handlers a
//! rule names) and probe the proxy in any case: a request without
//! credentials, tagged with `X-Orygate-Probe`, and whether the app behind
//! the proxy recorded it (or, against a deployment by URL, whether the
//! answer was a success).

pub mod sample;

use std::fmt::Write as _;
use std::time::Duration;

use harness::oathkeeper::{Oathkeeper, api_port, is_api, proxy_port};
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::{Context, Evidence, Probe, Verdict};
use sample::Strategy;

check!(
    Oathkeeper,
    OPEN_RULES,
    "oathkeeper-open-rules",
    "no Oathkeeper rule lets an anonymous request through unless the policy calls it public",
    open_rules
);

check!(
    Oathkeeper,
    API_NOT_PUBLIC,
    "oathkeeper-api-not-public",
    "Oathkeeper's API (rules, decisions) does not answer through its proxy",
    api_not_public
);

/// The header that tags a check's request, so the app's record of it can
/// be told from any other.
const PROBE_HEADER: &str = "x-orygate-probe";

/// How long a let-through request may take to reach the app.
const REACH: Duration = Duration::from_secs(2);

/// A rule as the checks read it.
struct Rule<'a> {
    id: &'a str,
    pattern: &'a str,
    method: Method,
    value: &'a Value,
}

fn rules(rules: &[Value]) -> Vec<Rule<'_>> {
    rules
        .iter()
        .map(|value| {
            let methods: Vec<&str> = value
                .pointer("/match/methods")
                .and_then(Value::as_array)
                .map(|m| m.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let method = if methods.is_empty() || methods.contains(&"GET") {
                Method::GET
            } else {
                Method::from_bytes(methods[0].as_bytes()).unwrap_or(Method::GET)
            };
            Rule {
                id: value.get("id").and_then(Value::as_str).unwrap_or("?"),
                pattern: value
                    .pointer("/match/url")
                    .and_then(Value::as_str)
                    .unwrap_or(""),
                method,
                value,
            }
        })
        .collect()
}

/// Why a rule lets anyone through by its handlers alone: the `allow`
/// authorizer after a `noop` or `anonymous` authenticator (v0.40.9 runs
/// the authorizer after `noop` too, so `noop` with another one is up to
/// that one, and to the probe).
fn open_by_handlers(rule: &Value) -> Option<String> {
    let authenticators: Vec<&str> = rule
        .get("authenticators")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|h| h.get("handler").and_then(Value::as_str))
                .collect()
        })
        .unwrap_or_default();
    let authorizer = rule
        .pointer("/authorizer/handler")
        .and_then(Value::as_str)
        .unwrap_or("");
    if authorizer != "allow" {
        return None;
    }
    ["noop", "anonymous"]
        .into_iter()
        .find(|h| authenticators.contains(h))
        .map(|h| format!("the {h} authenticator with the allow authorizer"))
}

/// Sends `method url` through the proxy without credentials, as the rule
/// would see it: `Host` from the URL, `X-Forwarded-Proto: https` for an
/// https one (Oathkeeper matches on it). Whether the app got it, when the
/// app is known.
async fn anonymous(
    cx: &Context<'_>,
    oathkeeper: &Oathkeeper,
    method: Method,
    url: &Url,
    tag: &str,
) -> Result<(Probe, Option<bool>), Evidence> {
    let mut path = url.path().to_owned();
    if let Some(query) = url.query() {
        path.push('?');
        path.push_str(query);
    }
    let target = oathkeeper.proxy(&path);
    let agent = cx.app.agent();
    let host = &url[url::Position::BeforeHost..url::Position::AfterPort];
    let mut request = agent
        .client()
        .request(method.clone(), target.clone())
        .header(PROBE_HEADER, tag)
        .header("accept", "application/json");
    let mut note = format!("no credentials, Host: {host}");
    request = request.header("host", host);
    if url.scheme() == "https" {
        request = request.header("x-forwarded-proto", "https");
        note.push_str(", X-Forwarded-Proto: https");
    }
    let probe = Probe::send(agent, "oathkeeper", method, &target, &note, request).await?;
    let Some(app) = &cx.deployment.app else {
        return Ok((probe, None));
    };
    // The app records a request before it answers, so one let through is
    // there once the proxy answered; a success waits a little for it.
    let mut reached = false;
    while let Ok(delivery) = app.next(Duration::ZERO).await {
        reached |= delivery.header(PROBE_HEADER) == Some(tag);
    }
    if !reached && (200..300).contains(&probe.status) {
        while let Ok(delivery) = app.next(REACH).await {
            if delivery.header(PROBE_HEADER) == Some(tag) {
                reached = true;
                break;
            }
        }
    }
    Ok((probe, Some(reached)))
}

/// What became of a request without credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Passed on: the app recorded it, or (when the app is not known) the
    /// answer was a success, or Oathkeeper's 502 for an upstream that
    /// failed after the rule let the request through.
    Through,
    /// Refused as a rule refuses: 401, 403 or a redirect (to a login).
    Refused,
    /// Anything else: no rule matched it (404), several did or a handler
    /// failed (500). It says nothing about the rule.
    Unknown,
}

fn fate(probe: &Probe, reached: Option<bool>) -> Fate {
    let through = reached.unwrap_or((200..300).contains(&probe.status) || probe.status == 502);
    if through {
        Fate::Through
    } else if matches!(probe.status, 401 | 403) || (300..400).contains(&probe.status) {
        Fate::Refused
    } else {
        Fate::Unknown
    }
}

async fn open_rules(cx: &Context<'_>) -> Verdict {
    let Some(oathkeeper) = &cx.deployment.oathkeeper else {
        return super::absent("oathkeeper");
    };
    let public = &cx.policy.oathkeeper.public_rules;
    let known = cx.deployment.config.oathkeeper_rules.as_deref();
    if known.is_none() && cx.policy.oathkeeper.protected.is_empty() {
        return Verdict::Skipped(
            "reads Oathkeeper's rules, which a deployment by URL does not show; \
             list paths in the policy's oathkeeper.protected to probe them"
                .into(),
        );
    }
    let strategy = strategy(cx);
    let mut evidence = Vec::new();
    let mut refused = Vec::new();
    let mut unprobed = Vec::new();
    for rule in rules(known.unwrap_or_default()) {
        if public.iter().any(|p| p == rule.id) {
            continue;
        }
        let probed = match sample::url(rule.pattern, strategy) {
            Ok(url) => probe_rule(cx, oathkeeper, &rule, &url).await,
            Err(why) => Err(why),
        };
        match probed {
            Ok(None) => refused.push(rule.id.to_owned()),
            Ok(Some(e)) => evidence.push(e),
            Err(why) => {
                unprobed.push(format!("{} ({why})", rule.id));
                // Unprobed, the handlers alone decide.
                if let Some(open) = open_by_handlers(rule.value) {
                    evidence.push(
                        Evidence::config(
                            "oathkeeper rules",
                            rule.id,
                            format!("{open} opens {} to anyone", rule.pattern),
                        )
                        .about(rule.id),
                    );
                }
            }
        }
    }
    for path in &cx.policy.oathkeeper.protected {
        match probe_protected(cx, oathkeeper, path).await {
            Ok(None) => refused.push(path.clone()),
            Ok(Some(e)) => evidence.push(e),
            Err(why) => unprobed.push(format!("{path} ({why})")),
        }
    }
    if evidence.is_empty() && refused.is_empty() {
        return Verdict::Skipped(format!(
            "no request without credentials could be judged: {}",
            unprobed.join("; ")
        ));
    }
    let mut seen = format!(
        "{} requests without credentials refused ({})",
        refused.len(),
        refused.join(", ")
    );
    if !public.is_empty() {
        let _ = write!(seen, "; public by the policy: {}", public.join(", "));
    }
    if !unprobed.is_empty() {
        let _ = write!(seen, "; not probed: {}", unprobed.join("; "));
    }
    Verdict::from_evidence(evidence, seen)
}

/// The matching strategy of the rules, as the config says.
fn strategy(cx: &Context<'_>) -> Strategy {
    Strategy::named(
        cx.deployment
            .config
            .oathkeeper
            .as_ref()
            .and_then(|c| c.pointer("/access_rules/matching_strategy"))
            .and_then(Value::as_str),
    )
}

/// A request without credentials to `url`, which `rule` matches: `None`
/// when it was refused, the evidence when it reached the app, and why it
/// says nothing (no rule matched, a handler failed) otherwise.
async fn probe_rule(
    cx: &Context<'_>,
    oathkeeper: &Oathkeeper,
    rule: &Rule<'_>,
    url: &Url,
) -> Result<Option<Evidence>, String> {
    let tag = format!("open-rules/{}", rule.id);
    let (probe, reached) = match anonymous(cx, oathkeeper, rule.method.clone(), url, &tag).await {
        Ok(answer) => answer,
        Err(e) => return Ok(Some(e)),
    };
    match fate(&probe, reached) {
        Fate::Refused => Ok(None),
        Fate::Unknown => Err(format!("{} {url} answered {}", rule.method, probe.status)),
        Fate::Through => {
            let why = open_by_handlers(rule.value).unwrap_or_else(|| "its handlers".into());
            Ok(Some(
                Evidence::answer(
                    &probe,
                    format!(
                        "rule {} ({}) sent a request without credentials to the app: {why} let it through; \
                         list it in oathkeeper.public_rules if it is meant for anyone",
                        rule.id, rule.pattern
                    ),
                )
                .about(rule.id),
            ))
        }
    }
}

/// A request without credentials to a path the policy protects: as
/// [`probe_rule`].
async fn probe_protected(
    cx: &Context<'_>,
    oathkeeper: &Oathkeeper,
    path: &str,
) -> Result<Option<Evidence>, String> {
    let url = Url::parse(path).unwrap_or_else(|_| oathkeeper.proxy(path));
    let tag = format!("protected/{path}");
    let (probe, reached) = match anonymous(cx, oathkeeper, Method::GET, &url, &tag).await {
        Ok(answer) => answer,
        Err(e) => return Ok(Some(e)),
    };
    match fate(&probe, reached) {
        Fate::Refused => Ok(None),
        Fate::Unknown => Err(format!("answered {}", probe.status)),
        Fate::Through => Ok(Some(
            Evidence::answer(
                &probe,
                format!("{path}, protected by the policy, passed a request without credentials on to the app"),
            )
            .about(path),
        )),
    }
}

/// Whether `probe` is Oathkeeper's API answering: the rule list (a JSON
/// list of objects with `match`).
fn is_rule_list(probe: &Probe) -> bool {
    probe.status == 200
        && probe.json().is_some_and(|v| {
            v.as_array().is_some_and(|a| {
                !a.is_empty()
                    && a.iter()
                        .all(|r| r.get("match").is_some() && r.get("id").is_some())
            })
        })
}

async fn api_not_public(cx: &Context<'_>) -> Verdict {
    let Some(oathkeeper) = &cx.deployment.oathkeeper else {
        return super::absent("oathkeeper");
    };
    let mut evidence = Vec::new();
    // A rule whose upstream is the API forwards callers to it.
    let config = &cx.deployment.config;
    let ports = config
        .oathkeeper
        .as_ref()
        .map_or((harness::oathkeeper::DEFAULT_API_PORT, 4455), |c| {
            (api_port(c), proxy_port(c))
        });
    let strategy = strategy(cx);
    let mut hosts: Vec<Url> = vec![oathkeeper.proxy("")];
    for rule in rules(config.oathkeeper_rules.as_deref().unwrap_or_default()) {
        let upstream = rule
            .value
            .pointer("/upstream/url")
            .and_then(Value::as_str)
            .and_then(|u| Url::parse(u).ok());
        if upstream
            .as_ref()
            .is_some_and(|u| is_api(u, ports.0, ports.1))
        {
            evidence.push(
                Evidence::config(
                    "oathkeeper rules",
                    rule.id,
                    format!(
                        "upstream {} is Oathkeeper's API (its port {} or a host named after it): callers of {} reach it",
                        upstream.map(String::from).unwrap_or_default(),
                        ports.0,
                        rule.pattern
                    ),
                )
                .about(rule.id),
            );
        }
        if let Ok(url) = sample::url(rule.pattern, strategy)
            && !hosts.iter().any(|h| h.origin() == url.origin())
        {
            hosts.push(url);
        }
    }
    let mut asked = 0;
    for base in &hosts {
        let mut url = base.clone();
        url.set_path("/rules");
        url.set_query(None);
        asked += 1;
        match anonymous(cx, oathkeeper, Method::GET, &url, "api/rules").await {
            Ok((probe, _)) if is_rule_list(&probe) => evidence.push(Evidence::answer(
                &probe,
                format!(
                    "the proxy answered with Oathkeeper's rule list: {}",
                    probe.body_start()
                ),
            )),
            Ok(_) => {}
            Err(e) => evidence.push(e),
        }
    }
    Verdict::from_evidence(
        evidence,
        format!("GET /rules through the proxy, for {asked} hosts, is not the API's rule list"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn noop_or_anonymous_with_allow_is_open() {
        let noop =
            json!({"authenticators": [{"handler": "noop"}], "authorizer": {"handler": "allow"}});
        assert!(open_by_handlers(&noop).unwrap().contains("noop"));
        // v0.40.9 runs the authorizer after noop too.
        let denied =
            json!({"authenticators": [{"handler": "noop"}], "authorizer": {"handler": "deny"}});
        assert_eq!(open_by_handlers(&denied), None);
        let anon = json!({"authenticators": [{"handler": "cookie_session"}, {"handler": "anonymous"}], "authorizer": {"handler": "allow"}});
        assert!(open_by_handlers(&anon).unwrap().contains("anonymous"));
        let keto = json!({"authenticators": [{"handler": "anonymous"}], "authorizer": {"handler": "remote_json"}});
        assert_eq!(open_by_handlers(&keto), None);
        let signed_in = json!({"authenticators": [{"handler": "cookie_session"}], "authorizer": {"handler": "allow"}});
        assert_eq!(open_by_handlers(&signed_in), None);
    }
}
