//! What the client binaries share: arguments, the scenarios, timing,
//! `getrusage(RUSAGE_SELF)` (all threads of the process), percentiles, the
//! one-line JSON result, and two helpers built on `amqp-client` — the
//! pre-fill of the consume scenarios and the clean-up of a queue after an
//! error — so that every client gets the same queue contents and the same
//! safety net.
//!
//! `before/` compiles this file and our binaries once more against
//! `amqp-client` as of an earlier commit, with the feature `before`: the
//! few API differences are switched in one `api` module per file, and
//! every label gets [`BUILD`] appended (`ours-before`, ...).

use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// Unconfirmed publishes allowed in `publish-confirm`.
pub const CONFIRM_WINDOW: usize = 1000;
/// basic.qos prefetch count of the consume scenarios.
pub const PREFETCH: u16 = 1000;
/// The frame size every client asks for (RabbitMQ's default too).
pub const FRAME_MAX: u32 = 131_072;
/// The broker, unless `--uri` or `AMQP_URI` says otherwise.
pub const DEFAULT_URI: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Appended to the labels of our clients: `"-before"` in the build of
/// `before/` (the client as of an earlier commit), empty here.
pub const BUILD: &str = if cfg!(feature = "before") {
    "-before"
} else {
    ""
};

/// The label of one of our clients in this build: `name` + [`BUILD`].
pub fn label(name: &str) -> String {
    format!("{name}{BUILD}")
}

/// One benchmark scenario; each process runs exactly one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scenario {
    /// Publish N messages without confirms, then wait until the queue holds N.
    Publish,
    /// Publish N messages with confirms, at most [`CONFIRM_WINDOW`] unconfirmed.
    PublishConfirm,
    /// Consume N pre-filled messages (prefetch [`PREFETCH`]), one ack each.
    ConsumeAck,
    /// Consume N pre-filled messages with no-ack.
    ConsumeNoack,
    /// N sequential round trips: publish one, receive it, repeat.
    Latency,
}

impl Scenario {
    /// All scenarios, in the order `run.sh` runs them.
    pub const ALL: [Scenario; 5] = [
        Scenario::Publish,
        Scenario::PublishConfirm,
        Scenario::ConsumeAck,
        Scenario::ConsumeNoack,
        Scenario::Latency,
    ];

    /// The name used on the command line and in the JSON.
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Publish => "publish",
            Scenario::PublishConfirm => "publish-confirm",
            Scenario::ConsumeAck => "consume-ack",
            Scenario::ConsumeNoack => "consume-noack",
            Scenario::Latency => "latency",
        }
    }

    fn parse(s: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|x| x.name() == s)
    }

    /// Whether the queue is pre-filled before the measurement.
    pub fn prefilled(self) -> bool {
        matches!(self, Scenario::ConsumeAck | Scenario::ConsumeNoack)
    }
}

/// The command line of every binary.
#[derive(Debug, Clone)]
pub struct Args {
    /// The scenario to run.
    pub scenario: Scenario,
    /// Body size in bytes.
    pub size: usize,
    /// Messages (or round trips).
    pub count: usize,
    /// Broker URI.
    pub uri: String,
    /// A client-specific variant (`--mode`), e.g. lapin's `inflight`.
    pub mode: String,
}

fn usage(client: &str, modes: &str) -> ! {
    eprintln!(
        "usage: {client} --scenario S --size BYTES --count N [--mode M] [--uri amqp://...]\n\
         scenarios: publish, publish-confirm, consume-ack, consume-noack, latency\n\
         modes: {modes}"
    );
    std::process::exit(2)
}

/// Parses the command line; `modes` lists the accepted `--mode` values, the
/// first being the default.
pub fn parse_args(client: &str, modes: &[&str]) -> Args {
    let mut scenario = None;
    let mut size = None;
    let mut count = None;
    let mut uri = std::env::var("AMQP_URI").unwrap_or_else(|_| DEFAULT_URI.to_owned());
    let mut mode = modes.first().copied().unwrap_or("default").to_owned();
    let modes_text = modes.join(", ");
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().unwrap_or_else(|| usage(client, &modes_text));
        match flag.as_str() {
            "--scenario" => {
                scenario =
                    Some(Scenario::parse(&value()).unwrap_or_else(|| usage(client, &modes_text)))
            }
            "--size" => size = value().parse().ok(),
            "--count" => count = value().parse().ok(),
            "--uri" => uri = value(),
            "--mode" => mode = value(),
            _ => usage(client, &modes_text),
        }
    }
    if !modes.is_empty() && !modes.contains(&mode.as_str()) {
        usage(client, &modes_text);
    }
    match (scenario, size, count) {
        (Some(scenario), Some(size), Some(count)) if count > 0 => Args {
            scenario,
            size,
            count,
            uri,
            mode,
        },
        _ => usage(client, &modes_text),
    }
}

/// A unique queue name: `bench.<client>.<pid>.<scenario>`.
pub fn queue_name(client: &str, scenario: Scenario) -> String {
    format!("bench.{client}.{}.{}", std::process::id(), scenario.name())
}

/// A body of `size` bytes (not all zeros, not compressible by accident).
pub fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i * 31 + 7) as u8).collect()
}

/// The parts of an `amqp://user:pass@host:port/vhost` URI, for clients that
/// take them one by one.
#[derive(Debug, Clone)]
pub struct UriParts {
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Host.
    pub host: String,
    /// Port.
    pub port: u16,
    /// Virtual host, percent-decoded.
    pub vhost: String,
}

/// Splits a plain `amqp://` URI (no query, no IPv6 literal).
pub fn uri_parts(uri: &str) -> Result<UriParts, String> {
    let rest = uri
        .strip_prefix("amqp://")
        .ok_or_else(|| format!("{uri}: only amqp:// URIs are supported"))?;
    let (auth_host, vhost) = rest.split_once('/').unwrap_or((rest, "%2f"));
    let (auth, hostport) = auth_host
        .rsplit_once('@')
        .unwrap_or(("guest:guest", auth_host));
    let (user, password) = auth.split_once(':').unwrap_or((auth, ""));
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| format!("{uri}: bad port"))?),
        None => (hostport, 5672),
    };
    let vhost = if vhost.is_empty() {
        "/".to_owned()
    } else {
        vhost.replace("%2f", "/").replace("%2F", "/")
    };
    Ok(UriParts {
        user: user.to_owned(),
        password: password.to_owned(),
        host: host.to_owned(),
        port,
        vhost,
    })
}

/// CPU time of the whole process (all threads), from `getrusage(RUSAGE_SELF)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Rusage {
    /// User CPU, ns.
    pub user_ns: u64,
    /// System CPU, ns.
    pub sys_ns: u64,
    /// Voluntary context switches (a thread blocked: waits, wake-ups).
    pub nvcsw: u64,
    /// Involuntary context switches (preempted).
    pub nivcsw: u64,
    /// Peak resident set size so far, KiB (not a difference).
    pub maxrss_kib: u64,
}

fn tv_ns(tv: libc::timeval) -> u64 {
    tv.tv_sec as u64 * 1_000_000_000 + tv.tv_usec as u64 * 1_000
}

/// Reads `getrusage(RUSAGE_SELF)`.
pub fn rusage() -> Rusage {
    // SAFETY: getrusage writes a plain C struct that we own and zeroed.
    let ru = unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut ru);
        ru
    };
    Rusage {
        user_ns: tv_ns(ru.ru_utime),
        sys_ns: tv_ns(ru.ru_stime),
        nvcsw: ru.ru_nvcsw as u64,
        nivcsw: ru.ru_nivcsw as u64,
        maxrss_kib: ru.ru_maxrss as u64,
    }
}

/// Wall clock and CPU from `start` to `stop`.
#[derive(Debug, Clone, Copy)]
pub struct Meter {
    started: Instant,
    ru: Rusage,
}

/// What a [`Meter`] measured.
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Wall time.
    pub wall: Duration,
    /// CPU and context switches used meanwhile.
    pub ru: Rusage,
}

/// With `BENCH_PERF_CTL` naming the control FIFO of a `perf record
/// --control fifo:PATH -D -1`, the measured part alone is profiled: the meter
/// enables the events when it starts and disables them when it stops.
fn perf_ctl(command: &str) {
    if let Some(path) = std::env::var_os("BENCH_PERF_CTL") {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = f.write_all(command.as_bytes());
        }
    }
}

impl Meter {
    /// Starts measuring.
    pub fn start() -> Meter {
        perf_ctl("enable\n");
        Meter {
            ru: rusage(),
            started: Instant::now(),
        }
    }

    /// Stops measuring.
    pub fn stop(self) -> Measured {
        let wall = self.started.elapsed();
        let ru = rusage();
        perf_ctl("disable\n");
        Measured {
            wall,
            ru: Rusage {
                user_ns: ru.user_ns.saturating_sub(self.ru.user_ns),
                sys_ns: ru.sys_ns.saturating_sub(self.ru.sys_ns),
                nvcsw: ru.nvcsw.saturating_sub(self.ru.nvcsw),
                nivcsw: ru.nivcsw.saturating_sub(self.ru.nivcsw),
                maxrss_kib: ru.maxrss_kib,
            },
        }
    }
}

/// The `p`-th percentile (0..=100) of sorted samples, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Round-trip samples of the latency scenario, in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies(pub Vec<u64>);

impl Latencies {
    /// Records one sample.
    pub fn push(&mut self, d: Duration) {
        self.0.push(d.as_nanos() as u64);
    }
}

/// The warm-up round trips of the latency scenario (not recorded).
pub fn latency_warmup(count: usize) -> usize {
    (count / 10).min(200)
}

/// The result line of one run.
#[derive(Debug, Clone)]
pub struct Report {
    /// Client (binary and mode), e.g. `lapin-inflight`.
    pub client: String,
    /// The arguments.
    pub args: Args,
    /// What was measured.
    pub measured: Measured,
    /// Latency samples (latency scenario only).
    pub latencies: Option<Latencies>,
    /// The frame_max the connection negotiated, when the client tells.
    pub frame_max: Option<u32>,
    /// What served the pre-fill, for the consume scenarios.
    pub prefill: Option<&'static str>,
}

impl Report {
    /// The one-line JSON result.
    pub fn to_json(&self) -> String {
        let n = self.args.count as f64;
        let m = &self.measured;
        let wall = m.wall.as_secs_f64();
        let mut s = String::new();
        let _ = write!(
            s,
            "{{\"client\":\"{}\",\"scenario\":\"{}\",\"size\":{},\"count\":{},\"ok\":true,\
             \"wall_s\":{:.4},\"msgs_per_s\":{:.0},\"user_ns_per_msg\":{:.0},\
             \"sys_ns_per_msg\":{:.0},\"cpu_ns_per_msg\":{:.0},\"vcsw_per_msg\":{:.3},\
             \"ivcsw_per_msg\":{:.3},\"max_rss_mib\":{:.1}",
            self.client,
            self.args.scenario.name(),
            self.args.size,
            self.args.count,
            wall,
            n / wall,
            m.ru.user_ns as f64 / n,
            m.ru.sys_ns as f64 / n,
            (m.ru.user_ns + m.ru.sys_ns) as f64 / n,
            m.ru.nvcsw as f64 / n,
            m.ru.nivcsw as f64 / n,
            m.ru.maxrss_kib as f64 / 1024.0,
        );
        if let Some(l) = &self.latencies {
            let mut v = l.0.clone();
            v.sort_unstable();
            let us = |ns: u64| ns as f64 / 1e3;
            let _ = write!(
                s,
                ",\"p50_us\":{:.1},\"p99_us\":{:.1},\"max_us\":{:.1}",
                us(percentile(&v, 50.0)),
                us(percentile(&v, 99.0)),
                us(v.last().copied().unwrap_or(0)),
            );
        }
        match self.frame_max {
            Some(f) => {
                let _ = write!(s, ",\"frame_max\":{f}");
            }
            None => s.push_str(",\"frame_max\":null"),
        }
        if let Some(p) = self.prefill {
            let _ = write!(s, ",\"prefill\":\"{p}\"");
        }
        s.push('}');
        s
    }
}

fn json_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Runs one scenario for a client binary: prints the JSON line, or on error
/// (or panic) a JSON line with `"ok":false`, deletes the queue with
/// `amqp-client` as a safety net, and exits non-zero.
pub fn main_for(client: &str, args: Args, run: impl FnOnce(&Args, &str) -> Result<Report, String>) {
    let queue = queue_name(client, args.scenario);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&args, &queue)))
        .unwrap_or_else(|p| {
            Err(p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "panic".to_owned()))
        });
    match result {
        Ok(report) => println!("{}", report.to_json()),
        Err(e) => {
            let cleanup = match delete_queue(&args.uri, &queue) {
                Ok(()) => String::new(),
                Err(c) => format!("; clean-up failed: {c}"),
            };
            println!(
                "{{\"client\":\"{client}\",\"scenario\":\"{}\",\"size\":{},\"count\":{},\"ok\":false,\"error\":\"{}\"}}",
                args.scenario.name(),
                args.size,
                args.count,
                json_escape(&format!("{e}{cleanup}"))
            );
            std::process::exit(1);
        }
    }
}

fn ours_connection(uri: &str, name: &str) -> Result<amqp_client::blocking::Connection, String> {
    let params = amqp_client::ConnectionParameters::from_uri(uri)
        .map_err(|e| e.to_string())?
        .with_frame_max(FRAME_MAX)
        .with_connection_name(name);
    amqp_client::blocking::Connection::open(params).map_err(|e| e.to_string())
}

/// What differs in the blocking API this file uses, between `amqp-client`
/// now and as of the `before` build.
mod api {
    use amqp_client::blocking::Channel;
    use amqp_client::Error;

    #[cfg(not(feature = "old-api"))]
    pub(crate) fn queue_delete(ch: &Channel, queue: &str) -> Result<u32, Error> {
        ch.queue_delete(queue, Default::default())
    }

    #[cfg(feature = "old-api")]
    pub(crate) fn queue_delete(ch: &Channel, queue: &str) -> Result<u32, Error> {
        ch.queue_delete(queue, false, false)
    }
}

/// Deletes `queue` (if it exists) on a fresh `amqp-client` connection.
pub fn delete_queue(uri: &str, queue: &str) -> Result<(), String> {
    let conn = ours_connection(uri, "bench clean-up")?;
    let ch = conn.channel().map_err(|e| e.to_string())?;
    api::queue_delete(&ch, queue).map_err(|e| e.to_string())?;
    conn.close().map_err(|e| e.to_string())
}

/// Pre-fills `queue` (which must exist) with `count` messages of `size`
/// bytes, with `amqp-client` on its own connection, confirms pipelined, and
/// closes that connection before returning. Not measured.
pub fn prefill(uri: &str, queue: &str, size: usize, count: usize) -> Result<(), String> {
    use amqp_client::blocking::Confirmation;
    use std::collections::VecDeque;
    let err = |e: amqp_client::Error| e.to_string();
    let conn = ours_connection(uri, "bench pre-fill")?;
    let ch = conn.channel().map_err(err)?;
    ch.confirm_delivery().map_err(err)?;
    let body = payload(size);
    let props = amqp_protocol::BasicProperties::default();
    let mut window: VecDeque<Confirmation> = VecDeque::with_capacity(CONFIRM_WINDOW);
    for _ in 0..count {
        if window.len() >= CONFIRM_WINDOW {
            if let Some(c) = window.pop_front() {
                c.wait(None).map_err(err)?;
            }
        }
        window.push_back(
            ch.publish_with_confirm("", queue, &body, &props, true)
                .map_err(err)?,
        );
    }
    for r in Confirmation::wait_all(window) {
        r.map_err(err)?;
    }
    let ok = ch
        .queue_declare(
            queue,
            amqp_client::blocking::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )
        .map_err(err)?;
    if (ok.message_count as usize) < count {
        return Err(format!(
            "pre-fill: {queue} holds {} messages, not {count}",
            ok.message_count
        ));
    }
    conn.close().map_err(err)
}

/// How long the `publish` scenario sleeps between two passive declares while
/// it waits for the queue to hold every message.
pub const POLL_INTERVAL: Duration = Duration::from_millis(1);

/// Gives up waiting for messages or confirms after this long.
pub const STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The ways an async client on tokio runs: the application's future in
/// `block_on` on a multi-thread runtime (the default), the same on a
/// current-thread runtime, or in a task spawned on a multi-thread runtime
/// (where the runtime's workers run it, as in a server).
pub const TOKIO_MODES: &[&str] = &["multi-thread", "current-thread", "spawned"];

/// The client's label for its mode: `name`, `name-ct` or `name-sp`.
pub fn tokio_label(name: &str, args: &Args) -> String {
    match args.mode.as_str() {
        "current-thread" => format!("{name}-ct"),
        "spawned" => format!("{name}-sp"),
        _ => name.to_owned(),
    }
}

/// The tokio runtime of an async client's run: multi-threaded (2 workers on
/// this machine, tokio's default) unless `--mode current-thread`.
pub fn tokio_runtime(args: &Args) -> Result<tokio::runtime::Runtime, String> {
    let mut builder = if args.mode == "current-thread" {
        tokio::runtime::Builder::new_current_thread()
    } else {
        tokio::runtime::Builder::new_multi_thread()
    };
    builder.enable_all().build().map_err(|e| e.to_string())
}

/// Runs an async client's scenario as its mode says: in `block_on`, or in a
/// spawned task that `block_on` awaits.
pub fn run_on<F, T>(rt: &tokio::runtime::Runtime, args: &Args, run: F) -> Result<T, String>
where
    F: std::future::Future<Output = Result<T, String>> + Send + 'static,
    T: Send + 'static,
{
    if args.mode == "spawned" {
        rt.block_on(async { tokio::spawn(run).await.map_err(|e| e.to_string())? })
    } else {
        rt.block_on(run)
    }
}
