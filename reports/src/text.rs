//! Sentences every format shares: the verdict and what ran.

use std::fmt::Write as _;

use crate::document::{Results, StepSummary, SweepStep};

/// A number of a comparison with two decimals, or `-` when there is none.
pub fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
}

/// A step's numbers as the step tables show them: requests, failures, rps,
/// p50, p95, p99 and max ms.
pub fn step_cells(s: &StepSummary) -> [String; 7] {
    [
        s.requests.to_string(),
        s.failures.to_string(),
        format!("{:.1}", s.rps),
        format!("{:.2}", s.p50_ms),
        format!("{:.2}", s.p95_ms),
        format!("{:.2}", s.p99_ms),
        format!("{:.2}", s.max_ms),
    ]
}

/// A sweep step's numbers as the sweep tables show them: asked/s,
/// achieved/s, rounds, failed, p50, p95 and p99 ms.
pub fn sweep_cells(s: &SweepStep) -> [String; 7] {
    [
        format!("{:.1}", s.asked_per_s),
        format!("{:.1}", s.achieved_per_s),
        s.rounds.to_string(),
        s.failures.to_string(),
        format!("{:.2}", s.p50_ms),
        format!("{:.2}", s.p95_ms),
        format!("{:.2}", s.p99_ms),
    ]
}

/// `passed`, `FAILED` or `FAILED against the baseline`, and interrupted.
pub fn verdict(r: &Results) -> String {
    let mut v = if !r.passed {
        "FAILED".to_owned()
    } else if !r.gate_passed() {
        "FAILED against the baseline".to_owned()
    } else {
        "passed".to_owned()
    };
    if r.interrupted {
        v.push_str(" (stopped early)");
    }
    v
}

/// One sentence of settings: what ran, how long, against what, where.
pub fn describe(r: &Results) -> String {
    let s = &r.settings;
    let load = if let Some(sweep) = &s.sweep {
        format!("a capacity sweep {sweep} rounds/s")
    } else if let Some(rate) = s.rate {
        format!("{rate} rounds/s (open model)")
    } else {
        format!("{} users", s.users)
    };
    let mut text = format!(
        "{} with {load}, {} s, against {}; {} cores ({}).",
        s.mix, s.duration_s, s.target, r.machine.cores, r.machine.cpu
    );
    if s.identities > 0 {
        let _ = write!(text, " {} extra identities.", s.identities);
    }
    if let Some(shard) = s.shard {
        let _ = write!(text, " Shard {shard}.");
    }
    if !r.merged_from.is_empty() {
        let _ = write!(text, " Merged from {} shards.", r.merged_from.len());
    }
    text
}
