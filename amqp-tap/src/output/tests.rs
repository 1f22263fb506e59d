//! The printer against `amqp-protocol`'s rendering, and its helpers.

use super::*;
use amqp_protocol::ReplyCode;

/// Checks every frame's fast rendering against `Display`.
struct SameAsDisplay(usize);

impl crate::event::Sink for SameAsDisplay {
    fn event(&mut self, _: &ConnInfo, _: Dir, _: At, event: &Event<'_>) {
        if let Event::Frame { frame, .. } = event {
            assert_same(frame);
            self.0 += 1;
        }
    }
}

fn assert_same(frame: &Frame) {
    let mut fast = Vec::new();
    frame_text(&mut Line(&mut fast), frame, true).unwrap();
    assert_eq!(String::from_utf8(fast).unwrap(), frame.to_string());
    if let FramePayload::Method(m) = &frame.payload {
        let mut fast = Vec::new();
        method_text(&mut Line(&mut fast), m, true).unwrap();
        assert_eq!(String::from_utf8(fast).unwrap(), m.to_string());
    }
}

#[test]
fn frame_lines_are_the_protocol_crates_rendering() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/captures");
    let mut sink = SameAsDisplay(0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path
            .extension()
            .is_some_and(|e| e == "pcap" || e == "pcapng")
        {
            let file = std::fs::File::open(&path).unwrap();
            crate::CaptureDecoder::new(Vec::new())
                .read(file, &mut sink)
                .unwrap();
        }
    }
    // The live session alone has hundreds.
    assert!(sink.0 > 300, "{} frames", sink.0);
    // Every property, a table, bytes that are not text, a weight.
    use amqp_protocol::{BasicProperties, FieldTable, FieldValue, ShortStr, Timestamp};
    let mut headers = FieldTable::default();
    headers.insert(ShortStr::from_static("x-a"), FieldValue::I32(-5));
    headers.insert(
        ShortStr::from_static("x-b"),
        FieldValue::LongStr(b"\xff\"q".as_slice().into()),
    );
    let s = |v: &'static [u8]| Some(ShortStr::try_from(v).unwrap());
    let props = BasicProperties {
        content_type: s(b"text/plain"),
        content_encoding: s(b"\x00\t\n\r\\"),
        headers: Some(headers),
        delivery_mode: Some(2),
        priority: Some(9),
        correlation_id: s(b"c"),
        reply_to: s(b"r"),
        expiration: s(b"60000"),
        message_id: s(b"\xc3\xa9"),
        timestamp: Some(Timestamp(u64::MAX)),
        kind: s(b"k"),
        user_id: s(b"guest"),
        app_id: s(b"a"),
        reserved: s(b"x"),
    };
    let mut header = ContentHeader::new(u64::MAX, props);
    header.weight = 7;
    assert_same(&Frame {
        channel: u16::MAX,
        payload: FramePayload::Header(header),
    });
    let unknown = ContentHeader {
        class_id: 99,
        weight: 0,
        body_size: 3,
        properties: Properties::Unknown(bytes::Bytes::from_static(&[0, 0])),
    };
    assert_same(&Frame {
        channel: 1,
        payload: FramePayload::Header(unknown),
    });
    assert_same(&Frame {
        channel: 2,
        payload: FramePayload::Method(Method::Unknown {
            class_id: 1000,
            method_id: 1,
            arguments: bytes::Bytes::from_static(b"abc"),
        }),
    });
    assert_same(&Frame {
        channel: 0,
        payload: FramePayload::Heartbeat,
    });
    assert_same(&Frame {
        channel: 3,
        payload: FramePayload::Body(bytes::Bytes::from_static(b"xyz")),
    });
}

fn settled(at_ms: &[(u64, u64)]) -> String {
    let now = Ts {
        secs: 10,
        nanos: 0,
        nano_precision: false,
    };
    let list: Vec<crate::event::Settled> = at_ms
        .iter()
        .map(|&(seq, ms)| crate::event::Settled {
            seq,
            published: At {
                ts: Some(Ts {
                    secs: 9,
                    nanos: u32::try_from(1_000_000_000 - ms * 1_000_000).unwrap(),
                    nano_precision: false,
                }),
                pkt: None,
            },
        })
        .collect();
    let mut out = Vec::new();
    settled_text(
        &mut Line(&mut out),
        At {
            ts: Some(now),
            pkt: None,
        },
        &list,
    );
    String::from_utf8(out).unwrap()
}

#[test]
fn settled_publishes_are_shown_in_runs() {
    assert_eq!(settled(&[]), " [confirms nothing outstanding]");
    assert_eq!(settled(&[(4, 2)]), " [confirms seq 4 (2.000 ms)]");
    assert_eq!(
        settled(&[(3, 5), (4, 4), (5, 4), (7, 1), (u64::MAX, 1)]),
        " [confirms seq 3-5 (4.000 to 5.000 ms),7 (1.000 ms),18446744073709551615 (1.000 ms)]"
    );
}

#[test]
fn method_filters_parse_names_and_classes() {
    let f: MethodFilter = "basic.publish".parse().unwrap();
    assert!(f.matches(MethodId {
        class_id: 60,
        method_id: 40
    }));
    assert!(!f.matches(MethodId {
        class_id: 60,
        method_id: 80
    }));
    let c: MethodFilter = "queue.*".parse().unwrap();
    assert!(c.matches(MethodId {
        class_id: 50,
        method_id: 11
    }));
    assert!("basic.publsh".parse::<MethodFilter>().is_err());
}

#[test]
fn error_kinds_get_kebab_case_names() {
    let e = Error::new(amqp_protocol::ErrorKind::BadFrameEnd { found: 0 }, "frame");
    assert_eq!(error_kind_name(&e), "bad-frame-end");
    assert_eq!(e.reply_code(), ReplyCode::FRAME_ERROR);
    let e = Error::new(
        amqp_protocol::ErrorKind::Truncated,
        "basic.publish.exchange",
    );
    assert_eq!(error_kind_name(&e), "truncated");
}
