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

/// The window's state, shared through the run's [`crate::Context`].
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

    pub(crate) fn enter(&self, phase: Phase) {
        self.phase.send_replace(phase);
    }

    /// Nothing more is sent, and Goose stops its users.
    pub(crate) fn end(&self, why: &str) {
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

impl Window {
    /// The setup is over after `took`, with `ready` users.
    pub(crate) fn set_setup(&self, took: Duration, ready: u64) {
        let _ = self.setup.set((took, ready));
    }

    /// The window will not open, and why.
    pub(crate) fn refuse(&self, why: String) {
        let _ = self.refused.set(why);
    }

    /// Opens the window `at` for `length`; `scheduled` for the open model
    /// (its rounds due inside the window still start while it drains).
    pub(crate) fn open(&self, at: Instant, length: Duration, scheduled: bool) {
        let _ = self.opened.set(at);
        let _ = self.closes.set(at + length);
        self.scheduled.store(scheduled, Ordering::Relaxed);
        self.enter(Phase::Measuring);
    }

    /// Rounds running now.
    pub(crate) fn busy(&self) -> usize {
        self.busy.load(Ordering::Relaxed)
    }
}
