//! `om-node dev ring`, the command behind `make demo-local`: it starts a ring, prints its roles and
//! stops every node on Ctrl-C.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Stops the ring when the test fails before it does: SIGINT lets `dev ring` stop its nodes
/// (a kill would leave them running), then a kill if it has not exited within 15 s.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if !matches!(self.0.try_wait(), Ok(None)) {
            return;
        }
        unsafe {
            libc::kill(self.0.id() as i32, libc::SIGINT);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if !matches!(self.0.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

#[test]
fn dev_ring_starts_prints_roles_and_stops_on_ctrl_c() {
    let dir = tempfile::tempdir().unwrap();
    let ring_dir = dir.path().join("ring");
    let mut ring = StopOnDrop(
        Command::new(env!("CARGO_BIN_EXE_om-node"))
            .args(["dev", "ring", "--nodes", "3", "--dir"])
            .arg(&ring_dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let child = &mut ring.0;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut table = Vec::new();
    while table.len() < 9 && Instant::now() < deadline {
        match lines.next() {
            Some(Ok(l)) => table.push(l),
            _ => break,
        }
    }
    // Ozone's bordered box: the title, then a row per node with the role in the last cell.
    let role = |l: &String| l.trim_end_matches('|').rsplit('|').next().map(|c| c.trim().to_string());
    assert_eq!(table.get(1).map(|l| l.trim_matches('|').trim()), Some("Ozone Manager Roles"), "{table:?}");
    assert_eq!(table.iter().filter(|l| role(l).as_deref() == Some("LEADER")).count(), 1, "{table:?}");
    assert_eq!(table.iter().filter(|l| role(l).as_deref() == Some("FOLLOWER")).count(), 2, "{table:?}");

    // the printed config works with the CLI
    let conf = ring_dir.join("ozone-site.xml");
    let out = Command::new(env!("CARGO_BIN_EXE_om-node"))
        .arg("--conf")
        .arg(&conf)
        .args(["sh", "volume", "create", "/demo"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // a second ring in the same directory is refused
    let again =
        Command::new(env!("CARGO_BIN_EXE_om-node")).args(["dev", "ring", "--dir"]).arg(&ring_dir).output().unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a ring"));

    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "dev ring did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // its nodes are gone: nothing answers on the first node's client port any more
    let text = std::fs::read_to_string(&conf).unwrap();
    let conf = om_client::OzoneConfig::parse_xml(&text).unwrap();
    let addr = conf.service(None).unwrap().nodes[0].rpc_address();
    assert!(std::net::TcpStream::connect(addr).is_err(), "node still listening after the ring stopped");
}
