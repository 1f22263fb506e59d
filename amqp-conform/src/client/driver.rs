//! Spawning a driver: its exit, wall time and peak RSS.

use std::fmt;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How a driver ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code (0 completed, 1 reported an error, anything
    /// else a crash).
    Code(i32),
    /// Killed by this signal (a crash).
    Signal(i32),
    /// Still running at the time limit: killed.
    Hang,
    /// Could not be started.
    SpawnFailed(String),
}

impl fmt::Display for Exit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Exit::Code(0) => write!(f, "exit 0 (completed)"),
            Exit::Code(1) => write!(f, "exit 1 (reported an error)"),
            Exit::Code(c) => write!(f, "exit {c} (crash)"),
            Exit::Signal(s) => write!(f, "signal {s} (crash)"),
            Exit::Hang => write!(f, "hang (killed)"),
            Exit::SpawnFailed(e) => write!(f, "not started: {e}"),
        }
    }
}

/// The driver's run.
#[derive(Debug, Clone)]
pub struct DriverRun {
    /// How it ended.
    pub exit: Exit,
    /// From spawn to exit (or to the kill).
    pub wall: Duration,
    /// The largest VmHWM of the driver's processes, in KiB (`None` when
    /// `/proc` showed none).
    pub peak_rss_kib: Option<u64>,
    /// The end of its standard error (at most 4 KiB).
    pub stderr: String,
}

/// Spawns `sh -c CMD` in a process group of its own and waits for it,
/// polling the peak RSS of its processes, killing the group at `hang`.
pub(super) fn spawn_driver(cmd: &str, uri: &str, scenario: &str, hang: Duration) -> DriverRun {
    let started = Instant::now();
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .env("AMQP_URI", uri)
        .env("AMQP_CONFORM_SCENARIO", scenario)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            return DriverRun {
                exit: Exit::SpawnFailed(e.to_string()),
                wall: Duration::ZERO,
                peak_rss_kib: None,
                stderr: String::new(),
            }
        }
    };
    let pid = child.id();
    let stderr = child.stderr.take().map(|mut s| {
        std::thread::spawn(move || {
            let mut all = Vec::new();
            let _ = s.read_to_end(&mut all);
            all
        })
    });
    let mut peak: Option<u64> = None;
    let exit = loop {
        for p in group(pid) {
            if let Some(hwm) = vm_hwm(p) {
                peak = Some(peak.map_or(hwm, |x| x.max(hwm)));
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => {
                break match (status.code(), status.signal()) {
                    (Some(c), _) => Exit::Code(c),
                    (None, Some(s)) => Exit::Signal(s),
                    (None, None) => Exit::Signal(0),
                }
            }
            Ok(None) => {}
            Err(e) => break Exit::SpawnFailed(e.to_string()),
        }
        if started.elapsed() >= hang {
            kill_group(pid);
            let _ = child.wait();
            break Exit::Hang;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let wall = started.elapsed();
    // Whatever the driver left running: while the group has members, its
    // id cannot have been reused.
    if !group(pid).is_empty() {
        kill_group(pid);
    }
    let stderr = stderr
        .and_then(|h| h.join().ok())
        .map(|b| {
            let tail = &b[b.len().saturating_sub(4096)..];
            String::from_utf8_lossy(tail).into_owned()
        })
        .unwrap_or_default();
    DriverRun {
        exit,
        wall,
        peak_rss_kib: peak,
        stderr,
    }
}

/// The processes of the process group `pgid`, from `/proc`.
fn group(pgid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    // pid (comm) state ppid pgrp ...: comm may hold spaces.
                    let rest = &s[s.rfind(')')? + 1..];
                    rest.split_whitespace().nth(2)?.parse::<u32>().ok()
                })
                == Some(pgid)
        })
        .collect()
}

/// `VmHWM` of a process, in KiB.
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn kill_group(pgid: u32) {
    let _ = Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pgid}")])
        .stderr(Stdio::null())
        .status();
}
