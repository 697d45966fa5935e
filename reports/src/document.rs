//! The results document: one per run (or per merge of shards), JSON with a
//! schema name and version that a reader checks before anything else.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::latency::Latency;

/// The document's kind and version: a reader checks both. Version 2 added
/// the latency histograms, the timelines, shards and the baseline; version
/// 3 the window asked for, the setup phase and a short window's reason;
/// version 4 the document's and the run's ids, when the window opened,
/// and for a merge whether it pooled separate runs and how far apart its
/// parts' windows opened (an older document reads with those empty).
pub const SCHEMA: &str = "orygate-results";
pub const VERSION: u32 = 4;
/// The oldest version this build reads.
pub const OLDEST_VERSION: u32 = 2;

/// A run: its settings, the machine, the smoke, the load or a sweep.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Results {
    /// Always `orygate-results`.
    pub schema: String,
    pub version: u32,
    /// Seconds since the Unix epoch when the run started (the earliest
    /// shard's for a merge).
    pub started_at: u64,
    pub settings: Settings,
    pub machine: Machine,
    /// Every flow once, before the load.
    pub smoke: Vec<SmokeResult>,
    pub load: Option<LoadResults>,
    /// A capacity sweep's rates, when one ran instead of a single load.
    pub sweep: Option<Sweep>,
    /// No smoke flow failed and no load step or user start failed.
    pub passed: bool,
    /// Ctrl-C or SIGTERM stopped the load before its time: the results
    /// cover what ran until then.
    pub interrupted: bool,
    /// The shards this document was merged from; empty for one process.
    #[serde(default)]
    pub merged_from: Vec<ShardRun>,
    /// This document's own id, random: a merge refuses one document
    /// given twice. Empty in a document older than it.
    #[serde(default)]
    pub document_id: String,
    /// A merge of separate runs (`orygate report merge --pool`), not of
    /// the shards of one.
    #[serde(default)]
    pub pooled: bool,
    /// For a merge: how far apart its parts' measured windows opened, in
    /// seconds (none when a part does not say when its opened).
    #[serde(default)]
    pub window_skew_s: Option<f64>,
    /// The run against a saved baseline, when it was gated.
    #[serde(default)]
    pub baseline: Option<crate::comparison::Comparison>,
}

impl Results {
    /// Passed, and passed its baseline gate if it had one.
    pub fn gate_passed(&self) -> bool {
        self.passed && self.baseline.as_ref().is_none_or(|c| c.passed)
    }
}

/// What the run was asked to do.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Settings {
    /// The profiles and their weights, `whoami=90,login=10`.
    pub mix: String,
    /// Virtual users (all shards' together for a merge).
    pub users: usize,
    pub increase_rate: Option<f64>,
    /// Rounds per second of the open model, if one was asked for.
    pub rate: Option<f64>,
    /// A capacity sweep's FROM:STEP:TO, if one ran.
    pub sweep: Option<String>,
    /// Identities created before the run besides the users' own.
    #[serde(default)]
    pub identities: usize,
    pub duration_s: f64,
    pub request_timeout_s: f64,
    /// The stack or deployment, with versions.
    pub target: String,
    pub kratos_version: String,
    /// Settings given to a fresh stack's Kratos (`KEY=VALUE`).
    #[serde(default)]
    pub kratos_env: Vec<String>,
    /// Settings given to a fresh stack's Oathkeeper (`KEY=VALUE`).
    #[serde(default)]
    pub oathkeeper_env: Vec<String>,
    /// The Oathkeeper the gateway profiles went through, and whether its
    /// authenticators cache (`oauth2_introspection`'s `cache.enabled`).
    #[serde(default)]
    pub oathkeeper: Option<String>,
    /// This process's share of a run on several machines.
    #[serde(default)]
    pub shard: Option<Shard>,
    /// The run this document is part of (`--run-id`): the shards of one
    /// run share it, and a merge refuses documents of different runs.
    #[serde(default)]
    pub run_id: Option<String>,
}

/// A fresh document id: 128 random bits, hex.
pub fn new_document_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// Shard `index` of `count` (from 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `2/4`: the second of four.
    fn from_str(text: &str) -> Result<Self, String> {
        let bad = || format!("{text:?} is not a shard: write i/n, e.g. 1/2 (i from 1 to n)");
        let (i, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = i.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || count == 0 || index > count {
            return Err(bad());
        }
        Ok(Self { index, count })
    }
}

impl Shard {
    /// This shard's share of `total` (users or rounds per second): an
    /// even split, the first shards taking one more of what is left over.
    pub fn share(self, total: usize) -> usize {
        let n = self.count as usize;
        let i = self.index as usize;
        total / n + usize::from(i <= total % n)
    }
}

/// One shard of a merged run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct ShardRun {
    pub shard: Option<Shard>,
    #[serde(default)]
    pub document_id: String,
    pub started_at: u64,
    /// When its measured window opened, ms since the Unix epoch.
    #[serde(default)]
    pub window_opened_at_ms: Option<u64>,
    pub users: usize,
    pub cpu: String,
    pub passed: bool,
}

/// The machine the generator ran on.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
}

impl Machine {
    /// This machine: its cores and CPU model.
    pub fn here() -> Self {
        let cpu = <procfs::CpuInfo as procfs::Current>::current()
            .ok()
            .and_then(|info| info.model_name(0).map(str::to_owned))
            .unwrap_or_else(|| "unknown".into());
        Self {
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu,
        }
    }
}

/// How one flow of the smoke went.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SmokeResult {
    pub flow: String,
    pub outcome: Outcome,
    pub millis: u64,
}

impl SmokeResult {
    pub fn failed(&self) -> bool {
        matches!(self.outcome, Outcome::Failed { .. })
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    Passed,
    Failed {
        step: Option<String>,
        status: Option<u16>,
        ory_id: Option<String>,
        /// The error, and the end of the service's log when the run
        /// started the stack.
        message: String,
    },
    /// The target cannot run this flow (no mail sink, no admin URL).
    Skipped {
        reason: String,
    },
}

/// The measured part of a load run.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct LoadResults {
    /// With `--rate`: the rounds per second asked and achieved.
    pub open_model: Option<Achieved>,
    /// The measured window: it opens once every user is ready and lasts
    /// `asked_s` unless the run was stopped or cut short.
    pub measured_s: f64,
    /// When the measured window opened, in milliseconds since the Unix
    /// epoch: the shards of one run are compared by it.
    #[serde(default)]
    pub window_opened_at_ms: Option<u64>,
    /// The window asked for (`--duration`); 0 in a version 2 document.
    #[serde(default)]
    pub asked_s: f64,
    /// Why the measured window cannot stand for the one asked (shorter by
    /// more than the tolerance, or too few requests): the run failed.
    #[serde(default)]
    pub short_window: Option<String>,
    /// The whole load run, with the setup and the users' stop.
    pub wall_s: f64,
    /// Per step, sorted by name.
    pub steps: Vec<StepSummary>,
    /// The users' unmeasured start, before the window.
    #[serde(default)]
    pub setup: SetupPhase,
    /// Users left out of the window because their start (sign-up, login)
    /// failed after its tries, and the first such error.
    pub setup_failures: u64,
    pub first_setup_error: Option<String>,
    pub mail: Option<MailCounts>,
    pub generator: Generator,
}

/// The setup phase: every user gets its account and session (or its
/// client, its relationships) before the window opens.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, JsonSchema)]
pub struct SetupPhase {
    /// The ramp: Goose launched the users over this many seconds
    /// (`--users` over `--increase-rate`).
    #[serde(default)]
    pub ramp_s: f64,
    /// From the first user's launch until the window opened (or the run
    /// gave up), the ramp included.
    pub seconds: f64,
    /// Users ready when the window opened.
    pub ready: u64,
    /// Starts tried again after a transient failure (no answer, 5xx, 429).
    pub retries: u64,
}

/// One step's numbers over the measured part. Times in milliseconds.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct StepSummary {
    /// `kratos GET /sessions/whoami`, as in the flow tests.
    pub step: String,
    pub requests: u64,
    pub failures: u64,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers by status code.
    pub statuses: Vec<(u16, u64)>,
    /// Failures by kind (`HTTP 401 (session_inactive)`, `flow rejected
    /// (4000006)`, `connection refused`), most frequent first.
    pub errors: Vec<(String, u64)>,
    /// Every timed request of the step (3 significant digits).
    pub latency: Latency,
    /// Second by second from the start of the measured part.
    pub timeline: Vec<Interval>,
}

impl StepSummary {
    /// Failures over requests (0 without requests).
    pub fn error_rate(&self) -> f64 {
        if self.requests == 0 {
            0.0
        } else {
            self.failures as f64 / self.requests as f64
        }
    }
}

/// Whether `step` is an HTTP request (`kratos GET /x`), not an open-model
/// round (`whoami ROUND ...`), a wait (`mail WAIT code`) or a failure
/// found before sending (`kratos FLOW /x`).
pub fn is_request(step: &str) -> bool {
    !step
        .split(' ')
        .nth(1)
        .is_some_and(|method| matches!(method, "ROUND" | "WAIT" | "FLOW"))
}

/// One second of a step.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Interval {
    /// Seconds from the start of the measured part.
    pub second: u32,
    pub requests: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// This second's timed requests (2 significant digits).
    pub latency: Latency,
}

/// The rate asked and the rate a run achieved.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Achieved {
    pub asked_per_s: f64,
    pub achieved_per_s: f64,
}

impl Achieved {
    pub fn new(asked_per_s: f64, completed: u64, seconds: f64) -> Self {
        Self {
            asked_per_s,
            achieved_per_s: completed as f64 / seconds.max(1e-9),
        }
    }

    /// Achieved over asked.
    pub fn ratio(&self) -> f64 {
        self.achieved_per_s / self.asked_per_s
    }
}

/// What the stack's mail sink received, handed out and dropped.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct MailCounts {
    pub delivered: u64,
    pub collected: u64,
    pub waiting: u64,
    pub dropped: u64,
}

/// The generator's own cost.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, JsonSchema)]
pub struct Generator {
    /// User and system CPU of the orygate process during the load.
    pub cpu_seconds: f64,
    pub cores_busy: f64,
    /// Over every request sent while the load ran (the users' starts too).
    pub cpu_us_per_request: f64,
    /// Requests sent while the load ran.
    #[serde(default)]
    pub requests: u64,
    /// Peak resident memory of the process (`VmHWM`).
    pub peak_rss_mib: f64,
}

/// What a rate must keep to count as served.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Objective {
    /// The rounds' p99 from their intended start, at most.
    pub p99_ms: f64,
    /// Failed rounds over all rounds, at most (0.01 is 1 %).
    pub error_budget: f64,
    /// Achieved over asked, at least: a deployment that cannot keep the
    /// rate does not serve it.
    pub min_achieved: f64,
}

impl Objective {
    pub fn new(p99: std::time::Duration, error_budget_percent: f64) -> Self {
        Self {
            p99_ms: p99.as_secs_f64() * 1000.0,
            error_budget: error_budget_percent / 100.0,
            min_achieved: 0.95,
        }
    }
}

/// One rate of a sweep.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct SweepStep {
    pub asked_per_s: f64,
    pub achieved_per_s: f64,
    pub rounds: u64,
    pub failures: u64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    /// The objective and the budget held at this rate.
    pub holds: bool,
}

impl SweepStep {
    /// The step at `asked` per second from the open model's round steps
    /// of its run (one per profile; the worst percentiles count) over the
    /// `seconds` the schedule ran.
    pub fn from_rounds(
        asked: f64,
        rounds: &[&StepSummary],
        seconds: f64,
        objective: &Objective,
    ) -> Self {
        let worst = |f: fn(&StepSummary) -> f64| rounds.iter().map(|s| f(s)).fold(0.0, f64::max);
        let count: u64 = rounds.iter().map(|s| s.requests).sum();
        let failures: u64 = rounds.iter().map(|s| s.failures).sum();
        let achieved = count as f64 / seconds.max(1e-9);
        let mut step = Self {
            asked_per_s: asked,
            achieved_per_s: achieved,
            rounds: count,
            failures,
            p50_ms: worst(|s| s.p50_ms),
            p95_ms: worst(|s| s.p95_ms),
            p99_ms: worst(|s| s.p99_ms),
            holds: false,
        };
        step.holds = count > 0
            && step.p99_ms <= objective.p99_ms
            && (failures as f64) <= objective.error_budget * count as f64
            && achieved >= objective.min_achieved * asked;
        step
    }
}

/// A whole sweep.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Sweep {
    pub objective: Objective,
    pub steps: Vec<SweepStep>,
    /// The highest rate that held, every lower one holding too.
    pub capacity_per_s: Option<f64>,
}

impl Sweep {
    pub fn new(objective: Objective, steps: Vec<SweepStep>) -> Self {
        let capacity_per_s = steps
            .iter()
            .take_while(|s| s.holds)
            .last()
            .map(|s| s.asked_per_s);
        Self {
            objective,
            steps,
            capacity_per_s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_parse_and_split_evenly() {
        let s: Shard = "2/3".parse().unwrap();
        assert_eq!((s.index, s.count), (2, 3));
        for bad in ["0/2", "3/2", "1/0", "1", "a/b"] {
            assert!(bad.parse::<Shard>().is_err(), "{bad}");
        }
        let shares: Vec<usize> = (1..=3)
            .map(|i| Shard { index: i, count: 3 }.share(10))
            .collect();
        assert_eq!(shares, [4, 3, 3]);
        assert_eq!(shares.iter().sum::<usize>(), 10);
    }
}
