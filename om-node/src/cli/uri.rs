//! Which ring an `sh` command's `o3://` address names, decided as Ozone's shell decides it
//! (`OzoneAddress.createClient`):
//! - `o3://SID/vol/...`, SID listed in `ozone.om.service.ids`: that service; a port given with a
//!   service id is refused, as Ozone refuses it;
//! - `o3://host[:port]/vol/...`, any other host: the OM at that address (the port defaults to
//!   the one of `ozone.om.address`, else 9862); it follows leader hints from there;
//! - `o3:///vol/...` or `/vol/...`: the configured service (`--service-id`, else the only one).
//!
//! Another scheme is refused by name. An address naming one service while `--service-id`
//! names another is refused too (Ozone's shell has no such flag; silently picking one would
//! send a write to the wrong ring).

use om_client::config::{split_host_port, DEFAULT_OM_PORT, OZONE_OM_ADDRESS};
use om_client::{NodeAddress, OzoneConfig, ServiceConfig};

use super::CliError;

/// The authority of an `o3://` address: `None` when it has none.
fn authority(path: &str) -> Result<Option<&str>, CliError> {
    let Some((scheme, rest)) = path.split_once("://") else { return Ok(None) };
    if scheme != "o3" {
        return Err(CliError::Usage(format!("unsupported URI scheme {scheme:?} in {path:?}: use o3://")));
    }
    let authority = rest.split('/').next().unwrap_or("");
    Ok((!authority.is_empty()).then_some(authority))
}

/// The service a command on `path` goes to.
pub fn service_for(conf: &OzoneConfig, explicit: Option<&str>, path: Option<&str>) -> Result<ServiceConfig, CliError> {
    let Some(authority) = path.map(authority).transpose()?.flatten() else {
        return Ok(conf.service(explicit)?);
    };
    let (host, port) = split_host_port("o3:// address", authority, 0)?;
    let port = (port != 0).then_some(port);
    if conf.service_ids().contains(&host) {
        if let Some(port) = port {
            return Err(CliError::Usage(format!(
                "Port {port} specified in URI but host '{host}' is a logical (HA) OzoneManager and does not use port information."
            )));
        }
        if let Some(other) = explicit.filter(|e| *e != host) {
            return Err(CliError::Usage(format!("the address names service {host} but --service-id names {other}")));
        }
        return Ok(conf.service(Some(&host))?);
    }
    if let Some(sid) = explicit {
        return Err(CliError::Usage(format!(
            "the address names host {host}, not a service, but --service-id names {sid}"
        )));
    }
    let port = match port {
        Some(p) => p,
        None => match conf.get_trimmed(OZONE_OM_ADDRESS) {
            Some(v) => split_host_port(OZONE_OM_ADDRESS, v, DEFAULT_OM_PORT)?.1,
            None => DEFAULT_OM_PORT,
        },
    };
    let address = if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") };
    let node = NodeAddress::from_hint(&host, &address)
        .ok_or_else(|| CliError::Usage(format!("invalid host {host:?} in the o3:// address")))?;
    Ok(ServiceConfig { service_id: host, nodes: vec![node], decommissioned: Vec::new() })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> OzoneConfig {
        let mut c = OzoneConfig::new();
        for (k, v) in [
            ("ozone.om.service.ids", "svc1,svc2"),
            ("ozone.om.nodes.svc1", "a"),
            ("ozone.om.address.svc1.a", "h1:1001"),
            ("ozone.om.nodes.svc2", "b"),
            ("ozone.om.address.svc2.b", "h2:1002"),
        ] {
            c.set(k, v);
        }
        c
    }

    fn node(s: &ServiceConfig) -> (String, String, u16) {
        (s.service_id.clone(), s.nodes[0].host.clone(), s.nodes[0].rpc_port)
    }

    #[test]
    fn the_address_picks_the_service_or_the_host() {
        let c = conf();
        assert_eq!(node(&service_for(&c, None, Some("o3://svc2/vol1/b")).unwrap()), ("svc2".into(), "h2".into(), 1002));
        assert_eq!(node(&service_for(&c, Some("svc1"), Some("/vol1")).unwrap()).0, "svc1");
        assert_eq!(node(&service_for(&c, Some("svc2"), Some("o3:///vol1")).unwrap()).0, "svc2");
        assert_eq!(node(&service_for(&c, None, Some("o3://om9:7000/v")).unwrap()), ("om9".into(), "om9".into(), 7000));
        assert_eq!(node(&service_for(&c, None, Some("o3://om9/v")).unwrap()).2, 9862);
        assert_eq!(node(&service_for(&c, None, Some("o3://[::1]:7000/v")).unwrap()).1, "::1");
    }

    #[test]
    fn conflicting_or_foreign_addresses_are_refused_by_name() {
        let c = conf();
        let e = service_for(&c, None, Some("o3://svc1:9862/v")).unwrap_err().to_string();
        assert!(e.contains("Port 9862 specified in URI but host 'svc1' is a logical (HA) OzoneManager"), "{e}");
        let e = service_for(&c, Some("svc1"), Some("o3://svc2/v")).unwrap_err().to_string();
        assert!(e.contains("svc2") && e.contains("svc1"), "{e}");
        let e = service_for(&c, None, Some("ofs://svc1/v")).unwrap_err().to_string();
        assert!(e.contains("\"ofs\""), "{e}");
        // Two services, none chosen: Ozone asks for one.
        assert!(service_for(&c, None, Some("/vol1")).is_err());
    }
}
