//! `admin om roles`: every node's live role, in Ozone's three output formats.
//!
//! Ozone reports roles from the configuration as the leader sees it; this asks every node and
//! reports what each one says, marking a node that does not answer as UNREACHABLE. The JSON
//! keeps Ozone's shape (`[{"om1": {"serverRole": ..., "hostname": ...}}]`) and adds fields.

use std::collections::BTreeMap;

use om_client::wire::{NodeStatus, Role};
use om_client::FailoverClient;
use serde::Serialize;

/// One line of the roles listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRow {
    pub node_id: String,
    pub hostname: String,
    pub role: Role,
    pub term: Option<u64>,
    pub applied_index: Option<u64>,
    /// Log entries this node trails the leader's commit index by.
    pub lag: Option<u64>,
}

/// Asks every configured node and every member the nodes report for its status.
pub async fn collect(client: &FailoverClient) -> Vec<RoleRow> {
    let answers = client.ring_status().await;
    let statuses: Vec<(String, String, Option<NodeStatus>)> =
        answers.into_iter().map(|(addr, r)| (addr.node_id.clone(), addr.host.clone(), r.ok())).collect();
    rows_from(&statuses)
}

/// Builds the rows from each node's answer (`None`: did not answer).
pub fn rows_from(statuses: &[(String, String, Option<NodeStatus>)]) -> Vec<RoleRow> {
    let leader_commit = statuses
        .iter()
        .filter_map(|(_, _, s)| s.as_ref())
        .filter(|s| s.role == Role::Leader)
        .max_by_key(|s| s.term)
        .map(|s| s.commit_index);
    statuses
        .iter()
        .map(|(id, host, s)| match s {
            Some(s) => RoleRow {
                node_id: id.clone(),
                hostname: if s.hostname.is_empty() { host.clone() } else { s.hostname.clone() },
                role: s.role,
                term: Some(s.term),
                applied_index: Some(s.applied_index),
                lag: leader_commit.map(|c| c.saturating_sub(s.applied_index)),
            },
            None => RoleRow {
                node_id: id.clone(),
                hostname: host.clone(),
                role: Role::Unreachable,
                term: None,
                applied_index: None,
                lag: None,
            },
        })
        .collect()
}

/// `om1 : LEADER (host1)`, one line per node.
pub fn format_plain(rows: &[RoleRow]) -> String {
    rows.iter().map(|r| format!("{} : {} ({})\n", r.node_id, r.role, r.hostname)).collect()
}

/// One node in Ozone's JSON: its role and host first, in Ozone's order, then omring's fields
/// (Ozone's parsers ignore unknown fields).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RoleJson<'a> {
    server_role: &'a str,
    hostname: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    term: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    applied_index: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lag: Option<u64>,
}

/// Ozone's `--json`: a list of one-key objects (`[ { "om1" : { "serverRole" : ...` ) in
/// Jackson's layout, without a trailing newline, as Ozone prints it.
pub fn format_json(rows: &[RoleRow]) -> String {
    let list: Vec<BTreeMap<&str, RoleJson<'_>>> = rows
        .iter()
        .map(|r| {
            let role = RoleJson {
                server_role: r.role.as_str(),
                hostname: &r.hostname,
                term: r.term,
                applied_index: r.applied_index,
                lag: r.lag,
            };
            BTreeMap::from([(r.node_id.as_str(), role)])
        })
        .collect();
    om_client::jackson::to_string(&list)
}

/// Ozone's `--table` (its `FormattingCLIUtils`): a bordered box titled `Ozone Manager Roles`,
/// every cell centred in its column's width plus one space each side (an odd remainder goes
/// right), and a blank line after it, as Ozone's `println` of the rendered box leaves.
pub fn format_table(rows: &[RoleRow]) -> String {
    let header = ["Host Name", "Node ID", "Role"].map(String::from);
    let cells: Vec<[String; 3]> =
        rows.iter().map(|r| [r.hostname.clone(), r.node_id.clone(), r.role.to_string()]).collect();
    let widths: Vec<usize> =
        (0..3).map(|i| cells.iter().chain([&header]).map(|c| c[i].chars().count()).max().unwrap_or(0)).collect();
    let inner = widths.iter().sum::<usize>() + 3 * (widths.len() - 1);
    let title: String = "Ozone Manager Roles".chars().take(inner).collect();
    let border: String = widths.iter().fold("+".to_string(), |acc, w| format!("{acc}{}+", "-".repeat(w + 2))) + "\n";
    let line = |c: &[String; 3]| {
        c.iter().zip(&widths).fold("|".to_string(), |acc, (v, w)| format!("{acc}{}|", center(v, w + 2))) + "\n"
    };
    let mut out = format!("+{}+\n|{}|\n", "-".repeat(inner + 2), center(&title, inner + 2));
    out.push_str(&border);
    out.push_str(&line(&header));
    out.push_str(&border);
    for c in &cells {
        out.push_str(&line(c));
    }
    if !cells.is_empty() {
        out.push_str(&border);
    }
    out.push('\n');
    out
}

/// `s` padded with spaces to `size`: half the padding left (rounded down), the rest right.
fn center(s: &str, size: usize) -> String {
    let pad = size.saturating_sub(s.chars().count());
    format!("{}{s}{}", " ".repeat(pad / 2), " ".repeat(pad - pad / 2))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(id: &str, role: Role, commit: u64, applied: u64) -> NodeStatus {
        NodeStatus {
            service_id: "s".into(),
            node_id: id.into(),
            hostname: format!("host-{id}"),
            role,
            term: 3,
            leader_id: Some("om1".into()),
            last_log_index: commit,
            commit_index: commit,
            applied_index: applied,
            flushed_index: applied,
            ready: true,
            members: vec![],
            prepare: Default::default(),
        }
    }

    fn sample() -> Vec<RoleRow> {
        rows_from(&[
            ("om1".into(), "h1".into(), Some(status("om1", Role::Leader, 10, 10))),
            ("om2".into(), "h2".into(), Some(status("om2", Role::Follower, 9, 7))),
            ("om3".into(), "h3".into(), None),
        ])
    }

    #[test]
    fn plain_format_matches_ozone() {
        assert_eq!(
            format_plain(&sample()),
            "om1 : LEADER (host-om1)\nom2 : FOLLOWER (host-om2)\nom3 : UNREACHABLE (h3)\n"
        );
    }

    #[test]
    fn json_format_keeps_ozone_shape_and_adds_fields() {
        let v: serde_json::Value = serde_json::from_str(&format_json(&sample())).unwrap();
        let list = v.as_array().unwrap();
        assert_eq!(list.len(), 3);
        assert_eq!(list[0]["om1"]["serverRole"], "LEADER");
        assert_eq!(list[0]["om1"]["hostname"], "host-om1");
        assert_eq!(list[1]["om2"]["lag"], 3);
        assert_eq!(list[2]["om3"]["serverRole"], "UNREACHABLE");
        // each element has exactly one key: the node id
        assert!(list.iter().all(|o| o.as_object().unwrap().len() == 1));
    }

    #[test]
    fn json_is_jacksons_layout_without_a_trailing_newline() {
        let rows = rows_from(&[("om1".into(), "h1".into(), None)]);
        assert_eq!(
            format_json(&rows),
            "[ {\n  \"om1\" : {\n    \"serverRole\" : \"UNREACHABLE\",\n    \"hostname\" : \"h1\"\n  }\n} ]"
        );
    }

    // Golden, worked out from Ozone's FormattingCLIUtils: column widths 9 ("Host Name" and
    // "host-om1"), 7 and 11 ("UNREACHABLE"); the title spans 9+7+11 + 3*2 = 33 characters.
    #[test]
    fn table_is_ozones_bordered_box() {
        let want = "\
+-----------------------------------+
|        Ozone Manager Roles        |
+-----------+---------+-------------+
| Host Name | Node ID |    Role     |
+-----------+---------+-------------+
| host-om1  |   om1   |   LEADER    |
| host-om2  |   om2   |  FOLLOWER   |
|    h3     |   om3   | UNREACHABLE |
+-----------+---------+-------------+

";
        assert_eq!(format_table(&sample()), want);
    }
}
