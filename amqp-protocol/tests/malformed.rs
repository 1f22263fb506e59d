//! Malformed input: each case gives its typed error, the path of what failed
//! and the reply code the connection must be closed with. Never a panic.

use amqp_protocol::{
    basic, queue, Assembled, Assembler, BasicProperties, ContentHeader, Error, ErrorKind,
    FieldTable, Frame, FrameDecoder, FramePayload, Method, MethodId, ReplyCode, ShortStr,
    MAX_NESTING,
};
use bytes::{Bytes, BytesMut};

fn frame(frame_type: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![frame_type];
    out.extend(channel.to_be_bytes());
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend(payload);
    out.push(0xCE);
    out
}

fn decode(bytes: &[u8]) -> Result<Option<Frame>, Error> {
    FrameDecoder::new(131_072).decode(&mut BytesMut::from(bytes))
}

fn decode_err(bytes: &[u8]) -> Error {
    decode(bytes).expect_err("must fail")
}

fn method_payload(class_id: u16, method_id: u16, args: &[u8]) -> Vec<u8> {
    let mut p = class_id.to_be_bytes().to_vec();
    p.extend(method_id.to_be_bytes());
    p.extend(args);
    p
}

#[test]
fn bad_frame_end() {
    let mut bytes = frame(8, 0, &[]);
    *bytes.last_mut().expect("end") = 0xCD;
    let e = decode_err(&bytes);
    assert_eq!(e.kind(), &ErrorKind::BadFrameEnd { found: 0xCD });
    assert_eq!(e.kind().name(), "bad-frame-end");
    assert_eq!(e.reply_code(), ReplyCode::FRAME_ERROR);
    assert_eq!(e.path(), "frame");
    assert_eq!(
        e.to_string(),
        "frame: frame end octet is 0xcd, not 0xce (reply 501 frame-error)"
    );
}

#[test]
fn unknown_frame_type_from_the_header_alone() {
    // Only the 7-byte header is there: the type is rejected before the payload arrives.
    let e = decode_err(&[9, 0, 1, 0, 0, 0, 100]);
    assert_eq!(e.kind(), &ErrorKind::UnknownFrameType { frame_type: 9 });
    assert_eq!(e.reply_code(), ReplyCode(501));
}

#[test]
fn frame_over_the_limit_rejected_from_the_header_alone() {
    let mut decoder = FrameDecoder::new(4096);
    // 4088 bytes of payload + 8 = 4096: at the limit, just incomplete.
    let mut at_limit = BytesMut::from(&[3u8, 0, 1, 0, 0, 0x0F, 0xF8][..]);
    assert_eq!(decoder.decode(&mut at_limit), Ok(None));
    // One more byte declared: rejected with 7 bytes buffered, nothing reserved.
    let mut over = BytesMut::from(&[3u8, 0, 1, 0, 0, 0x0F, 0xF9][..]);
    let e = decoder.decode(&mut over).expect_err("too large");
    assert_eq!(
        e.kind(),
        &ErrorKind::FrameTooLarge {
            size: 4097,
            max: 4096
        }
    );
    assert_eq!(e.reply_code(), ReplyCode::FRAME_ERROR);
    assert_eq!(over.len(), 7, "the buffer is left as it was");
    assert!(
        over.capacity() < 4096,
        "no room was reserved for the oversized payload"
    );
    // A 4 GiB declaration is rejected just the same.
    let mut huge = BytesMut::from(&[3u8, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF][..]);
    assert!(matches!(
        decoder.decode(&mut huge).expect_err("too large").kind(),
        ErrorKind::FrameTooLarge { .. }
    ));
}

#[test]
fn truncated_arguments_inside_a_complete_frame() {
    // basic.publish: reserved-1, exchange "ab", then nothing.
    let payload = method_payload(60, 40, &[0, 0, 2, b'a', b'b']);
    let e = decode_err(&frame(1, 1, &payload));
    assert_eq!(e.kind(), &ErrorKind::Truncated);
    assert_eq!(e.path(), "basic.publish.routing-key");
    assert_eq!(e.reply_code(), ReplyCode::FRAME_ERROR);
}

#[test]
fn short_string_running_past_the_payload() {
    let payload = method_payload(60, 40, &[0, 0, 0, 200, b'x', b'y', 0]);
    let e = decode_err(&frame(1, 1, &payload));
    assert_eq!(e.kind(), &ErrorKind::Truncated);
    assert_eq!(e.path(), "basic.publish.routing-key");
    assert_eq!(e.reply_code(), ReplyCode(501));
}

#[test]
fn bytes_after_the_last_argument() {
    let payload = method_payload(60, 80, &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0xAA]);
    let e = decode_err(&frame(1, 1, &payload));
    assert_eq!(e.kind(), &ErrorKind::TrailingBytes { count: 1 });
    assert_eq!(e.path(), "basic.ack");
    assert_eq!(e.reply_code(), ReplyCode::FRAME_ERROR);
}

fn queue_declare_with_table(table: &[u8]) -> Vec<u8> {
    let mut args = vec![0, 0, 1, b'q', 0];
    args.extend((table.len() as u32).to_be_bytes());
    args.extend(table);
    frame(1, 1, &method_payload(50, 10, &args))
}

#[test]
fn unknown_field_tag() {
    let e = decode_err(&queue_declare_with_table(&[1, b'k', b'Z', 0]));
    assert_eq!(e.kind(), &ErrorKind::UnknownFieldTag { tag: b'Z' });
    assert_eq!(e.path(), "queue.declare.arguments");
    assert_eq!(e.reply_code(), ReplyCode::SYNTAX_ERROR);
}

#[test]
fn non_canonical_boolean_in_a_table_is_rejected() {
    let e = decode_err(&queue_declare_with_table(&[1, b'k', b't', 2]));
    assert_eq!(e.kind(), &ErrorKind::InvalidBool { value: 2 });
    assert_eq!(e.reply_code(), ReplyCode::SYNTAX_ERROR);
    // 0 and 1 are fine.
    assert!(decode(&queue_declare_with_table(&[1, b'k', b't', 1])).is_ok());
}

#[test]
fn table_entry_running_past_the_table() {
    // The table says 3 bytes, the entry needs 4 (key "k", tag 'b', value).
    let mut bytes = queue_declare_with_table(&[1, b'k', b'b']);
    let e = decode_err(&bytes);
    assert_eq!(e.kind(), &ErrorKind::Truncated);
    assert_eq!(e.path(), "queue.declare.arguments");
    // A table length past the payload.
    bytes = frame(
        1,
        1,
        &method_payload(50, 10, &[0, 0, 1, b'q', 0, 0, 0, 0, 9, 1]),
    );
    assert_eq!(decode_err(&bytes).kind(), &ErrorKind::Truncated);
}

#[test]
fn nesting_is_bounded() {
    // MAX_NESTING + 1 tables, each the only value of the one before.
    let mut inner: Vec<u8> = Vec::new();
    for _ in 0..=MAX_NESTING {
        let mut t = vec![1, b'k', b'F'];
        t.extend((inner.len() as u32).to_be_bytes());
        t.extend(&inner);
        inner = t;
    }
    let e = decode_err(&queue_declare_with_table(&inner));
    assert_eq!(e.kind(), &ErrorKind::NestingTooDeep { limit: MAX_NESTING });
    assert_eq!(e.reply_code(), ReplyCode::SYNTAX_ERROR);
}

#[test]
fn undefined_bits_in_a_bit_octet_are_rejected() {
    // basic.ack: delivery-tag, then one bit (multiple); bit 1 is undefined.
    let payload = method_payload(60, 80, &[0, 0, 0, 0, 0, 0, 0, 1, 0b10]);
    let e = decode_err(&frame(1, 1, &payload));
    assert_eq!(e.kind(), &ErrorKind::ReservedBits { octet: 0b10 });
    assert_eq!(e.path(), "basic.ack.multiple");
    assert_eq!(e.reply_code(), ReplyCode::SYNTAX_ERROR);
}

#[test]
fn invalid_property_flags_are_rejected() {
    let header = |flags: u16, rest: &[u8]| {
        let mut p = vec![0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        p.extend(flags.to_be_bytes());
        p.extend(rest);
        frame(2, 1, &p)
    };
    // Bit 1 names a fifteenth property basic does not have.
    let e = decode_err(&header(0b10, &[]));
    assert_eq!(e.kind(), &ErrorKind::InvalidPropertyFlags { word: 0b10 });
    assert_eq!(e.path(), "basic.properties");
    assert_eq!(e.reply_code(), ReplyCode::SYNTAX_ERROR);
    // A continuation bit, though basic's properties fit in one word.
    let e = decode_err(&header(0x1001, &[2, 0, 0]));
    assert_eq!(e.kind(), &ErrorKind::InvalidPropertyFlags { word: 0x1001 });
    // A property flagged but absent.
    let e = decode_err(&header(0x8000, &[]));
    assert_eq!(
        (e.kind(), e.path()),
        (&ErrorKind::Truncated, "basic.properties.content-type")
    );
    // Valid: delivery-mode 2.
    let f = decode(&header(0x1000, &[2]))
        .expect("valid")
        .expect("complete");
    let FramePayload::Header(h) = f.payload else {
        panic!("header")
    };
    assert_eq!(h.basic().and_then(|p| p.delivery_mode), Some(2));
}

#[test]
fn heartbeat_with_a_payload() {
    let e = decode_err(&frame(8, 0, &[1, 2]));
    assert_eq!(e.kind(), &ErrorKind::HeartbeatPayload { size: 2 });
    assert_eq!(e.reply_code(), ReplyCode::FRAME_ERROR);
}

#[test]
fn unknown_methods_pass_through_the_frame_layer() {
    let payload = method_payload(60, 999, &[1, 2, 3]);
    let bytes = frame(1, 3, &payload);
    let f = decode(&bytes)
        .expect("frame layer keeps it")
        .expect("complete");
    let FramePayload::Method(m) = &f.payload else {
        panic!("method")
    };
    assert_eq!(
        m,
        &Method::Unknown {
            class_id: 60,
            method_id: 999,
            arguments: Bytes::from_static(&[1, 2, 3])
        }
    );
    let mut out = Vec::new();
    f.encode(&mut out);
    assert_eq!(out, bytes, "forwarded byte for byte");
    assert_eq!(m.to_string(), "unknown-method 60/999 (3 argument bytes)");

    // Where a typed method is required, it is an error.
    let e = Method::decode_known(&Bytes::from(payload.clone())).expect_err("unknown");
    assert_eq!(
        e.kind(),
        &ErrorKind::UnknownMethod {
            id: MethodId {
                class_id: 60,
                method_id: 999
            }
        }
    );
    assert_eq!(e.reply_code(), ReplyCode::NOT_IMPLEMENTED);
    let e = basic::Publish::decode(&Bytes::from(payload)).expect_err("not a publish");
    assert!(matches!(e.kind(), ErrorKind::MethodMismatch { .. }));
    assert_eq!(e.reply_code(), ReplyCode::COMMAND_INVALID);
}

#[test]
fn protocol_header() {
    use amqp_protocol::ProtocolHeader;
    let mut buf = BytesMut::from(&b"AMQ"[..]);
    assert_eq!(ProtocolHeader::decode(&mut buf), Ok(None));
    buf.extend_from_slice(&[b'P', 0, 0, 9, 1, 1]);
    assert_eq!(
        ProtocolHeader::decode(&mut buf),
        Ok(Some(ProtocolHeader::AMQP_0_9_1))
    );
    assert_eq!(&buf[..], &[1]);
    let e = ProtocolHeader::decode(&mut BytesMut::from(&b"GET / HTTP/1.1"[..])).expect_err("http");
    assert!(matches!(e.kind(), ErrorKind::BadProtocolHeader { .. }));
    assert!(ProtocolHeader::decode(&mut BytesMut::from(&b"X"[..])).is_err());
}

#[test]
fn short_strings_longer_than_255_bytes_cannot_be_built() {
    let e = ShortStr::try_from("x".repeat(256)).expect_err("too long");
    assert_eq!(e.len, 256);
    assert!(ShortStr::try_from("x".repeat(255)).is_ok());
    assert!(ShortStr::try_from(vec![0u8; 300]).is_err());
    assert!(ShortStr::try_from(Bytes::from(vec![0u8; 256])).is_err());
}

// Content errors from the assembler.

fn publish() -> Frame {
    Frame::method(1, basic::Publish::default())
}

fn header(channel: u16, class_id: u16, size: u64) -> Frame {
    let mut h = ContentHeader::new(size, BasicProperties::default());
    h.class_id = class_id;
    Frame::header(channel, h)
}

fn body(channel: u16, b: &'static [u8]) -> Frame {
    Frame::body(channel, Bytes::from_static(b))
}

fn assemble(frames: Vec<Frame>) -> Result<Vec<Assembled>, Error> {
    let mut a = Assembler::new();
    let mut out = Vec::new();
    for f in frames {
        out.extend(a.handle_frame(f)?);
    }
    Ok(out)
}

#[test]
fn content_errors() {
    let code = |frames: Vec<Frame>| {
        let e = assemble(frames).expect_err("content error");
        assert_eq!(e.path(), "content");
        (e.kind().clone(), e.reply_code())
    };
    assert_eq!(
        code(vec![publish(), header(1, 60, 3), body(1, b"abcd")]),
        (
            ErrorKind::BodyTooLong {
                declared: 3,
                received: 4
            },
            ReplyCode::UNEXPECTED_FRAME
        )
    );
    assert_eq!(
        code(vec![
            publish(),
            header(1, 60, 5),
            body(1, b"abc"),
            publish()
        ]),
        (
            ErrorKind::ContentInterrupted { remaining: Some(2) },
            ReplyCode::UNEXPECTED_FRAME
        )
    );
    assert_eq!(
        code(vec![publish(), Frame::method(1, basic::Qos::default())]),
        (
            ErrorKind::ContentInterrupted { remaining: None },
            ReplyCode::UNEXPECTED_FRAME
        )
    );
    assert_eq!(
        code(vec![Frame::method(0, basic::Publish::default())]),
        (ErrorKind::ContentOnChannelZero, ReplyCode::CHANNEL_ERROR)
    );
    assert_eq!(
        code(vec![header(0, 60, 1)]),
        (ErrorKind::ContentOnChannelZero, ReplyCode(504))
    );
    assert_eq!(
        code(vec![body(0, b"x")]),
        (ErrorKind::ContentOnChannelZero, ReplyCode(504))
    );
    assert_eq!(
        code(vec![publish(), header(1, 50, 1)]),
        (
            ErrorKind::HeaderClassMismatch {
                expected: 60,
                found: 50
            },
            ReplyCode(505)
        )
    );
    assert_eq!(
        code(vec![header(1, 60, 1)]),
        (ErrorKind::UnexpectedHeader, ReplyCode(505))
    );
    assert_eq!(
        code(vec![body(1, b"x")]),
        (ErrorKind::UnexpectedBody, ReplyCode(505))
    );
    assert_eq!(
        code(vec![
            publish(),
            header(1, 60, 1),
            body(1, b"x"),
            body(1, b"y")
        ]),
        (ErrorKind::UnexpectedBody, ReplyCode(505))
    );
    assert_eq!(
        code(vec![publish(), body(1, b"x")]),
        (
            ErrorKind::ContentInterrupted { remaining: None },
            ReplyCode(505)
        )
    );
}

#[test]
fn content_on_other_channels_interleaves_freely() {
    let out = assemble(vec![
        publish(),
        Frame::method(2, basic::Publish::default()),
        header(2, 60, 0),
        header(1, 60, 4),
        Frame::method(3, queue::Purge::default()),
        body(1, b"ab"),
        Frame::heartbeat(),
        body(1, b"cd"),
    ])
    .expect("valid");
    assert_eq!(out.len(), 4);
    let Assembled::Content {
        channel: 2,
        content,
    } = &out[0]
    else {
        panic!("{:?}", out[0])
    };
    assert!(content.body.is_empty());
    assert!(matches!(out[1], Assembled::Method { channel: 3, .. }));
    assert_eq!(out[2], Assembled::Heartbeat);
    let Assembled::Content {
        channel: 1,
        content,
    } = &out[3]
    else {
        panic!("{:?}", out[3])
    };
    assert_eq!(content.body, "abcd");
}

#[test]
fn assembler_recovers_after_an_error() {
    let mut a = Assembler::new();
    a.handle_frame(publish()).expect("ok");
    assert!(a.handle_frame(body(1, b"x")).is_err());
    assert!(!a.is_pending(1));
    a.handle_frame(publish()).expect("ok");
    a.handle_frame(header(1, 60, 1)).expect("ok");
    assert!(matches!(
        a.handle_frame(body(1, b"x")),
        Ok(Some(Assembled::Content { .. }))
    ));
}

#[test]
fn display_is_one_line() {
    let mut args = FieldTable::new();
    args.insert(ShortStr::from_static("x-max-priority"), 10u8);
    let declare = queue::Declare {
        queue: ShortStr::from_static("jobs"),
        durable: true,
        arguments: args,
        ..Default::default()
    };
    assert_eq!(
        Frame::method(1, declare).to_string(),
        r#"ch=1 method queue.declare queue="jobs" passive=false durable=true exclusive=false auto-delete=false no-wait=false arguments={"x-max-priority"=10}"#
    );
    let props = BasicProperties::default()
        .with_content_type(ShortStr::from_static("text/plain"))
        .with_delivery_mode(2);
    assert_eq!(
        Frame::header(1, ContentHeader::new(5, props)).to_string(),
        r#"ch=1 header class=60 body-size=5 content-type="text/plain" delivery-mode=2"#
    );
    assert_eq!(body(1, b"hello").to_string(), "ch=1 body 5 bytes");
    assert_eq!(Frame::heartbeat().to_string(), "ch=0 heartbeat");
}

#[test]
fn a_huge_declared_frame_does_not_reserve_huge_memory() {
    // No limit (0): a header declaring ~4 GiB is incomplete input, and the
    // buffer grows only by a bounded step.
    let mut buf = BytesMut::from(&[3u8, 0, 1, 0xFF, 0xFF, 0xFF, 0xF0][..]);
    assert_eq!(FrameDecoder::new(0).decode(&mut buf), Ok(None));
    assert!(buf.capacity() <= 512 * 1024, "reserved {}", buf.capacity());
}

#[test]
fn strings_display_quoted_and_escaped() {
    let s = ShortStr::try_from(&b"a\"b\\c\n\x01\xc3\xa9 ok"[..]).unwrap();
    assert_eq!(s.to_string(), r#""a\"b\\c\n\x01\xc3\xa9 ok""#);
    assert_eq!(ShortStr::new().to_string(), r#""""#);
}
