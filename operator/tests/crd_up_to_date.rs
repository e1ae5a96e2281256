//! The committed CRD must be exactly what `crdgen` renders from the code.

#[test]
fn committed_crd_matches_crdgen_output() {
    let path = omring_operator::crdgen::default_path();
    let want = omring_operator::crdgen::render().expect("render the CRD");
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "{} is stale or missing; run cargo run -p omring-operator --bin crdgen and commit the result",
        path.display()
    );
}
