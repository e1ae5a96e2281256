//! om-node's modules import each other in one direction only (see the crate docs in lib.rs):
//! this test reads `src/` and fails on any import circle, naming it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// `crate::<module>` references of every module, outside comments and `#[cfg(test)]` code.
fn imports(src: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mut graph = BTreeMap::new();
    let mut files = Vec::new();
    for entry in std::fs::read_dir(src).expect("src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            for inner in std::fs::read_dir(&path).expect("dir") {
                files.push(inner.expect("entry").path());
            }
        } else {
            files.push(path);
        }
    }
    for file in files.into_iter().filter(|f| f.extension().is_some_and(|e| e == "rs")) {
        let rel = file.strip_prefix(src).expect("under src");
        let module = rel.iter().next().expect("first part").to_string_lossy().trim_end_matches(".rs").to_string();
        if module == "lib" || module == "main" {
            continue;
        }
        graph.insert(module.clone(), BTreeSet::new());
        let text = std::fs::read_to_string(&file).expect("read");
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = graph.entry(module.clone()).or_default();
        for line in code.lines().filter(|l| !l.trim_start().starts_with("//")) {
            for part in line.split("crate::").skip(1) {
                let name: String = part.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if !name.is_empty() && name != module {
                    deps.insert(name);
                }
            }
        }
    }
    graph
}

/// The first circle found, as the path that closes it.
fn circle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        graph: &BTreeMap<String, BTreeSet<String>>,
        node: &str,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == node) {
            let mut found = path[at..].to_vec();
            found.push(node.to_string());
            return Some(found);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(found) = visit(graph, next, path, done) {
                return Some(found);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|start| visit(graph, start, &mut Vec::new(), &mut done))
}

#[test]
fn om_node_modules_import_each_other_without_circles() {
    let graph = imports(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    assert!(graph.contains_key("state") && graph.contains_key("run"), "modules not found: {graph:?}");
    if let Some(found) = circle(&graph) {
        panic!("import circle: {}", found.join(" → "));
    }
}

#[test]
fn a_circle_is_found_and_named() {
    let graph: BTreeMap<String, BTreeSet<String>> =
        [("state", vec!["store"]), ("store", vec!["types"]), ("propose", vec!["state"]), ("types", vec!["propose"])]
            .into_iter()
            .map(|(m, d)| (m.to_string(), d.into_iter().map(str::to_string).collect()))
            .collect();
    let found = circle(&graph).expect("a circle");
    assert_eq!(found.first(), found.last());
    assert!(found.len() == 5, "{found:?}");
}
