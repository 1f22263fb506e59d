//! Replays the committed fuzz seed corpus (`fuzz/seeds/<target>/`) and any
//! saved crash reproducers (`fuzz/regressions/<target>/`) through the same
//! property checks the fuzz targets run, so that `cargo test` covers them
//! without cargo-fuzz or a nightly toolchain.

use std::fs;
use std::path::{Path, PathBuf};

use amqp_tests::fuzz_checks::{check_assembler, check_frames, check_table};

/// Fewest files a seed folder may hold before the test calls it missing.
const MIN_SEEDS: usize = 5;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `dir`, sorted; `None` when the folder does not exist.
fn files(dir: &Path) -> Option<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).ok()?;
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("reading a corpus folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    Some(files)
}

fn replay(target: &str, check: fn(&[u8])) {
    let seeds = fuzz_dir().join("seeds").join(target);
    let seed_files =
        files(&seeds).unwrap_or_else(|| panic!("seed folder {} is missing", seeds.display()));
    assert!(
        seed_files.len() >= MIN_SEEDS,
        "{} holds {} files, expected at least {MIN_SEEDS}",
        seeds.display(),
        seed_files.len()
    );
    let regressions = fuzz_dir().join("regressions").join(target);
    let regression_files = files(&regressions).unwrap_or_default();
    for path in seed_files.iter().chain(&regression_files) {
        let data = fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let outcome = std::panic::catch_unwind(|| check(&data));
        assert!(
            outcome.is_ok(),
            "{target}: {} violates a property (see the panic above)",
            path.display()
        );
    }
}

#[test]
fn frame_decoder_seeds() {
    replay("frame_decoder", check_frames);
}

#[test]
fn field_table_seeds() {
    replay("field_table", check_table);
}

#[test]
fn content_assembler_seeds() {
    replay("content_assembler", check_assembler);
}

#[test]
fn client_core_seeds() {
    replay("client_core", amqp_tests::fuzz_client::check_client_core);
}
