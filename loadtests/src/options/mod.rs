//! The `orygate` command line, checked before anything starts.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;
use url::Url;

use crate::error::{Error, Result};
use crate::gate::Gate;
use crate::profiles::Mix;
use crate::report::Command;

mod shards;

/// The mix a run uses when none is given: mostly session checks, by cookie
/// and by token, with logins and sign-ups beside them.
pub const DEFAULT_MIX: &str = "whoami=5,whoami-api=3,login=1,signup=1";

/// Runs Ory's identity flows against a fresh stack (or an existing
/// deployment), then a bounded load run of them, and prints a summary per
/// step.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "orygate",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
// Command-line switches are booleans by nature.
#[allow(clippy::struct_excessive_bools)]
pub struct Options {
    #[command(subcommand)]
    pub command: Option<Command>,

    /// One load profile, e.g. whoami or keto-check (an unknown name lists
    /// them all).
    #[arg(long, env = "ORYGATE_PROFILE", conflicts_with = "mix")]
    pub profile: Option<String>,

    /// Profiles and weights, e.g. whoami=90,login=10.
    #[arg(long, env = "ORYGATE_MIX")]
    pub mix: Option<String>,

    /// Virtual users, each with its own client, cookie jar and account.
    #[arg(long, short = 'u', env = "ORYGATE_USERS", default_value_t = 10)]
    pub users: usize,

    /// Users launched per second (all within a second by default). Each
    /// gets its account and session before the measured window opens.
    #[arg(long, env = "ORYGATE_INCREASE_RATE")]
    pub increase_rate: Option<f64>,

    /// Users starting (signing up, logging in) at once; the others wait
    /// their turn.
    #[arg(long, env = "ORYGATE_START_CONCURRENCY", default_value_t = 16)]
    pub start_concurrency: usize,

    /// Tries per user start: a start that fails for a moment (no answer, a
    /// 5xx, a 429) is tried again with a new client and person, after a
    /// pause doubling from 100 ms; a 4xx or a refused flow is not.
    #[arg(long, env = "ORYGATE_START_ATTEMPTS", default_value_t = 4)]
    pub start_attempts: u32,

    /// The measured window opens when the users are ready; users whose
    /// start failed are left out, and if fewer than this percentage are
    /// ready, the run fails before any load.
    #[arg(long, env = "ORYGATE_MIN_READY", default_value_t = 90.0)]
    pub min_ready: f64,

    /// How long the users' start may take in all.
    #[arg(long, env = "ORYGATE_SETUP_TIMEOUT", default_value = "2m", value_parser = humantime::parse_duration)]
    pub setup_timeout: Duration,

    /// A window with fewer measured requests than this cannot stand for
    /// the load asked: the run fails, saying so.
    #[arg(long, env = "ORYGATE_MIN_REQUESTS", default_value_t = 10)]
    pub min_requests: u64,

    /// An open model: rounds of the profiles' transactions start at this
    /// many per second across all users, evenly spaced, and each round's
    /// latency counts from its intended start (a stall shows as latency,
    /// not as rounds never sent). The users are the concurrency. Without
    /// it, each user runs its rounds back to back (a closed model).
    #[arg(long, env = "ORYGATE_RATE")]
    pub rate: Option<f64>,

    /// A capacity sweep: the open model at FROM, FROM+STEP, ... up to TO
    /// rounds per second (e.g. 50:50:400), each for --duration with users
    /// of its own; prints per rate the achieved rate and p50/p95/p99, and
    /// the highest rate at which --slo-p99 and --error-budget hold.
    #[arg(long, env = "ORYGATE_SWEEP", conflicts_with = "rate")]
    pub sweep: Option<crate::sweep::Plan>,

    /// The sweep's latency objective: the rounds' p99, from their intended
    /// start, at most this.
    #[arg(long, env = "ORYGATE_SLO_P99", default_value = "50ms", value_parser = humantime::parse_duration)]
    pub slo_p99: Duration,

    /// The sweep's error budget: failed rounds, in percent of all rounds.
    #[arg(long, env = "ORYGATE_ERROR_BUDGET", default_value_t = 1.0)]
    pub error_budget: f64,

    /// How long the measured window lasts, exactly (it opens once the
    /// users are ready): 15s, 2m, 1m30s.
    #[arg(long, short = 't', env = "ORYGATE_DURATION", default_value = "15s", value_parser = humantime::parse_duration)]
    pub duration: Duration,

    /// How long one request may take under load.
    #[arg(long, env = "ORYGATE_REQUEST_TIMEOUT", default_value = "10s", value_parser = humantime::parse_duration)]
    pub request_timeout: Duration,

    /// The most of one answer's body that is read (bytes, or with KiB or
    /// MiB): a bigger answer fails its step, naming the limit.
    #[arg(long, env = "ORYGATE_MAX_BODY", default_value = "4MiB", value_parser = size)]
    pub max_body: usize,

    /// Trust the CA certificates in this PEM file beside the system's, for
    /// `https://` targets signed by a private CA (a staging deployment).
    #[arg(long, env = "ORYGATE_CA_CERT")]
    pub ca_cert: Option<PathBuf>,

    /// Run against this Kratos public URL instead of starting a stack.
    #[arg(long, env = "ORYGATE_KRATOS_URL")]
    pub kratos_url: Option<Url>,

    /// The admin URL of that Kratos (without it, users are created by
    /// signing up, which needs the stack's mail: admin-only steps are
    /// skipped).
    #[arg(long, env = "ORYGATE_KRATOS_ADMIN_URL", requires = "kratos_url")]
    pub kratos_admin_url: Option<Url>,

    /// Run Keto's profiles against this Keto read API instead of a fresh
    /// stack's (with --kratos-url).
    #[arg(long, env = "ORYGATE_KETO_READ_URL", requires_all = ["kratos_url", "keto_write_url"])]
    pub keto_read_url: Option<Url>,

    /// That Keto's write API: the profile writes its users' relationships.
    #[arg(long, env = "ORYGATE_KETO_WRITE_URL", requires = "keto_read_url")]
    pub keto_write_url: Option<Url>,

    /// Run the OAuth2 profiles against this Hydra public URL (with
    /// --kratos-url; its login URL must lead to that Kratos).
    #[arg(long, env = "ORYGATE_HYDRA_URL", requires_all = ["kratos_url", "hydra_admin_url"])]
    pub hydra_url: Option<Url>,

    /// That Hydra's admin API: the profiles register clients and accept
    /// consent through it.
    #[arg(long, env = "ORYGATE_HYDRA_ADMIN_URL", requires = "hydra_url")]
    pub hydra_admin_url: Option<Url>,

    /// Run the gateway profiles through this Oathkeeper proxy URL (with
    /// --kratos-url: its `/me` rule must take that Kratos' sessions).
    #[arg(long, env = "ORYGATE_OATHKEEPER_URL", requires = "kratos_url")]
    pub oathkeeper_url: Option<Url>,

    /// Identities to create through the admin API before the run, besides
    /// the users' own, to measure against tables of a realistic size
    /// (e.g. 10000).
    #[arg(long, env = "ORYGATE_IDENTITIES", default_value_t = 0)]
    pub identities: usize,

    /// Keep a fresh stack's data in memory instead of PostgreSQL, as Ory's
    /// published benchmarks do (read-only profiles only: concurrent writes
    /// fail there).
    #[arg(long)]
    pub in_memory: bool,

    /// Allow load against Ory Network (*.oryapis.com). Ory requires its
    /// prior written approval for load tests of its network.
    #[arg(long)]
    pub allow_ory_network: bool,

    /// Skip the smoke run of every flow.
    #[arg(long)]
    pub no_smoke: bool,

    /// Where the results are written (`orygate-<start>.json`, `.html`,
    /// `.md`, `.junit.xml`).
    #[arg(long, env = "ORYGATE_OUT", default_value = "reports/out")]
    pub out: PathBuf,

    /// The formats written besides the JSON: html, md, junit (commas).
    #[arg(
        long,
        env = "ORYGATE_FORMATS",
        value_delimiter = ',',
        default_value = "html,md,junit"
    )]
    pub formats: Vec<reports::Format>,

    /// This process runs shard I of N of the users (and of the rate):
    /// several machines load one deployment, and `orygate report merge`
    /// combines their results.
    #[arg(long, env = "ORYGATE_SHARD")]
    pub shard: Option<reports::document::Shard>,

    /// How many shards the run has, when this process's index comes from
    /// the engine that started it: a Kubernetes Indexed Job's
    /// `JOB_COMPLETION_INDEX` (from 0). `--shard` wins over both.
    #[arg(long, env = "ORYGATE_SHARDS")]
    pub shards: Option<u32>,

    /// The run this process is part of, written in its results: the
    /// shards of one run share it, and `orygate report merge` refuses
    /// documents of different runs (e.g. the Job's name).
    #[arg(long, env = "ORYGATE_RUN_ID")]
    pub run_id: Option<String>,

    /// When the measured window opens, the same for every shard: each
    /// prepares its users, then waits for this instant. RFC 3339 with its
    /// offset (`2026-12-06T20:30:00Z`), or `+30s` after `--epoch`.
    #[arg(long, env = "ORYGATE_START_AT")]
    pub start_at: Option<String>,

    /// Exit 0 once the results are written, passed or not: a shard leaves
    /// the run's verdict to `orygate report merge` (exit 1 on a failed
    /// run), so that an engine does not stop the other shards first.
    #[arg(long, env = "ORYGATE_DEFER_VERDICT")]
    pub defer_verdict: bool,

    /// The instant a relative `--start-at` counts from, shared by the
    /// shards (RFC 3339 or Unix seconds), e.g. when the job was created.
    #[arg(long, env = "ORYGATE_EPOCH")]
    pub epoch: Option<String>,

    /// Settings for a fresh stack's Kratos, as Kratos reads its config
    /// from the environment (e.g. `HASHERS_BCRYPT_COST=12`); repeatable.
    #[arg(long = "kratos-env", value_name = "KEY=VALUE", value_parser = key_value)]
    pub kratos_env: Vec<(String, String)>,

    /// Settings for a fresh stack's Oathkeeper, as it reads its config
    /// from the environment (e.g.
    /// `AUTHENTICATORS_OAUTH2_INTROSPECTION_CONFIG_CACHE_ENABLED=true`);
    /// repeatable.
    #[arg(long = "oathkeeper-env", value_name = "KEY=VALUE", value_parser = key_value)]
    pub oathkeeper_env: Vec<(String, String)>,

    #[command(flatten)]
    pub gate: Gate,

    /// The first seed of the run's fake people (default: from the clock, so
    /// runs against one deployment do not collide).
    #[arg(long)]
    pub seed: Option<u64>,

    /// No progress line.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

impl Options {
    /// The options of a run with the defaults, as `orygate` alone parses.
    pub fn defaults() -> Self {
        Self::parse_from(["orygate"])
    }

    /// The mix to run: `--profile`, `--mix` or [`DEFAULT_MIX`].
    pub fn mix(&self) -> Result<Mix> {
        let text = self
            .profile
            .as_deref()
            .or(self.mix.as_deref())
            .unwrap_or(DEFAULT_MIX);
        Mix::parse(text).map_err(Error::Usage)
    }

    /// The options of this process's shard: its share of the users and of
    /// the rate (all of them without a shard).
    #[must_use]
    pub fn for_shard(&self) -> Self {
        let mut own = self.clone();
        own.shard = self.shard().ok().flatten();
        if let Some(shard) = own.shard {
            own.users = shard.share(self.users);
            own.rate = self.rate.map(|r| r / f64::from(shard.count));
            own.identities = shard.share(self.identities);
        }
        own
    }

    /// How the users start.
    pub fn setup_policy(&self) -> crate::setup::Policy {
        crate::setup::Policy {
            attempts: self.start_attempts,
            concurrency: self.start_concurrency,
            min_ready_percent: self.min_ready,
            timeout: self.setup_timeout,
        }
    }

    /// Checks what can be checked before anything starts.
    pub fn validate(&self) -> Result<Mix> {
        let mix = self.mix()?;
        if self.users == 0 {
            return Err(Error::Usage("--users must be at least 1".into()));
        }
        self.start_at()?;
        if let Some(shard) = self.shard()? {
            if shard.share(self.users) < mix.0.len() {
                return Err(Error::Usage(format!(
                    "shard {shard} of {} users has {}, fewer than the mix's {} profiles",
                    self.users,
                    shard.share(self.users),
                    mix.0.len()
                )));
            }
            if self.sweep.is_some() {
                return Err(Error::Usage(
                    "a sweep cannot be sharded: run it from one process".into(),
                ));
            }
        }
        if self.users < mix.0.len() {
            return Err(Error::Usage(format!(
                "{} users cannot run {} profiles: every profile needs at least one user",
                self.users,
                mix.0.len()
            )));
        }
        if self.duration.is_zero() {
            return Err(Error::Usage("--duration must be longer than zero".into()));
        }
        if self.duration > MAX_DURATION {
            return Err(Error::Usage(format!(
                "--duration {} is longer than orygate runs at once ({})",
                humantime::format_duration(self.duration),
                humantime::format_duration(MAX_DURATION)
            )));
        }
        if !(self.min_ready > 0.0 && self.min_ready <= 100.0) {
            return Err(Error::Usage(
                "--min-ready is a percentage of the users, above 0 and at most 100".into(),
            ));
        }
        if self.start_attempts == 0 || self.start_concurrency == 0 {
            return Err(Error::Usage(
                "--start-attempts and --start-concurrency must be at least 1".into(),
            ));
        }
        if self.setup_timeout.is_zero() {
            return Err(Error::Usage(
                "--setup-timeout must be longer than zero".into(),
            ));
        }
        if let Some(rate) = self.increase_rate {
            let ramp = self.users as f64 / rate;
            if ramp >= self.setup_timeout.as_secs_f64() {
                return Err(Error::Usage(format!(
                    "{} users at --increase-rate {rate} take {ramp:.0} s to launch, longer than \
                     --setup-timeout {}: raise one or lower the other",
                    self.users,
                    humantime::format_duration(self.setup_timeout)
                )));
            }
        }
        if self.request_timeout.is_zero() {
            return Err(Error::Usage(
                "--request-timeout must be longer than zero".into(),
            ));
        }
        if !(0.0..=100.0).contains(&self.error_budget) {
            return Err(Error::Usage(
                "--error-budget is a percentage, from 0 to 100".into(),
            ));
        }
        if self.rate.is_some_and(|r| !r.is_finite() || r <= 0.0) {
            return Err(Error::Usage(
                "--rate must be a positive number of rounds per second".into(),
            ));
        }
        if self.increase_rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
            return Err(Error::Usage(
                "--increase-rate must be a positive number of users per second".into(),
            ));
        }
        for url in [
            &self.kratos_url,
            &self.kratos_admin_url,
            &self.keto_read_url,
            &self.keto_write_url,
            &self.hydra_url,
            &self.hydra_admin_url,
            &self.oathkeeper_url,
        ]
        .into_iter()
        .flatten()
        {
            check_target(url, self.allow_ory_network)?;
        }
        // A bad baseline is refused before the run, not after it.
        self.gate.check()?;
        Ok(mix)
    }
}

fn key_value(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.trim().to_owned(), v.to_owned())),
        _ => Err(format!("{text:?} is not KEY=VALUE")),
    }
}

/// The longest load run: load runs are bounded and stop by themselves.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);

/// Refuses URLs that are not http(s), and Ory Network hosts unless allowed.
fn check_target(url: &Url, allow_ory_network: bool) -> Result<()> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::Usage(format!(
            "{url}: only http and https URLs can be targets"
        )));
    }
    let host = url.host_str().unwrap_or_default().to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if !allow_ory_network && (host == "oryapis.com" || host.ends_with(".oryapis.com")) {
        return Err(Error::Usage(format!(
            "{url} is on Ory Network: Ory requires its prior written approval for load tests \
             of its network. With that approval, pass --allow-ory-network"
        )));
    }
    Ok(())
}

/// `4MiB`, `512KiB` or a number of bytes.
fn size(text: &str) -> std::result::Result<usize, String> {
    let text = text.trim();
    let (number, unit) = if let Some(n) = text.strip_suffix("MiB") {
        (n, 1 << 20)
    } else if let Some(n) = text.strip_suffix("KiB") {
        (n, 1 << 10)
    } else {
        (text, 1)
    };
    number
        .trim()
        .parse::<usize>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("{text:?} is not a size: write bytes, or e.g. 512KiB or 4MiB"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_bytes_kib_and_mib() {
        assert_eq!(size("4MiB"), Ok(4 * 1024 * 1024));
        assert_eq!(size("512KiB"), Ok(512 * 1024));
        assert_eq!(size("1000"), Ok(1000));
        assert!(size("0").is_err());
        assert!(size("4MB").unwrap_err().contains("not a size"));
        assert_eq!(Options::defaults().max_body, 4 << 20);
    }

    fn options(args: &[&str]) -> Options {
        Options::parse_from(std::iter::once("orygate").chain(args.iter().copied()))
    }

    #[test]
    fn the_defaults_are_a_valid_bounded_run() {
        let opts = Options::defaults();
        assert_eq!(opts.validate().unwrap().to_string(), DEFAULT_MIX);
        assert!(opts.duration <= Duration::from_secs(30));
    }

    #[test]
    fn bad_input_is_refused_with_a_reason() {
        let err = |args: &[&str]| options(args).validate().unwrap_err().to_string();
        assert!(err(&["--users", "0"]).contains("at least 1"));
        assert!(err(&["--duration", "0s"]).contains("longer than zero"));
        assert!(err(&["--profile", "nope"]).contains("unknown profile"));
        assert!(err(&["--mix", "whoami=a"]).contains("whole number"));
        assert!(
            err(&["--users", "2", "--mix", "whoami=1,login=1,signup=1"]).contains("3 profiles")
        );
        assert!(err(&["--duration", "3h"]).contains("longer than orygate runs"));
        assert!(
            err(&["--kratos-url", "https://project.projects.oryapis.com/"])
                .contains("--allow-ory-network")
        );
        assert!(
            options(&[
                "--kratos-url",
                "https://x.projects.oryapis.com",
                "--allow-ory-network"
            ])
            .validate()
            .is_ok()
        );
        assert!(
            Options::try_parse_from(["orygate", "--profile", "whoami", "--mix", "login=1"])
                .is_err()
        );
        assert!(Options::try_parse_from(["orygate", "--duration", "soon"]).is_err());
        assert!(err(&["--min-ready", "0"]).contains("--min-ready is a percentage"));
        assert!(err(&["--min-ready", "101"]).contains("--min-ready is a percentage"));
        assert!(err(&["--start-attempts", "0"]).contains("at least 1"));
        assert!(err(&["--setup-timeout", "0s"]).contains("longer than zero"));
        let slow = err(&[
            "-u",
            "100",
            "--increase-rate",
            "0.5",
            "--setup-timeout",
            "1m",
        ]);
        assert!(
            slow.contains("100 users at --increase-rate 0.5 take 200 s to launch, longer than --setup-timeout 1m"),
            "{slow}"
        );
    }

    #[test]
    fn the_setup_defaults_are_the_policy_defaults() {
        let policy = Options::defaults().setup_policy();
        let default = crate::setup::Policy::default();
        assert_eq!(policy.attempts, default.attempts);
        assert_eq!(policy.concurrency, default.concurrency);
        assert!((policy.min_ready_percent - default.min_ready_percent).abs() < f64::EPSILON);
        assert_eq!(policy.timeout, default.timeout);
    }
}
