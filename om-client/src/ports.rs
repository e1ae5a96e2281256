//! Loopback listen ports for the processes a program starts itself: the local ring, the
//! multi-process tests, the e2e harness and the benchmarks.
//!
//! Binding port 0 to find a free port draws from the kernel's ephemeral range, the range
//! outgoing connections take their source ports from. Between that check and the child's own
//! bind, a connection of an already running node may take the port, and the child fails with
//! "Address already in use" (seen once in 25 ring starts). These ports come from below the
//! ephemeral range instead, where only another listener can take them, and one process never
//! hands out the same port twice.

use std::collections::HashSet;
use std::net::{Ipv4Addr, TcpListener};
use std::sync::Mutex;

use rand::Rng;

/// Lowest port handed out (above the well-known and most registered service ports).
const LOWEST: u16 = 10_000;

static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`).
fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|p| p.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// A port on 127.0.0.1 that is free now, outside the ephemeral range, and not handed out
/// before by this process.
pub fn free_port() -> std::io::Result<u16> {
    let (eph_lo, eph_hi) = ephemeral_range();
    let (lo, hi) = if eph_lo > LOWEST + 1_000 { (LOWEST, eph_lo - 1) } else { (eph_hi.saturating_add(1), u16::MAX) };
    let mut handed = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    pick_port(lo, hi, handed.get_or_insert_with(HashSet::new))
}

/// A port in `lo..=hi` that binds on 127.0.0.1 now and is not in `handed`, which it joins.
fn pick_port(lo: u16, hi: u16, handed: &mut HashSet<u16>) -> std::io::Result<u16> {
    let mut rng = rand::rng();
    for _ in 0..1_000 {
        let port = rng.random_range(lo..=hi);
        if handed.contains(&port) {
            continue;
        }
        if TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok() {
            handed.insert(port);
            return Ok(port);
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrNotAvailable,
        format!("no free port on 127.0.0.1 between {lo} and {hi} after 1000 tries"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_and_outside_the_ephemeral_range() {
        let (eph_lo, eph_hi) = ephemeral_range();
        let ports: Vec<u16> = (0..200).map(|_| free_port().unwrap()).collect();
        let distinct: HashSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len());
        assert!(ports.iter().all(|p| !(eph_lo..=eph_hi).contains(p)), "{ports:?}");
    }

    // Whether a port handed out is still free when the caller binds it depends on every other
    // process on the machine (CI once saw one taken in between), so bindability is checked
    // here with ports this test itself holds: a held port is never handed out.
    #[test]
    fn a_port_in_use_or_handed_out_before_is_never_picked() {
        let held = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = held.local_addr().unwrap().port();
        let err = pick_port(port, port, &mut HashSet::new()).unwrap_err();
        assert!(err.to_string().contains(&format!("between {port} and {port}")), "{err}");
        drop(held);
        let mut handed = HashSet::from([port]);
        assert!(pick_port(port, port, &mut handed).is_err());
    }
}
