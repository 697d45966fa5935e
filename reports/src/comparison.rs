//! The types of the baseline gate's comparison of a run with a saved one
//! (computed and rendered in `baseline.rs`), part of the results document.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// When a step counts as regressed.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Thresholds {
    /// Now over baseline, above which a percentile may regress (1.5: half
    /// again as slow).
    pub ratio: f64,
    /// Milliseconds a percentile must also have grown by.
    pub floor_ms: f64,
    /// Percentage points the error rate may grow by (1.0: from 0 % to 1 %).
    pub error_points: f64,
    /// A percentile is compared only when the baseline has at least this
    /// many requests beyond it: with 10, p95 from 200 requests and p99
    /// from 1,000. Fewer, and the percentile is one or two requests, which
    /// a shared machine moves at will. (A run with fewer requests than its
    /// baseline is compared all the same: a slower server answers fewer in
    /// a closed model.)
    pub min_tail: u64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            ratio: 1.5,
            floor_ms: 5.0,
            error_points: 1.0,
            min_tail: 10,
        }
    }
}

impl Thresholds {
    /// The defaults with the floor given as a duration.
    #[must_use]
    pub fn with_floor(mut self, floor: std::time::Duration) -> Self {
        self.floor_ms = floor.as_secs_f64() * 1000.0;
        self
    }
}

/// A row's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Pass,
    Regressed,
    /// Better beyond the thresholds: a baseline to renew.
    Improved,
    /// Too few requests in the baseline to compare its percentiles.
    TooFew,
    /// In the run, not in the baseline.
    New,
    /// In the baseline, not in the run: the flow changed or never ran.
    Missing,
}

impl Verdict {
    pub fn fails(self) -> bool {
        matches!(self, Self::Regressed | Self::Missing)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::Regressed => "REGRESSED",
            Self::Improved => "improved",
            Self::TooFew => "too few requests",
            Self::New => "new step",
            Self::Missing => "MISSING",
        }
    }
}

/// One step and metric, side by side.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Row {
    pub step: String,
    /// `p95 ms`, `p99 ms` or `errors %`.
    pub metric: String,
    pub baseline: Option<f64>,
    pub now: Option<f64>,
    /// Now over baseline, when both are there and the baseline is not 0.
    pub ratio: Option<f64>,
    pub verdict: Verdict,
}

/// A run against its baseline.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
pub struct Comparison {
    /// Where the baseline was read from.
    pub baseline: String,
    pub baseline_started_at: u64,
    pub thresholds: Thresholds,
    pub rows: Vec<Row>,
    /// No row regressed or went missing.
    pub passed: bool,
}

impl Comparison {
    pub fn failing(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict.fails())
    }
}
