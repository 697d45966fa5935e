//! The HTML report: one file that renders with no network (styles inline,
//! charts as inline SVG, no script, no font to fetch).

use std::fmt::Write as _;

use crate::charts;
use crate::document::{Outcome, Results};
use crate::text::{
    describe, escape, measured, number, setup_line, short_window_line, step_cells, sweep_cells,
    verdict,
};

const STYLE: &str = r"
body { font-family: sans-serif; margin: 2rem auto; max-width: 1100px; color: #1d1d1f; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.2rem; margin-top: 2.2rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
.verdict { display: inline-block; padding: .15rem .6rem; border-radius: .3rem; color: #fff; font-weight: bold; margin-left: .5rem; font-size: 1rem; vertical-align: middle; }
.passed { background: #1a7f37; } .failed { background: #c62828; }
.muted { color: #666; font-size: .9rem; }
table { border-collapse: collapse; margin: .6rem 0; font-size: .88rem; }
th, td { padding: .3rem .6rem; border-bottom: 1px solid #e5e5e5; text-align: right; }
th { background: #f6f8fa; } td:first-child, th:first-child { text-align: left; }
td.text { text-align: left; }
tr.bad td { background: #fdecea; }
code { font-size: .85rem; }
ul.failures li { margin: .3rem 0; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.charts svg { border: 1px solid #eee; max-width: 100%; height: auto; }
pre { background: #f6f8fa; padding: .6rem; overflow-x: auto; font-size: .8rem; }
";

/// The start of every orygate page, up to `<body>`: the doctype, the
/// `title` (escaped here) and the style, inline.
pub fn page_start(title: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{}</title><style>{STYLE}</style></head><body>\n",
        escape(title)
    )
}

/// The report of `r`.
pub fn render(r: &Results) -> String {
    let ok = r.gate_passed() && !r.interrupted;
    let mut out = page_start(&format!("orygate: {}", verdict(r)));
    let _ = write!(
        out,
        "<h1>orygate report<span class=\"verdict {}\">{}</span></h1>\n\
         <p>{}</p><p class=\"muted\">started {} · results schema {} v{}</p>\n",
        if ok { "passed" } else { "failed" },
        escape(&verdict(r)),
        escape(&describe(r)),
        started(r.started_at),
        escape(&r.schema),
        r.version
    );
    failures(&mut out, r);
    if let Some(load) = &r.load {
        steps_table(&mut out, r);
        let _ = writeln!(
            out,
            "<p class=\"muted\">{} ({:.1} s in all, with the setup and the stop). \
             Generator: {:.2} CPU s, {:.2} cores busy, {:.0} µs CPU per request, peak RSS {:.1} MiB.{}</p>",
            measured(load),
            load.wall_s,
            load.generator.cpu_seconds,
            load.generator.cores_busy,
            load.generator.cpu_us_per_request,
            load.generator.peak_rss_mib,
            load.open_model.map_or_else(String::new, |m| format!(
                " Open model: {:.1} rounds/s asked, {:.1} achieved; round latency counts from each round's intended start.",
                m.asked_per_s, m.achieved_per_s
            ))
        );
        if let Some(line) = setup_line(load) {
            let _ = writeln!(out, "<p class=\"muted\">{}</p>", escape(&line));
        }
    }
    baseline(&mut out, r);
    if let Some(load) = &r.load {
        out.push_str("<h2>Over time</h2>\n<div class=\"charts\">\n");
        out.push_str(&charts::throughput(load));
        out.push_str(&charts::distribution(&load.steps));
        out.push_str(
            "</div>\n<h2>Latency per step, second by second</h2>\n<div class=\"charts\">\n",
        );
        for step in load.steps.iter().filter(|s| !s.latency.is_empty()) {
            out.push_str(&charts::latency_over_time(step));
        }
        out.push_str("</div>\n");
    }
    sweep(&mut out, r);
    smoke(&mut out, r);
    let _ = write!(
        out,
        "<h2>Settings</h2>\n<pre>{}</pre>\n</body></html>\n",
        escape(&serde_json::to_string_pretty(&r.settings).unwrap_or_default())
    );
    out
}

fn failures(out: &mut String, r: &Results) {
    let mut items = Vec::new();
    for s in r.smoke.iter().filter(|s| s.failed()) {
        if let Outcome::Failed { message, .. } = &s.outcome {
            items.push(format!(
                "smoke <b>{}</b>: <pre>{}</pre>",
                escape(&s.flow),
                escape(message)
            ));
        }
    }
    for s in r
        .load
        .iter()
        .flat_map(|l| &l.steps)
        .filter(|s| s.failures > 0)
    {
        let kinds: Vec<String> = s.errors.iter().map(|(k, n)| format!("{n} × {k}")).collect();
        items.push(format!(
            "<code>{}</code>: {} of {} failed: {}",
            escape(&s.step),
            s.failures,
            s.requests,
            escape(&kinds.join(", "))
        ));
    }
    if let Some(line) = r.load.as_ref().and_then(short_window_line) {
        items.push(escape(&line));
    }
    for row in r
        .baseline
        .iter()
        .flat_map(crate::comparison::Comparison::failing)
    {
        items.push(format!(
            "baseline: <code>{}</code> {} {} → {} ({})",
            escape(&row.step),
            escape(&row.metric),
            number(row.baseline),
            number(row.now),
            row.verdict.label()
        ));
    }
    if !items.is_empty() {
        out.push_str("<h2>Failures</h2>\n<ul class=\"failures\">\n");
        for item in items {
            let _ = writeln!(out, "<li>{item}</li>");
        }
        out.push_str("</ul>\n");
    }
}

/// Numbers as table cells (they need no escaping).
fn cells(values: &[String]) -> String {
    let mut row = String::new();
    for v in values {
        let _ = write!(row, "<td>{v}</td>");
    }
    row
}

fn steps_table(out: &mut String, r: &Results) {
    let Some(load) = &r.load else { return };
    out.push_str(
        "<h2>Steps</h2>\n<table><tr><th>step</th><th>requests</th><th>failures</th><th>rps</th>\
         <th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>max ms</th><th>statuses</th></tr>\n",
    );
    let mut steps: Vec<_> = load.steps.iter().collect();
    steps.sort_by_key(|s| s.failures == 0);
    for s in steps {
        let statuses: Vec<String> = s
            .statuses
            .iter()
            .map(|(c, n)| format!("{c}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "<tr{}><td><code>{}</code></td>{}<td class=\"text\">{}</td></tr>",
            if s.failures > 0 { " class=\"bad\"" } else { "" },
            escape(&s.step),
            cells(&step_cells(s)),
            statuses.join(", ")
        );
    }
    out.push_str("</table>\n");
}

fn baseline(out: &mut String, r: &Results) {
    let Some(c) = &r.baseline else { return };
    let _ = write!(
        out,
        "<h2>Against the baseline</h2>\n<p class=\"muted\"><code>{}</code> (started {}): p95 and p99 \
         regress above {}× <i>and</i> +{} ms; errors above +{} points; a percentile compared when the baseline has {} requests beyond it. \
         Gate: <b>{}</b>.</p>\n<table><tr><th>step</th><th>metric</th><th>baseline</th><th>now</th>\
         <th>ratio</th><th>verdict</th></tr>\n",
        escape(&c.baseline),
        started(c.baseline_started_at),
        c.thresholds.ratio,
        c.thresholds.floor_ms,
        c.thresholds.error_points,
        c.thresholds.min_tail,
        if c.passed { "passed" } else { "FAILED" }
    );
    let mut rows: Vec<_> = c.rows.iter().collect();
    rows.sort_by_key(|r| !r.verdict.fails());
    for row in rows {
        let _ = writeln!(
            out,
            "<tr{}><td><code>{}</code></td><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text\">{}</td></tr>",
            if row.verdict.fails() {
                " class=\"bad\""
            } else {
                ""
            },
            escape(&row.step),
            escape(&row.metric),
            number(row.baseline),
            number(row.now),
            number(row.ratio),
            row.verdict.label()
        );
    }
    out.push_str("</table>\n");
}

fn sweep(out: &mut String, r: &Results) {
    let Some(sweep) = &r.sweep else { return };
    let _ = write!(
        out,
        "<h2>Capacity sweep</h2>\n<p>Capacity (p99 ≤ {} ms, errors ≤ {} %, achieved ≥ {} % of asked): <b>{}</b></p>\n",
        sweep.objective.p99_ms,
        sweep.objective.error_budget * 100.0,
        sweep.objective.min_achieved * 100.0,
        sweep.capacity_per_s.map_or_else(
            || "none of the rates held".into(),
            |c| format!("{c:.1} rounds/s")
        )
    );
    out.push_str("<div class=\"charts\">");
    out.push_str(&charts::sweep(sweep));
    out.push_str(
        "</div>\n<table><tr><th>asked/s</th><th>achieved/s</th><th>rounds</th><th>failed</th>\
         <th>p50 ms</th><th>p95 ms</th><th>p99 ms</th><th>holds</th></tr>\n",
    );
    for s in &sweep.steps {
        let _ = writeln!(
            out,
            "<tr{}>{}<td>{}</td></tr>",
            if s.holds { "" } else { " class=\"bad\"" },
            cells(&sweep_cells(s)),
            if s.holds { "yes" } else { "no" }
        );
    }
    out.push_str("</table>\n");
}

fn smoke(out: &mut String, r: &Results) {
    if r.smoke.is_empty() {
        return;
    }
    out.push_str("<h2>Smoke: every flow once</h2>\n<table><tr><th>flow</th><th>result</th><th>ms</th></tr>\n");
    let mut smoke: Vec<_> = r.smoke.iter().collect();
    smoke.sort_by_key(|s| !s.failed());
    for s in smoke {
        let result = match &s.outcome {
            Outcome::Passed => "pass".to_owned(),
            Outcome::Failed {
                step,
                status,
                ory_id,
                ..
            } => format!(
                "FAIL {}",
                escape(
                    &[
                        step.clone(),
                        status.map(|s| format!("HTTP {s}")),
                        ory_id.clone()
                    ]
                    .into_iter()
                    .flatten()
                    .collect::<Vec<_>>()
                    .join(", ")
                )
            ),
            Outcome::Skipped { reason } => format!("skipped: {}", escape(reason)),
        };
        let _ = writeln!(
            out,
            "<tr{}><td>{}</td><td class=\"text\">{result}</td><td>{}</td></tr>",
            if s.failed() { " class=\"bad\"" } else { "" },
            escape(&s.flow),
            s.millis
        );
    }
    out.push_str("</table>\n");
}

fn started(epoch: u64) -> String {
    humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch))
        .to_string()
}
