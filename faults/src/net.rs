//! The suite's own network: one bridge, and one network namespace a node joined to it by a veth
//! pair. Partitions and packet loss are iptables rules inside those namespaces, so no packet
//! of a run leaves interfaces the run made.
//!
//! Every run holds a *slot* (an flock on a file under [`STATE_DIR`]) that names its bridge,
//! namespaces and subnet. Taking a slot first removes whatever an earlier holder left behind
//! (a run killed with SIGKILL cannot clean up), and [`Net`]'s drop removes it all again.

use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::{FaultError, Result};

/// Where slot locks and the record of a slot's mounts live.
pub const STATE_DIR: &str = "/run/omring-faults";
/// Slots 1..=MAX_SLOT: subnet 10.213.<slot>.0/24.
const MAX_SLOT: u8 = 200;
/// iptables chains in each namespace that hold a run's fault rules (flushed to heal).
const CHAIN_IN: &str = "OMF-IN";
const CHAIN_OUT: &str = "OMF-OUT";

/// Runs a command, failing with its stderr when it exits non-zero.
pub fn sh(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|source| FaultError::Io { what: format!("running {program}"), source })?;
    if !out.status.success() {
        return Err(FaultError::Command {
            command: format!("{program} {}", args.join(" ")),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Like [`sh`], ignoring failure (cleanup of things that may already be gone).
fn sh_quiet(program: &str, args: &[&str]) {
    let _ = Command::new(program).args(args).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
}

/// Checks that this process can make namespaces, bridges and iptables rules.
pub fn check_privileges() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(FaultError::Setup(
            "the fault suite makes network namespaces, a bridge and iptables rules: run it as root".into(),
        ));
    }
    for tool in ["ip", "iptables"] {
        if Command::new(tool).arg("--version").stdout(Stdio::null()).stderr(Stdio::null()).status().is_err() {
            return Err(FaultError::Setup(format!(
                "{tool} not found: install iproute2 and iptables (scripts/install-deps.sh does)"
            )));
        }
    }
    Ok(())
}

/// Slots held by this process, for the Ctrl-C handler (see [`sweep_held_slots`]).
static HELD: std::sync::Mutex<Vec<u8>> = std::sync::Mutex::new(Vec::new());

/// Removes everything of every slot this process holds: for a signal handler that exits next.
pub fn sweep_held_slots() {
    let held = HELD.lock().unwrap_or_else(|p| p.into_inner()).clone();
    for n in held {
        sweep_slot(n);
    }
}

/// The names and addresses of slot `.0`'s bridge, namespaces and records.
#[derive(Debug, Clone, Copy)]
pub struct SlotNames(pub u8);

/// A held slot: its number names everything the run makes.
pub struct Slot {
    pub n: u8,
    names: SlotNames,
    _lock: File,
}

impl std::ops::Deref for Slot {
    type Target = SlotNames;
    fn deref(&self) -> &SlotNames {
        &self.names
    }
}

impl Slot {
    /// Takes the first free slot and removes what an earlier holder of it left behind.
    pub fn acquire() -> Result<Slot> {
        std::fs::create_dir_all(STATE_DIR)
            .map_err(|source| FaultError::Io { what: format!("creating {STATE_DIR}"), source })?;
        for n in 1..=MAX_SLOT {
            let path = Path::new(STATE_DIR).join(format!("slot-{n}.lock"));
            let file = File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map_err(|source| FaultError::Io { what: format!("opening {}", path.display()), source })?;
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
                let slot = Slot { n, names: SlotNames(n), _lock: file };
                slot.sweep();
                HELD.lock().unwrap_or_else(|p| p.into_inner()).push(n);
                return Ok(slot);
            }
        }
        Err(FaultError::Setup(format!("all {MAX_SLOT} fault-suite slots are in use")))
    }

    /// Removes everything this slot's names cover (see [`sweep_slot`]).
    pub fn sweep(&self) {
        sweep_slot(self.n);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        HELD.lock().unwrap_or_else(|p| p.into_inner()).retain(|&n| n != self.n);
    }
}

impl SlotNames {
    pub fn bridge(&self) -> String {
        format!("omf{}", self.0)
    }

    pub fn netns(&self, node: usize) -> String {
        format!("omf{}-n{node}", self.0)
    }

    fn veth(&self, node: usize) -> String {
        format!("omf{}v{node}", self.0)
    }

    /// The bridge's own address: clients and the harness talk to nodes from it.
    pub fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.0, 1)
    }

    pub fn node_ip(&self, node: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 213, self.0, 10 + node as u8)
    }

    fn mounts_file(&self) -> PathBuf {
        Path::new(STATE_DIR).join(format!("slot-{}.mounts", self.0))
    }

    fn forward_rule_file(&self) -> PathBuf {
        Path::new(STATE_DIR).join(format!("slot-{}.forward", self.0))
    }

    /// Records a mount so that a later holder of the slot can undo it.
    pub fn record_mount(&self, path: &Path) -> Result<()> {
        use std::io::Write;
        let mut f = File::options()
            .create(true)
            .append(true)
            .open(self.mounts_file())
            .map_err(|source| FaultError::Io { what: "recording a mount".into(), source })?;
        writeln!(f, "{}", path.display()).map_err(|source| FaultError::Io { what: "recording a mount".into(), source })
    }
}

/// Removes everything slot `n`'s names cover: processes in its namespaces, the namespaces
/// (and with them their veth ends and iptables rules), the bridge, mounts and the FORWARD rule.
pub fn sweep_slot(n: u8) {
    let names = SlotNames(n);
    let prefix = format!("omf{n}-n");
    if let Ok(list) = sh("ip", &["netns", "list"]) {
        for ns in list.lines().filter_map(|l| l.split_whitespace().next()).filter(|x| x.starts_with(&prefix)) {
            if let Ok(pids) = sh("ip", &["netns", "pids", ns]) {
                for pid in pids.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
                    // SAFETY: signals to processes found in our own namespace.
                    unsafe {
                        libc::kill(pid, libc::SIGCONT);
                        libc::kill(pid, libc::SIGKILL);
                    }
                }
            }
            sh_quiet("ip", &["netns", "del", ns]);
        }
    }
    // A deleted namespace takes its veth pairs with it only when the kernel gets round to it:
    // delete the host ends too, and wait until they are gone, or the slot's next run finds
    // them (`RTNETLINK answers: File exists`).
    let veth_prefix = format!("omf{n}v");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let left: Vec<String> = sh("ip", &["-o", "link", "show"])
            .map(|list| {
                list.lines()
                    .filter_map(|l| l.split(": ").nth(1))
                    .map(|name| name.split('@').next().unwrap_or(name).to_string())
                    .filter(|name| name.starts_with(&veth_prefix))
                    .collect()
            })
            .unwrap_or_default();
        if left.is_empty() || std::time::Instant::now() > deadline {
            break;
        }
        for name in &left {
            sh_quiet("ip", &["link", "del", name]);
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    sh_quiet("ip", &["link", "del", &names.bridge()]);
    if let Ok(text) = std::fs::read_to_string(names.mounts_file()) {
        for m in text.lines().filter(|l| !l.is_empty()) {
            sh_quiet("umount", &["-l", m]);
        }
    }
    let _ = std::fs::remove_file(names.mounts_file());
    if names.forward_rule_file().exists() {
        let br = names.bridge();
        sh_quiet("iptables", &["-D", "FORWARD", "-i", &br, "-o", &br, "-j", "ACCEPT"]);
        let _ = std::fs::remove_file(names.forward_rule_file());
    }
}

/// The bridge and the namespaces of one run; dropping it removes them.
pub struct Net {
    pub slot: Slot,
    pub nodes: usize,
}

impl Net {
    /// Makes the bridge and `nodes` namespaces, each with `eth0` on the bridge, and the
    /// (empty) fault chains in each.
    pub fn create(slot: Slot, nodes: usize) -> Result<Net> {
        let net = Net { slot, nodes };
        let br = net.slot.bridge();
        let host_cidr = format!("{}/24", net.slot.host_ip());
        sh("ip", &["link", "add", &br, "type", "bridge"])?;
        sh("ip", &["addr", "add", &host_cidr, "dev", &br])?;
        sh("ip", &["link", "set", &br, "up"])?;
        net.allow_bridged_traffic()?;
        for i in 0..nodes {
            let ns = net.slot.netns(i);
            let veth = net.slot.veth(i);
            let cidr = format!("{}/24", net.slot.node_ip(i));
            sh("ip", &["netns", "add", &ns])?;
            sh("ip", &["link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &ns])?;
            sh("ip", &["link", "set", &veth, "master", &br, "up"])?;
            sh("ip", &["-n", &ns, "addr", "add", &cidr, "dev", "eth0"])?;
            sh("ip", &["-n", &ns, "link", "set", "eth0", "up"])?;
            sh("ip", &["-n", &ns, "link", "set", "lo", "up"])?;
            for (chain, hook) in [(CHAIN_IN, "INPUT"), (CHAIN_OUT, "OUTPUT")] {
                net.ipt(i, &["-N", chain])?;
                net.ipt(i, &["-A", hook, "-j", chain])?;
            }
        }
        Ok(net)
    }

    /// With br_netfilter, bridged packets pass the host's FORWARD chain: a DROP policy there
    /// (Docker sets one) would cut the ring apart. An ACCEPT for this bridge only, removed
    /// with the slot.
    fn allow_bridged_traffic(&self) -> Result<()> {
        let nf = std::fs::read_to_string("/proc/sys/net/bridge/bridge-nf-call-iptables").unwrap_or_default();
        if nf.trim() != "1" {
            return Ok(());
        }
        let policy = sh("iptables", &["-S", "FORWARD"]).unwrap_or_default();
        if policy.lines().any(|l| l == "-P FORWARD ACCEPT") {
            return Ok(());
        }
        let br = self.slot.bridge();
        std::fs::write(self.slot.forward_rule_file(), &br)
            .map_err(|source| FaultError::Io { what: "recording the FORWARD rule".into(), source })?;
        sh("iptables", &["-I", "FORWARD", "-i", &br, "-o", &br, "-j", "ACCEPT"]).map(|_| ())
    }

    /// iptables inside node `i`'s namespace.
    pub fn ipt(&self, i: usize, args: &[&str]) -> Result<()> {
        let ns = self.slot.netns(i);
        let mut full = vec!["netns", "exec", ns.as_str(), "iptables", "-w"];
        full.extend_from_slice(args);
        sh("ip", &full).map(|_| ())
    }

    /// Node `from` no longer receives packets from node `to` (one direction).
    pub fn drop_from(&self, at: usize, from: usize) -> Result<()> {
        let src = self.slot.node_ip(from).to_string();
        self.ipt(at, &["-A", CHAIN_IN, "-s", &src, "-j", "DROP"])
    }

    /// Node `at` no longer sends packets to node `to` (one direction).
    pub fn drop_to(&self, at: usize, to: usize) -> Result<()> {
        let dst = self.slot.node_ip(to).to_string();
        self.ipt(at, &["-A", CHAIN_OUT, "-d", &dst, "-j", "DROP"])
    }

    /// Cuts `a` and `b` apart in both directions.
    pub fn cut(&self, a: usize, b: usize) -> Result<()> {
        self.drop_from(a, b)?;
        self.drop_to(a, b)?;
        self.drop_from(b, a)?;
        self.drop_to(b, a)
    }

    /// Node `at` drops each incoming packet with this probability (clients' and peers').
    pub fn lose(&self, at: usize, probability: f64) -> Result<()> {
        let p = format!("{probability:.3}");
        self.ipt(at, &["-A", CHAIN_IN, "-m", "statistic", "--mode", "random", "--probability", &p, "-j", "DROP"])
    }

    /// Removes every fault rule of every node.
    pub fn heal(&self) -> Result<()> {
        for i in 0..self.nodes {
            self.ipt(i, &["-F", CHAIN_IN])?;
            self.ipt(i, &["-F", CHAIN_OUT])?;
        }
        Ok(())
    }

    /// The namespace file a process joins to run inside node `i`'s namespace.
    pub fn netns_path(&self, i: usize) -> PathBuf {
        Path::new("/run/netns").join(self.slot.netns(i))
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        self.slot.sweep();
    }
}
