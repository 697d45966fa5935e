//! A finished load run as its results' load part: the window measured
//! against the one asked (and why it cannot stand for it, if so), the
//! setup, the open model's achieved rate, the steps.

use crate::context::Context;
use crate::load::LoadRun;
use crate::options::Options;
use crate::results;
use crate::{schedule, summary};
use reports::document::LoadResults;

/// The load's part of the results: the window against the one asked, the
/// setup, the open model's achieved rate, the steps.
pub(crate) fn load_results(ctx: &Context, opts: &Options, run: LoadRun) -> LoadResults {
    let open_model = ctx.schedule.as_ref().map(|schedule| {
        let rounds: u64 = summary::rounds(&run.steps).map(|s| s.requests).sum();
        reports::document::Achieved::new(schedule.rate(), rounds, rounds_seconds(schedule, &run))
    });
    let steps = run.steps;
    let requests: u64 = steps
        .iter()
        .filter(|s| reports::document::is_request(&s.step))
        .map(|s| s.requests)
        .sum();
    let short_window = (!run.interrupted)
        .then(|| short_window(opts, run.measured_seconds, requests))
        .flatten();
    let setup_failures = opts.users as u64 - run.setup.ready;
    LoadResults {
        open_model,
        window_opened_at_ms: run.window_opened_at_ms,
        measured_s: run.measured_seconds,
        asked_s: opts.duration.as_secs_f64(),
        short_window,
        wall_s: run.wall.as_secs_f64(),
        setup: run.setup,
        setup_failures,
        first_setup_error: (setup_failures > 0).then(|| {
            ctx.setup
                .first_error()
                .unwrap_or_else(|| "not ready within --setup-timeout".into())
        }),
        mail: ctx
            .mailboxes
            .as_ref()
            .map(|m| results::mail_counts(m.stats())),
        generator: run.generator,
        steps,
    }
}

/// How far the measured window may fall short of the one asked before it
/// cannot stand for it.
pub const WINDOW_TOLERANCE: f64 = 0.02;

/// Why a run that measured `measured_s` seconds and `requests` requests
/// cannot stand for the load asked, if it cannot.
fn short_window(opts: &Options, measured_s: f64, requests: u64) -> Option<String> {
    let asked = opts.duration.as_secs_f64();
    if measured_s < asked * (1.0 - WINDOW_TOLERANCE) {
        return Some(format!(
            "{measured_s:.2} s were measured of the {asked:.2} s asked (more than {:.0} % short): \
             the run ended before its window did",
            WINDOW_TOLERANCE * 100.0
        ));
    }
    (requests < opts.min_requests).then(|| {
        format!(
            "{requests} requests were measured in {measured_s:.1} s, fewer than --min-requests {}: \
             too few to stand for the load",
            opts.min_requests
        )
    })
}

/// The seconds an open model's rounds count over: the window, or longer
/// when its last rounds ended after it (they waited for a user or an
/// answer); a window cut short counts as long as it ran.
pub(crate) fn rounds_seconds(schedule: &schedule::Schedule, run: &LoadRun) -> f64 {
    if run.interrupted {
        run.measured_seconds
    } else {
        schedule.until_last_round().max(run.measured_seconds)
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::Options;

    #[test]
    fn a_window_short_of_the_time_or_the_requests_asked_cannot_stand_for_it() {
        let opts = Options::parse_from(["orygate", "-t", "10s", "--min-requests", "50"]);
        assert_eq!(short_window(&opts, 10.0, 1000), None);
        assert_eq!(short_window(&opts, 9.81, 1000), None, "within 2 %");
        let cut = short_window(&opts, 0.006, 4).expect("6 ms of 10 s");
        assert!(
            cut.starts_with("0.01 s were measured of the 10.00 s asked (more than 2 % short)"),
            "{cut}"
        );
        assert!(short_window(&opts, 9.79, 1000).is_some(), "2.1 % short");
        let few = short_window(&opts, 10.0, 49).expect("49 requests");
        assert!(
            few.starts_with("49 requests were measured in 10.0 s, fewer than --min-requests 50"),
            "{few}"
        );
    }
}
