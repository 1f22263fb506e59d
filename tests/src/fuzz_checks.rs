//! Property checks shared by the fuzz targets (`fuzz/`) and the seed-replay
//! test (`tests/fuzz_seeds.rs`).
//!
//! Each function takes arbitrary bytes and panics only when a property of the
//! codec is violated: malformed input is expected, and must give a typed
//! error with a connection reply code, never a panic.
//!
//! # Input layout
//!
//! [`check_frames`] and [`check_assembler`] read their first byte as a
//! configuration octet and the rest as the byte stream of one direction of a
//! connection:
//!
//! | bits | meaning |
//! |---|---|
//! | 0–1 | frame-size limit: 0 → 131072, 1 → 4096, 2 → 256, 3 → `8 + 8 × (bits 4–7)` (8..=128) |
//! | 2–3 | how the stream reaches the decoder: 0 → all at once, 1 → one byte at a time, 2 → pieces of `1 + (byte % 64)` bytes, the sizes read from the stream itself, 3 → pieces of 7 bytes (one frame header) |
//! | 6 | the stream starts with the 8-byte protocol header |
//!
//! A configuration octet of 0 means: limit 131072, everything at once, no
//! protocol header. [`check_table`] takes a whole field table, length prefix
//! included.

use std::collections::HashMap;

use amqp_protocol::{
    body_frames, content_encoded_len, encode_content, Assembled, Assembler, ErrorKind, FieldTable,
    FieldValue, Frame, FrameDecoder, FramePayload, Method, ProtocolHeader, FRAME_HEADER_SIZE,
    FRAME_OVERHEAD,
};
use bytes::{BufMut, Bytes, BytesMut};

/// Frame types the decoder accepts.
const FRAME_TYPES: [u8; 4] = [1, 2, 3, 8];

/// The decoding configuration read from the first input byte.
#[derive(Debug, Clone, Copy)]
struct Config {
    limit: u32,
    feed: u8,
    protocol_header: bool,
}

impl Config {
    fn from_octet(c: u8) -> Config {
        let limit = match c & 0x03 {
            0 => 131_072,
            1 => 4_096,
            2 => 256,
            _ => 8 + 8 * u32::from(c >> 4),
        };
        Config {
            limit,
            feed: (c >> 2) & 0x03,
            protocol_header: c & 0x40 != 0,
        }
    }

    /// Splits the input into the configuration and the stream.
    fn split(data: &[u8]) -> (Config, &[u8]) {
        match data.split_first() {
            Some((&c, rest)) => (Config::from_octet(c), rest),
            None => (Config::from_octet(0), &[]),
        }
    }

    /// Size of the next piece of `stream` to feed, starting at `fed`.
    fn piece(&self, stream: &[u8], fed: usize) -> usize {
        let left = stream.len() - fed;
        let n = match self.feed {
            0 => left,
            1 => 1,
            2 => 1 + usize::from(stream[fed] % 64),
            _ => FRAME_HEADER_SIZE,
        };
        n.min(left)
    }
}

/// The reply code of every decoding error is a connection error the
/// specification defines for it, and the error renders.
fn check_error(e: &amqp_protocol::Error) {
    let code = e.reply_code().0;
    assert!(
        matches!(code, 501..=505 | 540),
        "reply code {code} for error {:?}",
        e.kind()
    );
    assert!(!e.path().is_empty(), "empty error path: {e:?}");
    assert!(!e.to_string().is_empty());
    assert!(!e.kind().to_string().is_empty());
}

/// What the stream walker reports about each complete frame.
trait FrameSink {
    /// A frame that decoded, with the exact bytes it occupied in the stream.
    fn frame(&mut self, limit: u32, frame: Frame, raw: &[u8]);
}

/// Feeds `stream` to a [`FrameDecoder`] as `cfg` says, checking the decoder's
/// own contract (what `Ok(None)` and errors mean, how much they consume), and
/// hands every decoded frame to `sink`. Stops at the first error.
fn walk_frames(cfg: Config, stream: &[u8], sink: &mut impl FrameSink) {
    let mut decoder = FrameDecoder::new(cfg.limit);
    assert_eq!(decoder.max_frame_size(), cfg.limit);
    let mut buf = BytesMut::new();
    let mut fed = 0; // stream bytes appended to `buf` so far
    let mut consumed = 0; // stream bytes taken off the front of `buf`
    let mut want_protocol_header = cfg.protocol_header;
    loop {
        debug_assert_eq!(buf.len(), fed - consumed);
        if want_protocol_header {
            match ProtocolHeader::decode(&mut buf) {
                Ok(Some(h)) => {
                    assert_eq!(
                        h.to_bytes()[..],
                        stream[consumed..consumed + 8],
                        "protocol header {h:?} is not the 8 bytes it was read from"
                    );
                    assert!(!h.to_string().is_empty());
                    consumed += 8;
                    assert_eq!(
                        buf.len(),
                        fed - consumed,
                        "protocol header consumed ≠ 8 bytes"
                    );
                    want_protocol_header = false;
                    continue;
                }
                Ok(None) => {
                    let have = &stream[consumed..fed];
                    assert!(
                        have.len() < 8 && b"AMQP".starts_with(&have[..have.len().min(4)]),
                        "protocol header: Ok(None) with {have:02x?} buffered"
                    );
                    assert_eq!(&buf[..], have, "Ok(None) changed the buffer");
                }
                Err(e) => {
                    check_error(&e);
                    let have = &stream[consumed..fed];
                    assert!(
                        !b"AMQP".starts_with(&have[..have.len().min(4)]),
                        "protocol header {have:02x?} rejected: {e}"
                    );
                    return;
                }
            }
        } else {
            let before = buf.len();
            match decoder.decode(&mut buf) {
                Ok(Some(frame)) => {
                    let len = before - buf.len();
                    let raw = &stream[consumed..consumed + len];
                    consumed += len;
                    // What the decoder took is exactly the frame its header
                    // delimits.
                    assert!(len >= FRAME_OVERHEAD, "frame of {len} bytes");
                    let size = u32::from_be_bytes([raw[3], raw[4], raw[5], raw[6]]);
                    assert_eq!(len as u64, u64::from(size) + FRAME_OVERHEAD as u64);
                    assert!(cfg.limit == 0 || len as u64 <= u64::from(cfg.limit));
                    assert_eq!(raw[len - 1], 0xCE, "frame end octet");
                    assert_eq!(
                        &buf[..],
                        &stream[consumed..fed],
                        "rest of the buffer changed"
                    );
                    sink.frame(cfg.limit, frame, raw);
                    continue;
                }
                Ok(None) => {
                    let have = &stream[consumed..fed];
                    assert_eq!(&buf[..], have, "Ok(None) changed the buffer");
                    if have.len() >= FRAME_HEADER_SIZE {
                        let frame_type = have[0];
                        let size = u32::from_be_bytes([have[3], have[4], have[5], have[6]]);
                        let frame_len = u64::from(size) + FRAME_OVERHEAD as u64;
                        assert!(
                            FRAME_TYPES.contains(&frame_type),
                            "Ok(None) for unknown frame type {frame_type}"
                        );
                        assert!(
                            cfg.limit == 0 || frame_len <= u64::from(cfg.limit),
                            "Ok(None) for a {frame_len}-byte frame over the limit {}",
                            cfg.limit
                        );
                        assert!(
                            (have.len() as u64) < frame_len,
                            "Ok(None) with a complete {frame_len}-byte frame buffered ({} bytes)",
                            have.len()
                        );
                    }
                }
                Err(e) => {
                    check_error(&e);
                    let taken = before - buf.len();
                    let have = &stream[consumed..consumed + before];
                    assert!(
                        have.len() >= FRAME_HEADER_SIZE,
                        "error on a partial header: {e}"
                    );
                    let size = u32::from_be_bytes([have[3], have[4], have[5], have[6]]);
                    let frame_len = u64::from(size) + FRAME_OVERHEAD as u64;
                    match e.kind() {
                        // Header errors leave the buffer alone.
                        ErrorKind::UnknownFrameType { frame_type } => {
                            assert_eq!(taken, 0, "{e}");
                            assert_eq!(*frame_type, have[0]);
                            assert!(!FRAME_TYPES.contains(frame_type), "{e}");
                        }
                        ErrorKind::FrameTooLarge { size, max } => {
                            assert_eq!(taken, 0, "{e}");
                            assert_eq!((*size, *max), (frame_len, cfg.limit));
                            assert!(cfg.limit != 0 && frame_len > u64::from(cfg.limit), "{e}");
                        }
                        // Errors in a complete frame consume exactly that frame.
                        _ => {
                            assert_eq!(
                                taken as u64, frame_len,
                                "error consumed {taken} bytes: {e}"
                            );
                            if let ErrorKind::BadFrameEnd { found } = e.kind() {
                                assert_eq!(*found, have[taken - 1]);
                                assert_ne!(*found, 0xCE);
                            }
                        }
                    }
                    return;
                }
            }
        }
        // Ok(None): more input, or the end.
        if fed == stream.len() {
            return;
        }
        let n = cfg.piece(stream, fed);
        buf.extend_from_slice(&stream[fed..fed + n]);
        fed += n;
    }
}

/// Checks one decoded frame against the bytes it came from.
fn check_frame(limit: u32, frame: &Frame, raw: &[u8]) {
    // Lossless: encoding gives back the very bytes, and says how many.
    let mut out = BytesMut::with_capacity(raw.len());
    frame.encode(&mut out);
    assert_eq!(&out[..], raw, "re-encoding {frame} changed the bytes");
    assert_eq!(frame.encoded_len(), raw.len(), "encoded_len of {frame}");
    assert_eq!(frame.frame_type(), raw[0]);
    assert_eq!(frame.channel, u16::from_be_bytes([raw[1], raw[2]]));

    // Rendering.
    let line = frame.to_string();
    assert!(line.starts_with("ch="), "{line}");
    let _ = format!("{frame:?}");

    let payload = Bytes::copy_from_slice(&raw[FRAME_HEADER_SIZE..raw.len() - 1]);
    match &frame.payload {
        FramePayload::Method(m) => check_method(m, &payload),
        FramePayload::Header(h) => {
            assert_eq!(h.encoded_len(), payload.len(), "content header encoded_len");
            let _ = h.basic();
            for (i, info) in h.properties.fields().iter().enumerate() {
                if let Some(v) = h.properties.get(i) {
                    assert!(!info.name.is_empty());
                    let _ = v.to_string();
                }
            }
        }
        FramePayload::Body(b) => assert_eq!(&b[..], &payload[..]),
        FramePayload::Heartbeat => assert!(payload.is_empty()),
    }

    // Decoding the payload on its own gives the same frame back.
    match Frame::decode_payload(raw[0], frame.channel, payload) {
        Ok(again) => {
            let mut out2 = BytesMut::new();
            again.encode(&mut out2);
            assert_eq!(&out2[..], raw, "decode_payload disagrees with decode");
        }
        Err(e) => panic!("decode_payload rejects what decode accepted: {e}"),
    }

    // Every proper prefix is incomplete input, for a fresh decoder.
    let mut prefix = BytesMut::from(raw);
    for k in (0..raw.len()).rev() {
        prefix.truncate(k);
        match FrameDecoder::new(limit).decode(&mut prefix) {
            Ok(None) => assert_eq!(prefix.len(), k, "Ok(None) consumed bytes"),
            other => panic!("prefix of {k}/{} bytes of {frame}: {other:?}", raw.len()),
        }
    }
}

/// Checks a decoded method against its payload.
fn check_method(m: &Method, payload: &Bytes) {
    assert_eq!(m.encoded_len(), payload.len(), "encoded_len of {m}");
    let id = m.id();
    assert_eq!(id.class_id, u16::from_be_bytes([payload[0], payload[1]]));
    assert_eq!(id.method_id, u16::from_be_bytes([payload[2], payload[3]]));
    assert_eq!((m.class_id(), m.method_id()), (id.class_id, id.method_id));
    let _ = id.to_string();
    let _ = m.has_content();

    // Walking the fields: every argument the specification lists, in order.
    let fields = m.fields();
    let expected = fields.len();
    let mut n = 0;
    for (info, value) in fields {
        assert!(!info.name.is_empty());
        let _ = format!("{}={value}", info.name);
        n += 1;
    }
    match m.info() {
        Some(info) => {
            assert_eq!(info.id(), id);
            assert_eq!(m.name(), info.name);
            assert_eq!(
                n,
                info.fields.len(),
                "fields() of {} stopped early",
                info.name
            );
            assert_eq!(n, expected, "fields().len() of {}", info.name);
            assert!(!matches!(m, Method::Unknown { .. }));
        }
        None => {
            assert!(matches!(m, Method::Unknown { .. }), "{m:?} has no info");
            assert_eq!(n, 0);
        }
    }

    // decode_known agrees, or refuses unknown methods with 540.
    match Method::decode_known(payload) {
        Ok(known) => {
            assert!(m.info().is_some());
            let mut out = BytesMut::new();
            known.encode(&mut out);
            assert_eq!(&out[..], &payload[..]);
        }
        Err(e) => {
            assert!(m.info().is_none(), "decode_known rejects {m}: {e}");
            assert_eq!(e.reply_code().0, 540, "{e}");
        }
    }
}

struct FrameChecker;

impl FrameSink for FrameChecker {
    fn frame(&mut self, limit: u32, frame: Frame, raw: &[u8]) {
        check_frame(limit, &frame, raw);
    }
}

/// Decodes `data` (a configuration octet, then a byte stream: see the module
/// documentation) frame by frame, possibly in pieces, and checks:
///
/// - no panic;
/// - `Ok(None)` only while the buffer holds less than a complete, acceptable
///   frame, and it leaves the buffer untouched;
/// - errors carry reply code 501–505 or 540 and render; header errors consume
///   nothing, errors in a complete frame consume exactly that frame;
/// - every decoded frame re-encodes to exactly its input bytes, with
///   `encoded_len` equal to their length; it renders; a method's fields can
///   be walked;
/// - every proper prefix of a decoded frame is `Ok(None)` for a fresh decoder.
///
/// Stops at the first error.
pub fn check_frames(data: &[u8]) {
    let (cfg, stream) = Config::split(data);
    walk_frames(cfg, stream, &mut FrameChecker);
}

/// Checks a field value and its children: lengths add up, rendering works.
fn check_value(v: &FieldValue, depth: usize) {
    assert!(depth <= amqp_protocol::MAX_NESTING + 1, "nesting {depth}");
    let mut out = BytesMut::new();
    v.encode(&mut out);
    assert_eq!(out.len(), v.encoded_len(), "encoded_len of {v}");
    assert_eq!(out[0], v.tag());
    match v {
        FieldValue::Table(t) => check_table_value(t, depth + 1),
        FieldValue::Array(a) => {
            assert_eq!(a.encoded_len(), v.encoded_len() - 1);
            for x in &a.0 {
                check_value(x, depth + 1);
            }
        }
        _ => {}
    }
}

fn check_table_value(t: &FieldTable, depth: usize) {
    let mut sum = 4;
    for (k, v) in t {
        assert!(k.len() <= 255);
        sum += k.encoded_len() + v.encoded_len();
        check_value(v, depth);
    }
    assert_eq!(sum, t.encoded_len());
}

/// Decodes `data` as a whole field table (length prefix included) and, when
/// it decodes, checks that re-encoding gives exactly `data`, that
/// `encoded_len` is `data.len()`, and that it renders. Errors must carry a
/// reply code and render.
///
/// The same bytes are also decoded with a length prefix that fits them, so
/// that most inputs reach the entry decoder.
pub fn check_table(data: &[u8]) {
    check_one_table(&Bytes::copy_from_slice(data));
    if let Ok(len) = u32::try_from(data.len()) {
        let mut framed = BytesMut::with_capacity(4 + data.len());
        framed.put_u32(len);
        framed.extend_from_slice(data);
        check_one_table(&framed.freeze());
    }
}

fn check_one_table(bytes: &Bytes) {
    match FieldTable::decode(bytes) {
        Ok(t) => {
            let mut out = BytesMut::with_capacity(bytes.len());
            t.encode(&mut out);
            assert_eq!(&out[..], &bytes[..], "re-encoding {t} changed the bytes");
            assert_eq!(t.encoded_len(), bytes.len(), "encoded_len of {t}");
            let line = t.to_string();
            assert!(line.starts_with('{') && line.ends_with('}'), "{line}");
            let _ = format!("{t:?}");
            check_table_value(&t, 0);
            assert_eq!(t.len(), t.iter().count());
            assert_eq!(t.is_empty(), t.iter().next().is_none());
            if let Some((k, v)) = t.iter().next() {
                // `get` finds the first entry with a key, whatever its bytes.
                if let Ok(key) = k.to_str() {
                    let first = t.get(key).map(|x| x.encoded_len());
                    assert_eq!(first, Some(v.encoded_len()));
                }
            }
        }
        Err(e) => check_error(&e),
    }
}

/// What the reference model expects of one channel.
#[derive(Debug, Clone)]
enum Pending {
    /// A content method arrived; its class.
    Header { class_id: u16 },
    /// The header arrived.
    Body { declared: u64, body: Vec<u8> },
}

/// What the reference model expects of one frame.
#[derive(Debug, PartialEq)]
enum Expect {
    Nothing,
    Heartbeat,
    Method,
    Content(Vec<u8>),
    Error(ErrorKind),
}

/// A plain restatement of the assembler's documented behaviour.
#[derive(Default)]
struct Model {
    pending: HashMap<u16, Pending>,
}

impl Model {
    fn remaining(p: &Pending) -> Option<u64> {
        match p {
            Pending::Header { .. } => None,
            Pending::Body { declared, body } => Some(declared - body.len() as u64),
        }
    }

    fn step(&mut self, frame: &Frame) -> Expect {
        let ch = frame.channel;
        let e = match &frame.payload {
            FramePayload::Heartbeat => Expect::Heartbeat,
            FramePayload::Method(m) => match self.pending.get(&ch) {
                Some(p) => Expect::Error(ErrorKind::ContentInterrupted {
                    remaining: Self::remaining(p),
                }),
                None if m.has_content() && ch == 0 => {
                    Expect::Error(ErrorKind::ContentOnChannelZero)
                }
                None if m.has_content() => {
                    self.pending.insert(
                        ch,
                        Pending::Header {
                            class_id: m.class_id(),
                        },
                    );
                    Expect::Nothing
                }
                None => Expect::Method,
            },
            FramePayload::Header(_) if ch == 0 => Expect::Error(ErrorKind::ContentOnChannelZero),
            FramePayload::Header(h) => match self.pending.remove(&ch) {
                None => Expect::Error(ErrorKind::UnexpectedHeader),
                Some(p @ Pending::Body { .. }) => Expect::Error(ErrorKind::ContentInterrupted {
                    remaining: Self::remaining(&p),
                }),
                Some(Pending::Header { class_id }) if class_id != h.class_id => {
                    Expect::Error(ErrorKind::HeaderClassMismatch {
                        expected: class_id,
                        found: h.class_id,
                    })
                }
                Some(Pending::Header { .. }) if h.body_size == 0 => Expect::Content(Vec::new()),
                Some(Pending::Header { .. }) => {
                    self.pending.insert(
                        ch,
                        Pending::Body {
                            declared: h.body_size,
                            body: Vec::new(),
                        },
                    );
                    Expect::Nothing
                }
            },
            FramePayload::Body(_) if ch == 0 => Expect::Error(ErrorKind::ContentOnChannelZero),
            FramePayload::Body(chunk) => match self.pending.get_mut(&ch) {
                None => Expect::Error(ErrorKind::UnexpectedBody),
                Some(Pending::Header { .. }) => {
                    Expect::Error(ErrorKind::ContentInterrupted { remaining: None })
                }
                Some(Pending::Body { declared, body }) => {
                    let total = body.len() as u64 + chunk.len() as u64;
                    if total > *declared {
                        Expect::Error(ErrorKind::BodyTooLong {
                            declared: *declared,
                            received: total,
                        })
                    } else {
                        body.extend_from_slice(chunk);
                        if total == *declared {
                            let body = std::mem::take(body);
                            self.pending.remove(&ch);
                            Expect::Content(body)
                        } else {
                            Expect::Nothing
                        }
                    }
                }
            },
        };
        if matches!(e, Expect::Error(_)) {
            self.pending.remove(&ch);
        }
        e
    }
}

struct AssemblerChecker {
    assembler: Assembler,
    model: Model,
}

impl FrameSink for AssemblerChecker {
    fn frame(&mut self, _limit: u32, frame: Frame, _raw: &[u8]) {
        let channel = frame.channel;
        let line = frame.to_string();
        let expect = self.model.step(&frame);
        let got = self.assembler.handle_frame(frame);
        match got {
            Ok(None) => assert_eq!(expect, Expect::Nothing, "{line}: got nothing"),
            Ok(Some(Assembled::Heartbeat)) => assert_eq!(expect, Expect::Heartbeat, "{line}"),
            Ok(Some(Assembled::Method {
                channel: ch,
                method,
            })) => {
                assert_eq!(ch, channel);
                assert!(
                    !method.has_content(),
                    "{method} assembled without its content"
                );
                assert_eq!(expect, Expect::Method, "{line}: got {method}");
            }
            Ok(Some(Assembled::Content {
                channel: ch,
                content,
            })) => {
                assert_eq!(ch, channel);
                assert_ne!(ch, 0, "content on channel 0");
                assert_eq!(
                    content.body.len() as u64,
                    content.header.body_size,
                    "body length ≠ declared body-size"
                );
                assert!(
                    content.method.has_content(),
                    "{} carries no content",
                    content.method
                );
                assert_eq!(content.header.class_id, content.method.class_id());
                match &expect {
                    Expect::Content(body) => {
                        assert_eq!(&content.body[..], &body[..], "{line}: body bytes")
                    }
                    other => panic!("{line}: got content, expected {other:?}"),
                }
                check_content_roundtrip(&content);
            }
            Err(e) => {
                check_error(&e);
                assert!(
                    !self.assembler.is_pending(channel),
                    "channel {channel} still pending after {e}"
                );
                assert_eq!(expect, Expect::Error(e.kind().clone()), "{line}: got {e}");
            }
        }
        assert_eq!(
            self.assembler.is_pending(channel),
            self.model.pending.contains_key(&channel),
            "{line}: pending state of channel {channel}"
        );
        let _ = format!("{:?}", self.assembler);
    }
}

/// A message assembled from frames can be written out again with
/// `encode_content` and assembled back to the same message.
fn check_content_roundtrip(content: &amqp_protocol::Content) {
    let Some(props) = content.header.basic() else {
        return;
    };
    if content.header.weight != 0 {
        return; // encode_content always writes weight 0
    }
    for frame_max in [0, 9, 4096] {
        let mut buf = BytesMut::new();
        encode_content(
            &mut buf,
            1,
            &content.method,
            props,
            &content.body,
            frame_max,
        );
        assert_eq!(
            buf.len(),
            content_encoded_len(&content.method, props, content.body.len(), frame_max)
        );
        let parts: Vec<Frame> = body_frames(1, &content.body, frame_max).collect();
        let joined: Vec<u8> = parts
            .iter()
            .flat_map(|f| match &f.payload {
                FramePayload::Body(b) => b.to_vec(),
                _ => panic!("body_frames gave {f}"),
            })
            .collect();
        assert_eq!(&joined[..], &content.body[..]);
        if frame_max > 8 {
            assert!(parts.iter().all(|f| f.encoded_len() <= frame_max as usize));
        }

        let mut decoder = FrameDecoder::new(0);
        let mut assembler = Assembler::new();
        let mut assembled = None;
        loop {
            match decoder.decode(&mut buf) {
                Ok(Some(f)) => match assembler.handle_frame(f) {
                    Ok(Some(Assembled::Content { content: c, .. })) => {
                        assert!(assembled.is_none(), "two messages from one");
                        assembled = Some(c);
                    }
                    Ok(None) => {}
                    other => panic!("re-encoded content: {other:?}"),
                },
                Ok(None) => break,
                Err(e) => panic!("re-encoded content does not decode: {e}"),
            }
        }
        assert!(buf.is_empty());
        let Some(c) = assembled else {
            panic!("re-encoded content did not assemble");
        };
        assert_eq!(&c.body[..], &content.body[..]);
        assert_eq!(c.header.body_size, content.header.body_size);
        let (mut a, mut b) = (BytesMut::new(), BytesMut::new());
        c.method.encode(&mut a);
        content.method.encode(&mut b);
        assert_eq!(a, b, "method changed through encode_content");
        c.header.encode(&mut a);
        content.header.encode(&mut b);
        assert_eq!(a, b, "header changed through encode_content");
    }
}

/// Decodes frames from `data` (laid out as for [`check_frames`]) and feeds
/// them to an [`Assembler`], next to a reference model of its documented
/// behaviour. Checks:
///
/// - no panic;
/// - every [`Assembled::Content`] has `body.len() == header.body_size`, a
///   method that `has_content()`, a header of the method's class, and the
///   body bytes of its body frames in order; it re-encodes with
///   `encode_content` and assembles back to the same message;
/// - every [`Assembled::Method`] is a method without content;
/// - every outcome (nothing yet, method, message, heartbeat, or which error)
///   is the one the model expects, and after an error the channel has nothing
///   pending; feeding goes on after errors.
///
/// Stops at the first decoding error.
pub fn check_assembler(data: &[u8]) {
    let (cfg, stream) = Config::split(data);
    let mut checker = AssemblerChecker {
        assembler: Assembler::new(),
        model: Model::default(),
    };
    walk_frames(cfg, stream, &mut checker);
}
