//! Content headers and the content assembler: method + header + body frames →
//! one message, with the specification's content errors.

use std::collections::HashMap;

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
    /// The body: a slice of the read buffer when it came in one frame.
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

// Boxing the large variant would cost a heap allocation per frame on the
// hot path; these values are built once and moved rarely.
#[allow(clippy::large_enum_variant)]
enum Pending {
    Header(Method),
    Body {
        method: Method,
        header: ContentHeader,
        body: Body,
        received: u64,
    },
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
    pending: HashMap<u16, Pending>,
}

impl std::fmt::Debug for Assembler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Assembler")
            .field("channels_with_pending_content", &self.pending.len())
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

    fn step(&mut self, frame: Frame) -> Result<Option<Assembled>, Error> {
        let channel = frame.channel;
        match frame.payload {
            FramePayload::Heartbeat => Ok(Some(Assembled::Heartbeat)),
            FramePayload::Method(method) => {
                if let Some(p) = self.pending.get(&channel) {
                    return Err(err(ErrorKind::ContentInterrupted {
                        remaining: remaining(p),
                    }));
                }
                if method.info().is_some_and(|i| i.has_content) {
                    if channel == 0 {
                        return Err(err(ErrorKind::ContentOnChannelZero));
                    }
                    self.pending.insert(channel, Pending::Header(method));
                    Ok(None)
                } else {
                    Ok(Some(Assembled::Method { channel, method }))
                }
            }
            FramePayload::Header(header) => {
                if channel == 0 {
                    return Err(err(ErrorKind::ContentOnChannelZero));
                }
                let method = match self.pending.remove(&channel) {
                    Some(Pending::Header(m)) => m,
                    Some(p) => {
                        return Err(err(ErrorKind::ContentInterrupted {
                            remaining: remaining(&p),
                        }))
                    }
                    None => return Err(err(ErrorKind::UnexpectedHeader)),
                };
                let expected = method.id().class_id;
                if header.class_id != expected {
                    return Err(err(ErrorKind::HeaderClassMismatch {
                        expected,
                        found: header.class_id,
                    }));
                }
                if header.body_size == 0 {
                    return Ok(Some(Assembled::Content {
                        channel,
                        content: Content {
                            method,
                            header,
                            body: Bytes::new(),
                        },
                    }));
                }
                self.pending.insert(
                    channel,
                    Pending::Body {
                        method,
                        header,
                        body: Body::Empty,
                        received: 0,
                    },
                );
                Ok(None)
            }
            FramePayload::Body(chunk) => {
                if channel == 0 {
                    return Err(err(ErrorKind::ContentOnChannelZero));
                }
                let Some(Pending::Body {
                    header,
                    body,
                    received,
                    ..
                }) = self.pending.get_mut(&channel)
                else {
                    return Err(err(match self.pending.get(&channel) {
                        Some(p) => ErrorKind::ContentInterrupted {
                            remaining: remaining(p),
                        },
                        None => ErrorKind::UnexpectedBody,
                    }));
                };
                let total = *received + chunk.len() as u64;
                if total > header.body_size {
                    return Err(err(ErrorKind::BodyTooLong {
                        declared: header.body_size,
                        received: total,
                    }));
                }
                *received = total;
                *body = match std::mem::replace(body, Body::Empty) {
                    Body::Empty => Body::One(chunk),
                    Body::One(first) => {
                        // Never trust the declared size for an allocation
                        // beyond what has arrived plus a bounded margin.
                        let want = (header.body_size as usize).min(first.len() * 64 + (1 << 20));
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
                if total < header.body_size {
                    return Ok(None);
                }
                let Some(Pending::Body {
                    method,
                    header,
                    body,
                    ..
                }) = self.pending.remove(&channel)
                else {
                    return Err(err(ErrorKind::UnexpectedBody));
                };
                let body = match body {
                    Body::Empty => Bytes::new(),
                    Body::One(b) => b,
                    Body::Many(b) => b.freeze(),
                };
                Ok(Some(Assembled::Content {
                    channel,
                    content: Content {
                        method,
                        header,
                        body,
                    },
                }))
            }
        }
    }
}

fn remaining(p: &Pending) -> Option<u64> {
    match p {
        Pending::Header(_) => None,
        Pending::Body {
            header, received, ..
        } => Some(header.body_size - received),
    }
}
