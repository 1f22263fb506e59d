//! `amqp-tap proxy`: real clients (rabbitmq-c's amqp-tools) talk to the local
//! RabbitMQ through it while tshark records both legs on the loopback
//! interface; the bytes of the two legs must be identical in both directions.
//! Also: its live output, its pcap, closing, and undecodable bytes, against a
//! scripted upstream.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::proxy::{temp_dir, upstream, wait_for, Proxy};
use common::{require_tshark, tshark_frames, tshark_json};

const BROKER: &str = "127.0.0.1:5672";

fn require_broker() {
    if let Err(e) = TcpStream::connect_timeout(&BROKER.parse().unwrap(), Duration::from_secs(3)) {
        panic!(
            "RabbitMQ is not reachable on {BROKER} ({e}); start it with `rabbitmq-server -detached` \
             (install: `apt-get install -y rabbitmq-server`)"
        );
    }
}

fn require_amqp_tools() {
    if Command::new("amqp-publish").arg("--help").output().is_err() {
        panic!("amqp-tools (rabbitmq-c's amqp-publish, amqp-get) are required: `apt-get install -y amqp-tools` (.ci/run does)");
    }
}

/// A plain TCP relay to `target`, independent of the code under test: it
/// gives the proxy's upstream leg a port of its own, so that the capture
/// filter keeps out whatever else talks to the broker.
fn relay(target: &'static str) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    thread::spawn(move || {
        for c in l.incoming().flatten() {
            let Ok(s) = TcpStream::connect(target) else {
                continue;
            };
            for (mut a, mut b) in [(c.try_clone().unwrap(), s.try_clone().unwrap()), (s, c)] {
                thread::spawn(move || {
                    let _ = std::io::copy(&mut a, &mut b);
                    let _ = b.shutdown(Shutdown::Write);
                });
            }
        }
    });
    addr
}

/// tshark capturing the loopback interface, stopped on drop.
struct Capture {
    child: Child,
    file: PathBuf,
}

impl Capture {
    fn start(filter: &str, file: PathBuf) -> Capture {
        require_tshark();
        let mut child = Command::new("tshark")
            .args(["-i", "lo", "-B", "64", "-f", filter, "-w"])
            .arg(&file)
            .stderr(Stdio::piped())
            .spawn()
            .expect("start tshark");
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut line = String::new();
        loop {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                panic!("tshark stopped before capturing (root is needed to capture)");
            }
            if line.contains("Capturing on") {
                break;
            }
        }
        // "Capturing on" comes a little before the first packets are.
        thread::sleep(Duration::from_millis(500));
        // Keep reading stderr so that tshark never blocks on it.
        thread::spawn(move || {
            let mut rest = String::new();
            let _ = err.read_to_string(&mut rest);
            if rest.contains("dropped") {
                eprintln!("tshark: {rest}");
            }
        });
        Capture { child, file }
    }

    fn stop(mut self) -> PathBuf {
        // SIGTERM lets tshark finish the file.
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
        self.file.clone()
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP stream: its two endpoints (as tshark names them) and the bytes
/// each sent.
type Stream = ((String, String), (Vec<u8>, Vec<u8>));

/// Each TCP stream of a capture, reassembled by tshark (`-z follow,tcp,raw`,
/// all streams in one run).
fn streams(file: &Path) -> Vec<Stream> {
    let f = file.to_str().unwrap();
    let ids = run("tshark", &["-r", f, "-T", "fields", "-e", "tcp.stream"]);
    let ids: std::collections::BTreeSet<u32> =
        ids.lines().filter_map(|l| l.trim().parse().ok()).collect();
    let mut args = vec!["-r".to_owned(), f.to_owned(), "-q".to_owned()];
    for id in &ids {
        args.push("-z".to_owned());
        args.push(format!("follow,tcp,raw,{id}"));
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run("tshark", &args);
    let mut all = Vec::new();
    let mut nodes: Vec<String> = Vec::new();
    let (mut first, mut second) = (Vec::new(), Vec::new());
    for line in out.lines() {
        if let Some(n) = line
            .strip_prefix("Node 0: ")
            .or_else(|| line.strip_prefix("Node 1: "))
        {
            nodes.push(n.to_owned());
        } else if line.starts_with("=====") {
            if nodes.len() == 2 {
                all.push((
                    (nodes[0].clone(), nodes[1].clone()),
                    (std::mem::take(&mut first), std::mem::take(&mut second)),
                ));
            }
            nodes.clear();
        } else if line.contains(':') || line.is_empty() {
            continue;
        } else if let Some(hex) = line.strip_prefix('\t') {
            second.extend(unhex(hex));
        } else {
            first.extend(unhex(line));
        }
    }
    assert_eq!(all.len(), ids.len(), "streams of {f}");
    all
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

#[test]
fn real_clients_through_the_proxy_see_identical_bytes_on_both_legs() {
    require_broker();
    require_amqp_tools();
    require_tshark();
    let dir = temp_dir("proxy-live");
    let upstream = relay(BROKER);
    let out = dir.join("out.txt");
    let written = dir.join("written.pcap");
    let proxy = Proxy::start(upstream, &out, &["--write", written.to_str().unwrap()]);
    let capture = Capture::start(
        &format!(
            "tcp port {} or tcp port {}",
            proxy.addr.port(),
            upstream.port()
        ),
        dir.join("legs.pcapng"),
    );

    let url = format!("amqp://guest:guest@{}", proxy.addr);
    let queue = format!("amqp-tap.proxy-test.{}", std::process::id());
    run("amqp-declare-queue", &["-u", &url, "-q", &queue]);
    // Several connections at once.
    let publishers: Vec<_> = (0..4)
        .map(|i| {
            Command::new("amqp-publish")
                .args([
                    "-u",
                    &url,
                    "-r",
                    &queue,
                    "-C",
                    "text/plain",
                    "-H",
                    "x-n: 1",
                    "-b",
                ])
                .arg(format!("hello {i}"))
                .spawn()
                .unwrap()
        })
        .collect();
    for mut p in publishers {
        assert!(p.wait().unwrap().success());
    }
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(run("amqp-get", &["-u", &url, "-q", &queue]));
    }
    run("amqp-delete-queue", &["-u", &url, "-q", &queue]);
    got.sort();
    assert_eq!(got, ["hello 0", "hello 1", "hello 2", "hello 3"]);
    // Let the closing handshakes reach the capture.
    thread::sleep(Duration::from_millis(500));
    let legs = capture.stop();
    let proxy_port = proxy.addr.port();
    drop(proxy);

    // The independent capture: every client-side stream has an upstream
    // stream with the same bytes in both directions.
    let all = streams(&legs);
    let port = |node: &str| node.rsplit(':').next().unwrap().parse::<u16>().unwrap();
    let (front, back): (Vec<_>, Vec<_>) = all
        .iter()
        .partition(|((_, server), _)| port(server) == proxy_port);
    assert_eq!(
        front.len(),
        10,
        "client connections: {:?}",
        all.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    assert_eq!(back.len(), front.len());
    for ((client, _), (c2s, s2c)) in &front {
        assert!(c2s.starts_with(b"AMQP\x00\x00\x09\x01"), "{client}");
        let twin = back
            .iter()
            .find(|(_, (up, down))| up == c2s && down == s2c)
            .unwrap_or_else(|| panic!("no upstream stream carries the same bytes as {client}'s"));
        assert!(!twin.1 .1.is_empty());
    }

    // The live text output saw every connection and every message.
    let text = std::fs::read_to_string(&out).unwrap();
    assert_eq!(
        text.matches("protocol-header AMQP 0-0-9-1").count(),
        10,
        "{text}"
    );
    assert_eq!(
        text.matches("c2s ch=1 message basic.publish").count(),
        4,
        "{text}"
    );
    assert_eq!(
        text.matches("s2c ch=1 message basic.get-ok").count(),
        4,
        "{text}"
    );
    assert!(!text.contains(" error "), "{text}");

    // The pcap it wrote: both legs with their real endpoints, decoded by
    // tshark to the same frames as the independent capture.
    let mine = streams(&written);
    let ends = |s: &[Stream]| {
        s.iter()
            .map(|(e, _)| e.clone())
            .collect::<std::collections::BTreeSet<_>>()
    };
    assert_eq!(ends(&mine), ends(&all));
    let decode_as = format!("tcp.port=={proxy_port},amqp");
    let decode_opts = ["-d", decode_as.as_str()];
    let theirs = tshark_frames(&tshark_json(&legs, &decode_opts), upstream.port());
    let ours = tshark_frames(&tshark_json(&written, &decode_opts), upstream.port());
    let count = |v: &[(u64, common::FrameKey)]| {
        let mut m = BTreeMap::new();
        for (_, k) in v {
            *m.entry(format!("{k:?}")).or_insert(0) += 1;
        }
        m
    };
    assert!(!ours.is_empty());
    assert_eq!(count(&ours), count(&theirs));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A scripted upstream that echoes what it reads, `chunk` bytes at a time,
/// pausing `pause` after each, and half-closes when the client does.
fn echo_upstream(chunk: usize, pause: Duration) -> (SocketAddr, thread::JoinHandle<()>) {
    upstream(move |s| {
        let mut r = s.try_clone().unwrap();
        let mut w = s;
        let mut buf = vec![0u8; chunk];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            w.write_all(&buf[..n]).unwrap();
            if !pause.is_zero() {
                thread::sleep(pause);
            }
        }
        let _ = w.shutdown(Shutdown::Write);
    })
}

#[test]
fn undecodable_bytes_are_forwarded_unchanged_and_logged() {
    let garbage: Vec<u8> = b"AMQP\x00\x00\x09\x01"
        .iter()
        .copied()
        .chain([1, 0, 1, 0, 0, 0, 3, 0xff, 0xff, 0xff, 0x00])
        .chain((0..=255u8).cycle().take(5000))
        .collect();
    let expected = garbage.clone();
    let (addr, server) = upstream(move |mut s| {
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap(); // until the client's FIN comes through
        assert_eq!(got, expected);
        s.write_all(b"bye").unwrap();
    });
    let dir = temp_dir("proxy-garbage");
    let out = dir.join("out.txt");
    let proxy = Proxy::start(addr, &out, &[]);
    let mut c = TcpStream::connect(proxy.addr).unwrap();
    c.write_all(&garbage).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap(); // the server's close comes through too
    assert_eq!(back, b"bye");
    server.join().unwrap();
    let text = wait_for(&out, "error");
    assert!(text.contains("c2s protocol-header"), "{text}");
    assert!(
        text.contains("c2s ch=1 error frame: frame end octet is 0x00, not 0xce"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn closing_either_side_closes_the_other() {
    // The server closes first: the client sees the end of the stream.
    let (addr, server) = upstream(|mut s| {
        s.write_all(&[8, 0, 0, 0, 0, 0, 0, 0xce]).unwrap();
    });
    let dir = temp_dir("proxy-close");
    let out = dir.join("out.txt");
    let proxy = Proxy::start(addr, &out, &["--json"]);
    let mut c = TcpStream::connect(proxy.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut got = Vec::new();
    c.read_to_end(&mut got).unwrap();
    assert_eq!(got, [8, 0, 0, 0, 0, 0, 0, 0xce]);
    server.join().unwrap();
    // Writing after the far side is gone fails rather than hanging.
    let start = Instant::now();
    while c.write_all(b"AMQP").is_ok() && start.elapsed() < Duration::from_secs(5) {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the client side stayed open"
    );
    // The live JSON output: one heartbeat, with the real endpoints.
    let text = wait_for(&out, "heartbeat");
    let o: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(o["type"], "heartbeat");
    assert_eq!(o["dir"], "s2c");
    assert_eq!(o["conn"]["server"], addr.to_string());
    assert_eq!(o["conn"]["client"], c.local_addr().unwrap().to_string());
    assert!(o["ts"].is_number() && o.get("pkt").is_none());
    drop(proxy);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn spinning_forwarders_pass_bulk_traffic_unchanged_both_ways() {
    // An echo upstream: with --spin-us both forwarding threads switch their
    // sockets between blocking and polling while the other direction
    // writes through the same sockets, under enough traffic to fill them.
    // It reads slowly, so that the proxy's writes to it fill the socket
    // while the other direction keeps polling that same socket.
    let (up, server) = echo_upstream(16 * 1024, Duration::from_micros(200));
    let dir = temp_dir("spin");
    let proxy = Proxy::start(up, &dir.join("out.txt"), &["--spin-us", "200"]);
    let mut client = TcpStream::connect(proxy.addr).unwrap();
    let sent: Vec<u8> = (0..8u32 << 20)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let mut w = client.try_clone().unwrap();
    let to_send = sent.clone();
    let writer = thread::spawn(move || {
        // Small and large writes, with pauses, so that reads alternate
        // between polling and blocking.
        let mut rest = &to_send[..];
        let mut k = 0usize;
        while !rest.is_empty() {
            let n = [100, 70_000, 3, 1 << 20][k % 4].min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
            if k.is_multiple_of(7) {
                thread::sleep(Duration::from_micros(300));
            }
            k += 1;
        }
        w.shutdown(Shutdown::Write).unwrap();
    });
    let mut got = Vec::with_capacity(sent.len());
    client.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    server.join().unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "the echoed bytes differ");
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn coalescing_forwarders_pass_bulk_unchanged_and_keep_round_trips_prompt() {
    // An echo upstream, through the proxy with its defaults (bulk reads
    // coalesce): megabytes of bulk both ways, then small round trips, which
    // must not wait for a batch that never comes.
    let (up, server) = echo_upstream(64 * 1024, Duration::ZERO);
    let dir = temp_dir("coalesce");
    let proxy = Proxy::start(up, &dir.join("out.txt"), &[]);
    let mut client = TcpStream::connect(proxy.addr).unwrap();
    client.set_nodelay(true).unwrap();
    client
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    // AMQP-framed bulk (body frames of 20 to 1000 bytes), as coalescing
    // only engages for reads of many frames.
    let mut sent = Vec::with_capacity(5 << 20);
    let mut x = 0x2545_f491_u32;
    while sent.len() < 4 << 20 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let size = 20 + (x % 981);
        sent.extend_from_slice(&[3, 0, 1]);
        sent.extend_from_slice(&size.to_be_bytes());
        sent.extend((0..size).map(|i| (i.wrapping_mul(x) >> 24) as u8));
        sent.push(0xce);
    }
    let mut w = client.try_clone().unwrap();
    let to_send = sent.clone();
    let writer = thread::spawn(move || {
        let mut rest = &to_send[..];
        let mut k = 0usize;
        while !rest.is_empty() {
            let n = [100, 70_000, 3, 300_000, 9000][k % 5].min(rest.len());
            w.write_all(&rest[..n]).unwrap();
            rest = &rest[n..];
            k += 1;
        }
    });
    let mut got = vec![0u8; sent.len()];
    client.read_exact(&mut got).unwrap();
    writer.join().unwrap();
    assert!(got == sent, "the echoed bytes differ");
    let mut slowest = Duration::ZERO;
    for i in 0..20u8 {
        let t0 = Instant::now();
        client.write_all(&[i; 100]).unwrap();
        let mut back = [0u8; 100];
        client.read_exact(&mut back).unwrap();
        slowest = slowest.max(t0.elapsed());
        assert_eq!(back, [i; 100]);
    }
    // Each round trip is well under a millisecond here; a read left
    // waiting for a low-water mark would hang until the 10 s timeout.
    assert!(
        slowest < Duration::from_millis(100),
        "a round trip after bulk traffic took {slowest:?}"
    );
    client.shutdown(Shutdown::Write).unwrap();
    server.join().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

/// The `rtt` example (built with the tests): a client on `amqp-protocol`.
fn rtt_example() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/proxy-<hash> -> target/<profile>/examples/rtt
    let dir = exe.parent().and_then(Path::parent).unwrap();
    let rtt = dir.join("examples").join("rtt");
    assert!(rtt.exists(), "{} not built", rtt.display());
    rtt
}

#[test]
fn a_deep_confirm_pipeline_gets_every_confirm_through() {
    // 20 000 publishes with 1000 awaiting confirms at any time, through the
    // proxy with its defaults: the broker's confirms are then read once a
    // millisecond. Every confirm arrives (the client counts them up to the
    // last delivery tag) and the decoder saw every publish settled.
    require_broker();
    let dir = temp_dir("deep-confirms");
    let out = dir.join("out.txt");
    let proxy = Proxy::start("127.0.0.1:5672".parse().unwrap(), &out, &[]);
    let mut client = Command::new(rtt_example())
        .args([&proxy.addr.to_string(), "throughput", "20000"])
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    let status = loop {
        if let Some(status) = client.try_wait().unwrap() {
            break status;
        }
        // Well under a second when confirms flow; far longer only if
        // confirms are held back for good, or for seconds at a time.
        if start.elapsed() > Duration::from_secs(20) {
            let _ = client.kill();
            panic!("the publisher's confirms stopped coming, or came too slowly");
        }
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status:?}");
    // The broker's last confirm, as the decoder shows it.
    let text = wait_for(&out, "s2c ch=1 method basic.ack delivery-tag=20000 ");
    drop(proxy);
    assert_eq!(
        text.matches("c2s ch=1 method basic.publish ").count(),
        20000,
        "publishes seen"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
