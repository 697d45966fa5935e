//! `JUnit` XML, so CI systems list the smoke flows, the load steps and the
//! baseline gate as tests.

use std::time::Duration;

use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};

use crate::document::{Outcome, Results};
use crate::text::{number, setup_line};

/// The report: suites `smoke`, `load` (a case per step) and `baseline`.
pub fn render(r: &Results) -> String {
    let mut report = Report::new("orygate");
    if !r.smoke.is_empty() {
        let mut suite = TestSuite::new("smoke");
        for s in &r.smoke {
            let status = match &s.outcome {
                Outcome::Passed => TestCaseStatus::success(),
                Outcome::Failed {
                    step,
                    status,
                    ory_id,
                    message,
                } => {
                    let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    st.set_message(
                        [
                            step.clone(),
                            status.map(|s| format!("HTTP {s}")),
                            ory_id.clone(),
                        ]
                        .into_iter()
                        .flatten()
                        .collect::<Vec<_>>()
                        .join(", "),
                    );
                    st.set_description(message.as_str());
                    st
                }
                Outcome::Skipped { reason } => {
                    let mut st = TestCaseStatus::skipped();
                    st.set_message(reason.as_str());
                    st
                }
            };
            let mut case = TestCase::new(s.flow.as_str(), status);
            case.set_time(Duration::from_millis(s.millis));
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if let Some(load) = &r.load {
        let mut suite = TestSuite::new("load");
        for s in &load.steps {
            let status = if s.failures == 0 {
                TestCaseStatus::success()
            } else {
                let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
                st.set_message(format!("{} of {} failed", s.failures, s.requests));
                let kinds: Vec<String> =
                    s.errors.iter().map(|(k, n)| format!("{n} × {k}")).collect();
                st.set_description(kinds.join("\n"));
                st
            };
            let mut case = TestCase::new(s.step.as_str(), status);
            case.set_system_out(format!(
                "{} requests, {:.1} rps, p50 {:.2} ms, p95 {:.2} ms, p99 {:.2} ms",
                s.requests, s.rps, s.p50_ms, s.p95_ms, s.p99_ms
            ));
            suite.add_test_case(case);
        }
        if load.steps.is_empty() {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message("the load measured no request");
            suite.add_test_case(TestCase::new("the load", st));
        }
        if r.interrupted {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message("stopped early (Ctrl-C or SIGTERM): the results cover part of the run");
            suite.add_test_case(TestCase::new("the whole run", st));
        }
        if let Some(why) = &load.short_window {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(why.as_str());
            suite.add_test_case(TestCase::new("the measured window", st));
        }
        if let Some(line) = setup_line(load) {
            // Users left out within --min-ready do not fail the run: the
            // case says so without failing.
            let mut case = TestCase::new("users' start", TestCaseStatus::success());
            case.set_system_out(line);
            suite.add_test_case(case);
        }
        report.add_test_suite(suite);
    }
    if let Some(c) = &r.baseline {
        report.add_test_suite(baseline(c));
    }
    report
        .to_string()
        .expect("a JUnit report of strings serializes")
}

/// A case per row of the baseline comparison.
fn baseline(c: &crate::comparison::Comparison) -> TestSuite {
    let mut suite = TestSuite::new("baseline");
    for row in &c.rows {
        let status = if row.verdict.fails() {
            let mut st = TestCaseStatus::non_success(NonSuccessKind::Failure);
            st.set_message(format!(
                "{}: baseline {}, now {}",
                row.verdict.label(),
                number(row.baseline),
                number(row.now)
            ));
            st
        } else {
            TestCaseStatus::success()
        };
        suite.add_test_case(TestCase::new(
            format!("{} {}", row.step, row.metric),
            status,
        ));
    }
    suite
}
