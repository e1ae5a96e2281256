//! Tests of [`super`]: parsing, service and node resolution, retry policy.

use super::*;

const SAMPLE: &str = r#"<?xml version="1.0"?>
<configuration>
  <property><name>ozone.om.service.ids</name><value>cluster1</value></property>
  <property><name>ozone.om.nodes.cluster1</name><value>om1, om2,om3</value></property>
  <property><name>ozone.om.address.cluster1.om1</name><value>host1</value></property>
  <property><name>ozone.om.address.cluster1.om2</name><value>host2:19862</value></property>
  <property><name>ozone.om.address.cluster1.om3</name><value>[::1]:9000</value></property>
  <property><name>ozone.om.ratis.port.cluster1.om2</name><value>19872</value></property>
  <property><name>ozone.om.http-address.cluster1.om2</name><value>0.0.0.0:19874</value></property>
  <property><name>custom.key</name><value>a &amp; b</value><description>kept</description></property>
</configuration>"#;

#[test]
fn values_are_kept_as_written_and_names_trimmed_as_hadoop_does() {
    let xml = "<configuration><property><name>\n  a.key \t</name><value>  spaced \u{a0}</value></property>\
               <property><name>n</name><value> 42 </value></property></configuration>";
    let conf = OzoneConfig::parse_xml(xml).unwrap();
    assert_eq!(conf.get("a.key"), Some("  spaced \u{a0}"));
    // Typed getters trim like Java's String.trim(): the no-break space stays.
    assert_eq!(conf.get_trimmed("a.key"), Some("spaced \u{a0}"));
    assert_eq!(conf.get_u64("n", 0).unwrap(), 42);
    let back = OzoneConfig::parse_xml(&conf.to_xml()).unwrap();
    assert_eq!(back.iter().collect::<Vec<_>>(), conf.iter().collect::<Vec<_>>());
}

#[test]
fn parses_service_with_defaults() {
    let conf = OzoneConfig::parse_xml(SAMPLE).unwrap();
    let svc = conf.service(None).unwrap();
    assert_eq!(svc.service_id, "cluster1");
    assert_eq!(svc.node_ids(), vec!["om1", "om2", "om3"]);
    let om1 = svc.node("om1").unwrap();
    assert_eq!((om1.rpc_port, om1.ratis_port, om1.http_port), (9862, 9872, 9874));
    assert_eq!(om1.http_host, "host1");
    let om2 = svc.node("om2").unwrap();
    assert_eq!(om2.rpc_address(), "host2:19862");
    assert_eq!(om2.ratis_address(), "host2:19872");
    assert_eq!(om2.http_address(), "host2:19874");
    assert_eq!(svc.node("om3").unwrap().rpc_address(), "[::1]:9000");
    assert_eq!(conf.get("custom.key"), Some("a & b"));
}

#[test]
fn round_trips_unknown_keys() {
    let conf = OzoneConfig::parse_xml(SAMPLE).unwrap();
    let again = OzoneConfig::parse_xml(&conf.to_xml()).unwrap();
    assert_eq!(conf, again);
}

#[test]
fn durations_take_hadoop_units() {
    let mut c = OzoneConfig::new();
    for (v, ms) in [("7d", 604_800_000), ("24h", 86_400_000), ("300s", 300_000), ("250", 250), ("2 m", 120_000)] {
        c.set("d", v);
        assert_eq!(c.get_duration_ms("d", 0).unwrap(), ms, "{v}");
    }
    assert_eq!(c.get_duration_ms("absent", 42).unwrap(), 42);
    for bad in ["7w", "h", "-1s", "99999999999999999999d"] {
        c.set("d", bad);
        let e = c.get_duration_ms("d", 0).unwrap_err().to_string();
        assert!(e.contains("for d:"), "{bad}: {e}");
    }
}

#[test]
fn sizes_take_hadoop_units() {
    let mut c = OzoneConfig::new();
    for (v, bytes) in [("64MB", 64 << 20), ("1g", 1 << 30), ("512 kb", 512 << 10), ("4096", 4096), ("2T", 2 << 40)] {
        c.set("s", v);
        assert_eq!(c.get_size_bytes("s", 0).unwrap(), bytes, "{v}");
    }
    assert_eq!(c.get_size_bytes("absent", 7).unwrap(), 7);
    for bad in ["64XB", "MB", "-1", "99999999999999999999"] {
        c.set("s", bad);
        let e = c.get_size_bytes("s", 0).unwrap_err().to_string();
        assert!(e.contains("for s:"), "{bad}: {e}");
    }
}

#[test]
fn malformed_xml_is_an_error() {
    for bad in ["<configuration><property>", "<conf></conf>", "not xml at all"] {
        let err = OzoneConfig::parse_xml(bad).unwrap_err();
        assert!(matches!(err, ConfigError::Malformed { .. }), "{bad}: {err}");
    }
}

#[test]
fn missing_address_names_the_key() {
    let mut conf = OzoneConfig::new();
    conf.set(OZONE_OM_SERVICE_IDS, "s");
    conf.set("ozone.om.nodes.s", "a,b");
    conf.set("ozone.om.address.s.a", "h");
    let err = conf.service(None).unwrap_err().to_string();
    assert!(err.contains("ozone.om.address.s.b"), "{err}");
}

#[test]
fn unknown_service_id_lists_the_known_ones() {
    let conf = OzoneConfig::parse_xml(SAMPLE).unwrap();
    let err = conf.service(Some("nope")).unwrap_err().to_string();
    assert!(err.contains("nope") && err.contains("cluster1"), "{err}");
}

#[test]
fn bad_port_is_an_error() {
    let mut conf = OzoneConfig::parse_xml(SAMPLE).unwrap();
    conf.set("ozone.om.ratis.port.cluster1.om1", "99999");
    let err = conf.service(None).unwrap_err().to_string();
    assert!(err.contains("ozone.om.ratis.port.cluster1.om1"), "{err}");
}

#[test]
fn self_node_by_explicit_id_and_by_local_address() {
    let mut conf = OzoneConfig::new();
    conf.set(OZONE_OM_SERVICE_IDS, "s");
    conf.set("ozone.om.nodes.s", "a,b");
    conf.set("ozone.om.address.s.a", "127.0.0.1:1000");
    conf.set("ozone.om.address.s.b", "not-here.invalid:1000");
    let svc = conf.service(None).unwrap();
    assert_eq!(conf.resolve_self_node(&svc).unwrap(), "a");
    conf.set("ozone.om.address.s.b", "127.0.0.2:1000");
    let svc = conf.service(None).unwrap();
    let err = conf.resolve_self_node(&svc).unwrap_err().to_string();
    assert!(err.contains("several"), "{err}");
    conf.set(OZONE_OM_NODE_ID, "b");
    assert_eq!(conf.resolve_self_node(&svc).unwrap(), "b");
    conf.set(OZONE_OM_NODE_ID, "zz");
    assert!(conf.resolve_self_node(&svc).is_err());
}

#[test]
fn references_expand_on_get_and_follow_later_sets() {
    let xml = "<configuration>\
        <property><name>om.base</name><value>/data</value></property>\
        <property><name>ozone.om.db.dirs</name><value>${om.base}/om-${env.PATH-x}</value></property>\
        </configuration>";
    let mut conf = OzoneConfig::parse_xml(xml).unwrap();
    let path = std::env::var("PATH").unwrap();
    assert_eq!(conf.get(OZONE_OM_DB_DIRS), Some(format!("/data/om-{path}").as_str()));
    assert_eq!(conf.get_raw(OZONE_OM_DB_DIRS), Some("${om.base}/om-${env.PATH-x}"));
    conf.apply_overrides(&["om.base=/other"]).unwrap();
    assert_eq!(conf.db_dir().unwrap(), PathBuf::from(format!("/other/om-{path}")));
    assert!(conf.to_xml().contains("${om.base}"), "written back as written");
    conf.set("ozone.om.db.dirs.s1.om2", "${om.base}/om2");
    assert_eq!(conf.node_db_dir("s1", "om2").unwrap(), PathBuf::from("/other/om2"));
    assert_eq!(conf.node_db_dir("s1", "om1").unwrap(), conf.db_dir().unwrap());
}

#[test]
fn a_reference_loop_is_an_error_naming_the_key() {
    let xml = "<configuration><property><name>a</name><value>${b}</value></property>\
               <property><name>b</name><value>${a}x</value></property></configuration>";
    let err = OzoneConfig::parse_xml(xml).unwrap_err().to_string();
    assert!(err.contains("for a:") && err.contains("depth too large"), "{err}");
    let mut conf = OzoneConfig::new();
    conf.set("a", "${b}");
    let err = conf.apply_overrides(&["b=${a}x"]).unwrap_err().to_string();
    assert!(err.contains("depth too large"), "{err}");
}

#[test]
fn overrides_and_several_service_ids() {
    let mut conf = OzoneConfig::parse_xml(SAMPLE).unwrap();
    conf.apply_overrides(&["ozone.om.service.ids=cluster1,other"]).unwrap();
    assert!(conf.service(None).is_err());
    assert!(conf.service(Some("cluster1")).is_ok());
    assert!(conf.apply_overrides(&["novalue"]).is_err());
}

#[test]
fn own_service_among_several_is_the_one_with_a_local_address() {
    // `.invalid` names never resolve (RFC 6761), so they are never local, on any machine.
    let mut conf = OzoneConfig::new();
    conf.set(OZONE_OM_SERVICE_IDS, "far,near");
    conf.set("ozone.om.nodes.far", "f1,f2");
    conf.set("ozone.om.address.far.f1", "far-1.invalid:1000");
    conf.set("ozone.om.address.far.f2", "far-2.invalid:1000");
    conf.set("ozone.om.nodes.near", "n1,n2");
    conf.set("ozone.om.address.near.n1", "near-1.invalid:1000");
    conf.set("ozone.om.address.near.n2", "127.0.0.1:1000");
    let (svc, nid) = conf.own_service(None).unwrap();
    assert_eq!((svc.service_id.as_str(), nid.as_str()), ("near", "n2"));
    // A client still has to choose: several ids and none named.
    assert!(conf.service(None).is_err());
    // Local nodes in two services: refused, naming both.
    conf.set("ozone.om.address.far.f1", "127.0.0.1:2000");
    let err = conf.own_service(None).unwrap_err().to_string();
    assert!(err.contains("far.f1") && err.contains("near.n2") && err.contains(OZONE_OM_INTERNAL_SERVICE_ID), "{err}");
    // ozone.om.node.id narrows it down, as in Ozone.
    conf.set(OZONE_OM_NODE_ID, "f1");
    assert_eq!(conf.own_service(None).unwrap().0.service_id, "far");
    // The internal service id decides without looking at addresses.
    conf.set(OZONE_OM_INTERNAL_SERVICE_ID, "near");
    conf.set(OZONE_OM_NODE_ID, "n2");
    assert_eq!(conf.own_service(None).unwrap().0.service_id, "near");
    // No local node anywhere: the key to set is named.
    let mut none = OzoneConfig::new();
    none.set(OZONE_OM_SERVICE_IDS, "a,b");
    for sid in ["a", "b"] {
        none.set(&format!("ozone.om.nodes.{sid}"), "x");
        none.set(&format!("ozone.om.address.{sid}.x"), "nowhere.invalid:1000");
    }
    let err = none.own_service(None).unwrap_err().to_string();
    assert!(err.contains(OZONE_OM_INTERNAL_SERVICE_ID) && err.contains("a,b"), "{err}");
}
