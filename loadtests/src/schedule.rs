//! The open model: with `--rate N`, rounds start at their intended times,
//! evenly spaced at N per second across all users, as wrk2 and `oha -q`
//! send; each round's latency counts from its intended start, so a stall
//! of the server shows as latency of the rounds it delayed, not as rounds
//! that were never sent (coordinated omission corrected). The users are
//! the concurrency: a round whose time has come waits for a free user, and
//! that wait is part of its latency. Only the timer's own granularity (up
//! to [`TIMER_SLACK`] of wake-up delay) is not: see [`Slot::start`].

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The intended starts of a run at a fixed rate.
#[derive(Debug)]
pub struct Schedule {
    rate: f64,
    /// No round is intended after start + length: rounds the users would
    /// claim ahead of the run's end are not sent (nor counted).
    length: Option<Duration>,
    /// Set when the first round is taken: the schedule starts with the
    /// measured part, not when the users were being started.
    start: OnceLock<Instant>,
    next: AtomicU64,
    /// When the last round ended, in nanoseconds after the start.
    last_done: AtomicU64,
}

/// One round's place in the schedule.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub index: u64,
    pub intended: Instant,
}

/// How late tokio's timer may wake a sleeper (its wheel ticks in
/// milliseconds): a generator's granularity, not the server's latency.
pub const TIMER_SLACK: Duration = Duration::from_millis(1);

impl Slot {
    /// The round's latency if it ended at `done`: from its intended start.
    pub fn latency(self, done: Instant) -> Duration {
        done.saturating_duration_since(self.intended)
    }

    /// When the round's latency starts, for a round taken at `taken` whose
    /// sleep until its intended start ended at `woke`. Taken late (its user
    /// was busy past the intended start), it counts from the intended
    /// start: the wait is latency. Taken early, it counts from the timer's
    /// wake-up as `oha -q --latency-correction` does, but at most
    /// [`TIMER_SLACK`] after the intended start: a later wake-up (a
    /// generator too busy) counts as latency.
    pub fn start(self, taken: Instant, woke: Instant) -> Instant {
        if taken >= self.intended {
            self.intended
        } else {
            woke.clamp(self.intended, self.intended + TIMER_SLACK)
        }
    }
}

impl Schedule {
    /// `rate` rounds per second (positive and finite).
    pub fn new(rate: f64) -> Self {
        assert!(rate.is_finite() && rate > 0.0, "a rate must be positive");
        Self {
            rate,
            length: None,
            start: OnceLock::new(),
            next: AtomicU64::new(0),
            last_done: AtomicU64::new(0),
        }
    }

    /// The same schedule, ending `length` after its start.
    #[must_use]
    pub fn lasting(mut self, length: Duration) -> Self {
        self.length = Some(length);
        self
    }

    pub fn rate(&self) -> f64 {
        self.rate
    }

    /// The next round, starting the schedule at `now` if it has not
    /// started; `None` once the schedule's length is over. Round k is
    /// intended at start + k / rate: computed from the start each time, so
    /// no rounding error accumulates.
    pub fn take(&self, now: Instant) -> Option<Slot> {
        let start = *self.start.get_or_init(|| now);
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        let offset = Duration::from_secs_f64(index as f64 / self.rate);
        if self.length.is_some_and(|length| offset >= length) {
            return None;
        }
        Some(Slot {
            index,
            intended: start + offset,
        })
    }

    /// How long the schedule ran if the run ended at `end`: from its start
    /// (once every user had started) to `end`, at most its length. The
    /// achieved rate is the rounds over this, not over Goose's measured
    /// span, which begins while users are still starting.
    pub fn active_seconds(&self, end: Instant) -> f64 {
        let Some(start) = self.start.get() else {
            return 0.0;
        };
        let ran = end.saturating_duration_since(*start);
        self.length
            .map_or(ran, |length| ran.min(length))
            .as_secs_f64()
    }

    /// Notes that a round ended at `at`.
    pub fn done(&self, at: Instant) {
        if let Some(start) = self.start.get() {
            let nanos =
                u64::try_from(at.saturating_duration_since(*start).as_nanos()).unwrap_or(u64::MAX);
            self.last_done.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// How long the schedule ran, until its last round ended (at most its
    /// length): the span its completed rounds count over. The moment the
    /// run returned would add the users' stop, which waits for rounds
    /// asleep until their time and would understate the rate achieved.
    pub fn active_until_last_round(&self) -> f64 {
        let Some(start) = self.start.get() else {
            return 0.0;
        };
        let last = *start + Duration::from_nanos(self.last_done.load(Ordering::Relaxed));
        self.active_seconds(last)
    }

    /// How many rounds were taken.
    pub fn taken(&self) -> u64 {
        self.next.load(Ordering::Relaxed)
    }
}

pub use reports::document::Achieved;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounds_are_evenly_spaced_from_the_first() {
        let schedule = Schedule::new(1000.0);
        let t0 = Instant::now();
        let slots: Vec<Slot> = (0..5000).map(|_| schedule.take(t0).unwrap()).collect();
        assert_eq!(schedule.taken(), 5000);
        for (k, slot) in slots.iter().enumerate() {
            assert_eq!(slot.index, k as u64);
            let expected = Duration::from_micros(1000 * k as u64);
            let off = slot.intended.duration_since(t0).abs_diff(expected);
            assert!(off < Duration::from_micros(1), "round {k} is {off:?} off");
        }
        // A later first taker does not move the start.
        let late = schedule.take(t0 + Duration::from_secs(9)).unwrap();
        assert_eq!(late.intended.duration_since(t0), Duration::from_secs(5));

        // A schedule of 2 s at 10/s has 20 rounds, then none, and was
        // active 2 s however late the run ended.
        let short = Schedule::new(10.0).lasting(Duration::from_secs(2));
        assert!(short.active_until_last_round().abs() < f64::EPSILON);
        assert!(short.active_seconds(t0).abs() < f64::EPSILON, "not started");
        assert_eq!((0..30).filter_map(|_| short.take(t0)).count(), 20);
        let end = t0 + Duration::from_secs(5);
        assert!((short.active_seconds(end) - 2.0).abs() < 1e-9);
        let early = t0 + Duration::from_millis(1500);
        assert!((short.active_seconds(early) - 1.5).abs() < 1e-9);
        short.done(t0 + Duration::from_millis(1900));
        short.done(t0 + Duration::from_millis(1700));
        assert!((short.active_until_last_round() - 1.9).abs() < 1e-9);
    }

    #[test]
    fn latency_starts_at_the_intended_start_or_the_timers_wake_up_within_its_slack() {
        let t0 = Instant::now();
        let slot = Slot {
            index: 0,
            intended: t0 + Duration::from_millis(10),
        };
        let ms = |m: u64| t0 + Duration::from_micros(m * 100);
        // Taken early, woken 0.4 ms late: counts from the wake-up.
        assert_eq!(slot.start(t0, ms(104)), ms(104));
        // Woken 5 ms late: the generator was busy; 4 ms of it count.
        assert_eq!(slot.start(t0, ms(150)), ms(110));
        // Taken 3 ms late (its user was busy): from the intended start.
        assert_eq!(slot.start(ms(130), ms(130)), ms(100));
    }

    #[test]
    fn the_achieved_rate_is_counted_against_the_asked_one() {
        let a = Achieved::new(250.0, 4950, 20.0);
        assert!((a.achieved_per_s - 247.5).abs() < 1e-9);
        assert!((a.ratio() - 0.99).abs() < 1e-9);
    }

    /// Sends `rounds` rounds of `schedule` through `users` workers against a
    /// server that takes `service` per request but stops answering from
    /// `stall_at` for `stall`; returns each round's latency from its
    /// intended start (in simulated time).
    fn simulate(
        schedule: &Schedule,
        rounds: usize,
        users: usize,
        service: Duration,
        stall_at: Duration,
        stall: Duration,
    ) -> Vec<Duration> {
        let t0 = Instant::now();
        let mut free = vec![t0; users];
        let mut latencies = Vec::with_capacity(rounds);
        for _ in 0..rounds {
            let slot = schedule.take(t0).unwrap();
            // The first user free; the round starts when both it and its
            // time have come.
            let (user, at) = free
                .iter()
                .enumerate()
                .min_by_key(|(_, t)| **t)
                .map(|(i, t)| (i, *t))
                .unwrap();
            let sent = at.max(slot.intended);
            let mut done = sent + service;
            let (from, to) = (t0 + stall_at, t0 + stall_at + stall);
            if done > from && sent < to {
                // Frozen: nothing is answered before the stall ends.
                done = done.max(to + service);
            }
            free[user] = done;
            latencies.push(slot.latency(done));
        }
        latencies
    }

    /// A 100 ms stall at 1,000 rounds a second shows as about 100 delayed
    /// rounds, about half of them by more than 50 ms, and not as a gap in
    /// the count: every round is there.
    #[test]
    fn a_stall_shows_as_latency_of_the_rounds_it_delayed() {
        let schedule = Schedule::new(1000.0);
        let latencies = simulate(
            &schedule,
            3000,
            64,
            Duration::from_micros(200),
            Duration::from_secs(1),
            Duration::from_millis(100),
        );
        assert_eq!(latencies.len(), 3000, "no round goes missing");
        let delayed = latencies
            .iter()
            .filter(|l| **l > Duration::from_millis(1))
            .count();
        let over_50 = latencies
            .iter()
            .filter(|l| **l > Duration::from_millis(50))
            .count();
        assert!((95..=105).contains(&delayed), "{delayed} delayed");
        assert!((45..=55).contains(&over_50), "{over_50} over 50 ms");
        let worst = latencies.iter().max().unwrap();
        assert!(*worst >= Duration::from_millis(99), "{worst:?}");
    }

    /// Too few users to keep up: rounds wait for a user, and that wait is
    /// latency (a closed model would have sent fewer rounds instead).
    #[test]
    fn waiting_for_a_free_user_counts_as_latency() {
        let schedule = Schedule::new(1000.0);
        // One user, 2 ms a request: it can do 500 a second.
        let latencies = simulate(
            &schedule,
            1000,
            1,
            Duration::from_millis(2),
            Duration::from_secs(3600),
            Duration::ZERO,
        );
        let last = latencies.last().unwrap();
        assert!(*last > Duration::from_millis(900), "{last:?}");
    }
}
