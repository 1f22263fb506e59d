//! Support for tests against the local RabbitMQ (127.0.0.1:5672,
//! guest/guest): unique names, `rabbitmqctl`, and a relay that can stop
//! forwarding to play a dead peer. Tests that need the broker fail loudly
//! when it is not there.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amqp_client::ConnectionParameters;

/// Where the broker listens.
pub const BROKER: &str = "127.0.0.1:5672";

/// Panics with instructions when the broker is not reachable.
pub fn require_broker() {
    if let Err(e) =
        TcpStream::connect_timeout(&BROKER.parse().expect("address"), Duration::from_secs(3))
    {
        panic!(
            "RabbitMQ is not reachable on {BROKER} ({e}); start it with `rabbitmq-server -detached` \
             (install: `apt-get install -y rabbitmq-server`)"
        );
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

/// Parameters for the local broker, with a unique connection name.
pub fn params() -> ConnectionParameters {
    require_broker();
    ConnectionParameters::new()
        .with_host("127.0.0.1")
        .with_connection_name(unique("conn"))
}

/// Runs `rabbitmqctl`; panics when it fails.
pub fn rabbitmqctl(args: &[&str]) -> String {
    let out = Command::new("rabbitmqctl")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run rabbitmqctl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "rabbitmqctl {args:?} failed: {}{}",
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
        Relay::start_to(BROKER)
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
