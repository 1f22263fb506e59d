//! Frames and tables produced by independent codecs (RabbitMQ's own Erlang
//! codec, pamqp, pika) and hand-made `U`/`L` vectors: each decodes to the value
//! the oracle was asked to encode, and re-encodes to the identical bytes.
//! The files and the scripts that made them are in `tests/vectors/`.

use std::collections::BTreeMap;
use std::path::PathBuf;

use amqp_protocol::{
    encode_content, Assembled, Assembler, FieldTable, Frame, FrameDecoder, FramePayload, Method,
    Properties,
};
use amqp_tests::json::{hex, method_fields, properties, table, unhex};
use bytes::{Bytes, BytesMut};
use serde_json::Value;

fn load(file: &str) -> Vec<Value> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("vectors")
        .join(file);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    match serde_json::from_str(&text).expect("valid JSON") {
        Value::Array(v) => v,
        _ => panic!("{file}: expected a top-level array"),
    }
}

/// The XML spells confirm.select's argument `nowait`; the generated code uses
/// `no-wait`, like every other method (see amqp-codegen's corrections table).
fn normalise_fields(name: &str, fields: &Value) -> Value {
    let mut fields = fields.clone();
    if name == "confirm.select" {
        for f in fields.as_array_mut().expect("fields array") {
            if f[0] == "nowait" {
                f[0] = Value::from("no-wait");
            }
        }
    }
    fields
}

/// Decodes every frame in `bytes`, checking that each re-encodes to exactly
/// the bytes it came from.
fn decode_all(bytes: &[u8], desc: &str) -> Vec<Frame> {
    let mut buf = BytesMut::from(bytes);
    let mut decoder = FrameDecoder::new(0);
    let mut frames = Vec::new();
    let mut offset = 0;
    while !buf.is_empty() {
        let frame = decoder
            .decode(&mut buf)
            .unwrap_or_else(|e| panic!("{desc}: decode error at byte {offset}: {e}"))
            .unwrap_or_else(|| panic!("{desc}: incomplete frame at byte {offset}"));
        let len = frame.encoded_len();
        let mut out = Vec::new();
        frame.encode(&mut out);
        assert_eq!(
            hex(&out),
            hex(&bytes[offset..offset + len]),
            "{desc}: re-encoding frame at byte {offset} changed its bytes"
        );
        offset += len;
        frames.push(frame);
    }
    frames
}

fn check_method(m: &Method, v: &Value, desc: &str) {
    let name = v["name"].as_str().expect("name");
    assert_eq!(m.name(), name, "{desc}");
    assert_eq!(u64::from(m.class_id()), v["class_id"], "{desc}");
    assert_eq!(u64::from(m.method_id()), v["method_id"], "{desc}");
    assert_eq!(
        method_fields(m),
        normalise_fields(name, &v["fields"]),
        "{desc}: decoded arguments differ from the oracle's"
    );
}

fn check_header(h: &amqp_protocol::ContentHeader, v: &Value, desc: &str) {
    assert_eq!(u64::from(h.class_id), v["class_id"], "{desc}");
    assert_eq!(u64::from(h.weight), v["weight"], "{desc}");
    assert_eq!(h.body_size, v["body_size"], "{desc}");
    assert!(
        matches!(h.properties, Properties::Basic(_)),
        "{desc}: basic properties expected"
    );
    assert_eq!(
        properties(&h.properties),
        v["properties"],
        "{desc}: decoded properties differ from the oracle's"
    );
}

/// An `f` value in a vector is the decimal text of an f32; the oracle's
/// printer may not give the shortest text for it, so compare as f32.
fn normalise_floats(v: &mut Value) {
    match v {
        Value::Array(items) => {
            if items.len() >= 2 && items[items.len() - 2] == "f" {
                let last = items.len() - 1;
                if let Some(x) = items[last].as_f64() {
                    items[last] = Value::from(f64::from(x as f32));
                }
            }
            items.iter_mut().for_each(normalise_floats);
        }
        Value::Object(map) => map.values_mut().for_each(normalise_floats),
        _ => {}
    }
}

fn check_vector(v: &Value, counts: &mut BTreeMap<String, usize>) {
    let mut v = v.clone();
    normalise_floats(&mut v);
    let v = &v;
    let oracle = v["oracle"].as_str().expect("oracle");
    let kind = v["kind"].as_str().expect("kind");
    let desc = format!("{oracle}: {}", v["desc"].as_str().unwrap_or(""));
    *counts.entry(format!("{oracle} {kind}")).or_default() += 1;
    match kind {
        "method" => {
            let frames = decode_all(&unhex(v["frames"].as_str().expect("frames")), &desc);
            assert_eq!(frames.len(), 1, "{desc}");
            assert_eq!(u64::from(frames[0].channel), v["channel"], "{desc}");
            let FramePayload::Method(m) = &frames[0].payload else {
                panic!("{desc}: not a method frame")
            };
            check_method(m, v, &desc);
        }
        "header" => {
            let frames = decode_all(&unhex(v["frames"].as_str().expect("frames")), &desc);
            assert_eq!(frames.len(), 1, "{desc}");
            assert_eq!(u64::from(frames[0].channel), v["channel"], "{desc}");
            let FramePayload::Header(h) = &frames[0].payload else {
                panic!("{desc}: not a header frame")
            };
            check_header(h, v, &desc);
        }
        "content" => {
            let bytes = unhex(v["frames"].as_str().expect("frames"));
            let frames = decode_all(&bytes, &desc);
            let body_frames = frames
                .iter()
                .filter(|f| matches!(f.payload, FramePayload::Body(_)))
                .count();
            assert_eq!(body_frames as u64, v["body_frames"], "{desc}");
            let mut asm = Assembler::new();
            let mut done = None;
            for f in frames {
                if let Some(a) = asm
                    .handle_frame(f)
                    .unwrap_or_else(|e| panic!("{desc}: {e}"))
                {
                    assert!(done.is_none(), "{desc}: more than one message");
                    done = Some(a);
                }
            }
            let Some(Assembled::Content { channel, content }) = done else {
                panic!("{desc}: no message assembled")
            };
            assert_eq!(u64::from(channel), v["channel"], "{desc}");
            check_method(&content.method, &v["method"], &desc);
            check_header(&content.header, &v["header"], &desc);
            assert_eq!(hex(&content.body), v["body"], "{desc}: body");
            // Our encoder splits the body exactly as the oracle did.
            let frame_max = v["frame_max"].as_u64().expect("frame_max") as u32;
            let mut out = Vec::new();
            encode_content(
                &mut out,
                channel,
                &content.method,
                content.header.basic().expect("basic"),
                &content.body,
                frame_max,
            );
            assert_eq!(hex(&out), hex(&bytes), "{desc}: encode_content");
        }
        "table" => {
            let bytes = unhex(v["bytes"].as_str().expect("bytes"));
            let t = FieldTable::decode(&Bytes::from(bytes.clone()))
                .unwrap_or_else(|e| panic!("{desc}: {e}"));
            assert_eq!(table(&t), v["value"], "{desc}: decoded table differs");
            assert_eq!(t.encoded_len(), bytes.len(), "{desc}: encoded_len");
            let mut out = Vec::new();
            t.encode(&mut out);
            assert_eq!(
                hex(&out),
                hex(&bytes),
                "{desc}: re-encoding changed the bytes"
            );
        }
        other => panic!("{desc}: unknown kind {other}"),
    }
}

fn run(file: &str, min_methods: usize) {
    let vectors = load(file);
    let mut counts = BTreeMap::new();
    let mut names = std::collections::BTreeSet::new();
    for v in &vectors {
        check_vector(v, &mut counts);
        if v["kind"] == "method" {
            names.insert(v["name"].as_str().unwrap_or_default().to_owned());
        }
    }
    assert!(
        names.len() >= min_methods,
        "{file}: only {} distinct methods covered",
        names.len()
    );
    eprintln!("{file}: {counts:?}, {} methods", names.len());
}

#[test]
fn rabbitmq_erlang_codec() {
    run("erlang.json", 64);
}

#[test]
fn pamqp() {
    run("pamqp.json", 64);
}

#[test]
fn pika() {
    run("pika.json", 64);
}

#[test]
fn hand_made_u_and_l_tags() {
    let vectors = load("handmade.json");
    assert!(vectors.iter().all(|v| v["oracle"] == "hand-made"));
    let text = serde_json::to_string(&vectors).expect("json");
    assert!(text.contains("\"U\"") && text.contains("\"L\""));
    run("handmade.json", 0);
}
