//! Writes the OzoneManagerRing CRD to `crds/omring.io_ozonemanagerrings.yaml` (or stdout with `-`).

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let yaml = match omring_operator::crdgen::render() {
        Ok(y) => y,
        Err(e) => {
            eprintln!("crdgen: {e}");
            std::process::exit(1);
        }
    };
    if args.first().map(String::as_str) == Some("-") {
        print!("{yaml}");
        return;
    }
    let path = omring_operator::crdgen::default_path();
    if let Err(e) = std::fs::write(&path, yaml) {
        eprintln!("crdgen: cannot write {}: {e}", path.display());
        std::process::exit(1);
    }
    println!("wrote {}", path.display());
}
