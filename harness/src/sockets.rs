//! The kernel's socket tables: who listens on a loopback port. Containers
//! run with host networking, so their sockets are in this machine's tables,
//! and a socket's inode ties it to the process that holds it.

use std::collections::HashSet;
use std::net::IpAddr;

use procfs::net::TcpState;
use procfs::process::{FDTarget, Process};

/// A listening socket: its address and the inode that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub addr: IpAddr,
    /// The user the socket belongs to.
    pub uid: u32,
    pub inode: u64,
}

/// Every socket listening on TCP `port`, over IPv4 and IPv6.
pub fn listeners(port: u16) -> Vec<Listener> {
    [procfs::net::tcp(), procfs::net::tcp6()]
        .into_iter()
        .filter_map(Result::ok)
        .flatten()
        .filter(|row| row.state == TcpState::Listen && row.local_address.port() == port)
        .map(|row| Listener {
            addr: row.local_address.ip(),
            uid: row.uid,
            inode: row.inode,
        })
        .collect()
}

/// The inodes of the sockets process `pid` holds, from `/proc/<pid>/fd`.
/// Reading another user's process needs root; the error says so.
pub fn socket_inodes(pid: u32) -> std::io::Result<HashSet<u64>> {
    let fds = process(pid)?.fd().map_err(std::io::Error::other)?;
    Ok(fds
        .filter_map(Result::ok)
        .filter_map(|fd| match fd.target {
            FDTarget::Socket(inode) => Some(inode),
            _ => None,
        })
        .collect())
}

/// The real user id of process `pid` (`/proc/<pid>/status`, readable by
/// everyone).
pub fn process_uid(pid: u32) -> Option<u32> {
    process(pid).ok()?.status().ok().map(|s| s.ruid)
}

/// The command name of process `pid`.
pub fn process_name(pid: u32) -> Option<String> {
    process(pid).ok()?.stat().ok().map(|s| s.comm)
}

/// The pid and command name of the process holding socket `inode`, if a
/// readable process does.
pub fn holder(inode: u64) -> Option<(u32, String)> {
    procfs::process::all_processes()
        .ok()?
        .filter_map(Result::ok)
        .find_map(|p| {
            let pid = u32::try_from(p.pid).ok()?;
            socket_inodes(pid)
                .ok()?
                .contains(&inode)
                .then(|| (pid, process_name(pid).unwrap_or_default()))
        })
}

fn process(pid: u32) -> std::io::Result<Process> {
    let pid = i32::try_from(pid).map_err(std::io::Error::other)?;
    Process::new(pid).map_err(std::io::Error::other)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_of_this_process_is_found_with_its_holder() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let found = listeners(port);
        assert_eq!(found.len(), 1, "{found:?}");
        let own = socket_inodes(std::process::id()).unwrap();
        assert!(own.contains(&found[0].inode));
        assert_eq!(
            holder(found[0].inode).map(|h| h.0),
            Some(std::process::id())
        );
        assert_eq!(found[0].addr, IpAddr::from([127, 0, 0, 1]));
        // A wildcard listener shows as such, so the loopback check fails it.
        let wildcard = std::net::TcpListener::bind("0.0.0.0:0").unwrap();
        let found = listeners(wildcard.local_addr().unwrap().port());
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].addr.is_unspecified(), "{found:?}");
        let v6 = std::net::TcpListener::bind("[::1]:0").unwrap();
        let found = listeners(v6.local_addr().unwrap().port());
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].addr, "::1".parse::<IpAddr>().unwrap());
    }
}
