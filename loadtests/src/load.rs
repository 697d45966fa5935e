//! One Goose run of a mix against the context's Kratos, bounded in users
//! and time: the users' setup, then the measured window that orygate opens
//! and closes itself (see [`crate::window`]), with a progress line and the
//! generator's own CPU cost.

use std::sync::Arc;
use std::time::{Duration, Instant};

use goose::client::GooseClientBuilder;
use goose::config::GooseConfiguration;
use goose::goose::Scenario;
use goose::metrics::GooseCoordinatedOmissionMitigation;
use goose::prelude::GooseAttack;
use indicatif::{ProgressBar, ProgressStyle};

use reports::document::Generator;

use crate::context::{Context, Counters};
use crate::error::{Error, Result};

/// Goose's run time beyond what the setup, the window and the open
/// model's drain may take: it ends the run only if orygate's own control
/// did not.
const OUTER_MARGIN: Duration = Duration::from_secs(30);
use crate::options::Options;
use crate::profiles::{self, Mix};

/// What the load run measured.
#[derive(Debug)]
pub struct LoadRun {
    /// Every measured step, from the recorder.
    pub steps: Vec<reports::document::StepSummary>,
    /// From the first user's start to the last user's stop.
    pub wall: Duration,
    /// The measured window: `--duration`, unless it was cut short.
    pub measured_seconds: f64,
    /// When the window opened, ms since the Unix epoch.
    pub window_opened_at_ms: Option<u64>,
    /// The setup: how long it took, how many users were ready, how many
    /// starts were tried again.
    pub setup: reports::document::SetupPhase,
    pub generator: Generator,
    /// Ctrl-C or SIGTERM stopped it before its time.
    pub interrupted: bool,
}

/// Runs `mix` with the options' users, rate and duration.
pub async fn run(ctx: &Arc<Context>, mix: &Mix, opts: &Options) -> Result<LoadRun> {
    let scenarios = mix
        .0
        .iter()
        .map(|(profile, weight)| profiles::scenario(profile, *weight, ctx))
        .collect::<std::result::Result<Vec<_>, _>>()?;
    Box::pin(run_scenarios(ctx, scenarios, opts)).await
}

/// Runs Goose scenarios built over [`crate::GooseTransport`] with the
/// options' users, rate and duration: the profiles' own, or a test's.
pub async fn run_scenarios(
    ctx: &Arc<Context>,
    scenarios: Vec<Scenario>,
    opts: &Options,
) -> Result<LoadRun> {
    // Every user's requests go out through the agent its start gives it
    // (`Context::seat`), never through Goose's client: one shared client
    // for Goose to hold, not a client per user that reads the system's CA
    // certificates again for each.
    // The shards' shared start, read once for the whole run.
    let start_at = opts.start_at()?;
    let mut attack = GooseAttack::initialize_with_config(configuration(ctx, opts, start_at))?
        .set_client_builder_without_cookies(GooseClientBuilder::new().without_cookies())?;
    for scenario in scenarios {
        attack = attack.register_scenario(scenario);
    }
    // Goose stops on Ctrl-C by itself; SIGTERM (a cancelled CI job) stops
    // it the same way.
    let sigterm = tokio::spawn(async {
        if let Ok(mut term) =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        {
            term.recv().await;
            goose::trigger_killswitch("SIGTERM received");
        }
    });
    let progress = Progress::start(ctx, opts, start_at);
    let cpu_before = cpu_seconds();
    let started = Instant::now();
    ctx.setup.expect(opts.users);
    // The last run ended by the kill switch too: the window's control must
    // not take that for a Ctrl-C before Goose clears it.
    goose::reset_killswitch();
    let control = tokio::spawn(control(
        Arc::clone(ctx),
        Plan {
            length: opts.duration,
            drain: opts.request_timeout,
            launched: started,
            start_at,
        },
    ));
    let metrics = Box::pin(attack.execute()).await;
    // The window closed itself and ended the run, or the run ended early
    // (Ctrl-C, SIGTERM, Goose's outer bound): the window ends here.
    control.abort();
    ctx.counters.recorder.stop(Instant::now());
    let wall = started.elapsed();
    let interrupted = goose::is_killswitch_triggered() && !ctx.window.ended_by_orygate();
    let cpu = cpu_seconds() - cpu_before;
    progress.finish();
    sigterm.abort();
    metrics?;
    if interrupted && ctx.window.opened().is_none() {
        return Err(Error::Interrupted("the users' start"));
    }
    if let Some(why) = ctx.window.refused() {
        return Err(Error::Setup(why.to_owned()));
    }
    let Some((setup_took, ready)) = ctx.window.setup() else {
        return Err(if interrupted {
            Error::Interrupted("the users' start")
        } else {
            Error::Goose(format!(
                "the load ended after {:.1} s, before the users' start was over",
                wall.as_secs_f64()
            ))
        });
    };
    let requests = Counters::get(&ctx.counters.requests).max(1);
    let window_opened_at_ms = ctx.window.opened().and_then(|opened| {
        let wall = std::time::SystemTime::now().checked_sub(opened.elapsed())?;
        let ms = wall.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis();
        u64::try_from(ms).ok()
    });
    Ok(LoadRun {
        interrupted,
        window_opened_at_ms,
        measured_seconds: ctx.counters.recorder.seconds(),
        setup: reports::document::SetupPhase {
            ramp_s: opts.users as f64 / opts.increase_rate.unwrap_or(opts.users as f64),
            seconds: setup_took.as_secs_f64(),
            ready,
            retries: ctx.setup.retries(),
        },
        steps: ctx.counters.recorder.summaries(),
        wall,
        generator: Generator {
            cpu_seconds: cpu,
            cores_busy: cpu / wall.as_secs_f64().max(1e-9),
            cpu_us_per_request: cpu * 1e6 / requests as f64,
            requests,
            peak_rss_mib: peak_rss_mib(),
        },
    })
}

fn configuration(
    ctx: &Context,
    opts: &Options,
    start_at: Option<std::time::SystemTime>,
) -> GooseConfiguration {
    let mut config = GooseConfiguration::default();
    config.host = Some(ctx.kratos.public_base().to_string());
    config.users = Some(opts.users);
    let rate = opts.increase_rate.unwrap_or(opts.users as f64);
    config.increase_rate = Some(rate.to_string());
    // orygate ends the run when its window closes; Goose's run time, which
    // counts from its last user's launch, is only the outer bound.
    // A `--start-at` later than the setup's end is waited for too.
    let start_wait = start_at
        .and_then(|at| at.duration_since(std::time::SystemTime::now()).ok())
        .unwrap_or_default();
    let bound =
        opts.setup_timeout.max(start_wait) + opts.duration + opts.request_timeout + OUTER_MARGIN;
    config.run_time = Some(format!("{}s", bound.as_secs_f64().ceil()));
    // Goose's mitigation for closed-model users invents requests; the open
    // model (`--rate`) is the sound way to count stalls as latency.
    config.co_mitigation = Some(GooseCoordinatedOmissionMitigation::Disabled);
    // The recorder measures; Goose's own metrics would only cost CPU.
    config.no_metrics = true;
    // orygate prints its own summary; Goose's controllers would listen on
    // every interface.
    config.no_print_metrics = true;
    config.no_telnet = true;
    config.no_websocket = true;
    config.quiet = 1;
    config
}

/// How often the window's control looks at the setup's progress and at
/// the rounds still running.
const POLL: Duration = Duration::from_millis(5);

/// Ends the run's phases however the window's control ends (done,
/// aborted when Goose stopped first, or a panic): nobody waits for a
/// window that will not open.
struct Ends<'c>(&'c Context);

impl Drop for Ends<'_> {
    fn drop(&mut self) {
        if self.0.window.phase() != crate::window::Phase::Over {
            self.0.setup.close();
            self.0.window.enter(crate::window::Phase::Over);
            if !goose::is_killswitch_triggered() {
                goose::trigger_killswitch("the measured window's control ended");
            }
        }
    }
}

/// What the window is asked to be.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan {
    /// `--duration`.
    pub length: Duration,
    /// How long the rounds running when the window closes may take.
    pub drain: Duration,
    /// When the first user was launched.
    pub launched: Instant,
    /// When the window opens, shared by the shards of a run
    /// (`--start-at`); as soon as the setup is over without it.
    pub start_at: Option<std::time::SystemTime>,
}

/// Opens the window when the setup is over and closes it `plan.length`
/// later; or, when too few users are ready, ends the run before any load.
/// Runs beside Goose's attack, which it ends through the kill switch.
pub(crate) async fn control(ctx: std::sync::Arc<Context>, plan: Plan) {
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
    ctx.window.set_setup(took, ready);
    if ready < setup.policy.needed(setup.users()) as u64 {
        ctx.window.refuse(setup.too_few(ready, took));
        ctx.window.end("too few users could start");
        return;
    }
    if let Some(at) = plan.start_at
        && !wait_for(at).await
    {
        // Ctrl-C or SIGTERM while waiting: nothing was measured.
        return;
    }
    let opened = Instant::now();
    let recorder = &ctx.counters.recorder;
    recorder.start(opened, plan.length);
    if let Some(schedule) = &ctx.schedule {
        schedule.begin(opened);
    }
    ctx.window.open(opened, plan.length, ctx.schedule.is_some());
    tokio::time::sleep_until((opened + plan.length).into()).await;
    ctx.window.enter(crate::window::Phase::Draining);
    let until = Instant::now() + plan.drain;
    // The open model's rounds are the schedule's: released and ended. Its
    // users keep asking for one until the run stops, so they count as busy
    // all along and only the schedule says whether a round still runs.
    let drained = || match &ctx.schedule {
        Some(schedule) => schedule.drained(),
        None => ctx.window.busy() == 0,
    };
    while !drained() && Instant::now() < until {
        tokio::time::sleep(POLL).await;
    }
    recorder.stop(Instant::now());
    ctx.window.end("the measured window is over");
}

/// Waits, every user ready, until `at` (the shards' shared start); false
/// when the run was stopped meanwhile. A start already past is said, and
/// the window opens now: the merge shows how far apart the shards began.
async fn wait_for(at: std::time::SystemTime) -> bool {
    match at.duration_since(std::time::SystemTime::now()) {
        Err(late) => {
            tracing::warn!(
                late_s = late.duration().as_secs_f64(),
                "the users were ready after --start-at: the window opens now"
            );
            eprintln!(
                "orygate: the users were ready {:.1} s after --start-at; the window opens now",
                late.duration().as_secs_f64()
            );
        }
        Ok(_) => {
            while let Ok(left) = at.duration_since(std::time::SystemTime::now()) {
                if goose::is_killswitch_triggered() {
                    return false;
                }
                tokio::time::sleep(left.min(Duration::from_millis(50))).await;
            }
        }
    }
    true
}

/// The process's peak resident set (`VmHWM` in `/proc/self/status`), MiB.
fn peak_rss_mib() -> f64 {
    procfs::process::Process::myself()
        .and_then(|me| me.status())
        .ok()
        .and_then(|status| status.vmhwm)
        .map_or(0.0, |kib| kib as f64 / 1024.0)
}

/// CPU seconds this process has used, from `/proc/self/stat` (user and
/// system time of all its threads).
fn cpu_seconds() -> f64 {
    procfs::process::Process::myself()
        .and_then(|me| me.stat())
        .map_or(0.0, |stat| {
            (stat.utime + stat.stime) as f64 / procfs::ticks_per_second() as f64
        })
}

/// The progress line, twice a second: the users ready during the setup,
/// then the window's seconds, requests, rate and failures.
struct Progress {
    bar: ProgressBar,
    task: tokio::task::JoinHandle<()>,
}

impl Progress {
    fn start(ctx: &Arc<Context>, opts: &Options, start_at: Option<std::time::SystemTime>) -> Self {
        let bar = if opts.quiet {
            ProgressBar::hidden()
        } else {
            ProgressBar::new_spinner()
        };
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed:>4} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(Duration::from_millis(250));
        let ctx = Arc::clone(ctx);
        let line = bar.clone();
        let planned = opts.duration;
        let task = tokio::spawn(async move {
            let mut last = (Instant::now(), 0u64);
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let Some(opened) = ctx.window.opened() else {
                    let setup = &ctx.setup;
                    if let (Some((_, ready)), Some(at)) = (ctx.window.setup(), start_at) {
                        let left = at
                            .duration_since(std::time::SystemTime::now())
                            .unwrap_or_default();
                        line.set_message(format!(
                            "{ready} users ready · the window opens at --start-at, in {:.0} s",
                            left.as_secs_f64().ceil()
                        ));
                        continue;
                    }
                    line.set_message(format!(
                        "setup: {} of {} users ready · {} left out · {} starts tried again",
                        setup.ready(),
                        setup.users(),
                        setup.finished() - usize::try_from(setup.ready()).unwrap_or(0),
                        setup.retries(),
                    ));
                    continue;
                };
                let requests = Counters::get(&ctx.counters.requests);
                let now = Instant::now();
                let rps = (requests - last.1) as f64 / now.duration_since(last.0).as_secs_f64();
                last = (now, requests);
                line.set_message(format!(
                    "load: {:.0} of {} s measured · {requests} requests · {rps:.0} rps · {} failures",
                    now.duration_since(opened).min(planned).as_secs_f64(),
                    planned.as_secs(),
                    Counters::get(&ctx.counters.failures),
                ));
            }
        });
        Self { bar, task }
    }

    fn finish(self) {
        self.task.abort();
        self.bar.finish_and_clear();
    }
}
