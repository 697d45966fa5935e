//! The open model: with `--rate N`, rounds start at their intended times,
//! evenly spaced at N per second across all users, as wrk2 and `oha -q`
//! send; each round's latency counts from its intended start, so a stall
//! of the server shows as latency of the rounds it delayed, not as rounds
//! that were never sent (coordinated omission corrected). The users are
//! the concurrency: a round whose time has come waits for a free user, and
//! that wait is part of its latency.
//!
//! Rounds are released by a thread of their own ([`Schedule::next`]), which
//! sleeps until each intended start with the operating system's timer
//! (tens of microseconds late): tokio's timer ticks in milliseconds and
//! woke sleepers 1 to 2 ms after their time, which would have sent every
//! round late. Only the release's own lateness (at most [`TIMER_SLACK`])
//! is not latency: see [`Slot::start`].

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// The intended starts of a run at a fixed rate.
#[derive(Debug)]
pub struct Schedule {
    plan: Arc<Plan>,
    /// Rounds as they fall due, from the releasing thread (started by the
    /// first [`Schedule::next`]).
    due: OnceLock<flume::Receiver<(Slot, Instant)>>,
    /// When the last round ended, in nanoseconds after the start.
    last_done: AtomicU64,
    /// Rounds that ended.
    finished: AtomicU64,
}

/// The rounds' times, shared with the releasing thread.
#[derive(Debug)]
struct Plan {
    rate: f64,
    /// No round is intended after start + length: rounds due after the
    /// run's end are not released (nor counted).
    length: Option<Duration>,
    /// Set when the first round is taken (the first user asks, once every
    /// user has started): the schedule starts with the measured part, not
    /// while the users were being started.
    start: OnceLock<Instant>,
    next: AtomicU64,
    /// Rounds the releasing thread sent, and whether it has sent its last.
    released: AtomicU64,
    over: std::sync::atomic::AtomicBool,
}

/// One round's place in the schedule.
#[derive(Debug, Clone, Copy)]
pub struct Slot {
    pub index: u64,
    pub intended: Instant,
}

/// How late a round's release may be and still not count as latency: the
/// generator's timer granularity, not the server's latency.
pub const TIMER_SLACK: Duration = Duration::from_millis(1);

impl Slot {
    /// When the round's latency starts, for a round released at `released`
    /// (by the timer, at or after its intended start) to a user that asked
    /// for it at `asked`. A user waiting for it: from the release, as `oha
    /// -q --latency-correction` counts from its timer's wake-up, but at
    /// most [`TIMER_SLACK`] after the intended start (a later release, a
    /// generator too busy, counts as latency). A round released before its
    /// user was free waited for one: from its intended start.
    pub fn start(self, asked: Instant, released: Instant) -> Instant {
        if released < asked {
            self.intended
        } else {
            released.clamp(self.intended, self.intended + TIMER_SLACK)
        }
    }
}

impl Schedule {
    /// `rate` rounds per second (positive and finite).
    pub fn new(rate: f64) -> Self {
        assert!(rate.is_finite() && rate > 0.0, "a rate must be positive");
        Self {
            plan: Arc::new(Plan {
                rate,
                length: None,
                start: OnceLock::new(),
                next: AtomicU64::new(0),
                released: AtomicU64::new(0),
                over: std::sync::atomic::AtomicBool::new(false),
            }),
            due: OnceLock::new(),
            last_done: AtomicU64::new(0),
            finished: AtomicU64::new(0),
        }
    }

    /// The same schedule, ending `length` after its start (before its
    /// first round: the releasing thread reads the plan).
    #[must_use]
    pub fn lasting(mut self, length: Duration) -> Self {
        Arc::get_mut(&mut self.plan)
            .expect("a schedule's length is set before it starts")
            .length = Some(length);
        self
    }

    pub fn rate(&self) -> f64 {
        self.plan.rate
    }

    /// The next round, as the releasing thread takes them (see
    /// [`Plan::take`]); tests take them directly.
    #[cfg(test)]
    fn take(&self, now: Instant) -> Option<Slot> {
        self.plan.take(now)
    }

    /// Starts the schedule `at` (the window's opening): round k is
    /// intended at `at` + k / rate, released by a thread of its own.
    pub fn begin(&self, at: Instant) {
        let _ = self.plan.start.set(at);
        self.due.get_or_init(|| release(Arc::clone(&self.plan)));
    }

    /// Waits for the next round that falls due and returns it with the
    /// moment it was released; `None` once the schedule is over. Starts
    /// the schedule now if [`Schedule::begin`] did not. Rounds wait in
    /// order for a free user: one taken late waited for a user.
    pub async fn next(&self) -> Option<(Slot, Instant)> {
        let due = self.due.get_or_init(|| release(Arc::clone(&self.plan)));
        due.recv_async().await.ok()
    }

    /// Notes that a round ended at `at`, `counted` if the recorder kept it
    /// (only counted rounds stretch the span the achieved rate is over).
    pub fn done(&self, at: Instant, counted: bool) {
        self.finished.fetch_add(1, Ordering::Relaxed);
        if !counted {
            return;
        }
        if let Some(start) = self.plan.start.get() {
            let nanos =
                u64::try_from(at.saturating_duration_since(*start).as_nanos()).unwrap_or(u64::MAX);
            self.last_done.fetch_max(nanos, Ordering::Relaxed);
        }
    }

    /// Every round of the schedule was released and has ended.
    pub fn drained(&self) -> bool {
        self.plan.over.load(Ordering::Relaxed)
            && self.finished.load(Ordering::Relaxed) >= self.plan.released.load(Ordering::Relaxed)
    }

    /// Seconds from the schedule's start until its last round ended: the
    /// rounds were served at their count over this or over the window,
    /// whichever is longer (rounds that waited past the window for a user
    /// or an answer stretch it).
    pub fn until_last_round(&self) -> f64 {
        Duration::from_nanos(self.last_done.load(Ordering::Relaxed)).as_secs_f64()
    }

    /// How many rounds were taken (and one more once the schedule is
    /// over: the one found past its end).
    #[cfg(test)]
    fn taken(&self) -> u64 {
        self.plan.next.load(Ordering::Relaxed)
    }
}

impl Plan {
    /// The next round, starting the schedule at `now` if it has not
    /// started; `None` once the schedule's length is over. Round k is
    /// intended at start + k / rate: computed from the start each time, so
    /// no rounding error accumulates.
    fn take(&self, now: Instant) -> Option<Slot> {
        let start = *self.start.get_or_init(|| now);
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        // A rate so low that the offset overflows has no round there.
        let offset = Duration::try_from_secs_f64(index as f64 / self.rate).ok()?;
        if self.length.is_some_and(|length| offset >= length) {
            return None;
        }
        Some(Slot {
            index,
            intended: start + offset,
        })
    }
}

/// Starts the thread that releases `plan`'s rounds at their intended
/// starts. It ends when the plan is over or when nobody can receive any
/// more (the schedule was dropped), at most one round later.
fn release(plan: Arc<Plan>) -> flume::Receiver<(Slot, Instant)> {
    let (tx, rx) = flume::unbounded();
    let spawned = std::thread::Builder::new()
        .name("orygate-schedule".into())
        .spawn(move || {
            while let Some(slot) = plan.take(Instant::now()) {
                let wait = slot.intended.saturating_duration_since(Instant::now());
                if !wait.is_zero() {
                    std::thread::sleep(wait);
                }
                if tx.send((slot, Instant::now())).is_err() {
                    break;
                }
                plan.released.fetch_add(1, Ordering::Relaxed);
            }
            plan.over.store(true, Ordering::Relaxed);
        });
    if let Err(e) = spawned {
        // Without its thread the schedule releases nothing: every round
        // reads as not sent, and the run says so (achieved 0 %).
        tracing::error!(error = %e, "could not start the open model's schedule thread");
    }
    rx
}

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

        // A schedule of 2 s at 10/s has 20 rounds, then none; it ran
        // until its last round ended.
        let short = Schedule::new(10.0).lasting(Duration::from_secs(2));
        assert!(short.until_last_round().abs() < f64::EPSILON);
        assert_eq!((0..30).filter_map(|_| short.take(t0)).count(), 20);
        short.done(t0 + Duration::from_millis(2300), true);
        short.done(t0 + Duration::from_millis(1700), true);
        short.done(t0 + Duration::from_secs(9), false);
        assert!(
            (short.until_last_round() - 2.3).abs() < 1e-9,
            "counted rounds only"
        );
    }

    #[test]
    fn latency_starts_at_the_intended_start_or_the_release_within_its_slack() {
        let t0 = Instant::now();
        let slot = Slot {
            index: 0,
            intended: t0 + Duration::from_millis(10),
        };
        let ms = |m: u64| t0 + Duration::from_micros(m * 100);
        // Asked early, released 0.4 ms late: counts from the release.
        assert_eq!(slot.start(t0, ms(104)), ms(104));
        // Released 5 ms late: the generator was busy; 4 ms of it count.
        assert_eq!(slot.start(t0, ms(150)), ms(110));
        // Never before the intended start.
        assert_eq!(slot.start(t0, ms(90)), ms(100));
        // Released before its user asked (the user was busy): from the
        // intended start, the wait for the user included.
        assert_eq!(slot.start(ms(130), ms(101)), ms(100));
    }

    /// The releasing thread sends each round at its time, in order, and
    /// ends with the schedule's length.
    #[tokio::test]
    async fn rounds_are_released_at_their_intended_starts() {
        let schedule = Schedule::new(200.0).lasting(Duration::from_millis(250));
        let mut late = Vec::new();
        let mut index = 0;
        while let Some((slot, released)) = schedule.next().await {
            assert_eq!(slot.index, index, "in order");
            assert!(released >= slot.intended, "never early");
            late.push(released - slot.intended);
            index += 1;
        }
        assert_eq!(late.len(), 50, "250 ms at 200 a second");
        assert!(!schedule.drained(), "none of its rounds ended");
        for _ in 0..50 {
            schedule.done(Instant::now(), true);
        }
        assert!(schedule.drained());
        late.sort();
        let median = late[late.len() / 2];
        assert!(median < TIMER_SLACK, "released {median:?} late (median)");
    }

    #[test]
    fn the_achieved_rate_is_counted_against_the_asked_one() {
        let a = reports::document::Achieved::new(250.0, 4950, 20.0);
        assert!((a.achieved_per_s - 247.5).abs() < 1e-9);
        assert!((a.ratio() - 0.99).abs() < 1e-9);
    }
}
