//! The kernel's socket tables: who listens on a loopback port. Containers
//! run with host networking, so their sockets are in this machine's tables,
//! and a socket's inode ties it to the process that holds it.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

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
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| parse_listeners(&table, port))
        .collect()
}

/// The inodes of the sockets process `pid` holds, from `/proc/<pid>/fd`.
/// Reading another user's process needs root; the error says so.
pub fn socket_inodes(pid: u32) -> std::io::Result<HashSet<u64>> {
    let mut inodes = HashSet::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd"))? {
        let Ok(target) = std::fs::read_link(entry?.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if let Some(inode) = target
            .strip_prefix("socket:[")
            .and_then(|rest| rest.strip_suffix(']'))
            .and_then(|n| n.parse().ok())
        {
            inodes.insert(inode);
        }
    }
    Ok(inodes)
}

/// The real user id of process `pid` (`/proc/<pid>/status`, readable by
/// everyone).
pub fn process_uid(pid: u32) -> Option<u32> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().next())
        .and_then(|uid| uid.parse().ok())
}

/// The command name of process `pid`.
pub fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|c| c.trim().to_owned())
}

/// The pid and command name of the process holding socket `inode`, if a
/// readable process does.
pub fn holder(inode: u64) -> Option<(u32, String)> {
    let procs = std::fs::read_dir("/proc").ok()?;
    procs.filter_map(Result::ok).find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        socket_inodes(pid).ok()?.contains(&inode).then(|| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            (pid, comm.trim().to_owned())
        })
    })
}

/// The LISTEN rows (state `0A`) for `port` in a `/proc/net/tcp{,6}` table.
fn parse_listeners(table: &str, port: u16) -> Vec<Listener> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let (addr, hex_port) = cols.get(1)?.split_once(':')?;
            if cols.get(3) != Some(&"0A") || u16::from_str_radix(hex_port, 16).ok()? != port {
                return None;
            }
            Some(Listener {
                addr: parse_addr(addr)?,
                uid: cols.get(7)?.parse().ok()?,
                inode: cols.get(9)?.parse().ok()?,
            })
        })
        .collect()
}

/// The kernel writes addresses as 32-bit words in host (little-endian) order.
fn parse_addr(hex: &str) -> Option<IpAddr> {
    let words: Vec<u32> = (0..hex.len() / 8)
        .map(|i| u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).map(u32::swap_bytes))
        .collect::<Result<_, _>>()
        .ok()?;
    match words[..] {
        [v4] => Some(IpAddr::V4(Ipv4Addr::from(v4))),
        [a, b, c, d] => {
            let bytes: Vec<u8> = [a, b, c, d].iter().flat_map(|w| w.to_be_bytes()).collect();
            Some(IpAddr::V6(Ipv6Addr::from(
                <[u8; 16]>::try_from(bytes).ok()?,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_socket_table_parser_sees_wildcard_and_loopback_listeners() {
        let v4 = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
                  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 111\n\
                  1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 222\n\
                  2: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000 0 0 333\n";
        let found = parse_listeners(v4, 8080);
        assert_eq!(
            found,
            [
                Listener {
                    addr: "127.0.0.1".parse().unwrap(),
                    uid: 0,
                    inode: 111
                },
                Listener {
                    addr: "0.0.0.0".parse().unwrap(),
                    uid: 0,
                    inode: 222
                }
            ]
        );
        assert!(
            !found.iter().all(|l| l.addr.is_loopback()),
            "a wildcard listener must fail the loopback check"
        );
        let v6 = "  sl  local_address rem_address st tx rx tr retr uid timeout inode\n\
                  0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 444\n";
        assert_eq!(
            parse_listeners(v6, 8080),
            [Listener {
                addr: "::1".parse().unwrap(),
                uid: 0,
                inode: 444
            }]
        );
    }

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
    }
}
