//! A throw-away PostgreSQL on 127.0.0.1 for the load tuning: Kratos keeps
//! its data there, so that concurrent writes queue in a real database
//! instead of failing on SQLite's locks. Started from this machine's
//! PostgreSQL binaries (Debian's `postgresql` package), with durability off
//! (the data lives as long as the stack), and stopped and deleted on drop.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::error::{Error, Result};
use crate::ports::Ports;

/// Where Debian installs PostgreSQL's server binaries, one folder per
/// major version.
const DEBIAN_ROOT: &str = "/usr/lib/postgresql";

/// The superuser and database the stack's services use.
const ROLE: &str = "orygate";

/// Where the clusters and the migrated templates are kept: `/dev/shm`
/// when it is a writable tmpfs with 2 GiB free (a cluster is a thousand
/// files: copying a template there took 0.13 s of CPU against 0.2 to 0.8
/// on this machine's ext4 `/tmp`), else the temp folder.
pub(crate) fn data_root() -> &'static Path {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ROOT.get_or_init(|| {
        let shm = Path::new("/dev/shm");
        let tmpfs = rustix::fs::statfs(shm).is_ok_and(|s| s.f_type == TMPFS_MAGIC);
        let roomy = rustix::fs::statvfs(shm)
            .is_ok_and(|s| s.f_bavail.saturating_mul(s.f_frsize) >= 2 << 30);
        let writable = rustix::fs::access(shm, rustix::fs::Access::WRITE_OK).is_ok();
        if tmpfs && roomy && writable {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        }
    })
}

/// `statfs`'s filesystem type of a tmpfs.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// The folder of the PostgreSQL cluster of the stack `name` (its id,
/// `<pid>-...`: the watcher and `scripts/prepare.sh` find a dead
/// process's by its pid), under `/dev/shm` or the temp folder.
pub fn folder(name: &str) -> PathBuf {
    data_root().join(format!("orygate-{name}-postgres"))
}

/// A running PostgreSQL cluster, owned: dropping it stops the server and
/// deletes its data.
#[derive(Debug)]
pub struct Postgres {
    cluster: Cluster,
    /// Its port, kept out of other stacks' hands until it is stopped
    /// (dropped after `Drop::drop` stopped the server).
    _ports: Ports,
}

/// Where a cluster's programs and data are, and its port.
#[derive(Debug, Clone)]
struct Cluster {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
}

impl Postgres {
    /// Creates a cluster in a fresh folder under the temp dir and starts
    /// it at 127.0.0.1 on a port picked as the services' are. As root, the
    /// server runs as the `postgres` user (PostgreSQL refuses to run as
    /// root).
    pub async fn start(name: &str) -> Result<Self> {
        Self::start_from(name, None).await
    }

    /// As [`Postgres::start`], but with the data of `template` (a stopped
    /// cluster's folder, see [`Postgres::keep_as`]) copied in instead of a
    /// new cluster made.
    pub async fn start_from(name: &str, template: Option<&Path>) -> Result<Self> {
        let bin = binaries()?;
        let template = template.map(Path::to_path_buf);
        let ports = Ports::take(1)?;
        let dir = folder(name);
        let pg = Self {
            cluster: Cluster {
                bin,
                dir,
                port: ports.get(0),
            },
            _ports: ports,
        };
        // The blocking task owns the cluster until it is up: a failed start
        // drops it there, and so does a start whose caller gave up (Ctrl-C)
        // once the task ends. Dropping stops and deletes it either way.
        tokio::task::spawn_blocking(move || {
            match &template {
                Some(template) => pg.cluster.copy(template),
                None => pg.cluster.create(),
            }
            .and_then(|()| pg.cluster.serve())
            .map(|()| pg)
        })
        .await
        .map_err(|e| failed("start", e.to_string()))?
    }

    /// The DSN of database `db`, as Ory reads it. `max_idle_conns` is
    /// Ory's default of the number of CPU cores otherwise: on two cores
    /// Kratos then opens a connection for most requests under any
    /// concurrency, and a whoami takes 26 ms instead of 2 (see
    /// docs/benchmarks.md).
    pub fn dsn(&self, db: &str) -> String {
        format!(
            "postgres://{ROLE}@127.0.0.1:{}/{db}?sslmode=disable&max_conns=40&max_idle_conns=40",
            self.cluster.port
        )
    }

    /// Creates database `db`.
    pub async fn create_database(&self, db: &str) -> Result<()> {
        let work = self.cluster.clone();
        let db = db.to_owned();
        tokio::task::spawn_blocking(move || {
            let port = work.port.to_string();
            work.run(
                "createdb",
                &["-h", "127.0.0.1", "-p", &port, "-U", ROLE, &db],
            )
            .map(drop)
        })
        .await
        .map_err(|e| failed("create a database in", e.to_string()))?
    }

    /// Stops the server cleanly and moves its data to `dest` (which must
    /// not exist), for [`Postgres::start_from`].
    pub async fn keep_as(self, dest: PathBuf) -> Result<()> {
        tokio::task::spawn_blocking(move || {
            let dir = self.cluster.dir.display().to_string();
            self.cluster.run(
                "pg_ctl",
                &["stop", "-D", &dir, "-m", "fast", "-w", "-t", "30"],
            )?;
            let _ = std::fs::remove_file(self.cluster.dir.join("server.log"));
            std::fs::rename(&self.cluster.dir, &dest)
                .map_err(|e| failed("keep", format!("{} as {}: {e}", dir, dest.display())))
        })
        .await
        .map_err(|e| failed("keep", e.to_string()))?
    }
}

impl Cluster {
    /// A new, empty cluster in its folder.
    fn create(&self) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.dir);
        let dir = self.dir.display().to_string();
        self.run(
            "initdb",
            &[
                "-D",
                &dir,
                "-U",
                ROLE,
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .map(drop)
    }

    /// A copy of the stopped cluster in `template`, owner and modes kept.
    fn copy(&self, template: &Path) -> Result<()> {
        let _ = std::fs::remove_dir_all(&self.dir);
        let output = Command::new("cp")
            .arg("-a")
            .arg(template)
            .arg(&self.dir)
            .output()
            .map_err(|e| failed("copy", format!("{}: {e}", template.display())))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(failed(
                "copy",
                format!(
                    "cp -a {} {}: {}",
                    template.display(),
                    self.dir.display(),
                    String::from_utf8_lossy(&output.stderr).trim()
                ),
            ))
        }
    }

    /// Starts the server on the cluster's folder and port.
    fn serve(&self) -> Result<()> {
        let dir = self.dir.display().to_string();
        let options = format!(
            "-h 127.0.0.1 -p {} -k {dir} -c fsync=off -c synchronous_commit=off \
             -c full_page_writes=off -c max_connections=200",
            self.port
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &[
                "start", "-D", &dir, "-w", "-t", "30", "-l", &log, "-o", &options,
            ],
        )
        .map_err(|e| match e {
            Error::Postgres { action, reason } => Error::Postgres {
                action,
                reason: format!("{reason}\n{}", tail(&self.dir.join("server.log"))),
            },
            other => other,
        })?;
        Ok(())
    }

    /// Runs one of PostgreSQL's programs, as `postgres` when root.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output> {
        let path = self.bin.join(program);
        let mut command = if is_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        let output = command
            .args(args)
            .current_dir(std::env::temp_dir())
            .output()
            .map_err(|e| failed("run", format!("{}: {e}", path.display())))?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(failed(
                "run",
                format!(
                    "{program} {}: {}{}",
                    args.join(" "),
                    String::from_utf8_lossy(&output.stderr).trim(),
                    String::from_utf8_lossy(&output.stdout).trim()
                ),
            ))
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let cluster = &self.cluster;
        let dir = cluster.dir.display().to_string();
        let _ = cluster.run(
            "pg_ctl",
            &["stop", "-D", &dir, "-m", "immediate", "-w", "-t", "10"],
        );
        let _ = std::fs::remove_dir_all(&cluster.dir);
    }
}

/// The newest PostgreSQL server binaries on this machine.
pub(crate) fn binaries() -> Result<PathBuf> {
    let newest = std::fs::read_dir(DEBIAN_ROOT)
        .ok()
        .into_iter()
        .flatten()
        .filter_map(std::result::Result::ok)
        .filter_map(|e| {
            let version: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("postgres").is_file().then_some((version, bin))
        })
        .max_by_key(|(v, _)| *v);
    newest.map(|(_, bin)| bin).ok_or_else(|| {
        failed(
            "find",
            format!(
                "no server binaries under {DEBIAN_ROOT}/*/bin; install Debian's postgresql \
                 package (scripts/prepare.sh does)"
            ),
        )
    })
}

fn is_root() -> bool {
    procfs::process::Process::myself()
        .and_then(|me| me.status())
        .is_ok_and(|status| status.euid == 0)
}

fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(10)..].join("\n")
}

fn failed(action: &str, reason: String) -> Error {
    Error::Postgres {
        action: action.to_owned(),
        reason,
    }
}
