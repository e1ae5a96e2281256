use proptest::prelude::*;
use strum::IntoEnumIterator;

use super::*;

fn acl(s: &str) -> OzoneAcl {
    OzoneAcl::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn err(s: &str) -> String {
    match OzoneAcl::parse(s) {
        Ok(a) => panic!("{s} parsed as {a}"),
        Err(e) => e.to_string(),
    }
}

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|g| g.to_string()).collect()
}

#[test]
fn rights_have_ozones_letters_names_and_bits() {
    let expected = [
        (AclRight::Read, 'r', "READ"),
        (AclRight::Write, 'w', "WRITE"),
        (AclRight::Create, 'c', "CREATE"),
        (AclRight::List, 'l', "LIST"),
        (AclRight::Delete, 'd', "DELETE"),
        (AclRight::ReadAcl, 'x', "READ_ACL"),
        (AclRight::WriteAcl, 'y', "WRITE_ACL"),
        (AclRight::All, 'a', "ALL"),
        (AclRight::None, 'n', "NONE"),
    ];
    assert_eq!(AclRight::iter().count(), expected.len());
    for (bit, (right, letter, name)) in expected.into_iter().enumerate() {
        assert_eq!(right.letter(), letter);
        assert_eq!(right.name(), name);
        assert_eq!(serde_json::to_value(right).unwrap(), serde_json::Value::from(name), "serde name");
        assert_eq!(AclRight::from_letter(letter), Some(right));
        assert_eq!(AclRight::from_name(&name.to_lowercase()), Some(right));
        assert_eq!(AclRights::from(right).bits(), 1 << bit, "{name} is Ozone's bit {bit}");
    }
    assert_eq!(AclRight::from_letter('R'), None, "letters are case-sensitive");
    assert_eq!(AclRight::from_letter('m'), None, "ASSUME_ROLE is not supported");
}

#[test]
fn letters_print_in_ozones_order_whatever_the_input_order() {
    assert_eq!(AclRights::parse_letters("nayxdlcwr").unwrap().letters(), "rwcldxyan");
    assert_eq!(AclRights::parse_letters("lr").unwrap().to_string(), "rl");
    assert_eq!(AclRights::parse_letters("rr").unwrap().letters(), "r");
    assert_eq!(AclRights::parse_letters("").unwrap(), AclRights::EMPTY);
    assert_eq!(AclRights::parse_letters("rq"), Err(AclError::UnknownRight { letter: 'q' }));
    assert_eq!(format!("{:?}", AclRights::parse_letters("wr").unwrap()), "AclRights(\"rw\")");
    let rl: AclRights = [AclRight::List, AclRight::Read].into_iter().collect();
    assert_eq!(rl, AclRights::from(AclRight::Read) | AclRights::from(AclRight::List));
    assert_eq!(rl.iter().collect::<Vec<_>>(), vec![AclRight::Read, AclRight::List]);
}

#[test]
fn bitmask_refuses_unknown_bits() {
    assert_eq!(AclRights::from_bits(0x1ff).unwrap().letters(), "rwcldxyan");
    assert_eq!(AclRights::from_bits(0x200), Err(AclError::UnknownRightBits { bits: 0x200 }));
    assert_eq!(
        AclRights::from_bits(0x8001).unwrap_err().to_string(),
        "ACL rights bitmask 0x8001 has bits outside the nine known rights"
    );
}

#[test]
fn all_grants_every_right_and_none_grants_nothing() {
    let all = AclRights::from(AclRight::All);
    let none_with_all = AclRights::parse_letters("rwan").unwrap();
    for right in AclRight::iter().filter(|r| !matches!(r, AclRight::All | AclRight::None)) {
        assert!(all.grants(right), "a grants {right}");
        assert!(!none_with_all.grants(right), "n empties the entry: {right}");
        assert!(!AclRights::EMPTY.grants(right));
        assert!(AclRights::from(right).grants(right));
    }
    assert!(!AclRights::from(AclRight::Read).grants(AclRight::Write));
    assert!(!AclRights::from(AclRight::None).contains(AclRight::Read));
}

#[test]
fn parses_and_prints_ozones_examples() {
    for (input, printed) in [
        ("anonymous::lr", "anonymous:ANONYMOUS:rl[ACCESS]"),
        ("world::r", "world:WORLD:r[ACCESS]"),
        ("user:bob:rw[DEFAULT]", "user:bob:rw[DEFAULT]"),
        ("user:alice:rwcldxyan", "user:alice:rwcldxyan[ACCESS]"),
        ("group:g1:a", "group:g1:a[ACCESS]"),
        ("USER:bob:r", "user:bob:r[ACCESS]"),
        ("  user:bob:wr[ACCESS]  ", "user:bob:rw[ACCESS]"),
        ("user:bob:rw:", "user:bob:rw[ACCESS]"),
        ("user:bob:[DEFAULT]", "user:bob:[DEFAULT]"),
        ("world:WORLD:r", "world:WORLD:r[ACCESS]"),
        ("world:ANONYMOUS:r", "world:WORLD:r[ACCESS]"),
        ("anonymous:WORLD:r", "anonymous:ANONYMOUS:r[ACCESS]"),
        ("user:system:serviceaccount:ns:sa:rl", "user:system:serviceaccount:ns:sa:rl[ACCESS]"),
        ("group:omring:nodes:a[DEFAULT]", "group:omring:nodes:a[DEFAULT]"),
    ] {
        let parsed = acl(input);
        assert_eq!(parsed.to_string(), printed, "{input}");
        assert_eq!(acl(printed), parsed, "printed form parses back: {printed}");
        assert_eq!(input.parse::<OzoneAcl>().unwrap(), parsed);
    }
    let a = acl("group:omring:nodes:rl[DEFAULT]");
    assert_eq!(a.identity_type(), AclIdentityType::Group);
    assert_eq!(a.name(), "omring:nodes");
    assert_eq!(a.rights().letters(), "rl");
    assert_eq!(a.scope(), AclScope::Default);
}

#[test]
fn every_parse_error_names_what_is_wrong() {
    let cases = [
        ("", "ACLs cannot be null or empty"),
        ("   ", "ACLs cannot be null or empty"),
        (
            "user:bob",
            r#"ACLs are not in expected format: "user:bob" (expected type:name:rights[SCOPE], e.g. user:bob:rw)"#,
        ),
        (
            "user:bob:",
            r#"ACLs are not in expected format: "user:bob:" (expected type:name:rights[SCOPE], e.g. user:bob:rw)"#,
        ),
        ("user", r#"ACLs are not in expected format: "user" (expected type:name:rights[SCOPE], e.g. user:bob:rw)"#),
        ("foo:bob:r", r#"unknown ACL identity type "foo": expected user, group, world or anonymous"#),
        ("foo::q", r#"unknown ACL identity type "foo": expected user, group, world or anonymous"#),
        ("user:bob:rq", "[q] ACL right is not recognized"),
        // Ozone ignores a fourth field; omring reads `bob:rw` as the name and `extra` as rights.
        ("user:bob:rw:extra", "[e] ACL right is not recognized"),
        ("user:bob:R", "[R] ACL right is not recognized"),
        ("user:bob:rm", "[m] ACL right (ASSUME_ROLE) is not supported"),
        (
            "user:bob:rw[default]",
            r#"ACL scope in "rw[default]" is not recognized: expected [ACCESS] or [DEFAULT] (upper case)"#,
        ),
        (
            "user:bob:rw[FOO]",
            r#"ACL scope in "rw[FOO]" is not recognized: expected [ACCESS] or [DEFAULT] (upper case)"#,
        ),
        (
            "user:bob:rw[ACCESS",
            r#"ACL scope in "rw[ACCESS" is not recognized: expected [ACCESS] or [DEFAULT] (upper case)"#,
        ),
        (
            "user:bob:r[DEFAULT][ACCESS]",
            r#"ACL scope in "r[DEFAULT][ACCESS]" is not recognized: expected [ACCESS] or [DEFAULT] (upper case)"#,
        ),
        ("user::r", "user name is required"),
        ("group::r", "group name is required"),
        ("world:alice:r", "Expected name WORLD, but was: alice"),
        ("anonymous:bob:r", "Expected name ANONYMOUS, but was: bob"),
        ("world:world:r", "Expected name WORLD, but was: world"),
    ];
    for (input, message) in cases {
        assert_eq!(err(input), message, "{input:?}");
    }
    let ip = "client_ip ACLs are not supported: Ozone never matches the address, so the entry would grant every caller; write world::<rights> if that is meant";
    assert_eq!(err("client_ip:10.0.0.1:r"), ip);
    assert_eq!(err("ip:10.0.0.1:r"), ip);
    assert_eq!(err("CLIENT_IP::r"), ip);
}

#[test]
fn lists_split_on_commas() {
    let list = OzoneAcl::parse_list("user:bob:rw, group:dev:rl[DEFAULT],world::r").unwrap();
    let printed: Vec<String> = list.iter().map(|a| a.to_string()).collect();
    assert_eq!(printed, ["user:bob:rw[ACCESS]", "group:dev:rl[DEFAULT]", "world:WORLD:r[ACCESS]"]);
    assert_eq!(OzoneAcl::parse_list("user:bob:r,").unwrap().len(), 1, "a trailing comma is dropped");
    assert_eq!(OzoneAcl::parse_list("user:bob:r,,group:g:r"), Err(AclError::Empty));
    assert_eq!(OzoneAcl::parse_list(""), Err(AclError::Empty));
    assert_eq!(OzoneAcl::parse_list(",,"), Err(AclError::BadFormat { acl: ",,".into() }));
    assert_eq!(OzoneAcl::parse_list("user:bob:r,user:al:q"), Err(AclError::UnknownRight { letter: 'q' }));
}

proptest! {
    #[test]
    fn printed_acls_parse_back(
        kind in 0usize..4,
        name in "[a-z0-9:._@-]{1,12}",
        bits in 0u16..512,
        default_scope in any::<bool>(),
    ) {
        let identity_type = AclIdentityType::iter().nth(kind).unwrap();
        let name = if identity_type.is_named() { name } else { String::new() };
        let scope = if default_scope { AclScope::Default } else { AclScope::Access };
        let a = OzoneAcl::new(identity_type, name, AclRights::from_bits(bits).unwrap(), scope).unwrap();
        prop_assert_eq!(OzoneAcl::parse(&a.to_string()).unwrap(), a.clone());
        // An ACCESS entry without rights prints as `user:bob:` in the line form, which (as in
        // Ozone) does not parse back.
        if bits != 0 {
            let list = vec![a.clone(), a.with_scope(AclScope::Access)];
            prop_assert_eq!(OzoneAcl::parse_list(&format_acl_line(&list)).unwrap(), list);
        }
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<OzoneAcl>(&json).unwrap(), a);
    }
}

#[test]
fn json_form_is_compact_named_and_checked() {
    let a = acl("user:bob:rw[DEFAULT]");
    let json = serde_json::to_string(&a).unwrap();
    assert_eq!(json, r#"{"type":"USER","name":"bob","rights":"rw","scope":"DEFAULT"}"#);
    let world: OzoneAcl = serde_json::from_str(r#"{"type":"WORLD","rights":"r"}"#).unwrap();
    assert_eq!(world, acl("world::r"), "name and scope may be left out");
    for (bad, why) in [
        (r#"{"type":"USER","name":"","rights":"r"}"#, "user name is required"),
        (r#"{"type":"WORLD","name":"eve","rights":"r"}"#, "Expected name WORLD, but was: eve"),
        (r#"{"type":"USER","name":"bob","rights":"rq"}"#, "[q] ACL right is not recognized"),
        (r#"{"type":"USER","name":"bob","rights":"r","owner":"x"}"#, "unknown field"),
        (r#"{"type":"CLIENT_IP","name":"bob","rights":"r"}"#, "unknown variant"),
        (r#"{"type":"USER","name":"bob","rights":"r","scope":"access"}"#, "unknown variant"),
    ] {
        let e = serde_json::from_str::<OzoneAcl>(bad).unwrap_err().to_string();
        assert!(e.contains(why), "{bad}: {e}");
    }
}

#[test]
fn getacl_json_matches_ozones_layout() {
    let acls = OzoneAcl::parse_list("user:bob:rl,group:dev:[DEFAULT]").unwrap();
    let expected = r#"[ {
  "type" : "USER",
  "name" : "bob",
  "aclScope" : "ACCESS",
  "aclList" : [ "READ", "LIST" ],
  "aclSet" : [ "READ", "LIST" ]
}, {
  "type" : "GROUP",
  "name" : "dev",
  "aclScope" : "DEFAULT",
  "aclList" : [ ],
  "aclSet" : [ ]
} ]"#;
    assert_eq!(getacl_json(&acls), expected);
    assert_eq!(getacl_json(&[]), "[ ]");
    let back: Vec<AclJson> = serde_json::from_str(expected).unwrap();
    assert_eq!(back, acls.iter().map(AclJson::from).collect::<Vec<_>>());
    assert_eq!(back[0].acl_list, vec![AclRight::Read, AclRight::List]);
}

#[test]
fn acl_line_drops_only_access_scope() {
    let acls = OzoneAcl::parse_list("user:bob:a,group:bob:lr,user:carol:r[DEFAULT]").unwrap();
    assert_eq!(format_acl_line(&acls), "user:bob:a,group:bob:rl,user:carol:r[DEFAULT]");
    assert_eq!(format_acl_line(&[]), "");
}

#[test]
fn add_merges_into_the_same_identity_and_scope() {
    let mut acls = OzoneAcl::parse_list("user:bob:r,group:dev:rl").unwrap();
    assert!(add_acl(&mut acls, &acl("user:bob:w")), "new bits");
    assert!(!add_acl(&mut acls, &acl("user:bob:rw")), "already exists");
    assert!(add_acl(&mut acls, &acl("user:bob:r[DEFAULT]")), "another scope is another entry");
    assert!(add_acl(&mut acls, &acl("user:carol:x")), "appended");
    assert!(add_acl(&mut acls, &acl("world::[ACCESS]")), "an entry without rights is appended too");
    assert_eq!(format_acl_line(&acls), "user:bob:rw,group:dev:rl,user:bob:r[DEFAULT],user:carol:x,world:WORLD:");
}

#[test]
fn remove_clears_bits_and_drops_empty_entries() {
    let mut acls = OzoneAcl::parse_list("user:bob:rwx,group:dev:rl,user:al:a").unwrap();
    assert!(remove_acl(&mut acls, &acl("user:bob:w")));
    assert!(!remove_acl(&mut acls, &acl("user:bob:w")), "no bit left to clear");
    assert!(!remove_acl(&mut acls, &acl("user:bob:r[DEFAULT]")), "no entry in that scope");
    assert!(!remove_acl(&mut acls, &acl("user:al:r")), "bits, not meaning: a has no r bit");
    assert!(remove_acl(&mut acls, &acl("group:dev:rlw")), "emptied entry is dropped");
    assert!(!remove_acl(&mut acls, &acl("user:nobody:r")));
    assert_eq!(format_acl_line(&acls), "user:bob:rx,user:al:a");
}

#[test]
fn set_replaces_the_list_as_given() {
    let mut acls = OzoneAcl::parse_list("user:bob:a").unwrap();
    set_acls(&mut acls, OzoneAcl::parse_list("user:al:r,user:al:w").unwrap());
    assert_eq!(format_acl_line(&acls), "user:al:r,user:al:w", "no merging");
}

#[test]
fn defaults_flow_volume_to_bucket_to_key_as_access() {
    let creator = CreatorRights::default();
    let volume = acls_for_volume(
        creator.default_acls("alice", &groups(&["dev"])).unwrap(),
        &OzoneAcl::parse_list("group:analysts:rl[DEFAULT],user:bob:r").unwrap(),
    );
    assert_eq!(format_acl_line(&volume), "user:alice:a,group:dev:rl,group:analysts:rl[DEFAULT],user:bob:r");

    let bucket = acls_for_bucket(
        creator.default_acls("bob", &[]).unwrap(),
        &OzoneAcl::parse_list("user:carol:rw[DEFAULT]").unwrap(),
        &volume,
    );
    assert_eq!(
        format_acl_line(&bucket),
        "user:bob:a,user:carol:rw[DEFAULT],group:analysts:rl",
        "the volume's DEFAULT entry became ACCESS on the bucket; its ACCESS entries stayed"
    );

    let key = acls_for_key(creator.default_acls("dave", &[]).unwrap(), &[], &[bucket.as_slice()]);
    assert_eq!(
        format_acl_line(&key),
        "user:dave:a,user:carol:rw",
        "the bucket's DEFAULT entry reaches the key; the volume's (now ACCESS on the bucket) does not"
    );
}

#[test]
fn inheritance_merges_and_the_first_parent_with_defaults_wins() {
    let prefix = OzoneAcl::parse_list("user:erin:w[DEFAULT]").unwrap();
    let bucket = OzoneAcl::parse_list("user:frank:r[DEFAULT],user:dave:w[DEFAULT]").unwrap();
    let empty_dir = OzoneAcl::parse_list("user:gina:a").unwrap();
    let creator = CreatorRights::default().default_acls("dave", &[]).unwrap();

    let key = acls_for_key(creator.clone(), &[], &[prefix.as_slice(), empty_dir.as_slice(), bucket.as_slice()]);
    assert_eq!(format_acl_line(&key), "user:dave:a,user:erin:w", "the prefix has DEFAULTs: the bucket's are not used");
    let key = acls_for_key(creator.clone(), &[], &[empty_dir.as_slice(), bucket.as_slice()]);
    assert_eq!(format_acl_line(&key), "user:dave:wa,user:frank:r", "merged into dave's entry");

    let duplicate = OzoneAcl::parse_list("user:dave:a,user:zoe:r").unwrap();
    let frank = OzoneAcl::parse_list("user:frank:r[DEFAULT]").unwrap();
    let key = acls_for_key(creator.clone(), &duplicate, &[frank.as_slice()]);
    assert_eq!(
        format_acl_line(&key),
        "user:dave:a,user:zoe:r,user:frank:r",
        "exact duplicates removed after inheriting"
    );
    let key = acls_for_key(creator, &duplicate, &[empty_dir.as_slice()]);
    assert_eq!(
        format_acl_line(&key),
        "user:dave:a,user:dave:a,user:zoe:r",
        "kept when nothing was inherited, as in Ozone"
    );

    let mut dir = Vec::new();
    assert!(inherit_default_acls(&mut dir, &bucket, AclScope::Default), "directories keep DEFAULT");
    assert_eq!(format_acl_line(&dir), "user:frank:r[DEFAULT],user:dave:w[DEFAULT]");
    assert!(!inherit_default_acls(&mut dir, &empty_dir, AclScope::Access));
}

#[test]
fn creator_rights_come_from_hadoop_style_config_values() {
    let default = CreatorRights::default();
    assert_eq!((default.user.letters(), default.group.letters()), ("a".into(), "rl".into()));
    assert_eq!(CreatorRights::from_config(None, None).unwrap(), default);
    assert_eq!(CreatorRights::from_config(Some("ALL"), Some("READ,LIST")).unwrap(), default);
    assert_eq!(CreatorRights::from_config(Some(" all "), Some("read, list")).unwrap(), default);
    let custom = CreatorRights::from_config(Some("Read, WRITE,read_acl"), Some("none")).unwrap();
    assert_eq!((custom.user.letters(), custom.group.letters()), ("rwx".into(), "n".into()));

    let e = CreatorRights::from_config(None, Some("READ,FOO")).unwrap_err();
    assert_eq!(
        e.to_string(),
        r#"ozone.om.group.rights: unknown ACL right "FOO": expected READ, WRITE, CREATE, LIST, DELETE, READ_ACL, WRITE_ACL, ALL or NONE"#
    );
    let e = CreatorRights::from_config(Some(" , "), None).unwrap_err();
    assert_eq!(e.to_string(), "ozone.om.user.rights: no ACL right given: name one, or NONE for no rights");
    assert!(CreatorRights::from_config(Some("r"), None).is_err(), "letters are not right names");

    let acls = default.default_acls("alice", &groups(&["dev", "ops"])).unwrap();
    assert_eq!(format_acl_line(&acls), "user:alice:a,group:dev:rl", "only the first (primary) group");
    assert_eq!(format_acl_line(&default.default_acls("alice", &[]).unwrap()), "user:alice:a");
    assert_eq!(default.default_acls("", &[]), Err(AclError::NameRequired { identity_type: AclIdentityType::User }));
}

#[test]
fn grants_matches_users_groups_and_everyone_ignoring_scope() {
    let acls =
        OzoneAcl::parse_list("user:bob:r,group:dev:w,world::l,anonymous::d,user:eve:an,user:carol:x[DEFAULT]").unwrap();
    let none: Vec<String> = Vec::new();
    assert!(grants(&acls, "bob", &none, AclRight::Read));
    assert!(!grants(&acls, "bobby", &none, AclRight::Read), "names match exactly");
    assert!(grants(&acls, "zed", &groups(&["ops", "dev"]), AclRight::Write), "any of the caller's groups");
    assert!(!grants(&acls, "dev", &none, AclRight::Write), "a group entry is not a user entry");
    assert!(grants(&acls, "zed", &none, AclRight::List), "world matches everyone");
    assert!(grants(&acls, "zed", &none, AclRight::Delete), "anonymous matches everyone");
    assert!(!grants(&acls, "eve", &none, AclRight::Write), "NONE empties eve's entry");
    assert!(grants(&acls, "eve", &none, AclRight::List), "but other entries still grant");
    assert!(grants(&acls, "carol", &none, AclRight::ReadAcl), "DEFAULT entries grant on the object too");
    assert!(!grants(&[], "bob", &none, AclRight::Read));
}

#[test]
fn identity_types_and_scopes_have_ozones_spellings() {
    for t in AclIdentityType::iter() {
        assert_eq!(serde_json::to_value(t).unwrap(), serde_json::Value::from(t.name()));
        assert_eq!(t.as_str().to_uppercase(), t.name());
        assert_eq!(t.name().parse::<AclIdentityType>().unwrap(), t);
    }
    for s in AclScope::iter() {
        assert_eq!(serde_json::to_value(s).unwrap(), serde_json::Value::from(s.as_str()));
    }
    assert_eq!(AclScope::default(), AclScope::Access);
}
