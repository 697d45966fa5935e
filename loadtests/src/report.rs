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
    Merge {
        /// The shards' results documents.
        #[arg(required = true, num_args = 2..)]
        files: Vec<PathBuf>,
        /// The merged document (JSON; the other formats beside it).
        #[arg(long, short = 'o')]
        out: PathBuf,
        /// The formats written besides the JSON.
        #[arg(long, value_delimiter = ',', default_value = "html,md,junit")]
        formats: Vec<reports::Format>,
    },
}

/// What `orygate report` did: the document and the files written.
#[derive(Debug)]
pub struct Rendered {
    pub results: reports::document::Results,
    pub paths: Vec<PathBuf>,
}

/// Runs `orygate report ...`.
pub fn run(args: &ReportArgs) -> Result<Rendered> {
    if let Some(ReportCommand::Merge {
        files,
        out,
        formats,
    }) = &args.merge
    {
        return merge(files, out, formats);
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

fn merge(files: &[PathBuf], out: &Path, formats: &[reports::Format]) -> Result<Rendered> {
    let parts = files.iter().map(|f| read(f)).collect::<Result<Vec<_>>>()?;
    let merged = reports::merge::merge(&parts).map_err(|e| Error::Usage(e.to_string()))?;
    let dir = parent(out);
    let stem = stem(out);
    let all = reports::Format::with_json(formats);
    let paths =
        reports::write(&merged, dir, &stem, &all).map_err(|e| Error::Report(e.to_string()))?;
    Ok(Rendered {
        results: merged,
        paths,
    })
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
