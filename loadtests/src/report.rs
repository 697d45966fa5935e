//! `orygate report`: a saved results document rendered again in any
//! format and gated against a baseline, or the shards of one run merged.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::gate::Gate;

/// orygate's other commands.
#[derive(Debug, Clone, clap::Subcommand)]
pub enum Command {
    /// Renders a saved results document again (and gates it against a
    /// baseline), or merges shards: `orygate report RESULTS.json`,
    /// `orygate report merge a.json b.json -o all.json`.
    Report(ReportArgs),
    /// Starts a team's Ory folder as production runs it (no `--dev`, TLS,
    /// PostgreSQL) and runs the security checks under its policy; or
    /// checks a deployment by URL. Exit 1 on a failed check, 2 on bad
    /// input: `orygate gate --ory-dir ory`.
    Gate(Box<crate::config_gate::GateArgs>),
}

#[derive(Debug, Clone, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ReportArgs {
    #[command(subcommand)]
    pub merge: Option<ReportCommand>,

    /// The results document to render.
    pub results: Option<PathBuf>,

    /// The formats to write: html, md, junit, json (commas).
    #[arg(long, value_delimiter = ',', default_value = "html,md,junit")]
    pub formats: Vec<reports::Format>,

    /// The folder to write to (default: the document's own).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,

    #[command(flatten)]
    pub gate: Gate,
}

#[derive(Debug, Clone, clap::Subcommand)]
pub enum ReportCommand {
    /// Merges the results of shards of one run into one document: counts
    /// add, histograms add exactly.
    Merge(Box<MergeArgs>),
}

/// `orygate report merge`.
#[derive(Debug, Clone, clap::Args)]
pub struct MergeArgs {
    /// The shards' results documents, or a folder holding them (every
    /// results document in it, of one run).
    #[arg(required = true, num_args = 1..)]
    pub files: Vec<PathBuf>,
    /// The merged document (JSON; the other formats beside it).
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// The formats written besides the JSON.
    #[arg(long, value_delimiter = ',', default_value = "html,md,junit")]
    pub formats: Vec<reports::Format>,
    /// The documents are separate runs to pool, not the shards of one:
    /// merged all the same, and marked as pooled.
    #[arg(long)]
    pub pool: bool,
    /// How far apart the shards' measured windows may open.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "5s")]
    pub max_skew: std::time::Duration,
    /// Past --max-skew, merge and warn instead of refusing.
    #[arg(long)]
    pub skew_warns: bool,
}

/// What `orygate report` did: the document and the files written.
#[derive(Debug)]
pub struct Rendered {
    pub results: reports::document::Results,
    pub paths: Vec<PathBuf>,
}

/// Runs `orygate report ...`.
pub fn run(args: &ReportArgs) -> Result<Rendered> {
    if let Some(ReportCommand::Merge(merge_args)) = &args.merge {
        return merge(merge_args);
    }
    let path = args.results.as_ref().ok_or_else(|| {
        Error::Usage(
            "orygate report needs a results document (orygate report RESULTS.json), \
             or `merge` with the shards' documents"
                .into(),
        )
    })?;
    let mut results = read(path)?;
    if let Some(comparison) = args.gate.compare(&results)? {
        println!("{}", reports::baseline::render(&comparison));
        results.baseline = Some(comparison);
    }
    let dir = args
        .out
        .clone()
        .unwrap_or_else(|| parent(path).to_path_buf());
    let stem = stem(path);
    let paths = reports::write(&results, &dir, &stem, &args.formats)
        .map_err(|e| Error::Report(e.to_string()))?;
    Ok(Rendered { results, paths })
}

fn merge(args: &MergeArgs) -> Result<Rendered> {
    let mut parts = Vec::new();
    for path in &args.files {
        if path.is_dir() {
            parts.extend(in_folder(path, &args.out)?);
        } else {
            parts.push(read(path)?);
        }
    }
    if parts.len() < 2 {
        return Err(Error::Usage(format!(
            "{} results document{} to merge: a merge needs two or more",
            parts.len(),
            if parts.len() == 1 { "" } else { "s" }
        )));
    }
    let how = reports::merge::How {
        pool: args.pool,
        max_skew_s: args.max_skew.as_secs_f64(),
        skew_only_warns: args.skew_warns,
    };
    let merged = reports::merge::merge(&parts, how).map_err(|e| Error::Usage(e.to_string()))?;
    if let Some(skew) = merged.window_skew_s.filter(|s| *s > how.max_skew_s) {
        eprintln!(
            "orygate report merge: warning: the measured windows opened {skew:.2} s apart, \
             more than --max-skew {} s",
            how.max_skew_s
        );
    }
    let out = &args.out;
    let dir = parent(out);
    let stem = stem(out);
    let all = reports::Format::with_json(&args.formats);
    let paths =
        reports::write(&merged, dir, &stem, &all).map_err(|e| Error::Report(e.to_string()))?;
    Ok(Rendered {
        results: merged,
        paths,
    })
}

/// Every results document in `folder` (not `out`, a merge written there
/// before), of one run: documents of several runs are refused, naming
/// them.
fn in_folder(folder: &Path, out: &Path) -> Result<Vec<reports::document::Results>> {
    let entries = std::fs::read_dir(folder)
        .map_err(|e| Error::Usage(format!("{}: {e}", folder.display())))?;
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .filter(|p| std::fs::canonicalize(p).ok() != std::fs::canonicalize(out).ok())
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        // Other JSON (a baseline, a schema) is not results; a results
        // document that cannot be read, or a file that is not JSON, is an
        // error, not a shard gone missing.
        let results = match reports::read(&path) {
            Ok(results) => results,
            Err(reports::Error::NotResults { .. }) => continue,
            Err(e) => return Err(Error::Usage(e.to_string())),
        };
        if results.merged_from.is_empty() {
            found.push((path, results));
        }
    }
    let mut runs: Vec<String> = found
        .iter()
        .map(|(_, r)| r.settings.run_id.clone().unwrap_or_else(|| "(none)".into()))
        .collect();
    runs.sort();
    runs.dedup();
    if runs.len() > 1 {
        return Err(Error::Usage(format!(
            "{} holds the documents of {} runs ({}): merge one run's files by name",
            folder.display(),
            runs.len(),
            runs.join(", ")
        )));
    }
    Ok(found.into_iter().map(|(_, r)| r).collect())
}

fn read(path: &Path) -> Result<reports::document::Results> {
    reports::read(path).map_err(|e| Error::Usage(e.to_string()))
}

fn parent(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or_else(|| Path::new("."))
}

/// `reports/out/orygate-1.json` → `orygate-1`.
fn stem(path: &Path) -> String {
    let name = path
        .file_name()
        .map_or_else(|| "orygate".into(), |n| n.to_string_lossy().into_owned());
    name.strip_suffix(".json").unwrap_or(&name).to_owned()
}
