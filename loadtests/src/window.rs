//! The measured window of a load run, opened and closed by orygate, not by
//! Goose's run time: it opens when the setup is over (every user ready,
//! or left out), lasts exactly `--duration`, and closes. Goose's own plan
//! (its ramp, then its run time) only bounds the run from outside, in case
//! orygate's control never ended it.
//!
//! Users wait for the window before their first measured round and start
//! none after it. What started inside the window counts, to its end: the
//! rounds still running when it closes (and, in the open model, those
//! intended inside it that still wait for a user) finish before the
//! recording stops, within the drain's bound (`--request-timeout`). A
//! request that times out at the end counts as the failure it is, and a
//! stalled server's last rounds as latency.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;

use crate::context::Context;

/// Where a run is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Users are starting: nothing is measured or sent by measured rounds.
    Setup,
    /// The window is open.
    Measuring,
    /// The window is over; the rounds started inside it finish (and the
    /// open model's rounds intended inside it).
    Draining,
    /// Nothing more is sent; Goose is stopping its users.
    Over,
}

/// How often the window looks at the setup's progress and the open
/// model's last rounds.
const POLL: Duration = Duration::from_millis(5);

/// The window's state, shared through the run's [`Context`].
#[derive(Debug)]
pub struct Window {
    phase: watch::Sender<Phase>,
    /// orygate ended the run itself (its window is over, or its setup
    /// failed): Goose's kill switch was not Ctrl-C.
    ended_by_orygate: AtomicBool,
    /// When the window opened, and when it closes.
    opened: OnceLock<Instant>,
    closes: OnceLock<Instant>,
    /// The open model: rounds due inside the window still start while it
    /// drains.
    scheduled: AtomicBool,
    /// Rounds running now.
    busy: AtomicUsize,
    /// How long the setup took, and how many users were ready then.
    setup: OnceLock<(Duration, u64)>,
    /// Why the window never opened.
    refused: OnceLock<String>,
}

impl Default for Window {
    fn default() -> Self {
        Self {
            phase: watch::Sender::new(Phase::Setup),
            ended_by_orygate: AtomicBool::new(false),
            opened: OnceLock::new(),
            closes: OnceLock::new(),
            scheduled: AtomicBool::new(false),
            busy: AtomicUsize::new(0),
            setup: OnceLock::new(),
            refused: OnceLock::new(),
        }
    }
}

impl Window {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Whether a measured round may start: the window is open (by the
    /// clock too: its timer wakes a little after its end), or the open
    /// model's rounds intended inside it are being served.
    pub fn sending(&self) -> bool {
        match self.phase() {
            Phase::Measuring => self.closes.get().is_some_and(|end| Instant::now() < *end),
            Phase::Draining => self.scheduled.load(Ordering::Relaxed),
            Phase::Setup | Phase::Over => false,
        }
    }

    /// Counts a round as running until the guard drops.
    pub fn running(&self) -> Running<'_> {
        self.busy.fetch_add(1, Ordering::Relaxed);
        Running(&self.busy)
    }

    /// Waits until the setup is over (the window opened, or the run gave
    /// up); bounded by the setup's own timeout, and by the end of the
    /// window's control however it ends.
    pub async fn setup_over(&self) {
        let mut phase = self.phase.subscribe();
        let _ = phase.wait_for(|p| *p != Phase::Setup).await;
    }

    /// When the window opened, if it did.
    pub fn opened(&self) -> Option<Instant> {
        self.opened.get().copied()
    }

    /// How long the setup took and how many users were ready at its end.
    pub fn setup(&self) -> Option<(Duration, u64)> {
        self.setup.get().copied()
    }

    /// Why the window never opened: too few users were ready.
    pub fn refused(&self) -> Option<&str> {
        self.refused.get().map(String::as_str)
    }

    /// Whether orygate ended the run (rather than Ctrl-C or SIGTERM).
    pub fn ended_by_orygate(&self) -> bool {
        self.ended_by_orygate.load(Ordering::Relaxed)
    }

    fn enter(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Nothing more is sent, and Goose stops its users.
    fn end(&self, why: &str) {
        self.ended_by_orygate.store(true, Ordering::Relaxed);
        self.enter(Phase::Over);
        goose::trigger_killswitch(why);
    }
}

/// A round running; see [`Window::running`].
#[derive(Debug)]
pub struct Running<'w>(&'w AtomicUsize);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Ends the run's phases however the window's control ends (done,
/// aborted when Goose stopped first, or a panic): nobody waits for a
/// window that will not open.
struct Ends<'c>(&'c Context);

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        if self.0.window.phase() != Phase::Over {
            self.0.setup.close();
            self.0.window.enter(Phase::Over);
            if !goose::is_killswitch_triggered() {
                goose::trigger_killswitch("the measured window's control ended");
            }
        }
    }
}

/// What the window is asked to be.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// `--duration`.
    pub length: Duration,
    /// How long the open model's last rounds may take after the window.
    pub drain: Duration,
    /// When the first user was launched.
    pub launched: Instant,
}

/// Opens the window when the setup is over and closes it `plan.length`
/// later; or, when too few users are ready, ends the run before any load.
/// Runs beside Goose's attack, which it ends through the kill switch.
pub async fn control(ctx: std::sync::Arc<Context>, plan: Plan) {
    let _ends = Ends(&ctx);
    let setup = &ctx.setup;
    let deadline = plan.launched + setup.policy.timeout;
    while setup.finished() < setup.users() && Instant::now() < deadline {
        if goose::is_killswitch_triggered() {
            // Ctrl-C or SIGTERM during the setup: the run ends, measuring
            // nothing; `Ends` releases the users that wait.
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    let ready = setup.close();
    let took = plan.launched.elapsed();
    let _ = ctx.window.setup.set((took, ready));
    if ready < setup.policy.needed(setup.users()) as u64 {
        let _ = ctx.window.refused.set(setup.too_few(ready, took));
        ctx.window.end("too few users could start");
        return;
    }
    let opened = Instant::now();
    let recorder = &ctx.counters.recorder;
    recorder.start(opened, plan.length);
    let _ = ctx.window.opened.set(opened);
    let _ = ctx.window.closes.set(opened + plan.length);
    if let Some(schedule) = &ctx.schedule {
        ctx.window.scheduled.store(true, Ordering::Relaxed);
        schedule.begin(opened);
    }
    ctx.window.enter(Phase::Measuring);
    tokio::time::sleep_until((opened + plan.length).into()).await;
    ctx.window.enter(Phase::Draining);
    let until = Instant::now() + plan.drain;
    let drained = || {
        ctx.window.busy.load(Ordering::Relaxed) == 0
            && ctx.schedule.as_ref().is_none_or(|s| s.drained())
    };
    while !drained() && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
    recorder.stop(Instant::now());
    ctx.window.end("the measured window is over");
}
