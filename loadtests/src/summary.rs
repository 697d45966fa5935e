//! Per-step results of a load run, from Goose's metrics: counts, errors by
//! kind, throughput and latency percentiles.

use std::fmt::Write as _;

use goose::goose::GooseMethod;
use goose::metrics::{GooseMetrics, GooseRequestMetricAggregate};
use serde::Serialize;

/// One step's numbers. Times are in milliseconds.
#[derive(Debug, Clone, Serialize)]
pub struct StepSummary {
    /// `kratos GET /sessions/whoami`, as in the flow tests.
    pub step: String,
    pub requests: usize,
    pub failures: usize,
    pub rps: f64,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Answers by status code.
    pub statuses: Vec<(u16, usize)>,
    /// Failures by kind (`HTTP 401 (session_inactive)`, `flow rejected
    /// (4000006)`, `connection refused`).
    pub errors: Vec<(String, usize)>,
}

/// The label Goose shows before a request's name: the HTTP method, or a
/// custom one (`WAIT`, `FLOW`).
fn method_label(method: GooseMethod, custom: &str) -> String {
    if method == GooseMethod::Custom {
        custom.to_owned()
    } else {
        method.to_string()
    }
}

/// The step name of a Goose aggregate: Goose keys requests by method and
/// the name orygate gave (`kratos /sessions/whoami`), and this puts the
/// method back after the service.
fn step_name(aggregate: &GooseRequestMetricAggregate) -> String {
    let method = method_label(aggregate.method, &aggregate.custom_method);
    match aggregate.path.split_once(' ') {
        Some((service, target)) => format!("{service} {method} {target}"),
        None => format!("{method} {}", aggregate.path),
    }
}

/// Every step of the run, sorted by name (Goose does not keep the order a
/// journey takes them in).
/// `overturned`: Goose's error verdicts the transport overturned (by
/// request name and error text), left out of the errors.
pub fn steps(
    metrics: &GooseMetrics,
    seconds: f64,
    overturned: &std::collections::BTreeMap<(String, String), usize>,
) -> Vec<StepSummary> {
    let mut steps: Vec<StepSummary> = metrics
        .requests
        .values()
        .map(|aggregate| {
            let name = step_name(aggregate);
            let times = &aggregate.raw_data;
            let ms = |us: u64| us as f64 / 1000.0;
            let requests = aggregate.success_count + aggregate.fail_count;
            let label = method_label(aggregate.method, &aggregate.custom_method);
            let mut statuses: Vec<(u16, usize)> = aggregate
                .status_code_counts
                .iter()
                .map(|(s, n)| (*s, *n))
                .collect();
            statuses.sort_unstable();
            let mut errors: Vec<(String, usize)> = metrics
                .errors
                .values()
                .filter(|e| {
                    e.name == aggregate.path && method_label(e.method, &e.custom_method) == label
                })
                .map(|e| {
                    let undone = overturned
                        .get(&(e.name.clone(), e.error.clone()))
                        .copied()
                        .unwrap_or(0);
                    (e.error.clone(), e.occurrences.saturating_sub(undone))
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            errors.sort_by_key(|e| std::cmp::Reverse(e.1));
            StepSummary {
                failures: aggregate.fail_count,
                step: name,
                requests,
                rps: requests as f64 / seconds.max(1e-9),
                p50_ms: ms(times.percentile_us(0.50)),
                p95_ms: ms(times.percentile_us(0.95)),
                p99_ms: ms(times.percentile_us(0.99)),
                max_ms: ms(times.maximum_time_us),
                statuses,
                errors,
            }
        })
        .collect();
    steps.sort_by(|a, b| a.step.cmp(&b.step));
    steps
}

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
