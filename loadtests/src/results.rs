//! The results document of a run, written as JSON to the output folder.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, Result};
use crate::load::Generator;
use crate::smoke::SmokeResult;
use crate::summary::StepSummary;

/// The document's kind and version: a reader checks both.
pub const SCHEMA: &str = "orygate-results";
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, Serialize)]
pub struct Results {
    pub schema: &'static str,
    pub version: u32,
    /// Seconds since the Unix epoch when the run started.
    pub started_at: u64,
    pub settings: Settings,
    pub machine: Machine,
    pub smoke: Vec<SmokeResult>,
    pub load: Option<LoadResults>,
    /// A capacity sweep's rates, when one ran instead of a single load.
    pub sweep: Option<crate::sweep::Sweep>,
    /// No smoke flow failed and no load step or user start failed.
    pub passed: bool,
    /// Ctrl-C or SIGTERM stopped the load before its time: the results
    /// cover what ran until then.
    pub interrupted: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Settings {
    pub mix: String,
    pub users: usize,
    pub increase_rate: Option<f64>,
    /// Rounds per second of the open model, if one was asked for.
    pub rate: Option<f64>,
    /// A capacity sweep's FROM:STEP:TO, if one ran.
    pub sweep: Option<String>,
    /// Identities created before the run besides the users' own.
    pub identities: usize,
    pub duration_s: f64,
    pub request_timeout_s: f64,
    pub target: String,
    pub kratos_version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
}

impl Machine {
    pub fn here() -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, model)| model.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
            cpu,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct LoadResults {
    /// With `--rate`: the rounds per second asked and achieved.
    pub open_model: Option<crate::schedule::Achieved>,
    /// The measured part, after every user started.
    pub measured_s: f64,
    pub wall_s: f64,
    pub steps: Vec<StepSummary>,
    /// Users whose unmeasured start (sign-up, login) failed, and the first
    /// such error.
    pub setup_failures: u64,
    pub first_setup_error: Option<String>,
    pub mail: Option<MailCounts>,
    pub generator: Generator,
}

/// What the stack's mail sink received, handed out and dropped.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct MailCounts {
    pub delivered: u64,
    pub collected: u64,
    pub waiting: u64,
    pub dropped: u64,
}

impl From<harness::MailStats> for MailCounts {
    fn from(s: harness::MailStats) -> Self {
        Self {
            delivered: s.delivered,
            collected: s.collected,
            waiting: s.waiting,
            dropped: s.dropped,
        }
    }
}

impl Results {
    /// Writes the document as `<dir>/orygate-<started_at>.json` and returns
    /// its path.
    pub fn write(&self, dir: &Path) -> Result<PathBuf> {
        let io = |context: String| move |source| Error::Io { context, source };
        std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
        let path = dir.join(format!("orygate-{}.json", self.started_at));
        let text = serde_json::to_string_pretty(self).expect("results serialize");
        std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
        Ok(path)
    }
}
