//! Frames, the protocol header, and the two-phase [`FrameDecoder`].

use std::fmt;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use nom::number::streaming::{be_u16, be_u32, be_u8};

use crate::constants::{FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD};
use crate::error::{Error, ErrorKind};
use crate::{BasicProperties, ContentHeader, Method};

/// Bytes before a frame's payload: type (1), channel (2), size (4).
pub const FRAME_HEADER_SIZE: usize = 7;
/// Bytes a frame adds around its payload: the header and the frame-end octet.
pub const FRAME_OVERHEAD: usize = FRAME_HEADER_SIZE + 1;

/// The most [`FrameDecoder`] reserves ahead of the bytes that arrived.
const MAX_RESERVE: usize = 256 * 1024;

/// The 8-byte header a client sends first: `AMQP 0 0 9 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ProtocolHeader {
    /// Protocol id octet (0 for AMQP).
    pub protocol_id: u8,
    /// Major version.
    pub major: u8,
    /// Minor version.
    pub minor: u8,
    /// Revision.
    pub revision: u8,
}

impl ProtocolHeader {
    /// AMQP 0-9-1.
    pub const AMQP_0_9_1: ProtocolHeader = ProtocolHeader {
        protocol_id: 0,
        major: crate::constants::VERSION_MAJOR,
        minor: crate::constants::VERSION_MINOR,
        revision: crate::constants::VERSION_REVISION,
    };

    /// The 8 bytes on the wire.
    pub fn to_bytes(self) -> [u8; 8] {
        [
            b'A',
            b'M',
            b'Q',
            b'P',
            self.protocol_id,
            self.major,
            self.minor,
            self.revision,
        ]
    }

    /// Writes the 8 bytes.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_slice(&self.to_bytes());
    }

    /// Reads a protocol header from the start of `buf`, consuming it.
    /// `Ok(None)` while fewer than 8 bytes are buffered; an error when they do
    /// not start with `AMQP` (whatever the version: the caller decides which
    /// versions it accepts).
    pub fn decode(buf: &mut BytesMut) -> Result<Option<ProtocolHeader>, Error> {
        let n = buf.len().min(4);
        if buf[..n] != b"AMQP"[..n] {
            let mut found = [0u8; 8];
            let n = buf.len().min(8);
            found[..n].copy_from_slice(&buf[..n]);
            return Err(Error::new(
                ErrorKind::BadProtocolHeader { found },
                "protocol-header",
            ));
        }
        if buf.len() < 8 {
            return Ok(None);
        }
        let h = ProtocolHeader {
            protocol_id: buf[4],
            major: buf[5],
            minor: buf[6],
            revision: buf[7],
        };
        buf.advance(8);
        Ok(Some(h))
    }
}

impl fmt::Display for ProtocolHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "protocol-header AMQP {}-{}-{}-{}",
            self.protocol_id, self.major, self.minor, self.revision
        )
    }
}

/// The 7-byte header of a frame, readable before its payload has arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameHeader {
    /// Frame type octet.
    pub frame_type: u8,
    /// Channel.
    pub channel: u16,
    /// Payload size.
    pub size: u32,
}

impl FrameHeader {
    /// Parses the first 7 bytes of `buf`; `None` when fewer are there.
    #[inline]
    pub fn parse(buf: &[u8]) -> Option<FrameHeader> {
        // nom's streaming parsers: fewer than 7 bytes is "incomplete".
        let (rest, frame_type) = be_u8::<_, ()>(buf).ok()?;
        let (rest, channel) = be_u16::<_, ()>(rest).ok()?;
        let (_, size) = be_u32::<_, ()>(rest).ok()?;
        Some(FrameHeader {
            frame_type,
            channel,
            size,
        })
    }

    /// Header, payload and frame-end octet.
    pub fn frame_len(&self) -> u64 {
        u64::from(self.size) + FRAME_OVERHEAD as u64
    }
}

/// A frame: a channel and what it carries.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame {
    /// The channel (0 for connection-level frames and heartbeats).
    pub channel: u16,
    /// The payload.
    pub payload: FramePayload,
}

/// What a frame carries.
#[derive(Debug, Clone, PartialEq)]
// Boxing the large variant would cost a heap allocation per frame on the
// hot path; these values are built once and moved rarely.
#[allow(clippy::large_enum_variant)]
pub enum FramePayload {
    /// A method frame.
    Method(Method),
    /// A content header frame.
    Header(ContentHeader),
    /// A content body frame: a slice of the read buffer.
    Body(Bytes),
    /// A heartbeat.
    Heartbeat,
}

impl Frame {
    /// A method frame.
    pub fn method(channel: u16, method: impl Into<Method>) -> Frame {
        Frame {
            channel,
            payload: FramePayload::Method(method.into()),
        }
    }

    /// A content header frame.
    pub fn header(channel: u16, header: ContentHeader) -> Frame {
        Frame {
            channel,
            payload: FramePayload::Header(header),
        }
    }

    /// A body frame.
    pub fn body(channel: u16, body: Bytes) -> Frame {
        Frame {
            channel,
            payload: FramePayload::Body(body),
        }
    }

    /// A heartbeat frame (channel 0).
    pub fn heartbeat() -> Frame {
        Frame {
            channel: 0,
            payload: FramePayload::Heartbeat,
        }
    }

    /// The frame type octet.
    pub fn frame_type(&self) -> u8 {
        match self.payload {
            FramePayload::Method(_) => FRAME_METHOD,
            FramePayload::Header(_) => FRAME_HEADER,
            FramePayload::Body(_) => FRAME_BODY,
            FramePayload::Heartbeat => FRAME_HEARTBEAT,
        }
    }

    fn payload_len(&self) -> usize {
        match &self.payload {
            FramePayload::Method(m) => 4 + m.args_len(),
            FramePayload::Header(h) => h.encoded_len(),
            FramePayload::Body(b) => b.len(),
            FramePayload::Heartbeat => 0,
        }
    }

    /// The whole frame's length on the wire.
    pub fn encoded_len(&self) -> usize {
        FRAME_OVERHEAD + self.payload_len()
    }

    /// Writes the whole frame.
    pub fn encode<B: BufMut>(&self, buf: &mut B) {
        buf.put_u8(self.frame_type());
        buf.put_u16(self.channel);
        buf.put_u32(self.payload_len() as u32);
        match &self.payload {
            FramePayload::Method(m) => m.encode(buf),
            FramePayload::Header(h) => h.encode(buf),
            FramePayload::Body(b) => buf.put_slice(b),
            FramePayload::Heartbeat => {}
        }
        buf.put_u8(FRAME_END);
    }

    /// Decodes a frame's payload, given its type and channel (for callers
    /// that delimit frames themselves).
    #[inline]
    pub fn decode_payload(frame_type: u8, channel: u16, payload: Bytes) -> Result<Frame, Error> {
        let payload = match frame_type {
            FRAME_METHOD => FramePayload::Method(Method::decode(&payload)?),
            FRAME_HEADER => FramePayload::Header(ContentHeader::decode(&payload)?),
            FRAME_BODY => FramePayload::Body(payload),
            FRAME_HEARTBEAT if payload.is_empty() => FramePayload::Heartbeat,
            FRAME_HEARTBEAT => {
                return Err(Error::new(
                    ErrorKind::HeartbeatPayload {
                        size: payload.len() as u32,
                    },
                    "frame",
                ))
            }
            frame_type => {
                return Err(Error::new(
                    ErrorKind::UnknownFrameType { frame_type },
                    "frame",
                ))
            }
        };
        Ok(Frame { channel, payload })
    }
}

/// Splits a frame off the front of a byte buffer, in two phases: the 7-byte
/// header is checked first (frame type, and size against the maximum, before
/// anything more is buffered), then the complete frame is split off the buffer
/// and its payload decoded. Bodies and strings in the result are slices of the
/// buffer, not copies.
///
/// ```
/// use amqp_protocol::{basic, Frame, FrameDecoder, FramePayload, ShortStr};
/// use bytes::BytesMut;
///
/// let publish = basic::Publish {
///     routing_key: ShortStr::from_static("jobs"),
///     ..Default::default()
/// };
/// let mut buf = BytesMut::new();
/// Frame::method(1, publish.clone()).encode(&mut buf);
///
/// let mut decoder = FrameDecoder::new(131_072);
/// let mut partial = buf.split_to(5);
/// assert_eq!(decoder.decode(&mut partial).unwrap(), None); // needs more bytes
/// partial.unsplit(buf);
/// let frame = decoder.decode(&mut partial).unwrap().unwrap();
/// assert_eq!(frame, Frame::method(1, publish));
/// ```
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    max_frame_size: u32,
}

impl FrameDecoder {
    /// A decoder that rejects frames larger than `max_frame_size` bytes in
    /// total (header, payload and end octet), as `frame-max` counts them.
    /// 0 means no limit, as in connection.tune.
    pub fn new(max_frame_size: u32) -> Self {
        FrameDecoder { max_frame_size }
    }

    /// The limit in force.
    pub fn max_frame_size(&self) -> u32 {
        self.max_frame_size
    }

    /// Changes the limit (after connection.tune).
    pub fn set_max_frame_size(&mut self, max_frame_size: u32) {
        self.max_frame_size = max_frame_size;
    }

    /// Checks the header at the front of `buf`: `Ok(None)` when fewer than 7
    /// bytes are there.
    #[inline]
    pub fn check_header(&self, buf: &[u8]) -> Result<Option<FrameHeader>, Error> {
        let Some(h) = FrameHeader::parse(buf) else {
            return Ok(None);
        };
        if !matches!(
            h.frame_type,
            FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
        ) {
            return Err(Error::new(
                ErrorKind::UnknownFrameType {
                    frame_type: h.frame_type,
                },
                "frame",
            ));
        }
        if self.max_frame_size != 0 && h.frame_len() > u64::from(self.max_frame_size) {
            return Err(Error::new(
                ErrorKind::FrameTooLarge {
                    size: h.frame_len(),
                    max: self.max_frame_size,
                },
                "frame",
            ));
        }
        Ok(Some(h))
    }

    /// Splits the next complete frame off `buf` without decoding its payload:
    /// the header and the payload as a slice of the buffer. `Ok(None)` on
    /// partial input (room for the rest of the frame, up to 256 KiB, is then
    /// reserved). A heartbeat frame is kept with whatever channel it names:
    /// the specification wants channel 0, and a connection should close with
    /// 501 otherwise, which is the caller's decision.
    #[inline]
    pub fn split_frame(
        &mut self,
        buf: &mut BytesMut,
    ) -> Result<Option<(FrameHeader, Bytes)>, Error> {
        let Some(h) = self.check_header(buf)? else {
            return Ok(None);
        };
        // Cannot overflow: max_frame_size or the u32 size bounds it.
        let len = h.frame_len() as usize;
        if buf.len() < len {
            // Room for the rest of the frame, but never more than a bounded
            // step on the word of a header alone: without a limit, a peer
            // declaring a 4 GiB frame must not make us allocate 4 GiB.
            buf.reserve((len - buf.len()).min(MAX_RESERVE));
            return Ok(None);
        }
        let end = buf[len - 1];
        let mut frame = buf.split_to(len);
        if end != FRAME_END {
            return Err(Error::new(ErrorKind::BadFrameEnd { found: end }, "frame"));
        }
        frame.truncate(len - 1);
        frame.advance(FRAME_HEADER_SIZE);
        Ok(Some((h, frame.freeze())))
    }

    /// Decodes the next frame from the front of `buf`, consuming it.
    ///
    /// `Ok(None)` on partial input, never an error. Errors from the header
    /// (unknown type, too large) leave `buf` untouched: the stream cannot be
    /// resynchronised and the connection must be closed with
    /// [`Error::reply_code`]. Errors in a complete frame (bad end octet,
    /// malformed payload) consume that frame, so a sniffer can go on with the
    /// next one.
    #[inline]
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Frame>, Error> {
        match self.split_frame(buf)? {
            None => Ok(None),
            Some((h, payload)) => Frame::decode_payload(h.frame_type, h.channel, payload).map(Some),
        }
    }
}

/// Splits a content body into body frames of at most `frame_max - 8` bytes
/// each (the whole body in one frame when `frame_max` is 0). The frames are
/// slices of `body`. An empty body gives no frames.
pub fn body_frames(channel: u16, body: &Bytes, frame_max: u32) -> impl Iterator<Item = Frame> + '_ {
    let chunk = if frame_max == 0 {
        body.len().max(1)
    } else {
        (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1)
    };
    (0..body.len())
        .step_by(chunk)
        .map(move |start| Frame::body(channel, body.slice(start..(start + chunk).min(body.len()))))
}

/// Writes one method frame.
pub fn encode_method_frame<B: BufMut>(buf: &mut B, channel: u16, method: &Method) {
    buf.put_u8(FRAME_METHOD);
    buf.put_u16(channel);
    buf.put_u32((4 + method.args_len()) as u32);
    method.encode(buf);
    buf.put_u8(FRAME_END);
}

/// Encodes a content-carrying method, its content header (class 60, weight 0)
/// and its body frames (split by `frame_max`) into `buf`, without copying
/// anything but into `buf`.
pub fn encode_content<B: BufMut>(
    buf: &mut B,
    channel: u16,
    method: &Method,
    properties: &BasicProperties,
    body: &[u8],
    frame_max: u32,
) {
    encode_method_frame(buf, channel, method);
    buf.put_u8(FRAME_HEADER);
    buf.put_u16(channel);
    buf.put_u32((12 + properties.encoded_len()) as u32);
    buf.put_u16(BasicProperties::CLASS_ID);
    buf.put_u16(0);
    buf.put_u64(body.len() as u64);
    properties.encode(buf);
    buf.put_u8(FRAME_END);
    let chunk = if frame_max == 0 {
        body.len().max(1)
    } else {
        (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1)
    };
    for part in body.chunks(chunk) {
        buf.put_u8(FRAME_BODY);
        buf.put_u16(channel);
        buf.put_u32(part.len() as u32);
        buf.put_slice(part);
        buf.put_u8(FRAME_END);
    }
}

/// Length of what [`encode_content`] writes.
pub fn content_encoded_len(
    method: &Method,
    properties: &BasicProperties,
    body_len: usize,
    frame_max: u32,
) -> usize {
    let chunk = if frame_max == 0 {
        body_len.max(1)
    } else {
        (frame_max as usize).saturating_sub(FRAME_OVERHEAD).max(1)
    };
    let frames = body_len.div_ceil(chunk);
    FRAME_OVERHEAD
        + 4
        + method.args_len()
        + FRAME_OVERHEAD
        + 12
        + properties.encoded_len()
        + frames * FRAME_OVERHEAD
        + body_len
}

/// Counts the frames that end in each chunk of one direction's bytes, from
/// the frame headers alone (a protocol header is skipped, payloads are not
/// decoded): what a relay needs to tell a read that brought many messages
/// from one that brought one large message, at the cost of a few compares
/// per frame. Bytes that are not AMQP give meaningless counts.
///
/// ```
/// use amqp_protocol::{Frame, FrameCounter};
///
/// let mut bytes = b"AMQP\x00\x00\x09\x01".to_vec();
/// Frame::heartbeat().encode(&mut bytes);
/// Frame::heartbeat().encode(&mut bytes);
/// let mut counter = FrameCounter::default();
/// let (a, b) = bytes.split_at(12);
/// assert_eq!(counter.count(a), 0); // the first heartbeat is not over yet
/// assert_eq!(counter.count(b), 2);
/// ```
#[derive(Debug, Default, Clone)]
pub struct FrameCounter {
    header: [u8; FRAME_HEADER_SIZE],
    /// Bytes of the current frame header seen.
    have: usize,
    /// Bytes still to skip: the rest of a protocol header, or of a frame's
    /// payload and end octet.
    skip: usize,
    /// Whether what is being skipped is a frame (which counts when it ends).
    in_frame: bool,
}

impl FrameCounter {
    /// The next bytes of the stream: how many frames end in them.
    pub fn count(&mut self, mut data: &[u8]) -> u64 {
        let mut frames = 0;
        while !data.is_empty() {
            if self.skip > 0 {
                let k = self.skip.min(data.len());
                self.skip -= k;
                data = &data[k..];
                if self.skip == 0 && self.in_frame {
                    frames += 1;
                    self.in_frame = false;
                }
                continue;
            }
            if self.have == 0 && data[0] == b'A' {
                // "AMQP" and the version: the protocol header.
                self.skip = 8;
                continue;
            }
            let k = (FRAME_HEADER_SIZE - self.have).min(data.len());
            self.header[self.have..self.have + k].copy_from_slice(&data[..k]);
            self.have += k;
            data = &data[k..];
            if self.have == FRAME_HEADER_SIZE {
                let h = &self.header;
                let size = u32::from_be_bytes([h[3], h[4], h[5], h[6]]) as usize;
                // The payload and the frame-end octet.
                self.skip = size.saturating_add(1);
                self.in_frame = true;
                self.have = 0;
            }
        }
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::FrameCounter;

    #[test]
    fn counts_frames_split_anywhere() {
        // The protocol header, a heartbeat, a 5-byte body frame, a
        // 300-byte frame.
        let mut bytes = b"AMQP\x00\x00\x09\x01".to_vec();
        bytes.extend_from_slice(&[8, 0, 0, 0, 0, 0, 0, 0xce]);
        bytes.extend_from_slice(&[3, 0, 1, 0, 0, 0, 5, 1, 2, 3, 4, 5, 0xce]);
        bytes.extend_from_slice(&[1, 0, 1, 0, 0, 1, 44]);
        bytes.extend(std::iter::repeat_n(0, 300));
        bytes.push(0xce);
        for split in 0..bytes.len() {
            let mut c = FrameCounter::default();
            let (a, b) = bytes.split_at(split);
            assert_eq!(c.count(a) + c.count(b), 3, "split at {split}");
        }
        let mut c = FrameCounter::default();
        assert_eq!(bytes.iter().map(|b| c.count(&[*b])).sum::<u64>(), 3);
    }
}
