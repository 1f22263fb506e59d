//! Property tests: every method (built from random argument values by a small
//! encoder written here from the spec metadata, independent of the generated
//! encoders), the basic properties and field values round-trip exactly, and
//! every proper prefix of a frame is "need more bytes".

use amqp_protocol::{
    AmqpType, ArgValue, BasicProperties, ContentHeader, Decimal, FieldArray, FieldInfo, FieldTable,
    FieldValue, Frame, FrameDecoder, FramePayload, LongStr, Method, ShortStr, Timestamp, METHODS,
};
use bytes::{BufMut, Bytes, BytesMut};
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum V {
    Bit(bool),
    Octet(u8),
    Short(u16),
    Long(u32),
    LongLong(u64),
    ShortStr(Vec<u8>),
    LongStr(Vec<u8>),
    Table(FieldTable),
    Timestamp(u64),
}

fn short_str() -> impl Strategy<Value = ShortStr> {
    prop::collection::vec(any::<u8>(), 0..=255)
        .prop_map(|v| ShortStr::try_from(v).expect("at most 255"))
}

fn finite_f64() -> impl Strategy<Value = f64> {
    prop::num::f64::NORMAL | prop::num::f64::ZERO | prop::num::f64::SUBNORMAL
}

fn finite_f32() -> impl Strategy<Value = f32> {
    prop::num::f32::NORMAL | prop::num::f32::ZERO | prop::num::f32::SUBNORMAL
}

fn field_value() -> impl Strategy<Value = FieldValue> {
    let leaf = prop_oneof![
        any::<bool>().prop_map(FieldValue::Bool),
        any::<i8>().prop_map(FieldValue::I8),
        any::<u8>().prop_map(FieldValue::U8),
        any::<i16>().prop_map(FieldValue::I16),
        any::<u16>().prop_map(FieldValue::U16),
        any::<i32>().prop_map(FieldValue::I32),
        any::<u32>().prop_map(FieldValue::U32),
        any::<i64>().prop_map(FieldValue::I64),
        finite_f32().prop_map(FieldValue::F32),
        finite_f64().prop_map(FieldValue::F64),
        (any::<u8>(), any::<u32>())
            .prop_map(|(scale, value)| FieldValue::Decimal(Decimal { scale, value })),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|v| FieldValue::LongStr(LongStr::from(v))),
        prop::collection::vec(any::<u8>(), 0..40)
            .prop_map(|v| FieldValue::ByteArray(Bytes::from(v))),
        any::<u64>().prop_map(|t| FieldValue::Timestamp(Timestamp(t))),
        Just(FieldValue::Void),
        any::<i16>().prop_map(FieldValue::SpecI16),
        any::<i64>().prop_map(FieldValue::SpecI64),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6)
                .prop_map(|v| FieldValue::Array(FieldArray(v))),
            prop::collection::vec((short_str(), inner), 0..6)
                .prop_map(|v| FieldValue::Table(v.into_iter().collect())),
        ]
    })
}

fn field_table() -> impl Strategy<Value = FieldTable> {
    // Keys drawn from a small set so that duplicates occur.
    let key = prop_oneof![
        Just(ShortStr::from_static("a")),
        Just(ShortStr::from_static("x-match")),
        short_str(),
    ];
    prop::collection::vec((key, field_value()), 0..8).prop_map(|v| v.into_iter().collect())
}

fn value_for(ty: AmqpType) -> BoxedStrategy<V> {
    match ty {
        AmqpType::Bit => any::<bool>().prop_map(V::Bit).boxed(),
        AmqpType::Octet => any::<u8>().prop_map(V::Octet).boxed(),
        AmqpType::Short => any::<u16>().prop_map(V::Short).boxed(),
        AmqpType::Long => any::<u32>().prop_map(V::Long).boxed(),
        AmqpType::LongLong => any::<u64>().prop_map(V::LongLong).boxed(),
        AmqpType::ShortStr => prop::collection::vec(any::<u8>(), 0..=255)
            .prop_map(V::ShortStr)
            .boxed(),
        AmqpType::LongStr => prop::collection::vec(any::<u8>(), 0..300)
            .prop_map(V::LongStr)
            .boxed(),
        AmqpType::Table => field_table().prop_map(V::Table).boxed(),
        AmqpType::Timestamp => any::<u64>().prop_map(V::Timestamp).boxed(),
    }
}

/// A method (by index into METHODS), a channel and argument values.
fn method_case() -> impl Strategy<Value = (usize, u16, Vec<V>)> {
    (0..METHODS.len(), any::<u16>()).prop_flat_map(|(i, ch)| {
        let values: Vec<BoxedStrategy<V>> =
            METHODS[i].fields.iter().map(|f| value_for(f.ty)).collect();
        (Just(i), Just(ch), values)
    })
}

/// The spec's wire format, written here from the metadata: integers big
/// endian, consecutive bits packed LSB first into shared octets (at most 8).
fn encode_args(fields: &[FieldInfo], values: &[V], out: &mut Vec<u8>) {
    let mut bit_octet: Option<(usize, u8)> = None; // (index in out, next bit)
    for (f, v) in fields.iter().zip(values) {
        if let V::Bit(b) = v {
            match bit_octet {
                Some((at, n)) if n < 8 => {
                    out[at] |= u8::from(*b) << n;
                    bit_octet = Some((at, n + 1));
                }
                _ => {
                    out.push(u8::from(*b));
                    bit_octet = Some((out.len() - 1, 1));
                }
            }
            continue;
        }
        bit_octet = None;
        assert_ne!(f.ty, AmqpType::Bit);
        match v {
            V::Octet(n) => out.push(*n),
            V::Short(n) => out.extend(n.to_be_bytes()),
            V::Long(n) => out.extend(n.to_be_bytes()),
            V::LongLong(n) | V::Timestamp(n) => out.extend(n.to_be_bytes()),
            V::ShortStr(s) => {
                out.push(s.len() as u8);
                out.extend(s);
            }
            V::LongStr(s) => {
                out.extend((s.len() as u32).to_be_bytes());
                out.extend(s);
            }
            V::Table(t) => t.encode(out),
            V::Bit(_) => unreachable!(),
        }
    }
}

fn same(a: ArgValue<'_>, v: &V) -> bool {
    match (a, v) {
        (ArgValue::Bit(a), V::Bit(b)) => a == *b,
        (ArgValue::Octet(a), V::Octet(b)) => a == *b,
        (ArgValue::Short(a), V::Short(b)) => a == *b,
        (ArgValue::Long(a), V::Long(b)) => a == *b,
        (ArgValue::LongLong(a), V::LongLong(b)) => a == *b,
        (ArgValue::Timestamp(a), V::Timestamp(b)) => a.0 == *b,
        (ArgValue::ShortStr(a), V::ShortStr(b)) => a.as_bytes() == b.as_slice(),
        (ArgValue::LongStr(a), V::LongStr(b)) => a.as_bytes() == b.as_slice(),
        (ArgValue::Table(a), V::Table(b)) => a == b,
        _ => false,
    }
}

fn frame_bytes(frame_type: u8, channel: u16, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![frame_type];
    out.extend(channel.to_be_bytes());
    out.extend((payload.len() as u32).to_be_bytes());
    out.extend(payload);
    out.push(0xCE);
    out
}

/// Every proper prefix is "need more bytes"; the whole decodes and re-encodes
/// to the same bytes with an exact encoded_len.
fn check_frame_bytes(bytes: &[u8]) -> Frame {
    let mut decoder = FrameDecoder::new(0);
    for n in 0..bytes.len() {
        let mut buf = BytesMut::from(&bytes[..n]);
        assert_eq!(decoder.decode(&mut buf), Ok(None), "prefix of {n} bytes");
        assert_eq!(buf.len(), n, "a partial decode must not consume input");
    }
    let mut buf = BytesMut::from(bytes);
    let frame = decoder
        .decode(&mut buf)
        .expect("decodes")
        .expect("complete");
    assert!(buf.is_empty());
    assert_eq!(frame.encoded_len(), bytes.len());
    let mut out = Vec::new();
    frame.encode(&mut out);
    assert_eq!(out, bytes);
    frame
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_method_round_trips((i, channel, values) in method_case()) {
        let info = &METHODS[i];
        let mut payload = Vec::new();
        payload.extend(info.class_id.to_be_bytes());
        payload.extend(info.method_id.to_be_bytes());
        encode_args(info.fields, &values, &mut payload);

        let frame = check_frame_bytes(&frame_bytes(1, channel, &payload));
        prop_assert_eq!(frame.channel, channel);
        let FramePayload::Method(m) = &frame.payload else { panic!("method frame expected") };
        prop_assert_eq!(m.name(), info.name);
        prop_assert_eq!(m.fields().len(), values.len());
        for ((fi, got), want) in m.fields().zip(&values) {
            prop_assert!(same(got, want), "{}.{}: {:?} vs {:?}", info.name, fi.name, got, want);
        }
        // decode(encode(x)) == x, encoded_len exact, and Display works.
        prop_assert_eq!(m.encoded_len(), payload.len());
        let mut again = Vec::new();
        m.encode(&mut again);
        prop_assert_eq!(&again, &payload);
        prop_assert_eq!(&Method::decode(&Bytes::from(again)).expect("decodes"), m);
        let _ = m.to_string();
    }

    #[test]
    fn properties_round_trip(
        body_size in any::<u64>(),
        strs in prop::collection::vec(prop::option::of(short_str()), 11),
        headers in prop::option::of(field_table()),
        delivery_mode in prop::option::of(any::<u8>()),
        priority in prop::option::of(any::<u8>()),
        timestamp in prop::option::of(any::<u64>()),
        channel in 1u16..,
    ) {
        let p = BasicProperties {
            content_type: strs[0].clone(),
            content_encoding: strs[1].clone(),
            headers,
            delivery_mode,
            priority,
            correlation_id: strs[2].clone(),
            reply_to: strs[3].clone(),
            expiration: strs[4].clone(),
            message_id: strs[5].clone(),
            timestamp: timestamp.map(Timestamp),
            kind: strs[6].clone(),
            user_id: strs[7].clone(),
            app_id: strs[8].clone(),
            reserved: strs[9].clone(),
        };
        let frame = Frame::header(channel, ContentHeader::new(body_size, p.clone()));
        let mut bytes = Vec::new();
        frame.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), frame.encoded_len());
        let decoded = check_frame_bytes(&bytes);
        prop_assert_eq!(&decoded, &frame);
        let FramePayload::Header(h) = decoded.payload else { panic!("header expected") };
        prop_assert_eq!(h.basic(), Some(&p));
    }

    #[test]
    fn field_tables_round_trip(t in field_table()) {
        let mut bytes = Vec::new();
        t.encode(&mut bytes);
        prop_assert_eq!(bytes.len(), t.encoded_len());
        let decoded = FieldTable::decode(&Bytes::from(bytes.clone())).expect("decodes");
        prop_assert_eq!(&decoded, &t);
        let mut again = Vec::new();
        decoded.encode(&mut again);
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn field_values_round_trip(v in field_value()) {
        let mut t = FieldTable::new();
        t.push(ShortStr::from_static("k"), v.clone());
        let mut bytes = Vec::new();
        t.encode(&mut bytes);
        prop_assert_eq!(v.encoded_len() + 4 + 2, bytes.len());
        let decoded = FieldTable::decode(&Bytes::from(bytes)).expect("decodes");
        prop_assert_eq!(decoded.get("k"), Some(&v));
    }

    #[test]
    fn body_frames_and_prefixes(body in prop::collection::vec(any::<u8>(), 0..3000), frame_max in 9u32..600, channel in 1u16..) {
        let body = Bytes::from(body);
        let mut total = 0;
        for f in amqp_protocol::body_frames(channel, &body, frame_max) {
            let mut bytes = Vec::new();
            f.encode(&mut bytes);
            prop_assert!(bytes.len() <= frame_max as usize);
            check_frame_bytes(&bytes);
            let FramePayload::Body(b) = &f.payload else { panic!("body") };
            total += b.len();
        }
        prop_assert_eq!(total, body.len());
    }

    #[test]
    fn stream_in_random_pieces(
        values in prop::collection::vec(method_case(), 1..6),
        cuts in prop::collection::vec(1usize..50, 1..40),
    ) {
        // Several frames fed in arbitrary pieces give the same frames.
        let mut stream = Vec::new();
        let mut expected = Vec::new();
        for (i, ch, vals) in &values {
            let info = &METHODS[*i];
            let mut payload = Vec::new();
            payload.extend(info.class_id.to_be_bytes());
            payload.extend(info.method_id.to_be_bytes());
            encode_args(info.fields, vals, &mut payload);
            let bytes = frame_bytes(1, *ch, &payload);
            expected.push(bytes.clone());
            stream.extend(bytes);
        }
        stream.put_slice(&frame_bytes(8, 0, &[]));
        let mut decoder = FrameDecoder::new(0);
        let mut buf = BytesMut::new();
        let mut got = Vec::new();
        let mut rest = &stream[..];
        let mut cut = cuts.iter().cycle();
        while !rest.is_empty() {
            let n = (*cut.next().expect("cycle")).min(rest.len());
            buf.extend_from_slice(&rest[..n]);
            rest = &rest[n..];
            while let Some(f) = decoder.decode(&mut buf).expect("valid stream") {
                got.push(f);
            }
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got.len(), expected.len() + 1);
        prop_assert_eq!(&got[got.len() - 1], &Frame::heartbeat());
        for (f, bytes) in got.iter().zip(&expected) {
            let mut out = Vec::new();
            f.encode(&mut out);
            prop_assert_eq!(&out, bytes);
        }
    }
}
