//! The same commands of Apache Ozone 2.2.0's own CLI (`ozone sh`, `ozone admin om roles`), run
//! against a real Ozone OM ring (an SCM and three OMs from the Maven Central jars, as the bench
//! starts them) and against an omring ring, compared field by field: exit codes, the result code
//! of every error, and the JSON every command prints, with ids and times left out. The tests in
//! om-node/tests/ozone_client.rs compare Ozone's CLI with omring's own on one ring; this one
//! compares the rings.
//!
//! Needs the `om-node` binary built next to this test (`make test` builds all targets first) and
//! Java 17 with Ozone's jars (installed and cached by bench/scripts/setup-peers.sh).

#[allow(dead_code)] // the parts the om-node tests use and this one does not
#[path = "../../om-node/tests/ozone_cli/mod.rs"]
mod ozone_cli;

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use omring_bench::omring::OmRing;
use omring_bench::ozone::OzoneCluster;
use ozone_cli::{stderr, stdout, OzoneCli};
use serde_json::Value;

fn target_dir() -> PathBuf {
    // <target>/debug/deps/ozone_parity-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent().and_then(|d| d.parent()).expect("target dir").to_path_buf()
}

/// Fields that differ between any two rings, or any two runs: times and ids (a key's
/// `generation` is the transaction that wrote it).
const IGNORED: &[&str] = &["creationTime", "modificationTime", "objectID", "updateID", "generation"];

/// What a command did, in the terms the comparison uses.
#[derive(Debug, PartialEq)]
struct Seen {
    exit: Option<i32>,
    /// stdout as JSON without [`IGNORED`] fields, when it is JSON.
    json: Option<Value>,
    /// stdout when it is not JSON (trimmed).
    text: String,
    /// The result code an error starts with (`VOLUME_NOT_FOUND ...`), else empty.
    code: String,
}

fn strip(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for k in IGNORED {
                m.remove(*k);
            }
            m.values_mut().for_each(strip);
        }
        Value::Array(a) => a.iter_mut().for_each(strip),
        _ => {}
    }
}

/// The error line's leading result code: Ozone's CLI prints `CODE message` on stderr (after any
/// log lines, `WARN Class: ...`, whose level words are not codes).
fn result_code(err: &str) -> String {
    const LEVELS: &[&str] = &["TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"];
    err.lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| !LEVELS.contains(w))
        .find(|w| w.len() > 3 && w.chars().all(|c| c.is_ascii_uppercase() || c == '_'))
        .unwrap_or_default()
        .to_string()
}

/// Takes out of both rings' output the differences the README's "Differences from Apache
/// Ozone" table lists, so that any other difference fails the test:
/// - "key owner": omring's keys carry no owner yet (Ozone prints the creator);
/// - "creator ACLs with security off": Ozone gives a new volume `group:<g>:rl` for the owner's
///   groups, and a new bucket or key `user:<caller>:a` and `group:<g>:rl`; omring gives a
///   volume its owner's user entry (compared) and buckets and keys no creator entries. Only
///   entries with exactly those names, rights and the ACCESS scope are taken out; inherited,
///   added and DEFAULT entries are compared.
fn drop_documented_differences(v: &mut Value, who: &Caller) {
    let rights = |e: &Value| -> Vec<String> {
        e.get("aclList")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|r| r.as_str().map(String::from)).collect())
            .unwrap_or_default()
    };
    let creator_entry = |e: &Value, with_user: bool| {
        let field = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or_default();
        field("aclScope") == "ACCESS"
            && ((field("type") == "GROUP"
                && who.groups.iter().any(|g| g == field("name"))
                && rights(e) == ["READ", "LIST"])
                || (with_user && field("type") == "USER" && field("name") == who.user && rights(e) == ["ALL"]))
    };
    match v {
        Value::Object(m) => {
            if m.contains_key("bucketName") && m.contains_key("dataSize") {
                m.remove("owner");
            }
            if m.contains_key("admin") {
                // A volume: its owner's user entry is compared.
                if let Some(Value::Array(acls)) = m.get_mut("acls") {
                    acls.retain(|e| !creator_entry(e, false));
                }
            } else {
                m.values_mut().for_each(|x| drop_documented_differences(x, who));
            }
        }
        Value::Array(a) => {
            // `getacl` of a bucket or key prints a bare array of entries.
            a.retain(|e| !creator_entry(e, true));
            a.iter_mut().for_each(|x| drop_documented_differences(x, who));
        }
        _ => {}
    }
}

/// The user this test runs as (the caller Ozone's client names in its connection context) and
/// that user's groups.
struct Caller {
    user: String,
    groups: Vec<String>,
}

fn caller() -> Caller {
    let id = |arg: &str| {
        let out = std::process::Command::new("id").arg(arg).output().expect("id");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    Caller { user: id("-un"), groups: id("-Gn").split_whitespace().map(String::from).collect() }
}

fn seen(o: &Output) -> Seen {
    let out = stdout(o);
    let json = serde_json::from_str::<Value>(&out).ok().map(|mut v| {
        strip(&mut v);
        drop_documented_differences(&mut v, &caller());
        v
    });
    Seen {
        exit: o.status.code(),
        text: if json.is_some() { String::new() } else { out.trim().to_string() },
        json,
        code: if o.status.success() { String::new() } else { result_code(&stderr(o)) },
    }
}

/// One command against both rings. `{}` in an argument stands for the ring's `o3://<service>/`.
fn both(ozone: &OzoneCli, ozone_sid: &str, ours: &OzoneCli, our_sid: &str, args: &[&str]) -> (Output, Output) {
    let fill = |sid: &str| -> Vec<String> { args.iter().map(|a| a.replace("{}", &format!("o3://{sid}/"))).collect() };
    let run = |cli: &OzoneCli, a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        match a.split_first() {
            Some((&"admin", rest)) => cli.admin(rest),
            _ => cli.sh(&a),
        }
    };
    (run(ozone, fill(ozone_sid)), run(ours, fill(our_sid)))
}

#[test]
fn ozone_cli_prints_the_same_for_omring_as_for_ozones_own_om() {
    let lib = ozone_cli::install();
    let om_node = target_dir().join("om-node");
    assert!(om_node.exists(), "{} is missing: build it first (make test)", om_node.display());
    let work = tempfile::Builder::new().prefix("omring-ozone-parity-").tempdir().expect("tempdir");

    let ozone = OzoneCluster::start(&lib, work.path(), &work.path().join("ozone")).expect("Ozone SCM and OMs");
    ozone.wait_oms_listening(Duration::from_secs(300)).expect("Ozone OMs listening");
    let ring = OmRing::start(&om_node, &work.path().join("omring"), 3, &[]).expect("omring ring");
    let theirs = OzoneCli::new(lib.clone(), &work.path().join("cli-ozone"), &ozone.ozone_site_xml().expect("xml"));
    let ours = OzoneCli::new(lib, &work.path().join("cli-omring"), &ring.ozone_site_xml());
    let (tsid, osid) = (omring_bench::ozone::SERVICE_ID, omring_bench::omring::SERVICE_ID);
    let empty = work.path().join("empty");
    std::fs::write(&empty, b"").expect("empty file");
    let empty = empty.display().to_string();

    // A user's session: create, read, list, rename, delete, and the errors on the way.
    let steps: Vec<Vec<&str>> = vec![
        vec!["volume", "create", "{}pvol"],
        vec!["volume", "info", "{}pvol"],
        vec!["volume", "create", "{}pvol"],
        vec!["volume", "info", "{}nosuchvol"],
        vec!["bucket", "create", "{}pvol/pbkt", "--layout", "OBJECT_STORE"],
        vec!["bucket", "create", "{}pvol/fbkt", "--layout", "FILE_SYSTEM_OPTIMIZED"],
        vec!["bucket", "create", "{}pvol/dbkt"],
        vec!["bucket", "info", "{}pvol/pbkt"],
        vec!["bucket", "info", "{}pvol/fbkt"],
        vec!["bucket", "info", "{}pvol/dbkt"],
        vec!["bucket", "create", "{}pvol/pbkt"],
        vec!["bucket", "info", "{}pvol/nosuchbkt"],
        vec!["bucket", "create", "{}nosuchvol/b1"],
        vec!["bucket", "list", "{}pvol"],
        vec!["bucket", "addacl", "{}pvol/pbkt", "-a", "user:alice:rw[DEFAULT]"],
        vec!["bucket", "getacl", "{}pvol/pbkt"],
        vec!["key", "put", "{}pvol/pbkt/k1", &empty],
        vec!["key", "put", "{}pvol/pbkt/d1/k2", &empty],
        vec!["key", "put", "{}pvol/fbkt/d1/k2", &empty],
        vec!["key", "info", "{}pvol/pbkt/k1"],
        vec!["key", "info", "{}pvol/fbkt/d1/k2"],
        vec!["key", "list", "{}pvol/pbkt"],
        vec!["key", "list", "{}pvol/fbkt"],
        vec!["key", "info", "{}pvol/pbkt/nosuchkey"],
        vec!["key", "getacl", "{}pvol/pbkt/k1"],
        vec!["key", "rename", "{}pvol/pbkt", "k1", "k3"],
        vec!["key", "info", "{}pvol/pbkt/k1"],
        vec!["key", "info", "{}pvol/pbkt/k3"],
        vec!["volume", "delete", "{}pvol"],
        vec!["bucket", "delete", "{}pvol/pbkt"],
        vec!["key", "delete", "{}pvol/pbkt/k3"],
        vec!["key", "delete", "{}pvol/pbkt/d1/k2"],
        vec!["bucket", "delete", "{}pvol/pbkt"],
        vec!["bucket", "delete", "{}pvol/dbkt"],
        vec!["volume", "setquota", "{}pvol", "--namespace-quota", "10"],
        vec!["volume", "info", "{}pvol"],
        vec!["volume", "create", "{}Bad_Volume"],
    ];
    let mut differences = Vec::new();
    for args in &steps {
        let (t, o) = both(&theirs, tsid, &ours, osid, args);
        let (t, o) = (seen(&t), seen(&o));
        eprintln!("ozone sh {}: Ozone {t:?}", args.join(" "));
        if t != o {
            differences.push(format!("ozone sh {}:\n  Ozone OM: {t:?}\n  omring:   {o:?}", args.join(" ")));
        }
    }

    // `admin om roles`: the same three node ids, one leader, in every format; host names and
    // ports are each ring's own.
    for format in [&[][..], &["--json"][..], &["--table"][..]] {
        let roles = |cli: &OzoneCli, sid: &str| {
            let args: Vec<&str> = [&["om", "roles", "-id", sid][..], format].concat();
            let out = cli.admin(&args);
            assert!(out.status.success(), "admin om roles {format:?} against {sid}: {}", stderr(&out));
            normalise_roles(&stdout(&out))
        };
        let (t, o) = (roles(&theirs, tsid), roles(&ours, osid));
        if t != o {
            differences.push(format!("ozone admin om roles {format:?}:\n  Ozone OM:\n{t}\n  omring:\n{o}"));
        }
    }
    assert!(differences.is_empty(), "Ozone's CLI saw the rings differ:\n{}", differences.join("\n"));
}

/// Roles output with what is each ring's own taken out: host names (127.0.0.1, localhost, this
/// machine's name) become `HOST`, node ids `om?` (the leader is whichever won the election),
/// runs of spaces and dashes one (a table's widths follow the host names), lines sorted.
fn normalise_roles(text: &str) -> String {
    let mut hosts = vec!["127.0.0.1".to_string(), "localhost".to_string()];
    if let Ok(h) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        hosts.insert(0, h.trim().to_string());
    }
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut l = l.to_string();
            for h in hosts.iter().filter(|h| !h.is_empty()) {
                l = l.replace(h.as_str(), "HOST");
            }
            for id in ["om1", "om2", "om3"] {
                l = l.replace(id, "om?");
            }
            let mut out = String::new();
            for c in l.chars() {
                if (c == ' ' || c == '-') && out.ends_with(c) {
                    continue;
                }
                out.push(c);
            }
            out
        })
        .collect();
    lines.sort();
    lines.join("\n")
}
