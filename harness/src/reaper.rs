//! Who owns a container, and a watcher that removes a process's containers
//! once the process is gone, however it went (a panic, Ctrl-C, SIGTERM from
//! a cancelled CI job, SIGKILL, a crash).
//!
//! Dropping a stack removes its containers, but a process killed by a
//! signal runs no drop. So the first stack of a process starts a small
//! watcher, in a process group of its own (a terminal's Ctrl-C does not
//! reach it), that reads a pipe from this process: the kernel closes the
//! pipe when this process ends, and the watcher then removes every
//! container labelled with this process as owner, stops this process's
//! databases of stacks tuned for load, and notes what it removed in a log. The same
//! idea as testcontainers' Ryuk, without an image to pull.

use std::io::Write as _;
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};

/// The label naming the process that owns a container:
/// `<pid>.<start time>`, exact even when a pid comes round again.
pub const OWNER_LABEL: &str = "dev.orygate.owner";

/// The label naming the run (`ORYGATE_RUN`, e.g. a CI job) a container
/// belongs to, when one is set.
pub const RUN_LABEL: &str = "dev.orygate.run";

/// The label of a stack that lives as long as its process (a test binary's
/// shared stack): `process`. The watcher removes it like the others and
/// notes it as `for the process`, not as left behind.
pub const LIFETIME_LABEL: &str = "dev.orygate.lifetime";

/// Where the watcher notes what it removed, one line per process that left
/// something behind: `<time> run=<run> owner=<owner> removed <n>
/// container(s)`; what lived as long as the process on purpose is noted
/// `... removed <n> container(s) kept for the process`.
pub fn log_path() -> std::path::PathBuf {
    std::env::temp_dir().join("orygate-reaper.log")
}

/// This process as an owner: its pid and its start time in clock ticks
/// since boot (field 22 of `/proc/self/stat`).
pub fn owner() -> String {
    static OWNER: OnceLock<String> = OnceLock::new();
    OWNER
        .get_or_init(|| {
            let pid = std::process::id();
            let started = procfs::process::Process::myself()
                .and_then(|me| me.stat())
                .map_or(0, |stat| stat.starttime);
            format!("{pid}.{started}")
        })
        .clone()
}

/// The run this process belongs to, from `ORYGATE_RUN`.
pub fn run() -> Option<String> {
    std::env::var("ORYGATE_RUN").ok().filter(|r| !r.is_empty())
}

/// The watcher, kept for the life of the process: its stdin is the pipe
/// whose closing it waits for.
static WATCHER: OnceLock<Mutex<Option<Child>>> = OnceLock::new();

/// Starts this process's watcher, once. Without a `docker` command or `sh`
/// there is none: a warning says that a killed run's containers are then
/// removed only by `scripts/prepare.sh`.
pub(crate) fn watch() {
    WATCHER.get_or_init(|| {
        let child = spawn();
        match &child {
            Ok(c) => tracing::debug!(pid = c.id(), owner = %owner(), "container watcher started"),
            Err(e) => tracing::warn!(
                error = %e,
                "no container watcher: a killed run's containers stay until scripts/prepare.sh"
            ),
        }
        Mutex::new(child.ok())
    });
}

fn spawn() -> std::io::Result<Child> {
    use std::os::unix::process::CommandExt;
    let mut child = Command::new("sh")
        .args(["-c", SCRIPT, "orygate-reaper"])
        .env("OWNER", owner())
        .env("OWNER_PID", std::process::id().to_string())
        .env("RUN", run().unwrap_or_default())
        .env("LOG", log_path())
        // The daemon the harness talks to, not whatever the CLI's context
        // would pick.
        .env(
            "DOCKER_HOST",
            std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into()),
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    // A first byte says the pipe works; the watcher reads until it closes.
    if let Some(stdin) = child.stdin.as_mut() {
        stdin.write_all(b"\n")?;
    }
    Ok(child)
}

/// The watcher (`reaper.sh`): waits for the owner's end of the pipe to
/// close, then removes what the owner left. Signals sent to the owner's
/// group are ignored. Checked by shellcheck in `.ci/run`.
const SCRIPT: &str = include_str!("reaper.sh");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_owner_is_this_pid_and_a_start_time() {
        let owner = owner();
        let (pid, started) = owner.split_once('.').unwrap();
        assert_eq!(pid, std::process::id().to_string());
        assert!(started.parse::<u64>().unwrap() > 0, "{owner}");
    }
}
