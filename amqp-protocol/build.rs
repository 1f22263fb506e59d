//! Generates the protocol's types from the XML specification into `OUT_DIR`.

use std::path::PathBuf;

const SPEC: &str = "amqp0-9-1.extended.xml";

fn main() {
    let manifest = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let spec = manifest.join("spec").join(SPEC);
    println!("cargo:rerun-if-changed={}", spec.display());
    let xml = std::fs::read_to_string(&spec)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", spec.display()));
    let out =
        amqp_codegen::generate(&xml, SPEC).unwrap_or_else(|e| panic!("{}: {e}", spec.display()));
    let dest =
        PathBuf::from(std::env::var_os("OUT_DIR").expect("set by cargo")).join("protocol.rs");
    std::fs::write(&dest, out.code)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", dest.display()));
}
