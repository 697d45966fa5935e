//! The setup phase of a load run: every user gets what its profile needs
//! (an account and a session, a client, relationships) before the measured
//! window opens, so that slow starts never eat into the window and users
//! already started never load the target while others still sign up.
//!
//! A start that fails for a moment (no answer, a 5xx such as Kratos'
//! in-memory "database table is locked", a 429) is tried again from the
//! beginning, with a new client and a new person, after a pause that
//! doubles; one that fails for good (a 4xx, a rejected flow) is not. A
//! user whose start still failed is left out of the window and reported;
//! the window opens with the users that are ready if at least
//! `--min-ready` percent of them are, else the run fails before any load
//! with the first cause.

use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::{Semaphore, SemaphorePermit};

/// How users start: how often, how many at once, how many must be ready,
/// and for how long the window waits for them.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Tries per start, the first included.
    pub attempts: u32,
    /// Starts running at once (the others wait their turn).
    pub concurrency: usize,
    /// Users that must be ready, in percent of all.
    pub min_ready_percent: f64,
    /// How long the whole setup may take.
    pub timeout: Duration,
}

impl Default for Policy {
    /// Four tries, sixteen at once, 90 % ready within two minutes.
    fn default() -> Self {
        Self {
            attempts: 4,
            concurrency: 16,
            min_ready_percent: 90.0,
            timeout: Duration::from_secs(120),
        }
    }
}

/// The pause after a start's first failed try; it doubles after each.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
/// The longest pause between two tries.
const LONGEST_PAUSE: Duration = Duration::from_secs(2);

impl Policy {
    /// The pause after failed try `attempt` (from 1) of user `user`:
    /// 100 ms doubling up to 2 s, stretched by up to 7/16 by the user's
    /// index, so that users that failed together do not all try again
    /// together.
    pub fn pause(self, attempt: u32, user: usize) -> Duration {
        let doubled = FIRST_PAUSE.saturating_mul(1 << attempt.saturating_sub(1).min(16));
        let base = doubled.min(LONGEST_PAUSE);
        let spread = u32::try_from(user % 8).unwrap_or(0);
        base + base * spread / 16
    }

    /// How many of `users` must be ready for the window to open: at least
    /// one, and at least `min_ready_percent` of them, rounded up.
    pub fn needed(self, users: usize) -> usize {
        let share = (users as f64 * self.min_ready_percent / 100.0 - 1e-9).ceil();
        // A share of a usize count fits in one.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let share = share.max(0.0) as usize;
        share.clamp(usize::from(users > 0), users)
    }
}

/// Kratos' ids for a flow that another request replaced or that expired
/// meanwhile: a start begun again gets a flow of its own.
const FLOW_GONE: [&str; 2] = ["self_service_flow_replaced", "self_service_flow_expired"];

/// Whether a start that failed with `error` may well succeed when begun
/// again: a transient failure (see [`harness::Error::is_transient`]), or a
/// flow gone under it (Kratos' in-memory store replaces flows under
/// concurrent sign-ups: 410 `self_service_flow_replaced`).
fn worth_another_start(error: &harness::Error) -> bool {
    error.is_transient()
        || error
            .ory_id()
            .is_some_and(|id| FLOW_GONE.contains(&id.as_str()))
}

/// The setup's counts, shared by the users and the window.
#[derive(Debug)]
pub struct Setup {
    pub policy: Policy,
    /// Whether starts still count: closed when the window opens (or the
    /// run gives up), under the same lock that counts a start ready, so a
    /// user is ready before the window opens or left out.
    open: Mutex<bool>,
    permits: Semaphore,
    users: AtomicUsize,
    ready: AtomicU64,
    failed: AtomicU64,
    retries: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Users kept out of the window, by Goose's user index.
    left_out: Mutex<HashSet<usize>>,
    any_left_out: AtomicBool,
}

impl Setup {
    pub fn new(policy: Policy) -> Self {
        Self {
            open: Mutex::new(true),
            permits: Semaphore::new(policy.concurrency.max(1)),
            policy,
            users: AtomicUsize::new(0),
            ready: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            first_error: Mutex::new(None),
            left_out: Mutex::default(),
            any_left_out: AtomicBool::new(false),
        }
    }

    /// Says how many users the run starts.
    pub fn expect(&self, users: usize) {
        self.users.store(users, Ordering::Relaxed);
    }

    pub fn users(&self) -> usize {
        self.users.load(Ordering::Relaxed)
    }

    /// A turn to start: at most [`Policy::concurrency`] users start at once.
    pub async fn turn(&self) -> Option<SemaphorePermit<'_>> {
        self.permits.acquire().await.ok()
    }

    /// Whether starts still count (the window has not opened).
    pub fn is_open(&self) -> bool {
        *self.open.lock().expect("setup lock")
    }

    /// Ends the setup: no start counts as ready after this. Returns the
    /// users ready.
    pub fn close(&self) -> u64 {
        let mut open = self.open.lock().expect("setup lock");
        *open = false;
        self.ready()
    }

    /// After a failed try `attempt` of `user`'s start: the pause before
    /// the next try, or `None` when the failure is for good, the tries are
    /// spent, or the setup is over.
    pub fn again(&self, user: usize, attempt: u32, error: &harness::Error) -> Option<Duration> {
        if attempt >= self.policy.attempts || !worth_another_start(error) || !self.is_open() {
            return None;
        }
        self.retries.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(user, attempt, %error, "a user's start failed for a moment; trying again");
        Some(self.policy.pause(attempt, user))
    }

    /// Counts `user`'s start as over: ready if it succeeded while the
    /// setup was open, else left out of the window (with the first error
    /// kept for the summary).
    pub fn finish(&self, user: usize, outcome: &harness::Result<()>) {
        let open = self.open.lock().expect("setup lock");
        match outcome {
            Ok(()) if *open => {
                self.ready.fetch_add(1, Ordering::Relaxed);
            }
            Ok(()) => {
                drop(open);
                self.leave_out(user);
            }
            Err(error) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                drop(open);
                let mut first = self.first_error.lock().expect("setup error lock");
                if first.is_none() {
                    tracing::warn!(%error, "a user's start failed");
                    *first = Some(error.to_string());
                }
                drop(first);
                self.leave_out(user);
            }
        }
    }

    /// Keeps `user` out of the window: its start came too late.
    pub fn leave_out(&self, user: usize) {
        self.left_out.lock().expect("left-out lock").insert(user);
        self.any_left_out.store(true, Ordering::Relaxed);
    }

    /// Whether `user` is kept out of the window.
    pub fn is_left_out(&self, user: usize) -> bool {
        self.any_left_out.load(Ordering::Relaxed)
            && self.left_out.lock().expect("left-out lock").contains(&user)
    }

    /// Users whose start is over, ready or not.
    pub fn finished(&self) -> usize {
        usize::try_from(self.ready() + self.failed.load(Ordering::Relaxed)).unwrap_or(usize::MAX)
    }

    pub fn ready(&self) -> u64 {
        self.ready.load(Ordering::Relaxed)
    }

    pub fn retries(&self) -> u64 {
        self.retries.load(Ordering::Relaxed)
    }

    /// The first start that failed for good.
    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().expect("setup error lock").clone()
    }

    /// Why the window cannot open with `ready` users after `took`.
    pub fn too_few(&self, ready: u64, took: Duration) -> String {
        let users = self.users();
        let waiting = users.saturating_sub(self.finished());
        let mut why = format!(
            "start the users: {ready} of {users} users were ready after {:.1} s, and the load needs {} (--min-ready {}%)",
            took.as_secs_f64(),
            self.policy.needed(users),
            self.policy.min_ready_percent
        );
        if let Some(first) = self.first_error() {
            why.push_str("; the first start that failed: ");
            why.push_str(&first);
        }
        if waiting > 0 {
            use std::fmt::Write as _;
            let _ = write!(
                why,
                "; {waiting} still starting when the setup's {} ran out (--setup-timeout)",
                humantime::format_duration(self.policy.timeout)
            );
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(attempts: u32, min_ready_percent: f64) -> Policy {
        Policy {
            attempts,
            concurrency: 4,
            min_ready_percent,
            timeout: Duration::from_secs(60),
        }
    }

    #[test]
    fn pauses_double_from_100_ms_up_to_2_s_and_spread_by_user() {
        let p = policy(8, 90.0);
        let ms = |attempt, user| p.pause(attempt, user).as_millis();
        assert_eq!(
            [ms(1, 0), ms(2, 0), ms(3, 0), ms(5, 0)],
            [100, 200, 400, 1600]
        );
        assert_eq!(ms(6, 0), 2000, "at most 2 s");
        assert_eq!(ms(40, 0), 2000, "however many tries");
        assert_eq!(ms(1, 7), 143, "100 ms and 7/16 of it");
        assert_eq!(ms(1, 8), 100, "user 8 pauses as user 0");
    }

    #[test]
    fn the_share_of_users_needed_rounds_up_and_is_at_least_one() {
        assert_eq!(policy(1, 90.0).needed(32), 29, "28.8 rounds up");
        assert_eq!(policy(1, 90.0).needed(10), 9);
        assert_eq!(policy(1, 90.0).needed(1), 1);
        assert_eq!(policy(1, 100.0).needed(7), 7);
        assert_eq!(policy(1, 1.0).needed(7), 1);
        assert_eq!(policy(1, 50.0).needed(0), 0);
    }

    fn status(status: u16) -> harness::Error {
        harness::Error::Status {
            step: "kratos POST /self-service/login?flow=%".into(),
            status,
            error_id: None,
            message: "database table is locked".into(),
        }
    }

    #[test]
    fn a_transient_failure_is_tried_again_until_the_tries_are_spent() {
        let setup = Setup::new(policy(3, 90.0));
        assert!(setup.again(0, 1, &status(500)).is_some());
        assert!(setup.again(0, 2, &status(503)).is_some());
        assert_eq!(setup.again(0, 3, &status(500)), None, "3 tries");
        let not_found = harness::Error::Status {
            step: "keto PATCH /admin/relation-tuples".into(),
            status: 404,
            error_id: None,
            message: "Not Found".into(),
        };
        assert_eq!(setup.again(0, 1, &not_found), None, "for good");
        let replaced = harness::Error::Status {
            step: "kratos POST /self-service/verification?flow=%".into(),
            status: 410,
            error_id: Some("self_service_flow_replaced".into()),
            message: "self-service flow replaced".into(),
        };
        assert!(setup.again(1, 1, &replaced).is_some(), "a flow gone");
        assert_eq!(setup.close(), 0);
        assert_eq!(setup.again(0, 1, &status(500)), None, "too late");
        assert_eq!(setup.retries(), 3);
    }

    #[test]
    fn users_that_failed_or_came_late_are_left_out_and_the_first_error_kept() {
        let setup = Setup::new(policy(3, 90.0));
        setup.expect(4);
        setup.finish(0, &Ok(()));
        setup.finish(1, &Err(status(404)));
        setup.finish(2, &Err(status(500)));
        assert!(!setup.is_left_out(0));
        assert!(setup.is_left_out(1) && setup.is_left_out(2));
        assert_eq!((setup.ready(), setup.finished()), (1, 3));
        let why = setup.too_few(1, Duration::from_millis(1500));
        assert!(
            why.starts_with("start the users: 1 of 4 users were ready after 1.5 s, and the load needs 4 (--min-ready 90%)"),
            "{why}"
        );
        assert!(
            why.contains("failed: kratos POST /self-service/login?flow=%: HTTP 404"),
            "{why}"
        );
        assert!(
            why.contains("1 still starting when the setup's 1m ran out"),
            "{why}"
        );
        // Ready after the window opened: left out all the same.
        assert_eq!(setup.close(), 1);
        setup.finish(3, &Ok(()));
        assert!(setup.is_left_out(3));
        assert_eq!(setup.ready(), 1);
    }
}
