//! Pod addresses on loopback.
//!
//! All of 127.0.0.0/8 is routed to `lo` on Linux, so any 127.x.y.z can be bound without touching
//! the network configuration. An agent claims one 127.X.0.0/16 (a lock file per X under the
//! temp directory, so agents of tests running side by side never share addresses); Node number
//! n (from 1) gets 127.X.n.1 and its pods 127.X.n.2 to 127.X.n.254.

use std::collections::BTreeSet;
use std::fs::File;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;

use rand::Rng;

/// Second octets an agent may claim; 0 stays free for the usual 127.0.0.1 servers.
const OCTETS: std::ops::RangeInclusive<u8> = 10..=250;

/// A claimed 127.X.0.0/16; the claim ends when this is dropped.
#[derive(Debug)]
pub struct LoopbackRange {
    pub octet: u8,
    _lock: File,
}

fn lock_dir() -> PathBuf {
    std::env::temp_dir().join("omring-loopback")
}

impl LoopbackRange {
    /// Claims `preferred`, or a free range picked at random.
    pub fn claim(preferred: Option<u8>) -> io::Result<Self> {
        std::fs::create_dir_all(lock_dir())?;
        if let Some(octet) = preferred {
            return Self::try_claim(octet)?.ok_or_else(|| {
                io::Error::new(io::ErrorKind::AddrInUse, format!("127.{octet}.0.0/16 is used by another agent"))
            });
        }
        let n = OCTETS.count();
        let start = rand::rng().random_range(0..n);
        for i in 0..n {
            let octet = *OCTETS.start() + ((start + i) % n) as u8;
            if let Some(r) = Self::try_claim(octet)? {
                return Ok(r);
            }
        }
        Err(io::Error::new(io::ErrorKind::AddrInUse, "every 127.X.0.0/16 range is claimed"))
    }

    fn try_claim(octet: u8) -> io::Result<Option<Self>> {
        let file = File::create(lock_dir().join(format!("{octet}.lock")))?;
        // SAFETY: flock on a descriptor we own.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::WouldBlock { Ok(None) } else { Err(e) };
        }
        Ok(Some(Self { octet, _lock: file }))
    }

    /// The address of Node number `node` (1-based).
    pub fn node_ip(&self, node: u8) -> Ipv4Addr {
        Ipv4Addr::new(127, self.octet, node, 1)
    }
}

/// Pod addresses of one Node, handed out round-robin so a released address is not reused at once.
#[derive(Debug)]
pub struct NodePool {
    octet: u8,
    node: u8,
    used: BTreeSet<u8>,
    next: u8,
}

impl NodePool {
    pub fn new(range: &LoopbackRange, node: u8) -> Self {
        Self { octet: range.octet, node, used: BTreeSet::new(), next: 2 }
    }

    pub fn allocate(&mut self) -> Option<Ipv4Addr> {
        for _ in 2..=254u16 {
            let host = self.next;
            self.next = if self.next >= 254 { 2 } else { self.next + 1 };
            if self.used.insert(host) {
                return Some(Ipv4Addr::new(127, self.octet, self.node, host));
            }
        }
        None
    }

    /// Takes a specific address (an agent restarting with pods that already have one).
    pub fn reserve(&mut self, ip: Ipv4Addr) -> bool {
        let o = ip.octets();
        o[0] == 127 && o[1] == self.octet && o[2] == self.node && (2..=254).contains(&o[3]) && self.used.insert(o[3])
    }

    pub fn release(&mut self, ip: Ipv4Addr) {
        let o = ip.octets();
        if o[1] == self.octet && o[2] == self.node {
            self.used.remove(&o[3]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_exclusive_and_pools_round_robin() {
        let a = LoopbackRange::claim(None).unwrap();
        assert!(LoopbackRange::claim(Some(a.octet)).is_err(), "a claimed range must not be claimed twice");
        let b = LoopbackRange::claim(None).unwrap();
        assert_ne!(a.octet, b.octet);
        let mut pool = NodePool::new(&a, 3);
        let first = pool.allocate().unwrap();
        assert_eq!(first, Ipv4Addr::new(127, a.octet, 3, 2));
        pool.release(first);
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(127, a.octet, 3, 3), "no immediate reuse");
        assert!(pool.reserve(first));
        assert!(!pool.reserve(first));
        while pool.allocate().is_some() {}
        assert_eq!(pool.used.len(), 253, "253 addresses per node");
        let octet = a.octet;
        drop(a);
        assert!(LoopbackRange::claim(Some(octet)).is_ok(), "a dropped claim is free again");
    }
}
