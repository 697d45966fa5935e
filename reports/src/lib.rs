//! orygate's results and what is made of them.
//!
//! A run writes one [`Results`] document (JSON, schema `orygate-results`,
//! versioned; the JSON Schema is generated from these types and committed
//! as `reports/schema/results.schema.json`). Each step keeps its whole
//! latency histogram ([`Latency`], `HdrHistogram` V2 + deflate), so shards
//! [`merge`](merge::merge) exactly and a run compares with a
//! [`baseline`] step by step. From a document: [`html`] (self-contained,
//! charts as inline SVG), [`markdown`] (for CI job summaries) and
//! [`junit`] XML.

#![allow(clippy::cast_precision_loss)]

pub mod baseline;
pub mod charts;
mod comparison;
pub mod document;
pub mod html;
pub mod junit;
mod latency;
pub mod markdown;
pub mod merge;
pub mod text;

use std::path::{Path, PathBuf};

use document::{OLDEST_VERSION, Results, SCHEMA, VERSION};

pub use comparison::{Comparison, Row, Thresholds, Verdict};
pub use latency::{INTERVAL_DIGITS, Latency, RUN_DIGITS};

/// A document that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("read {path}: {reason}")]
    Document { path: PathBuf, reason: String },
    /// JSON, but another kind of document (a baseline, a schema).
    #[error(
        "read {path}: not an orygate results document (schema {schema:?}, expected {SCHEMA:?})"
    )]
    NotResults {
        path: PathBuf,
        schema: Option<String>,
    },
}

/// The output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Json,
    Html,
    Markdown,
    Junit,
}

impl Format {
    pub const ALL: [Self; 4] = [Self::Json, Self::Html, Self::Markdown, Self::Junit];

    /// `formats` after the JSON, which is always written (first).
    pub fn with_json(formats: &[Self]) -> Vec<Self> {
        std::iter::once(Self::Json)
            .chain(formats.iter().copied().filter(|f| *f != Self::Json))
            .collect()
    }

    /// The file name's ending.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Html => "html",
            Self::Markdown => "md",
            Self::Junit => "junit.xml",
        }
    }

    /// `r` in this format.
    pub fn render(self, r: &Results) -> String {
        match self {
            Self::Json => serde_json::to_string_pretty(r).expect("results serialize"),
            Self::Html => html::render(r),
            Self::Markdown => markdown::render(r),
            Self::Junit => junit::render(r),
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim() {
            "json" => Ok(Self::Json),
            "html" => Ok(Self::Html),
            "md" | "markdown" => Ok(Self::Markdown),
            "junit" | "xml" => Ok(Self::Junit),
            other => Err(format!(
                "unknown format {other:?}; the formats are json, html, md, junit"
            )),
        }
    }
}

/// Reads a results document, checking its schema name and version first.
pub fn read(path: &Path) -> Result<Results, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        action: "read",
        path: path.to_owned(),
        source,
    })?;
    let bad = |reason: String| Error::Document {
        path: path.to_owned(),
        reason,
    };
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let schema = value.get("schema").and_then(serde_json::Value::as_str);
    let version = value.get("version").and_then(serde_json::Value::as_u64);
    if schema != Some(SCHEMA) {
        return Err(Error::NotResults {
            path: path.to_owned(),
            schema: schema.map(str::to_owned),
        });
    }
    if !version.is_some_and(|v| (u64::from(OLDEST_VERSION)..=u64::from(VERSION)).contains(&v)) {
        return Err(bad(format!(
            "results version {version:?}; this orygate reads versions {OLDEST_VERSION} to {VERSION}"
        )));
    }
    serde_json::from_value(value).map_err(|e| bad(e.to_string()))
}

/// Writes `r` as `<dir>/<stem>.<extension>` in each of `formats`; returns
/// the paths in the order given.
pub fn write(
    r: &Results,
    dir: &Path,
    stem: &str,
    formats: &[Format],
) -> Result<Vec<PathBuf>, Error> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        action: "create",
        path: dir.to_owned(),
        source,
    })?;
    formats
        .iter()
        .map(|format| {
            let path = dir.join(format!("{stem}.{}", format.extension()));
            std::fs::write(&path, format.render(r)).map_err(|source| Error::Io {
                action: "write",
                path: path.clone(),
                source,
            })?;
            Ok(path)
        })
        .collect()
}

/// The JSON Schema of the results document, generated from the types.
pub fn schema() -> String {
    let schema = schemars::schema_for!(Results);
    serde_json::to_string_pretty(&schema).expect("a schema serializes") + "\n"
}

#[cfg(test)]
pub(crate) mod sample {
    //! A small document of made-up numbers, for the tests of this crate.

    use std::time::Duration;

    use crate::document::{
        Generator, LoadResults, Machine, Outcome, Results, Settings, SetupPhase, SmokeResult,
    };
    use crate::merge::{empty_interval, empty_step, refresh};

    /// A run of `steps` (name, latencies in µs, failures), one interval
    /// per 100 requests.
    pub fn results(steps: &[(&str, Vec<u64>, u64)]) -> Results {
        let steps = steps
            .iter()
            .map(|(name, us, failures)| {
                let mut s = empty_step(name);
                for (i, v) in us.iter().enumerate() {
                    let second = u32::try_from(i / 100).unwrap();
                    if s.timeline.last().is_none_or(|l| l.second != second) {
                        s.timeline.push(empty_interval(second));
                    }
                    let interval = s.timeline.last_mut().unwrap();
                    interval.requests += 1;
                    interval.latency.record(Duration::from_micros(*v));
                    s.latency.record(Duration::from_micros(*v));
                }
                s.requests = us.len() as u64;
                s.failures = *failures;
                s.statuses = vec![(200, s.requests - failures)];
                if *failures > 0 {
                    s.errors = vec![("HTTP 401 (session_inactive)".into(), *failures)];
                }
                refresh(&mut s, 10.0);
                s
            })
            .collect();
        Results {
            schema: crate::document::SCHEMA.into(),
            version: crate::document::VERSION,
            started_at: 1_800_000_000,
            settings: Settings {
                mix: "whoami=1".into(),
                users: 4,
                increase_rate: None,
                rate: None,
                sweep: None,
                identities: 0,
                duration_s: 10.0,
                request_timeout_s: 10.0,
                target: "a fresh stack".into(),
                kratos_version: "v1.3.1".into(),
                kratos_env: Vec::new(),
                oathkeeper_env: Vec::new(),
                oathkeeper: None,
                shard: None,
                run_id: None,
            },
            machine: Machine {
                cores: 2,
                cpu: "a test CPU".into(),
            },
            smoke: vec![SmokeResult {
                flow: "sign-up".into(),
                outcome: Outcome::Passed,
                millis: 120,
            }],
            load: Some(LoadResults {
                open_model: None,
                window_opened_at_ms: Some(1_800_000_000_500),
                measured_s: 10.0,
                asked_s: 10.0,
                short_window: None,
                wall_s: 11.0,
                steps,
                setup: SetupPhase {
                    ramp_s: 0.25,
                    seconds: 0.5,
                    ready: 4,
                    retries: 0,
                },
                setup_failures: 0,
                first_setup_error: None,
                mail: None,
                generator: Generator {
                    cpu_seconds: 1.0,
                    cores_busy: 0.1,
                    cpu_us_per_request: 100.0,
                    requests: 10_000,
                    peak_rss_mib: 30.0,
                },
            }),
            sweep: None,
            passed: true,
            interrupted: false,
            merged_from: Vec::new(),
            baseline: None,
            document_id: crate::document::new_document_id(),
            pooled: false,
            window_skew_s: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMMITTED: &str = include_str!("../schema/results.schema.json");

    /// The committed schema is the one the types generate. After a change
    /// to the types: `ORYGATE_WRITE_SCHEMA=1 cargo test -p reports`.
    #[test]
    fn the_committed_schema_is_the_generated_one() {
        let generated = schema();
        if std::env::var_os("ORYGATE_WRITE_SCHEMA").is_some() {
            let path = concat!(env!("CARGO_MANIFEST_DIR"), "/schema/results.schema.json");
            std::fs::write(path, &generated).unwrap();
            return;
        }
        assert!(
            generated == COMMITTED,
            "reports/schema/results.schema.json is stale: run ORYGATE_WRITE_SCHEMA=1 cargo test -p reports"
        );
    }

    /// A version 2 document (the committed login baseline, written before
    /// the setup phase was recorded) reads, its new fields empty.
    #[test]
    fn a_version_2_document_reads_with_no_setup_and_no_window_asked() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/baselines/login.json");
        let text = std::fs::read_to_string(path).unwrap();
        assert!(text.contains("\"version\": 2"), "the baseline is version 2");
        let old = read(std::path::Path::new(path)).unwrap();
        let load = old.load.unwrap();
        assert_eq!(load.setup.ready, 0);
        assert!(load.asked_s.abs() < f64::EPSILON);
        assert!(load.short_window.is_none());
        assert!(load.measured_s > 0.0);
    }

    /// A window cut short fails the run in every format, with its reason;
    /// users left out of the window are said beside the setup.
    #[test]
    fn a_short_window_and_users_left_out_show_in_every_format() {
        let mut r = sample::results(&[("kratos GET /sessions/whoami", vec![900; 4], 0)]);
        r.passed = false;
        let load = r.load.as_mut().unwrap();
        load.measured_s = 0.006;
        load.short_window =
            Some("0.01 s were measured of the 10.00 s asked (more than 2 % short)".into());
        load.setup_failures = 2;
        load.first_setup_error = Some(
            "kratos POST /self-service/login?flow=%: HTTP 500: database table is locked".into(),
        );
        let reason = "The measured window cannot stand for the one asked: 0.01 s were measured of the 10.00 s asked";
        let left_out = "2 left out of the window, the first because: kratos POST /self-service/login?flow=%: HTTP 500";

        let md = Format::Markdown.render(&r);
        assert!(
            md.contains("### Load (0.01 s measured of 10.00 s asked)"),
            "{md}"
        );
        let failures = md.split("### Failures").nth(1).expect("a failures section");
        assert!(failures.contains(reason), "{md}");
        assert!(
            md.contains("Setup: 4 users ready in 0.5 s (launched over 0.2 s)"),
            "{md}"
        );
        assert!(md.contains(left_out), "{md}");

        let html = Format::Html.render(&r);
        let failures = html
            .split("<h2>Failures</h2>")
            .nth(1)
            .expect("a failures list");
        assert!(failures.contains(reason), "{html}");
        assert!(html.contains(left_out), "{html}");

        let junit = Format::Junit.render(&r);
        let window = junit
            .split("<testcase name=\"the measured window\"")
            .nth(1)
            .expect("a case for the window");
        assert!(
            window.contains("<failure message=\"0.01 s were measured of the 10.00 s asked"),
            "{junit}"
        );
        assert!(junit.contains(left_out), "{junit}");
    }

    fn validator() -> jsonschema::Validator {
        let schema: serde_json::Value = serde_json::from_str(COMMITTED).unwrap();
        jsonschema::validator_for(&schema).unwrap()
    }

    #[test]
    fn a_document_validates_and_a_broken_one_does_not() {
        let v = validator();
        let doc =
            serde_json::to_value(sample::results(&[("kratos GET /x", vec![900; 300], 2)])).unwrap();
        let errors: Vec<String> = v.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:?}");

        let mut broken = doc.clone();
        broken["load"]["steps"][0]["latency"] = "not base64!".into();
        assert!(!v.is_valid(&broken), "a histogram that is not base64");
        let mut broken = doc.clone();
        broken["load"]["steps"][0]
            .as_object_mut()
            .unwrap()
            .remove("requests");
        assert!(!v.is_valid(&broken), "a step without its count");
        let mut broken = doc;
        broken["smoke"][0]["outcome"]["result"] = "maybe".into();
        assert!(!v.is_valid(&broken), "an outcome that is none of the three");
    }

    #[test]
    fn a_document_reads_back_whole_and_others_are_refused_with_a_reason() {
        let dir = std::env::temp_dir().join(format!("orygate-reports-{}", std::process::id()));
        let r = sample::results(&[("kratos GET /x", (1..500).collect(), 0)]);
        let paths = write(&r, &dir, "run", &Format::ALL).unwrap();
        assert_eq!(paths.len(), 4);
        let back = read(&paths[0]).unwrap();
        let (a, b) = (
            &r.load.as_ref().unwrap().steps[0],
            &back.load.unwrap().steps[0],
        );
        assert_eq!(a.latency, b.latency);
        assert_eq!(a.timeline.len(), b.timeline.len());

        std::fs::write(dir.join("other.json"), r#"{"schema":"oha","version":1}"#).unwrap();
        let e = read(&dir.join("other.json")).unwrap_err().to_string();
        assert!(e.contains("not an orygate results document"), "{e}");
        std::fs::write(
            dir.join("old.json"),
            r#"{"schema":"orygate-results","version":1}"#,
        )
        .unwrap();
        let e = read(&dir.join("old.json")).unwrap_err().to_string();
        assert!(e.contains("version Some(1)"), "{e}");
        assert!(e.contains("reads versions 2 to 4"), "{e}");
        let _ = std::fs::remove_dir_all(dir);
    }
}
