//! What a load run measures, kept by orygate itself: per step, every
//! request's latency in an `HdrHistogram` (and one per second for the
//! timeline), the answers by status, and the failures by kind. Goose runs
//! the users; the numbers are these, over the measured window (see
//! [`crate::window`]): every request that started inside it, to its end
//! (an answer, or a timeout), and the open model's rounds intended inside
//! it.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use reports::document::StepSummary;
use reports::merge::{empty_interval, empty_step, refresh};

/// The run's measurements.
#[derive(Debug, Default)]
pub struct Recorder {
    window: OnceLock<Span>,
    until: OnceLock<Instant>,
    steps: Mutex<HashMap<String, Record>>,
}

/// The measured window as asked.
#[derive(Debug, Clone, Copy)]
struct Span {
    since: Instant,
    length: Duration,
}

impl Span {
    fn end(self) -> Instant {
        self.since + self.length
    }

    /// The last second of the timeline: a request that ends in the drain
    /// counts in it.
    fn last_second(self) -> u32 {
        let seconds = self.length.as_secs_f64().ceil().max(1.0);
        // Seconds of a bounded run fit in a u32.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let last = seconds as u32 - 1;
        last
    }
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
    /// The window opens `at` for `length`. Once; later calls change
    /// nothing.
    pub fn start(&self, at: Instant, length: Duration) {
        let _ = self.window.set(Span { since: at, length });
    }

    /// Nothing that ends after this is recorded (the drain is over); a
    /// stop before the window's end (Ctrl-C) cuts the window there. Once;
    /// later calls change nothing.
    pub fn stop(&self, at: Instant) {
        let _ = self.until.set(at);
    }

    /// The seconds measured: the window's length, or less when it was cut
    /// (from its start to the stop, or to now while it runs).
    pub fn seconds(&self) -> f64 {
        let Some(window) = self.window.get() else {
            return 0.0;
        };
        let until = self.until.get().copied().unwrap_or_else(Instant::now);
        until
            .min(window.end())
            .saturating_duration_since(window.since)
            .as_secs_f64()
    }

    /// Records a request of `step` that ended `at`; returns whether it was
    /// recorded: it was if it started inside the window (`at` less its
    /// latency, the intended start for an open-model round) and ended
    /// before the recorder stopped.
    pub fn record(&self, step: &str, at: Instant, outcome: Outcome<'_>) -> bool {
        let Some(window) = self.window.get().copied() else {
            return false;
        };
        let started = outcome
            .latency
            .and_then(|latency| at.checked_sub(latency))
            .unwrap_or(at);
        let stopped = self.until.get().is_some_and(|until| at > *until);
        if started < window.since || started > window.end() || stopped {
            return false;
        }
        let second = u32::try_from(at.duration_since(window.since).as_secs())
            .unwrap_or(u32::MAX)
            .min(window.last_second());
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
        let Some(window) = self.window.get() else {
            return;
        };
        let second = u32::try_from(at.saturating_duration_since(window.since).as_secs())
            .unwrap_or(0)
            .min(window.last_second());
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
    fn only_what_started_inside_the_window_counts_to_its_end() {
        let r = Recorder::default();
        let t0 = Instant::now();
        let ms = |ms: u64| t0 + Duration::from_millis(ms);
        assert!(!r.record("s", t0, ok(1)), "before the start");
        r.start(t0, Duration::from_secs(3));
        assert!(!r.record("s", ms(1), ok(2)), "started before the window");
        assert!(r.record("s", ms(10), ok(2)));
        assert!(r.record("s", ms(2500), ok(4)));
        assert!(r.record("s", ms(900), ok(3)), "late, out of order");
        assert!(
            !r.record("s", ms(3003), ok(2)),
            "started after the window (its timer fires late)"
        );
        assert!(
            r.record("s", ms(3001), ok(3)),
            "started inside, ended after"
        );
        r.stop(ms(3002));
        assert!(
            r.record("s", ms(2999), ok(3)),
            "ended inside, recorded after"
        );
        assert!(!r.record("s", ms(3500), ok(1000)), "ended after the stop");
        let s = &r.summaries()[0];
        assert_eq!(s.requests, 5);
        let seconds: Vec<(u32, u64)> = s.timeline.iter().map(|i| (i.second, i.requests)).collect();
        assert_eq!(
            seconds,
            [(0, 2), (2, 3)],
            "one that ended after counts in the last"
        );
        assert!((r.seconds() - 3.0).abs() < 1e-9, "the window, not the stop");
        assert!(
            (s.rps - 5.0 / 3.0).abs() < 1e-9,
            "5 requests over 3 s: {}",
            s.rps
        );
        assert!((s.p50_ms - 3.0).abs() < 0.01, "{}", s.p50_ms);
        assert_eq!(s.statuses, [(200, 5)]);
    }

    #[test]
    fn a_draining_window_keeps_its_last_rounds_in_its_last_second() {
        let r = Recorder::default();
        let t0 = Instant::now();
        let ms = |ms: u64| t0 + Duration::from_millis(ms);
        r.start(t0, Duration::from_millis(2500));
        assert!(r.record("s", ms(2600), ok(400)), "a round that ran over");
        r.stop(ms(2500));
        assert!(!r.record("s", ms(2700), ok(1)), "after the stop");
        let s = &r.summaries()[0];
        assert_eq!(s.timeline.last().map(|i| i.second), Some(2));
        assert!((r.seconds() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_window_stopped_early_measures_until_its_stop() {
        let r = Recorder::default();
        let t0 = Instant::now();
        r.start(t0, Duration::from_secs(10));
        r.stop(t0 + Duration::from_millis(1200));
        assert!((r.seconds() - 1.2).abs() < 1e-9);
    }

    #[test]
    fn failures_count_by_kind_and_an_overturn_keeps_the_latency() {
        let r = Recorder::default();
        let t0 = Instant::now();
        r.start(t0, Duration::from_secs(1));
        let failed = Outcome {
            latency: None,
            status: None,
            error: Some("connection refused"),
        };
        let ended = t0 + Duration::from_millis(10);
        assert!(r.record("s", ended, ok(5)));
        assert!(r.record("s", ended, failed));
        r.overturn("s", ended, "flow rejected (4000006)");
        let s = &r.summaries()[0];
        assert_eq!((s.requests, s.failures), (2, 2));
        assert_eq!(s.latency.len(), 1, "nothing was sent for the second");
        assert_eq!(s.timeline[0].failures, 2);
        assert_eq!(s.errors.len(), 2);
    }
}
