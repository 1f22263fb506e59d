//! Support for tests against a RabbitMQ broker: where it is, unique names,
//! `rabbitmqctl`, and a relay that can stop forwarding to play a dead peer.
//! Tests that need the broker fail loudly when it is not there.
//!
//! The broker is the local one (`amqp://guest:guest@127.0.0.1:5672/%2f`)
//! unless `AMQP_TEST_URL` names another, and `rabbitmqctl` is run as
//! `AMQP_TEST_RABBITMQCTL` says (a command prefix split at spaces, such as
//! `docker exec rmq rabbitmqctl`), so that the suite can be pointed at a
//! broker in a container or on another machine.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream, ToSocketAddrs};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amqp_client::ConnectionParameters;

/// The broker's URI when `AMQP_TEST_URL` is not set.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// How long the broker may take to accept a connection and to answer the
/// protocol header.
const BROKER_TIMEOUT: Duration = Duration::from_secs(10);

/// How long a `rabbitmqctl` command may take.
const RABBITMQCTL_TIMEOUT: Duration = Duration::from_secs(30);

/// The broker's URI: `AMQP_TEST_URL`, or [`DEFAULT_URL`].
pub fn broker_url() -> String {
    match std::env::var("AMQP_TEST_URL") {
        Ok(url) if !url.trim().is_empty() => url.trim().to_owned(),
        _ => DEFAULT_URL.to_owned(),
    }
}

/// The broker's `host:port`, from [`broker_url`].
pub fn broker_addr() -> String {
    let url = broker_url();
    let p = ConnectionParameters::from_uri(&url)
        .unwrap_or_else(|e| panic!("AMQP_TEST_URL {url:?} is not an AMQP URI: {e}"));
    if p.host().contains(':') {
        format!("[{}]:{}", p.host(), p.port())
    } else {
        format!("{}:{}", p.host(), p.port())
    }
}

/// Whether the broker is on this machine (its host is a loopback address or
/// `localhost`).
pub fn broker_is_local() -> bool {
    let url = broker_url();
    let Ok(p) = ConnectionParameters::from_uri(&url) else {
        return false;
    };
    let host = p.host().trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Panics, giving `why`, when the suite is pointed at a broker on another
/// machine: for tests that change the whole broker or start a node of their
/// own beside it.
pub fn require_local_broker(why: &str) {
    assert!(
        broker_is_local(),
        "this test needs a RabbitMQ node on this machine ({why}), but AMQP_TEST_URL points at {}",
        broker_addr()
    );
}

/// Panics with instructions when the broker is not reachable, or accepts
/// connections but does not answer the protocol header in time (such a
/// server would otherwise hold every test until its own timeouts).
pub fn require_broker() {
    let addr = broker_addr();
    let hint = "start it with `rabbitmq-server -detached` (install: \
                `apt-get install -y rabbitmq-server`), or point AMQP_TEST_URL at one";
    let resolved: Vec<_> = addr
        .to_socket_addrs()
        .unwrap_or_else(|e| panic!("cannot resolve the broker's address {addr}: {e}"))
        .collect();
    let mut stream = None;
    let mut last_error = None;
    for a in &resolved {
        match TcpStream::connect_timeout(a, BROKER_TIMEOUT) {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last_error = Some(e),
        }
    }
    let Some(mut stream) = stream else {
        panic!(
            "RabbitMQ is not reachable on {addr} ({}); {hint}",
            last_error.map_or_else(|| "no address".to_owned(), |e| e.to_string())
        );
    };
    let answer = stream
        .set_read_timeout(Some(BROKER_TIMEOUT))
        .and_then(|()| stream.write_all(b"AMQP\x00\x00\x09\x01"))
        .and_then(|()| {
            let mut first = [0u8; 1];
            stream.read_exact(&mut first).map(|()| first[0])
        });
    match answer {
        // A method frame (connection.start) or the broker's own protocol
        // header when it speaks another version.
        Ok(1) | Ok(b'A') => {}
        Ok(other) => {
            panic!("{addr} answered the AMQP protocol header with byte {other}: not RabbitMQ?")
        }
        Err(e) => panic!(
            "{addr} accepts connections but did not answer the AMQP protocol header within \
             {BROKER_TIMEOUT:?} ({e}); {hint}"
        ),
    }
}

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "amqp-test.{prefix}.{}.{}.{nanos}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// Parameters for the broker, with a unique connection name.
///
/// Automatic recovery is off: the scenarios test how each failure is
/// reported. Those of recovery use [`recovering_params`].
pub fn params() -> ConnectionParameters {
    recovering_params().without_recovery()
}

/// [`params`] with automatic recovery on (its defaults).
pub fn recovering_params() -> ConnectionParameters {
    require_broker();
    let url = broker_url();
    ConnectionParameters::from_uri(&url)
        .unwrap_or_else(|e| panic!("AMQP_TEST_URL {url:?} is not an AMQP URI: {e}"))
        .with_connection_name(unique("conn"))
}

/// The `rabbitmqctl` command: `AMQP_TEST_RABBITMQCTL` split at spaces, or
/// `rabbitmqctl`.
pub fn rabbitmqctl_command() -> Vec<String> {
    let words: Vec<String> = std::env::var("AMQP_TEST_RABBITMQCTL")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if words.is_empty() {
        vec!["rabbitmqctl".to_owned()]
    } else {
        words
    }
}

/// Runs `rabbitmqctl` (see [`rabbitmqctl_command`]); panics when it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let command = rabbitmqctl_command();
    let mut cmd = Command::new(&command[0]);
    cmd.args(&command[1..]).args(args);
    let out = crate::process::run(&mut cmd, RABBITMQCTL_TIMEOUT)
        .unwrap_or_else(|e| panic!("cannot run {command:?} {args:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The broker-side pid of the connection with this `connection_name`, as
/// `rabbitmqctl close_connection` takes it.
pub fn connection_pid(name: &str) -> Option<String> {
    let needle = format!("{{\"connection_name\",\"{name}\"}}");
    rabbitmqctl(&["list_connections", "pid", "client_properties", "-q", "-s"])
        .lines()
        .find(|l| l.contains(&needle))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
}

/// The client's port of the connection with this `connection_name` (the
/// broker's peer port).
pub fn client_port(name: &str) -> Option<u16> {
    let needle = format!("{{\"connection_name\",\"{name}\"}}");
    rabbitmqctl(&[
        "list_connections",
        "peer_port",
        "client_properties",
        "-q",
        "-s",
    ])
    .lines()
    .find(|l| l.contains(&needle))
    .and_then(|l| l.split_whitespace().next())
    .and_then(|p| p.parse().ok())
}

/// What `ss -tno` shows of the client's socket on `port` (its timers:
/// `timer:(keepalive,59sec,0)` while keepalive runs).
pub fn client_socket_timers(port: u16) -> String {
    let filter = format!("( sport = :{port} )");
    let out = Command::new("ss")
        .args(["-tno", "state", "established", &filter])
        .output()
        .unwrap_or_else(|e| panic!("cannot run ss: {e}"));
    assert!(out.status.success(), "ss failed: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Names of the queues on the broker.
pub fn queue_names() -> Vec<String> {
    rabbitmqctl(&["list_queues", "name", "-q", "-s"])
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Names of the exchanges on the broker.
pub fn exchange_names() -> Vec<String> {
    rabbitmqctl(&["list_exchanges", "name", "-q", "-s"])
        .lines()
        .map(|l| l.trim().to_owned())
        .collect()
}

/// A TCP relay to the broker that can stop forwarding (both directions)
/// while keeping the sockets open: a peer that stops answering. It can also
/// stop reading what the client sends (the client's socket then fills up)
/// and read it again later. Clones control the same relay.
#[derive(Clone)]
pub struct Relay {
    /// The address to connect to instead of the broker.
    pub addr: std::net::SocketAddr,
    forwarding: Arc<AtomicBool>,
    reading: Arc<AtomicBool>,
}

impl Relay {
    /// Starts a relay for one connection to the broker.
    pub fn start() -> Relay {
        require_broker();
        Relay::start_to(broker_addr())
    }

    /// [`params`] for the broker through this relay.
    pub fn params(&self) -> ConnectionParameters {
        params()
            .with_host(self.addr.ip().to_string())
            .with_port(self.addr.port())
    }

    /// Starts a relay for one connection to `target` (another node's port).
    pub fn start_to(target: impl std::net::ToSocketAddrs + Send + 'static) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
        let addr = listener.local_addr().expect("relay address");
        let forwarding = Arc::new(AtomicBool::new(true));
        let reading = Arc::new(AtomicBool::new(true));
        let f = forwarding.clone();
        let r = reading.clone();
        std::thread::spawn(move || {
            let Ok((client, _)) = listener.accept() else {
                return;
            };
            let Ok(broker) = TcpStream::connect(target) else {
                return;
            };
            let pump = |mut from: TcpStream,
                        mut to: TcpStream,
                        f: Arc<AtomicBool>,
                        reading: Option<Arc<AtomicBool>>| {
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        while reading.as_ref().is_some_and(|r| !r.load(Ordering::SeqCst)) {
                            std::thread::sleep(std::time::Duration::from_millis(1));
                        }
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if f.load(Ordering::SeqCst) && to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            };
            let (c2, b2) = (
                client.try_clone().expect("clone"),
                broker.try_clone().expect("clone"),
            );
            pump(client, broker, f.clone(), Some(r));
            pump(b2, c2, f, None);
        });
        Relay {
            addr,
            forwarding,
            reading,
        }
    }

    /// Whether the relay reads what the client sends (it does at first).
    pub fn set_reading(&self, on: bool) {
        self.reading.store(on, Ordering::SeqCst);
    }

    /// From now on, bytes are swallowed in both directions.
    pub fn stop_forwarding(&self) {
        self.forwarding.store(false, Ordering::SeqCst);
    }
}
