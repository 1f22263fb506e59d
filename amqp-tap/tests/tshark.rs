//! `decode --json` against Wireshark's AMQP dissector (tshark): for every
//! capture, the same frames in the same order, each in the same packet, with
//! the same direction, channel, frame type and method ids; and the same
//! pairing of publishes with the broker's acks and nacks.

#![allow(clippy::unwrap_used)]

mod common;

use std::collections::BTreeMap;

use common::{capture, tap_frames, tap_json, tshark_frames, tshark_json, FrameKey};

/// Compares the whole frame sequences of `name`.
fn same_frames(name: &str, tshark_opts: &[&str]) -> usize {
    let file = capture(name);
    let ours = tap_frames(&tap_json(&file, &[]));
    let theirs = tshark_frames(&tshark_json(&file, tshark_opts), 5672);
    assert!(!ours.is_empty(), "{name}: no frames decoded");
    if ours != theirs {
        let n = ours.iter().zip(&theirs).take_while(|(a, b)| a == b).count();
        panic!(
            "{name}: the frame sequences differ at frame {n} ({} decoded by amqp-tap, {} by tshark):\n  amqp-tap: {:?}\n  tshark:   {:?}",
            ours.len(),
            theirs.len(),
            &ours[n..(n + 3).min(ours.len())],
            &theirs[n..(n + 3).min(theirs.len())]
        );
    }
    ours.len()
}

#[test]
fn live_sessions_match_tshark() {
    let n = same_frames("live.pcapng", &[]);
    assert!(n > 300, "{n} frames");
    // Two connections, interleaved.
    let clients: std::collections::BTreeSet<String> = tap_json(&capture("live.pcapng"), &[])
        .iter()
        .map(|o| o["conn"]["client"].to_string())
        .collect();
    assert_eq!(clients.len(), 2, "{clients:?}");
}

#[test]
fn reordered_and_retransmitted_segments_match_tshark() {
    same_frames("reorder.pcap", &["-o", "tcp.reassemble_out_of_order:TRUE"]);
}

#[test]
fn ipv6_pcapng_matches_tshark() {
    same_frames("ipv6.pcapng", &[]);
}

#[test]
fn linux_cooked_capture_matches_tshark() {
    same_frames("sll.pcap", &[]);
}

#[test]
fn bsd_loopback_capture_matches_tshark() {
    same_frames("loopback.pcap", &[]);
}

#[test]
fn raw_ip_capture_matches_tshark() {
    same_frames("rawip.pcap", &[]);
}

/// A capture that starts mid-connection: from the first frame both tools
/// agree on, each direction's frames are the same.
#[test]
fn mid_stream_capture_matches_tshark_from_the_first_common_frame() {
    let file = capture("midstream.pcap");
    let objects = tap_json(&file, &[]);
    let notices: Vec<_> = objects.iter().filter(|o| o["type"] == "resync").collect();
    assert!(
        notices.iter().any(|o| o["reason"] == "mid-stream"
            && o["dir"] == "c2s"
            && o["skipped"].as_u64() > Some(0)),
        "no mid-stream resync notice: {notices:?}"
    );
    let ours = tap_frames(&objects);
    let theirs = tshark_frames(&tshark_json(&file, &[]), 5672);
    for dir in ["c2s", "s2c"] {
        let o: Vec<_> = ours.iter().filter(|(_, k)| k.dir == dir).collect();
        let t: Vec<_> = theirs.iter().filter(|(_, k)| k.dir == dir).collect();
        let start = t.iter().position(|f| *f == o[0]).unwrap_or_else(|| {
            panic!(
                "{dir}: tshark never shows amqp-tap's first frame {:?}",
                o[0]
            )
        });
        assert_eq!(
            o,
            &t[start..],
            "{dir}: the sequences differ after the first common frame"
        );
        assert!(o.len() > 5, "{dir}: {} frames", o.len());
    }
}

/// Publishes paired with the broker's basic.ack / basic.nack: amqp-tap's
/// sequence numbers against tshark's `amqp.message_in` (the packets of the
/// publishes each ack or nack settles). Returns (acks and nacks, nacks, acks
/// settling several publishes).
fn same_confirm_pairing(name: &str, tshark_opts: &[&str]) -> (usize, usize, usize) {
    let file = capture(name);
    let objects = tap_json(&file, &[]);
    // (client, channel, seq) -> packet of the publish
    let mut published = BTreeMap::new();
    let mut ours = Vec::new();
    for o in &objects {
        let key = |seq: u64| {
            (
                o["conn"]["client"].to_string(),
                o["channel"].as_u64().unwrap(),
                seq,
            )
        };
        if let Some(seq) = o["confirm_seq"].as_u64() {
            published.insert(key(seq), o["pkt"].as_u64().unwrap());
        }
        if let Some(settled) = o["confirms"].as_array() {
            let mut pkts: Vec<u64> = settled
                .iter()
                .map(|s| published[&key(s.as_u64().unwrap())])
                .collect();
            pkts.sort_unstable();
            ours.push((
                o["pkt"].as_u64().unwrap(),
                o["method"].as_str().unwrap().to_owned(),
                pkts,
            ));
        }
    }
    let mut theirs = Vec::new();
    for p in tshark_json(&file, tshark_opts) {
        let layers = &p["_source"]["layers"];
        let pkt: u64 = layers["frame"]["frame.number"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        if layers["tcp"]["tcp.srcport"] != "5672" {
            continue;
        }
        let amqp = match &layers["amqp"] {
            serde_json::Value::Array(a) => a.clone(),
            other => vec![other.clone()],
        };
        for a in amqp {
            let method = match (
                a["amqp.method.class"].as_str(),
                a["amqp.method.method"].as_str(),
            ) {
                (Some("60"), Some("80")) => "basic.ack",
                (Some("60"), Some("120")) => "basic.nack",
                _ => continue,
            };
            let mut pkts: Vec<u64> = match &a["amqp.message_in"] {
                serde_json::Value::String(s) => vec![s.parse().unwrap()],
                serde_json::Value::Array(v) => v
                    .iter()
                    .map(|s| s.as_str().unwrap().parse().unwrap())
                    .collect(),
                _ => Vec::new(),
            };
            pkts.sort_unstable();
            theirs.push((pkt, method.to_owned(), pkts));
        }
    }
    assert_eq!(ours, theirs, "{name}");
    let nacks = ours.iter().filter(|(_, m, _)| m == "basic.nack").count();
    let multiple = ours.iter().filter(|(_, _, p)| p.len() > 1).count();
    (ours.len(), nacks, multiple)
}

#[test]
fn confirm_pairing_matches_tsharks_message_in() {
    let (settles, nacks, multiple) = same_confirm_pairing("live.pcapng", &[]);
    assert!(
        settles > 10 && nacks >= 2 && multiple >= 1,
        "{settles} {nacks} {multiple}"
    );
    let (_, nacks, _) = same_confirm_pairing("rawip.pcap", &[]);
    assert_eq!(nacks, 1);
    let (_, _, multiple) =
        same_confirm_pairing("reorder.pcap", &["-o", "tcp.reassemble_out_of_order:TRUE"]);
    assert_eq!(multiple, 2);
    same_confirm_pairing("ipv6.pcapng", &[]);
}

#[test]
fn frame_keys_print_readably() {
    // Keeps the helper's Debug output (used in failure messages) meaningful.
    let k = FrameKey {
        dir: "c2s".into(),
        channel: 1,
        frame_type: 1,
        method: Some((60, 40)),
    };
    assert!(format!("{k:?}").contains("60, 40"));
}

#[test]
fn written_connections_reusing_a_client_port_decode_in_full() {
    // What the proxy writes for two connections from the same client port,
    // one after the other: the second must not look like a retransmission
    // of the first (same initial sequence numbers did), and its reset by
    // the server must show as one.
    use amqp_tap::pcap_out::{PcapWriter, TcpLeg};
    use amqp_tap::Ts;
    let dir = std::env::temp_dir().join(format!("amqp-tap-reuse-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("reuse.pcap");
    let mut w = PcapWriter::new(std::fs::File::create(&file).unwrap()).unwrap();
    let client = "127.0.0.1:40000".parse().unwrap();
    let server = "127.0.0.1:5673".parse().unwrap();
    let mut heartbeat = Vec::new();
    amqp_protocol::Frame::heartbeat().encode(&mut heartbeat);
    for id in [1u64, 2] {
        let ts = Ts {
            secs: 1_700_000_000,
            nanos: (id as u32) * 10_000_000,
            nano_precision: false,
        };
        let mut leg = TcpLeg::new(client, server, ts, id);
        leg.handshake(&mut w, ts).unwrap();
        leg.data(&mut w, ts, true, b"AMQP\x00\x00\x09\x01").unwrap();
        leg.data(&mut w, ts, false, &heartbeat).unwrap();
        leg.data(&mut w, ts, true, &heartbeat).unwrap();
        if id == 1 {
            leg.fin(&mut w, ts, true).unwrap();
            leg.fin(&mut w, ts, false).unwrap();
        } else {
            leg.rst(&mut w, ts, false).unwrap();
            // Nothing follows a reset.
            leg.fin(&mut w, ts, true).unwrap();
            leg.data(&mut w, ts, true, &heartbeat).unwrap();
        }
    }
    w.flush().unwrap();
    drop(w);
    let theirs = tshark_frames(&tshark_json(&file, &["-d", "tcp.port==5673,amqp"]), 5673);
    let ours = tap_frames(&tap_json(&file, &["--port", "5673"]));
    assert_eq!(theirs.len(), 4, "tshark decoded {theirs:?}");
    assert_eq!(ours, theirs);
    let out = std::process::Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-Y", "tcp.flags.reset==1 || tcp.flags.fin==1"])
        .args(["-T", "fields", "-e", "tcp.srcport", "-e", "tcp.flags.reset"])
        .args(["-e", "tcp.stream", "-e", "tcp.analysis.retransmission"])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    // (source port, reset, stream, retransmission); tshark versions say a
    // flag as 1 or True.
    let rows: Vec<(String, bool, String, String)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let field = |i: usize| f.get(i).copied().unwrap_or("").to_owned();
            (
                field(0),
                matches!(f.get(1), Some(&("1" | "True"))),
                field(2),
                field(3),
            )
        })
        .collect();
    // Two FINs on the first connection, a reset from the server on the
    // second, each connection its own stream, and no retransmission.
    let row = |port: &str, reset, stream: &str| {
        (port.to_owned(), reset, stream.to_owned(), String::new())
    };
    assert_eq!(
        rows,
        [
            row("40000", false, "0"),
            row("5673", false, "0"),
            row("5673", true, "1")
        ],
        "tshark's FINs and resets:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
