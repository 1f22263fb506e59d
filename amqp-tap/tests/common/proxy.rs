//! Running `amqp-tap proxy` and scripted upstreams, for the proxy's tests.

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// A directory of its own for a test's files.
pub fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("amqp-tap-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A running `amqp-tap proxy`, killed on drop.
pub struct Proxy {
    pub child: Child,
    pub addr: SocketAddr,
}

impl Proxy {
    pub fn start(upstream: SocketAddr, out: &Path, extra: &[&str]) -> Proxy {
        let mut child = Command::new(env!("CARGO_BIN_EXE_amqp-tap"))
            .args([
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                &upstream.to_string(),
            ])
            .args(extra)
            .stdout(std::fs::File::create(out).unwrap())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start amqp-tap proxy");
        let mut line = String::new();
        BufReader::new(child.stderr.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // "amqp-tap: listening on 127.0.0.1:PORT, forwarding to ..."
        let addr = line
            .split_whitespace()
            .nth(3)
            .and_then(|a| a.trim_end_matches(',').parse().ok())
            .unwrap_or_else(|| panic!("unexpected proxy banner {line:?}"));
        Proxy { child, addr }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A scripted upstream: accepts one connection, hands it to `f`.
pub fn upstream(
    f: impl FnOnce(TcpStream) + Send + 'static,
) -> (SocketAddr, thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    let h = thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        f(s);
    });
    (addr, h)
}

/// Waits (up to 10 s) until `file` contains `needle`; its text then.
pub fn wait_for(file: &Path, needle: &str) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        if text.contains(needle) {
            return text;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no {needle:?} in:\n{text}"
        );
        thread::sleep(Duration::from_millis(20));
    }
}
