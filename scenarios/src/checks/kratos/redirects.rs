//! The open-redirect check: what the flows do with a hostile
//! `return_to`, and what the allow-list holds.

use harness::Agent;
use serde_json::Value;
use url::Url;

use super::super::{Context, Evidence, Probe, Verdict, at};
use super::{browser_flows, is_loopback};

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
fn entry_faults(entry: &str, policy: &super::super::Policy) -> Vec<String> {
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

pub(super) async fn return_to(cx: &Context<'_>) -> Verdict {
    let Some(kratos) = &cx.deployment.kratos else {
        return super::super::absent("kratos");
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::Policy;

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
}
