//! Prints the code generated from an AMQP XML specification, or its statistics.
//!
//! ```text
//! amqp-codegen [--stats] SPEC.xml
//! ```

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut stats_only = false;
    let mut path = None;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--stats" => stats_only = true,
            "-h" | "--help" => {
                println!("usage: amqp-codegen [--stats] SPEC.xml\n\nPrints the generated Rust (or only the statistics line) to stdout; the statistics line also goes to stderr.");
                return ExitCode::SUCCESS;
            }
            _ if path.is_none() => path = Some(arg),
            _ => {
                eprintln!("amqp-codegen: unexpected argument {arg:?}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(path) = path else {
        eprintln!("usage: amqp-codegen [--stats] SPEC.xml");
        return ExitCode::from(2);
    };
    let xml = match std::fs::read_to_string(&path) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("amqp-codegen: cannot read {path}: {e}");
            return ExitCode::FAILURE;
        }
    };
    let name = std::path::Path::new(&path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.clone());
    match amqp_codegen::generate(&xml, &name) {
        Ok(out) => {
            if stats_only {
                println!("{}", out.stats);
            } else {
                print!("{}", out.code);
                eprintln!("{}", out.stats);
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("amqp-codegen: {path}: {e}");
            ExitCode::FAILURE
        }
    }
}
