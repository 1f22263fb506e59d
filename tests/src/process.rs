//! Process helpers shared by the test support that starts RabbitMQ nodes of
//! its own (the TLS node, the cluster).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Where RabbitMQ's own scripts are: the distribution packages' wrappers in
/// `sbin` switch to the `rabbitmq` user and its cookie; the scripts
/// themselves run as anyone, with the environment given.
pub(crate) fn rabbitmq_scripts() -> PathBuf {
    let packaged = Path::new("/usr/lib/rabbitmq/bin");
    if packaged.join("rabbitmq-server").exists() {
        return packaged.to_path_buf();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("rabbitmq-server").exists())
        .unwrap_or_else(|| panic!("rabbitmq-server is not installed (not in PATH)"))
}

/// Runs a command to its end, killing it after `timeout`.
pub(crate) fn run(cmd: &mut Command, timeout: Duration) -> Result<Output, String> {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{cmd:?}: {e}"))?;
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return child.wait_with_output().map_err(|e| e.to_string()),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("{cmd:?}: no answer within {timeout:?}"));
            }
            Err(e) => return Err(e.to_string()),
        }
    }
}

pub(crate) fn must<T>(result: std::io::Result<T>, what: &str) -> T {
    result.unwrap_or_else(|e| panic!("cannot {what}: {e}"))
}

/// 64 random bits (the standard library's hasher keys are random per
/// process), mixed with the time and process id.
pub(crate) fn random() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.write_u32(std::process::id());
    h.finish()
}
