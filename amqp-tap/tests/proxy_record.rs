//! What `amqp-tap proxy` records, against scripted upstreams: every reply
//! after its request (live output and both legs of the written pcap), a
//! reset as a reset, and memory that does not grow with message size.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::proxy::{temp_dir, upstream, wait_for, Proxy};

/// A method frame: channel.flow (`flow_ok` false) or channel.flow-ok.
fn flow_frame(channel: u16, ok: bool) -> [u8; 13] {
    let c = channel.to_be_bytes();
    [
        1,
        c[0],
        c[1],
        0,
        0,
        0,
        5,
        0,
        20,
        0,
        20 + u8::from(ok),
        1,
        0xce,
    ]
}

#[test]
fn every_reply_is_recorded_after_its_request() {
    // Thousands of sequential request/reply round trips with a scripted
    // upstream that answers at once: the reply comes back while the request's
    // forwarding thread may not have run again yet, so whatever records the
    // request after forwarding it records some replies first.
    const ROUNDS: u16 = 3000;
    let (addr, server) = upstream(|s| {
        let mut r = s.try_clone().unwrap();
        let mut w = s;
        let mut header = [0u8; 8];
        r.read_exact(&mut header).unwrap();
        let mut req = [0u8; 13];
        while r.read_exact(&mut req).is_ok() {
            let channel = u16::from_be_bytes([req[1], req[2]]);
            w.write_all(&flow_frame(channel, true)).unwrap();
        }
    });
    let dir = temp_dir("proxy-order");
    let out = dir.join("out.json");
    let pcap = dir.join("proxy.pcap");
    let proxy = Proxy::start(addr, &out, &["--json", "--write", pcap.to_str().unwrap()]);
    let mut c = TcpStream::connect(proxy.addr).unwrap();
    c.set_nodelay(true).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"AMQP\x00\x00\x09\x01").unwrap();
    for channel in 1..=ROUNDS {
        c.write_all(&flow_frame(channel, false)).unwrap();
        let mut reply = [0u8; 13];
        c.read_exact(&mut reply).unwrap();
        assert_eq!(reply, flow_frame(channel, true));
    }
    c.shutdown(Shutdown::Write).unwrap();
    server.join().unwrap();
    let last = format!("\"channel\":{ROUNDS},\"type\":\"method\",\"class_id\":20,\"method_id\":21");
    let text = wait_for(&out, &last);
    let front = proxy.addr;
    drop(proxy);
    let check = |what: &str, frames: Vec<serde_json::Value>| {
        let frames: Vec<_> = frames
            .into_iter()
            .filter(|o| o["type"] == "method")
            .collect();
        assert_eq!(frames.len(), 2 * usize::from(ROUNDS), "{what}: frames");
        let mut last_ts = 0.0;
        for (i, pair) in frames.chunks(2).enumerate() {
            let channel = i + 1;
            let (req, reply) = (&pair[0], &pair[1]);
            assert!(
                req["dir"] == "c2s" && req["method"] == "channel.flow" && req["channel"] == channel,
                "{what}: round trip {channel}: expected the request, recorded {req} (then {reply})"
            );
            assert!(
                reply["dir"] == "s2c"
                    && reply["method"] == "channel.flow-ok"
                    && reply["channel"] == channel,
                "{what}: round trip {channel}: expected the reply, recorded {reply}"
            );
            let (t0, t1) = (req["ts"].as_f64().unwrap(), reply["ts"].as_f64().unwrap());
            assert!(
                last_ts <= t0 && t0 <= t1,
                "{what}: round trip {channel}: request at {t0}, reply at {t1}, previous at {last_ts}"
            );
            last_ts = t1;
        }
    };
    check(
        "live output",
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    );
    // The written pcap, each leg: the client's, to the proxy's listening
    // port, and the upstream one.
    let written = common::tap_json(&pcap, &["--port", &front.port().to_string()]);
    for (leg, server) in [("client leg", front), ("upstream leg", addr)] {
        let server = server.to_string();
        let frames = written
            .iter()
            .filter(|o| o["conn"]["server"] == server.as_str())
            .cloned()
            .collect();
        check(&format!("written pcap, {leg}"), frames);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_reset_is_written_as_a_reset() {
    // The upstream closes with unread bytes, which resets the connection:
    // the written pcap shows that reset on the upstream leg and the proxy's
    // FIN to the client (it closes the client's socket), and no FIN from
    // the upstream, which never sent one.
    let (addr, server) = upstream(|mut s| {
        let mut header = [0u8; 8];
        s.read_exact(&mut header).unwrap();
        thread::sleep(Duration::from_millis(300));
        drop(s); // with the client's other bytes unread
    });
    let dir = temp_dir("proxy-reset");
    let pcap = dir.join("proxy.pcap");
    let proxy = Proxy::start(
        addr,
        &dir.join("out.txt"),
        &["--write", pcap.to_str().unwrap()],
    );
    let mut c = TcpStream::connect(proxy.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(b"AMQP\x00\x00\x09\x01").unwrap();
    c.write_all(&[8, 0, 0, 0, 0, 0, 0, 0xce]).unwrap();
    server.join().unwrap();
    let mut rest = Vec::new();
    c.read_to_end(&mut rest).unwrap();
    assert!(rest.is_empty());
    let (client_port, front_port, up_port) = (
        c.local_addr().unwrap().port().to_string(),
        proxy.addr.port().to_string(),
        addr.port().to_string(),
    );
    // (source, destination, reset) of every FIN and RST, once the proxy
    // wrote them.
    let start = Instant::now();
    let rows = loop {
        let out = Command::new("tshark")
            .arg("-r")
            .arg(&pcap)
            .args([
                "-Y",
                "tcp.flags.reset==1 || tcp.flags.fin==1",
                "-T",
                "fields",
            ])
            .args([
                "-e",
                "tcp.srcport",
                "-e",
                "tcp.dstport",
                "-e",
                "tcp.flags.reset",
            ])
            .output()
            .unwrap();
        let rows: Vec<(String, String, bool)> = String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let field = |i: usize| f.get(i).copied().unwrap_or("").to_owned();
                (
                    field(0),
                    field(1),
                    matches!(f.get(2), Some(&("1" | "True"))),
                )
            })
            .collect();
        if rows.len() >= 2 || start.elapsed() > Duration::from_secs(10) {
            break rows;
        }
        thread::sleep(Duration::from_millis(50));
    };
    drop(proxy);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(
        rows[0].0, up_port,
        "the reset comes from the upstream: {rows:?}"
    );
    assert!(rows[0].2, "the upstream's end is a reset: {rows:?}");
    assert_eq!(
        rows[1],
        (front_port, client_port, false),
        "then the proxy's FIN to the client"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_proxys_memory_does_not_grow_with_message_size() {
    // A 256 MiB message through the proxy: it keeps the start of each body
    // only, so its peak memory stays bounded by what waits for decoding
    // (at most 64 MiB, taken in batches) rather than by the message.
    const SIZE: u64 = 256 << 20;
    const FRAME: usize = 128 << 10;
    let (addr, server) = upstream(|mut s| {
        let n = std::io::copy(&mut s, &mut std::io::sink()).unwrap();
        assert!(n > SIZE, "the upstream got {n} bytes");
    });
    let dir = temp_dir("proxy-memory");
    let out = dir.join("out.txt");
    let proxy = Proxy::start(addr, &out, &[]);
    let mut c = TcpStream::connect(proxy.addr).unwrap();
    let mut head = b"AMQP\x00\x00\x09\x01".to_vec();
    // basic.publish, then a header declaring SIZE bytes.
    head.extend_from_slice(&[1, 0, 1, 0, 0, 0, 9, 0, 60, 0, 40, 0, 0, 0, 0, 0, 0xce]);
    head.extend_from_slice(&[2, 0, 1, 0, 0, 0, 14, 0, 60, 0, 0]);
    head.extend_from_slice(&SIZE.to_be_bytes());
    head.extend_from_slice(&[0, 0, 0xce]);
    c.write_all(&head).unwrap();
    let mut frame = vec![3, 0, 1];
    frame.extend_from_slice(&(FRAME as u32).to_be_bytes());
    frame.extend((0..FRAME).map(|i| b'a' + (i % 26) as u8));
    frame.push(0xce);
    for _ in 0..SIZE / FRAME as u64 {
        c.write_all(&frame).unwrap();
    }
    c.shutdown(Shutdown::Write).unwrap();
    server.join().unwrap();
    let text = wait_for(&out, " message basic.publish ");
    let status = std::fs::read_to_string(format!("/proc/{}/status", proxy.child.id())).unwrap();
    let peak: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .expect("VmHWM in /proc");
    drop(proxy);
    assert!(
        text.contains(&format!(
            "| body {SIZE} bytes: \"abcdefghijklmnopqrstuvwxyz"
        )),
        "{}",
        text.lines()
            .find(|l| l.contains(" message "))
            .unwrap_or_default()
    );
    assert!(
        peak < 192 << 10,
        "the proxy's peak resident memory was {peak} KiB for a {} MiB message",
        SIZE >> 20
    );
    let _ = std::fs::remove_dir_all(&dir);
}
