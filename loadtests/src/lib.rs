//! Goose load profiles assembled from the scenarios, and the run behind the
//! `orygate` binary: a target (a fresh stack, or a deployment by URL), a
//! smoke run of every flow, a bounded load run of a mix of profiles, a
//! summary per step and a results document.
//!
//! The flows are the `scenarios` crate's, unchanged: under load they send
//! through [`GooseTransport`], so each step is a named Goose request that
//! fails exactly when the same step fails in a test.

// Counts and times become rates and milliseconds: f64 is exact far past
// any count a run reaches.
#![allow(clippy::cast_precision_loss)]

pub mod config_gate;
mod context;
mod error;
pub mod gate;
mod glue;
mod goose_transport;
pub mod load;
mod measured;
mod options;
pub mod profiles;
pub mod record;
pub mod report;
pub mod results;
pub mod schedule;
pub mod setup;
pub mod smoke;
pub mod summary;
pub mod sweep;
mod target;
pub mod window;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

pub use context::{Context, Counters};
pub use error::{Error, Result};
pub use goose_transport::GooseTransport;
pub use options::{DEFAULT_MIX, MAX_DURATION, Options};
pub use target::Target;

use profiles::Mix;
use reports::document::{LoadResults, Machine, Results, Settings, SmokeResult};

/// What a run found: the results document and where it was written (the
/// JSON first, then the other formats in the order asked).
#[derive(Debug)]
pub struct Report {
    pub results: Results,
    pub paths: Vec<std::path::PathBuf>,
}

impl Report {
    /// Passed, and passed its baseline gate if it had one.
    pub fn passed(&self) -> bool {
        self.results.gate_passed()
    }

    /// The results JSON.
    pub fn json(&self) -> &std::path::Path {
        &self.paths[0]
    }

    /// The file of the format with `extension`, if it was written.
    pub fn file(&self, extension: &str) -> Option<&std::path::Path> {
        self.paths
            .iter()
            .map(std::path::PathBuf::as_path)
            .find(|p| p.to_string_lossy().ends_with(&format!(".{extension}")))
    }
}

/// The `orygate` run: checks the options, starts a fresh stack unless a URL
/// is given, runs the smoke and the load, prints the summary, writes the
/// results, and removes the stack (also when the run failed or was
/// interrupted before the load).
pub async fn run(opts: Options) -> Result<Report> {
    let mix = opts.validate()?;
    if let Some(ca) = &opts.ca_cert {
        harness::tls::trust_pem_file(ca).map_err(|e| Error::Usage(format!("--ca-cert: {e}")))?;
    }
    if opts.kratos_url.is_some() && !opts.kratos_env.is_empty() {
        return Err(Error::Usage(
            "--kratos-env configures a fresh stack's Kratos; a deployment given by --kratos-url has its own config".into(),
        ));
    }
    if opts.kratos_url.is_some() && !opts.oathkeeper_env.is_empty() {
        return Err(Error::Usage(
            "--oathkeeper-env configures a fresh stack's Oathkeeper; a deployment given by --oathkeeper-url has its own config".into(),
        ));
    }
    let opts = opts.for_shard();
    let target = if let Some(target) = Target::from_options(&opts) {
        target
    } else {
        let ui = mix.0.iter().any(|(p, _)| p.needs_ui);
        let mut extra: Vec<harness::Service> = mix
            .0
            .iter()
            .flat_map(|(p, _)| p.needs.iter().copied())
            .collect();
        extra.sort();
        extra.dedup();
        let names: String = extra
            .iter()
            .filter(|s| **s != harness::Service::Kratos)
            .flat_map(|s| [", ", target::title(*s)])
            .collect();
        let settings: Vec<String> = opts
            .kratos_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        say(&format!(
            "starting a fresh stack: Kratos{names}{} tuned for load{}{}",
            if ui {
                " behind the self-service UI"
            } else {
                ""
            },
            if opts.in_memory {
                ", data in memory"
            } else {
                ""
            },
            if settings.is_empty() {
                String::new()
            } else {
                format!(", Kratos with {}", settings.join(" "))
            }
        ));
        interruptible(
            "the stack's start",
            Target::start(
                &extra,
                ui,
                opts.in_memory,
                &opts.kratos_env,
                &opts.oathkeeper_env,
            ),
        )
        .await??
    };
    let report = Box::pin(run_on(&target, &opts, &mix)).await;
    let stopped = target.stop().await;
    let report = report?;
    stopped?;
    Ok(report)
}

/// The run against a target the caller owns (and removes). Tests start a
/// stack themselves and run here, as the binary does after its start.
pub async fn run_on(target: &Target, opts: &Options, mix: &Mix) -> Result<Report> {
    let started_at = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    say(&format!("target: {}", target.describe()));
    target.check().await?;
    // Shards of one run sign up people of their own.
    let seed = opts.seed.unwrap_or_else(clock_seed)
        + opts
            .shard
            .map_or(0, |s| u64::from(s.index - 1) * 1_000_000_000);
    let ctx = Arc::new(context(target, opts, seed, opts.rate));
    check_profiles(&ctx, mix)?;
    if opts.identities > 0 {
        say(&format!(
            "creating {} identities through the admin API",
            opts.identities
        ));
        let took =
            interruptible("the identities' creation", ctx.populate(opts.identities)).await??;
        say(&format!(
            "created {} identities in {:.1} s",
            opts.identities,
            took.as_secs_f64()
        ));
    }

    let smoke = if opts.no_smoke {
        Vec::new()
    } else {
        let smoke = Box::pin(interruptible("the smoke run", smoke::run(target, &ctx))).await?;
        eprint!("{}", smoke::render(&smoke));
        smoke
    };

    let base = |smoke: Vec<SmokeResult>| Results {
        schema: reports::document::SCHEMA.to_owned(),
        version: reports::document::VERSION,
        started_at,
        settings: settings(target, opts, mix),
        machine: Machine::here(),
        passed: !smoke.iter().any(SmokeResult::failed),
        interrupted: false,
        smoke,
        load: None,
        sweep: None,
        merged_from: Vec::new(),
        baseline: None,
        document_id: reports::document::new_document_id(),
        pooled: false,
        window_skew_s: None,
    };

    if let Some(plan) = opts.sweep {
        let sweep = Box::pin(sweep_run(target, opts, mix, plan, seed)).await?;
        let mut results = base(smoke);
        results.sweep = Some(sweep);
        return finish(results, opts);
    }

    say(&format!(
        "load: {mix} with {} users for {} (bounded; Ctrl-C stops it early)",
        opts.users,
        humantime::format_duration(opts.duration)
    ));
    let run = Box::pin(load::run(&ctx, mix, opts)).await?;
    let interrupted = run.interrupted;
    let load = measured::load_results(&ctx, opts, run);
    let load_failed = load.short_window.is_some()
        || load.steps.iter().any(|s| s.failures > 0)
        || load.steps.is_empty();
    println!("{}", render_load(&load));
    if interrupted {
        say("stopped early: the summary covers what ran until then");
    }
    if load_failed && let Some(log) = target.kratos_warnings(20).await {
        eprintln!("--- Kratos' last warnings and errors ---\n{log}\n");
    }

    let mut results = base(smoke);
    results.passed = results.passed && !load_failed;
    results.interrupted = interrupted;
    results.load = Some(load);
    finish(results, opts)
}

/// Gates the results against the baseline, if one was given, and writes
/// them in every format asked for.
fn finish(mut results: Results, opts: &Options) -> Result<Report> {
    if let Some(comparison) = opts.gate.compare(&results)? {
        println!("{}", reports::baseline::render(&comparison));
        results.baseline = Some(comparison);
    }
    let paths = results::write(&results, &opts.out, &opts.formats)?;
    Ok(Report { results, paths })
}

/// The run's shared state; `rate` for the open model.
fn context(target: &Target, opts: &Options, seed: u64, rate: Option<f64>) -> Context {
    Context::new(
        target.kratos(),
        target.mailboxes(),
        seed,
        opts.request_timeout,
    )
    .with_keto(target.keto())
    .with_hydra(target.hydra())
    .with_oathkeeper(target.oathkeeper())
    .with_ui(target.ui())
    .with_rate(rate, opts.duration)
    .with_setup(opts.setup_policy())
    .with_body_limit(opts.max_body)
}

fn settings(target: &Target, opts: &Options, mix: &Mix) -> Settings {
    Settings {
        mix: mix.to_string(),
        users: opts.users,
        increase_rate: opts.increase_rate,
        rate: opts.rate,
        sweep: opts
            .sweep
            .map(|p| format!("{}:{}:{}", p.from, p.step, p.to)),
        identities: opts.identities,
        duration_s: opts.duration.as_secs_f64(),
        request_timeout_s: opts.request_timeout.as_secs_f64(),
        target: target.describe(),
        kratos_version: harness::KRATOS_VERSION.to_owned(),
        kratos_env: opts
            .kratos_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        oathkeeper_env: opts
            .oathkeeper_env
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect(),
        oathkeeper: target
            .oathkeeper()
            .map(|_| target::oathkeeper_cache(target, &opts.oathkeeper_env)),
        shard: opts.shard,
        run_id: opts.run_id.clone(),
    }
}

/// The capacity sweep: a measured open-model run per rate, each with
/// users (and people) of its own, until the rates are done or Ctrl-C.
async fn sweep_run(
    target: &Target,
    opts: &Options,
    mix: &Mix,
    plan: sweep::Plan,
    seed: u64,
) -> Result<reports::document::Sweep> {
    let objective = reports::document::Objective::new(opts.slo_p99, opts.error_budget);
    let rates = plan.rates();
    say(&format!(
        "sweep: {mix} at {} rates from {} to {} rounds/s, {} each with {} users",
        rates.len(),
        plan.from,
        rates.last().copied().unwrap_or(plan.from),
        humantime::format_duration(opts.duration),
        opts.users
    ));
    let mut steps = Vec::new();
    for (i, rate) in rates.into_iter().enumerate() {
        // New people for each rate: the last rate's are still signed up.
        let ctx = Arc::new(context(
            target,
            opts,
            seed + (i as u64 + 1) * 1_000_000,
            Some(rate),
        ));
        let run = Box::pin(load::run(&ctx, mix, opts)).await?;
        let seconds = ctx
            .schedule
            .as_ref()
            .map_or(run.measured_seconds, |s| measured::rounds_seconds(s, &run));
        let step = sweep::step_from_run(rate, &run.steps, seconds, &objective);
        say(&format!(
            "sweep: {rate:.1}/s asked, {:.1}/s achieved, p50 {:.2} ms, p99 {:.2} ms, {} failed: {}",
            step.achieved_per_s,
            step.p50_ms,
            step.p99_ms,
            step.failures,
            if step.holds { "holds" } else { "does not hold" }
        ));
        steps.push(step);
        if run.interrupted {
            say("stopped early: the sweep covers the rates run until then");
            break;
        }
    }
    let sweep = reports::document::Sweep::new(objective, steps);
    println!("\n{}", sweep::render(&sweep));
    Ok(sweep)
}

/// Refuses a mix the target cannot run, before anything is sent.
fn check_profiles(ctx: &Context, mix: &Mix) -> Result<()> {
    for (profile, _) in &mix.0 {
        if profile.needs.contains(&harness::Service::Keto) && ctx.keto.is_none() {
            return Err(Error::Usage(format!(
                "profile {} checks permissions in Keto: run it against a fresh stack, or \
                 give --keto-read-url and --keto-write-url",
                profile.name
            )));
        }
        if profile.needs.contains(&harness::Service::Hydra) && ctx.hydra.is_none() {
            return Err(Error::Usage(format!(
                "profile {} talks to Hydra: run it against a fresh stack, or give \
                 --hydra-url and --hydra-admin-url",
                profile.name
            )));
        }
        if profile.needs.contains(&harness::Service::Oathkeeper) && ctx.gateway.is_none() {
            return Err(Error::Usage(format!(
                "profile {} goes through Oathkeeper: run it against a fresh stack, or give \
                 --oathkeeper-url",
                profile.name
            )));
        }
        if profile.needs_ui && ctx.ui.is_none() {
            return Err(Error::Usage(format!(
                "profile {} drives the self-service UI a fresh stack starts beside Kratos: \
                 run it without --kratos-url",
                profile.name
            )));
        }
        if !profile.needs_account && !profile.needs_mail {
            continue;
        }
        if profile.needs_mail && ctx.mailboxes.is_none() {
            return Err(Error::Usage(format!(
                "profile {} signs people up and reads their verification mail, which only a \
                 fresh stack delivers to orygate: run it without --kratos-url",
                profile.name
            )));
        }
        if !profile.needs_mail && !ctx.can_provision() {
            return Err(Error::Usage(format!(
                "profile {} needs verified accounts: give --kratos-admin-url so orygate can \
                 create them, or run against a fresh stack",
                profile.name
            )));
        }
    }
    Ok(())
}

/// The summary table, the failed starts, the mail sink and the generator.
fn render_load(load: &LoadResults) -> String {
    let mut out = format!(
        "\nload: {} ({:.1} s in all, with the setup and the stop)\n{}",
        reports::text::measured(load),
        load.wall_s,
        summary::render(&load.steps)
    );
    if let Some(line) = reports::text::setup_line(load) {
        let _ = writeln!(out, "\n{line}");
    }
    if let Some(line) = reports::text::short_window_line(load) {
        let _ = writeln!(out, "\n{line}");
    }
    if let Some(rate) = load.open_model {
        let _ = writeln!(
            out,
            "\nopen model: {:.1} rounds/s asked, {:.1} achieved ({:.1} %); latency of `ROUND` steps counts from each round's intended start",
            rate.asked_per_s,
            rate.achieved_per_s,
            rate.ratio() * 100.0
        );
    }
    if let Some(mail) = load.mail {
        let _ = writeln!(
            out,
            "\nmail sink: {} delivered, {} collected, {} uncollected, {} dropped",
            mail.delivered, mail.collected, mail.waiting, mail.dropped
        );
    }
    let g = load.generator;
    let _ = writeln!(
        out,
        "generator (orygate itself): {:.2} CPU s, {:.2} cores busy, {:.0} µs CPU per request, peak RSS {:.1} MiB",
        g.cpu_seconds, g.cores_busy, g.cpu_us_per_request, g.peak_rss_mib
    );
    out
}

/// Runs `work`, unless Ctrl-C or SIGTERM comes first.
async fn interruptible<T>(phase: &'static str, work: impl Future<Output = T>) -> Result<T> {
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        done = work => Ok(done),
        _ = tokio::signal::ctrl_c() => Err(Error::Interrupted(phase)),
        () = terminate => Err(Error::Interrupted(phase)),
    }
}

fn clock_seed() -> u64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| {
            d.as_secs() * 1_000_000_000 + u64::from(d.subsec_nanos())
        })
}

fn say(line: &str) {
    eprintln!("orygate: {line}");
}
