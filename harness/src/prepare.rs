//! The machine made ready on demand. A stack needs a Docker daemon that
//! answers, its images and, for data in PostgreSQL, the server's binaries;
//! when one is missing, the harness runs `scripts/prepare.sh` (which starts
//! dockerd, builds the pinned images offline and installs PostgreSQL) once,
//! under a lock that every orygate process on the machine shares, with the
//! script's progress on stderr. What that cannot do without root
//! (installing Docker) ends with the script's one line saying what to run.
//! `ORYGATE_NO_PREPARE=1` turns this off: the missing piece is reported.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use testcontainers::bollard::Docker;

use crate::error::{Error, Result};
use crate::service::Service;

/// How long the preparation may take: a cold build of the four images
/// takes about seven minutes on two cores.
const PREPARE_TIMEOUT: Duration = Duration::from_secs(40 * 60);

/// What a stack needs of the machine.
#[derive(Debug)]
pub(crate) struct Needs<'a> {
    /// Each service and the tag of its image.
    pub images: Vec<(Service, &'a str)>,
    pub postgres: bool,
}

/// The Docker daemon, once everything `needs` names is there, preparing
/// the machine first if something is missing and can be made.
pub(crate) async fn ready(needs: &Needs<'_>) -> Result<Docker> {
    let missing = match check(needs).await {
        Ok(docker) => return Ok(docker),
        Err(missing) => missing,
    };
    if std::env::var_os("ORYGATE_NO_PREPARE").is_some() || !preparable(&missing, needs) {
        return Err(missing);
    }
    tracing::info!(%missing, "preparing this machine");
    tokio::task::spawn_blocking(prepare_locked)
        .await
        .map_err(|e| failed(e.to_string()))??;
    check(needs).await
}

/// Whether `scripts/prepare.sh` can make what is missing: this machine's
/// own daemon (not one `DOCKER_HOST` names elsewhere), a pinned image,
/// PostgreSQL; not an image of another tag.
fn preparable(missing: &Error, needs: &Needs<'_>) -> bool {
    match missing {
        Error::ImageMissing { .. } => needs.images.iter().all(|(s, tag)| *tag == s.tag()),
        Error::Docker { .. } => std::env::var("DOCKER_HOST")
            .ok()
            .is_none_or(|host| host == "unix:///var/run/docker.sock"),
        Error::Postgres { .. } => true,
        _ => false,
    }
}

/// The daemon if it answers and holds every image, and PostgreSQL if
/// needed; else the first thing missing.
async fn check(needs: &Needs<'_>) -> Result<Docker> {
    let docker = crate::images::docker().await?;
    for (service, tag) in &needs.images {
        tokio::time::timeout(
            crate::DOCKER_TIMEOUT,
            crate::images::ensure_present(&docker, *service, tag),
        )
        .await
        .map_err(|_| Error::Docker {
            reason: format!(
                "inspect the {service} image: no answer within {:?}",
                crate::DOCKER_TIMEOUT
            ),
        })??;
    }
    if needs.postgres {
        crate::postgres::binaries()?;
    }
    Ok(docker)
}

/// Runs the preparation under the machine's lock: a process that waited
/// for another's finds the work done (the script leaves alone what is
/// there).
fn prepare_locked() -> Result<()> {
    let dir = std::env::temp_dir();
    let path = dir.join("orygate-prepare.lock");
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(format!("open {}", path.display()), e))?;
    lock.lock()
        .map_err(|e| Error::io(format!("lock {}", path.display()), e))?;
    let done = run_script();
    drop(lock);
    done
}

/// `scripts/prepare.sh`, its lines passed on to stderr as they come, its
/// end kept for the error when it fails.
fn run_script() -> Result<()> {
    let script = crate::repo_root().join("scripts/prepare.sh");
    say(&format!(
        "orygate: this machine is not ready for a stack; running {} (once; its log follows)",
        script.display()
    ));
    let mut child = Command::new("timeout")
        .arg(PREPARE_TIMEOUT.as_secs().to_string())
        .arg("bash")
        .arg(&script)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::io(format!("run {}", script.display()), e))?;
    let stderr = child.stderr.take().map(BufReader::new);
    let forward = std::thread::spawn(move || {
        let mut tail = Vec::new();
        for line in stderr
            .into_iter()
            .flat_map(BufRead::lines)
            .map_while(Result::ok)
        {
            say(&format!("  {line}"));
            tail.push(line);
        }
        tail
    });
    if let Some(stdout) = child.stdout.take() {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            say(&format!("  {line}"));
        }
    }
    let status = child
        .wait()
        .map_err(|e| Error::io(format!("wait for {}", script.display()), e))?;
    let tail = forward.join().unwrap_or_default();
    if status.success() {
        return Ok(());
    }
    let last: Vec<&str> = tail
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(String::as_str)
        .collect();
    Err(failed(format!(
        "{} ended with {status}: {}",
        script.display(),
        if last.is_empty() {
            "no message".to_owned()
        } else {
            last.join(" / ")
        }
    )))
}

/// A line on the process's stderr itself: a test harness that captures
/// what tests print would hold the progress of a minutes-long build back
/// until the test ends.
fn say(line: &str) {
    use std::io::Write as _;
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

fn failed(reason: String) -> Error {
    Error::Prepare { reason }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_script_is_run_for_a_daemon_a_pinned_image_or_postgres_only() {
        let pinned = Needs {
            images: vec![(Service::Kratos, Service::Kratos.tag())],
            postgres: true,
        };
        let missing = |image: &str| Error::ImageMissing {
            image: image.into(),
            hint: String::new(),
        };
        assert!(preparable(&missing("oryd/kratos:v1.3.1"), &pinned));
        let daemon = Error::Docker {
            reason: "no daemon answers".into(),
        };
        assert!(preparable(&daemon, &pinned));
        let postgres = Error::Postgres {
            action: "find".into(),
            reason: "no server binaries".into(),
        };
        assert!(preparable(&postgres, &pinned));
        // An image of another tag cannot be built here: reported.
        let other = Needs {
            images: vec![(Service::Kratos, "v1.0.0")],
            postgres: false,
        };
        assert!(!preparable(&missing("oryd/kratos:v1.0.0"), &other));
        let config = Error::Config {
            path: "ory/kratos".into(),
            reason: "broken".into(),
        };
        assert!(!preparable(&config, &pinned));
    }
}
