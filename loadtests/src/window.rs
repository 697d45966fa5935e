//! The measured window of a load run, opened and closed by orygate, not by
//! Goose's run time: it opens when the setup is over (every user ready,
//! or left out), lasts exactly `--duration`, and closes. Goose's own plan
//! (its ramp, then its run time) only bounds the run from outside, in case
//! orygate's control never ended it.
//!
//! Users wait for the window before their first measured round, and send
//! nothing once it is over. In the open model, the rounds intended inside
//! the window that are still running (or waiting for a user) when it
//! closes finish before the recording stops, within the drain's bound:
//! their latency counts, as a stalled server's must.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// The open model's window is over; its last rounds finish.
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
            setup: OnceLock::new(),
            refused: OnceLock::new(),
        }
    }
}

impl Window {
    pub fn phase(&self) -> Phase {
        *self.phase.borrow()
    }

    /// Whether measured rounds may send: the window is open (by the
    /// clock too: its timer wakes a little after its end), or the open
    /// model's last rounds are finishing.
    pub fn sending(&self) -> bool {
        match self.phase() {
            Phase::Measuring => self.closes.get().is_some_and(|end| Instant::now() < *end),
            Phase::Draining => true,
            Phase::Setup | Phase::Over => false,
        }
    }

    /// Waits until the setup is over (the window opened, or the run gave
    /// up); bounded by the setup's own timeout, after which the run ends.
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
    let setup = &ctx.setup;
    let deadline = plan.launched + setup.policy.timeout;
    while setup.finished() < setup.users() && Instant::now() < deadline {
        tokio::time::sleep(POLL).await;
    }
    let ready = setup.ready();
    let took = plan.launched.elapsed();
    let _ = ctx.window.setup.set((took, ready));
    if ready < setup.policy.needed(setup.users()) as u64 {
        let _ = ctx.window.refused.set(setup.too_few(ready, took));
        ctx.window.end("too few users could start");
        return;
    }
    let opened = Instant::now();
    let recorder = &ctx.counters.recorder;
    recorder.start(opened, plan.length, ctx.schedule.is_some());
    let _ = ctx.window.opened.set(opened);
    let _ = ctx.window.closes.set(opened + plan.length);
    if let Some(schedule) = &ctx.schedule {
        schedule.begin(opened);
    }
    ctx.window.enter(Phase::Measuring);
    tokio::time::sleep_until((opened + plan.length).into()).await;
    if let Some(schedule) = &ctx.schedule {
        ctx.window.enter(Phase::Draining);
        let until = Instant::now() + plan.drain;
        while !schedule.drained() && Instant::now() < until {
            tokio::time::sleep(POLL).await;
        }
    }
    recorder.stop(opened + plan.length);
    ctx.window.end("the measured window is over");
}
