//! Fixtures shared by the criterion benchmark (`benches/codec.rs`) and the
//! allocation counter (`src/bin/allocs.rs`): the same basic.publish and
//! basic.deliver sequences built with `amqp-protocol` (ours) and with
//! `amq-protocol` (lapin's codec, "theirs"), checked to be byte-identical on
//! the wire, and replayable read buffers for both decoders.

use amq_protocol::frame::{gen_frame, parse_frame, AMQPContentHeader, AMQPFrame, WriteContext};
use amq_protocol::protocol::{basic as their_basic, AMQPClass, BasicProperties as TheirProperties};
use amqp_protocol::{
    basic, body_frames, encode_content, Assembled, Assembler, BasicProperties, ContentHeader,
    Frame, FrameDecoder, FramePayload, Method, ShortStr,
};
use bytes::{Bytes, BytesMut};

/// The negotiated frame-max of every case (RabbitMQ's default).
pub const FRAME_MAX: u32 = 131_072;
/// The channel every frame is sent on.
pub const CHANNEL: u16 = 1;
/// Exchange of both methods.
pub const EXCHANGE: &str = "amq.direct";
/// Routing key of both methods.
pub const ROUTING_KEY: &str = "bench.key";
/// A RabbitMQ-style server-generated consumer tag (31 bytes).
pub const CONSUMER_TAG: &str = "amq.ctag-f0Jy9kdTgsXNSvbJcH4wTQ";
/// Delivery tag of basic.deliver.
pub const DELIVERY_TAG: u64 = 1_234_567;
/// The content-type property.
pub const CONTENT_TYPE: &str = "application/json";
/// The delivery-mode property (persistent).
pub const DELIVERY_MODE: u8 = 2;

/// Body sizes measured, with the label used in benchmark ids.
pub const SIZES: [(&str, usize); 3] = [("16B", 16), ("1KiB", 1024), ("64KiB", 65_536)];

/// Which content-carrying method starts the sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// basic.publish (client → server).
    Publish,
    /// basic.deliver (server → client).
    Deliver,
}

impl Kind {
    /// Both kinds.
    pub const ALL: [Kind; 2] = [Kind::Publish, Kind::Deliver];

    /// The name used in benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Publish => "publish",
            Kind::Deliver => "deliver",
        }
    }
}

/// One method + content header + body frame(s) sequence, as values of both
/// crates and as wire bytes.
pub struct Case {
    /// The method.
    pub kind: Kind,
    /// The body.
    pub body: Bytes,
    /// Our method value.
    pub ours_method: Method,
    /// Our properties.
    pub ours_properties: BasicProperties,
    /// Our frames of the whole sequence.
    pub ours_frames: Vec<Frame>,
    /// Their frames of the whole sequence.
    pub their_frames: Vec<AMQPFrame>,
    /// The encoded sequence (identical for both encoders, checked by
    /// [`Case::new`]).
    pub wire: Vec<u8>,
}

impl Case {
    /// Builds the case and checks that both crates agree on every byte.
    ///
    /// # Panics
    ///
    /// When the two encoders disagree, or a decoder does not give back the
    /// values that were encoded.
    pub fn new(kind: Kind, body_len: usize) -> Case {
        let body: Bytes = (0..body_len)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<u8>>()
            .into();

        let ours_method: Method = match kind {
            Kind::Publish => basic::Publish {
                exchange: ShortStr::from_static(EXCHANGE),
                routing_key: ShortStr::from_static(ROUTING_KEY),
                ..Default::default()
            }
            .into(),
            Kind::Deliver => basic::Deliver {
                consumer_tag: ShortStr::from_static(CONSUMER_TAG),
                delivery_tag: DELIVERY_TAG,
                redelivered: false,
                exchange: ShortStr::from_static(EXCHANGE),
                routing_key: ShortStr::from_static(ROUTING_KEY),
            }
            .into(),
        };
        let ours_properties = BasicProperties::default()
            .with_content_type(ShortStr::from_static(CONTENT_TYPE))
            .with_delivery_mode(DELIVERY_MODE);
        let mut ours_frames = vec![
            Frame::method(CHANNEL, ours_method.clone()),
            Frame::header(
                CHANNEL,
                ContentHeader::new(body.len() as u64, ours_properties.clone()),
            ),
        ];
        ours_frames.extend(body_frames(CHANNEL, &body, FRAME_MAX));

        let their_method = match kind {
            Kind::Publish => their_basic::AMQPMethod::Publish(their_basic::Publish {
                exchange: EXCHANGE.into(),
                routing_key: ROUTING_KEY.into(),
                mandatory: false,
                immediate: false,
            }),
            Kind::Deliver => their_basic::AMQPMethod::Deliver(their_basic::Deliver {
                consumer_tag: CONSUMER_TAG.into(),
                delivery_tag: DELIVERY_TAG,
                redelivered: false,
                exchange: EXCHANGE.into(),
                routing_key: ROUTING_KEY.into(),
            }),
        };
        let their_properties = TheirProperties::default()
            .with_content_type(CONTENT_TYPE.into())
            .with_delivery_mode(DELIVERY_MODE);
        let mut their_frames = vec![
            AMQPFrame::Method(CHANNEL, AMQPClass::Basic(their_method)),
            AMQPFrame::Header(
                CHANNEL,
                AMQPContentHeader {
                    class_id: 60,
                    body_size: body.len() as u64,
                    properties: their_properties,
                },
            ),
        ];
        let chunk = FRAME_MAX as usize - 8;
        their_frames.extend(
            body.chunks(chunk)
                .map(|c| AMQPFrame::Body(CHANNEL, c.to_vec())),
        );

        let mut case = Case {
            kind,
            body,
            ours_method,
            ours_properties,
            ours_frames,
            their_frames,
            wire: Vec::new(),
        };
        let mut wire = Vec::new();
        case.encode_ours(&mut wire);
        case.wire = wire;
        case.check();
        case
    }

    /// Frames in one sequence.
    pub fn frames_per_sequence(&self) -> usize {
        self.ours_frames.len()
    }

    /// Our encoder: [`encode_content`] into `buf` (cleared first).
    #[inline]
    pub fn encode_ours(&self, buf: &mut Vec<u8>) {
        buf.clear();
        encode_content(
            buf,
            CHANNEL,
            &self.ours_method,
            &self.ours_properties,
            &self.body,
            FRAME_MAX,
        );
    }

    /// Our encoder, frame by frame: [`Frame::encode`] of prebuilt frames.
    #[inline]
    pub fn encode_ours_frames(&self, buf: &mut Vec<u8>) {
        buf.clear();
        for f in &self.ours_frames {
            f.encode(buf);
        }
    }

    /// Their encoder into a fixed slice (cookie-factory's allocation-free
    /// `&mut [u8]` writer, lapin's fastest option); returns the length written.
    ///
    /// # Panics
    ///
    /// When `buf` is too small.
    #[inline]
    pub fn encode_theirs_slice(&self, buf: &mut [u8]) -> usize {
        let mut ctx = WriteContext::from(buf);
        for f in &self.their_frames {
            ctx = gen_frame(f)(ctx).expect("gen_frame");
        }
        ctx.position as usize
    }

    /// Their encoder into a `Vec<u8>` (cleared first). cookie-factory's `Vec`
    /// writer allocates a temporary `Vec` for every length prefix.
    ///
    /// # Panics
    ///
    /// Never in practice (a `Vec` grows).
    #[inline]
    pub fn encode_theirs_vec(&self, buf: &mut Vec<u8>) {
        let mut v = std::mem::take(buf);
        v.clear();
        let mut ctx = WriteContext::from(v);
        for f in &self.their_frames {
            ctx = gen_frame(f)(ctx).expect("gen_frame");
        }
        *buf = ctx.into_inner().0;
    }

    /// Asserts that both encoders write the same bytes and that both decoders
    /// read back what was encoded.
    fn check(&self) {
        let name = format!("{} {}B", self.kind.name(), self.body.len());
        let mut ours_frames_wire = Vec::new();
        self.encode_ours_frames(&mut ours_frames_wire);
        assert_eq!(
            ours_frames_wire, self.wire,
            "{name}: encode_content vs Frame::encode"
        );

        let mut slice = vec![0u8; self.wire.len()];
        let n = self.encode_theirs_slice(&mut slice);
        assert_eq!(
            &slice[..n],
            &self.wire[..],
            "{name}: amq-protocol (slice) vs ours"
        );
        let mut v = Vec::new();
        self.encode_theirs_vec(&mut v);
        assert_eq!(v, self.wire, "{name}: amq-protocol (vec) vs ours");

        // Ours decodes the bytes back to the same frames, and assembles them.
        let mut buf = BytesMut::from(&self.wire[..]);
        let mut dec = FrameDecoder::new(FRAME_MAX);
        let mut asm = Assembler::new();
        let mut assembled = None;
        for expected in &self.ours_frames {
            let f = dec
                .decode(&mut buf)
                .expect("ours: decode")
                .expect("ours: complete");
            assert_eq!(&f, expected, "{name}: ours decode");
            assembled = asm.handle_frame(f).expect("ours: assemble");
        }
        assert!(buf.is_empty(), "{name}: ours left bytes");
        match assembled {
            Some(Assembled::Content { channel, content }) => {
                assert_eq!(channel, CHANNEL);
                assert_eq!(content.method, self.ours_method);
                assert_eq!(content.body, self.body);
                assert_eq!(content.header.basic(), Some(&self.ours_properties));
            }
            other => panic!("{name}: ours assembler gave {other:?}"),
        }

        // Theirs decodes the same bytes to the same frames.
        let mut rest = &self.wire[..];
        for expected in &self.their_frames {
            let (r, f) = parse_frame(rest).expect("amq-protocol: parse_frame");
            assert_eq!(&f, expected, "{name}: amq-protocol decode");
            rest = r;
        }
        assert!(rest.is_empty(), "{name}: amq-protocol left bytes");

        // And the values agree field by field where it matters.
        let FramePayload::Header(h) = &self.ours_frames[1].payload else {
            panic!("{name}: second frame is not a header")
        };
        let AMQPFrame::Header(_, th) = &self.their_frames[1] else {
            panic!("{name}: second frame is not a header")
        };
        assert_eq!(h.body_size, th.body_size);
    }
}

/// How many copies of a sequence a replay buffer holds: about 256 KiB of
/// frames (so that both decoders read from L2), between 4 and 1024 copies.
pub fn copies_for(wire_len: usize) -> usize {
    (256 * 1024 / wire_len).clamp(4, 1024)
}

/// A read buffer for [`FrameDecoder`] holding `copies` sequences, replayed
/// forever without copying: once every frame split off it has been dropped,
/// the buffer reclaims its storage (as a connection's read buffer does with
/// `reserve`) and exposes the same, unchanged bytes again.
pub struct OursReplay {
    buf: BytesMut,
    base: *const u8,
    total: usize,
}

impl OursReplay {
    /// `copies` sequences of `wire`.
    ///
    /// # Panics
    ///
    /// When the storage cannot be reclaimed in place (checked once here).
    pub fn new(wire: &[u8], copies: usize, frames_per_sequence: usize) -> OursReplay {
        let total = wire.len() * copies;
        let mut buf = BytesMut::with_capacity(total);
        for _ in 0..copies {
            buf.extend_from_slice(wire);
        }
        let base = buf.as_ptr();
        let mut r = OursReplay { buf, base, total };
        // One full cycle through the decoder, then check that the reclaimed
        // buffer holds exactly the original bytes.
        let mut dec = FrameDecoder::new(FRAME_MAX);
        for _ in 0..copies * frames_per_sequence {
            drop(dec.decode(r.buf()).expect("decode").expect("complete"));
        }
        assert!(r.buf.is_empty());
        let b = r.buf();
        assert_eq!(b.len(), total);
        for (i, chunk) in b.chunks(wire.len()).enumerate() {
            assert_eq!(chunk, wire, "replay copy {i} differs");
        }
        r
    }

    /// The buffer, refilled in place when it is empty.
    #[inline]
    pub fn buf(&mut self) -> &mut BytesMut {
        if self.buf.is_empty() {
            self.refill();
        }
        &mut self.buf
    }

    #[cold]
    fn refill(&mut self) {
        // Every frame split off has been dropped: the storage is ours again.
        assert!(
            self.buf.try_reclaim(self.total),
            "a decoded frame is still alive"
        );
        assert_eq!(self.buf.as_ptr(), self.base, "storage moved");
        // SAFETY: the storage is the same allocation, unchanged since it was
        // filled (decoding only reads it), so its first `total` bytes are
        // initialized and hold the original sequences.
        #[allow(unsafe_code)]
        unsafe {
            self.buf.set_len(self.total)
        };
    }
}

/// A read buffer for `parse_frame`, holding the same `copies` sequences and
/// replayed forever.
pub struct TheirReplay {
    data: Vec<u8>,
    pos: usize,
}

impl TheirReplay {
    /// `copies` sequences of `wire`.
    pub fn new(wire: &[u8], copies: usize) -> TheirReplay {
        TheirReplay {
            data: wire.repeat(copies),
            pos: 0,
        }
    }

    /// Parses the next frame.
    ///
    /// # Panics
    ///
    /// When the bytes do not parse (checked beforehand by [`Case::new`]).
    #[inline]
    pub fn next_frame(&mut self) -> AMQPFrame {
        if self.pos == self.data.len() {
            self.pos = 0;
        }
        match parse_frame(&self.data[self.pos..]) {
            Ok((rest, f)) => {
                self.pos = self.data.len() - rest.len();
                f
            }
            Err(e) => panic!("amq-protocol: {e:?}"),
        }
    }
}

/// Decodes the next frame with ours.
///
/// # Panics
///
/// On an error or incomplete input (neither happens with the fixtures).
#[inline]
pub fn next_ours(replay: &mut OursReplay, dec: &mut FrameDecoder) -> Frame {
    match dec.decode(replay.buf()) {
        Ok(Some(f)) => f,
        other => panic!("amqp-protocol: {other:?}"),
    }
}
