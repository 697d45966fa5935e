//! Sentences every format shares: the verdict and what ran.

use std::fmt::Write as _;

use crate::document::Results;

/// A number of a comparison with two decimals, or `-` when there is none.
pub fn number(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.2}"))
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
