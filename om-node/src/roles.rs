//! `admin om roles`: every node's live role, in Ozone's three output formats.
//!
//! Ozone reports roles from the configuration as the leader sees it; this asks every node and
//! reports what each one says, marking a node that does not answer as UNREACHABLE. The JSON
//! keeps Ozone's shape (`[{"om1": {"serverRole": ..., "hostname": ...}}]`) and adds fields.

use om_client::wire::{NodeStatus, Role};
use om_client::FailoverClient;
use serde_json::json;

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

/// Ozone's JSON list of one-key objects, with term, applied index and lag added.
pub fn format_json(rows: &[RoleRow]) -> String {
    let list: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let mut inner = json!({ "serverRole": r.role.as_str(), "hostname": r.hostname });
            if let Some(t) = r.term {
                inner["term"] = json!(t);
            }
            if let Some(a) = r.applied_index {
                inner["appliedIndex"] = json!(a);
            }
            if let Some(l) = r.lag {
                inner["lag"] = json!(l);
            }
            json!({ r.node_id.clone(): inner })
        })
        .collect();
    let mut s = serde_json::to_string_pretty(&list).unwrap_or_else(|_| "[]".into());
    s.push('\n');
    s
}

/// The bordered table titled `Ozone Manager Roles`.
pub fn format_table(rows: &[RoleRow]) -> String {
    let headers = ["Host Name", "Node ID", "Role"];
    let cells: Vec<[String; 3]> =
        rows.iter().map(|r| [r.hostname.clone(), r.node_id.clone(), r.role.to_string()]).collect();
    let width = |i: usize| cells.iter().map(|c| c[i].len()).chain([headers[i].len()]).max().unwrap_or(0);
    let (w0, w1) = (width(0), width(1));
    let title = "Ozone Manager Roles";
    let line = |a: &str, b: &str, c: &str| format!("{a:<w0$} | {b:<w1$} | {c}\n");
    let header = line(headers[0], headers[1], headers[2]);
    let rule = "-".repeat(title.len().max(header.trim_end().len()));
    let mut out = format!("{title}\n{rule}\n{header}{rule}\n");
    for c in &cells {
        out.push_str(&line(&c[0], &c[1], &c[2]));
    }
    out.push_str(&rule);
    out.push('\n');
    out
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
    fn table_format_has_title_columns_and_rules() {
        let t = format_table(&sample());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "Ozone Manager Roles");
        assert!(lines[1].chars().all(|c| c == '-'));
        assert!(lines[2].starts_with("Host Name") && lines[2].contains("| Node ID") && lines[2].ends_with("| Role"));
        assert!(lines[4].starts_with("host-om1") && lines[4].ends_with("| LEADER"));
        assert!(lines.last().unwrap().chars().all(|c| c == '-'));
        assert_eq!(lines.len(), 8);
    }
}
