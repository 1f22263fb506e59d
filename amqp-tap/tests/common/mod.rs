//! Shared by amqp-tap's integration tests: running the tool and tshark, and
//! reducing both outputs to comparable frame sequences.

#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

pub mod proxy;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// A capture committed under `tests/captures/`.
pub fn capture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/captures")
        .join(name)
}

/// Runs `amqp-tap` with `args`; panics when it fails.
pub fn tap(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_amqp-tap"))
        .args(args)
        .output()
        .expect("run amqp-tap");
    check(&out, "amqp-tap", args);
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `amqp-tap decode --json FILE` (plus `extra`), one value per line.
pub fn tap_json(file: &Path, extra: &[&str]) -> Vec<Value> {
    let path = file.to_str().expect("UTF-8 path");
    let mut args = vec!["decode", "--json", path];
    args.extend_from_slice(extra);
    tap(&args)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn check(out: &Output, what: &str, args: &[&str]) {
    assert!(
        out.status.success(),
        "{what} {args:?} failed: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Panics with instructions when tshark is missing: the comparisons with
/// Wireshark's dissector are part of the tests, not optional.
pub fn require_tshark() {
    match Command::new("tshark").arg("--version").output() {
        Ok(o) if o.status.success() => {}
        _ => panic!(
            "tshark is required by amqp-tap's tests (Wireshark's AMQP dissector is the oracle): \
             install it with `DEBIAN_FRONTEND=noninteractive apt-get install -y tshark` \
             (.ci/run does)"
        ),
    }
}

/// tshark's JSON for the AMQP packets of `file`.
pub fn tshark_json(file: &Path, extra: &[&str]) -> Vec<Value> {
    require_tshark();
    let out = Command::new("tshark")
        .arg("-r")
        .arg(file)
        .args(extra)
        .args([
            "-Y",
            "amqp",
            "-T",
            "json",
            "-J",
            "frame tcp amqp",
            "--no-duplicate-keys",
        ])
        .output()
        .expect("run tshark");
    check(&out, "tshark", extra);
    match serde_json::from_slice(&out.stdout).expect("tshark JSON") {
        Value::Array(v) => v,
        other => panic!("unexpected tshark output {other}"),
    }
}

/// One frame as both tools can say it: direction, channel, frame type, and
/// for methods the class and method ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameKey {
    pub dir: String,
    pub channel: u64,
    pub frame_type: u64,
    pub method: Option<(u64, u64)>,
}

fn as_list(v: &Value) -> Vec<&Value> {
    match v {
        Value::Array(a) => a.iter().collect(),
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn num(v: &Value) -> u64 {
    match v {
        Value::String(s) => s.parse().expect("number"),
        Value::Number(n) => n.as_u64().expect("u64"),
        other => panic!("not a number: {other}"),
    }
}

/// The frames tshark's dissector found, with their packet numbers; `server_port`
/// tells the directions apart.
pub fn tshark_frames(packets: &[Value], server_port: u16) -> Vec<(u64, FrameKey)> {
    let mut out = Vec::new();
    for p in packets {
        let layers = &p["_source"]["layers"];
        let pkt = num(&layers["frame"]["frame.number"]);
        let src_port = num(&layers["tcp"]["tcp.srcport"]);
        let dir = if src_port == u64::from(server_port) {
            "s2c"
        } else {
            "c2s"
        };
        for a in as_list(&layers["amqp"]) {
            let Some(t) = a.get("amqp.type") else {
                continue; // the protocol header has no frame type
            };
            let frame_type = num(t);
            let method = match (a.get("amqp.method.class"), a.get("amqp.method.method")) {
                (Some(c), Some(m)) => Some((num(c), num(m))),
                _ => None,
            };
            out.push((
                pkt,
                FrameKey {
                    dir: dir.to_owned(),
                    channel: num(&a["amqp.channel"]),
                    frame_type,
                    method,
                },
            ));
        }
    }
    out
}

/// The frames amqp-tap found (protocol headers, errors and notices left out).
pub fn tap_frames(objects: &[Value]) -> Vec<(u64, FrameKey)> {
    objects
        .iter()
        .filter_map(|o| {
            let frame_type = match o["type"].as_str()? {
                "method" => 1,
                "header" => 2,
                "body" => 3,
                "heartbeat" => 8,
                _ => return None,
            };
            let method = (frame_type == 1).then(|| {
                (
                    o["class_id"].as_u64().unwrap(),
                    o["method_id"].as_u64().unwrap(),
                )
            });
            Some((
                o["pkt"].as_u64().unwrap_or(0),
                FrameKey {
                    dir: o["dir"].as_str().unwrap().to_owned(),
                    channel: o["channel"].as_u64().unwrap(),
                    frame_type,
                    method,
                },
            ))
        })
        .collect()
}
