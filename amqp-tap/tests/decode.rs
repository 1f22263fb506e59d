//! `amqp-tap decode`: the JSON schema (exact values, every documented key),
//! raw streams, stream notices, errors, filters and statistics.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use amqp_protocol::{
    basic, connection, BasicProperties, ContentHeader, Decimal, FieldArray, FieldTable, FieldValue,
    Frame, LongStr, ShortStr, Timestamp,
};
use bytes::Bytes;
use common::{capture, tap, tap_json};
use serde_json::{json, Value};

/// Runs `amqp-tap decode --raw -` (plus `args`) on `input`.
fn raw(input: &[u8], args: &[&str]) -> String {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amqp-tap"))
        .args(["decode", "--raw", "-"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run amqp-tap");
    child.stdin.take().unwrap().write_all(input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn raw_json(input: &[u8], args: &[&str]) -> Vec<Value> {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    raw(input, &a)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn short(b: &[u8]) -> ShortStr {
    ShortStr::try_from(b).unwrap()
}

#[test]
fn raw_stream_json_is_exact_and_keeps_every_byte() {
    let mut table = FieldTable::new();
    table.push(short(b"b"), FieldValue::I64(i64::MIN));
    table.push(short(b"a"), FieldValue::U32(u32::MAX));
    table.push(short(b"b"), FieldValue::SpecI64(7)); // duplicate key, the grammar's L tag
    table.push(
        short(b"\xff"),
        FieldValue::LongStr(LongStr::from(&b"\x00\xfe"[..])),
    );
    table.push(
        short(b"dec"),
        FieldValue::Decimal(Decimal {
            scale: 3,
            value: 0xffff_ffff,
        }),
    );
    table.push(short(b"f"), FieldValue::F64(0.1));
    table.push(short(b"nan"), FieldValue::F32(f32::NAN));
    table.push(
        short(b"arr"),
        FieldArray(vec![
            FieldValue::Bool(true),
            FieldValue::Void,
            FieldValue::ByteArray(Bytes::from_static(b"xy")),
        ]),
    );
    table.push(short(b"ts"), FieldValue::Timestamp(Timestamp(u64::MAX)));
    let mut bytes = b"AMQP\x00\x00\x09\x01".to_vec();
    Frame::method(
        0,
        connection::StartOk {
            client_properties: table,
            mechanism: short(b"PLAIN"),
            response: LongStr::from(&b"\x00guest\x00guest"[..]),
            locale: short(b"en_US"),
        },
    )
    .encode(&mut bytes);
    Frame::method(
        7,
        basic::Publish {
            exchange: short(b"ex\xc3"), // not UTF-8
            routing_key: short("ключ".as_bytes()),
            mandatory: true,
            ..Default::default()
        },
    )
    .encode(&mut bytes);
    let props = BasicProperties::default()
        .with_content_type(short(b"text/plain"))
        .with_timestamp(Timestamp(u64::MAX))
        .with_priority(9);
    Frame::header(7, ContentHeader::new(u64::MAX, props)).encode(&mut bytes);
    Frame::body(7, Bytes::from_static(b"\x00\x01hello")).encode(&mut bytes);
    Frame::heartbeat().encode(&mut bytes);

    let objs = raw_json(&bytes, &["--max-body", "4"]);
    assert_eq!(objs.len(), 6, "{objs:#?}");
    for o in &objs {
        assert_eq!(o["dir"], "c2s");
        assert_eq!(o["conn"], Value::Null);
        assert!(o.get("ts").is_none() && o.get("pkt").is_none(), "{o}");
    }
    assert_eq!(
        objs[0],
        json!({"conn": null, "dir": "c2s", "type": "protocol-header", "protocol_id": 0, "major": 0, "minor": 9, "revision": 1})
    );
    assert_eq!(objs[1]["type"], "method");
    assert_eq!(objs[1]["channel"], 0);
    assert_eq!(objs[1]["method"], "connection.start-ok");
    assert_eq!(
        objs[1]["fields"]["client-properties"],
        json!([
            ["b", "l", i64::MIN],
            ["a", "i", u32::MAX],
            ["b", "L", 7],
            [{"hex": "ff"}, "S", {"hex": "00fe"}],
            ["dec", "D", {"scale": 3, "value": 4294967295u32}],
            ["f", "d", 0.1],
            ["nan", "f", {"bits": "7fc00000"}],
            ["arr", "A", [["t", true], ["V", null], ["x", "xy"]]],
            ["ts", "T", u64::MAX]
        ])
    );
    // Credentials are masked by default (see `credentials_are_masked_...`).
    assert_eq!(objs[1]["fields"]["response"], json!({"masked": 12}));
    // Reserved arguments are there, by their specification names.
    assert_eq!(
        objs[2],
        json!({"conn": null, "dir": "c2s", "channel": 7, "type": "method", "class_id": 60, "method_id": 40,
               "method": "basic.publish",
               "fields": {"reserved-1": 0, "exchange": {"hex": "6578c3"}, "routing-key": "ключ",
                          "mandatory": true, "immediate": false}})
    );
    assert_eq!(
        objs[3],
        json!({"conn": null, "dir": "c2s", "channel": 7, "type": "header", "class_id": 60, "weight": 0,
               "body_size": u64::MAX,
               "properties": {"content-type": "text/plain", "priority": 9, "timestamp": u64::MAX}})
    );
    assert_eq!(
        objs[4],
        json!({"conn": null, "dir": "c2s", "channel": 7, "type": "body", "len": 7, "preview": "\u{0}\u{1}he"})
    );
    assert_eq!(
        objs[5],
        json!({"conn": null, "dir": "c2s", "channel": 0, "type": "heartbeat"})
    );
}

#[test]
fn raw_stream_may_start_with_a_frame_and_take_a_direction() {
    let mut bytes = Vec::new();
    Frame::method(
        0,
        connection::Tune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        },
    )
    .encode(&mut bytes);
    let objs = raw_json(&bytes, &["--dir", "s2c"]);
    assert_eq!(objs.len(), 1);
    assert_eq!(objs[0]["dir"], "s2c");
    assert_eq!(objs[0]["fields"]["frame-max"], 131_072);
    let text = raw(&bytes, &["--dir", "s2c"]);
    assert_eq!(
        text,
        "s2c ch=0 method connection.tune channel-max=2047 frame-max=131072 heartbeat=60\n"
    );
}

#[test]
fn raw_stream_from_a_file() {
    let mut bytes = Vec::new();
    Frame::heartbeat().encode(&mut bytes);
    let dir = std::env::temp_dir().join(format!("amqp-tap-raw-{}", std::process::id()));
    std::fs::write(&dir, &bytes).unwrap();
    let out = tap(&["decode", "--raw", dir.to_str().unwrap()]);
    std::fs::remove_file(&dir).unwrap();
    assert_eq!(out, "c2s ch=0 heartbeat\n");
}

#[test]
fn undecodable_bytes_give_typed_errors_and_decoding_goes_on() {
    let objs = tap_json(&capture("errors.pcap"), &[]);
    let errors: Vec<_> = objs
        .iter()
        .filter(|o| o["type"] == "error")
        .map(|o| {
            (
                o["error"]["kind"].as_str().unwrap().to_owned(),
                o["error"]["path"].as_str().unwrap().to_owned(),
                o["error"]["reply_code"].as_u64().unwrap(),
            )
        })
        .collect();
    let expected = [
        ("bad-frame-end", "frame", 501),
        ("unknown-frame-type", "frame", 501),
        ("truncated", "basic.publish.routing-key", 501),
        ("unknown-field-tag", "queue.declare.arguments", 502),
        ("unexpected-header", "content", 505),
        ("body-too-long", "content", 505),
    ];
    let expected: Vec<_> = expected
        .iter()
        .map(|(k, p, c)| ((*k).to_owned(), (*p).to_owned(), *c))
        .collect();
    assert_eq!(errors, expected);
    for o in objs.iter().filter(|o| o["type"] == "error") {
        assert!(o["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
        assert!(o["error"]["reply_text"].is_string());
    }
    // Every good frame after a bad one is still decoded: the qos frames.
    let qos = objs.iter().filter(|o| o["method"] == "basic.qos").count();
    assert_eq!(qos, 6);
    let resyncs: Vec<_> = objs.iter().filter(|o| o["type"] == "resync").collect();
    assert_eq!(resyncs.len(), 2);
    assert!(resyncs.iter().all(|o| o["reason"] == "error"));
    // ... and so is the broker's answer.
    assert!(objs
        .iter()
        .any(|o| o["method"] == "connection.close" && o["dir"] == "s2c"));
}

#[test]
fn a_gap_in_the_capture_is_reported_and_decoding_resumes() {
    let objs = tap_json(&capture("gap.pcap"), &[]);
    let gap = objs
        .iter()
        .position(|o| o["type"] == "gap")
        .expect("a gap notice");
    assert_eq!(objs[gap]["dir"], "c2s");
    assert!(objs[gap]["missing"].as_u64().unwrap() > 1000);
    assert_eq!(objs[gap + 1]["type"], "resync");
    assert_eq!(objs[gap + 1]["reason"], "gap");
    // Publishes 1, 3 and 4 are seen, 2 is lost; sequence numbers after the
    // gap are unknown, so they are not given.
    let publishes: Vec<_> = objs
        .iter()
        .filter(|o| o["method"] == "basic.publish")
        .collect();
    assert_eq!(publishes.len(), 3);
    assert_eq!(publishes[0]["confirm_seq"], 1);
    assert!(publishes[1].get("confirm_seq").is_none());
    // The gap is declared as soon as the server acknowledges past it, not at
    // the end of the capture.
    assert!(
        objs[gap]["pkt"].as_u64().unwrap()
            < objs.last().unwrap()["pkt"].as_u64().unwrap_or(u64::MAX)
    );
    let deliveries = objs
        .iter()
        .filter(|o| o["method"] == "basic.deliver")
        .count();
    assert_eq!(deliveries, 4);
}

#[test]
fn every_object_has_the_documented_keys() {
    for name in [
        "live.pcapng",
        "reorder.pcap",
        "ipv6.pcapng",
        "midstream.pcap",
        "errors.pcap",
    ] {
        for o in tap_json(&capture(name), &[]) {
            let t = o["type"].as_str().unwrap();
            assert!(o["ts"].is_number(), "{name}: {o}");
            assert!(o["pkt"].is_u64(), "{name}: {o}");
            assert!(
                o["conn"]["client"].is_string() && o["conn"]["server"].is_string(),
                "{o}"
            );
            assert!(o["dir"] == "c2s" || o["dir"] == "s2c");
            let keys: &[&str] = match t {
                "protocol-header" => &["protocol_id", "major", "minor", "revision"],
                "method" => &["channel", "class_id", "method_id", "method", "fields"],
                "header" => &["channel", "class_id", "weight", "body_size", "properties"],
                "body" => &["channel", "len", "preview"],
                "heartbeat" => &["channel"],
                "error" => &["error"],
                "resync" => &["skipped", "reason"],
                "gap" => &["missing"],
                "incomplete" => &["pending"],
                other => panic!("{name}: undocumented type {other}"),
            };
            for k in keys {
                assert!(o.get(*k).is_some(), "{name}: {t} without {k}: {o}");
            }
            if t == "protocol-header" {
                assert!(o.get("channel").is_none());
            }
        }
    }
}

#[test]
fn the_text_form_shows_each_frame_and_each_message() {
    let out = tap(&[
        "decode",
        capture("sll.pcap").to_str().unwrap(),
        "--max-body",
        "5",
    ]);
    let lines: Vec<_> = out.lines().collect();
    assert!(
        lines[0].ends_with("127.0.0.1:40001-127.0.0.1:5672 c2s protocol-header AMQP 0-0-9-1"),
        "{}",
        lines[0]
    );
    assert!(lines[0].starts_with("22:13:20.00"), "{}", lines[0]);
    let publish = lines
        .iter()
        .position(|l| l.contains("c2s ch=1 method basic.publish"))
        .unwrap();
    assert!(
        lines[publish].ends_with("[confirm seq 1]"),
        "{}",
        lines[publish]
    );
    assert!(lines[publish + 1].contains("c2s ch=1 header class=60 body-size=1289"));
    assert!(lines[publish + 2].ends_with("c2s ch=1 body 1289 bytes"));
    let message = lines[publish + 3];
    assert!(
        message.contains("c2s ch=1 message basic.publish exchange=\"\" routing-key=\"sll.q\""),
        "{message}"
    );
    assert!(
        message.contains("| content-type=\"application/octet-stream\" "),
        "{message}"
    );
    assert!(
        message.ends_with("| body 1289 bytes: \"cooke\"..."),
        "{message}"
    );
    assert!(
        out.contains("s2c ch=1 method basic.ack delivery-tag=2 multiple=true [confirms seq 1-2 (")
    );
}

#[test]
fn filters_select_channels_and_methods_with_their_content() {
    let file = capture("live.pcapng");
    let all = tap_json(&file, &[]);
    let ch3 = tap_json(&file, &["--channel", "3"]);
    assert!(!ch3.is_empty());
    assert!(ch3.iter().all(|o| o["channel"] == 3), "{ch3:?}");
    assert_eq!(ch3.len(), all.iter().filter(|o| o["channel"] == 3).count());

    let sel = tap_json(&file, &["--method", "basic.deliver", "--method", "queue.*"]);
    let methods: std::collections::BTreeSet<_> =
        sel.iter().filter_map(|o| o["method"].as_str()).collect();
    assert!(methods.contains("basic.deliver") && methods.contains("queue.declare-ok"));
    assert!(
        methods
            .iter()
            .all(|m| *m == "basic.deliver" || m.starts_with("queue.")),
        "{methods:?}"
    );
    // The content frames of the deliveries come with them.
    let deliveries = sel
        .iter()
        .filter(|o| o["method"] == "basic.deliver")
        .count();
    let headers = sel.iter().filter(|o| o["type"] == "header").count();
    assert_eq!(deliveries, headers);

    let unknown = Command::new(env!("CARGO_BIN_EXE_amqp-tap"))
        .args(["decode", file.to_str().unwrap(), "--method", "basic.publsh"])
        .output()
        .unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("unknown method"));
}

#[test]
fn stats_count_methods_bytes_messages_and_confirm_latency() {
    let file = capture("live.pcapng");
    let frames = tap_json(&file, &[]);
    let stats: Value =
        serde_json::from_str(tap(&["decode", "--stats", "--json", file.to_str().unwrap()]).trim())
            .unwrap();
    assert_eq!(stats["type"], "stats");
    for dir in ["c2s", "s2c"] {
        let n = frames
            .iter()
            .filter(|o| o["dir"] == dir && o.get("channel").is_some() && o["type"] != "error")
            .count() as u64;
        assert_eq!(stats["frames"][dir], n, "{dir}");
        let publishes = frames
            .iter()
            .filter(|o| o["dir"] == dir && o["method"] == "basic.publish")
            .count();
        assert_eq!(stats["methods"]["basic.publish"][dir], publishes as u64);
    }
    // ch 1: 4 + 6, ch 2: 3, ch 4: 2 (tx), ch 6: 50
    assert_eq!(stats["messages"]["c2s"], 65);
    let c = &stats["confirms"];
    let published = c["published"].as_u64().unwrap();
    assert_eq!(published, 63); // all but the transaction's
    assert_eq!(
        c["acked"].as_u64().unwrap() + c["nacked"].as_u64().unwrap(),
        published
    );
    assert_eq!(c["nacked"], 2);
    let median = c["latency_ms"]["median"].as_f64().unwrap();
    let p99 = c["latency_ms"]["p99"].as_f64().unwrap();
    assert!(median > 0.0 && p99 >= median, "{c}");
    assert!(stats["messages_per_second"]["c2s"].as_f64().unwrap() > 0.0);
    assert!(stats["bytes"]["c2s"].as_u64().unwrap() > 10_000);

    let text = tap(&["decode", "--stats", file.to_str().unwrap()]);
    assert!(text.contains("publish->confirm median"), "{text}");
    assert!(text.contains("basic.publish"), "{text}");
}

#[test]
fn credentials_are_masked_unless_asked_for() {
    let mut bytes = b"AMQP\x00\x00\x09\x01".to_vec();
    Frame::method(
        0,
        connection::StartOk {
            client_properties: FieldTable::new(),
            mechanism: short(b"PLAIN"),
            response: LongStr::from(&b"\x00guest\x00s3cr3t-pw"[..]),
            locale: short(b"en_US"),
        },
    )
    .encode(&mut bytes);
    Frame::method(
        0,
        connection::UpdateSecret {
            new_secret: LongStr::from(&b"eyJ-token"[..]),
            reason: short(b"refresh"),
        },
    )
    .encode(&mut bytes);
    let text = raw(&bytes, &[]);
    assert!(
        !text.contains("s3cr3t") && !text.contains("eyJ"),
        "a credential shows:\n{text}"
    );
    assert!(
        text.contains("connection.start-ok client-properties={} mechanism=\"PLAIN\" response=<masked, 16 bytes> locale=\"en_US\""),
        "{text}"
    );
    assert!(
        text.contains("connection.update-secret new-secret=<masked, 9 bytes> reason=\"refresh\""),
        "{text}"
    );
    let objs = raw_json(&bytes, &[]);
    assert_eq!(objs[1]["fields"]["response"], json!({"masked": 16}));
    assert_eq!(objs[1]["fields"]["mechanism"], "PLAIN");
    assert_eq!(objs[2]["fields"]["new-secret"], json!({"masked": 9}));
    assert_eq!(objs[2]["fields"]["reason"], "refresh");
    // Asked for, they are shown as any other field.
    let text = raw(&bytes, &["--show-secrets"]);
    assert!(
        text.contains("response=\"\\x00guest\\x00s3cr3t-pw\""),
        "{text}"
    );
    assert!(text.contains("new-secret=\"eyJ-token\""), "{text}");
    let objs = raw_json(&bytes, &["--show-secrets"]);
    assert_eq!(objs[1]["fields"]["response"], "\u{0}guest\u{0}s3cr3t-pw");
    assert_eq!(objs[2]["fields"]["new-secret"], "eyJ-token");
    // A capture too (the recorded sessions log in with PLAIN).
    let text = tap(&["decode", capture("live.pcapng").to_str().unwrap()]);
    let start_oks: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("connection.start-ok"))
        .collect();
    assert!(!start_oks.is_empty());
    for l in start_oks {
        assert!(
            l.contains("response=<masked, ") && !l.contains("guest\\x00"),
            "{l}"
        );
    }
}

/// Runs `amqp-tap decode -` on `input`: whether it succeeded, and what it
/// said on standard error.
fn decode_stdin(input: &[u8]) -> (bool, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_amqp-tap"))
        .args(["decode", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run amqp-tap");
    // It may stop reading early, at what it refuses.
    let _ = child.stdin.take().unwrap().write_all(input);
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn damaged_captures_are_described_in_the_formats_terms() {
    let pcapng = std::fs::read(capture("live.pcapng")).unwrap();
    let pcap = std::fs::read(capture("gap.pcap")).unwrap();
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    let shb = u32_at(&pcapng, 4) as usize;
    let idb = u32_at(&pcapng, shb + 4) as usize;
    let mut bad_length = pcapng.clone();
    bad_length[shb + 4..shb + 8].copy_from_slice(&13u32.to_le_bytes());
    let mut bad_shb = pcapng.clone();
    bad_shb[8..12].copy_from_slice(&[0; 4]); // the byte-order magic
    let cases: Vec<(&str, Vec<u8>, bool, String)> = vec![
        ("empty", Vec::new(), false, "the capture is empty".into()),
        (
            "not a capture",
            b"\x7fELF\x02\x01\x01\x00 and so on".to_vec(),
            false,
            "not a pcap or pcapng capture: it starts with 7f 45 4c 46 02 01 01 00, where".into(),
        ),
        (
            "pcapng cut in its section header",
            pcapng[..20].to_vec(),
            false,
            "truncated pcapng capture: it ends inside its section header block, after 20 bytes"
                .into(),
        ),
        (
            "pcap cut in its file header",
            pcap[..12].to_vec(),
            false,
            "truncated pcap capture: it ends inside its file header (24 bytes), after 12 bytes"
                .into(),
        ),
        (
            "pcapng cut in its first packet block",
            pcapng[..shb + idb + 40].to_vec(),
            true,
            format!(
                "truncated pcapng capture: it ends inside the block that starts at byte {}",
                shb + idb
            ),
        ),
        (
            "pcap cut in its second record",
            pcap[..24 + 16 + u32_at(&pcap, 24 + 8) as usize + 20].to_vec(),
            true,
            format!(
                "truncated pcap capture: it ends inside the record that starts at byte {}",
                24 + 16 + u32_at(&pcap, 24 + 8)
            ),
        ),
        (
            "pcapng block with a bad length",
            bad_length,
            false,
            format!(
                "malformed pcapng block at byte {shb}: block type 0x00000001 (interface \
                 description): its total length 13 is not a multiple of 4"
            ),
        ),
        (
            "pcapng section header that does not parse",
            bad_shb,
            false,
            "malformed pcapng capture: its section header block does not parse".into(),
        ),
    ];
    for (what, input, ok, message) in cases {
        let (success, stderr) = decode_stdin(&input);
        assert_eq!(success, ok, "{what}: exit status; said {stderr:?}");
        assert!(
            stderr.contains(&message),
            "{what}: expected {message:?}, said {stderr:?}"
        );
        // Neither the parsing library's vocabulary nor the wrong diagnosis.
        for internal in [
            "HeaderNotRecognized",
            "Incomplete",
            "NomError",
            "Eof",
            "Verify",
        ] {
            assert!(!stderr.contains(internal), "{what}: {stderr:?}");
        }
        if what.starts_with("pcapng cut") || what.starts_with("pcap cut") {
            assert!(!stderr.contains("not a pcap"), "{what}: {stderr:?}");
        }
    }
}

/// The peak resident memory of a running process, from /proc (Linux).
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
fn memory_does_not_grow_with_message_size() {
    // One 256 MiB message in 128 KiB body frames, then a small one, fed
    // as a raw stream: the decoder keeps the start of each body only, so
    // its peak memory stays far below the message's size, while the body
    // length printed stays exact.
    const SIZE: u64 = 256 << 20;
    const FRAME: usize = 128 << 10;
    if !std::path::Path::new("/proc/self/status").exists() {
        panic!("this test reads peak memory from /proc (Linux)");
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_amqp-tap"))
        .args(["decode", "--raw", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run amqp-tap");
    let mut stdin = child.stdin.take().unwrap();
    let mut head = b"AMQP\x00\x00\x09\x01".to_vec();
    Frame::method(1, basic::Publish::default()).encode(&mut head);
    Frame::header(1, ContentHeader::new(SIZE, BasicProperties::default())).encode(&mut head);
    stdin.write_all(&head).unwrap();
    let mut chunk = Vec::new();
    let body: Vec<u8> = (0..FRAME).map(|i| b'a' + (i % 26) as u8).collect();
    Frame::body(1, Bytes::from(body)).encode(&mut chunk);
    for _ in 0..SIZE / FRAME as u64 {
        stdin.write_all(&chunk).unwrap();
    }
    let mut tail = Vec::new();
    Frame::method(1, basic::Publish::default()).encode(&mut tail);
    Frame::header(1, ContentHeader::new(2, BasicProperties::default())).encode(&mut tail);
    Frame::body(1, Bytes::from_static(b"ok")).encode(&mut tail);
    stdin.write_all(&tail).unwrap();
    stdin.flush().unwrap();
    // Everything but what the pipe holds has been read: the peak so far
    // covers the whole large message.
    let peak = peak_rss_kib(child.id()).expect("VmHWM in /proc");
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let messages: Vec<&str> = text.lines().filter(|l| l.contains(" message ")).collect();
    assert_eq!(messages.len(), 2, "{messages:?}");
    assert!(
        messages[0].ends_with(&format!(
            "| body {SIZE} bytes: \"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijkl\"..."
        )),
        "{}",
        messages[0]
    );
    assert!(
        messages[1].ends_with("| body 2 bytes: \"ok\""),
        "{}",
        messages[1]
    );
    assert!(
        peak < 64 << 10,
        "peak resident memory {peak} KiB while decoding a {} MiB message",
        SIZE >> 20
    );
}
