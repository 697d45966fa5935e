//! Shards of one run made whole: counts add, histograms add exactly, and
//! the merged percentiles are those of every request of every shard.

use std::collections::BTreeMap;

use crate::document::{
    Achieved, Generator, Interval, LoadResults, MailCounts, Results, SetupPhase, Shard, ShardRun,
    SmokeResult, StepSummary,
};
use crate::latency::{INTERVAL_DIGITS, Latency, RUN_DIGITS};

/// Why documents cannot be merged.
#[derive(Debug, thiserror::Error)]
#[error("merge: {0}")]
pub struct MergeError(String);

/// How documents are merged.
#[derive(Debug, Clone, Copy)]
pub struct How {
    /// The documents are separate runs to pool, not the shards of one:
    /// the merge is marked so, and the shards and windows not compared.
    pub pool: bool,
    /// How far apart the shards' measured windows may open, seconds.
    pub max_skew_s: f64,
    /// Past `max_skew_s`, merge all the same (the skew is in the
    /// document) instead of refusing.
    pub skew_only_warns: bool,
}

/// What `orygate report merge` allows by default.
pub const MAX_SKEW_S: f64 = 5.0;

impl Default for How {
    fn default() -> Self {
        Self {
            pool: false,
            max_skew_s: MAX_SKEW_S,
            skew_only_warns: false,
        }
    }
}

/// One document from `parts`, the shards of a run against one target (or,
/// with [`How::pool`], separate runs). Their timelines are aligned on the
/// start of each one's measured part; how far apart those opened is
/// [`Results::window_skew_s`], refused past [`How::max_skew_s`].
pub fn merge(parts: &[Results], how: How) -> Result<Results, MergeError> {
    let first = parts
        .first()
        .ok_or_else(|| MergeError("no documents given".into()))?;
    once_each(parts)?;
    for (i, part) in parts.iter().enumerate() {
        let which = || format!("document {} (started at {})", i + 1, part.started_at);
        if part.sweep.is_some() {
            return Err(MergeError(format!(
                "{} is a capacity sweep: sweeps are not merged",
                which()
            )));
        }
        if part.load.is_none() {
            return Err(MergeError(format!("{} has no load run", which())));
        }
        let (mine, theirs) = (&part.settings, &first.settings);
        for (what, a, b) in [
            ("mix", &mine.mix, &theirs.mix),
            ("target", &mine.target, &theirs.target),
            (
                "Kratos version",
                &mine.kratos_version,
                &theirs.kratos_version,
            ),
        ] {
            if a != b {
                return Err(MergeError(format!(
                    "{} ran the {what} {a}, the first ran {b}",
                    which()
                )));
            }
        }
        if (mine.duration_s - theirs.duration_s).abs() > 1e-9 {
            return Err(MergeError(format!(
                "{} ran for {} s, the first for {} s",
                which(),
                mine.duration_s,
                theirs.duration_s
            )));
        }
    }
    let skew = one_run(parts, how)?;

    let loads: Vec<&LoadResults> = parts.iter().filter_map(|p| p.load.as_ref()).collect();
    let mut settings = first.settings.clone();
    settings.users = parts.iter().map(|p| p.settings.users).sum();
    settings.rate = sum_some(parts.iter().map(|p| p.settings.rate));
    settings.increase_rate = sum_some(parts.iter().map(|p| p.settings.increase_rate));
    settings.identities = parts.iter().map(|p| p.settings.identities).sum();
    settings.shard = None;
    settings.run_id = parts.iter().find_map(|p| p.settings.run_id.clone());

    Ok(Results {
        schema: first.schema.clone(),
        version: first.version,
        started_at: parts.iter().map(|p| p.started_at).min().unwrap_or(0),
        settings,
        machine: first.machine.clone(),
        smoke: smoke(parts),
        load: Some(load(&loads)),
        sweep: None,
        passed: parts.iter().all(|p| p.passed),
        interrupted: parts.iter().any(|p| p.interrupted),
        merged_from: parts
            .iter()
            .map(|p| ShardRun {
                shard: p.settings.shard,
                document_id: p.document_id.clone(),
                started_at: p.started_at,
                window_opened_at_ms: p.load.as_ref().and_then(|l| l.window_opened_at_ms),
                users: p.settings.users,
                cpu: p.machine.cpu.clone(),
                passed: p.passed,
            })
            .collect(),
        baseline: None,
        document_id: crate::document::new_document_id(),
        pooled: how.pool,
        window_skew_s: skew,
    })
}

/// The parts are one run's shards (unless pooled), loading together: how
/// far apart their windows opened, refused past `how.max_skew_s`.
fn one_run(parts: &[Results], how: How) -> Result<Option<f64>, MergeError> {
    if how.pool {
        if parts.len() < 2 {
            return Err(MergeError("--pool needs two documents or more".into()));
        }
    } else {
        check_shards(parts)?;
        same_run(parts)?;
    }
    let skew = window_skew(parts);
    if skew.is_none() && !how.pool && !how.skew_only_warns {
        return Err(MergeError(
            "a document does not say when its measured window opened (it is older than \
             version 4): whether the shards loaded the target together cannot be told; \
             --skew-warns merges without it"
                .into(),
        ));
    }
    if let Some(skew) = skew.filter(|s| !how.pool && !how.skew_only_warns && *s > how.max_skew_s) {
        return Err(MergeError(format!(
            "the shards' measured windows opened {skew:.2} s apart, more than {} s: they did \
             not load the target together (start them with the same --start-at), or merge \
             anyway with --skew-warns",
            how.max_skew_s
        )));
    }
    Ok(skew)
}

/// No document twice: by its id, or (older documents have none) by its
/// whole content; nor a merge beside one of the documents it merged.
fn once_each(parts: &[Results]) -> Result<(), MergeError> {
    for (j, b) in parts.iter().enumerate() {
        for (i, a) in parts.iter().enumerate() {
            if !b.document_id.is_empty()
                && a.merged_from.iter().any(|m| m.document_id == b.document_id)
            {
                return Err(MergeError(format!(
                    "document {} is one of those document {} merged: its requests would count twice",
                    j + 1,
                    i + 1
                )));
            }
        }
    }
    let texts: Vec<String> = parts
        .iter()
        .map(|p| serde_json::to_string(p).unwrap_or_default())
        .collect();
    for (j, b) in parts.iter().enumerate() {
        for (i, a) in parts.iter().enumerate().take(j) {
            let same_id = !a.document_id.is_empty() && a.document_id == b.document_id;
            if same_id || texts[i] == texts[j] {
                return Err(MergeError(format!(
                    "documents {} and {} are the same document{}: merged with itself a run \
                     counts every request twice",
                    i + 1,
                    j + 1,
                    if same_id {
                        format!(" ({})", a.document_id)
                    } else {
                        String::new()
                    }
                )));
            }
        }
    }
    Ok(())
}

/// The shards of one run: all name the same run, or none names one.
fn same_run(parts: &[Results]) -> Result<(), MergeError> {
    let named = parts.iter().filter(|p| p.settings.run_id.is_some()).count();
    if named > 0 && named < parts.len() {
        return Err(MergeError(format!(
            "{named} of the {} shards name their run (--run-id) and the others do not: \
             documents of different runs",
            parts.len()
        )));
    }
    let mut named = parts
        .iter()
        .filter_map(|p| Some((p.settings.shard?, p.settings.run_id.as_deref()?)));
    if let Some((first_shard, first_run)) = named.next()
        && let Some((shard, run)) = named.find(|(_, run)| run != &first_run)
    {
        return Err(MergeError(format!(
            "shard {shard} is of run {run}, shard {first_shard} of run {first_run}: \
             documents of different runs"
        )));
    }
    Ok(())
}

/// How far apart the parts' measured windows opened, in seconds; `None`
/// when one does not say.
fn window_skew(parts: &[Results]) -> Option<f64> {
    let opened: Option<Vec<u64>> = parts
        .iter()
        .map(|p| p.load.as_ref()?.window_opened_at_ms)
        .collect();
    let opened = opened?;
    let (min, max) = (opened.iter().min()?, opened.iter().max()?);
    Some((max - min) as f64 / 1000.0)
}

/// Every part a shard of the same count, each index once, none missing.
fn check_shards(parts: &[Results]) -> Result<(), MergeError> {
    let shards: Vec<Option<Shard>> = parts.iter().map(|p| p.settings.shard).collect();
    if shards.iter().all(Option::is_none) {
        // Separate runs each on its own are not the shards of one.
        return Err(MergeError(format!(
            "none of the {} documents is a shard (--shard) of a run: they are separate runs, \
             and merged they would pass for one; --pool pools them, marked as pooled",
            parts.len()
        )));
    }
    let Some(shards) = shards.into_iter().collect::<Option<Vec<Shard>>>() else {
        return Err(MergeError(
            "some documents are shards (--shard) and some are not".into(),
        ));
    };
    let count = shards[0].count;
    if let Some(other) = shards.iter().find(|s| s.count != count) {
        return Err(MergeError(format!(
            "shard {other} is not one of {count} like shard {}",
            shards[0]
        )));
    }
    let mut seen = vec![false; count as usize];
    for s in &shards {
        let slot = &mut seen[(s.index - 1) as usize];
        if *slot {
            return Err(MergeError(format!("shard {s} appears twice")));
        }
        *slot = true;
    }
    let missing: Vec<String> = (1..=count)
        .filter(|i| !seen[(*i - 1) as usize])
        .map(|i| format!("{i}/{count}"))
        .collect();
    if !missing.is_empty() {
        return Err(MergeError(format!(
            "shard {} is missing: a merge of part of a run would pass for all of it",
            missing.join(", ")
        )));
    }
    Ok(())
}

fn sum_some(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values.fold(None, |sum, v| match (sum, v) {
        (None, v) => v,
        (s, None) => s,
        (Some(s), Some(v)) => Some(s + v),
    })
}

/// Every shard's smoke, each flow named with its shard when there are
/// several.
fn smoke(parts: &[Results]) -> Vec<SmokeResult> {
    let several = parts.iter().filter(|p| !p.smoke.is_empty()).count() > 1;
    parts
        .iter()
        .flat_map(|p| {
            p.smoke.iter().map(move |r| {
                let mut r = r.clone();
                if several && let Some(shard) = p.settings.shard {
                    r.flow = format!("{} (shard {shard})", r.flow);
                }
                r
            })
        })
        .collect()
}

fn load(loads: &[&LoadResults]) -> LoadResults {
    let measured_s = loads.iter().map(|l| l.measured_s).fold(0.0, f64::max);
    let mut steps: BTreeMap<String, StepSummary> = BTreeMap::new();
    for step in loads.iter().flat_map(|l| &l.steps) {
        match steps.get_mut(&step.step) {
            Some(merged) => add_step(merged, step),
            None => {
                steps.insert(step.step.clone(), step.clone());
            }
        }
    }
    let mut steps: Vec<StepSummary> = steps.into_values().collect();
    for step in &mut steps {
        refresh(step, measured_s);
    }
    let requests: u64 = loads.iter().map(|l| l.generator.requests).sum();
    let cpu_seconds: f64 = loads.iter().map(|l| l.generator.cpu_seconds).sum();
    LoadResults {
        open_model: loads
            .iter()
            .filter_map(|l| l.open_model)
            .reduce(|a, b| Achieved {
                asked_per_s: a.asked_per_s + b.asked_per_s,
                achieved_per_s: a.achieved_per_s + b.achieved_per_s,
            }),
        window_opened_at_ms: loads.iter().filter_map(|l| l.window_opened_at_ms).min(),
        measured_s,
        asked_s: loads.iter().map(|l| l.asked_s).fold(0.0, f64::max),
        short_window: loads.iter().find_map(|l| l.short_window.clone()),
        wall_s: loads.iter().map(|l| l.wall_s).fold(0.0, f64::max),
        steps,
        setup: SetupPhase {
            ramp_s: loads.iter().map(|l| l.setup.ramp_s).fold(0.0, f64::max),
            seconds: loads.iter().map(|l| l.setup.seconds).fold(0.0, f64::max),
            ready: loads.iter().map(|l| l.setup.ready).sum(),
            retries: loads.iter().map(|l| l.setup.retries).sum(),
        },
        setup_failures: loads.iter().map(|l| l.setup_failures).sum(),
        first_setup_error: loads.iter().find_map(|l| l.first_setup_error.clone()),
        mail: loads
            .iter()
            .filter_map(|l| l.mail)
            .reduce(|a, b| MailCounts {
                delivered: a.delivered + b.delivered,
                collected: a.collected + b.collected,
                waiting: a.waiting + b.waiting,
                dropped: a.dropped + b.dropped,
            }),
        generator: Generator {
            cpu_seconds,
            cores_busy: loads.iter().map(|l| l.generator.cores_busy).sum(),
            cpu_us_per_request: cpu_seconds * 1e6 / requests.max(1) as f64,
            requests,
            peak_rss_mib: loads
                .iter()
                .map(|l| l.generator.peak_rss_mib)
                .fold(0.0, f64::max),
        },
    }
}

fn add_step(into: &mut StepSummary, other: &StepSummary) {
    into.requests += other.requests;
    into.failures += other.failures;
    into.latency.add(&other.latency);
    into.statuses = add_counts(&into.statuses, &other.statuses);
    into.errors = add_counts(&into.errors, &other.errors);
    into.errors
        .sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    for interval in &other.timeline {
        match into
            .timeline
            .iter_mut()
            .find(|i| i.second == interval.second)
        {
            Some(mine) => {
                mine.requests += interval.requests;
                mine.failures += interval.failures;
                mine.latency.add(&interval.latency);
            }
            None => into.timeline.push(interval.clone()),
        }
    }
    into.timeline.sort_by_key(|i| i.second);
}

fn add_counts<K: Ord + Clone>(a: &[(K, u64)], b: &[(K, u64)]) -> Vec<(K, u64)> {
    let mut sum: BTreeMap<K, u64> = BTreeMap::new();
    for (k, n) in a.iter().chain(b) {
        *sum.entry(k.clone()).or_default() += n;
    }
    sum.into_iter().collect()
}

/// Recomputes a step's percentiles and rate from its histogram and counts.
pub fn refresh(step: &mut StepSummary, measured_s: f64) {
    step.rps = step.requests as f64 / measured_s.max(1e-9);
    step.p50_ms = step.latency.quantile_ms(0.50);
    step.p95_ms = step.latency.quantile_ms(0.95);
    step.p99_ms = step.latency.quantile_ms(0.99);
    step.max_ms = step.latency.max_ms();
    for interval in &mut step.timeline {
        refresh_interval(interval);
    }
}

/// Recomputes an interval's percentiles from its histogram.
pub fn refresh_interval(interval: &mut Interval) {
    interval.p50_ms = interval.latency.quantile_ms(0.50);
    interval.p95_ms = interval.latency.quantile_ms(0.95);
    interval.p99_ms = interval.latency.quantile_ms(0.99);
}

/// An empty step called `name`, to record into.
pub fn empty_step(name: &str) -> StepSummary {
    StepSummary {
        step: name.to_owned(),
        requests: 0,
        failures: 0,
        rps: 0.0,
        p50_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
        max_ms: 0.0,
        statuses: Vec::new(),
        errors: Vec::new(),
        latency: Latency::new(RUN_DIGITS),
        timeline: Vec::new(),
    }
}

/// An empty interval at `second`.
pub fn empty_interval(second: u32) -> Interval {
    Interval {
        second,
        requests: 0,
        failures: 0,
        p50_ms: 0.0,
        p95_ms: 0.0,
        p99_ms: 0.0,
        latency: Latency::new(INTERVAL_DIGITS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::document::Shard;
    use crate::sample;

    /// Latencies of a made-up run: a long tail, in µs.
    fn samples(n: u64, seed: u64) -> Vec<u64> {
        (0..n)
            .map(|i| {
                let x = (i * 2_654_435_761 + seed * 97) % 10_000;
                800 + x * x / 1_000 + (i % 7) * 13
            })
            .collect()
    }

    /// The exact `q` quantile of raw samples, as `HdrHistogram` defines it.
    fn exact(all: &mut [u64], q: f64) -> f64 {
        all.sort_unstable();
        let n = all.len();
        let rank = (1..=n).find(|r| *r as f64 >= q * n as f64).unwrap_or(n);
        all[rank - 1] as f64 / 1000.0
    }

    #[test]
    fn shards_merge_into_the_percentiles_of_all_their_requests() {
        let (a, mut b) = (samples(3_000, 1), samples(1_700, 2));
        // The second shard's slowest request is far beyond the first's.
        b.push(5_000_000);
        let mut one = sample::results(&[
            ("kratos GET /x", a.clone(), 3),
            ("mail WAIT code", vec![], 0),
        ]);
        one.settings.shard = Some(Shard { index: 1, count: 2 });
        let mut two = sample::results(&[
            ("kratos GET /x", b.clone(), 1),
            ("mail WAIT code", vec![5_000; 60], 0),
        ]);
        two.settings.shard = Some(Shard { index: 2, count: 2 });
        two.started_at += 2;

        // As `orygate report merge` reads them: from their JSON.
        let read = |r: &Results| -> Results {
            serde_json::from_str(&serde_json::to_string(r).unwrap()).unwrap()
        };
        let merged = merge(&[read(&one), read(&two)], How::default()).unwrap();
        let load = merged.load.as_ref().unwrap();
        let x = load
            .steps
            .iter()
            .find(|s| s.step == "kratos GET /x")
            .unwrap();
        assert_eq!(x.requests, 4_701);
        assert_eq!(x.failures, 4);
        assert_eq!(x.errors, [("HTTP 401 (session_inactive)".to_owned(), 4)]);
        assert_eq!(merged.settings.users, 8);
        assert_eq!(merged.merged_from.len(), 2);
        assert_eq!(merged.started_at, one.started_at);
        assert!(load.steps.iter().any(|s| s.step == "mail WAIT code"));

        let mut all: Vec<u64> = a.iter().chain(&b).copied().collect();
        for q in [0.5, 0.9, 0.95, 0.99, 0.999, 1.0] {
            let want = exact(&mut all, q);
            let got = x.latency.quantile_ms(q);
            // HdrHistogram with 3 significant digits: within 0.1 %.
            assert!(
                (got - want).abs() <= want * 0.001 + 0.001,
                "q {q}: merged {got} ms, all samples {want} ms"
            );
        }
        assert!((x.p99_ms - exact(&mut all, 0.99)).abs() <= x.p99_ms * 0.001 + 0.001);
        let seconds: u64 = x.timeline.iter().map(|i| i.requests).sum();
        assert_eq!(seconds, 4_701, "the timelines add up too");
        assert_eq!(x.latency.len(), 4_701);
        // Shards' rates add: 4,701 requests over the longest 10 s.
        assert!((x.rps - 470.1).abs() < 1e-9);
    }

    /// `r` as another document: the same content, its own id.
    fn another(r: &Results) -> Results {
        let mut r = r.clone();
        r.document_id = crate::document::new_document_id();
        r
    }

    fn shard(r: &Results, index: u32, count: u32) -> Results {
        let mut r = another(r);
        r.settings.shard = Some(Shard { index, count });
        r
    }

    fn refused(parts: &[Results], how: How) -> String {
        merge(parts, how).unwrap_err().to_string()
    }

    #[test]
    fn documents_that_are_not_shards_of_one_run_are_refused() {
        let none = How::default();
        let one = sample::results(&[("s", vec![1_000; 10], 0)]);
        let mut other = shard(&one, 2, 2);
        other.settings.mix = "login=1".into();
        let e = refused(&[shard(&one, 1, 2), other], none);
        assert!(e.contains("ran the mix login=1"), "{e}");
        let a = shard(&one, 1, 2);
        let e = refused(&[a.clone(), another(&a)], none);
        assert!(e.contains("shard 1/2 appears twice"), "{e}");
        let e = refused(&[a.clone(), another(&one)], none);
        assert!(e.contains("some documents are shards"), "{e}");
        let c = shard(&one, 2, 3);
        let e = refused(&[a.clone(), c.clone()], none);
        assert!(e.contains("is not one of 2"), "{e}");
        let e = refused(&[shard(&one, 1, 3), c], none);
        assert!(e.contains("shard 3/3 is missing"), "{e}");
        let mut longer = shard(&one, 2, 2);
        longer.settings.duration_s = 30.0;
        let e = refused(&[a, longer], none);
        assert!(e.contains("ran for 30 s"), "{e}");
        assert!(merge(&[], none).is_err());
    }

    #[test]
    fn a_document_twice_or_separate_runs_are_not_one_run() {
        let none = How::default();
        let one = sample::results(&[("s", vec![1_000; 10], 0)]);
        // The same file twice: every count would double.
        let e = refused(&[one.clone(), one.clone()], none);
        assert!(
            e.contains("documents 1 and 2 are the same document ("),
            "{e}"
        );
        // A document older than its id, twice: told by its content.
        let mut old = one.clone();
        old.document_id = String::new();
        let e = refused(&[old.clone(), old.clone()], none);
        assert!(e.contains("are the same document:"), "{e}");
        // Two runs, each on its own: not shards of one, unless pooled.
        let two = another(&one);
        let e = refused(&[one.clone(), two.clone()], none);
        assert!(
            e.contains("they are separate runs") && e.contains("--pool"),
            "{e}"
        );
        let pool = How {
            pool: true,
            ..How::default()
        };
        let pooled = merge(&[one.clone(), two], pool).unwrap();
        assert!(pooled.pooled);
        assert_eq!(pooled.settings.users, 2 * one.settings.users);
        assert!(crate::text::describe(&pooled).contains("Pooled from 2 separate runs"));
        let e = refused(&[one.clone(), one.clone()], pool);
        assert!(e.contains("same document"), "{e}");
        // A merge beside one of its own parts.
        let (a, b) = (shard(&one, 1, 2), shard(&one, 2, 2));
        let ab = merge(&[a.clone(), b], none).unwrap();
        let e = refused(&[ab, a], pool);
        assert!(e.contains("is one of those document 1 merged"), "{e}");
    }

    #[test]
    fn shards_that_do_not_all_name_their_run_or_their_window_are_refused() {
        let none = How::default();
        let one = sample::results(&[("s", vec![1_000; 10], 0)]);
        let (mut a, b) = (shard(&one, 1, 2), shard(&one, 2, 2));
        a.settings.run_id = Some("nightly-41".into());
        let e = refused(&[a.clone(), b.clone()], none);
        assert!(e.contains("1 of the 2 shards name their run"), "{e}");
        a.settings.run_id = None;
        let mut old = b.clone();
        old.load.as_mut().unwrap().window_opened_at_ms = None;
        let e = refused(&[a.clone(), old.clone()], none);
        assert!(e.contains("older than version 4"), "{e}");
        let warns = How {
            skew_only_warns: true,
            ..How::default()
        };
        assert_eq!(merge(&[a, old], warns).unwrap().window_skew_s, None);
    }

    #[test]
    fn shards_of_other_runs_or_far_apart_windows_are_refused() {
        let none = How::default();
        let one = sample::results(&[("s", vec![1_000; 10], 0)]);
        let (mut a, mut b) = (shard(&one, 1, 2), shard(&one, 2, 2));
        a.settings.run_id = Some("nightly-41".into());
        b.settings.run_id = Some("nightly-42".into());
        let e = refused(&[a.clone(), b.clone()], none);
        assert!(
            e.contains("shard 2/2 is of run nightly-42, shard 1/2 of run nightly-41"),
            "{e}"
        );
        b.settings.run_id = a.settings.run_id.clone();
        let opened = |r: &mut Results, ms: u64| {
            r.load.as_mut().unwrap().window_opened_at_ms = Some(ms);
        };
        opened(&mut a, 1_800_000_000_000);
        opened(&mut b, 1_800_000_000_750);
        let merged = merge(&[a.clone(), b.clone()], none).unwrap();
        assert_eq!(merged.window_skew_s, Some(0.75));
        assert_eq!(merged.settings.run_id.as_deref(), Some("nightly-41"));
        assert!(crate::text::describe(&merged).contains("opened 0.75 s apart"));
        opened(&mut b, 1_800_000_007_000);
        let e = refused(&[a.clone(), b.clone()], none);
        assert!(e.contains("opened 7.00 s apart, more than 5 s"), "{e}");
        let warns = How {
            skew_only_warns: true,
            ..How::default()
        };
        assert_eq!(merge(&[a, b], warns).unwrap().window_skew_s, Some(7.0));
    }
}
