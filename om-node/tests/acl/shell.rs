//! `om-node sh volume|bucket|key|prefix addacl|removeacl|setacl|getacl` through the binary, as
//! the administrator and as users, DEFAULT ACLs handed down one level on create, and the
//! replicas agreeing on all of it.

use serde_json::Value;

use crate::setup::{out, SecureRing};

/// `getacl`'s JSON as `type:name:letters[SCOPE]` strings.
fn getacl(ring: &SecureRing, user: &str, path_kind: &str, path: &str) -> Vec<String> {
    let o = ring.cli_as(user, &["sh", path_kind, "getacl", path]);
    assert!(o.status.success(), "getacl {path}: {}", out(&o));
    let json: Value = serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", out(&o)));
    json.as_array()
        .expect("a JSON array")
        .iter()
        .map(|a| {
            let letters: String = a["aclList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| om_client::acl::AclRight::from_name(r.as_str().unwrap()).unwrap().letter())
                .collect();
            let kind = a["type"].as_str().unwrap().to_ascii_lowercase();
            format!("{kind}:{}:{letters}[{}]", a["name"].as_str().unwrap(), a["aclScope"].as_str().unwrap())
        })
        .collect()
}

fn ok(o: std::process::Output) -> String {
    assert!(o.status.success(), "{}", out(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

pub async fn acl_commands_and_inheritance(ring: &SecureRing) {
    let admin = |args: &[&str]| ring.cli_as("admin", args);
    ok(admin(&["sh", "volume", "create", "/vol", "-u", "olive"]));
    assert_eq!(getacl(ring, "admin", "volume", "/vol"), ["user:olive:a[ACCESS]"], "the owner's defaults");

    // addacl: one line per ACL, Ozone's wording; adding again changes nothing.
    let added = ok(admin(&["sh", "volume", "addacl", "/vol", "-a", "user:carol:rl[DEFAULT],user:dave:r"]));
    assert_eq!(added, "ACL user:carol:rl[DEFAULT] added successfully.\nACL user:dave:r[ACCESS] added successfully.\n");
    let again = ok(admin(&["sh", "volume", "addacl", "/vol", "--acl", "user:dave:r"]));
    assert_eq!(again, "ACL user:dave:r[ACCESS] already exists.\n");
    assert_eq!(
        getacl(ring, "admin", "volume", "/vol"),
        ["user:olive:a[ACCESS]", "user:carol:rl[DEFAULT]", "user:dave:r[ACCESS]"]
    );

    // A bucket gets its creator's defaults and the volume's DEFAULT entries as ACCESS entries.
    ok(ring.cli_as("olive", &["sh", "bucket", "create", "/vol/bkt", "--layout", "OBJECT_STORE"]));
    assert_eq!(
        getacl(ring, "olive", "bucket", "/vol/bkt"),
        ["user:olive:a[ACCESS]", "group:owners:rl[ACCESS]", "user:carol:rl[ACCESS]"]
    );
    // ... and a key its creator's defaults and the bucket's DEFAULT entries (not the volume's).
    ok(admin(&["sh", "bucket", "addacl", "/vol/bkt", "-a", "group:dev:rw[DEFAULT]"]));
    ok(ring.cli_as("olive", &["sh", "key", "create", "/vol/bkt/k1"]));
    assert_eq!(
        getacl(ring, "olive", "key", "/vol/bkt/k1"),
        ["user:olive:a[ACCESS]", "group:owners:rl[ACCESS]", "group:dev:rw[ACCESS]"]
    );
    // A prefix entry with DEFAULT entries on the key's path wins over the bucket.
    let o = ok(admin(&["sh", "prefix", "addacl", "/vol/bkt/dir/", "-a", "user:erin:r[DEFAULT]"]));
    assert_eq!(o, "ACL user:erin:r[DEFAULT] added successfully.\n");
    assert_eq!(
        getacl(ring, "admin", "prefix", "/vol/bkt/dir/"),
        ["group:dev:rw[ACCESS]", "user:erin:r[DEFAULT]"],
        "a new prefix entry starts from the bucket's DEFAULT entries"
    );
    ok(ring.cli_as("olive", &["sh", "key", "create", "/vol/bkt/dir/k2"]));
    assert_eq!(
        getacl(ring, "olive", "key", "/vol/bkt/dir/k2"),
        ["user:olive:a[ACCESS]", "group:owners:rl[ACCESS]", "user:erin:r[ACCESS]"]
    );

    // removeacl and setacl.
    let o = ok(admin(&["sh", "key", "removeacl", "/vol/bkt/k1", "-a", "group:dev:w"]));
    assert_eq!(o, "ACL group:dev:w[ACCESS] removed successfully.\n");
    let o = ok(admin(&["sh", "key", "removeacl", "/vol/bkt/k1", "-a", "user:nobody:r"]));
    assert_eq!(o, "ACL user:nobody:r[ACCESS] doesn't exist.\n");
    assert!(getacl(ring, "admin", "key", "/vol/bkt/k1").contains(&"group:dev:r[ACCESS]".to_string()));
    let o = ok(admin(&["sh", "key", "setacl", "/vol/bkt/k1", "-a", "user:olive:a,world::r"]));
    assert_eq!(o, "ACLs set successfully.\n");
    let line = ok(admin(&["sh", "key", "getacl", "/vol/bkt/k1", "--no-json"]));
    assert_eq!(line, "user:olive:a,world:WORLD:r\n");
    let raw = ok(admin(&["sh", "key", "getacl", "/vol/bkt/k1"]));
    assert!(raw.starts_with("[ {\n  \"type\" : \"USER\",\n  \"name\" : \"olive\","), "Ozone's JSON layout: {raw}");

    // Enforcement through the CLI: carol reads the bucket by the entries handed to her; nora
    // has none; everyone may read k1 now (world::r) but not change its ACLs.
    ok(ring.cli_as("carol", &["sh", "bucket", "info", "/vol/bkt"]));
    let o = ring.cli_as("nora", &["sh", "bucket", "info", "/vol/bkt"]);
    assert!(!o.status.success());
    assert!(
        out(&o).contains("PERMISSION_DENIED") && out(&o).contains("User nora doesn't have READ permission"),
        "{}",
        out(&o)
    );
    let o = ring.cli_as("nora", &["sh", "key", "addacl", "/vol/bkt/k1", "-a", "user:nora:a"]);
    assert!(out(&o).contains("PERMISSION_DENIED"), "{}", out(&o));

    // A bad ACL string is refused by the CLI, naming it, with the usage exit code.
    let o = admin(&["sh", "volume", "addacl", "/vol", "-a", "user:bob:r,user:eve:rq"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("\"user:eve:rq\"") && out(&o).contains("[q] ACL right is not recognized"), "{}", out(&o));
    let o = admin(&["sh", "prefix", "getacl", "/vol/bkt/dir"]);
    assert_eq!(o.status.code(), Some(2), "a prefix path ends with '/': {}", out(&o));

    // Every replica holds the same ACLs, prefix entries included (the digest covers them).
    let client = ring.ring.client();
    crate::common::assert_digests_equal(client.nodes(), &client).await;
}
