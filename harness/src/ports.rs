//! Loopback ports for the services, reserved across every process on this
//! machine for as long as a stack holds them.
//!
//! A port is found free by binding `127.0.0.1:0`, then reserved by an
//! exclusive lock on a file named after it in a directory all orygate
//! processes share. The probe listener has to be closed before the
//! container can bind the port, and until then the kernel may offer it to
//! anyone: the lock is what keeps another orygate process (a parallel test
//! binary, nextest's process per test) from handing it to a second stack.
//! The kernel drops the lock when its holder exits, however it exits.

use std::fs::{File, OpenOptions, TryLockError};
use std::net::TcpListener;
use std::path::PathBuf;

use crate::error::{Error, Result};

/// How many candidates one pick may try before it gives up.
const MAX_TRIES: usize = 64;

/// The loopback ports one service (or one process the harness starts)
/// listens on, each reserved until this value is dropped. For a service,
/// in the order of its table's listeners (Kratos and Hydra: public, admin;
/// Keto: read, write, metrics, OPL).
#[derive(Debug)]
pub struct Ports {
    ports: Vec<u16>,
    /// The locked files; closing them releases the reservations.
    locks: Vec<File>,
}

impl Ports {
    /// `count` free ports on 127.0.0.1, none reserved by any orygate
    /// process, reserved until this value is dropped. For a server of the
    /// caller's own (a fake, a test's squatter) that must not take a port a
    /// stack is about to bind.
    pub fn take(count: usize) -> Result<Self> {
        let dir = lock_dir()?;
        let mut held = Vec::new();
        let mut ports = Vec::new();
        let mut locks = Vec::new();
        // Each probe listener is held until all are picked, so the kernel
        // hands out distinct ports; ones another stack reserved are skipped.
        while ports.len() < count {
            if held.len() >= MAX_TRIES {
                return Err(Error::io(
                    "pick a free port on 127.0.0.1",
                    std::io::Error::other(format!(
                        "every one of {MAX_TRIES} candidates is reserved by another stack (locks in {})",
                        dir.display()
                    )),
                ));
            }
            let listener = TcpListener::bind("127.0.0.1:0")
                .map_err(|e| Error::io("pick a free port on 127.0.0.1", e))?;
            let port = listener
                .local_addr()
                .map_err(|e| Error::io("read a picked port", e))?
                .port();
            held.push(listener);
            if let Some(lock) = reserve(&dir, port)? {
                ports.push(port);
                locks.push(lock);
            }
        }
        tracing::debug!(?ports, "ports reserved");
        Ok(Self { ports, locks })
    }

    /// Exactly these ports, reserved; fails if another stack holds one.
    /// Whether they are free is found out when the service binds them.
    pub fn fixed(ports: &[u16]) -> Result<Self> {
        let dir = lock_dir()?;
        let mut locks = Vec::new();
        for &port in ports {
            let lock = reserve(&dir, port)?.ok_or_else(|| {
                Error::io(
                    format!("reserve port {port}"),
                    std::io::Error::other("another orygate stack holds it"),
                )
            })?;
            locks.push(lock);
        }
        Ok(Self {
            ports: ports.to_vec(),
            locks,
        })
    }

    /// These ports, then `more`, reserved together.
    #[must_use]
    pub fn chain(mut self, more: Ports) -> Self {
        self.ports.extend(more.ports);
        self.locks.extend(more.locks);
        self
    }

    /// The `i`th port.
    pub fn get(&self, i: usize) -> u16 {
        self.ports[i]
    }

    /// Every port, in order.
    pub fn all(&self) -> &[u16] {
        &self.ports
    }

    /// A listener on a free, reserved port of 127.0.0.1 for a server of the
    /// harness's own (`what` names it in errors), its address, and the
    /// reservation to keep for as long as it listens. The listener is the
    /// one that found the port: closing a probe and binding again would
    /// leave the port free in between, and the kernel hands freed ports to
    /// outgoing connections too (a parallel test's client took one so).
    pub(crate) async fn listen(
        what: &str,
    ) -> Result<(Self, tokio::net::TcpListener, std::net::SocketAddr)> {
        let dir = lock_dir()?;
        // Ports another stack reserved stay held here until one is found,
        // so the kernel offers others.
        let mut skipped = Vec::new();
        while skipped.len() < MAX_TRIES {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                .await
                .map_err(|e| Error::io(format!("bind the {what} to 127.0.0.1"), e))?;
            let addr = listener
                .local_addr()
                .map_err(|e| Error::io(format!("read the {what}'s address"), e))?;
            if let Some(lock) = reserve(&dir, addr.port())? {
                let port = Self {
                    ports: vec![addr.port()],
                    locks: vec![lock],
                };
                return Ok((port, listener, addr));
            }
            skipped.push(listener);
        }
        Err(Error::io(
            format!("pick a free port on 127.0.0.1 for the {what}"),
            std::io::Error::other(format!(
                "every one of {MAX_TRIES} candidates is reserved by another stack (locks in {})",
                dir.display()
            )),
        ))
    }

    /// Binds a listener on the `i`th port of 127.0.0.1, for a server of the
    /// caller's own; the reservation stays with this value.
    pub async fn bind(&self, i: usize) -> Result<tokio::net::TcpListener> {
        let port = self.ports[i];
        tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|e| Error::io(format!("bind 127.0.0.1:{port}"), e))
    }
}

/// Where the lock files live: one directory for every orygate process of
/// this machine, writable by all of them. Lock files are never deleted (a
/// file unlinked while another process opens it would let two processes
/// hold "the" lock); there is at most one per port.
fn lock_dir() -> Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join("orygate-ports");
    let io = |e| {
        Error::io(
            format!("create the port reservations in {}", dir.display()),
            e,
        )
    };
    if !dir.is_dir() {
        std::fs::create_dir_all(&dir).map_err(io)?;
        // Sticky and world-writable, as /tmp: processes of other users
        // reserve ports here too.
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o1777));
    }
    Ok(dir)
}

/// Locks `port`'s file, or `None` when another stack (in this process or
/// another) holds it. A lock needs only read access: an existing file is
/// opened read-only (it may belong to another user), a missing one is
/// created readable by all; a file this user may not open counts as held.
fn reserve(dir: &std::path::Path, port: u16) -> Result<Option<File>> {
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(format!("{port}.lock"));
    let opened = match File::open(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&path)
            // Another process created it in between: open theirs.
            .or_else(|_| File::open(&path)),
        other => other,
    };
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Ok(None),
        Err(e) => return Err(Error::io(format!("open {}", path.display()), e)),
    };
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(Error::io(format!("lock {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reserved_port_is_not_handed_out_again_until_released() {
        let first = Ports::take(4).unwrap();
        let all = first.all().to_vec();
        for (i, a) in all.iter().enumerate() {
            assert!(!all[i + 1..].contains(a), "{all:?}");
        }
        // Another lock on the same file fails while the first is held, as
        // it does from another process (flock locks belong to the open
        // file, not the process).
        let dir = lock_dir().unwrap();
        assert!(reserve(&dir, all[0]).unwrap().is_none());
        let again = Ports::take(4).unwrap();
        assert!(
            again.all().iter().all(|p| !all.contains(p)),
            "{all:?} {:?}",
            again.all()
        );
        drop(first);
        assert!(reserve(&dir, all[0]).unwrap().is_some());
    }

    /// The harness's own servers keep the listener that found their port,
    /// reserved against other stacks.
    #[tokio::test]
    async fn a_listener_is_reserved_on_the_port_it_found() {
        let (port, listener, addr) = Ports::listen("test server").await.unwrap();
        assert_eq!(listener.local_addr().unwrap(), addr);
        assert_eq!(port.all(), [addr.port()]);
        assert!(addr.ip().is_loopback());
        let dir = lock_dir().unwrap();
        assert!(reserve(&dir, addr.port()).unwrap().is_none(), "reserved");
        let (accepted, connected) =
            tokio::join!(listener.accept(), tokio::net::TcpStream::connect(addr));
        assert!(accepted.is_ok() && connected.is_ok(), "it listens");
        drop((listener, port));
        assert!(reserve(&dir, addr.port()).unwrap().is_some(), "released");
    }
}
