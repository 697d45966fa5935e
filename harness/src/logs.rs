//! Container logs, read back when something failed.

use std::fmt::Write as _;

use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;
use testcontainers::bollard::Docker;
use testcontainers::bollard::query_parameters::LogsOptionsBuilder;
use testcontainers::{ContainerAsync, GenericImage};

/// How long reading a container's log may take.
const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// How many lines from the end a failure explanation reads: enough to find
/// the last warnings among an access log, without reading a long run's log.
const EXPLAIN_TAIL: usize = 2_000;

/// A container's output, stdout and stderr in the order they were written:
/// the whole of it, or its last `tail` lines (Docker cuts it, so a long
/// run's log is not read). Reading is bounded in time; what could not be
/// read is said in the text.
pub(crate) async fn read(container: &ContainerAsync<GenericImage>, tail: Option<usize>) -> String {
    let docker = match Docker::connect_with_local_defaults() {
        Ok(docker) => docker,
        Err(e) => return format!("(the log could not be read: {e})"),
    };
    let tail = tail.map_or_else(|| "all".to_owned(), |n| n.to_string());
    let options = LogsOptionsBuilder::default()
        .stdout(true)
        .stderr(true)
        .tail(&tail)
        .build();
    let mut stream = docker.logs(container.id(), Some(options));
    let mut text = Vec::new();
    let read = tokio::time::timeout(READ_TIMEOUT, async {
        while let Some(chunk) = stream.next().await {
            match chunk {
                Ok(output) => text.extend_from_slice(&output.into_bytes()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
    .await;
    let mut text = String::from_utf8_lossy(&text).into_owned();
    match read {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            let _ = write!(
                text,
                "
(reading the log failed: {e})"
            );
        }
        Err(_) => {
            let _ = write!(
                text,
                "
(reading the log took over {READ_TIMEOUT:?}; cut short)"
            );
        }
    }
    text
}

/// Whether a service's log shows Ory's usage telemetry on or off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Telemetry {
    /// Ory logged that it sends usage reports.
    On,
    /// Info-level records are logged and none says telemetry is on.
    Off,
    /// The log holds no info-level records (a higher `log.level`), so its
    /// silence proves nothing.
    Unknown,
}

/// Reads the telemetry state from a service's log. Ory logs "Software
/// quality assurance features are enabled" at info level when it was not
/// told to opt out.
pub(crate) fn telemetry(log: &str) -> Telemetry {
    const MARKER: &str = "Software quality assurance features are enabled";
    if log.contains(MARKER) {
        Telemetry::On
    } else if log.contains(r#""level":"info""#) || log.contains("level=info") {
        Telemetry::Off
    } else {
        Telemetry::Unknown
    }
}

/// The last `lines` lines of a container's output, as written, each cut to
/// a readable length. Used when a service fails to start: Ory prints its
/// config errors as plain text.
pub(crate) async fn tail(container: &ContainerAsync<GenericImage>, lines: usize) -> String {
    last_lines(&read(container, Some(lines)).await, lines)
}

/// The end of the output of a service that exited: its last `lines` lines
/// without the command-line help Ory prints after a config error, which
/// would otherwise push the reason ("expected array, but got string") out
/// of view.
pub(crate) async fn exit_tail(container: &ContainerAsync<GenericImage>, lines: usize) -> String {
    let text = read(container, Some(lines * 4)).await;
    last_lines(&without_usage(&text), lines)
}

/// `text` without cobra's `Usage:` / `Flags:` help.
fn without_usage(text: &str) -> String {
    let mut kept = Vec::new();
    let mut in_help = false;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("Usage:") || trimmed.starts_with("Flags:") {
            in_help = true;
            continue;
        }
        if in_help && (line.starts_with("  ") || trimmed.is_empty()) {
            continue;
        }
        in_help = false;
        kept.push(line);
    }
    kept.join("\n")
}

/// The last `lines` log lines that explain a failed request: warnings,
/// errors and audit records, one short line each, without the access log.
/// Falls back to the plain tail when there are none.
pub(crate) async fn relevant(container: &ContainerAsync<GenericImage>, lines: usize) -> String {
    let text = read(container, Some(EXPLAIN_TAIL)).await;
    let picked: Vec<String> = text.lines().filter_map(summarize).collect();
    if picked.is_empty() {
        return last_lines(&text, lines);
    }
    let start = picked.len().saturating_sub(lines);
    picked[start..].join("\n")
}

/// One log line as `time level msg: error (METHOD path -> status)`, if it
/// is a warning, an error or an audit record; plain-text lines are kept.
fn summarize(line: &str) -> Option<String> {
    let line = line.trim();
    if line.is_empty() {
        return None;
    }
    let Ok(record @ Value::Object(_)) = serde_json::from_str::<Value>(line) else {
        return Some(cut(line));
    };
    let field = |pointer: &str| {
        record.pointer(pointer).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    };
    let level = field("/level").unwrap_or_default();
    let audit = field("/audience").as_deref() == Some("audit");
    if !(audit || matches!(level.as_str(), "warning" | "error" | "fatal" | "panic")) {
        return None;
    }
    let msg = field("/msg").unwrap_or_default();
    let mut out = format!(
        "{} {level}{} {}",
        field("/time").unwrap_or_default(),
        if audit { " audit" } else { "" },
        msg.split_whitespace().collect::<Vec<_>>().join(" ")
    );
    if let Some(error) = field("/error/message") {
        let _ = write!(out, ": {error}");
    }
    if let (Some(method), Some(path)) = (field("/http_request/method"), field("/http_request/path"))
    {
        let _ = write!(out, " ({method} {path}");
        if let Some(status) = field("/http_response/status") {
            let _ = write!(out, " -> {status}");
        }
        out.push(')');
    }
    Some(cut(&out))
}

fn cut(line: &str) -> String {
    const WIDTH: usize = 600;
    match line.char_indices().nth(WIDTH) {
        Some((at, _)) => format!("{}…", &line[..at]),
        None => line.to_owned(),
    }
}

fn last_lines(text: &str, lines: usize) -> String {
    let kept: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = kept.len().saturating_sub(lines);
    kept[start..]
        .iter()
        .map(|l| cut(l))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_last_non_empty_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
        assert_eq!(last_lines("a", 5), "a");
    }

    #[test]
    fn drops_the_command_line_help_after_a_config_error() {
        let log = "Error: I[#/hooks] expected array, but got string\nUsage:\n  kratos serve [flags]\n\nFlags:\n  -c, --config strings   Path\n      --dev              Disables\n\nI[#/hooks] doesn't validate";
        assert_eq!(
            without_usage(log),
            "Error: I[#/hooks] expected array, but got string\nI[#/hooks] doesn't validate"
        );
    }

    #[test]
    fn cuts_long_lines() {
        let line = "x".repeat(1000);
        assert_eq!(last_lines(&line, 1).chars().count(), 601);
    }

    #[test]
    fn telemetry_is_on_off_or_unknown() {
        let on = r#"{"level":"info","msg":"Software quality assurance features are enabled. Learn more at: https://www.ory.sh/docs/ecosystem/sqa"}"#;
        assert_eq!(telemetry(on), Telemetry::On);
        assert_eq!(
            telemetry(r#"{"level":"info","msg":"Starting the public httpd"}"#),
            Telemetry::Off
        );
        assert_eq!(telemetry("time=T level=info msg=started"), Telemetry::Off);
        assert_eq!(
            telemetry(r#"{"level":"warning","msg":"dev mode"}"#),
            Telemetry::Unknown
        );
    }

    #[test]
    fn summarizes_audit_and_errors_and_drops_the_access_log() {
        let access = r#"{"level":"info","msg":"completed handling request","http_request":{"method":"GET","path":"/health/ready"}}"#;
        assert_eq!(summarize(access), None);
        let audit = r#"{"audience":"audit","level":"info","msg":"Encountered self-service login error.","time":"T","error":{"message":"the provided credentials are invalid"},"http_request":{"method":"POST","path":"/self-service/login"},"http_response":{"status":303}}"#;
        assert_eq!(
            summarize(audit).as_deref(),
            Some(
                "T info audit Encountered self-service login error.: the provided credentials are invalid (POST /self-service/login -> 303)"
            )
        );
        assert_eq!(
            summarize("Error: bad config").as_deref(),
            Some("Error: bad config")
        );
    }
}
