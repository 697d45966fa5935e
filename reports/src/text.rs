//! Sentences every format shares: the verdict and what ran.

use std::fmt::Write as _;

use crate::document::{LoadResults, Results, StepSummary, SweepStep};

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
/// The setup phase in one sentence: how many users were ready, how long
/// it took, the starts tried again and the users left out with the first
/// cause (a version 2 document, which has no setup, says nothing).
pub fn setup_line(load: &LoadResults) -> Option<String> {
    let setup = &load.setup;
    if setup.ready == 0 && load.setup_failures == 0 {
        return None;
    }
    let mut line = format!(
        "Setup: {} users ready in {:.1} s (launched over {:.1} s)",
        setup.ready, setup.seconds, setup.ramp_s
    );
    if setup.retries > 0 {
        let _ = write!(line, ", {} starts tried again", setup.retries);
    }
    if load.setup_failures > 0 {
        let _ = write!(
            line,
            "; {} left out of the window, the first because: {}",
            load.setup_failures,
            load.first_setup_error.as_deref().unwrap_or("?")
        );
    }
    line.push('.');
    Some(line)
}

/// The window measured, against the one asked when the document says
/// (version 3): `3.00 s measured of 3.00 s asked`.
pub fn measured(load: &LoadResults) -> String {
    if load.asked_s > 0.0 {
        format!(
            "{:.2} s measured of {:.2} s asked",
            load.measured_s, load.asked_s
        )
    } else {
        format!("{:.2} s measured", load.measured_s)
    }
}

/// The measured window against the one asked, when it fell short.
pub fn short_window_line(load: &LoadResults) -> Option<String> {
    load.short_window
        .as_ref()
        .map(|why| format!("The measured window cannot stand for the one asked: {why}"))
}

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
        if r.pooled {
            let _ = write!(
                text,
                " Pooled from {} separate runs (not the shards of one).",
                r.merged_from.len()
            );
        } else {
            let _ = write!(text, " Merged from {} shards.", r.merged_from.len());
        }
        if let Some(skew) = r.window_skew_s {
            let _ = write!(text, " Their measured windows opened {skew:.2} s apart.");
        }
    }
    text
}

/// Text for HTML.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
