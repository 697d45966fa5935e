//! The terminal's summary of a load run: one line per step, then the
//! failures by kind. The numbers are the recorder's.

use std::fmt::Write as _;

use reports::document::StepSummary;

/// The open model's `ROUND` steps (one per profile of the mix), the
/// rounds timed from their intended start.
pub fn rounds(steps: &[StepSummary]) -> impl Iterator<Item = &StepSummary> {
    steps
        .iter()
        .filter(|s| s.step.contains(crate::profiles::ROUND_METHOD))
}

/// The summary table, one line per step, then the failures by kind.
pub fn render(steps: &[StepSummary]) -> String {
    let width = steps.iter().map(|s| s.step.len()).max().unwrap_or(4).max(4);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<width$}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}  {:>8}",
        "step", "requests", "failures", "rps", "p50 ms", "p95 ms", "p99 ms", "max ms"
    );
    for s in steps {
        let _ = writeln!(
            out,
            "{:<width$}  {:>8}  {:>8}  {:>8.1}  {:>8.2}  {:>8.2}  {:>8.2}  {:>8.2}",
            s.step, s.requests, s.failures, s.rps, s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms
        );
    }
    let (requests, failures) = steps
        .iter()
        .fold((0, 0), |(r, f), s| (r + s.requests, f + s.failures));
    let rps: f64 = steps.iter().map(|s| s.rps).sum();
    let _ = writeln!(
        out,
        "{:<width$}  {requests:>8}  {failures:>8}  {rps:>8.1}",
        "all steps"
    );
    let failing: Vec<&StepSummary> = steps.iter().filter(|s| !s.errors.is_empty()).collect();
    if !failing.is_empty() {
        out.push_str("\nfailures by step and kind:\n");
        for s in failing {
            for (kind, n) in &s.errors {
                let _ = writeln!(out, "  {n:>6} × {kind}  ({})", s.step);
            }
        }
    }
    out
}
