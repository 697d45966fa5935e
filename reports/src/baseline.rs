//! The baseline gate: a run against a saved one, step by step. A step
//! regresses when its p95 or p99 grew by more than a ratio *and* by more
//! than an absolute floor (a shared 2-core machine moves a 3 ms p99 by
//! 50 % without anything having changed), or when its error rate grew by
//! more than a number of percentage points.

use std::fmt::Write as _;

use crate::comparison::{Comparison, Row, Thresholds, Verdict};
use crate::document::{Results, StepSummary};
use crate::text::number;

/// Compares `now` with `baseline` (read from `source`) step by step.
pub fn compare(baseline: &Results, source: &str, now: &Results, t: Thresholds) -> Comparison {
    let empty = Vec::new();
    let steps = |r: &'_ Results| r.load.as_ref().map_or(&empty, |l| &l.steps).clone();
    let (old, new) = (steps(baseline), steps(now));
    let mut rows = Vec::new();
    for base in &old {
        match new.iter().find(|s| s.step == base.step) {
            Some(current) => rows.extend(step_rows(base, current, t)),
            // A step of failures only (a flow that failed before sending)
            // that is gone is a cleaner run, not a missing step.
            None if base.failures == base.requests => {}
            // A step the baseline saw a few times only (a user signing in
            // again after a retry) says nothing when it is gone: as for
            // its percentiles, too few requests.
            None if base.requests < t.min_tail => rows.push(Row {
                step: base.step.clone(),
                metric: "requests".into(),
                baseline: Some(base.requests as f64),
                now: None,
                ratio: None,
                verdict: Verdict::TooFew,
            }),
            None => rows.push(Row {
                step: base.step.clone(),
                metric: "requests".into(),
                baseline: Some(base.requests as f64),
                now: None,
                ratio: None,
                verdict: Verdict::Missing,
            }),
        }
    }
    for current in new.iter().filter(|s| !old.iter().any(|b| b.step == s.step)) {
        rows.push(Row {
            step: current.step.clone(),
            metric: "requests".into(),
            baseline: None,
            now: Some(current.requests as f64),
            ratio: None,
            verdict: Verdict::New,
        });
    }
    Comparison {
        baseline: source.to_owned(),
        baseline_started_at: baseline.started_at,
        thresholds: t,
        passed: !rows.iter().any(|r| r.verdict.fails()),
        rows,
    }
}

fn step_rows(base: &StepSummary, now: &StepSummary, t: Thresholds) -> Vec<Row> {
    let latency = |metric: &str, quantile: f64, b: f64, n: f64| {
        let enough =
            base.requests as f64 * (1.0 - quantile) >= t.min_tail as f64 - 1e-9 && now.requests > 0;
        let verdict = if !enough {
            Verdict::TooFew
        } else if n > b * t.ratio && n - b > t.floor_ms {
            Verdict::Regressed
        } else if b > n * t.ratio && b - n > t.floor_ms {
            Verdict::Improved
        } else {
            Verdict::Pass
        };
        Row {
            step: now.step.clone(),
            metric: metric.into(),
            baseline: Some(b),
            now: Some(n),
            ratio: (b > 0.0).then(|| n / b),
            verdict,
        }
    };
    let (b, n) = (base.error_rate() * 100.0, now.error_rate() * 100.0);
    let errors = Row {
        step: now.step.clone(),
        metric: "errors %".into(),
        baseline: Some(b),
        now: Some(n),
        ratio: (b > 0.0).then(|| n / b),
        verdict: if n - b > t.error_points {
            Verdict::Regressed
        } else if b - n > t.error_points {
            Verdict::Improved
        } else {
            Verdict::Pass
        },
    };
    vec![
        latency("p95 ms", 0.95, base.p95_ms, now.p95_ms),
        latency("p99 ms", 0.99, base.p99_ms, now.p99_ms),
        errors,
    ]
}

/// The comparison as a terminal table: failing rows first.
pub fn render(c: &Comparison) -> String {
    let mut rows: Vec<&Row> = c.rows.iter().collect();
    rows.sort_by_key(|r| !r.verdict.fails());
    let width = rows.iter().map(|r| r.step.len()).max().unwrap_or(4).max(4);
    let mut out = format!(
        "baseline {} (p95/p99 regress above {}× and +{} ms; errors above +{} points; a percentile compared with {} baseline requests beyond it)\n",
        c.baseline,
        c.thresholds.ratio,
        c.thresholds.floor_ms,
        c.thresholds.error_points,
        c.thresholds.min_tail
    );
    let _ = writeln!(
        out,
        "{:<width$}  {:<8}  {:>9}  {:>9}  {:>6}  verdict",
        "step", "metric", "baseline", "now", "ratio"
    );
    for r in rows {
        let _ = writeln!(
            out,
            "{:<width$}  {:<8}  {:>9}  {:>9}  {:>6}  {}",
            r.step,
            r.metric,
            number(r.baseline),
            number(r.now),
            number(r.ratio),
            r.verdict.label()
        );
    }
    let _ = writeln!(
        out,
        "baseline gate: {}",
        if c.passed {
            "passed".to_owned()
        } else {
            format!("FAILED ({} rows)", c.failing().count())
        }
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::merge::{empty_step, refresh};
    use std::time::Duration as D;

    fn step(name: &str, ms: &[u64], failures: u64) -> StepSummary {
        let mut s = empty_step(name);
        for m in ms {
            s.latency.record(D::from_micros(*m * 1000));
        }
        s.requests = ms.len() as u64;
        s.failures = failures;
        refresh(&mut s, 10.0);
        s
    }

    fn rows_of(base: &StepSummary, now: &StepSummary) -> Vec<(String, Verdict)> {
        step_rows(base, now, Thresholds::default())
            .into_iter()
            .map(|r| (r.metric, r.verdict))
            .collect()
    }

    #[test]
    fn a_slower_step_regresses_only_beyond_ratio_and_floor() {
        let fast: Vec<u64> = (0..1000).map(|i| 2 + i % 3).collect();
        // 3 ms to 6 ms: twice as slow but only 3 ms more: noise here.
        let doubled: Vec<u64> = fast.iter().map(|m| m * 2).collect();
        // 3 ms to 60 ms: beyond both.
        let slow: Vec<u64> = fast.iter().map(|m| m * 20).collect();
        let pass = rows_of(&step("s", &fast, 0), &step("s", &doubled, 0));
        assert!(pass.iter().all(|(_, v)| *v == Verdict::Pass), "{pass:?}");
        let fail = rows_of(&step("s", &fast, 0), &step("s", &slow, 0));
        assert_eq!(fail[0], ("p95 ms".into(), Verdict::Regressed));
        assert_eq!(fail[1], ("p99 ms".into(), Verdict::Regressed));
        let better = rows_of(&step("s", &slow, 0), &step("s", &fast, 0));
        assert_eq!(better[1].1, Verdict::Improved);
    }

    #[test]
    fn errors_regress_by_points_and_few_requests_are_not_compared() {
        let ms: Vec<u64> = vec![3; 200];
        let rows = rows_of(&step("s", &ms, 0), &step("s", &ms, 4)); // 2 %
        assert_eq!(rows[2], ("errors %".into(), Verdict::Regressed));
        let rows = rows_of(&step("s", &ms, 0), &step("s", &ms, 1)); // 0.5 %
        assert_eq!(rows[2].1, Verdict::Pass);
        let rows = rows_of(&step("s", &[3; 10], 0), &step("s", &[300; 10], 0));
        assert_eq!(rows[1].1, Verdict::TooFew, "a baseline of 10 requests");
        // A slower server that answered fewer requests is still compared.
        let rows = rows_of(&step("s", &[3; 1000], 0), &step("s", &[300; 10], 0));
        assert_eq!(rows[1].1, Verdict::Regressed);
        // 10 requests beyond a percentile: p95 from 200 requests, p99 from 1,000.
        let rows = rows_of(&step("s", &[3; 200], 0), &step("s", &[300; 200], 0));
        assert_eq!(
            (rows[0].1, rows[1].1),
            (Verdict::Regressed, Verdict::TooFew)
        );
    }

    #[test]
    fn a_step_of_failures_only_may_go_and_any_other_may_not() {
        let mut base = crate::sample::results(&[("s", vec![3_000; 100], 0)]);
        let flow = {
            let mut f = step("kratos FLOW /x", &[], 0);
            f.requests = 2;
            f.failures = 2;
            f
        };
        base.load.as_mut().unwrap().steps.push(flow);
        let now = crate::sample::results(&[("s", vec![3_000; 100], 0)]);
        let c = compare(&base, "base.json", &now, Thresholds::default());
        assert!(c.passed, "{}", render(&c));
        let empty = crate::sample::results(&[]);
        let c = compare(&base, "base.json", &empty, Thresholds::default());
        assert!(!c.passed);
        assert_eq!(c.failing().next().unwrap().verdict, Verdict::Missing);
    }

    #[test]
    fn a_step_the_baseline_saw_a_few_times_may_go() {
        // One logout among a whoami run's requests, as a user signing in
        // again leaves it; 9 < the 10 requests a comparison needs.
        let base =
            crate::sample::results(&[("s", vec![3_000; 100], 0), ("once", vec![3_000; 9], 0)]);
        let now = crate::sample::results(&[("s", vec![3_000; 100], 0)]);
        let c = compare(&base, "base.json", &now, Thresholds::default());
        assert!(c.passed, "{}", render(&c));
        let row = c.rows.iter().find(|r| r.step == "once").unwrap();
        assert_eq!(row.verdict, Verdict::TooFew);
        // Ten or more, and it is missing.
        let base =
            crate::sample::results(&[("s", vec![3_000; 100], 0), ("often", vec![3_000; 10], 0)]);
        let c = compare(&base, "base.json", &now, Thresholds::default());
        assert!(!c.passed);
    }
}
