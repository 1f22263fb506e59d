//! Content headers and the content assembler: method + header + body frames →
//! one message, with the specification's content errors.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use bytes::{BufMut, Bytes, BytesMut};

use crate::codec::Reader;
use crate::error::{Error, ErrorKind};
use crate::{BasicProperties, Frame, FramePayload, Method, Properties};

/// A content header: class, weight, body size and properties.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentHeader {
    /// The class of the method the content belongs to (60 for basic).
    pub class_id: u16,
    /// Unused by 0-9-1; must be 0, kept as read.
    pub weight: u16,
    /// Total body size in bytes.
    pub body_size: u64,
    /// The properties.
    pub properties: Properties,
}

impl ContentHeader {
    /// A basic content header with weight 0.
    pub fn new(body_size: u64, properties: BasicProperties) -> Self {
        ContentHeader {
            class_id: BasicProperties::CLASS_ID,
            weight: 0,
            body_size,
            properties: Properties::Basic(properties),
        }
    }

    /// The basic properties, if the header is of class basic.
    pub fn basic(&self) -> Option<&BasicProperties> {
        match &self.properties {
            Properties::Basic(p) => Some(p),
            _ => None,
        }
    }

    /// Payload length.
    pub fn encoded_len(&self) -> usize {
        12 + self.properties.encoded_len()
    }

    /// Writes the header frame's payload.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u16(self.class_id);
        buf.put_u16(self.weight);
        buf.put_u64(self.body_size);
        self.properties.encode(buf);
    }

    /// Decodes a header frame's payload. Strings in the result are slices of
    /// `payload`.
    #[inline]
    pub fn decode(payload: &Bytes) -> Result<Self, Error> {
        let mut r = Reader::new(payload);
        let class_id = r.short("content-header.class-id")?;
        let weight = r.short("content-header.weight")?;
        let body_size = r.longlong("content-header.body-size")?;
        let properties = Properties::decode(class_id, &mut r)?;
        r.finish("content-header")?;
        Ok(ContentHeader {
            class_id,
            weight,
            body_size,
            properties,
        })
    }
}

/// A complete message: the method that carried it, its header and its body.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The content-carrying method (basic.publish, deliver, return, get-ok).
    pub method: Method,
    /// The content header.
    pub header: ContentHeader,
    /// The body: a slice of the read buffer when it came in one frame. From
    /// an assembler with a body limit ([`Assembler::with_body_limit`]), only
    /// its first bytes, up to the limit: `header.body_size` is then its
    /// length.
    pub body: Bytes,
}

/// What the assembler makes of a frame.
#[derive(Debug, Clone, PartialEq)]
// Boxing the large variant would cost a heap allocation per frame on the
// hot path; these values are built once and moved rarely.
#[allow(clippy::large_enum_variant)]
pub enum Assembled {
    /// A method without content.
    Method {
        /// Its channel.
        channel: u16,
        /// The method.
        method: Method,
    },
    /// A complete message.
    Content {
        /// Its channel.
        channel: u16,
        /// The message.
        content: Content,
    },
    /// A heartbeat.
    Heartbeat,
}

enum Body {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

/// A message being assembled on one channel. Boxed in the map, so that the
/// large method and header move once (in and out), not at every frame.
struct Pending {
    method: Method,
    header: Option<ContentHeader>,
    body: Body,
    received: u64,
}

impl Pending {
    fn remaining(&self) -> Option<u64> {
        self.header.as_ref().map(|h| h.body_size - self.received)
    }
}

/// Turns the frames of one direction of a connection into methods and whole
/// messages. Pure logic: usable by a client, a proxy or a sniffer.
///
/// Errors (content on channel 0, a header or body nobody asked for, a header
/// for another class, a body longer than declared, a frame interrupting
/// content on its channel) carry the reply code the connection must be closed
/// with. After an error the channel's partial content is dropped, so that a
/// sniffer can go on.
///
/// ```
/// use amqp_protocol::{basic, Assembled, Assembler, BasicProperties, ContentHeader, Frame};
/// use bytes::Bytes;
///
/// let mut asm = Assembler::new();
/// assert_eq!(asm.handle_frame(Frame::method(1, basic::Publish::default())).unwrap(), None);
/// let header = ContentHeader::new(5, BasicProperties::default());
/// assert_eq!(asm.handle_frame(Frame::header(1, header)).unwrap(), None);
/// match asm.handle_frame(Frame::body(1, Bytes::from_static(b"hello"))).unwrap() {
///     Some(Assembled::Content { channel: 1, content }) => assert_eq!(content.body, "hello"),
///     other => panic!("{other:?}"),
/// }
/// ```
#[derive(Default)]
pub struct Assembler {
    pending: HashMap<u16, Box<Pending>, BuildHasherDefault<ChannelHasher>>,
    /// Body bytes kept per message (all when `None`).
    body_limit: Option<usize>,
    /// Boxes of finished messages, reused so that steady-state assembly
    /// allocates nothing (the boxes themselves are what is kept).
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Pending>>,
}

/// How many spare boxes are kept.
const SPARE_BOXES: usize = 16;

/// Channel ids are small integers chosen by the peers: a multiplicative hash
/// spreads them well enough, far cheaper than SipHash (no secret is needed:
/// a peer picking colliding ids only slows its own connection down).
#[derive(Default)]
struct ChannelHasher(u64);

impl Hasher for ChannelHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = u64::from(n);
    }

    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

impl std::fmt::Debug for Assembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembler")
            .field("channels_with_pending_content", &self.pending.len())
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

const PATH: &str = "content";

fn err(kind: ErrorKind) -> Error {
    Error::new(kind, PATH)
}

impl Assembler {
    /// An assembler with no content pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// An assembler that keeps only the first `limit` bytes of each body,
    /// as copies: what a sniffer that shows the start of each message needs,
    /// in memory bounded by the limit and the frames rather than by message
    /// size. Frames are checked as always (a body longer than its header
    /// declares is still an error), and a message completes when all of its
    /// declared body has arrived.
    pub fn with_body_limit(limit: usize) -> Self {
        Assembler {
            body_limit: Some(limit),
            ..Self::default()
        }
    }

    /// Whether content is being assembled on `channel`.
    pub fn is_pending(&self, channel: u16) -> bool {
        self.pending.contains_key(&channel)
    }

    /// Drops what is being assembled on `channel` (when it is closed).
    pub fn reset_channel(&mut self, channel: u16) {
        self.pending.remove(&channel);
    }

    /// Takes one frame; returns a method or a message when one is complete.
    pub fn handle_frame(&mut self, frame: Frame) -> Result<Option<Assembled>, Error> {
        let channel = frame.channel;
        let result = self.step(frame);
        if result.is_err() {
            self.pending.remove(&channel);
        }
        result
    }

    #[inline(always)]
    fn step(&mut self, frame: Frame) -> Result<Option<Assembled>, Error> {
        let channel = frame.channel;
        match frame.payload {
            FramePayload::Heartbeat => Ok(Some(Assembled::Heartbeat)),
            FramePayload::Method(method) => {
                if let Some(p) = self.pending.get(&channel) {
                    return Err(err(ErrorKind::ContentInterrupted {
                        remaining: p.remaining(),
                    }));
                }
                if !method.info().is_some_and(|i| i.has_content) {
                    return Ok(Some(Assembled::Method { channel, method }));
                }
                if channel == 0 {
                    return Err(err(ErrorKind::ContentOnChannelZero));
                }
                let fresh = Pending {
                    method,
                    header: None,
                    body: Body::Empty,
                    received: 0,
                };
                let slot = match self.spare.pop() {
                    Some(mut b) => {
                        *b = fresh;
                        b
                    }
                    None => Box::new(fresh),
                };
                self.pending.insert(channel, slot);
                Ok(None)
            }
            FramePayload::Header(header) => {
                if channel == 0 {
                    return Err(err(ErrorKind::ContentOnChannelZero));
                }
                let Some(p) = self.pending.get_mut(&channel) else {
                    return Err(err(ErrorKind::UnexpectedHeader));
                };
                if p.header.is_some() {
                    return Err(err(ErrorKind::ContentInterrupted {
                        remaining: p.remaining(),
                    }));
                }
                let expected = p.method.id().class_id;
                if header.class_id != expected {
                    return Err(err(ErrorKind::HeaderClassMismatch {
                        expected,
                        found: header.class_id,
                    }));
                }
                let empty = header.body_size == 0;
                p.header = Some(header);
                if empty {
                    return Ok(self.complete(channel));
                }
                Ok(None)
            }
            FramePayload::Body(chunk) => {
                if channel == 0 {
                    return Err(err(ErrorKind::ContentOnChannelZero));
                }
                let Some(p) = self.pending.get_mut(&channel) else {
                    return Err(err(ErrorKind::UnexpectedBody));
                };
                let Some(declared) = p.header.as_ref().map(|h| h.body_size) else {
                    return Err(err(ErrorKind::ContentInterrupted { remaining: None }));
                };
                let total = p.received + chunk.len() as u64;
                if total > declared {
                    return Err(err(ErrorKind::BodyTooLong {
                        declared,
                        received: total,
                    }));
                }
                p.received = total;
                if let Some(limit) = self.body_limit {
                    // Copies, so that no frame's buffer outlives its frame.
                    p.body = match std::mem::replace(&mut p.body, Body::Empty) {
                        Body::Empty | Body::One(_) => {
                            let take = chunk.len().min(limit);
                            Body::Many(BytesMut::from(&chunk[..take]))
                        }
                        Body::Many(mut kept) => {
                            let take = chunk.len().min(limit.saturating_sub(kept.len()));
                            kept.extend_from_slice(&chunk[..take]);
                            Body::Many(kept)
                        }
                    };
                    if total < declared {
                        return Ok(None);
                    }
                    return Ok(self.complete(channel));
                }
                p.body = match std::mem::replace(&mut p.body, Body::Empty) {
                    Body::Empty => Body::One(chunk),
                    Body::One(first) => {
                        // Never trust the declared size for an allocation
                        // beyond what has arrived plus a bounded margin.
                        let want = (declared as usize).min(first.len() * 64 + (1 << 20));
                        let mut buf = BytesMut::with_capacity(want);
                        buf.extend_from_slice(&first);
                        buf.extend_from_slice(&chunk);
                        Body::Many(buf)
                    }
                    Body::Many(mut buf) => {
                        buf.extend_from_slice(&chunk);
                        Body::Many(buf)
                    }
                };
                if total < declared {
                    return Ok(None);
                }
                Ok(self.complete(channel))
            }
        }
    }

    /// Hands out the finished message of `channel`.
    #[inline(always)]
    fn complete(&mut self, channel: u16) -> Option<Assembled> {
        let mut slot = self.pending.remove(&channel)?;
        let Pending {
            method,
            header,
            body,
            ..
        } = std::mem::replace(
            &mut *slot,
            Pending {
                method: Method::Unknown {
                    class_id: 0,
                    method_id: 0,
                    arguments: Bytes::new(),
                },
                header: None,
                body: Body::Empty,
                received: 0,
            },
        );
        if self.spare.len() < SPARE_BOXES {
            self.spare.push(slot);
        }
        Some(Assembled::Content {
            channel,
            content: Content {
                method,
                header: header?,
                body: match body {
                    Body::Empty => Bytes::new(),
                    Body::One(b) => b,
                    Body::Many(b) => b.freeze(),
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{basic, BasicProperties};

    fn content_of(
        asm: &mut Assembler,
        size: u64,
        chunks: &[&'static [u8]],
    ) -> Result<Content, Error> {
        assert_eq!(
            asm.handle_frame(Frame::method(1, basic::Publish::default()))?,
            None
        );
        let header = ContentHeader::new(size, BasicProperties::default());
        let mut last = asm.handle_frame(Frame::header(1, header))?;
        for c in chunks {
            assert!(last.is_none(), "complete before its last frame");
            last = asm.handle_frame(Frame::body(1, Bytes::from_static(c)))?;
        }
        match last {
            Some(Assembled::Content { content, .. }) => Ok(content),
            other => panic!("not a message: {other:?}"),
        }
    }

    #[test]
    fn a_body_limit_keeps_the_start_and_checks_the_whole() {
        let mut asm = Assembler::with_body_limit(7);
        let c = content_of(&mut asm, 15, &[b"hello", b"world", b"!!!!!"]).unwrap();
        assert_eq!(c.body, "hellowo");
        assert_eq!(c.header.body_size, 15);
        // Shorter than the limit: all of it, one frame or several.
        assert_eq!(content_of(&mut asm, 3, &[b"abc"]).unwrap().body, "abc");
        assert_eq!(
            content_of(&mut asm, 4, &[b"ab", b"cd"]).unwrap().body,
            "abcd"
        );
        // The declared size still counts every byte.
        let e = content_of(&mut asm, 8, &[b"hello", b"world"]).unwrap_err();
        assert_eq!(
            e.kind(),
            &ErrorKind::BodyTooLong {
                declared: 8,
                received: 10
            }
        );
        let mut none = Assembler::with_body_limit(0);
        let c = content_of(&mut none, 10, &[b"hello", b"world"]).unwrap();
        assert!(c.body.is_empty());
        assert_eq!(c.header.body_size, 10);
    }
}
