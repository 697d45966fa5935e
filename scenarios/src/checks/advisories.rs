//! Known advisories: the version each service reports on `/version`,
//! against the committed list in `advisories.toml` beside this file.

use serde::Deserialize;
use serde_json::Value;

use super::{Context, Evidence, Probe, Verdict};

/// The committed advisory list.
const LIST: &str = include_str!("advisories.toml");

check!(
    All,
    CHECK,
    "advisories",
    "no running version has a known advisory",
    run
);

/// One advisory: which service, which versions, what it is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Advisory {
    pub id: String,
    pub service: String,
    /// Versions below this one are affected.
    pub fixed: String,
    pub summary: String,
}

#[derive(Debug, Deserialize)]
struct List {
    advisory: Vec<Advisory>,
}

/// The committed advisories.
pub fn list() -> Vec<Advisory> {
    toml::from_str::<List>(LIST)
        .expect("the committed advisory list parses")
        .advisory
}

/// A version as `major.minor.patch`, a leading `v` and a pre-release
/// (`-alpha.0`) dropped; the pre-release of a fixed version does not
/// matter to "below it".
fn numbers(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['-', '+']).next()?;
    let mut parts = core.split('.').map(str::parse::<u64>);
    let major = parts.next()?.ok()?;
    let minor = parts.next().unwrap_or(Ok(0)).ok()?;
    let patch = parts.next().unwrap_or(Ok(0)).ok()?;
    Some((major, minor, patch))
}

/// The version in a `/version` answer, or the newest of the rules' in
/// Oathkeeper's rule list (each carries the running one).
fn version_of(answer: &serde_json::Value) -> Option<String> {
    if let Some(rules) = answer.as_array() {
        return rules
            .iter()
            .filter_map(|r| r.get("version")?.as_str())
            .filter_map(|v| Some((numbers(v)?, v)))
            .max()
            .map(|(_, v)| v.to_owned());
    }
    answer.get("version")?.as_str().map(str::to_owned)
}

/// Whether `running` is below `fixed`; `None` when either is not a
/// version.
pub fn affected(running: &str, fixed: &str) -> Option<bool> {
    Some(numbers(running)? < numbers(fixed)?)
}

async fn run(cx: &Context<'_>) -> Verdict {
    let d = cx.deployment;
    // Kratos and Hydra answer `/version` on the admin API only; Keto on
    // both.
    // Without admin access Kratos' and Hydra's versions cannot be read:
    // they are named as unread, never taken as not affected.
    let admin = |present: bool| present && d.admin;
    let services = [
        (
            "kratos",
            d.kratos
                .as_ref()
                .filter(|_| admin(true))
                .and_then(|k| k.admin("admin/version").ok()),
        ),
        (
            "hydra",
            d.hydra
                .as_ref()
                .filter(|_| admin(true))
                .map(|h| h.admin("version")),
        ),
        ("keto", d.keto.as_ref().map(|k| k.read("version"))),
        // Oathkeeper has no `/version`: its API's rule list carries the
        // running version in each rule (its rule migrator sets it), which
        // a deployment known by its proxy alone does not show.
        (
            "oathkeeper",
            d.oathkeeper.as_ref().and_then(|o| o.api("rules")),
        ),
    ];
    let mut unread: Vec<&str> = [("kratos", d.kratos.is_some()), ("hydra", d.hydra.is_some())]
        .into_iter()
        .filter(|(_, present)| *present && !d.admin)
        .map(|(s, _)| s)
        .collect();
    if d.oathkeeper.as_ref().is_some_and(|o| o.api("").is_none()) {
        unread.push("oathkeeper");
    }
    let advisories = list();
    let mut evidence = Vec::new();
    let mut seen = Vec::new();
    for (service, url) in services {
        let Some(url) = url else { continue };
        let probe = match Probe::get_json(cx.app.agent(), service, &url).await {
            Ok(p) => p,
            Err(e) => {
                evidence.push(e);
                continue;
            }
        };
        let json = probe.json();
        if json
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            seen.push(format!("{service} (no rules: its version is unread)"));
            continue;
        }
        let version = json.and_then(|v| version_of(&v));
        let Some(version) = version else {
            evidence.push(Evidence::answer(
                &probe,
                format!("no version in the answer: {}", probe.body_start()),
            ));
            continue;
        };
        seen.push(format!("{service} {version}"));
        for advisory in advisories.iter().filter(|a| a.service == service) {
            if affected(&version, &advisory.fixed) != Some(false) {
                evidence.push(
                    Evidence::answer(
                        &probe,
                        format!(
                            "{service} {version} is affected by {} (fixed in {}): {}",
                            advisory.id, advisory.fixed, advisory.summary
                        ),
                    )
                    .about(&advisory.id),
                );
            }
        }
    }
    if evidence.is_empty() && !unread.is_empty() {
        return Verdict::Skipped(format!(
            "the versions of {} need the admin API, which was not given{}",
            unread.join(" and "),
            if seen.is_empty() {
                String::new()
            } else {
                format!("; {} not affected", seen.join(", "))
            }
        ));
    }
    if seen.is_empty() && evidence.is_empty() {
        return super::absent("service");
    }
    Verdict::from_evidence(evidence, format!("{} not affected", seen.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_below_the_fix_are_affected() {
        // Hand-written cases, semver order.
        assert_eq!(affected("v1.3.1", "v26.2.0"), Some(true));
        assert_eq!(affected("v0.13.0-alpha.0", "v26.2.0"), Some(true));
        assert_eq!(affected("v26.2.0", "v26.2.0"), Some(false));
        assert_eq!(affected("v26.10.1", "v26.2.0"), Some(false));
        assert_eq!(affected("26.1.9", "v26.2.0"), Some(true));
        assert_eq!(affected("master", "v26.2.0"), None);
    }

    #[test]
    fn oathkeepers_version_is_its_rule_lists_newest() {
        let rules = serde_json::json!([{"id": "a", "version": "v0.38.0"}, {"id": "b", "version": "v0.40.9"}, {"id": "c"}]);
        assert_eq!(version_of(&rules).as_deref(), Some("v0.40.9"));
        assert_eq!(version_of(&serde_json::json!([])), None);
        let answer = serde_json::json!({"version": "v2.3.0"});
        assert_eq!(version_of(&answer).as_deref(), Some("v2.3.0"));
    }

    #[test]
    fn the_list_names_each_service_it_covers() {
        let list = list();
        for service in ["kratos", "hydra", "keto", "oathkeeper"] {
            assert!(list.iter().any(|a| a.service == service), "{service}");
        }
        for a in &list {
            assert!(a.id.starts_with("GHSA-"), "{}", a.id);
            assert!(numbers(&a.fixed).is_some(), "{}", a.fixed);
        }
    }
}
