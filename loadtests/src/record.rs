//! What a load run measures, kept by orygate itself: per step, every
//! request's latency in an `HdrHistogram` (and one per second for the
//! timeline), the answers by status, and the failures by kind. Goose runs
//! the users; the numbers are these, from the moment every user has
//! started until the run ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reports::document::StepSummary;
use reports::merge::{empty_interval, empty_step, refresh};

/// The run's measurements.
#[derive(Debug, Default)]
pub struct Recorder {
    since: OnceLock<Instant>,
    until: OnceLock<Instant>,
    steps: Mutex<HashMap<String, Record>>,
}

#[derive(Debug)]
struct Record {
    summary: StepSummary,
    statuses: BTreeMap<u16, u64>,
    errors: BTreeMap<String, u64>,
}

/// What became of one request.
#[derive(Debug, Clone, Copy)]
pub struct Outcome<'a> {
    /// How long it took; `None` when nothing was sent (a flow that failed
    /// before its request).
    pub latency: Option<Duration>,
    pub status: Option<u16>,
    /// The kind of failure (`HTTP 401 (session_inactive)`), or `None`.
    pub error: Option<&'a str>,
}

impl Recorder {
    /// The measured part begins (once; later calls change nothing).
    pub fn start(&self, now: Instant) {
        let _ = self.since.set(now);
    }

    /// The measured part is over: nothing is recorded after this.
    pub fn stop(&self, now: Instant) {
        let _ = self.until.set(now);
    }

    pub fn measuring(&self) -> bool {
        self.since.get().is_some() && self.until.get().is_none()
    }

    /// Seconds from the start to the stop (or to now).
    pub fn seconds(&self) -> f64 {
        let Some(since) = self.since.get() else {
            return 0.0;
        };
        let until = self.until.get().copied().unwrap_or_else(Instant::now);
        until.saturating_duration_since(*since).as_secs_f64()
    }

    /// Records a request of `step` that ended `at`; returns whether it was
    /// recorded (it was, unless outside the measured part).
    pub fn record(&self, step: &str, at: Instant, outcome: Outcome<'_>) -> bool {
        let Some(since) = self.since.get() else {
            return false;
        };
        if self.until.get().is_some() || at < *since {
            return false;
        }
        let second = u32::try_from(at.duration_since(*since).as_secs()).unwrap_or(u32::MAX);
        let mut steps = self.steps.lock().expect("recorder lock");
        let record = if let Some(r) = steps.get_mut(step) {
            r
        } else {
            steps.entry(step.to_owned()).or_insert_with(|| Record {
                summary: empty_step(step),
                statuses: BTreeMap::new(),
                errors: BTreeMap::new(),
            })
        };
        let s = &mut record.summary;
        s.requests += 1;
        let interval = match s.timeline.last_mut() {
            Some(last) if last.second == second => last,
            _ => {
                // Requests end out of order by a little: find its second.
                let i = s.timeline.partition_point(|i| i.second < second);
                if s.timeline.get(i).is_none_or(|i| i.second != second) {
                    s.timeline.insert(i, empty_interval(second));
                }
                &mut s.timeline[i]
            }
        };
        interval.requests += 1;
        if let Some(latency) = outcome.latency {
            interval.latency.record(latency);
            s.latency.record(latency);
        }
        if let Some(error) = outcome.error {
            interval.failures += 1;
            s.failures += 1;
            *record.errors.entry(error.to_owned()).or_default() += 1;
        }
        if let Some(status) = outcome.status {
            *record.statuses.entry(status).or_default() += 1;
        }
        true
    }

    /// A request of `step`, recorded as a success when it ended `at`,
    /// turned out a failure (the flow found it later: a form back with
    /// errors after its 303); the failure counts in that request's second.
    pub fn overturn(&self, step: &str, at: Instant, error: &str) {
        let Some(since) = self.since.get() else {
            return;
        };
        let second = u32::try_from(at.saturating_duration_since(*since).as_secs()).unwrap_or(0);
        let mut steps = self.steps.lock().expect("recorder lock");
        if let Some(record) = steps.get_mut(step) {
            record.summary.failures += 1;
            *record.errors.entry(error.to_owned()).or_default() += 1;
            if let Some(interval) = record
                .summary
                .timeline
                .iter_mut()
                .find(|i| i.second == second)
            {
                interval.failures += 1;
            }
        }
    }

    /// Every step, sorted by name, with percentiles and rates over the
    /// measured seconds.
    pub fn summaries(&self) -> Vec<StepSummary> {
        let seconds = self.seconds();
        let steps = self.steps.lock().expect("recorder lock");
        let mut out: Vec<StepSummary> = steps
            .values()
            .map(|r| {
                let mut s = r.summary.clone();
                s.statuses = r.statuses.iter().map(|(k, v)| (*k, *v)).collect();
                s.errors = r.errors.iter().map(|(k, v)| (k.clone(), *v)).collect();
                s.errors
                    .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
                refresh(&mut s, seconds);
                s
            })
            .collect();
        out.sort_by(|a, b| a.step.cmp(&b.step));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(ms: u64) -> Outcome<'static> {
        Outcome {
            latency: Some(Duration::from_millis(ms)),
            status: Some(200),
            error: None,
        }
    }

    #[test]
    fn only_the_measured_part_counts() {
        let r = Recorder::default();
        let t0 = Instant::now();
        assert!(!r.record("s", t0, ok(1)), "before the start");
        r.start(t0);
        assert!(r.record("s", t0 + Duration::from_millis(10), ok(2)));
        assert!(r.record("s", t0 + Duration::from_millis(2500), ok(4)));
        assert!(
            r.record("s", t0 + Duration::from_millis(900), ok(3)),
            "late, out of order"
        );
        r.stop(t0 + Duration::from_secs(3));
        assert!(
            !r.record("s", t0 + Duration::from_secs(4), ok(1)),
            "after the stop"
        );
        let s = &r.summaries()[0];
        assert_eq!(s.requests, 3);
        let seconds: Vec<(u32, u64)> = s.timeline.iter().map(|i| (i.second, i.requests)).collect();
        assert_eq!(seconds, [(0, 2), (2, 1)]);
        assert!((s.rps - 1.0).abs() < 1e-9, "3 requests over 3 s: {}", s.rps);
        assert!((s.p50_ms - 3.0).abs() < 0.01, "{}", s.p50_ms);
        assert_eq!(s.statuses, [(200, 3)]);
    }

    #[test]
    fn failures_count_by_kind_and_an_overturn_keeps_the_latency() {
        let r = Recorder::default();
        let t0 = Instant::now();
        r.start(t0);
        let failed = Outcome {
            latency: None,
            status: None,
            error: Some("connection refused"),
        };
        r.record("s", t0, ok(5));
        r.record("s", t0, failed);
        r.overturn("s", t0, "flow rejected (4000006)");
        let s = &r.summaries()[0];
        assert_eq!((s.requests, s.failures), (2, 2));
        assert_eq!(s.latency.len(), 1, "nothing was sent for the second");
        assert_eq!(s.timeline[0].failures, 2);
        assert_eq!(s.errors.len(), 2);
    }
}
