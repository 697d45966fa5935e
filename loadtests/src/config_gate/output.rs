//! What the gate writes: the terminal table, Markdown for a step summary,
//! `JUnit` XML, and a self-contained HTML page.

use std::fmt::Write as _;
use std::path::Path;

use harness::Service;
use scenarios::checks::{Finding, Outcome};
use scenarios::derived::{FlowOutcome, FlowResult};

/// A cell of a Markdown table: no pipes, no line breaks, at most 200
/// characters (the evidence below the table has it all).
fn cell(text: &str) -> String {
    let text = text.replace('|', "\\|").replace('\n', " ");
    match text.char_indices().nth(200) {
        Some((end, _)) => format!("{}...", &text[..end]),
        None => text,
    }
}

/// What a finding says in a line.
fn detail(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Passed { seen } => seen.clone(),
        Outcome::Failed { evidence, .. } => evidence
            .iter()
            .map(|e| e.part.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        Outcome::Acknowledged { acknowledged } => acknowledged
            .iter()
            .map(|(_, reason)| reason.as_str())
            .collect::<Vec<_>>()
            .join("; "),
        Outcome::Skipped { why } => why.clone(),
        Outcome::Off { reason } => reason.clone(),
    }
}

/// The gate's Markdown, for `$GITHUB_STEP_SUMMARY` and a PR comment.
pub fn markdown(flows: &[FlowResult], findings: &[Finding], ory_dir: &Path) -> String {
    let mut md = String::new();
    let _ = writeln!(
        md,
        "## orygate gate on `{}`: {}\n",
        ory_dir.display(),
        verdict(flows, findings, "**FAILED**")
    );
    if !flows.is_empty() {
        let _ = writeln!(md, "| flow | outcome | detail |\n| --- | --- | --- |");
        for f in flows {
            let (word, text) = flow_cells(&f.outcome);
            let _ = writeln!(md, "| {} | {word} | {} |", cell(&f.name), cell(&text));
        }
        let _ = writeln!(md);
    }
    let _ = writeln!(
        md,
        "| check | service | outcome | detail |\n| --- | --- | --- | --- |"
    );
    for f in findings {
        let _ = writeln!(
            md,
            "| `{}` | {} | {} | {} |",
            f.id,
            f.scope,
            f.outcome.word(),
            cell(&detail(&f.outcome))
        );
    }
    for f in findings {
        if let Outcome::Failed { evidence, .. } = &f.outcome {
            let _ = writeln!(md, "\n### `{}`: {}\n\n```text", f.id, f.title);
            for e in evidence {
                let _ = writeln!(md, "{e}");
            }
            let _ = writeln!(md, "```");
        }
    }
    md
}

/// The gate's `JUnit` XML: a case per check; acknowledged and skipped
/// checks are skipped cases with their reason.
pub fn junit(flows: &[FlowResult], findings: &[Finding]) -> String {
    use reports::text::escape;
    let failures = findings.iter().filter(|f| f.outcome.fails()).count()
        + flows
            .iter()
            .filter(|f| matches!(f.outcome, FlowOutcome::Failed { .. }))
            .count();
    let skipped = findings
        .iter()
        .filter(|f| !f.outcome.fails() && !matches!(f.outcome, Outcome::Passed { .. }))
        .count()
        + flows
            .iter()
            .filter(|f| matches!(f.outcome, FlowOutcome::Skipped { .. }))
            .count();
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        xml,
        "<testsuite name=\"orygate gate\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">",
        findings.len() + flows.len()
    );
    for f in flows {
        let _ = write!(
            xml,
            "  <testcase classname=\"gate.flows\" name=\"{}\" time=\"{:.3}\">",
            escape(&f.name),
            f.millis as f64 / 1000.0
        );
        match &f.outcome {
            FlowOutcome::Passed => {}
            FlowOutcome::Failed { error } => {
                let _ = write!(
                    xml,
                    "<failure message=\"{}\">{}</failure>",
                    escape(&f.name),
                    escape(error)
                );
            }
            FlowOutcome::Skipped { why } => {
                let _ = write!(xml, "<skipped message=\"{}\"/>", escape(why));
            }
        }
        let _ = writeln!(xml, "</testcase>");
    }
    for f in findings {
        let _ = write!(
            xml,
            "  <testcase classname=\"gate.{}\" name=\"{}\" time=\"{:.3}\">",
            f.scope,
            escape(f.id),
            f.millis as f64 / 1000.0
        );
        match &f.outcome {
            Outcome::Passed { .. } => {}
            Outcome::Failed { evidence, .. } => {
                let text: Vec<String> = evidence.iter().map(ToString::to_string).collect();
                let _ = write!(
                    xml,
                    "<failure message=\"{}\">{}</failure>",
                    escape(f.title),
                    escape(&text.join("\n"))
                );
            }
            other => {
                let _ = write!(
                    xml,
                    "<skipped message=\"{}: {}\"/>",
                    other.word(),
                    escape(&detail(other))
                );
            }
        }
        let _ = writeln!(xml, "</testcase>");
    }
    xml.push_str("</testsuite>\n");
    xml
}

/// The terminal table, with each failure's evidence and the end of its
/// service's log.
pub(super) fn terminal(
    flows: &[FlowResult],
    findings: &[Finding],
    logs: &[(&str, Service, String)],
) -> String {
    let mut out = String::new();
    for f in flows {
        let (word, text) = flow_cells(&f.outcome);
        let _ = writeln!(out, "{word:<13} {:<24} {}", "flow", f.name);
        if !text.is_empty() {
            let _ = writeln!(out, "    {text}");
        }
    }
    for f in findings {
        let _ = writeln!(out, "{:<13} {:<24} {}", f.outcome.word(), f.id, f.title);
        match &f.outcome {
            Outcome::Failed {
                evidence,
                acknowledged,
            } => {
                for e in evidence {
                    let _ = writeln!(out, "    {e}");
                }
                for (e, reason) in acknowledged {
                    let _ = writeln!(out, "    acknowledged ({reason}): {e}");
                }
                for (_, service, log) in logs.iter().filter(|(id, _, _)| *id == f.id) {
                    let _ = writeln!(out, "    the end of {service}'s log:");
                    for line in log.lines() {
                        let _ = writeln!(out, "      {line}");
                    }
                }
            }
            other => {
                let text = detail(other);
                if !text.is_empty() {
                    let _ = writeln!(out, "    {text}");
                }
            }
        }
    }
    let _ = writeln!(out, "gate: {}", verdict(flows, findings, "FAILED"));
    out
}

/// The gate's verdict in words: passed, or `failed_word` and how many of
/// each failed.
fn verdict(flows: &[FlowResult], findings: &[Finding], failed_word: &str) -> String {
    let failed_checks = findings.iter().filter(|f| f.outcome.fails()).count();
    let failed_flows = flows
        .iter()
        .filter(|f| matches!(f.outcome, FlowOutcome::Failed { .. }))
        .count();
    let flows_part = if flows.is_empty() {
        String::new()
    } else {
        format!(", {} flows", flows.len())
    };
    // What did not pass without being a failure, so a green line cannot
    // hide checks that never ran.
    let mut others = std::collections::BTreeMap::<&str, usize>::new();
    for f in findings {
        if !matches!(f.outcome, Outcome::Passed { .. } | Outcome::Failed { .. }) {
            *others.entry(f.outcome.word()).or_default() += 1;
        }
    }
    let others = others.iter().fold(String::new(), |mut out, (word, n)| {
        let _ = write!(out, "; {n} {word}");
        out
    });
    if failed_checks + failed_flows == 0 {
        format!("passed ({} checks{flows_part}{others})", findings.len())
    } else {
        format!(
            "{failed_word} ({failed_checks} of {} checks, {failed_flows} of {} flows)",
            findings.len(),
            flows.len()
        )
    }
}

/// A flow's outcome as a word and its detail.
fn flow_cells(outcome: &FlowOutcome) -> (&'static str, String) {
    match outcome {
        FlowOutcome::Passed => ("passed", String::new()),
        FlowOutcome::Failed { error } => ("FAILED", error.clone()),
        FlowOutcome::Skipped { why } => ("skipped", why.clone()),
    }
}

/// The gate's HTML page: self-contained (the reports' style inline, no
/// script), flows and checks in tables, each failure's evidence below.
pub fn html(flows: &[FlowResult], findings: &[Finding], ory_dir: &Path) -> String {
    use reports::text::escape;
    let failed = findings.iter().any(|f| f.outcome.fails())
        || flows
            .iter()
            .any(|f| matches!(f.outcome, FlowOutcome::Failed { .. }));
    let dir = ory_dir.display().to_string();
    let mut out = reports::html::page_start(&format!("orygate gate: {dir}"));
    let _ = write!(
        out,
        "<h1>orygate gate on <code>{}</code><span class=\"verdict {}\">{}</span></h1>\n\
         <p class=\"muted\">{}</p>\n",
        escape(&dir),
        if failed { "failed" } else { "passed" },
        if failed { "FAILED" } else { "passed" },
        escape(&verdict(flows, findings, "failed")),
    );
    if !flows.is_empty() {
        let _ = writeln!(
            out,
            "<h2>Flows the config enables</h2>\n<table><tr><th>flow</th><th>outcome</th><th>ms</th><th>detail</th></tr>"
        );
        for f in flows {
            let (word, text) = flow_cells(&f.outcome);
            let _ = writeln!(
                out,
                "<tr{}><td>{}</td><td class=\"text\">{word}</td><td>{}</td><td class=\"text\">{}</td></tr>",
                if word == "FAILED" {
                    " class=\"bad\""
                } else {
                    ""
                },
                escape(&f.name),
                f.millis,
                escape(&text).replace('\n', "<br>")
            );
        }
        let _ = writeln!(out, "</table>");
    }
    if findings.is_empty() {
        let _ = writeln!(out, "<h2>Security checks</h2>\n<p>None ran.</p>");
    } else {
        let _ = writeln!(
            out,
            "<h2>Security checks</h2>\n<table><tr><th>check</th><th>service</th><th>outcome</th><th>what it asserts</th><th>detail</th></tr>"
        );
    }
    for f in findings {
        let _ = writeln!(
            out,
            "<tr{}><td><code>{}</code></td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td><td class=\"text\">{}</td></tr>",
            if f.outcome.fails() {
                " class=\"bad\""
            } else {
                ""
            },
            escape(f.id),
            f.scope,
            f.outcome.word(),
            escape(f.title),
            escape(&cell(&detail(&f.outcome)))
        );
    }
    if !findings.is_empty() {
        let _ = writeln!(out, "</table>");
    }
    for f in findings {
        if let Outcome::Failed { evidence, .. } = &f.outcome {
            let _ = writeln!(
                out,
                "<h2><code>{}</code>: {}</h2>\n<pre>",
                escape(f.id),
                escape(f.title)
            );
            for e in evidence {
                let _ = writeln!(out, "{}", escape(&e.to_string()));
            }
            let _ = writeln!(out, "</pre>");
        }
    }
    out.push_str("</body></html>\n");
    out
}
