//! Ozone's command-line spellings that clap does not take as they are.

/// Ozone's deprecated multi-character single-dash options and their double-dash forms (Ozone's
/// `DeprecatedCliOption`), which Ozone still accepts. clap would read `-hostname=h3` as `-h`
/// (help, exit 0); rewritten, it is `--node-host-address=h3`.
const SINGLE_DASH_OPTIONS: &[(&str, &str)] = &[
    ("-conf", "--conf"),
    ("-id", "--service-id"),
    ("-host", "--service-host"),
    ("-nodeid", "--nodeid"),
    ("-hostname", "--node-host-address"),
    ("-tawt", "--transaction-apply-wait-timeout"),
    ("-tact", "--transaction-apply-check-interval"),
    ("-pct", "--prepare-check-interval"),
    ("-pt", "--prepare-timeout"),
];

/// Rewrites Ozone's single-dash long options (`-id`, `-hostname=h3`) into their clap form, and
/// moves every `-D`/`--set` override to the front: clap keeps only the last level's values of a
/// global option, so `-D a=1 sh ... -D b=2` would lose `a=1`.
pub fn normalize_args(args: impl IntoIterator<Item = String>) -> Vec<String> {
    let args = rewrite_single_dash(args);
    let mut it = args.into_iter();
    let mut front: Vec<String> = it.next().into_iter().collect();
    let mut rest = Vec::new();
    while let Some(a) = it.next() {
        if a == "-D" || a == "--set" {
            front.push(a);
            front.extend(it.next());
        } else if (a.starts_with("-D") && a.len() > 2) || a.starts_with("--set=") {
            front.push(a);
        } else {
            rest.push(a);
        }
    }
    front.extend(rest);
    front
}

fn rewrite_single_dash(args: impl IntoIterator<Item = String>) -> Vec<String> {
    args.into_iter()
        .map(|a| {
            let (opt, value) = match a.split_once('=') {
                Some((o, v)) => (o, Some(v)),
                None => (a.as_str(), None),
            };
            match SINGLE_DASH_OPTIONS.iter().find(|(old, _)| *old == opt) {
                Some((_, new)) => value.map_or_else(|| new.to_string(), |v| format!("{new}={v}")),
                None => a,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{AdminCommand, AdminOmCommand, Cli, Command};

    fn parse(line: &str) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(normalize_args(line.split_whitespace().map(str::to_string)))
    }

    #[test]
    fn ozone_single_dash_options_become_double_dash() {
        let got = normalize_args(
            ["om", "-id", "s1", "-nodeid=om3", "-hostname=h3", "-conf", "f", "-x", "--id"].map(String::from),
        );
        assert_eq!(
            got,
            ["om", "--service-id", "s1", "--nodeid=om3", "--node-host-address=h3", "--conf", "f", "-x", "--id"]
        );
        let got =
            normalize_args(["om", "sh", "-D", "a=1", "list", "--set=b=2", "-Dc=3", "--set", "d=4"].map(String::from));
        assert_eq!(got, ["om", "-D", "a=1", "--set=b=2", "-Dc=3", "--set", "d=4", "sh", "list"]);
    }

    #[test]
    fn decommission_is_parsed_as_ozone_users_type_it() {
        for line in [
            "om admin om decommission -id s1 -nodeid om3 -hostname=h3",
            "om admin om decommission --service-id s1 --nodeid om3 --node-host-address h3",
            "om admin om decommission -id=s1 -nodeid=om3 -hostname h3",
        ] {
            let cli = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            match cli.command {
                Command::Admin {
                    what: AdminCommand::Om { what: AdminOmCommand::Decommission { node_id, host, .. } },
                } => {
                    assert_eq!((node_id.as_str(), host.as_str()), ("om3", "h3"), "{line}")
                }
                other => panic!("{line}: {other:?}"),
            }
        }
        // Ozone's other spellings.
        for line in ["om admin om getserviceroles --om-service-id s1", "om admin om roles -id s1 --json --table"] {
            let cli = parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(cli.service_id.as_deref(), Some("s1"), "{line}");
            assert!(
                matches!(cli.command, Command::Admin { what: AdminCommand::Om { what: AdminOmCommand::Roles { .. } } }),
                "{line}"
            );
        }
        assert!(matches!(parse("om om --init").map(|c| c.command), Ok(Command::Om(a)) if a.init));
        // Ozone's global --set and --verbose, before or after the command.
        let cli = parse("om --set a=1 sh volume create /v1 -D b=2 --verbose").unwrap();
        assert_eq!((cli.define, cli.verbose), (vec!["a=1".to_string(), "b=2".to_string()], true));
        // Without the host it is an error, not help and success.
        let e = parse("om admin om decommission -id s1 -nodeid om3").unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::MissingRequiredArgument, "{e}");
        assert!(e.to_string().contains("--node-host-address"), "{e}");
    }
}
