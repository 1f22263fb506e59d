//! The fuzz check of the client's core ([`Client`], over the wire state
//! machine): whatever a broker sends, the core never panics, writes nothing
//! but well-formed frames, closes a connection it cannot go on with by a
//! connection.close of an error code, reports its end exactly once, and
//! leaves nothing waiting once it has: the publish awaiting its confirm
//! has an outcome, the consumers end.
//!
//! The core first goes through a scripted handshake (frame_max 4096,
//! heartbeat 10 s) and opens two channels, one of them in confirm mode with
//! a publish awaiting its confirm and a consumer whose buffer holds one
//! delivery at most, the other with a callback consumer; then it is fed
//! the fuzzer's bytes, in chunks whose sizes and the time between them come
//! from the input:
//!
//! - octet 0: chunk size (1 + octet; 0 means all at once),
//! - octet 1: milliseconds between chunks × 50 (so heartbeats, the
//!   heartbeat timeout and the close timeout all happen),
//! - the rest: what the broker sends.

use std::time::{Duration, Instant};

use amqp_client::core::client::Event;
use amqp_client::core::{
    ChannelRef, Client, Config, ConsumerId, ConsumerMode, NextDelivery, Settle,
};
use amqp_client::types::ConsumeOptions;
use amqp_protocol::{
    basic, channel, confirm, connection, BasicProperties, FieldTable, Frame, FrameDecoder,
    FramePayload, LongStr, Method, ProtocolHeader, ShortStr,
};
use bytes::BytesMut;

/// Drives the core over `data` and checks the properties above.
pub fn check_client_core(data: &[u8]) {
    let (chunk, step, input) = match data {
        [c, s, rest @ ..] => (
            if *c == 0 { usize::MAX } else { usize::from(*c) },
            Duration::from_millis(u64::from(*s) * 50),
            rest,
        ),
        _ => (usize::MAX, Duration::ZERO, &[][..]),
    };
    let mut h = Harness::new();
    h.handshake();
    for piece in input.chunks(chunk.max(1)) {
        h.now += step;
        h.core.handle_input(piece, h.now);
        h.core.handle_timeout(h.now);
        h.drain();
    }
    // Time passes, then the stream ends: every deadline fires, and the end
    // is reported once.
    h.now += Duration::from_secs(60);
    h.core.handle_timeout(h.now);
    h.drain();
    h.core.handle_eof(None);
    h.drain();
    assert!(h.core.is_closed(), "closed after the stream's end");
    assert_eq!(h.closed_events, 1, "the end is reported exactly once");
    assert!(h.core.poll_event().is_none());
    assert!(
        h.core.take_confirm(h.confirming, h.seq).is_some(),
        "the publish has an outcome"
    );
    let consumer = h.consumer.expect("the buffered consumer");
    loop {
        match h.core.next_delivery(consumer) {
            NextDelivery::Delivery(_) => {}
            NextDelivery::End(_) => break,
            NextDelivery::Empty => panic!("a consumer of a closed connection waits"),
        }
    }
}

struct Harness {
    core: Client,
    now: Instant,
    /// What the client wrote, not yet decoded.
    written: BytesMut,
    decoder: FrameDecoder,
    closed_events: usize,
    /// The channel in confirm mode, its publish, and its consumer.
    confirming: ChannelRef,
    seq: u64,
    consumer: Option<ConsumerId>,
}

fn send(core: &mut Client, now: Instant, channel: u16, m: impl Into<Method>) {
    let mut b = BytesMut::new();
    Frame::method(channel, m).encode(&mut b);
    core.handle_input(&b, now);
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        let mut core = Client::new(Config::plain("guest", "guest"), now);
        let mut written = BytesMut::new();
        while let Some(b) = core.poll_transmit(now) {
            written.extend_from_slice(&b);
        }
        let header = ProtocolHeader::decode(&mut written)
            .ok()
            .flatten()
            .expect("the protocol header goes first");
        assert_eq!(header, ProtocolHeader::AMQP_0_9_1);
        Harness {
            core,
            now,
            written,
            decoder: FrameDecoder::new(0),
            closed_events: 0,
            confirming: ChannelRef::CONNECTION,
            seq: 0,
            consumer: None,
        }
    }

    fn handshake(&mut self) {
        let now = self.now;
        send(
            &mut self.core,
            now,
            0,
            connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: FieldTable::new(),
                mechanisms: LongStr::from("PLAIN AMQPLAIN"),
                locales: LongStr::from("en_US"),
            },
        );
        send(
            &mut self.core,
            now,
            0,
            connection::Tune {
                channel_max: 16,
                frame_max: 4096,
                heartbeat: 10,
            },
        );
        send(&mut self.core, now, 0, connection::OpenOk::default());
        self.drain();
        assert!(self.core.is_open(), "the scripted handshake completes");
        let mut channels = Vec::new();
        for id in [1u16, 2] {
            let open = self.core.open_channel().expect("a channel opens");
            send(&mut self.core, now, id, channel::OpenOk::default());
            let ch = self.core.take(&open).expect("open-ok").expect("a channel");
            assert_eq!(ch.number(), id);
            channels.push(ch);
        }
        let (ch1, ch2) = (channels[0], channels[1]);
        let select = self.core.confirm_delivery(ch1).expect("confirm.select");
        send(&mut self.core, now, 1, confirm::SelectOk {});
        self.core
            .take(&select)
            .expect("select-ok")
            .expect("confirm mode");
        let props = BasicProperties::default();
        self.seq = self
            .core
            .basic_publish(ch1, "", "q", b"pending", &props, true, Settle::Take)
            .expect("a publish")
            .expect("a sequence number");
        self.confirming = ch1;
        for (ch, tag, mode) in [
            (ch1, "buffered", ConsumerMode::Buffer { limit: Some(1) }),
            (ch2, "callback", ConsumerMode::Events),
        ] {
            let options = ConsumeOptions {
                consumer_tag: tag.into(),
                ..Default::default()
            };
            let (id, consume) = self
                .core
                .basic_consume(ch, "q", options, mode)
                .expect("basic.consume");
            let ok = basic::ConsumeOk {
                consumer_tag: ShortStr::try_from(tag).expect("a short tag"),
            };
            send(&mut self.core, now, ch.number(), ok);
            self.core
                .take(&consume)
                .expect("consume-ok")
                .expect("a tag");
            if mode != ConsumerMode::Events {
                self.consumer = Some(id);
            }
        }
        self.drain();
    }

    /// Takes everything the core wrote and reported, checking both.
    fn drain(&mut self) {
        while let Some(b) = self.core.poll_transmit(self.now) {
            self.written.extend_from_slice(&b);
        }
        loop {
            match self.decoder.decode(&mut self.written) {
                Ok(Some(frame)) => check_written(&frame),
                Ok(None) => break,
                Err(e) => panic!("the client wrote a malformed frame: {e}"),
            }
        }
        // The core writes whole frames only.
        assert!(self.written.is_empty(), "a partial frame was written");
        while self.core.poll_ready().is_some() {}
        while let Some(event) = self.core.poll_event() {
            if let Event::Closed { .. } = event {
                self.closed_events += 1;
            }
        }
    }
}

/// What the client may write: never content on channel 0; a connection.close
/// it starts carries a reply code the spec defines.
fn check_written(frame: &Frame) {
    match &frame.payload {
        FramePayload::Method(Method::ConnectionClose(c)) => {
            assert!(
                amqp_protocol::ReplyCode(c.reply_code).name().is_some(),
                "connection.close with an undefined reply code {}",
                c.reply_code
            );
        }
        FramePayload::Header(_) | FramePayload::Body(_) => {
            assert_ne!(frame.channel, 0, "content on channel 0");
        }
        _ => {}
    }
}
