//! Writes the committed seed corpus to `seeds/<target>/` beside this file:
//! `cargo run --example make_seeds` (from the `fuzz` folder). Existing seed
//! files are overwritten; files this generator does not write are left alone
//! (entries kept from fuzzing runs).
//!
//! Frame seeds start with the configuration octet described in
//! `amqp_tests::fuzz_checks` (0: limit 131072, all input at once); the rest
//! is a byte stream. Table seeds are whole field tables, length included.
//! Most frames come from the crate's own encoder; odd and malformed ones are
//! written by hand.

use std::fs;
use std::path::{Path, PathBuf};

use amqp_protocol::{
    basic, channel, connection, exchange, queue, AmqpType, BasicProperties, ContentHeader, Decimal,
    FieldArray, FieldTable, FieldValue, Frame, LongStr, Method, ProtocolHeader, ShortStr,
    Timestamp, METHODS,
};
use bytes::{BufMut, Bytes, BytesMut};

fn s(v: &'static str) -> ShortStr {
    ShortStr::from_static(v)
}

fn key(v: &'static str) -> ShortStr {
    s(v)
}

/// Frames, encoded by the crate, one after another.
fn frames(list: &[Frame]) -> Vec<u8> {
    let mut b = BytesMut::new();
    for f in list {
        f.encode(&mut b);
    }
    b.to_vec()
}

/// A frame written by hand: any type, any payload, any end octet.
fn raw_frame(frame_type: u8, channel: u16, payload: &[u8], end: u8) -> Vec<u8> {
    let mut b = Vec::with_capacity(payload.len() + 8);
    b.push(frame_type);
    b.extend_from_slice(&channel.to_be_bytes());
    b.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    b.extend_from_slice(payload);
    b.push(end);
    b
}

/// A configuration octet, then the stream.
fn with_cfg(cfg: u8, stream: &[u8]) -> Vec<u8> {
    let mut v = vec![cfg];
    v.extend_from_slice(stream);
    v
}

fn encode_table(t: &FieldTable) -> Vec<u8> {
    let mut b = BytesMut::new();
    t.encode(&mut b);
    b.to_vec()
}

/// One value of every tag, in the order of the tag list.
fn every_value() -> Vec<(&'static str, FieldValue)> {
    vec![
        ("t", FieldValue::Bool(true)),
        ("b", FieldValue::I8(-5)),
        ("B", FieldValue::U8(250)),
        ("s", FieldValue::I16(-1234)),
        ("u", FieldValue::U16(54321)),
        ("I", FieldValue::I32(-123_456)),
        ("i", FieldValue::U32(4_000_000_000)),
        ("l", FieldValue::I64(-9_000_000_000)),
        ("f", FieldValue::F32(1.5)),
        ("d", FieldValue::F64(-2.25)),
        (
            "D",
            FieldValue::Decimal(Decimal {
                scale: 2,
                value: 31415,
            }),
        ),
        ("S", FieldValue::LongStr(LongStr::from("long \"string\"\n"))),
        (
            "x",
            FieldValue::ByteArray(Bytes::from_static(&[0, 1, 0xfe, 0xff])),
        ),
        (
            "A",
            FieldValue::Array(FieldArray(vec![
                FieldValue::U8(1),
                FieldValue::LongStr(LongStr::from("two")),
                FieldValue::Void,
            ])),
        ),
        ("T", FieldValue::Timestamp(Timestamp(1_700_000_000))),
        ("F", FieldValue::Table(queue_arguments())),
        ("V", FieldValue::Void),
        ("U", FieldValue::SpecI16(-2)),
        ("L", FieldValue::SpecI64(-3)),
    ]
}

fn every_tag_table() -> FieldTable {
    every_value()
        .into_iter()
        .map(|(k, v)| (key(k), v))
        .collect()
}

fn queue_arguments() -> FieldTable {
    let mut t = FieldTable::new();
    t.insert(key("x-max-priority"), 10u8);
    t.insert(key("x-queue-type"), "quorum");
    t.insert(key("x-message-ttl"), 60_000i32);
    t.insert(key("x-expires"), 1_800_000i64);
    t
}

fn server_properties() -> FieldTable {
    let mut caps = FieldTable::new();
    for c in [
        "publisher_confirms",
        "exchange_exchange_bindings",
        "basic.nack",
        "consumer_cancel_notify",
        "connection.blocked",
        "authentication_failure_close",
        "per_consumer_qos",
        "direct_reply_to",
    ] {
        caps.push(ShortStr::try_from(c).expect("short"), true);
    }
    let mut t = FieldTable::new();
    t.insert(key("capabilities"), caps);
    t.insert(key("cluster_name"), "rabbit@broker");
    t.insert(
        key("copyright"),
        "Copyright (c) 2007-2024 Broadcom Inc and/or its subsidiaries",
    );
    t.insert(key("information"), "Licensed under the MPL 2.0");
    t.insert(key("platform"), "Erlang/OTP 26.2");
    t.insert(key("product"), "RabbitMQ");
    t.insert(key("version"), "3.13.0");
    t
}

fn client_properties() -> FieldTable {
    let mut caps = FieldTable::new();
    caps.insert(key("publisher_confirms"), true);
    caps.insert(key("basic.nack"), true);
    caps.insert(key("connection.blocked"), false);
    let mut t = FieldTable::new();
    t.insert(key("product"), "amqp-rs");
    t.insert(key("platform"), "Rust");
    t.insert(key("capabilities"), caps);
    t.insert(key("connection_name"), "fuzz seed");
    t
}

fn full_properties() -> BasicProperties {
    let mut headers = FieldTable::new();
    headers.insert(key("x-retries"), 3u8);
    let mut death = FieldTable::new();
    death.insert(key("count"), 1i64);
    death.insert(key("reason"), "expired");
    death.insert(key("queue"), "jobs");
    death.insert(key("time"), FieldValue::Timestamp(Timestamp(1_700_000_000)));
    death.insert(
        key("routing-keys"),
        FieldArray(vec![FieldValue::LongStr(LongStr::from("jobs"))]),
    );
    headers.insert(key("x-death"), FieldArray(vec![FieldValue::Table(death)]));
    BasicProperties::default()
        .with_content_type(s("application/json"))
        .with_content_encoding(s("gzip"))
        .with_headers(headers)
        .with_delivery_mode(2)
        .with_priority(7)
        .with_correlation_id(s("corr-1"))
        .with_reply_to(s("amq.rabbitmq.reply-to"))
        .with_expiration(s("60000"))
        .with_message_id(s("msg-42"))
        .with_timestamp(Timestamp(1_700_000_000))
        .with_kind(s("job.created"))
        .with_user_id(s("guest"))
        .with_app_id(s("seedgen"))
        .with_reserved(s("cluster"))
}

fn publish(routing_key: &'static str) -> basic::Publish {
    basic::Publish {
        exchange: s("amq.direct"),
        routing_key: s(routing_key),
        mandatory: true,
        ..Default::default()
    }
}

fn deliver(tag: u64) -> basic::Deliver {
    basic::Deliver {
        consumer_tag: s("ctag-1"),
        delivery_tag: tag,
        redelivered: tag & 1 == 0,
        exchange: s("amq.topic"),
        routing_key: s("a.b.c"),
    }
}

fn header(size: u64, props: BasicProperties) -> ContentHeader {
    ContentHeader::new(size, props)
}

fn body(ch: u16, b: &'static [u8]) -> Frame {
    Frame::body(ch, Bytes::from_static(b))
}

/// A message: method, header, body split into `parts`.
fn message(
    ch: u16,
    m: impl Into<Method>,
    props: BasicProperties,
    parts: &[&'static [u8]],
) -> Vec<Frame> {
    let size = parts.iter().map(|p| p.len() as u64).sum();
    let mut v = vec![Frame::method(ch, m), Frame::header(ch, header(size, props))];
    v.extend(parts.iter().map(|p| body(ch, p)));
    v
}

/// A payload for every method the specification defines, built from its
/// field metadata: zeros, or (`filled`) small non-zero values, all bits set.
fn every_method(filled: bool) -> Vec<Frame> {
    let mut out = Vec::new();
    for info in METHODS {
        let mut p = BytesMut::new();
        p.put_u16(info.class_id);
        p.put_u16(info.method_id);
        let mut i = 0;
        while i < info.fields.len() {
            let f = &info.fields[i];
            match f.ty {
                AmqpType::Bit => {
                    let n = info.fields[i..]
                        .iter()
                        .take_while(|g| g.ty == AmqpType::Bit)
                        .count()
                        .min(8);
                    p.put_u8(if filled { ((1u16 << n) - 1) as u8 } else { 0 });
                    i += n;
                    continue;
                }
                AmqpType::Octet => p.put_u8(u8::from(filled)),
                AmqpType::Short => p.put_u16(if filled { 0x0102 } else { 0 }),
                AmqpType::Long => p.put_u32(if filled { 0x0102_0304 } else { 0 }),
                AmqpType::LongLong | AmqpType::Timestamp => {
                    p.put_u64(if filled { 0x0102_0304_0506_0708 } else { 0 })
                }
                AmqpType::ShortStr => {
                    let v: &[u8] = if filled { f.name.as_bytes() } else { b"" };
                    p.put_u8(v.len() as u8);
                    p.put_slice(v);
                }
                AmqpType::LongStr => {
                    let v: &[u8] = if filled {
                        b"\x00PLAIN\x00guest\x00guest"
                    } else {
                        b""
                    };
                    p.put_u32(v.len() as u32);
                    p.put_slice(v);
                }
                AmqpType::Table => {
                    let mut t = FieldTable::new();
                    if filled {
                        t.insert(key("k"), "v");
                        t.insert(key("n"), 1u8);
                    }
                    t.encode(&mut p);
                }
            }
            i += 1;
        }
        let payload = p.freeze();
        let m = Method::decode(&payload)
            .unwrap_or_else(|e| panic!("generated {} does not decode: {e}", info.name));
        out.push(Frame::method(1 + (out.len() as u16 % 3), m));
    }
    out
}

fn frame_decoder_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let start = connection::Start {
        version_major: 0,
        version_minor: 9,
        server_properties: server_properties(),
        mechanisms: LongStr::from("AMQPLAIN PLAIN"),
        locales: LongStr::from("en_US"),
    };
    let handshake = frames(&[
        Frame::method(
            0,
            connection::StartOk {
                client_properties: client_properties(),
                mechanism: s("PLAIN"),
                response: LongStr::from(&b"\x00guest\x00guest"[..]),
                locale: s("en_US"),
            },
        ),
        Frame::method(
            0,
            connection::TuneOk {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 60,
            },
        ),
        Frame::method(
            0,
            connection::Open {
                virtual_host: s("/"),
                ..Default::default()
            },
        ),
        Frame::method(1, channel::Open::default()),
        Frame::method(
            1,
            basic::Qos {
                prefetch_count: 10,
                ..Default::default()
            },
        ),
    ]);
    let mut with_header = ProtocolHeader::AMQP_0_9_1.to_bytes().to_vec();
    with_header.extend(frames(&[Frame::method(0, start.clone())]));
    with_header.extend(frames(&[Frame::method(
        0,
        connection::Tune {
            channel_max: 2047,
            frame_max: 131_072,
            heartbeat: 60,
        },
    )]));

    let publish_msg = frames(&message(
        1,
        publish("jobs"),
        BasicProperties::default(),
        &[b"hello"],
    ));
    let deliver_msg = frames(&message(
        2,
        deliver(7),
        full_properties(),
        &[b"{\"id\":", b"42}"],
    ));
    let get_ok = frames(&message(
        3,
        basic::GetOk {
            delivery_tag: 9,
            redelivered: true,
            exchange: s(""),
            routing_key: s("q"),
            message_count: 12,
        },
        BasicProperties::default().with_delivery_mode(1),
        &[b"payload"],
    ));

    let declare_args = frames(&[
        Frame::method(
            1,
            exchange::Declare {
                exchange: s("events"),
                kind: s("topic"),
                durable: true,
                arguments: every_tag_table(),
                ..Default::default()
            },
        ),
        Frame::method(
            1,
            queue::Declare {
                queue: s("jobs"),
                durable: true,
                arguments: queue_arguments(),
                ..Default::default()
            },
        ),
        Frame::method(
            1,
            queue::Bind {
                queue: s("jobs"),
                exchange: s("events"),
                routing_key: s("job.#"),
                ..Default::default()
            },
        ),
        Frame::method(
            1,
            basic::Consume {
                queue: s("jobs"),
                consumer_tag: s("ctag-1"),
                arguments: queue_arguments(),
                ..Default::default()
            },
        ),
    ]);
    let acks = frames(&[
        Frame::method(
            1,
            basic::Ack {
                delivery_tag: 1,
                multiple: true,
            },
        ),
        Frame::method(
            1,
            basic::Nack {
                delivery_tag: 2,
                multiple: false,
                requeue: true,
            },
        ),
        Frame::method(
            1,
            basic::Reject {
                delivery_tag: 3,
                requeue: false,
            },
        ),
        Frame::heartbeat(),
    ]);
    let closing = frames(&[
        Frame::method(
            1,
            channel::Close {
                reply_code: 404,
                reply_text: s("NOT_FOUND - no queue 'x' in vhost '/'"),
                class_id: 50,
                method_id: 10,
            },
        ),
        Frame::method(
            0,
            connection::Close {
                reply_code: 320,
                reply_text: s(
                    "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'",
                ),
                class_id: 0,
                method_id: 0,
            },
        ),
        Frame::method(0, connection::CloseOk),
    ]);

    // Hand-written, odd or malformed.
    let unknown_method = raw_frame(1, 1, &[0x03, 0xe7, 0x00, 0x0a, 1, 2, 3], 0xce);
    let reserved_bits = raw_frame(
        1,
        1,
        &[0, 60, 0, 40, 0, 0, 0, 0, 0xfc], // basic.publish, bits 2..7 set
        0xce,
    );
    let trailing = raw_frame(1, 0, &[0, 10, 0, 51, 0xff], 0xce); // connection.close-ok + 1 byte
    let unknown_class_header = raw_frame(
        2,
        1,
        &[0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x80, 0, 1, b'x'],
        0xce,
    );
    let bad_flags = raw_frame(
        2,
        1,
        &[0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x00, 0x03],
        0xce,
    );
    let heartbeat_payload = raw_frame(8, 0, &[0], 0xce);
    let bad_end = raw_frame(8, 0, &[], 0x00);
    let unknown_type = raw_frame(4, 0, &[], 0xce);
    let mut truncated = publish_msg.clone();
    truncated.truncate(publish_msg.len() - 3);

    let mut v = vec![
        ("protocol_header_start_tune", with_cfg(0x40, &with_header)),
        (
            "connection_start",
            with_cfg(0, &frames(&[Frame::method(0, start)])),
        ),
        ("handshake_client", with_cfg(0, &handshake)),
        (
            "every_method_zero",
            with_cfg(0, &frames(&every_method(false))),
        ),
        (
            "every_method_filled",
            with_cfg(0, &frames(&every_method(true))),
        ),
        ("publish_header_body", with_cfg(0, &publish_msg)),
        ("publish_byte_at_a_time", with_cfg(0x04, &publish_msg)),
        ("deliver_full_properties", with_cfg(0, &deliver_msg)),
        ("deliver_pieces_from_stream", with_cfg(0x08, &deliver_msg)),
        ("get_ok_header_sized_pieces", with_cfg(0x0c, &get_ok)),
        ("declare_every_tag", with_cfg(0, &declare_args)),
        ("acks_and_heartbeat", with_cfg(0, &acks)),
        ("closing", with_cfg(0, &closing)),
        ("heartbeat", with_cfg(0, &frames(&[Frame::heartbeat()]))),
        (
            "heartbeat_limit_8",
            with_cfg(0x03, &frames(&[Frame::heartbeat(), Frame::heartbeat()])),
        ),
        ("declare_over_limit_256", with_cfg(0x02, &declare_args)),
        ("unknown_method_kept", with_cfg(0, &unknown_method)),
        ("reserved_bits", with_cfg(0, &reserved_bits)),
        ("trailing_bytes", with_cfg(0, &trailing)),
        ("unknown_class_header", with_cfg(0, &unknown_class_header)),
        ("bad_property_flags", with_cfg(0, &bad_flags)),
        ("heartbeat_with_payload", with_cfg(0, &heartbeat_payload)),
        ("bad_frame_end", with_cfg(0, &bad_end)),
        ("unknown_frame_type", with_cfg(0, &unknown_type)),
        ("truncated_publish", with_cfg(0, &truncated)),
        (
            "protocol_header_as_frame",
            with_cfg(0, &ProtocolHeader::AMQP_0_9_1.to_bytes()),
        ),
        (
            "bad_protocol_header",
            with_cfg(0x40, b"HTTP/1.1 200 OK\r\n\r\n"),
        ),
        (
            "garbage_amqp_like",
            with_cfg(
                0x04,
                b"AMQP\x01\x01\x00\x09\x01\x00\x00\x00\x00\x00\x00\xce",
            ),
        ),
    ];
    v.sort_by_key(|(n, _)| *n);
    v
}

fn field_table_seeds() -> Vec<(&'static str, Vec<u8>)> {
    // Tables nested `depth` levels deep.
    fn nested(depth: usize) -> FieldTable {
        let mut t = FieldTable::new();
        t.insert(key("leaf"), 1u8);
        for _ in 0..depth {
            let mut outer = FieldTable::new();
            outer.insert(key("n"), t);
            t = outer;
        }
        t
    }
    let mut arrays = FieldTable::new();
    arrays.insert(
        key("every"),
        FieldArray(every_value().into_iter().map(|(_, v)| v).collect()),
    );
    arrays.insert(
        key("nested"),
        FieldArray(vec![
            FieldValue::Array(FieldArray(vec![
                FieldValue::Array(FieldArray(vec![])),
                FieldValue::I8(1),
            ])),
            FieldValue::Table(FieldTable::new()),
        ]),
    );
    let mut dup = FieldTable::new();
    dup.push(key("k"), 1u8);
    dup.push(key("k"), "second");
    dup.push(key(""), FieldValue::Void);
    let mut floats = FieldTable::new();
    floats.push(key("nan"), f64::NAN);
    floats.push(key("inf"), f32::INFINITY);
    floats.push(key("-0"), -0.0f64);
    floats.push(key("min"), f32::MIN_POSITIVE);

    // Hand-written bytes.
    let non_utf8 = [
        0, 0, 0, 12, // length
        3, 0xff, b'"', 0x00, // key: invalid UTF-8, a quote, a NUL
        b'S', 0, 0, 0, 3, b'\\', b'\n', 0x80,
    ];
    let spec_tags = [
        0, 0, 0, 16, 1, b'U', b'U', 0xff, 0xfe, 1, b'L', b'L', 0x80, 0, 0, 0, 0, 0, 0, 1,
    ];
    let bad_bool = [0, 0, 0, 4, 1, b'b', b't', 2];
    let unknown_tag = [0, 0, 0, 4, 1, b'z', b'Z', 0];
    let truncated = [0, 0, 0, 9, 1, b'k', b'S', 0, 0, 0, 9, b'a'];
    let trailing = [0, 0, 0, 0, 0];
    let inner_overrun = [0, 0, 0, 7, 1, b'a', b'F', 0, 0, 0, 9];

    let mut v = vec![
        ("empty", encode_table(&FieldTable::new())),
        ("every_tag", encode_table(&every_tag_table())),
        ("server_properties", encode_table(&server_properties())),
        ("client_properties", encode_table(&client_properties())),
        ("queue_arguments", encode_table(&queue_arguments())),
        (
            "headers_x_death",
            encode_table(full_properties().headers.as_ref().expect("headers")),
        ),
        ("arrays", encode_table(&arrays)),
        ("duplicate_keys", encode_table(&dup)),
        ("float_specials", encode_table(&floats)),
        ("nested_8", encode_table(&nested(8))),
        ("nested_63", encode_table(&nested(63))),
        ("nested_64", encode_table(&nested(64))),
        ("nested_65", encode_table(&nested(65))),
        ("non_utf8_escapes", non_utf8.to_vec()),
        ("spec_tags_u_l", spec_tags.to_vec()),
        ("bad_bool", bad_bool.to_vec()),
        ("unknown_tag", unknown_tag.to_vec()),
        ("truncated", truncated.to_vec()),
        ("trailing_bytes", trailing.to_vec()),
        ("inner_overrun", inner_overrun.to_vec()),
    ];
    v.sort_by_key(|(n, _)| *n);
    v
}

fn content_assembler_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let p = BasicProperties::default;
    let ret = basic::Return {
        reply_code: 312,
        reply_text: s("NO_ROUTE"),
        exchange: s("amq.direct"),
        routing_key: s("nowhere"),
    };
    let get_ok = basic::GetOk {
        delivery_tag: 1,
        redelivered: false,
        exchange: s(""),
        routing_key: s("q"),
        message_count: 0,
    };

    let mut interleaved = vec![
        Frame::method(1, publish("a")),
        Frame::method(2, publish("b")),
        Frame::header(2, header(4, p())),
        Frame::header(1, header(6, p().with_content_type(s("text/plain")))),
        body(1, b"one"),
        body(2, b"tw"),
        Frame::heartbeat(),
        body(2, b"o!"),
        body(1, b"one"),
    ];
    interleaved.push(Frame::method(
        3,
        basic::Ack {
            delivery_tag: 1,
            multiple: false,
        },
    ));

    let valid = message(1, publish("after-error"), p(), &[b"ok"]);
    let then_valid = |mut v: Vec<Frame>| {
        v.extend(valid.iter().cloned());
        frames(&v)
    };

    let mut v = vec![
        (
            "publish_one_body",
            frames(&message(1, publish("jobs"), p(), &[b"hello"])),
        ),
        (
            "publish_three_bodies",
            frames(&message(
                5,
                publish("jobs"),
                full_properties(),
                &[b"abc", b"", b"defg"],
            )),
        ),
        (
            "deliver_empty_body",
            frames(&message(2, deliver(1), p(), &[])),
        ),
        (
            "get_ok_and_get_empty",
            frames(&{
                let mut f = message(1, get_ok, p().with_priority(1), &[b"x"]);
                f.push(Frame::method(1, basic::GetEmpty::default()));
                f
            }),
        ),
        (
            "return_content",
            frames(&message(1, ret, p(), &[b"unroutable"])),
        ),
        ("interleaved_channels", frames(&interleaved)),
        (
            "methods_without_content",
            frames(&[
                Frame::method(1, channel::Open::default()),
                Frame::method(
                    1,
                    basic::Qos {
                        prefetch_count: 5,
                        ..Default::default()
                    },
                ),
                Frame::method(
                    1,
                    basic::Ack {
                        delivery_tag: 5,
                        multiple: true,
                    },
                ),
                Frame::heartbeat(),
            ]),
        ),
        (
            "header_without_method",
            then_valid(vec![Frame::header(1, header(2, p())), body(1, b"xx")]),
        ),
        ("body_without_header", then_valid(vec![body(1, b"stray")])),
        (
            "content_on_channel_zero",
            then_valid(vec![
                Frame::method(0, publish("zero")),
                Frame::header(0, header(1, p())),
                body(0, b"z"),
            ]),
        ),
        ("header_class_mismatch", {
            let mut b = frames(&[Frame::method(1, publish("c"))]);
            b.extend(raw_frame(
                2,
                1,
                &[0, 10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                0xce,
            ));
            b.extend(then_valid(vec![body(1, b"!")]));
            b
        }),
        (
            "body_too_long",
            then_valid(vec![
                Frame::method(1, publish("long")),
                Frame::header(1, header(3, p())),
                body(1, b"ab"),
                body(1, b"cd"),
            ]),
        ),
        (
            "method_interrupts_body",
            then_valid(vec![
                Frame::method(1, publish("i")),
                Frame::header(1, header(10, p())),
                body(1, b"half"),
                Frame::method(1, basic::Ack::default()),
            ]),
        ),
        (
            "method_interrupts_header",
            then_valid(vec![
                Frame::method(1, publish("i")),
                Frame::method(1, publish("j")),
            ]),
        ),
        (
            "header_twice",
            then_valid(vec![
                Frame::method(1, publish("h")),
                Frame::header(1, header(5, p())),
                Frame::header(1, header(5, p())),
            ]),
        ),
        (
            "huge_declared_size",
            frames(&[
                Frame::method(1, publish("big")),
                Frame::header(1, header(u64::MAX, p())),
                body(1, b"only a little"),
                body(1, b"and more"),
            ]),
        ),
    ];
    let publish_msg = frames(&message(1, publish("jobs"), p(), &[b"he", b"llo"]));
    let mut with_cfg_seeds = vec![
        ("byte_at_a_time", with_cfg(0x04, &publish_msg)),
        (
            "limit_256",
            with_cfg(
                0x02,
                &frames(&message(1, publish("jobs"), full_properties(), &[b"x"])),
            ),
        ),
    ];
    for (_, bytes) in &mut v {
        bytes.insert(0, 0);
    }
    v.append(&mut with_cfg_seeds);
    v.sort_by_key(|(n, _)| *n);
    v
}

fn write(dir: &Path, seeds: &[(&str, Vec<u8>)]) {
    fs::create_dir_all(dir).expect("creating the seed folder");
    for (name, bytes) in seeds {
        let path = dir.join(format!("{name}.bin"));
        fs::write(&path, bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let total: usize = seeds.iter().map(|(_, b)| b.len()).sum();
    println!("{}: {} files, {total} bytes", dir.display(), seeds.len());
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("seeds");
    write(&root.join("frame_decoder"), &frame_decoder_seeds());
    write(&root.join("field_table"), &field_table_seeds());
    write(&root.join("content_assembler"), &content_assembler_seeds());
}
