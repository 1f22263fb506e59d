//! Client mode: a scripted, misbehaving broker that grades any client.
//!
//! A *driver* is a program that runs one fixed workload with the client
//! under test against the broker at `AMQP_URI`:
//!
//! 1. connect with a handshake timeout of 10 s and a heartbeat of 2 s (and
//!    no automatic recovery);
//! 2. open a channel, declare a queue, enable publisher confirms;
//! 3. publish 20 messages to the queue through the default exchange,
//!    awaiting each confirmation;
//! 4. consume 10 messages with manual acks;
//! 5. close the channel and the connection.
//!
//! It exits 0 when the workload completed and 1 when the client reported
//! an error; any other exit code, or a signal, is a crash.
//!
//! Each [`Scenario`] serves that workload from a scripted broker on its own
//! port of 127.0.0.1 ([`Broker`]), correctly (the `clean` baseline) or
//! breaking one rule of the specification at one point, and [`run`] spawns
//! the driver once per scenario (through `sh -c`), with `AMQP_URI` and
//! `AMQP_CONFORM_SCENARIO` in its environment. It records the driver's
//! exit, wall time and peak RSS, kills it after 30 s (a hang), and grades
//! the scenario from the driver's result and what the client sent on the
//! wire: [`Verdict::Pass`], [`Verdict::Fail`], or
//! [`Verdict::ClosedWrongCode`] for a client that closed the connection,
//! but not with the reply code the specification names.
//!
//! ```no_run
//! use amqp_conform::client;
//!
//! let reports = client::run(&client::scenarios(), "./my-driver", &client::Limits::default());
//! for r in &reports {
//!     println!("{} {}", r.scenario.id, r.verdict);
//! }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel, confirm, connection, queue, BasicProperties, ContentHeader, FieldTable, Frame,
    FrameDecoder, FramePayload, LongStr, Method, ShortStr,
};
use bytes::{BufMut, Bytes, BytesMut};

/// How many messages the workload publishes.
pub const PUBLISHES: u32 = 20;
/// How many messages the workload consumes.
pub const CONSUMES: u32 = 10;
/// The heartbeat the broker proposes, in seconds.
pub const HEARTBEAT: u16 = 2;
/// The frame-max the broker proposes (the specification's frame-min-size
/// in the `frame-max` scenario).
pub const FRAME_MAX: u32 = 131_072;
/// How much more than the clean run's peak RSS a scenario may use.
pub const RSS_MARGIN_KIB: u64 = 64 * 1024;

/// One scripted scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Stable id.
    pub id: &'static str,
    /// What the broker does.
    pub title: &'static str,
    /// What the specification requires of the client.
    pub requires: &'static str,
    /// Where the specification says so.
    pub spec: &'static str,
}

/// Every scenario, the clean baseline first.
pub fn scenarios() -> Vec<Scenario> {
    vec![
        Scenario {
            id: "clean",
            title: "a correct broker: the baseline",
            requires: "the workload completes (exit 0), the connection closed with 200",
            spec: "connection.close, reply-success (200)",
        },
        Scenario {
            id: "frame-max",
            title: "after negotiating frame-max 4096, a delivery's body frame of 8192 bytes",
            requires: "connection.close with 501 frame-error, the driver exits 1",
            spec: "connection.tune frame-max (peers must not send frames larger than agreed); \
                   constant frame-error (501)",
        },
        Scenario {
            id: "bad-frame-end",
            title: "the first confirm (basic.ack) with frame-end 0x00 instead of 0xCE",
            requires: "the connection closed (without sending more data, or with 501 \
                       frame-error), the driver exits 1",
            spec: "general frame format: a frame-end that is not 0xCE is a fatal protocol \
                   error; constant frame-error (501)",
        },
        Scenario {
            id: "unknown-frame-type",
            title: "after the first confirm, a frame of type 9 on channel 0",
            requires: "connection.close with 501 frame-error, the driver exits 1",
            spec: "frame types are 1, 2, 3 and 8; constant frame-error (501): a malformed \
                   frame the recipient could not decode",
        },
        Scenario {
            id: "unknown-method",
            title: "after the first confirm, a method frame of class 60, method 999",
            requires: "connection.close with 503 command-invalid or 540 not-implemented, the \
                       driver exits 1",
            spec: "constants command-invalid (503: an invalid sequence of frames) and \
                   not-implemented (540); the specification names neither for an unknown \
                   method, so either is accepted",
        },
        Scenario {
            id: "unknown-channel",
            title: "after confirm.select-ok, a basic.ack on a channel the client never opened",
            requires: "connection.close with 504 channel-error, the driver exits 1",
            spec: "constant channel-error (504): work on a channel that had not been \
                   correctly opened",
        },
        Scenario {
            id: "body-too-long",
            title: "the first delivery's content header declares 10 bytes, its body frame has 20",
            requires: "connection.close with 505 unexpected-frame or 501 frame-error, the \
                       driver exits 1",
            spec: "constants unexpected-frame (505: a frame not expected in the context of a \
                   content header and body) and frame-error (501)",
        },
        Scenario {
            id: "unknown-consumer-tag",
            title: "before the consumer's 10 deliveries, one (delivery-tag 1) for consumer \
                    tag amq.ctag-unknown",
            requires: "the stray delivery is not handed to the consumer (delivery-tag 1 never \
                       acked): the workload completes, or the client closes the channel or \
                       the connection with an error code (exit 1)",
            spec: "domain consumer-tag: valid within the current channel; the specification \
                   names no reply for a delivery to an unknown consumer",
        },
        Scenario {
            id: "no-heartbeat",
            title: "heartbeat 2 s negotiated, then from the first publish: silence",
            requires: "the client closes the socket within 2 heartbeat intervals of the \
                       silence (1 s allowed on top), the driver exits 1",
            spec: "connection.tune heartbeat; heartbeating: a peer that detects no incoming \
                   traffic for two or more intervals closes the connection",
        },
        Scenario {
            id: "no-start",
            title: "no connection.start after the protocol header",
            requires: "the driver exits 1 within its 10 s handshake timeout (2 s allowed on \
                       top)",
            spec: "connection.start: the server speaks first; the client bounds the handshake",
        },
        Scenario {
            id: "protocol-header",
            title: "the protocol header AMQP 0-10 in reply, then the socket closed",
            requires: "the driver exits 1 within 5 s",
            spec: "protocol negotiation: a server rejecting the version sends the header it \
                   supports and closes the socket",
        },
        Scenario {
            id: "close-with-confirms",
            title: "channel.close 406 in reply to the 5th publish, its confirm never sent",
            requires: "the client answers channel.close-ok, the awaited publish reports an \
                       error, the driver exits 1 (no hang)",
            spec: "channel.close (the peer answers close-ok); confirm: unconfirmed publishes \
                   on a closed channel are not confirmed",
        },
        Scenario {
            id: "reset-mid-frame",
            title: "half of the 3rd confirm's frame, then a TCP reset",
            requires: "the driver exits 1 (no hang)",
            spec: "a connection lost without connection.close is an error for the client",
        },
    ]
}

/// The scenario with this id.
pub fn find(id: &str) -> Option<Scenario> {
    scenarios().into_iter().find(|s| s.id == id)
}

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

/// One line of the wire log: who sent what, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireLine {
    /// Since the broker accepted the connection.
    pub at: Duration,
    /// `client` or `broker`.
    pub from: &'static str,
    /// The frame, decoded, or what happened to the socket.
    pub what: String,
}

/// What happened on the wire of the (first) connection.
#[derive(Debug, Clone, Default)]
pub struct Wire {
    /// Connections the client opened.
    pub connections: usize,
    /// Every frame and socket event, in order.
    pub lines: Vec<WireLine>,
    /// The reply code and text of the client's `connection.close`.
    pub client_close: Option<(u16, String)>,
    /// Whether the client sent `channel.close-ok`.
    pub channel_close_ok: bool,
    /// Whether the client closed (or reset) the socket, and when.
    pub socket_closed: Option<Duration>,
    /// When the broker misbehaved (sent the fault, or went silent).
    pub fault_at: Option<Duration>,
    /// Publishes received (complete contents).
    pub published: u32,
    /// Deliveries the client acked.
    pub acked: u32,
    /// The delivery tags the client acked.
    pub acked_tags: Vec<u64>,
    /// The reply code of a `channel.close` the client sent.
    pub client_channel_close: Option<u16>,
    /// Whether the client sent anything after the fault other than
    /// `connection.close`, `close-ok` and heartbeats.
    pub spoke_after_fault: bool,
}

/// A scenario's grade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The client did what the specification requires.
    Pass,
    /// It closed the connection, but not with the code the specification names.
    ClosedWrongCode {
        /// The codes required.
        expected: Vec<u16>,
        /// The code it sent.
        got: u16,
    },
    /// It did not: why.
    Fail(String),
}

impl Verdict {
    /// `pass`, `closed-wrong-code` or `fail`.
    pub fn label(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::ClosedWrongCode { .. } => "closed-wrong-code",
            Verdict::Fail(_) => "fail",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Pass => write!(f, "pass"),
            Verdict::ClosedWrongCode { expected, got } => {
                write!(
                    f,
                    "closed, wrong code: {got} (expected {})",
                    codes(expected)
                )
            }
            Verdict::Fail(why) => write!(f, "FAIL: {why}"),
        }
    }
}

fn codes(c: &[u16]) -> String {
    c.iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(" or ")
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario.
    pub scenario: Scenario,
    /// Its grade.
    pub verdict: Verdict,
    /// The driver's run.
    pub driver: DriverRun,
    /// The wire.
    pub wire: Wire,
}

/// The time limits of a run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A driver still running after this is killed and graded a hang.
    pub hang: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hang: Duration::from_secs(30),
        }
    }
}

/// Runs each scenario with `driver` (a shell command), in order; the clean
/// scenario's peak RSS, when it ran, bounds the others' (plus
/// [`RSS_MARGIN_KIB`]).
pub fn run(scenarios: &[Scenario], driver: &str, limits: &Limits) -> Vec<Report> {
    let mut order: Vec<Scenario> = scenarios.to_vec();
    order.sort_by_key(|s| s.id != "clean");
    let mut baseline = None;
    let mut reports = Vec::new();
    for s in order {
        let report = run_one(s, driver, limits, baseline);
        if s.id == "clean" {
            baseline = report.driver.peak_rss_kib;
        }
        reports.push(report);
    }
    reports
}

/// Runs one scenario with `driver`; `baseline_rss_kib` is the clean run's
/// peak RSS, if known.
pub fn run_one(
    scenario: Scenario,
    driver: &str,
    limits: &Limits,
    baseline_rss_kib: Option<u64>,
) -> Report {
    let broker = match Broker::start("127.0.0.1:0", scenario) {
        Ok(b) => b,
        Err(e) => {
            return Report {
                scenario,
                verdict: Verdict::Fail(format!("the scripted broker did not start: {e}")),
                driver: DriverRun {
                    exit: Exit::SpawnFailed(e.to_string()),
                    wall: Duration::ZERO,
                    peak_rss_kib: None,
                    stderr: String::new(),
                },
                wire: Wire::default(),
            }
        }
    };
    let uri = format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port());
    let driver = spawn_driver(driver, &uri, scenario.id, limits.hang);
    // The broker's side of the last frames.
    std::thread::sleep(Duration::from_millis(100));
    let wire = broker.stop();
    let verdict = grade(scenario, &driver, &wire, baseline_rss_kib);
    Report {
        scenario,
        verdict,
        driver,
        wire,
    }
}

/// Grades a scenario from the driver's run and the wire.
pub fn grade(
    scenario: Scenario,
    driver: &DriverRun,
    wire: &Wire,
    baseline: Option<u64>,
) -> Verdict {
    match &driver.exit {
        Exit::Hang => return Verdict::Fail("the driver hung (killed at the time limit)".into()),
        Exit::SpawnFailed(e) => return Verdict::Fail(format!("the driver did not start: {e}")),
        Exit::Signal(s) => return Verdict::Fail(format!("the driver crashed (signal {s})")),
        Exit::Code(c) if *c != 0 && *c != 1 => {
            return Verdict::Fail(format!("the driver crashed (exit {c})"))
        }
        Exit::Code(_) => {}
    }
    if let (Some(base), Some(peak)) = (baseline, driver.peak_rss_kib) {
        if scenario.id != "clean" && peak > base + RSS_MARGIN_KIB {
            return Verdict::Fail(format!(
                "peak RSS {peak} KiB, more than 64 MiB over the clean run's {base} KiB"
            ));
        }
    }
    let completed = driver.exit == Exit::Code(0);
    let closed_with = |expected: &[u16], silent_ok: bool| -> Verdict {
        if completed {
            return Verdict::Fail("the driver reported success: the fault went unnoticed".into());
        }
        if wire.fault_at.is_none() {
            return Verdict::Fail("the driver failed before the broker's fault".into());
        }
        match &wire.client_close {
            Some((code, _)) if expected.contains(code) => Verdict::Pass,
            Some((code, _)) => Verdict::ClosedWrongCode {
                expected: expected.to_vec(),
                got: *code,
            },
            None if silent_ok && wire.socket_closed.is_some() && !wire.spoke_after_fault => {
                Verdict::Pass
            }
            None if wire.socket_closed.is_some() => Verdict::Fail(format!(
                "the socket closed without connection.close (expected {})",
                codes(expected)
            )),
            None => Verdict::Fail("the client never closed the connection".into()),
        }
    };
    match scenario.id {
        "clean" => {
            if !completed {
                return Verdict::Fail(format!("the driver did not complete: {}", driver.exit));
            }
            if wire.published != PUBLISHES || wire.acked < CONSUMES {
                return Verdict::Fail(format!(
                    "{} publishes and {} acks, not {PUBLISHES} and {CONSUMES}",
                    wire.published, wire.acked
                ));
            }
            match &wire.client_close {
                Some((200, _)) => Verdict::Pass,
                Some((code, _)) => Verdict::ClosedWrongCode {
                    expected: vec![200],
                    got: *code,
                },
                None => Verdict::Fail("the connection was not closed with connection.close".into()),
            }
        }
        "frame-max" | "unknown-frame-type" => closed_with(&[501], false),
        "bad-frame-end" => closed_with(&[501], true),
        "unknown-method" => closed_with(&[503, 540], false),
        "unknown-channel" => closed_with(&[504], false),
        "body-too-long" => closed_with(&[505, 501], false),
        "unknown-consumer-tag" => {
            if wire.fault_at.is_none() {
                Verdict::Fail("the driver ended before the consumer started".into())
            } else if wire.acked_tags.contains(&1) {
                Verdict::Fail("the stray delivery (tag 1) was acked as the consumer's".into())
            } else if completed && wire.acked >= CONSUMES {
                Verdict::Pass
            } else if completed {
                Verdict::Fail(format!("{} deliveries acked, not {CONSUMES}", wire.acked))
            } else if matches!(wire.client_close, Some((code, _)) if code != 200)
                || matches!(wire.client_channel_close, Some(code) if code != 200)
            {
                Verdict::Pass
            } else {
                Verdict::Fail(
                    "the driver failed without closing the channel or the connection with an \
                     error code"
                        .into(),
                )
            }
        }
        "no-heartbeat" => {
            if completed {
                return Verdict::Fail("the driver reported success".into());
            }
            let (Some(fault), Some(closed)) = (wire.fault_at, wire.socket_closed) else {
                return Verdict::Fail("the client never closed the socket".into());
            };
            let limit = Duration::from_secs(2 * u64::from(HEARTBEAT) + 1);
            let took = closed.saturating_sub(fault);
            if took > limit {
                Verdict::Fail(format!(
                    "the socket closed {took:?} after the silence began"
                ))
            } else {
                Verdict::Pass
            }
        }
        "no-start" => {
            if completed {
                Verdict::Fail("the driver reported success".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before sending the protocol header".into())
            } else if driver.wall > Duration::from_secs(12) {
                Verdict::Fail(format!("the driver gave up after {:?}", driver.wall))
            } else {
                Verdict::Pass
            }
        }
        "protocol-header" => {
            if completed {
                Verdict::Fail("the driver reported success".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before sending the protocol header".into())
            } else if driver.wall > Duration::from_secs(5) {
                Verdict::Fail(format!("the driver gave up after {:?}", driver.wall))
            } else {
                Verdict::Pass
            }
        }
        "close-with-confirms" => {
            if completed {
                Verdict::Fail("the driver reported success with a publish unconfirmed".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before the broker's channel.close".into())
            } else if !wire.channel_close_ok {
                Verdict::Fail("the client did not answer channel.close-ok".into())
            } else {
                Verdict::Pass
            }
        }
        "reset-mid-frame" => {
            if completed {
                Verdict::Fail("the driver reported success".into())
            } else if wire.fault_at.is_none() {
                Verdict::Fail("the driver failed before the reset".into())
            } else {
                Verdict::Pass
            }
        }
        other => Verdict::Fail(format!("no grading for scenario {other}")),
    }
}

/// Spawns `sh -c CMD` in a process group of its own and waits for it,
/// polling the peak RSS of its processes, killing the group at `hang`.
fn spawn_driver(cmd: &str, uri: &str, scenario: &str, hang: Duration) -> DriverRun {
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

/// Called with each wire line as it happens (the command line's `--listen`).
pub type Echo = Box<dyn Fn(&WireLine) + Send + Sync>;

/// A scripted broker serving one scenario: a thread accepting
/// connections, a thread per connection. The first connection's wire is
/// recorded; stops (closing every socket) on [`Broker::stop`] or drop.
#[derive(Debug)]
pub struct Broker {
    port: u16,
    stop: Arc<AtomicBool>,
    wire: Arc<Mutex<Wire>>,
    acceptor: Option<JoinHandle<()>>,
}

impl Broker {
    /// Listens on `addr` (`127.0.0.1:0` for a free port).
    pub fn start(addr: &str, scenario: Scenario) -> std::io::Result<Broker> {
        Broker::start_with(addr, scenario, None)
    }

    /// Listens on `addr`; each wire line is also passed to `echo` as it
    /// happens.
    pub fn start_with(
        addr: &str,
        scenario: Scenario,
        echo: Option<Echo>,
    ) -> std::io::Result<Broker> {
        let listener = TcpListener::bind(addr)?;
        let port = listener.local_addr()?.port();
        listener.set_nonblocking(true)?;
        let stop = Arc::new(AtomicBool::new(false));
        let wire = Arc::new(Mutex::new(Wire::default()));
        let echo: Arc<Option<Echo>> = Arc::new(echo);
        let (s, w) = (stop.clone(), wire.clone());
        let acceptor = std::thread::spawn(move || {
            let mut conns = Vec::new();
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let first = {
                            let mut w = lock(&w);
                            w.connections += 1;
                            w.connections == 1
                        };
                        let (s, w, echo) = (s.clone(), w.clone(), echo.clone());
                        conns.push(std::thread::spawn(move || {
                            let mut c = Served::new(stream, scenario, echo);
                            c.serve(&s);
                            if first {
                                let mut w = lock(&w);
                                let connections = w.connections;
                                *w = std::mem::take(&mut c.wire);
                                w.connections = connections;
                            }
                        }));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for c in conns {
                let _ = c.join();
            }
        });
        Ok(Broker {
            port,
            stop,
            wire,
            acceptor: Some(acceptor),
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops it; the first connection's wire.
    pub fn stop(mut self) -> Wire {
        self.shutdown();
        let w = lock(&self.wire).clone();
        w
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(a) = self.acceptor.take() {
            let _ = a.join();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One served connection.
struct Served {
    stream: TcpStream,
    scenario: Scenario,
    echo: Arc<Option<Echo>>,
    wire: Wire,
    started: Instant,
    /// The broker has gone silent (no heartbeats, no replies).
    silent: bool,
    /// Heartbeats negotiated, in seconds.
    heartbeat: u16,
    last_sent: Instant,
    /// A publish being received: its body bytes still to come.
    content_left: Option<u64>,
    /// The queue declared.
    queue: String,
    /// Deliveries sent.
    delivered: u64,
    /// The client's channel (the first it opened).
    channel: u16,
}

impl Served {
    fn new(stream: TcpStream, scenario: Scenario, echo: Arc<Option<Echo>>) -> Served {
        Served {
            stream,
            scenario,
            echo,
            wire: Wire::default(),
            started: Instant::now(),
            silent: false,
            heartbeat: 0,
            last_sent: Instant::now(),
            content_left: None,
            queue: String::new(),
            delivered: 0,
            channel: 1,
        }
    }

    fn log(&mut self, from: &'static str, what: String) {
        let line = WireLine {
            at: self.started.elapsed(),
            from,
            what,
        };
        if let Some(echo) = self.echo.as_ref() {
            echo(&line);
        }
        self.wire.lines.push(line);
    }

    fn fault(&mut self) {
        if self.wire.fault_at.is_none() {
            self.wire.fault_at = Some(self.started.elapsed());
        }
    }

    fn write(&mut self, bytes: &[u8], what: String) -> std::io::Result<()> {
        self.log("broker", what);
        self.last_sent = Instant::now();
        self.stream.write_all(bytes)
    }

    fn send(&mut self, ch: u16, method: impl Into<Method>) -> std::io::Result<()> {
        self.send_frame(&Frame::method(ch, method))
    }

    fn send_frame(&mut self, frame: &Frame) -> std::io::Result<()> {
        let mut buf = BytesMut::with_capacity(frame.encoded_len());
        frame.encode(&mut buf);
        self.write(&buf, frame.to_string())
    }

    /// A frame as raw parts, well formed or not.
    fn send_raw_frame(
        &mut self,
        kind: u8,
        ch: u16,
        payload: &[u8],
        end: u8,
        what: String,
    ) -> std::io::Result<()> {
        let mut buf = BytesMut::new();
        buf.put_u8(kind);
        buf.put_u16(ch);
        buf.put_u32(payload.len() as u32);
        buf.put_slice(payload);
        buf.put_u8(end);
        self.write(&buf, what)
    }

    fn serve(&mut self, stop: &AtomicBool) {
        let _ = self.stream.set_nodelay(true);
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(50)));
        let mut input = BytesMut::new();
        let mut decoder = FrameDecoder::new(u32::MAX);
        let mut header_read = false;
        let mut chunk = [0u8; 65536];
        while !stop.load(Ordering::SeqCst) {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.client_gone("socket closed (FIN)");
                    return;
                }
                Ok(n) => input.extend_from_slice(&chunk[..n]),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) => {
                    self.client_gone(&format!("socket error: {e}"));
                    return;
                }
            }
            if self.heartbeat > 0
                && !self.silent
                && self.last_sent.elapsed()
                    >= Duration::from_millis(500 * u64::from(self.heartbeat))
                && self.send_frame(&Frame::heartbeat()).is_err()
            {
                return;
            }
            if !header_read {
                if input.len() < 8 {
                    continue;
                }
                let header = input.split_to(8);
                self.log("client", format!("protocol header {:?}", &header[..]));
                header_read = true;
                if self.opening().is_err() {
                    return;
                }
            }
            loop {
                let frame = match decoder.decode(&mut input) {
                    Ok(Some(frame)) => frame,
                    Ok(None) => break,
                    Err(e) => {
                        self.log("client", format!("undecodable bytes: {e}"));
                        input.clear();
                        decoder = FrameDecoder::new(u32::MAX);
                        break;
                    }
                };
                self.log("client", frame.to_string());
                match self.on_frame(frame) {
                    Ok(true) => {}
                    Ok(false) => return,
                    Err(_) => {
                        self.client_gone("write failed");
                        return;
                    }
                }
            }
        }
    }

    fn client_gone(&mut self, what: &str) {
        if self.wire.socket_closed.is_none() {
            self.wire.socket_closed = Some(self.started.elapsed());
        }
        self.log("client", what.to_owned());
    }

    /// After the protocol header.
    fn opening(&mut self) -> std::io::Result<()> {
        match self.scenario.id {
            "no-start" => {
                self.fault();
                self.silent = true;
                Ok(())
            }
            "protocol-header" => {
                self.fault();
                self.write(b"AMQP\x01\x01\x00\x0a", "protocol header AMQP 0-10".into())?;
                let _ = self.stream.shutdown(Shutdown::Both);
                Ok(())
            }
            _ => {
                let mut props = FieldTable::default();
                for key in [
                    "host",
                    "product",
                    "version",
                    "platform",
                    "copyright",
                    "information",
                ] {
                    props.insert(key, "amqp-conform scripted broker");
                }
                self.send(
                    0,
                    connection::Start {
                        version_major: 0,
                        version_minor: 9,
                        server_properties: props,
                        mechanisms: LongStr::from("PLAIN AMQPLAIN"),
                        locales: LongStr::from("en_US"),
                    },
                )
            }
        }
    }

    /// Answers one frame from the client; `false` once the connection is over.
    fn on_frame(&mut self, frame: Frame) -> std::io::Result<bool> {
        let ch = frame.channel;
        let method = match frame.payload {
            FramePayload::Method(m) => m,
            FramePayload::Heartbeat => return Ok(true),
            FramePayload::Header(h) => {
                self.note_after_fault();
                self.content_left = Some(h.body_size);
                if h.body_size == 0 {
                    return self.published(ch);
                }
                return Ok(true);
            }
            FramePayload::Body(b) => {
                self.note_after_fault();
                if let Some(left) = self.content_left {
                    let left = left.saturating_sub(b.len() as u64);
                    self.content_left = Some(left);
                    if left == 0 {
                        return self.published(ch);
                    }
                }
                return Ok(true);
            }
        };
        match &method {
            Method::ConnectionClose(c) => {
                if self.wire.client_close.is_none() {
                    self.wire.client_close =
                        Some((c.reply_code, c.reply_text.to_string_lossy().into_owned()));
                }
                self.send(0, connection::CloseOk {})?;
                return Ok(true);
            }
            Method::ConnectionCloseOk(_) => {
                let _ = self.stream.shutdown(Shutdown::Both);
                return Ok(false);
            }
            Method::ChannelCloseOk(_) => {
                self.wire.channel_close_ok = true;
                return Ok(true);
            }
            _ => {}
        }
        self.note_after_fault();
        if self.silent {
            return Ok(true);
        }
        match method {
            Method::ConnectionStartOk(_) => {
                let frame_max = if self.scenario.id == "frame-max" {
                    4096
                } else {
                    FRAME_MAX
                };
                self.send(
                    0,
                    connection::Tune {
                        channel_max: 2047,
                        frame_max,
                        heartbeat: HEARTBEAT,
                    },
                )?;
            }
            Method::ConnectionTuneOk(t) => self.heartbeat = t.heartbeat,
            Method::ConnectionOpen(_) => self.send(0, connection::OpenOk::default())?,
            Method::ChannelOpen(_) => {
                self.channel = ch;
                self.send(ch, channel::OpenOk::default())?;
            }
            Method::ChannelClose(c) => {
                self.wire.client_channel_close.get_or_insert(c.reply_code);
                self.send(ch, channel::CloseOk {})?;
            }
            Method::QueueDeclare(d) => {
                self.queue = if d.queue.is_empty() {
                    "amq.gen-conform".into()
                } else {
                    d.queue.to_string_lossy().into_owned()
                };
                if !d.no_wait {
                    let queue = ShortStr::try_from(self.queue.as_str()).unwrap_or_default();
                    self.send(
                        ch,
                        queue::DeclareOk {
                            queue,
                            message_count: 0,
                            consumer_count: 0,
                        },
                    )?;
                }
            }
            Method::ConfirmSelect(s) => {
                if !s.no_wait {
                    self.send(ch, confirm::SelectOk {})?;
                }
                if self.scenario.id == "unknown-channel" {
                    self.fault();
                    let other = if ch == 7 { 8 } else { 7 };
                    self.send(
                        other,
                        basic::Ack {
                            delivery_tag: 1,
                            multiple: false,
                        },
                    )?;
                }
            }
            // The first publish: silence from now on.
            Method::BasicPublish(_)
                if self.wire.published == 0 && self.scenario.id == "no-heartbeat" =>
            {
                // The silence began with the last byte sent.
                self.wire.fault_at = Some(self.last_sent.duration_since(self.started));
                self.silent = true;
            }
            Method::BasicConsume(c) => {
                let tag = if c.consumer_tag.is_empty() {
                    ShortStr::from_static("amq.ctag-conform")
                } else {
                    c.consumer_tag.clone()
                };
                if !c.no_wait {
                    self.send(
                        ch,
                        basic::ConsumeOk {
                            consumer_tag: tag.clone(),
                        },
                    )?;
                }
                if self.scenario.id == "unknown-consumer-tag" {
                    self.fault();
                    self.deliver(ch, &ShortStr::from_static("amq.ctag-unknown"))?;
                }
                for _ in 0..CONSUMES {
                    self.deliver(ch, &tag)?;
                    if matches!(self.scenario.id, "frame-max" | "body-too-long") {
                        break;
                    }
                }
            }
            Method::BasicAck(a) => {
                self.wire.acked += 1;
                self.wire.acked_tags.push(a.delivery_tag);
            }
            Method::BasicCancel(c) if !c.no_wait => self.send(
                ch,
                basic::CancelOk {
                    consumer_tag: c.consumer_tag,
                },
            )?,
            Method::BasicQos(_) => self.send(ch, basic::QosOk {})?,
            _ => {}
        }
        Ok(true)
    }

    fn note_after_fault(&mut self) {
        if self.wire.fault_at.is_some() {
            self.wire.spoke_after_fault = true;
        }
    }

    /// A complete publish arrived: its confirm, or the scenario's fault.
    fn published(&mut self, ch: u16) -> std::io::Result<bool> {
        self.content_left = None;
        self.wire.published += 1;
        if self.silent {
            return Ok(true);
        }
        let n = self.wire.published;
        let ack = basic::Ack {
            delivery_tag: u64::from(n),
            multiple: false,
        };
        match (self.scenario.id, n) {
            ("bad-frame-end", 1) => {
                self.fault();
                let mut buf = BytesMut::new();
                Frame::method(ch, ack).encode(&mut buf);
                let end = buf.len() - 1;
                buf[end] = 0;
                let payload = buf[7..end].to_vec();
                self.send_raw_frame(
                    1,
                    ch,
                    &payload,
                    0,
                    format!("basic.ack on {ch}, frame-end 0x00"),
                )?;
                return Ok(true);
            }
            ("unknown-frame-type", 1) => {
                self.send(ch, ack)?;
                self.fault();
                self.send_raw_frame(9, 0, &[0, 0, 0, 0], 0xCE, "a frame of type 9".into())?;
                return Ok(true);
            }
            ("unknown-method", 1) => {
                self.send(ch, ack)?;
                self.fault();
                let mut payload = Vec::new();
                payload.extend_from_slice(&60u16.to_be_bytes());
                payload.extend_from_slice(&999u16.to_be_bytes());
                self.send_raw_frame(1, ch, &payload, 0xCE, "method 60/999".into())?;
                return Ok(true);
            }
            ("close-with-confirms", 5) => {
                self.fault();
                self.silent = true;
                self.send(
                    ch,
                    channel::Close {
                        reply_code: 406,
                        reply_text: ShortStr::from_static("PRECONDITION_FAILED - scripted"),
                        class_id: 60,
                        method_id: 40,
                    },
                )?;
                // Other frames are ignored from now on; close-ok and the
                // connection's close still answered.
                return Ok(true);
            }
            ("reset-mid-frame", 3) => {
                self.fault();
                let mut buf = BytesMut::new();
                Frame::method(ch, ack).encode(&mut buf);
                let half = buf.len() / 2;
                self.write(
                    &buf[..half],
                    format!("half of basic.ack delivery-tag={n}, then RST"),
                )?;
                let _ = socket2::SockRef::from(&self.stream).set_linger(Some(Duration::ZERO));
                self.wire
                    .socket_closed
                    .get_or_insert(self.started.elapsed());
                return Ok(false);
            }
            _ => {}
        }
        self.send(ch, ack)?;
        Ok(true)
    }

    /// One delivery from the declared queue, or the scenario's fault.
    fn deliver(&mut self, ch: u16, tag: &ShortStr) -> std::io::Result<()> {
        self.delivered += 1;
        let n = self.delivered;
        let deliver = basic::Deliver {
            consumer_tag: tag.clone(),
            delivery_tag: n,
            redelivered: false,
            exchange: ShortStr::default(),
            routing_key: ShortStr::try_from(self.queue.as_str()).unwrap_or_default(),
        };
        match (self.scenario.id, n) {
            ("frame-max", 1) => {
                self.fault();
                let body = Bytes::from(vec![b'x'; 8192]);
                self.send(ch, deliver)?;
                let header = ContentHeader::new(body.len() as u64, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                self.send_frame(&Frame::body(ch, body))
            }
            ("body-too-long", 1) => {
                self.fault();
                self.send(ch, deliver)?;
                let header = ContentHeader::new(10, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                self.send_frame(&Frame::body(
                    ch,
                    Bytes::from_static(b"twenty bytes of body"),
                ))
            }
            _ => {
                let body = Bytes::from(format!("message {}", n - 1));
                self.send(ch, deliver)?;
                let header = ContentHeader::new(body.len() as u64, BasicProperties::default());
                self.send_frame(&Frame::header(ch, header))?;
                self.send_frame(&Frame::body(ch, body))
            }
        }
    }
}

/// A text report: a line per scenario, with the driver's result and, for
/// a scenario that did not pass, its requirement and the wire.
pub fn text(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        out.push_str(&format!(
            "{:<22} {}\n    driver: {}, {:.2} s, peak RSS {}\n",
            r.scenario.id,
            r.verdict,
            r.driver.exit,
            r.driver.wall.as_secs_f64(),
            r.driver
                .peak_rss_kib
                .map_or("unknown".into(), |k| format!("{k} KiB"))
        ));
        if r.verdict != Verdict::Pass {
            out.push_str(&format!(
                "    broker: {}\n    requires: {}\n    spec: {}\n",
                r.scenario.title, r.scenario.requires, r.scenario.spec
            ));
            for l in &r.wire.lines {
                out.push_str(&format!(
                    "      {:>8.3} {:<6} {}\n",
                    l.at.as_secs_f64(),
                    l.from,
                    l.what
                ));
            }
            if !r.driver.stderr.trim().is_empty() {
                out.push_str(&format!("    stderr: {}\n", r.driver.stderr.trim()));
            }
        }
    }
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for r in reports {
        *counts.entry(r.verdict.label()).or_default() += 1;
    }
    out.push_str(&format!(
        "{} scenarios: {} pass, {} closed-wrong-code, {} fail\n",
        reports.len(),
        counts.get("pass").unwrap_or(&0),
        counts.get("closed-wrong-code").unwrap_or(&0),
        counts.get("fail").unwrap_or(&0)
    ));
    out
}

/// A JSON report: `scenarios`, each with `id`, `title`, `requires`,
/// `spec`, `verdict`, `reason`, `exit`, `exit_code`, `wall_ms`,
/// `peak_rss_kib`, `stderr` (its end), `client_close` and `frames`.
pub fn json(reports: &[Report]) -> String {
    use serde_json::{json, Value};
    let scenarios: Vec<Value> = reports
        .iter()
        .map(|r| {
            json!({
                "id": r.scenario.id,
                "title": r.scenario.title,
                "requires": r.scenario.requires,
                "spec": r.scenario.spec,
                "verdict": r.verdict.label(),
                "reason": r.verdict.to_string(),
                "exit": r.driver.exit.to_string(),
                "exit_code": match r.driver.exit { Exit::Code(c) => Some(c), _ => None },
                "wall_ms": r.driver.wall.as_millis() as u64,
                "peak_rss_kib": r.driver.peak_rss_kib,
                "stderr": r.driver.stderr,
                "client_close": r.wire.client_close.as_ref().map(|(c, t)| json!({"code": c, "text": t})),
                "frames": r.wire.lines.iter().map(|l| json!({
                    "at_ms": l.at.as_millis() as u64,
                    "from": l.from,
                    "what": l.what,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({ "scenarios": scenarios });
    format!("{doc:#}\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_with(exit: Exit) -> DriverRun {
        DriverRun {
            exit,
            wall: Duration::from_millis(50),
            peak_rss_kib: Some(10_000),
            stderr: String::new(),
        }
    }

    fn faulted(close: Option<u16>) -> Wire {
        Wire {
            connections: 1,
            fault_at: Some(Duration::from_millis(5)),
            client_close: close.map(|c| (c, "x".into())),
            socket_closed: Some(Duration::from_millis(6)),
            ..Wire::default()
        }
    }

    fn s(id: &str) -> Scenario {
        find(id).expect("a scenario")
    }

    #[test]
    fn ids_are_unique_and_every_scenario_is_graded() {
        let all = scenarios();
        let mut ids: Vec<_> = all.iter().map(|s| s.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), all.len());
        for sc in all {
            let v = grade(sc, &run_with(Exit::Code(1)), &Wire::default(), None);
            assert!(
                !matches!(&v, Verdict::Fail(why) if why.starts_with("no grading")),
                "{}",
                sc.id
            );
        }
    }

    #[test]
    fn connection_errors_need_their_code() {
        let one = run_with(Exit::Code(1));
        for (id, good, bad) in [
            ("frame-max", 501, 505),
            ("unknown-frame-type", 501, 200),
            ("unknown-method", 540, 501),
            ("unknown-method", 503, 504),
            ("unknown-channel", 504, 503),
            ("body-too-long", 505, 200),
            ("body-too-long", 501, 504),
            ("bad-frame-end", 501, 200),
        ] {
            assert_eq!(
                grade(s(id), &one, &faulted(Some(good)), None),
                Verdict::Pass,
                "{id}"
            );
            assert!(
                matches!(
                    grade(s(id), &one, &faulted(Some(bad)), None),
                    Verdict::ClosedWrongCode { got, .. } if got == bad
                ),
                "{id}"
            );
            // Success, no close at all, and a crash all fail.
            for (driver, wire) in [
                (run_with(Exit::Code(0)), faulted(Some(good))),
                (
                    one.clone(),
                    Wire {
                        socket_closed: None,
                        ..faulted(None)
                    },
                ),
                (run_with(Exit::Code(3)), faulted(Some(good))),
                (run_with(Exit::Signal(9)), faulted(Some(good))),
                (run_with(Exit::Hang), faulted(Some(good))),
                (one.clone(), Wire::default()),
            ] {
                assert!(
                    matches!(grade(s(id), &driver, &wire, None), Verdict::Fail(_)),
                    "{id} {driver:?} {wire:?}"
                );
            }
        }
        // A bad frame-end may close the socket without a word; the others may not.
        assert_eq!(
            grade(s("bad-frame-end"), &one, &faulted(None), None),
            Verdict::Pass
        );
        assert!(matches!(
            grade(s("frame-max"), &one, &faulted(None), None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn the_clean_run_needs_the_whole_workload() {
        let wire = Wire {
            published: PUBLISHES,
            acked: CONSUMES,
            client_close: Some((200, "bye".into())),
            ..Wire::default()
        };
        let zero = run_with(Exit::Code(0));
        assert_eq!(grade(s("clean"), &zero, &wire, None), Verdict::Pass);
        let short = Wire {
            published: 3,
            ..wire.clone()
        };
        assert!(matches!(
            grade(s("clean"), &zero, &short, None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(s("clean"), &run_with(Exit::Code(1)), &wire, None),
            Verdict::Fail(_)
        ));
        let no_close = Wire {
            client_close: None,
            ..wire
        };
        assert!(matches!(
            grade(s("clean"), &zero, &no_close, None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn a_stray_delivery_is_not_the_consumers() {
        let sc = s("unknown-consumer-tag");
        let fine = Wire {
            acked: CONSUMES,
            acked_tags: (2..=11).collect(),
            ..faulted(Some(200))
        };
        let zero = run_with(Exit::Code(0));
        let one = run_with(Exit::Code(1));
        assert_eq!(grade(sc, &zero, &fine, None), Verdict::Pass);
        let stray_acked = Wire {
            acked_tags: (1..=10).collect(),
            ..fine.clone()
        };
        assert!(matches!(
            grade(sc, &zero, &stray_acked, None),
            Verdict::Fail(_)
        ));
        assert_eq!(grade(sc, &one, &faulted(Some(503)), None), Verdict::Pass);
        let channel_closed = Wire {
            client_channel_close: Some(406),
            ..faulted(Some(200))
        };
        assert_eq!(grade(sc, &one, &channel_closed, None), Verdict::Pass);
        assert!(matches!(
            grade(sc, &one, &faulted(Some(200)), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(sc, &one, &Wire::default(), None),
            Verdict::Fail(_)
        ));
    }

    #[test]
    fn memory_is_bounded_by_the_clean_run() {
        let one = DriverRun {
            peak_rss_kib: Some(RSS_MARGIN_KIB + 20_000),
            ..run_with(Exit::Code(1))
        };
        let within = Some(30_000);
        let over = Some(10_000);
        assert_eq!(
            grade(s("frame-max"), &one, &faulted(Some(501)), within),
            Verdict::Pass
        );
        let v = grade(s("frame-max"), &one, &faulted(Some(501)), over);
        assert!(matches!(v, Verdict::Fail(why) if why.contains("RSS")));
    }

    #[test]
    fn timing_scenarios_fail_when_late() {
        let wire = faulted(None);
        let slow = DriverRun {
            wall: Duration::from_secs(13),
            ..run_with(Exit::Code(1))
        };
        let quick = run_with(Exit::Code(1));
        for id in ["no-start", "protocol-header"] {
            assert_eq!(grade(s(id), &quick, &wire, None), Verdict::Pass, "{id}");
            assert!(matches!(grade(s(id), &slow, &wire, None), Verdict::Fail(_)));
            assert!(matches!(
                grade(s(id), &run_with(Exit::Code(0)), &wire, None),
                Verdict::Fail(_)
            ));
        }
        let hb = s("no-heartbeat");
        assert_eq!(grade(hb, &quick, &wire, None), Verdict::Pass);
        let late = Wire {
            socket_closed: Some(Duration::from_secs(6)),
            ..wire.clone()
        };
        assert!(matches!(grade(hb, &quick, &late, None), Verdict::Fail(_)));
        let never = Wire {
            socket_closed: None,
            ..wire
        };
        assert!(matches!(grade(hb, &quick, &never, None), Verdict::Fail(_)));
    }

    #[test]
    fn confirms_and_resets_need_an_error() {
        let one = run_with(Exit::Code(1));
        let cc = s("close-with-confirms");
        let answered = Wire {
            channel_close_ok: true,
            ..faulted(Some(200))
        };
        assert_eq!(grade(cc, &one, &answered, None), Verdict::Pass);
        assert!(matches!(
            grade(cc, &one, &faulted(Some(200)), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(cc, &run_with(Exit::Code(0)), &answered, None),
            Verdict::Fail(_)
        ));
        let rst = s("reset-mid-frame");
        assert_eq!(grade(rst, &one, &faulted(None), None), Verdict::Pass);
        assert!(matches!(
            grade(rst, &run_with(Exit::Code(0)), &faulted(None), None),
            Verdict::Fail(_)
        ));
        assert!(matches!(
            grade(rst, &one, &Wire::default(), None),
            Verdict::Fail(_)
        ));
    }
}
