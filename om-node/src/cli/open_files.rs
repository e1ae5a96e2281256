//! `admin om list-open-files` (`lof`): keys opened and not yet committed, printed as Ozone
//! 2.2.0's `ListOpenFilesSubCommand` prints them.

use om_client::wire::{OpenKeyPage, ReadOp, ReadResponse};
use om_client::FailoverClient;

use super::{print, CliError};

#[derive(clap::Args, Debug, Clone)]
pub struct ListOpenFiles {
    /// `/`, or `/volume/bucket` and deeper (a prefix of the keys' names).
    #[arg(short = 'p', long = "prefix", default_value = "/")]
    pub prefix: String,
    /// At most this many keys.
    #[arg(short = 'l', long = "length", default_value_t = 100)]
    pub length: u32,
    /// The continuation token a previous page printed (excluded).
    #[arg(short = 's', long = "start", default_value = "")]
    pub start: String,
    /// Accepted for Ozone's scripts: omring has no hsync'ed keys to be deleted or overwritten.
    #[arg(long = "show-deleted")]
    pub show_deleted: bool,
    /// See --show-deleted.
    #[arg(long = "show-overwritten")]
    pub show_overwritten: bool,
}

pub async fn run(client: &FailoverClient, args: &ListOpenFiles, json: bool) -> Result<(), CliError> {
    let op =
        ReadOp::ListOpenKeys { path: args.prefix.clone(), start_after: args.start.clone(), max: Some(args.length) };
    let page = match client.read(op).await? {
        ReadResponse::OpenKeys(page) => page,
        other => return Err(CliError::Refused(format!("list-open-files answered unexpectedly: {other:?}"))),
    };
    print(json, &page, || format_text(&page, args, client.service_id()));
    Ok(())
}

/// Ozone's text: a header, one tab-separated line per key, then how to get the next page.
pub fn format_text(page: &OpenKeyPage, args: &ListOpenFiles, service_id: &str) -> String {
    let mut out = format!(
        "{} total open files. Showing {} open files (limit {}) under path prefix:\n  {}",
        page.total,
        page.keys.len(),
        args.length,
        args.prefix
    );
    if !args.start.is_empty() {
        out += &format!("\nafter continuation token:\n  {}", args.start);
    }
    out += "\n\nClient ID\t\t\tCreation time\t\tHsync'ed\t";
    out += if args.show_deleted { "Deleted\t" } else { "" };
    out += if args.show_overwritten { "Overwritten\t" } else { "" };
    out += "Open File Path\n";
    for e in &page.keys {
        let k = &e.key;
        out += &format!("{}\t{}\t", e.client_id, super::ozone_json::iso(k.creation_time));
        out += if args.show_deleted { "No\t\tNo\t\t" } else { "No\t\t" };
        out += if args.show_overwritten { "No\t" } else { "" };
        out += &format!("/{}/{}/{}\n", k.volume, k.bucket, k.name);
    }
    out += "\n";
    match &page.continuation_token {
        Some(token) => {
            out += &format!(
                "To get the next batch of open keys, run:\n  ozone admin om lof --om-service-id {service_id} --length={} \
                 --prefix={} --start={token}",
                args.length, args.prefix
            );
        }
        None => out += "Reached the end of the list.",
    }
    out
}

#[cfg(test)]
mod tests {
    use om_client::wire::{KeyInfo, OpenKeyEntry};

    use super::*;

    fn key(name: &str, ms: u64) -> OpenKeyEntry {
        OpenKeyEntry {
            client_id: 42,
            key: KeyInfo {
                volume: "vol1".into(),
                bucket: "b1".into(),
                name: name.into(),
                size: 0,
                replication: "RATIS/THREE".into(),
                metadata: Default::default(),
                creation_time: ms,
                modification_time: ms,
                object_id: 1,
                update_id: 1,
                acls: Vec::new(),
            },
        }
    }

    /// Written from `ListOpenFilesSubCommand` in ozone-cli-admin 2.2.0 (its string constants).
    #[test]
    fn text_is_ozones() {
        let args = ListOpenFiles {
            prefix: "/vol1/b1".into(),
            length: 2,
            start: String::new(),
            show_deleted: false,
            show_overwritten: false,
        };
        let page = OpenKeyPage {
            total: 3,
            keys: vec![key("a", 1_765_000_000_000), key("dir/b", 1_765_000_000_123)],
            continuation_token: Some("/vol1/b1/dir/b/42".into()),
        };
        assert_eq!(
            format_text(&page, &args, "svc"),
            "3 total open files. Showing 2 open files (limit 2) under path prefix:\n  /vol1/b1\n\n\
             Client ID\t\t\tCreation time\t\tHsync'ed\tOpen File Path\n\
             42\t2025-12-06T05:46:40Z\tNo\t\t/vol1/b1/a\n\
             42\t2025-12-06T05:46:40.123Z\tNo\t\t/vol1/b1/dir/b\n\n\
             To get the next batch of open keys, run:\n  ozone admin om lof --om-service-id svc --length=2 \
             --prefix=/vol1/b1 --start=/vol1/b1/dir/b/42"
        );
        let last = OpenKeyPage { total: 3, keys: vec![], continuation_token: None };
        let args = ListOpenFiles { start: "/vol1/b1/dir/b/42".into(), show_deleted: true, ..args };
        assert_eq!(
            format_text(&last, &args, "svc"),
            "3 total open files. Showing 0 open files (limit 2) under path prefix:\n  /vol1/b1\n\
             after continuation token:\n  /vol1/b1/dir/b/42\n\n\
             Client ID\t\t\tCreation time\t\tHsync'ed\tDeleted\tOpen File Path\n\nReached the end of the list."
        );
    }
}
