//! Markdown for CI job summaries (`$GITHUB_STEP_SUMMARY`): the verdict,
//! failures first, then the summary table, the baseline side by side and
//! a sweep.

use std::fmt::Write as _;

use crate::document::{Outcome, Results};
use crate::text::{
    describe, measured, number, setup_line, short_window_line, step_cells, sweep_cells, verdict,
};

/// The whole summary.
pub fn render(r: &Results) -> String {
    let mut out = format!("## orygate: {}\n\n{}\n\n", verdict(r), describe(r));
    failures(&mut out, r);
    load(&mut out, r);
    baseline(&mut out, r);
    sweep(&mut out, r);
    smoke(&mut out, r);
    out
}

fn failures(out: &mut String, r: &Results) {
    let failed_flows: Vec<_> = r.smoke.iter().filter(|s| s.failed()).collect();
    let failing_steps: Vec<_> = r
        .load
        .iter()
        .flat_map(|l| &l.steps)
        .filter(|s| s.failures > 0)
        .collect();
    let regressions: Vec<_> = r
        .baseline
        .iter()
        .flat_map(crate::comparison::Comparison::failing)
        .collect();
    let short = r.load.as_ref().and_then(short_window_line);
    if !failed_flows.is_empty()
        || !failing_steps.is_empty()
        || !regressions.is_empty()
        || short.is_some()
    {
        out.push_str("### Failures\n\n");
        for s in failed_flows {
            if let Outcome::Failed { message, .. } = &s.outcome {
                let first = message.lines().next().unwrap_or_default();
                let _ = writeln!(out, "- smoke **{}**: {}", cell(&s.flow), cell(first));
            }
        }
        for s in failing_steps {
            let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{n} × {k}")).collect();
            let _ = writeln!(
                out,
                "- {}: {} of {} failed ({})",
                code(&s.step),
                s.failures,
                s.requests,
                cell(&kinds.join(", "))
            );
        }
        for row in regressions {
            let _ = writeln!(
                out,
                "- baseline: {} {} {} → {} ({})",
                code(&row.step),
                cell(&row.metric),
                number(row.baseline),
                number(row.now),
                row.verdict.label()
            );
        }
        if let Some(line) = short {
            let _ = writeln!(out, "- {}", cell(&line));
        }
        out.push('\n');
    }
}

fn load(out: &mut String, r: &Results) {
    if let Some(load) = &r.load {
        let _ = writeln!(
            out,
            "### Load ({})\n\n| step | requests | failures | rps | p50 ms | p95 ms | p99 ms | max ms |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
            measured(load)
        );
        let mut steps: Vec<_> = load.steps.iter().collect();
        steps.sort_by_key(|s| s.failures == 0);
        for s in steps {
            let _ = writeln!(out, "| {} | {} |", code(&s.step), step_cells(s).join(" | "));
        }
        let g = load.generator;
        let _ = writeln!(
            out,
            "\nGenerator: {:.2} CPU s, {:.0} µs CPU per request, peak RSS {:.1} MiB.",
            g.cpu_seconds, g.cpu_us_per_request, g.peak_rss_mib
        );
        if let Some(line) = setup_line(load) {
            let _ = writeln!(out, "\n{}", cell(&line));
        }
        if let Some(rate) = load.open_model {
            let _ = writeln!(
                out,
                "Open model: {:.1} rounds/s asked, {:.1} achieved.",
                rate.asked_per_s, rate.achieved_per_s
            );
        }
        out.push('\n');
    }
}

fn baseline(out: &mut String, r: &Results) {
    if let Some(c) = &r.baseline {
        let _ = writeln!(
            out,
            "### Against the baseline\n\n{}: p95 and p99 regress above {}× and +{} ms, errors above +{} points.\n\n| step | metric | baseline | now | ratio | verdict |\n| --- | --- | ---: | ---: | ---: | --- |",
            code(&c.baseline),
            c.thresholds.ratio,
            c.thresholds.floor_ms,
            c.thresholds.error_points
        );
        let mut rows: Vec<_> = c.rows.iter().collect();
        rows.sort_by_key(|r| !r.verdict.fails());
        for row in rows {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                code(&row.step),
                cell(&row.metric),
                number(row.baseline),
                number(row.now),
                number(row.ratio),
                if row.verdict.fails() {
                    format!("**{}**", row.verdict.label())
                } else {
                    row.verdict.label().to_owned()
                }
            );
        }
        out.push('\n');
    }
}

fn sweep(out: &mut String, r: &Results) {
    if let Some(sweep) = &r.sweep {
        let _ = writeln!(
            out,
            "### Capacity sweep\n\n| asked/s | achieved/s | rounds | failed | p50 ms | p95 ms | p99 ms | holds |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for s in &sweep.steps {
            let holds = if s.holds { "yes" } else { "**no**" };
            let _ = writeln!(out, "| {} | {holds} |", sweep_cells(s).join(" | "));
        }
        let _ = writeln!(
            out,
            "\nCapacity (p99 ≤ {} ms, errors ≤ {} %, achieved ≥ {} % of asked): {}\n",
            sweep.objective.p99_ms,
            sweep.objective.error_budget * 100.0,
            sweep.objective.min_achieved * 100.0,
            sweep.capacity_per_s.map_or_else(
                || "none of the rates held".into(),
                |c| format!("**{c:.1}/s**")
            )
        );
    }
}

fn smoke(out: &mut String, r: &Results) {
    if !r.smoke.is_empty() {
        out.push_str("### Smoke\n\n| flow | result | ms |\n| --- | --- | ---: |\n");
        let mut smoke: Vec<_> = r.smoke.iter().collect();
        smoke.sort_by_key(|s| !s.failed());
        for s in smoke {
            let result = match &s.outcome {
                Outcome::Passed => "pass".to_owned(),
                Outcome::Failed { .. } => "**FAIL**".to_owned(),
                Outcome::Skipped { reason } => format!("skipped: {}", cell(reason)),
            };
            let _ = writeln!(out, "| {} | {result} | {} |", cell(&s.flow), s.millis);
        }
    }
}

/// Text made safe for a table cell on one line: no table break, no HTML
/// (GitHub renders it), no code span.
fn cell(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' => out.push_str("\\|"),
            '\n' | '\r' => out.push(' '),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '`' => out.push_str("\\`"),
            c => out.push(c),
        }
    }
    out
}

/// A step name as code, in a table cell.
fn code(text: &str) -> String {
    format!(
        "`{}`",
        text.replace('`', "'")
            .replace('|', "\\|")
            .replace(['\n', '\r'], " ")
    )
}
