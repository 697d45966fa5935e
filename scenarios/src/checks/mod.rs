//! The gate's security checks: what a running deployment answers, held
//! against a [`Policy`].
//!
//! A check is one function in the module of the service it probes
//! ([`kratos`], [`hydra`], [`keto`], [`oathkeeper`], [`advisories`] for
//! the versions of all four), listed once in [`REGISTRY`]. It sends real requests (a
//! flow's start, a preflight, a token request), reads the part of the
//! answer that matters (a `Set-Cookie`, a `Location`, a claim) and returns
//! a [`Verdict`]: passed with what it saw, failed with the [`Evidence`],
//! or skipped with the reason it could not run here (no admin API, no
//! config file, the service not deployed). [`run`] runs the registry and
//! applies the policy: checks turned off, and acknowledged failures
//! (with a reason and maybe an expiry date).
//!
//! Each check has a misconfiguration under `fixtures/misconfig/<id>/`
//! that makes it fail (or, for how a deployment is routed, a test that
//! points a public host at an admin port; for `identity-schemas`, one
//! whose identities name a schema the config then dropped), and a test
//! that shows it red there and green on `ory/`.

/// A check of the registry: `check!(Kratos, NAME, "id", "title", run)`
/// makes the constant `NAME` for the async function `run` of `scope`.
macro_rules! check {
    ($scope:ident, $name:ident, $id:literal, $title:literal, $run:path) => {
        pub const $name: $crate::checks::Check = $crate::checks::Check {
            id: $id,
            scope: $crate::checks::Scope::$scope,
            title: $title,
            run: |cx| Box::pin($run(cx)) as $crate::checks::CheckFuture<'_>,
        };
    };
}

pub mod advisories;
mod cors;
pub mod hydra;
pub mod keto;
pub mod kratos;
pub mod oathkeeper;
pub mod policy;
mod probe;
pub mod secrets;
pub(crate) mod someone;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use std::sync::Arc;

use harness::hydra::Hydra;
use harness::keto::Keto;
use harness::kratos::Kratos;
use harness::oathkeeper::Oathkeeper;
use harness::{NativeApp, WebhookSink};
use serde::Serialize;
use serde_json::Value;

pub use policy::{Acknowledgement, Policy};
pub use probe::Probe;

/// The service a check probes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Kratos,
    Hydra,
    Keto,
    Oathkeeper,
    /// Every service the deployment has.
    All,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Kratos => "kratos",
            Self::Hydra => "hydra",
            Self::Keto => "keto",
            Self::Oathkeeper => "oathkeeper",
            Self::All => "all",
        })
    }
}

/// The deployment under check: the services' URLs and, when the gate
/// started it, the config each was started with.
#[derive(Debug, Clone, Default)]
pub struct Deployment {
    pub kratos: Option<Kratos>,
    pub hydra: Option<Hydra>,
    pub keto: Option<Keto>,
    /// Oathkeeper, by its proxy (and its API when the gate started it or
    /// its URL was given).
    pub oathkeeper: Option<Oathkeeper>,
    /// The app behind Oathkeeper, which records every request that reached
    /// it: when the gate started the stack.
    pub app: Option<Arc<WebhookSink>>,
    /// Whether the admin APIs are reachable: the gate started the stack,
    /// or their URLs were given.
    pub admin: bool,
    pub config: Configs,
}

/// Each service's config as it runs (the team's file with its overlays
/// merged), when the gate started the service; `None` against a
/// deployment by URL.
#[derive(Debug, Clone, Default)]
pub struct Configs {
    pub kratos: Option<Value>,
    pub hydra: Option<Value>,
    pub keto: Option<Value>,
    pub oathkeeper: Option<Value>,
    /// The permission model (OPL) Keto was started with, when its config
    /// names one.
    pub keto_model: Option<String>,
    /// Oathkeeper's access rules as the folder has them (upstreams not
    /// moved).
    pub oathkeeper_rules: Option<Vec<Value>>,
}

impl Configs {
    /// A service's config as Ory reads `files` (its main file, then each
    /// overlay): maps merged key by key, anything else replaced by the
    /// later file. The error names the file.
    pub fn read(files: &[std::path::PathBuf]) -> Result<Value, String> {
        harness::merged_config(files)
    }
}

/// What a check is given: the deployment, the policy and a cookie-less
/// client. A check that needs a browser makes its own.
#[derive(Debug)]
pub struct Context<'a> {
    pub deployment: &'a Deployment,
    pub policy: &'a Policy,
    pub app: NativeApp,
}

/// The part of an answer that failed a check, and where it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// What was sent (`GET https://.../self-service/login/browser?return_to=...`)
    /// or read (`kratos.yml: session.lifespan`).
    pub request: String,
    /// The answer's status, for a request.
    pub status: Option<u16>,
    /// What was wrong with the answer: the header, the body part, the
    /// value, and what the policy wants instead.
    pub part: String,
    /// What the finding is about, for acknowledgements that name it (an
    /// advisory id, a client id); `None` for the check as a whole.
    pub subject: Option<String>,
}

impl Evidence {
    /// Evidence from an answer to `probe`.
    pub fn answer(probe: &Probe, part: impl Into<String>) -> Self {
        Self {
            request: probe.request.clone(),
            status: Some(probe.status),
            part: part.into(),
            subject: None,
        }
    }

    /// Evidence read from a config file, at the key `key`.
    pub fn config(file: &str, key: &str, part: impl Into<String>) -> Self {
        Self {
            request: format!("{file}: {key}"),
            status: None,
            part: part.into(),
            subject: None,
        }
    }

    /// The same evidence about `subject`.
    #[must_use]
    pub fn about(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }
}

impl fmt::Display for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.request)?;
        if let Some(status) = self.status {
            write!(f, " -> {status}")?;
        }
        write!(f, ": {}", self.part)
    }
}

/// How a check went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The property holds; what was seen.
    Passed(String),
    /// It does not; the evidence.
    Failed(Vec<Evidence>),
    /// The check could not run here, and why.
    Skipped(String),
}

impl Verdict {
    /// Passed when `evidence` is empty, failed with it otherwise.
    pub fn from_evidence(evidence: Vec<Evidence>, seen: impl Into<String>) -> Self {
        if evidence.is_empty() {
            Self::Passed(seen.into())
        } else {
            Self::Failed(evidence)
        }
    }
}

/// A boxed check future.
pub type CheckFuture<'a> = Pin<Box<dyn Future<Output = Verdict> + Send + 'a>>;

/// One check of the registry.
#[derive(Clone, Copy)]
pub struct Check {
    /// A stable name: the fixture's folder, the policy's key.
    pub id: &'static str,
    pub scope: Scope,
    /// What it asserts, in a line.
    pub title: &'static str,
    pub run: for<'a> fn(&'a Context<'a>) -> CheckFuture<'a>,
}

impl fmt::Debug for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Check")
            .field("id", &self.id)
            .field("scope", &self.scope)
            .field("title", &self.title)
            .finish_non_exhaustive()
    }
}

/// Every check, in the order the gate runs them.
pub const REGISTRY: &[Check] = &[
    advisories::CHECK,
    kratos::DEV_MODE,
    kratos::COOKIES,
    kratos::CSRF,
    kratos::RETURN_TO,
    kratos::FALLBACK_UI,
    kratos::UI_REACH,
    kratos::CORS,
    secrets::SECRETS,
    kratos::PASSWORD_POLICY,
    kratos::SESSION_LIFESPAN,
    kratos::SESSION_ENDS,
    kratos::ENUMERATION,
    kratos::COURIER,
    kratos::HASHING,
    kratos::IDENTITY_SCHEMAS,
    hydra::ISSUER,
    hydra::ERROR_DEBUG,
    hydra::DYNAMIC_REGISTRATION,
    hydra::PKCE,
    hydra::REDIRECT_URI,
    hydra::COOKIES,
    hydra::REUSE,
    hydra::TOKEN_LIFESPANS,
    hydra::JWKS,
    hydra::CORS,
    hydra::ADMIN_NOT_PUBLIC,
    keto::WRITE_NOT_ON_READ,
    keto::MODEL,
    oathkeeper::OPEN_RULES,
    oathkeeper::API_NOT_PUBLIC,
];

/// The check named `id`.
pub fn find(id: &str) -> Option<&'static Check> {
    REGISTRY.iter().find(|c| c.id == id)
}

/// A check's result after the policy: the verdict, and whether a failure
/// was acknowledged or the check turned off.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub id: &'static str,
    pub scope: Scope,
    pub title: &'static str,
    pub outcome: Outcome,
    pub millis: u64,
}

/// What the gate reports for a check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    Passed {
        seen: String,
    },
    /// Failed; `acknowledged` lists the evidence an acknowledgement
    /// covers, `evidence` what none covers (or whose acknowledgement
    /// expired).
    Failed {
        evidence: Vec<Evidence>,
        acknowledged: Vec<(Evidence, String)>,
    },
    /// Failed, but every piece of evidence is acknowledged: the reasons.
    Acknowledged {
        acknowledged: Vec<(Evidence, String)>,
    },
    Skipped {
        why: String,
    },
    /// Turned off by the policy, with its reason.
    Off {
        reason: String,
    },
}

impl Outcome {
    /// Whether the gate fails on it.
    pub fn fails(&self) -> bool {
        matches!(self, Self::Failed { .. })
    }

    /// A word for tables.
    pub fn word(&self) -> &'static str {
        match self {
            Self::Passed { .. } => "passed",
            Self::Failed { .. } => "FAILED",
            Self::Acknowledged { .. } => "acknowledged",
            Self::Skipped { .. } => "skipped",
            Self::Off { .. } => "off",
        }
    }
}

/// Runs `checks` (the [`REGISTRY`], or some of it) against `deployment`
/// one after another, and applies `policy`: checks it turns off are not
/// run, and failures it acknowledges are reported as such until their
/// acknowledgement expires on `today`.
pub async fn run(
    checks: &[Check],
    deployment: &Deployment,
    policy: &Policy,
    today: jiff::civil::Date,
) -> harness::Result<Vec<Finding>> {
    let cx = Context {
        deployment,
        policy,
        app: NativeApp::new()?,
    };
    let mut findings = Vec::with_capacity(checks.len());
    for check in checks {
        let started = Instant::now();
        let outcome = if let Some(reason) = policy.off(check.id) {
            Outcome::Off {
                reason: reason.to_owned(),
            }
        } else {
            let verdict = (check.run)(&cx).await;
            policy.judge(check.id, verdict, today)
        };
        findings.push(Finding {
            id: check.id,
            scope: check.scope,
            title: check.title,
            outcome,
            millis: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        });
    }
    Ok(findings)
}

/// Skips a check of a service the deployment does not have.
fn absent(service: &str) -> Verdict {
    Verdict::Skipped(format!("no {service} in this deployment"))
}

/// Skips a check that reads the config the gate started a service with.
fn no_config(service: &str) -> Verdict {
    Verdict::Skipped(format!(
        "reads {service}'s config, which a deployment by URL does not show"
    ))
}

/// Skips a check that needs an admin API.
fn no_admin() -> Verdict {
    Verdict::Skipped("needs the admin API, which was not given".into())
}

/// Whether Kratos' self-service `flow` is on: as the config says, or
/// Kratos' default (login and registration on, recovery and verification
/// off); `None` when the config is not known (a deployment by URL).
pub(crate) fn flow_enabled(config: Option<&Value>, flow: &str) -> Option<bool> {
    let config = config?;
    Some(
        at(config, &format!("selfservice.flows.{flow}.enabled"))
            .and_then(Value::as_bool)
            .unwrap_or(matches!(flow, "login" | "registration")),
    )
}

/// Whether `flow` is on: as [`flow_enabled`] says, or Kratos' default
/// when the config is not known.
pub(crate) fn flow_on(config: Option<&Value>, flow: &str) -> bool {
    flow_enabled(config, flow).unwrap_or(matches!(flow, "login" | "registration"))
}

/// The value at the dotted `path` of a config (`session.cookie.domain`).
pub(crate) fn at<'v>(config: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(config, |v, key| v.get(key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_fixture_names() {
        let mut ids: Vec<&str> = REGISTRY.iter().map(|c| c.id).collect();
        ids.sort_unstable();
        let before = ids.len();
        ids.dedup();
        assert_eq!(ids.len(), before, "a check id is used twice");
        for id in ids {
            assert!(
                id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
                "{id}"
            );
        }
    }

    #[test]
    fn config_paths_are_read_through_maps() {
        let config = serde_json::json!({"session": {"cookie": {"domain": "example.com"}}});
        assert_eq!(
            at(&config, "session.cookie.domain"),
            Some(&Value::from("example.com"))
        );
        assert_eq!(at(&config, "session.lifespan"), None);
    }
}
