//! One AMQP connection: both directions' framing, content assembly, the
//! negotiated frame-max, and publisher-confirm pairing.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasherDefault, Hasher};

use amqp_protocol::{Assembled, Assembler, ErrorKind, Frame, FramePayload, Method, MethodId};

use crate::event::{At, Confirm, ConnInfo, Dir, Event, Settled, Sink};
use crate::stream::{FrameStream, Step};

/// How a direction's first byte relates to the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamStart {
    /// The first byte of the stream (a protocol header or a frame).
    Beginning,
    /// Somewhere in the middle: look for a frame boundary first.
    MidStream,
}

/// Content assembly of one direction.
#[derive(Debug, Default)]
struct Contents {
    asm: Assembler,
    /// The content-carrying method pending on each channel.
    pending: HashMap<u16, MethodId, ByChannel>,
    /// After a resynchronisation: the channels seen with a method since.
    /// Header and body frames on other channels may belong to content that
    /// started before the boundary, so the assembler's complaints about them
    /// are not reported.
    synced: Option<HashSet<u16, ByChannel>>,
    /// Body bytes kept per message (see [`Connection::with_body_limit`]).
    body_limit: Option<usize>,
}

impl Contents {
    fn reset(&mut self) {
        *self = Contents {
            synced: Some(HashSet::default()),
            ..Contents::limited(self.body_limit)
        };
    }

    fn limited(body_limit: Option<usize>) -> Self {
        Contents {
            asm: body_limit.map_or_else(Assembler::new, Assembler::with_body_limit),
            body_limit,
            ..Contents::default()
        }
    }
}

/// Outstanding publishes of a channel in confirm mode.
#[derive(Debug, Default)]
struct ChannelConfirms {
    next_seq: u64,
    outstanding: VecDeque<Settled>,
}

/// One connection's decoding state. Feed it each direction's bytes in order;
/// it reports to a [`Sink`].
#[derive(Debug)]
pub struct Connection {
    info: ConnInfo,
    streams: [FrameStream; 2],
    contents: [Contents; 2],
    confirms: HashMap<u16, ChannelConfirms, ByChannel>,
    settled: Vec<Settled>,
}

impl Connection {
    /// How many publishes await the broker's confirms, on all channels in
    /// confirm mode.
    pub fn confirms_outstanding(&self) -> usize {
        self.confirms.values().map(|c| c.outstanding.len()).sum()
    }

    /// A connection whose directions start as given.
    pub fn new(info: ConnInfo, c2s: StreamStart, s2c: StreamStart) -> Self {
        let stream = |s| match s {
            StreamStart::Beginning => FrameStream::from_start(),
            StreamStart::MidStream => FrameStream::mid_stream(),
        };
        let mut contents: [Contents; 2] = Default::default();
        for (c, s) in contents.iter_mut().zip([c2s, s2c]) {
            if s == StreamStart::MidStream {
                c.reset();
            }
        }
        Connection {
            info,
            streams: [stream(c2s), stream(s2c)],
            contents,
            confirms: HashMap::default(),
            settled: Vec::new(),
        }
    }

    /// Keeps only the first `limit` bytes of each message's body (the
    /// header's body size stays its length): memory is then bounded by the
    /// limit and the frame size, whatever the messages' size. Takes effect
    /// for content that starts after the call.
    pub fn with_body_limit(mut self, limit: usize) -> Self {
        for c in &mut self.contents {
            let synced = c.synced.take();
            *c = Contents {
                synced,
                ..Contents::limited(Some(limit))
            };
        }
        self
    }

    /// The endpoints.
    pub fn info(&self) -> &ConnInfo {
        &self.info
    }

    /// Bytes of direction `dir`, in stream order; `at` is when the last of
    /// them arrived.
    pub fn feed(&mut self, dir: Dir, at: At, data: &[u8], sink: &mut impl Sink) {
        self.streams[dir.index()].push(data);
        self.run(dir, at, false, sink);
    }

    /// `missing` bytes of direction `dir` are not in the capture.
    pub fn gap(&mut self, dir: Dir, at: At, missing: u64, sink: &mut impl Sink) {
        let d = dir.index();
        self.streams[d].gap();
        self.contents[d].reset();
        self.lost_sync(dir);
        sink.event(&self.info, dir, at, &Event::Gap { missing });
    }

    /// No more bytes will come in direction `dir`.
    pub fn finish(&mut self, dir: Dir, at: At, sink: &mut impl Sink) {
        self.run(dir, at, true, sink);
        let pending = self.streams[dir.index()].pending();
        if pending > 0 {
            sink.event(&self.info, dir, at, &Event::Incomplete { pending });
        }
    }

    fn run(&mut self, dir: Dir, at: At, at_eof: bool, sink: &mut impl Sink) {
        let d = dir.index();
        loop {
            match self.streams[d].next_step(at_eof) {
                Step::NeedMore => return,
                Step::Header(h) => sink.event(&self.info, dir, at, &Event::ProtocolHeader(h)),
                Step::Frame(frame, wire_len) => self.on_frame(dir, at, frame, wire_len, sink),
                Step::Error(channel, error) => {
                    sink.event(
                        &self.info,
                        dir,
                        at,
                        &Event::Error {
                            channel,
                            error: &error,
                        },
                    );
                    if self.streams[d].is_resyncing() {
                        self.contents[d].reset();
                    }
                }
                Step::Resynced(skipped, reason) => {
                    self.contents[d].reset();
                    self.lost_sync(dir);
                    sink.event(&self.info, dir, at, &Event::Resync { skipped, reason });
                }
            }
        }
    }

    /// Bytes of `dir` were lost or skipped: when they are the client's,
    /// publishes may be missing, so confirm sequence numbers are unknown
    /// until the next confirm.select.
    fn lost_sync(&mut self, dir: Dir) {
        if dir == Dir::C2S {
            self.confirms.clear();
        }
    }

    fn on_frame(&mut self, dir: Dir, at: At, frame: Frame, wire_len: usize, sink: &mut impl Sink) {
        let d = dir.index();
        let channel = frame.channel;
        let mut confirm = Confirm::None;
        let mut content_of = None;
        match &frame.payload {
            FramePayload::Method(m) => {
                if let Some(synced) = &mut self.contents[d].synced {
                    synced.insert(channel);
                }
                if m.has_content() {
                    self.contents[d].pending.insert(channel, m.id());
                }
                confirm = match self.track(dir, at, channel, m) {
                    Tracked::Nothing => Confirm::None,
                    Tracked::Published(seq) => Confirm::Published(seq),
                    Tracked::Settled => Confirm::Settled(&self.settled),
                };
            }
            FramePayload::Header(_) | FramePayload::Body(_) => {
                content_of = self.contents[d].pending.get(&channel).copied();
            }
            FramePayload::Heartbeat => {}
        }
        sink.event(
            &self.info,
            dir,
            at,
            &Event::Frame {
                frame: &frame,
                wire_len,
                content_of,
                confirm,
            },
        );
        let contents = &mut self.contents[d];
        // Only content needs the assembler; a method without content is
        // passed through it only when content is pending on its channel (it
        // then interrupts that content). Frames are large: not moving them
        // through it needlessly matters for speed.
        let needed = match &frame.payload {
            FramePayload::Method(m) => m.has_content() || contents.asm.is_pending(channel),
            FramePayload::Header(_) | FramePayload::Body(_) => true,
            FramePayload::Heartbeat => false,
        };
        if !needed {
            return;
        }
        match contents.asm.handle_frame(frame) {
            Ok(Some(Assembled::Content { channel, content })) => {
                contents.pending.remove(&channel);
                sink.event(
                    &self.info,
                    dir,
                    at,
                    &Event::Message {
                        channel,
                        content: &content,
                    },
                );
            }
            Ok(_) => {}
            Err(error) => {
                contents.pending.remove(&channel);
                let orphan = matches!(
                    error.kind(),
                    ErrorKind::UnexpectedHeader | ErrorKind::UnexpectedBody
                ) && contents
                    .synced
                    .as_ref()
                    .is_some_and(|s| !s.contains(&channel));
                if !orphan {
                    sink.event(
                        &self.info,
                        dir,
                        at,
                        &Event::Error {
                            channel: Some(channel),
                            error: &error,
                        },
                    );
                }
            }
        }
    }

    /// Channel and connection bookkeeping: frame-max, confirm mode, publish
    /// sequence numbers and the broker's acks and nacks.
    fn track(&mut self, dir: Dir, at: At, channel: u16, m: &Method) -> Tracked {
        match (dir, m) {
            (Dir::C2S, Method::ConnectionTuneOk(t)) => {
                for s in &mut self.streams {
                    s.set_frame_max(t.frame_max);
                }
            }
            (Dir::C2S, Method::ConfirmSelect(_)) => {
                self.confirms.entry(channel).or_insert(ChannelConfirms {
                    next_seq: 1,
                    outstanding: VecDeque::new(),
                });
            }
            (Dir::C2S, Method::BasicPublish(_)) => {
                if let Some(c) = self.confirms.get_mut(&channel) {
                    let seq = c.next_seq;
                    c.next_seq += 1;
                    c.outstanding.push_back(Settled { seq, published: at });
                    return Tracked::Published(seq);
                }
            }
            (Dir::S2C, Method::BasicAck(_) | Method::BasicNack(_)) => {
                let (tag, multiple) = match m {
                    Method::BasicAck(a) => (a.delivery_tag, a.multiple),
                    Method::BasicNack(n) => (n.delivery_tag, n.multiple),
                    _ => unreachable!("matched above"),
                };
                if let Some(c) = self.confirms.get_mut(&channel) {
                    self.settled.clear();
                    if multiple {
                        // Tag 0 with multiple settles everything outstanding.
                        while let Some(front) = c.outstanding.front() {
                            if tag != 0 && front.seq > tag {
                                break;
                            }
                            self.settled.extend(c.outstanding.pop_front());
                        }
                    } else if let Ok(i) = c.outstanding.binary_search_by_key(&tag, |s| s.seq) {
                        self.settled.extend(c.outstanding.remove(i));
                    }
                    return Tracked::Settled;
                }
            }
            (_, Method::ChannelOpen(_) | Method::ChannelCloseOk(_)) => {
                self.confirms.remove(&channel);
            }
            (_, Method::ConnectionCloseOk(_)) => self.confirms.clear(),
            _ => {}
        }
        Tracked::Nothing
    }
}

/// What [`Connection::track`] found.
enum Tracked {
    Nothing,
    Published(u64),
    Settled,
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_protocol::{basic, confirm, BasicProperties, ContentHeader, ShortStr};
    use bytes::Bytes;

    #[derive(Default)]
    struct Log(Vec<String>);

    impl Sink for Log {
        fn event(&mut self, _: &ConnInfo, dir: Dir, _: At, ev: &Event<'_>) {
            let line = match ev {
                Event::Frame { frame, confirm, .. } => format!("{dir} {frame} {confirm:?}"),
                Event::Message { content, .. } => {
                    format!("{dir} message {}", content.method.name())
                }
                other => format!("{dir} {other:?}"),
            };
            self.0.push(line);
        }
    }

    fn publish(buf: &mut Vec<u8>) {
        Frame::method(
            1,
            basic::Publish {
                routing_key: ShortStr::from_static("q"),
                ..Default::default()
            },
        )
        .encode(buf);
        Frame::header(1, ContentHeader::new(2, BasicProperties::default())).encode(buf);
        Frame::body(1, Bytes::from_static(b"hi")).encode(buf);
    }

    #[test]
    fn confirms_pair_publishes_with_acks_by_sequence_number() {
        let mut c = Connection::new(
            ConnInfo::raw(),
            StreamStart::Beginning,
            StreamStart::Beginning,
        );
        let mut log = Log::default();
        let mut up = Vec::new();
        Frame::method(1, confirm::Select::default()).encode(&mut up);
        publish(&mut up);
        publish(&mut up);
        publish(&mut up);
        c.feed(Dir::C2S, At::default(), &up, &mut log);
        let mut down = Vec::new();
        Frame::method(
            1,
            basic::Ack {
                delivery_tag: 2,
                multiple: true,
            },
        )
        .encode(&mut down);
        Frame::method(
            1,
            basic::Nack {
                delivery_tag: 3,
                ..Default::default()
            },
        )
        .encode(&mut down);
        c.feed(Dir::S2C, At::default(), &down, &mut log);
        let seqs: Vec<_> = log.0.iter().filter(|l| l.contains("Published")).collect();
        assert_eq!(seqs.len(), 3, "{:?}", log.0);
        assert!(
            log.0
                .iter()
                .filter(|l| l.contains("message basic.publish"))
                .count()
                == 3
        );
        let acks: Vec<_> = log.0.iter().filter(|l| l.starts_with("s2c")).collect();
        assert!(
            acks[0].contains("seq: 1") && acks[0].contains("seq: 2"),
            "{acks:?}"
        );
        assert!(
            acks[1].contains("seq: 3") && !acks[1].contains("seq: 1"),
            "{acks:?}"
        );
    }
}

/// Hashes a channel number for the maps above, which are looked up once or
/// twice per frame: a multiplication rather than SipHash (the keys are 16
/// bits chosen by the peers, at most 65536 of them).
type ByChannel = BuildHasherDefault<ChannelHasher>;

/// See [`ByChannel`].
#[derive(Debug, Default)]
struct ChannelHasher(u64);

impl Hasher for ChannelHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u16(&mut self, n: u16) {
        self.0 = (self.0 ^ u64::from(n)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}
