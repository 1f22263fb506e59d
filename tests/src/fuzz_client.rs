//! The fuzz check of the client's connection core: whatever a broker sends,
//! the core never panics, writes nothing but well-formed frames, closes a
//! connection it cannot go on with by a connection.close of an error code,
//! and reports its end exactly once.
//!
//! The core first goes through a scripted handshake (frame_max 4096,
//! heartbeat 10 s) and opens two channels, one of them in confirm mode with
//! a publish awaiting its confirm; then it is fed the fuzzer's bytes, in
//! chunks whose sizes and the time between them come from the input:
//!
//! - octet 0: chunk size (1 + octet; 0 means all at once),
//! - octet 1: milliseconds between chunks × 50 (so heartbeats, the
//!   heartbeat timeout and the close timeout all happen),
//! - the rest: what the broker sends.

use std::time::{Duration, Instant};

use amqp_client::core::{Config, Connection, Event};
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
}

struct Harness {
    core: Connection,
    now: Instant,
    /// What the client wrote, not yet decoded.
    written: BytesMut,
    decoder: FrameDecoder,
    closed_events: usize,
}

fn send(core: &mut Connection, now: Instant, channel: u16, m: impl Into<Method>) {
    let mut b = BytesMut::new();
    Frame::method(channel, m).encode(&mut b);
    core.handle_input(&b, now);
}

impl Harness {
    fn new() -> Self {
        let now = Instant::now();
        let mut core = Connection::new(Config::plain("guest", "guest"), now);
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
        for id in [1u16, 2] {
            let (got, _) = self.core.open_channel().expect("a channel opens");
            assert_eq!(got, id);
            send(&mut self.core, now, id, channel::OpenOk::default());
        }
        self.core
            .call(1, confirm::Select::default().into())
            .expect("confirm.select");
        send(&mut self.core, now, 1, confirm::SelectOk {});
        self.core
            .publish(
                1,
                basic::Publish {
                    routing_key: ShortStr::from_static("q"),
                    ..Default::default()
                },
                &BasicProperties::default(),
                b"pending",
            )
            .expect("a publish");
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
