//! The gate's policy: every bound and floor the checks hold a deployment
//! to, the checks a team turned off, and the failures it acknowledged.
//!
//! The default (`policy.toml` beside this file, from Ory's production
//! guidance) is compiled in; a team's file overrides it key by key. An
//! unknown key is an error, so a misspelt bound is not silently ignored.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::{Outcome, Verdict};

/// The committed default policy.
pub const DEFAULT: &str = include_str!("policy.toml");

/// The bounds, floors and exceptions of a gate run.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub session: Session,
    pub tokens: Tokens,
    pub hashing: Hashing,
    pub password: Password,
    pub return_urls: ReturnUrls,
    pub cors: Cors,
    pub cookies: Cookies,
    pub secrets: Secrets,
    pub courier: Courier,
    pub oauth2: OAuth2,
    pub oathkeeper: OathkeeperPolicy,
    pub checks: Checks,
    #[serde(default)]
    pub acknowledge: Vec<Acknowledgement>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Session {
    #[serde(deserialize_with = "duration")]
    pub max_lifespan: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tokens {
    #[serde(deserialize_with = "duration")]
    pub max_access_token: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_refresh_token: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_id_token: Duration,
    #[serde(deserialize_with = "duration")]
    pub max_auth_code: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hashing {
    pub bcrypt_min_cost: u32,
    pub argon2_min_memory_kib: u64,
    pub argon2_min_iterations: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Password {
    pub min_length: usize,
    pub identifier_similarity: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReturnUrls {
    pub allowed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cors {
    pub allowed_origins: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Cookies {
    pub same_site: Vec<String>,
    pub max_domain: String,
    /// Whether Kratos' session cookie may outlive the browser (`Max-Age`
    /// or `Expires`).
    pub persistent_session: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Secrets {
    pub min_length: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Courier {
    #[serde(deserialize_with = "duration")]
    pub max_delivery: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuth2 {
    pub pkce_for_all_clients: bool,
    pub dynamic_client_registration: bool,
    pub issuer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OathkeeperPolicy {
    /// Ids of the access rules meant for anyone, signed in or not.
    pub public_rules: Vec<String>,
    /// Paths (or URLs) behind the proxy that need a signed-in caller:
    /// probed anonymously, against a deployment by URL too.
    pub protected: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Checks {
    /// Check id to the reason it is off.
    pub off: BTreeMap<String, String>,
}

/// A failure a team accepts for now.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledgement {
    /// The check's id.
    pub check: String,
    /// What it is about (an advisory id, a client id); none: every
    /// failure of the check.
    #[serde(default)]
    pub subject: Option<String>,
    /// Why it is accepted; required.
    pub reason: String,
    /// From this day on, the failure counts again.
    #[serde(default)]
    pub expires: Option<jiff::civil::Date>,
}

fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let text = String::deserialize(d)?;
    humantime::parse_duration(&text)
        .map_err(|e| serde::de::Error::custom(format!("{text:?} is not a duration: {e}")))
}

impl Policy {
    /// The committed default.
    pub fn default_policy() -> Self {
        Self::merged(None).expect("the committed default policy parses")
    }

    /// The default with `team` (a policy file's text) over it.
    pub fn merged(team: Option<&str>) -> Result<Self, String> {
        let mut base: toml::Table = DEFAULT
            .parse()
            .map_err(|e| format!("the default policy: {e}"))?;
        if let Some(team) = team {
            let over = team.parse::<toml::Table>().map_err(|e| e.to_string())?;
            merge(&mut base, over);
        }
        let policy: Self = toml::Value::Table(base)
            .try_into()
            .map_err(|e: toml::de::Error| e.to_string())?;
        policy.validate()?;
        Ok(policy)
    }

    /// The default with the policy file at `path` over it; the error names
    /// the file.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("read the policy {}: {e}", path.display()))?;
        Self::merged(Some(&text)).map_err(|e| format!("the policy {}: {e}", path.display()))
    }

    fn validate(&self) -> Result<(), String> {
        for id in self.checks.off.keys() {
            if super::find(id).is_none() {
                return Err(format!("checks.off names no check {id:?}"));
            }
        }
        for ack in &self.acknowledge {
            if super::find(&ack.check).is_none() {
                return Err(format!("an acknowledgement names no check {:?}", ack.check));
            }
            if ack.reason.trim().is_empty() {
                return Err(format!(
                    "the acknowledgement of {:?} gives no reason",
                    ack.check
                ));
            }
        }
        Ok(())
    }

    /// Why the check `id` is off, if it is.
    pub fn off(&self, id: &str) -> Option<&str> {
        self.checks.off.get(id).map(String::as_str)
    }

    /// What the gate reports for `verdict` of the check `id`: a failure
    /// whose every piece of evidence an unexpired acknowledgement covers
    /// is acknowledged; otherwise it fails, with the uncovered evidence
    /// (an expired acknowledgement says so in the evidence).
    pub fn judge(&self, id: &str, verdict: Verdict, today: jiff::civil::Date) -> Outcome {
        let evidence = match verdict {
            Verdict::Passed(seen) => return Outcome::Passed { seen },
            Verdict::Skipped(why) => return Outcome::Skipped { why },
            Verdict::Failed(evidence) => evidence,
        };
        let mut open = Vec::new();
        let mut acknowledged = Vec::new();
        for mut item in evidence {
            // An unexpired acknowledgement first: an expired blanket one
            // must not hide a valid one.
            let mut matching = self
                .acknowledge
                .iter()
                .filter(|a| a.check == id && (a.subject.is_none() || a.subject == item.subject));
            let ack = matching
                .clone()
                .find(|a| a.expires.is_none_or(|d| today < d))
                .or_else(|| matching.next());
            match ack {
                Some(a) if a.expires.is_none_or(|d| today < d) => {
                    acknowledged.push((item, a.reason.clone()));
                }
                Some(a) => {
                    let expired = a.expires.map(|d| d.to_string()).unwrap_or_default();
                    item.part = format!("{} (its acknowledgement expired on {expired})", item.part);
                    open.push(item);
                }
                None => open.push(item),
            }
        }
        if open.is_empty() {
            Outcome::Acknowledged { acknowledged }
        } else {
            Outcome::Failed {
                evidence: open,
                acknowledged,
            }
        }
    }
}

/// Merges `over` into `base`: tables key by key, anything else replaced.
fn merge(base: &mut toml::Table, over: toml::Table) {
    for (key, value) in over {
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, value) => {
                base.insert(key, value);
            }
        }
    }
}

/// A piece of evidence, for tests of [`Policy::judge`].
#[cfg(test)]
fn evidence(subject: Option<&str>) -> super::Evidence {
    super::Evidence {
        request: "GET /version".into(),
        status: Some(200),
        part: "v1.3.1 is affected".into(),
        subject: subject.map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> jiff::civil::Date {
        text.parse().unwrap()
    }

    #[test]
    fn the_default_holds_ory_guidance() {
        let policy = Policy::default_policy();
        assert_eq!(policy.session.max_lifespan, Duration::from_secs(24 * 3600));
        assert_eq!(policy.hashing.bcrypt_min_cost, 12);
        assert_eq!(policy.password.min_length, 8);
        assert!(policy.acknowledge.is_empty());
        assert!(policy.checks.off.is_empty());
    }

    #[test]
    fn a_team_file_overrides_key_by_key() {
        let policy = Policy::merged(Some(
            "[session]\nmax_lifespan = \"72h\"\n[checks]\noff = { cors = \"same origin\" }\n",
        ))
        .unwrap();
        assert_eq!(policy.session.max_lifespan, Duration::from_secs(72 * 3600));
        assert_eq!(policy.tokens.max_access_token, Duration::from_secs(3600));
        assert_eq!(policy.off("cors"), Some("same origin"));
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let typo = Policy::merged(Some("[session]\nmax_lifespam = \"1h\"\n")).unwrap_err();
        assert!(typo.contains("max_lifespam"), "{typo}");
        let unknown = Policy::merged(Some("[checks]\noff = { nope = \"x\" }\n")).unwrap_err();
        assert!(unknown.contains("\"nope\""), "{unknown}");
        let bare = "[[acknowledge]]\ncheck = \"cors\"\nreason = \" \"\n";
        assert!(
            Policy::merged(Some(bare))
                .unwrap_err()
                .contains("no reason")
        );
        let duration = Policy::merged(Some("[session]\nmax_lifespan = \"soon\"\n")).unwrap_err();
        assert!(duration.contains("not a duration"), "{duration}");
    }

    #[test]
    fn acknowledgements_cover_their_subject_until_they_expire() {
        let policy = Policy::merged(Some(
            "[[acknowledge]]\ncheck = \"advisories\"\nsubject = \"GHSA-1\"\nreason = \"no fixed image\"\nexpires = \"2027-01-01\"\n",
        ))
        .unwrap();
        let failed = || Verdict::Failed(vec![evidence(Some("GHSA-1"))]);
        let outcome = policy.judge("advisories", failed(), day("2026-12-31"));
        assert!(
            matches!(&outcome, Outcome::Acknowledged { acknowledged } if acknowledged[0].1 == "no fixed image"),
            "{outcome:?}"
        );
        let expired = policy.judge("advisories", failed(), day("2027-01-01"));
        match expired {
            Outcome::Failed { evidence, .. } => {
                assert!(
                    evidence[0].part.contains("expired on 2027-01-01"),
                    "{evidence:?}"
                );
            }
            other => panic!("{other:?}"),
        }
        let other_subject =
            Verdict::Failed(vec![evidence(Some("GHSA-1")), evidence(Some("GHSA-2"))]);
        match policy.judge("advisories", other_subject, day("2026-12-31")) {
            Outcome::Failed {
                evidence,
                acknowledged,
            } => {
                assert_eq!(evidence[0].subject.as_deref(), Some("GHSA-2"));
                assert_eq!(acknowledged.len(), 1);
            }
            other => panic!("{other:?}"),
        }
        let other_check = policy.judge("cors", failed(), day("2026-12-31"));
        assert!(other_check.fails());
    }
}
