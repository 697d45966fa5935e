//! What the tests share: logging, stack start-up and error explanation.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use harness::{OryStack, Result};
use scenarios::User;

/// Logs from the harness (`RUST_LOG=debug` shows every step) once per binary.
pub fn init_tracing() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,harness=info".into()),
        )
        .with_test_writer()
        .try_init();
}

/// A stack with Kratos alone.
pub async fn kratos_stack() -> OryStack {
    init_tracing();
    OryStack::builder()
        .with_kratos()
        .start()
        .await
        .unwrap_or_else(|e| panic!("failed to {e}"))
}

/// The fake person for `seed`, whose mail arrives at the stack's sink.
pub fn user(stack: &OryStack, seed: u64) -> User {
    User::fake(seed, &stack.mailboxes().expect("the stack runs Kratos"))
}

/// Unwraps a step's result, or panics with the step, status, Ory's id and
/// the end of the log of the service the step talked to.
pub async fn ok<T>(stack: &OryStack, result: Result<T>) -> T {
    match result {
        Ok(value) => value,
        Err(e) => panic!("failed: {}", stack.explain(&e).await),
    }
}

/// A seed per test so addresses differ across tests and runs of one stack.
pub fn seed(test: &str) -> u64 {
    test.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The addresses something on this machine listens on at `port`, read from
/// the kernel's socket tables (host networking puts the containers' sockets
/// there too).
pub fn listeners(port: u16) -> Vec<IpAddr> {
    ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|path| std::fs::read_to_string(path).ok())
        .flat_map(|table| parse_listeners(&table, port))
        .collect()
}

/// The LISTEN rows (state `0A`) for `port` in a `/proc/net/tcp{,6}` table.
fn parse_listeners(table: &str, port: u16) -> Vec<IpAddr> {
    table
        .lines()
        .skip(1)
        .filter_map(|row| {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let (addr, hex_port) = cols.get(1)?.split_once(':')?;
            (cols.get(3) == Some(&"0A") && u16::from_str_radix(hex_port, 16).ok()? == port)
                .then(|| parse_addr(addr))?
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

#[test]
fn the_socket_table_parser_sees_wildcard_and_loopback_listeners() {
    let v4 = "  sl  local_address rem_address   st\n\
              0: 0100007F:1F90 00000000:0000 0A\n\
              1: 00000000:1F90 00000000:0000 0A\n\
              2: 0100007F:1F90 0100007F:D431 01\n";
    let found = parse_listeners(v4, 8080);
    assert_eq!(
        found,
        [
            "127.0.0.1".parse::<IpAddr>().unwrap(),
            "0.0.0.0".parse().unwrap()
        ]
    );
    assert!(
        !found.iter().all(IpAddr::is_loopback),
        "a wildcard listener must fail the check"
    );
    let v6 = "  sl  local_address rem_address st\n\
              0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A\n";
    assert_eq!(
        parse_listeners(v6, 8080),
        ["::1".parse::<IpAddr>().unwrap()]
    );
}
