//! The identity-schema migration gate: Kratos starts on the old config
//! (a folder, or the Ory folder as a git ref had it), people are made
//! there, Kratos is replaced by the new config on the same PostgreSQL
//! with its migrations, and [`scenarios::migration::after`] checks them.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use harness::{OryStack, Replacement, Service};
use scenarios::derived::{FlowOutcome, FlowResult};
use scenarios::migration::{self, Verdict};
use serde_json::Value;

use super::GateArgs;
use crate::error::{Error, Result};

/// The old Ory folder, kept while the gate runs (a git ref's is
/// extracted into a temporary folder).
#[derive(Debug)]
pub(super) struct OldFolder {
    pub dir: PathBuf,
    _extracted: Option<tempfile::TempDir>,
}

/// The old folder the arguments name, if any: `--migrate-from-dir`, or
/// `--migrate-from REF` read from the git repository holding the Ory
/// folder.
pub(super) fn old_folder(args: &GateArgs) -> Result<Option<OldFolder>> {
    if let Some(dir) = &args.migrate_from_dir {
        if !dir.join("kratos/kratos.yml").is_file() {
            return Err(Error::Usage(format!(
                "--migrate-from-dir {}: no kratos/kratos.yml there",
                dir.display()
            )));
        }
        return Ok(Some(OldFolder {
            dir: dir.clone(),
            _extracted: None,
        }));
    }
    let Some(reference) = &args.migrate_from else {
        return Ok(None);
    };
    let extracted = tempfile::Builder::new()
        .prefix("orygate-migrate-from-")
        .tempdir()
        .map_err(|e| Error::Report(format!("a temporary folder: {e}")))?;
    let dir = at_ref(&args.ory_dir, reference, extracted.path())?;
    if !dir.join("kratos/kratos.yml").is_file() {
        return Err(Error::Usage(format!(
            "--migrate-from {reference}: {} had no kratos/kratos.yml then",
            args.ory_dir.display()
        )));
    }
    Ok(Some(OldFolder {
        dir,
        _extracted: Some(extracted),
    }))
}

/// How long a git or tar command may take.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs git with `args` in `dir`, bounded; its stdout, or a usage error
/// with its stderr.
fn git(dir: &Path, args: &[&str], what: &str) -> Result<Vec<u8>> {
    let mut command = std::process::Command::new("git");
    command.arg("-C").arg(dir).args(args);
    bounded(command, what)
}

/// Runs `command` for at most [`COMMAND_TIMEOUT`], reading its output
/// while it runs (a pipe left unread would stop it once full); its
/// stdout, or a usage error with its stderr.
fn bounded(mut command: std::process::Command, what: &str) -> Result<Vec<u8>> {
    let shown = format!(
        "{} {}",
        command.get_program().to_string_lossy(),
        command
            .get_args()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ")
    );
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Usage(format!("{what}: {shown} does not run: {e}")))?;
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let started = std::time::Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > COMMAND_TIMEOUT => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(Error::Usage(format!(
                    "{what}: {shown} took over {COMMAND_TIMEOUT:?}"
                )));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(Error::Usage(format!("{what}: {shown}: {e}"))),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if status.success() {
        Ok(stdout)
    } else {
        Err(Error::Usage(format!(
            "{what}: {shown} failed: {}",
            String::from_utf8_lossy(&stderr).trim()
        )))
    }
}

/// Writes the Ory folder `ory_dir` as the commit `reference` had it into
/// `into`, and returns where it landed.
fn at_ref(ory_dir: &Path, reference: &str, into: &Path) -> Result<PathBuf> {
    let what = format!("--migrate-from {reference}");
    let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).trim().to_owned();
    let prefix = text(git(ory_dir, &["rev-parse", "--show-prefix"], &what)?);
    let commit = git(
        ory_dir,
        &["rev-parse", "--verify", &format!("{reference}^{{commit}}")],
        &what,
    )
    .map_err(|e| {
        // A CI checkout is shallow unless asked: the old commit is not
        // there to read.
        let shallow = git(ory_dir, &["rev-parse", "--is-shallow-repository"], &what)
            .is_ok_and(|out| String::from_utf8_lossy(&out).trim() == "true");
        match e {
            Error::Usage(said) if shallow => Error::Usage(format!(
                "{said} (the clone is shallow: fetch the history, e.g. actions/checkout with fetch-depth: 0)"
            )),
            e => e,
        }
    })?;
    let commit = text(commit);
    let tree = if prefix.is_empty() {
        commit.clone()
    } else {
        format!("{commit}:{}", prefix.trim_end_matches('/'))
    };
    let archive = into.join("old.tar");
    let top = text(git(ory_dir, &["rev-parse", "--show-toplevel"], &what)?);
    git(
        Path::new(&top),
        &[
            "archive",
            "--format=tar",
            "-o",
            &archive.to_string_lossy(),
            &tree,
        ],
        &what,
    )?;
    let dir = into.join("ory");
    std::fs::create_dir_all(&dir).map_err(|e| Error::Report(format!("{}: {e}", dir.display())))?;
    let mut tar = std::process::Command::new("tar");
    tar.arg("-xf").arg(&archive).arg("-C").arg(&dir);
    bounded(tar, &what)?;
    Ok(dir)
}

/// The migration gate on a stack whose Kratos runs the old config: the
/// people made, the switch to the new config (`with`), the checks. Its
/// rows come first in the gate's flows. `None` for the verdict when the
/// new config did not start: the stack has no Kratos then.
pub(super) async fn run(
    args: &GateArgs,
    stack: &mut OryStack,
    old_config: Option<&Value>,
    new_config: Option<&Value>,
    with: Replacement,
) -> Result<(Vec<FlowResult>, Option<Verdict>)> {
    let kratos = stack.kratos();
    let mail = stack.mailboxes();
    let population =
        match migration::populate(&kratos, old_config, mail.as_ref(), args.population).await {
            Ok(population) => population,
            Err(e) => {
                let failed = FlowResult {
                    name: "migration: people made on the old config".into(),
                    outcome: FlowOutcome::Failed {
                        error: stack.explain(&e).await,
                    },
                    millis: 0,
                };
                return Ok((vec![failed], None));
            }
        };
    let made = FlowResult {
        name: format!(
            "migration: {} people made on the old config",
            population.len()
        ),
        outcome: FlowOutcome::Passed,
        millis: millis(population.import),
    };
    let replaced = stack.replace(Service::Kratos, with).await;
    let switched = FlowResult {
        name: "migration: the new config starts on the old data".into(),
        outcome: match &replaced {
            Ok(_) => FlowOutcome::Passed,
            Err(e) => FlowOutcome::Failed {
                error: e.to_string(),
            },
        },
        millis: replaced
            .as_ref()
            .map_or(0, |r| millis(r.migration + r.start)),
    };
    if replaced.is_err() {
        return Ok((vec![made, switched], None));
    }
    let verdict = migration::after(&kratos, new_config, mail.as_ref(), &population).await;
    let mut rows = vec![made, switched];
    rows.extend(verdict.rows.iter().cloned());
    Ok((rows, Some(verdict)))
}

/// Writes the verdict's fixes to `plan` (`--fix-plan`).
pub(super) fn write_fix_plan(plan: &Path, verdict: &Verdict) -> Result<()> {
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "about": "A JSON Patch per identity that no longer validates against the schema it names: PATCH /admin/identities/{identity} with `patch`, after filling what `todo` names.",
        "fixes": verdict.fixes,
    }))
    .unwrap_or_default();
    if let Some(parent) = plan.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| Error::Report(format!("create {}: {e}", parent.display())))?;
    }
    std::fs::write(plan, text).map_err(|e| Error::Report(format!("write {}: {e}", plan.display())))
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_git(dir: &Path, args: &[&str]) {
        git(dir, args, "test").unwrap_or_else(|e| panic!("git {args:?}: {e}"));
    }

    /// Commits what is staged in `repo` as `message`.
    fn commit(repo: &Path, message: &str) {
        let author = ["-c", "user.name=t", "-c", "user.email=t@orygate.test"];
        run_git(repo, &[&author[..], &["commit", "-qm", message]].concat());
    }

    #[test]
    fn a_git_ref_gives_the_folder_as_it_was_then() {
        let repo = tempfile::tempdir().expect("a temporary folder");
        let ory = repo.path().join("deploy/ory");
        std::fs::create_dir_all(ory.join("kratos")).expect("folders");
        let file = ory.join("kratos/kratos.yml");
        std::fs::write(&file, "version: old\n").expect("write");
        run_git(repo.path(), &["init", "-q"]);
        run_git(repo.path(), &["add", "."]);
        commit(repo.path(), "old");
        std::fs::write(&file, "version: new\n").expect("write");
        let into = tempfile::tempdir().expect("a temporary folder");
        let old = at_ref(&ory, "HEAD", into.path()).expect("the old folder");
        assert_eq!(
            std::fs::read_to_string(old.join("kratos/kratos.yml")).expect("read"),
            "version: old\n"
        );
        let e = at_ref(&ory, "no-such-ref", into.path()).unwrap_err();
        assert!(e.to_string().contains("no-such-ref"), "{e}");
        assert!(!e.to_string().contains("shallow"), "{e}");

        // A shallow clone (as CI checks out) lacks the older commit and
        // says how to get it.
        run_git(repo.path(), &["add", "."]);
        commit(repo.path(), "new");
        let clone = tempfile::tempdir().expect("a temporary folder");
        let source = format!("file://{}", repo.path().display());
        let target = clone.path().join("c");
        run_git(
            clone.path(),
            &[
                "clone",
                "-q",
                "--depth",
                "1",
                &source,
                &target.to_string_lossy(),
            ],
        );
        let e = at_ref(&target.join("deploy/ory"), "HEAD~1", into.path()).unwrap_err();
        assert!(e.to_string().contains("fetch-depth: 0"), "{e}");
    }

    #[test]
    fn a_command_with_much_output_ends_rather_than_filling_its_pipe() {
        let mut command = std::process::Command::new("head");
        command.args(["-c", "1000000", "/dev/zero"]);
        // Unread, the pipe fills at 64 KiB and head never ends: the
        // bound would end it with an error.
        let out = bounded(command, "test").expect("head runs");
        assert_eq!(out.len(), 1_000_000);
    }
}
