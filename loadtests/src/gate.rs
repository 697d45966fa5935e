//! The baseline gate's options: the saved run to compare with and the
//! thresholds, for a run and for `orygate report`.

use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// The baseline gate's options.
#[derive(Debug, Clone, clap::Args)]
pub struct Gate {
    /// Compare with a saved results document and fail (exit 1) when a
    /// step's p95, p99 or error rate regressed beyond the thresholds.
    #[arg(long, env = "ORYGATE_BASELINE")]
    pub baseline: Option<PathBuf>,

    /// A percentile regresses above this ratio to the baseline...
    #[arg(long, default_value_t = 1.5)]
    pub gate_ratio: f64,

    /// ...and only if it also grew by more than this.
    #[arg(long, default_value = "5ms", value_parser = humantime::parse_duration)]
    pub gate_floor: Duration,

    /// The error rate regresses when it grew by more than these
    /// percentage points.
    #[arg(long, default_value_t = 1.0)]
    pub gate_error_points: f64,

    /// A percentile is compared only when the baseline has at least this
    /// many requests beyond it (10: p95 from 200 requests, p99 from 1,000).
    #[arg(long, default_value_t = 10)]
    pub gate_min_tail: u64,
}

impl Gate {
    pub fn thresholds(&self) -> reports::Thresholds {
        reports::Thresholds {
            ratio: self.gate_ratio,
            floor_ms: self.gate_floor.as_secs_f64() * 1000.0,
            error_points: self.gate_error_points,
            min_tail: self.gate_min_tail,
        }
    }

    /// Reads the baseline, if one was given, to refuse a bad one.
    pub fn check(&self) -> Result<()> {
        if let Some(path) = &self.baseline {
            reports::read(path).map_err(|e| Error::Usage(format!("baseline: {e}")))?;
        }
        Ok(())
    }

    /// Compares `results` with the baseline, if one was given.
    pub fn compare(
        &self,
        results: &reports::document::Results,
    ) -> Result<Option<reports::Comparison>> {
        let Some(path) = &self.baseline else {
            return Ok(None);
        };
        let baseline = reports::read(path).map_err(|e| Error::Usage(format!("baseline: {e}")))?;
        Ok(Some(reports::baseline::compare(
            &baseline,
            &path.display().to_string(),
            results,
            self.thresholds(),
        )))
    }
}
