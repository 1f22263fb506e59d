//! One direction of a connection: bytes in, protocol header and frames out,
//! with resynchronisation on a frame boundary when the stream starts
//! mid-connection, loses bytes, or breaks its framing.

use amqp_protocol::{
    constants::{FRAME_BODY, FRAME_END, FRAME_HEADER, FRAME_HEARTBEAT, FRAME_METHOD},
    Error, ErrorKind, Frame, FrameDecoder, FrameHeader, Method, ProtocolHeader, FRAME_HEADER_SIZE,
    FRAME_OVERHEAD,
};
use bytes::{Buf, Bytes, BytesMut};

use crate::event::ResyncReason;

/// Frames larger than this are taken as a sign of broken framing, whatever
/// was negotiated: 128 MiB, RabbitMQ's default maximum message size, far
/// beyond any frame-max in use.
pub(crate) const HARD_FRAME_CAP: u64 = 128 << 20;

/// While searching for a frame boundary, candidates larger than this are not
/// believed unless a larger frame-max was negotiated (RabbitMQ's default
/// frame-max).
const RESYNC_FRAME_CAP: u32 = 131_072;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// At the first byte of the stream: a protocol header or a frame.
    Start,
    /// In sync: the next byte starts a frame.
    Frames,
    /// Looking for a frame boundary.
    Resync(ResyncReason),
}

/// What the stream yields.
#[derive(Debug)]
// Like the protocol crate's frames: boxing would cost an allocation per
// frame on the hot path, and steps are consumed at once.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Step {
    /// More bytes are needed.
    NeedMore,
    /// The protocol header.
    Header(ProtocolHeader),
    /// A frame and its size on the wire.
    Frame(Frame, usize),
    /// A decoding error, with the channel when the frame header was readable.
    Error(Option<u16>, Error),
    /// A frame boundary was found after skipping bytes.
    Resynced(u64, ResyncReason),
}

/// Framing state of one direction.
#[derive(Debug)]
pub(crate) struct FrameStream {
    buf: BytesMut,
    mode: Mode,
    skipped: u64,
    /// The negotiated frame-max (0: not negotiated, or no limit).
    frame_max: u32,
    /// Whether the current frame was already reported as too large.
    oversize_reported: bool,
    /// Boundary search: offsets below `scanned` are judged, and of those only
    /// the ones in `waiting` (ascending) may still start a frame, once more
    /// bytes arrive. So each byte is examined once, not at every segment.
    scanned: usize,
    waiting: Vec<usize>,
}

impl FrameStream {
    /// A stream read from its first byte.
    pub(crate) fn from_start() -> Self {
        FrameStream {
            buf: BytesMut::new(),
            mode: Mode::Start,
            skipped: 0,
            frame_max: 0,
            oversize_reported: false,
            scanned: 0,
            waiting: Vec::new(),
        }
    }

    /// A stream whose first bytes may be anywhere in a frame.
    pub(crate) fn mid_stream() -> Self {
        FrameStream {
            mode: Mode::Resync(ResyncReason::MidStream),
            ..FrameStream::from_start()
        }
    }

    pub(crate) fn set_frame_max(&mut self, frame_max: u32) {
        self.frame_max = frame_max;
    }

    pub(crate) fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// Bytes are missing before whatever is pushed next: what is buffered
    /// cannot be completed, and the next byte may be anywhere in a frame.
    pub(crate) fn gap(&mut self) -> usize {
        let dropped = self.buf.len();
        self.buf.clear();
        self.skipped = 0;
        self.resync(ResyncReason::Gap);
        self.oversize_reported = false;
        dropped
    }

    /// Whether a resynchronisation is under way (the stream's view of content
    /// is then unreliable).
    pub(crate) fn is_resyncing(&self) -> bool {
        matches!(self.mode, Mode::Resync(_))
    }

    /// Bytes buffered and not yet decoded (plus those skipped while looking
    /// for a frame boundary).
    pub(crate) fn pending(&self) -> usize {
        self.buf.len() + self.skipped as usize
    }

    /// The next step. With `at_eof`, no more bytes will come: a boundary
    /// search decides with what it has.
    pub(crate) fn next_step(&mut self, at_eof: bool) -> Step {
        loop {
            match self.mode {
                Mode::Start => {
                    let n = self.buf.len().min(4);
                    if n == 0 {
                        return Step::NeedMore;
                    }
                    if self.buf[..n] != b"AMQP"[..n] {
                        self.mode = Mode::Frames;
                        continue;
                    }
                    if self.buf.len() < 8 {
                        return Step::NeedMore;
                    }
                    // Cannot fail: 8 bytes starting with AMQP are there.
                    match ProtocolHeader::decode(&mut self.buf) {
                        Ok(Some(h)) => {
                            self.mode = Mode::Frames;
                            return Step::Header(h);
                        }
                        Ok(None) => return Step::NeedMore,
                        Err(e) => {
                            self.resync(ResyncReason::Error);
                            return Step::Error(None, e);
                        }
                    }
                }
                Mode::Frames => return self.next_frame(),
                Mode::Resync(reason) => {
                    if reason == ResyncReason::MidStream
                        && self.skipped == 0
                        && self.buf.starts_with(b"AMQP")
                    {
                        // Not mid-stream after all: the capture caught the
                        // protocol header.
                        self.mode = Mode::Start;
                        continue;
                    }
                    let cap = if self.frame_max == 0 {
                        RESYNC_FRAME_CAP
                    } else {
                        self.frame_max.max(RESYNC_FRAME_CAP)
                    };
                    match self.find_boundary(cap, at_eof) {
                        Search::Found(at) => {
                            self.buf.advance(at);
                            let skipped = self.skipped + at as u64;
                            self.skipped = 0;
                            self.mode = Mode::Frames;
                            return Step::Resynced(skipped, reason);
                        }
                        Search::NeedMore(at) => {
                            self.buf.advance(at);
                            self.skipped += at as u64;
                            return Step::NeedMore;
                        }
                    }
                }
            }
        }
    }

    fn resync(&mut self, reason: ResyncReason) {
        self.mode = Mode::Resync(reason);
        self.scanned = 0;
        self.waiting.clear();
    }

    /// Looks for the first offset where a frame starts. A candidate that needs
    /// more bytes to be judged does not hold the search up: a complete, valid
    /// frame after it wins (otherwise a few bytes that look like the header of
    /// a large frame would stall the stream until that many bytes arrived).
    fn find_boundary(&mut self, cap: u32, at_eof: bool) -> Search {
        let buf = &self.buf[..];
        let mut waiting = Vec::new();
        let judged = std::mem::take(&mut self.waiting);
        for at in judged.into_iter().chain(self.scanned..buf.len()) {
            match candidate(&buf[at..], cap, at_eof) {
                Candidate::Valid => {
                    self.scanned = 0;
                    return Search::Found(at);
                }
                Candidate::Invalid => {}
                Candidate::Incomplete => waiting.push(at),
            }
        }
        // Bytes before the first candidate still waiting can be dropped.
        let drop = waiting.first().copied().unwrap_or(buf.len());
        self.scanned = buf.len() - drop;
        self.waiting = waiting.into_iter().map(|w| w - drop).collect();
        Search::NeedMore(drop)
    }

    fn next_frame(&mut self) -> Step {
        let Some(h) = FrameHeader::parse(&self.buf) else {
            return Step::NeedMore;
        };
        if let Err(e) = FrameDecoder::new(0).check_header(&self.buf) {
            // Unknown frame type: the framing is lost.
            self.resync(ResyncReason::Error);
            return Step::Error(None, e);
        }
        let len = h.frame_len();
        if len > HARD_FRAME_CAP {
            self.resync(ResyncReason::Error);
            return Step::Error(
                None,
                Error::new(
                    ErrorKind::FrameTooLarge {
                        size: len,
                        max: HARD_FRAME_CAP as u32,
                    },
                    "frame",
                ),
            );
        }
        if self.frame_max != 0 && len > u64::from(self.frame_max) && !self.oversize_reported {
            // Larger than negotiated: a peer would close the connection, but
            // the framing is intact, so the frame is still decoded.
            self.oversize_reported = true;
            return Step::Error(
                Some(h.channel),
                Error::new(
                    ErrorKind::FrameTooLarge {
                        size: len,
                        max: self.frame_max,
                    },
                    "frame",
                ),
            );
        }
        let len = len as usize;
        if self.buf.len() < len {
            self.buf.reserve(len - self.buf.len());
            return Step::NeedMore;
        }
        self.oversize_reported = false;
        let end = self.buf[len - 1];
        if end != FRAME_END {
            // The size is probably wrong: look for the next boundary from
            // here rather than trusting it.
            self.resync(ResyncReason::Error);
            return Step::Error(
                Some(h.channel),
                Error::new(ErrorKind::BadFrameEnd { found: end }, "frame"),
            );
        }
        let frame = self.buf.split_to(len).freeze();
        let payload = frame.slice(FRAME_HEADER_SIZE..len - 1);
        match Frame::decode_payload(h.frame_type, h.channel, payload) {
            Ok(f) => Step::Frame(f, len),
            Err(e) => Step::Error(Some(h.channel), e),
        }
    }
}

enum Search {
    /// A frame starts at this offset.
    Found(usize),
    /// No frame starts before this offset; decide later from there.
    NeedMore(usize),
}

/// Whether the bytes at the start of `rest` could start a real frame: a known
/// type, a size the type allows, the channel rules of the specification, and
/// as far as the bytes are there, a method the specification defines (a
/// connection method exactly on channel 0) or a basic content header.
fn plausible(rest: &[u8], h: &FrameHeader, cap: u32) -> bool {
    if h.size > cap {
        return false;
    }
    let word = |at: usize| {
        rest.get(at..at + 2)
            .map(|b| u16::from_be_bytes([b[0], b[1]]))
    };
    match h.frame_type {
        FRAME_METHOD => {
            h.size >= 4
                && match (word(7), word(9)) {
                    (Some(class), Some(method)) => {
                        amqp_protocol::method_info(class, method).is_some()
                            && (class == amqp_protocol::connection::Start::CLASS_ID)
                                == (h.channel == 0)
                    }
                    _ => true,
                }
        }
        FRAME_HEADER => {
            h.channel != 0
                && h.size >= 14
                && word(7).is_none_or(|c| c == amqp_protocol::BasicProperties::CLASS_ID)
                && word(9).is_none_or(|w| w == 0)
        }
        FRAME_BODY => h.channel != 0 && h.size > 0,
        FRAME_HEARTBEAT => h.channel == 0 && h.size == 0,
        _ => false,
    }
}

enum Candidate {
    /// A frame starts here.
    Valid,
    /// No frame starts here.
    Invalid,
    /// Cannot tell before more bytes arrive.
    Incomplete,
}

/// Whether a frame starts at the beginning of `rest`: a plausible header, the
/// frame-end octet where the size puts it, a payload that decodes, and a
/// plausible header right after it, as far as it is there.
fn candidate(rest: &[u8], cap: u32, at_eof: bool) -> Candidate {
    let incomplete = if at_eof {
        Candidate::Invalid
    } else {
        Candidate::Incomplete
    };
    let Some(h) = FrameHeader::parse(rest) else {
        return incomplete;
    };
    if !plausible(rest, &h, cap) {
        return Candidate::Invalid;
    }
    let len = h.size as usize + FRAME_OVERHEAD;
    if rest.len() < len {
        return incomplete;
    }
    if rest[len - 1] != FRAME_END {
        return Candidate::Invalid;
    }
    let payload = Bytes::copy_from_slice(&rest[FRAME_HEADER_SIZE..len - 1]);
    match Frame::decode_payload(h.frame_type, h.channel, payload) {
        Ok(Frame {
            payload: amqp_protocol::FramePayload::Method(Method::Unknown { .. }),
            ..
        })
        | Err(_) => return Candidate::Invalid,
        Ok(_) => {}
    }
    let after = &rest[len..];
    let next_ok = match FrameHeader::parse(after) {
        Some(next) => plausible(after, &next, cap),
        None => after.first().is_none_or(|t| {
            matches!(
                *t,
                FRAME_METHOD | FRAME_HEADER | FRAME_BODY | FRAME_HEARTBEAT
            )
        }),
    };
    if next_ok {
        Candidate::Valid
    } else {
        Candidate::Invalid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_protocol::{basic, BasicProperties, ContentHeader, ShortStr};

    fn frames() -> Vec<u8> {
        let mut buf = Vec::new();
        let publish = basic::Publish {
            routing_key: ShortStr::from_static("q"),
            ..Default::default()
        };
        Frame::method(1, publish).encode(&mut buf);
        Frame::header(1, ContentHeader::new(5, BasicProperties::default())).encode(&mut buf);
        Frame::body(1, Bytes::from_static(b"hello")).encode(&mut buf);
        Frame::heartbeat().encode(&mut buf);
        buf
    }

    fn drain(s: &mut FrameStream, at_eof: bool) -> Vec<String> {
        let mut out = Vec::new();
        loop {
            match s.next_step(at_eof) {
                Step::NeedMore => return out,
                Step::Header(h) => out.push(h.to_string()),
                Step::Frame(f, _) => out.push(f.to_string()),
                Step::Error(_, e) => out.push(format!("error {e}")),
                Step::Resynced(n, r) => out.push(format!("resync {n} {}", r.as_str())),
            }
        }
    }

    #[test]
    fn protocol_header_then_frames_byte_by_byte() {
        let mut s = FrameStream::from_start();
        let mut bytes = b"AMQP\x00\x00\x09\x01".to_vec();
        bytes.extend(frames());
        let mut out = Vec::new();
        for b in bytes {
            s.push(&[b]);
            out.extend(drain(&mut s, false));
        }
        assert_eq!(out.len(), 5, "{out:?}");
        assert_eq!(out[0], "protocol-header AMQP 0-0-9-1");
        assert!(out[4].ends_with("heartbeat"));
    }

    #[test]
    fn mid_stream_start_skips_to_a_boundary() {
        let all = frames();
        // Start 3 bytes into the first frame: the header frame is next.
        let mut s = FrameStream::mid_stream();
        s.push(&all[3..]);
        let out = drain(&mut s, true);
        assert!(out[0].starts_with("resync "), "{out:?}");
        assert!(out[1].starts_with("ch=1 header"), "{out:?}");
        assert_eq!(out.len(), 4, "{out:?}");
    }

    #[test]
    fn bad_frame_end_resyncs_on_the_next_frame() {
        let mut all = frames();
        let first = all.iter().position(|&b| b == FRAME_END).unwrap();
        all[first] = 0;
        let mut s = FrameStream::from_start();
        s.push(&all);
        let out = drain(&mut s, true);
        assert!(
            out[0].starts_with("error frame: frame end octet"),
            "{out:?}"
        );
        assert!(out[1].starts_with("resync "), "{out:?}");
        assert!(out[2].starts_with("ch=1 header"), "{out:?}");
    }

    #[test]
    fn a_resync_examines_each_byte_once_and_finds_frames_after_a_stall() {
        // Bytes that look like the start of a 60000-byte method frame, then
        // real frames arriving byte by byte: the real ones win at once.
        let mut s = FrameStream::mid_stream();
        s.push(&[1, 0, 1, 0, 0, 0xea, 0x60, 0, 60, 0, 40]);
        assert!(drain(&mut s, false).is_empty());
        let mut out = Vec::new();
        for b in frames() {
            s.push(&[b]);
            out.extend(drain(&mut s, false));
        }
        assert!(out[0].starts_with("resync 11 mid-stream"), "{out:?}");
        assert!(out[1].contains("basic.publish"), "{out:?}");
        // Garbage only: what was examined is dropped, the buffer stays small.
        let mut g = FrameStream::mid_stream();
        for _ in 0..1000 {
            g.push(&[0x55; 1400]);
            assert!(drain(&mut g, false).is_empty());
        }
        assert!(g.buf.len() < 16, "{}", g.buf.len());
    }

    #[test]
    fn malformed_payload_is_an_error_and_decoding_goes_on() {
        // basic.publish whose routing-key length runs past the payload,
        // then a heartbeat.
        let mut all = vec![1, 0, 1, 0, 0, 0, 8, 0, 60, 0, 40, 0, 0, 0, 9, 0xCE];
        Frame::heartbeat().encode(&mut all);
        let mut s = FrameStream::from_start();
        s.push(&all);
        let out = drain(&mut s, false);
        assert!(out[0].contains("basic.publish.routing-key"), "{out:?}");
        assert_eq!(out[1], "ch=0 heartbeat");
    }
}
