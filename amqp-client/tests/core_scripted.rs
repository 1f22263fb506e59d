//! The connection core against a scripted broker with fake time: no sockets,
//! no clock; every byte the client writes is decoded and checked.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use amqp_client::core::{Config, Connection, Event, RequestId};
use amqp_client::Error;
use amqp_protocol::{
    basic, channel, confirm, connection, queue, BasicProperties, ContentHeader, FieldTable, Frame,
    FrameDecoder, FramePayload, LongStr, Method, ProtocolHeader, ReplyCode, ShortStr,
};
use bytes::{Bytes, BytesMut};

/// The broker's side of the conversation.
struct Script {
    conn: Connection,
    now: Instant,
    from_client: BytesMut,
    decoder: FrameDecoder,
    saw_header: bool,
}

impl Script {
    fn new(config: Config) -> Self {
        let now = Instant::now();
        Script {
            conn: Connection::new(config, now),
            now,
            from_client: BytesMut::new(),
            decoder: FrameDecoder::new(0),
            saw_header: false,
        }
    }

    /// Everything the client has written since the last call, as frames.
    fn client_frames(&mut self) -> Vec<Frame> {
        while let Some(b) = self.conn.poll_transmit(self.now) {
            self.from_client.extend_from_slice(&b);
        }
        if !self.saw_header && self.from_client.len() >= 8 {
            let h = ProtocolHeader::decode(&mut self.from_client)
                .unwrap()
                .unwrap();
            assert_eq!(h, ProtocolHeader::AMQP_0_9_1);
            self.saw_header = true;
        }
        let mut out = Vec::new();
        while let Some(f) = self
            .decoder
            .decode(&mut self.from_client)
            .expect("client writes valid frames")
        {
            out.push(f);
        }
        out
    }

    fn client_methods(&mut self) -> Vec<(u16, Method)> {
        self.client_frames()
            .into_iter()
            .filter_map(|f| match f.payload {
                FramePayload::Method(m) => Some((f.channel, m)),
                _ => None,
            })
            .collect()
    }

    fn send(&mut self, channel: u16, m: impl Into<Method>) {
        let mut b = Vec::new();
        Frame::method(channel, m).encode(&mut b);
        self.conn.handle_input(&b, self.now);
    }

    fn send_frames(&mut self, frames: &[Frame]) {
        let mut b = Vec::new();
        for f in frames {
            f.encode(&mut b);
        }
        self.conn.handle_input(&b, self.now);
    }

    fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.conn.poll_event()).collect()
    }

    fn advance(&mut self, d: Duration) {
        self.now += d;
        self.conn.handle_timeout(self.now);
    }

    fn start(&mut self, mechanisms: &str) {
        self.send(
            0,
            connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: FieldTable::new(),
                mechanisms: LongStr::from(mechanisms),
                locales: LongStr::from("en_US"),
            },
        );
    }

    fn tune(&mut self, channel_max: u16, frame_max: u32, heartbeat: u16) {
        self.send(
            0,
            connection::Tune {
                channel_max,
                frame_max,
                heartbeat,
            },
        );
    }

    /// A full handshake; returns the tune-ok the client sent.
    fn handshake(&mut self, frame_max: u32, heartbeat: u16) -> connection::TuneOk {
        self.start("PLAIN AMQPLAIN");
        let m = self.client_methods();
        assert!(
            matches!(&m[..], [(0, Method::ConnectionStartOk(_))]),
            "{m:?}"
        );
        self.tune(2047, frame_max, heartbeat);
        let m = self.client_methods();
        let [(0, Method::ConnectionTuneOk(ok)), (0, Method::ConnectionOpen(open))] = &m[..] else {
            panic!("{m:?}")
        };
        assert_eq!(open.virtual_host, "/");
        let ok = ok.clone();
        self.send(0, connection::OpenOk::default());
        let ev = self.events();
        assert!(matches!(&ev[..], [Event::Connected { .. }]), "{ev:?}");
        assert!(self.conn.is_open());
        ok
    }

    fn open_channel(&mut self) -> u16 {
        let (id, req) = self.conn.open_channel().unwrap();
        let m = self.client_methods();
        assert!(
            matches!(&m[..], [(c, Method::ChannelOpen(_))] if *c == id),
            "{m:?}"
        );
        self.send(id, channel::OpenOk::default());
        let ev = self.events();
        assert!(
            matches!(&ev[..], [Event::Reply { channel, request, method: Method::ChannelOpenOk(_), .. }] if *channel == id && *request == req),
            "{ev:?}"
        );
        id
    }
}

fn ss(v: &str) -> ShortStr {
    ShortStr::try_from(v).unwrap()
}

fn connected() -> Script {
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.handshake(131_072, 0);
    s
}

fn closed_error(events: &[Event]) -> &Error {
    events
        .iter()
        .find_map(|e| match e {
            Event::Closed { error } => Some(error),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no Closed event in {events:?}"))
}

#[test]
fn handshake_plain() {
    let mut s = Script::new(Config::plain("guest", "s3cret"));
    assert!(s.client_frames().is_empty());
    assert!(s.saw_header, "the protocol header goes first");
    s.start("AMQPLAIN PLAIN");
    let m = s.client_methods();
    let [(0, Method::ConnectionStartOk(ok))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(ok.mechanism, "PLAIN");
    assert_eq!(ok.response.as_bytes(), b"\0guest\0s3cret");
    assert_eq!(ok.locale, "en_US");
    s.tune(2047, 131_072, 60);
    let m = s.client_methods();
    let [(0, Method::ConnectionTuneOk(ok)), (0, Method::ConnectionOpen(_))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(
        (ok.channel_max, ok.frame_max, ok.heartbeat),
        (2047, 131_072, 60)
    );
    assert!(!s.conn.is_open());
    s.send(0, connection::OpenOk::default());
    let ev = s.events();
    let [Event::Connected { tuning, .. }] = &ev[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (tuning.channel_max, tuning.frame_max, tuning.heartbeat),
        (2047, 131_072, 60)
    );
    assert!(!format!("{:?}", s.conn).contains("s3cret"));
}

#[test]
fn handshake_with_secure_challenge() {
    let mut s = Script::new(Config::plain("u", "p"));
    s.start("PLAIN");
    s.client_methods();
    s.send(
        0,
        connection::Secure {
            challenge: LongStr::from("more?"),
        },
    );
    let m = s.client_methods();
    let [(0, Method::ConnectionSecureOk(ok))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(ok.response.as_bytes(), b"\0u\0p");
    s.tune(0, 0, 0);
    let m = s.client_methods();
    let [(0, Method::ConnectionTuneOk(ok)), _] = &m[..] else {
        panic!("{m:?}")
    };
    // 0 means "no limit" from the broker: ours win.
    assert_eq!(
        (ok.channel_max, ok.frame_max, ok.heartbeat),
        (0, 131_072, 0)
    );
}

#[test]
fn tune_negotiation_takes_the_lower_values_and_the_heartbeat_function() {
    let mut config = Config::plain("guest", "guest");
    config.channel_max = 100;
    config.frame_max = 1_000_000;
    config.heartbeat = std::sync::Arc::new(|server| server.min(10));
    let mut s = Script::new(config);
    s.start("PLAIN");
    s.client_methods();
    s.tune(2047, 131_072, 60);
    let m = s.client_methods();
    let [(0, Method::ConnectionTuneOk(ok)), _] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(
        (ok.channel_max, ok.frame_max, ok.heartbeat),
        (100, 131_072, 10)
    );
}

#[test]
fn frame_max_never_below_the_spec_minimum() {
    let mut config = Config::plain("guest", "guest");
    config.frame_max = 512;
    let mut s = Script::new(config);
    s.start("PLAIN");
    s.client_methods();
    s.tune(0, 131_072, 0);
    let m = s.client_methods();
    let [(0, Method::ConnectionTuneOk(ok)), _] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(ok.frame_max, 4096);
}

#[test]
fn mechanism_not_offered() {
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.start("EXTERNAL");
    let ev = s.events();
    assert!(
        matches!(closed_error(&ev), Error::MechanismNotOffered { offered, .. } if offered == "EXTERNAL")
    );
    assert!(s.conn.is_closed());
}

#[test]
fn an_alternative_mechanism_is_used_when_the_first_is_not_offered() {
    let mut config = Config::plain("guest", "guest");
    config.mechanism = ShortStr::from_static("EXTERNAL");
    config.response = LongStr::new();
    config.alternatives = vec![(
        ShortStr::from_static("PLAIN"),
        LongStr::from("\0guest\0guest"),
    )];
    let mut s = Script::new(config);
    s.start("AMQPLAIN PLAIN");
    let m = s.client_methods();
    let [(0, Method::ConnectionStartOk(ok))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(ok.mechanism, "PLAIN");
    assert_eq!(ok.response.as_bytes(), b"\0guest\0guest");
}

#[test]
fn authentication_refused_by_close_403() {
    let mut s = Script::new(Config::plain("guest", "wrong"));
    s.start("PLAIN");
    s.client_methods();
    s.send(
        0,
        connection::Close {
            reply_code: 403,
            reply_text: ss("ACCESS_REFUSED - Login was refused"),
            class_id: 0,
            method_id: 0,
        },
    );
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionCloseOk(_))]),
        "{m:?}"
    );
    let ev = s.events();
    let e = closed_error(&ev);
    assert!(
        matches!(e, Error::AuthenticationRefused(c) if c.code == ReplyCode::ACCESS_REFUSED),
        "{e:?}"
    );
    assert!(!e.reconnect_may_help());
    assert!(!e.to_string().contains("wrong"));
}

#[test]
fn stream_closed_during_handshake_is_probable_auth_or_access_failure() {
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.start("PLAIN");
    s.conn.handle_eof(None);
    assert!(matches!(
        closed_error(&s.events()),
        Error::ProbableAuthenticationFailure
    ));

    let mut s = Script::new(Config::plain("guest", "guest"));
    s.start("PLAIN");
    s.tune(0, 131_072, 0);
    s.conn.handle_eof(None);
    assert!(matches!(
        closed_error(&s.events()),
        Error::ProbableAccessDenied
    ));
}

#[test]
fn vhost_refused_530_during_open() {
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.start("PLAIN");
    s.tune(0, 131_072, 0);
    s.client_methods();
    s.send(
        0,
        connection::Close {
            reply_code: 530,
            reply_text: ss("NOT_ALLOWED - vhost nope not found"),
            class_id: 10,
            method_id: 40,
        },
    );
    let ev = s.events();
    let Error::ConnectionClosedByBroker(c) = closed_error(&ev) else {
        panic!("{ev:?}")
    };
    assert_eq!(c.code, ReplyCode::NOT_ALLOWED);
}

#[test]
fn handshake_timeout() {
    let mut s = Script::new(Config::plain("guest", "guest"));
    assert_eq!(s.conn.poll_timeout(), Some(s.now + Duration::from_secs(15)));
    s.advance(Duration::from_secs(14));
    assert!(s.events().is_empty());
    s.advance(Duration::from_secs(1));
    assert!(matches!(
        closed_error(&s.events()),
        Error::HandshakeTimeout { .. }
    ));
}

#[test]
fn heartbeats_are_sent_when_idle_and_silence_kills() {
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.handshake(131_072, 10);
    assert_eq!(s.conn.poll_timeout(), Some(s.now + Duration::from_secs(10)));
    s.advance(Duration::from_secs(9));
    assert!(s.client_frames().is_empty());
    s.advance(Duration::from_secs(1));
    let f = s.client_frames();
    assert_eq!(
        f,
        vec![Frame::heartbeat()],
        "a heartbeat after 10 s without sending"
    );
    // The broker's heartbeat keeps the connection alive.
    s.advance(Duration::from_secs(9));
    s.send_frames(&[Frame::heartbeat()]);
    s.advance(Duration::from_secs(19));
    assert!(
        s.events().is_empty(),
        "19 s after the last byte received is fine"
    );
    s.advance(Duration::from_secs(1));
    let ev = s.events();
    assert!(
        matches!(closed_error(&ev), Error::HeartbeatTimeout),
        "{ev:?}"
    );
    assert!(closed_error(&ev).reconnect_may_help());
}

#[test]
fn heartbeat_off_means_no_deadline() {
    let s = connected();
    assert_eq!(s.conn.poll_timeout(), None);
}

#[test]
fn broker_closes_the_connection_during_a_synchronous_call() {
    let mut s = connected();
    let ch = s.open_channel();
    let req = s
        .conn
        .call(
            ch,
            queue::Declare {
                queue: ss("q"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    s.client_methods();
    s.send(
        0,
        connection::Close {
            reply_code: 320,
            reply_text: ss("CONNECTION_FORCED - broker forced connection closure"),
            class_id: 0,
            method_id: 0,
        },
    );
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionCloseOk(_))]),
        "{m:?}"
    );
    let ev = s.events();
    assert!(
        matches!(&ev[0], Event::ChannelClosed { channel, failed, .. } if *channel == ch && failed == &[req]),
        "{ev:?}"
    );
    let e = closed_error(&ev);
    assert!(matches!(e, Error::ConnectionClosedByBroker(c) if c.code.0 == 320));
    assert!(e.reconnect_may_help());
    assert!(s.conn.is_closed());
    assert!(s.conn.call(ch, basic::Qos::default().into()).is_err());
}

#[test]
fn broker_closes_a_channel_404() {
    let mut s = connected();
    let ch = s.open_channel();
    let r1 = s
        .conn
        .call(
            ch,
            queue::Declare {
                queue: ss("missing"),
                passive: true,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let r2 = s
        .conn
        .call(
            ch,
            queue::Purge {
                queue: ss("missing"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let m = s.client_methods();
    assert_eq!(
        m.len(),
        1,
        "the second call waits for the first reply: {m:?}"
    );
    s.send(
        ch,
        channel::Close {
            reply_code: 404,
            reply_text: ss("NOT_FOUND - no queue 'missing'"),
            class_id: 50,
            method_id: 10,
        },
    );
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(c, Method::ChannelCloseOk(_))] if *c == ch),
        "{m:?}"
    );
    let ev = s.events();
    let [Event::ChannelClosed {
        channel,
        error,
        failed,
    }] = &ev[..]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((*channel, failed.as_slice()), (ch, &[r1, r2][..]));
    let Error::ChannelClosedByBroker { close, .. } = error else {
        panic!("{error:?}")
    };
    assert_eq!(close.code, ReplyCode::NOT_FOUND);
    assert_eq!(close.method.and_then(|m| m.name()), Some("queue.declare"));
    assert!(s.conn.is_open(), "a soft error leaves the connection open");
    // The id is free again.
    assert_eq!(s.open_channel(), ch);
}

#[test]
fn calls_on_a_channel_are_pipelined_in_order() {
    let mut s = connected();
    let ch = s.open_channel();
    let r1 = s
        .conn
        .call(
            ch,
            queue::Declare {
                queue: ss("a"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let r2 = s
        .conn
        .call(
            ch,
            queue::Bind {
                queue: ss("a"),
                exchange: ss("amq.direct"),
                no_wait: true,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let (r3, seq) = s
        .conn
        .publish(
            ch,
            basic::Publish {
                routing_key: ss("a"),
                ..Default::default()
            },
            &BasicProperties::default(),
            b"x",
        )
        .unwrap();
    assert_eq!(seq, None, "no sequence numbers without confirms");
    let r4 = s
        .conn
        .call(
            ch,
            basic::Qos {
                prefetch_count: 5,
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let m = s.client_methods();
    assert!(matches!(&m[..], [(_, Method::QueueDeclare(_))]), "{m:?}");
    s.send(
        ch,
        queue::DeclareOk {
            queue: ss("a"),
            message_count: 0,
            consumer_count: 0,
        },
    );
    let f = s.client_frames();
    let names: Vec<String> = f.iter().map(|f| f.to_string()).collect();
    assert_eq!(f.len(), 5, "{names:?}"); // bind, publish, header, body, qos
    assert!(
        names[0].contains("queue.bind")
            && names[1].contains("basic.publish")
            && names[4].contains("basic.qos"),
        "{names:?}"
    );
    let ev = s.events();
    let order: Vec<RequestId> = ev
        .iter()
        .filter_map(|e| match e {
            Event::Reply { request, .. } | Event::Sent { request, .. } => Some(*request),
            _ => None,
        })
        .collect();
    assert_eq!(order, vec![r1, r2, r3]);
    s.send(ch, basic::QosOk {});
    assert!(matches!(&s.events()[..], [Event::Reply { request, .. }] if *request == r4));
}

#[test]
fn deliveries_interleave_with_replies() {
    let mut s = connected();
    let c1 = s.open_channel();
    let c2 = s.open_channel();
    let consume = s
        .conn
        .call(
            c1,
            basic::Consume {
                queue: ss("q"),
                consumer_tag: ss("ctag"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    let declare = s
        .conn
        .call(
            c2,
            queue::Declare {
                queue: ss("other"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
    s.client_methods();
    let deliver = |tag: u64| basic::Deliver {
        consumer_tag: ss("ctag"),
        delivery_tag: tag,
        redelivered: false,
        exchange: ss(""),
        routing_key: ss("q"),
    };
    let props = BasicProperties::default().with_content_type(ss("text/plain"));
    s.send_frames(&[
        Frame::method(
            c1,
            basic::ConsumeOk {
                consumer_tag: ss("ctag"),
            },
        ),
        Frame::method(c1, deliver(1)),
        Frame::header(c1, ContentHeader::new(5, props.clone())),
        // A reply on another channel between a delivery's header and body.
        Frame::method(
            c2,
            queue::DeclareOk {
                queue: ss("other"),
                message_count: 3,
                consumer_count: 0,
            },
        ),
        Frame::body(c1, Bytes::from_static(b"hel")),
        Frame::body(c1, Bytes::from_static(b"lo")),
        Frame::method(c1, deliver(2)),
        Frame::header(c1, ContentHeader::new(0, BasicProperties::default())),
    ]);
    let ev = s.events();
    assert_eq!(ev.len(), 4, "{ev:?}");
    assert!(matches!(&ev[0], Event::Reply { request, .. } if *request == consume));
    assert!(
        matches!(&ev[1], Event::Reply { request, method: Method::QueueDeclareOk(ok), .. } if *request == declare && ok.message_count == 3)
    );
    let Event::Delivery {
        channel,
        deliver,
        content,
    } = &ev[2]
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        (*channel, deliver.delivery_tag, &content.body[..]),
        (c1, 1, &b"hello"[..])
    );
    assert_eq!(content.properties, props);
    let Event::Delivery {
        deliver, content, ..
    } = &ev[3]
    else {
        panic!("{ev:?}")
    };
    assert_eq!((deliver.delivery_tag, content.body.len()), (2, 0));
    // A second consumer with the same tag is refused before it reaches the broker.
    let e = s
        .conn
        .call(
            c1,
            basic::Consume {
                queue: ss("q"),
                consumer_tag: ss("ctag"),
                ..Default::default()
            }
            .into(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::DuplicateConsumerTag { .. }));
}

#[test]
fn bodies_are_split_by_frame_max() {
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.handshake(4096, 0);
    let ch = s.open_channel();
    let body: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
    s.conn
        .publish(
            ch,
            basic::Publish::default(),
            &BasicProperties::default(),
            &body,
        )
        .unwrap();
    let frames = s.client_frames();
    let sizes: Vec<usize> = frames
        .iter()
        .filter_map(|f| match &f.payload {
            FramePayload::Body(b) => Some(b.len()),
            _ => None,
        })
        .collect();
    assert_eq!(sizes, vec![4088, 4088, 1824]);
    assert!(frames.iter().all(|f| f.encoded_len() <= 4096));
    // Deliveries split the same way are reassembled; frames above frame_max
    // are a protocol violation.
    let mut incoming = vec![
        Frame::method(
            ch,
            basic::Deliver {
                delivery_tag: 1,
                ..Default::default()
            },
        ),
        Frame::header(
            ch,
            ContentHeader::new(body.len() as u64, BasicProperties::default()),
        ),
    ];
    incoming.extend(amqp_protocol::body_frames(
        ch,
        &Bytes::from(body.clone()),
        4096,
    ));
    s.send_frames(&incoming);
    let ev = s.events();
    let delivered: Vec<&Event> = ev
        .iter()
        .filter(|e| matches!(e, Event::Delivery { .. }))
        .collect();
    let [Event::Delivery { content, .. }] = &delivered[..] else {
        panic!("{ev:?}")
    };
    assert_eq!(content.body, body);
}

#[test]
fn protocol_violations_close_with_the_right_code() {
    // A bad frame end: 501.
    let mut s = connected();
    let mut bad = Vec::new();
    Frame::heartbeat().encode(&mut bad);
    *bad.last_mut().unwrap() = 0;
    s.conn.handle_input(&bad, s.now);
    let m = s.client_methods();
    let [(0, Method::ConnectionClose(c))] = &m[..] else {
        panic!("{m:?}")
    };
    assert_eq!(c.reply_code, 501);
    assert!(!s.conn.is_closed(), "waits for close-ok");
    s.send(0, connection::CloseOk {});
    let ev = s.events();
    let e = closed_error(&ev);
    assert!(
        matches!(e, Error::Protocol(p) if p.reply_code() == ReplyCode::FRAME_ERROR),
        "{e:?}"
    );

    // A frame larger than frame_max: 501, from the header alone.
    let mut s = Script::new(Config::plain("guest", "guest"));
    s.handshake(4096, 0);
    s.conn.handle_input(&[3, 0, 1, 0, 0, 0x10, 0x00], s.now);
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 501),
        "{m:?}"
    );

    // A method on a channel that is not open: 504.
    let mut s = connected();
    s.send(7, basic::QosOk {});
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 504),
        "{m:?}"
    );

    // A reply nobody asked for: 503.
    let mut s = connected();
    let ch = s.open_channel();
    s.send(ch, basic::QosOk {});
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 503),
        "{m:?}"
    );

    // Content interrupted by a method: 505; close-ok never comes: closed at the close timeout.
    let mut s = connected();
    let ch = s.open_channel();
    s.send_frames(&[
        Frame::method(ch, basic::Deliver::default()),
        Frame::method(ch, basic::Deliver::default()),
    ]);
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 505),
        "{m:?}"
    );
    s.advance(Duration::from_secs(5));
    assert!(matches!(closed_error(&s.events()), Error::Protocol(_)));
}

#[test]
fn confirms_number_publishes_from_one() {
    let mut s = connected();
    let ch = s.open_channel();
    let sel = s.conn.call(ch, confirm::Select::default().into()).unwrap();
    // Published before select-ok arrives: queued behind it, numbered already.
    let (_, a) = s
        .conn
        .publish(
            ch,
            basic::Publish::default(),
            &BasicProperties::default(),
            b"1",
        )
        .unwrap();
    s.send(ch, confirm::SelectOk {});
    let (_, b) = s
        .conn
        .publish(
            ch,
            basic::Publish::default(),
            &BasicProperties::default(),
            b"2",
        )
        .unwrap();
    assert_eq!((a, b), (Some(1), Some(2)));
    let (_, c) = s
        .conn
        .publish(
            ch,
            basic::Publish::default(),
            &BasicProperties::default(),
            b"3",
        )
        .unwrap();
    assert_eq!(c, Some(3));
    s.send(
        ch,
        basic::Ack {
            delivery_tag: 2,
            multiple: true,
        },
    );
    s.send(
        ch,
        basic::Nack {
            delivery_tag: 3,
            multiple: false,
            requeue: false,
        },
    );
    let ev = s.events();
    assert!(matches!(&ev[0], Event::Reply { request, .. } if *request == sel));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Confirm {
            delivery_tag: 2,
            multiple: true,
            ack: true,
            ..
        }
    )));
    assert!(ev.iter().any(|e| matches!(
        e,
        Event::Confirm {
            delivery_tag: 3,
            ack: false,
            ..
        }
    )));
}

#[test]
fn returns_cancels_and_flow() {
    let mut s = connected();
    let ch = s.open_channel();
    s.send_frames(&[
        Frame::method(
            ch,
            basic::Return {
                reply_code: 312,
                reply_text: ss("NO_ROUTE"),
                exchange: ss(""),
                routing_key: ss("nowhere"),
            },
        ),
        Frame::header(ch, ContentHeader::new(1, BasicProperties::default())),
        Frame::body(ch, Bytes::from_static(b"x")),
        Frame::method(
            ch,
            basic::Cancel {
                consumer_tag: ss("ctag"),
                no_wait: false,
            },
        ),
        Frame::method(ch, channel::Flow { active: false }),
    ]);
    let m = s.client_methods();
    assert!(
        matches!(&m[0], (_, Method::BasicCancelOk(ok)) if ok.consumer_tag == "ctag"),
        "{m:?}"
    );
    assert!(
        matches!(&m[1], (_, Method::ChannelFlowOk(ok)) if !ok.active),
        "{m:?}"
    );
    let ev = s.events();
    assert!(
        matches!(&ev[0], Event::Return { method, content, .. } if method.reply_code == 312 && content.body == "x")
    );
    assert!(
        matches!(&ev[1], Event::ConsumerCancelled { consumer_tag, .. } if consumer_tag == "ctag")
    );
    assert!(matches!(&ev[2], Event::Flow { active: false, .. }));
}

#[test]
fn blocked_and_unblocked_with_timeout() {
    let mut config = Config::plain("guest", "guest");
    config.blocked_connection_timeout = Some(Duration::from_secs(30));
    let mut s = Script::new(config);
    s.handshake(131_072, 0);
    s.send(
        0,
        connection::Blocked {
            reason: ss("low on memory"),
        },
    );
    assert!(s.conn.is_blocked());
    assert!(matches!(&s.events()[..], [Event::Blocked { reason }] if reason == "low on memory"));
    s.advance(Duration::from_secs(20));
    s.send(0, connection::Unblocked {});
    assert!(matches!(&s.events()[..], [Event::Unblocked]));
    assert_eq!(s.conn.poll_timeout(), None);
    s.send(0, connection::Blocked { reason: ss("disk") });
    s.advance(Duration::from_secs(30));
    let ev = s.events();
    assert!(
        matches!(closed_error(&ev), Error::BlockedConnectionTimeout),
        "{ev:?}"
    );
}

#[test]
fn client_closes_channel_and_connection() {
    let mut s = connected();
    let ch = s.open_channel();
    let pending = s.conn.call(ch, queue::Declare::default().into()).unwrap();
    s.client_methods();
    s.conn
        .close_channel(ch, ReplyCode::REPLY_SUCCESS, "bye")
        .unwrap();
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(c, Method::ChannelClose(cl))] if *c == ch && cl.reply_code == 200),
        "{m:?}"
    );
    // Frames still arriving for the closing channel are dropped.
    s.send(ch, queue::DeclareOk::default());
    assert!(s.events().is_empty());
    s.send(ch, channel::CloseOk {});
    let ev = s.events();
    assert!(
        matches!(&ev[..], [Event::ChannelClosed { error: Error::ChannelClosedByClient { .. }, failed, .. }] if failed == &[pending]),
        "{ev:?}"
    );
    s.conn.close(ReplyCode::REPLY_SUCCESS, "done", s.now);
    let m = s.client_methods();
    assert!(
        matches!(&m[..], [(0, Method::ConnectionClose(c))] if c.reply_code == 200 && c.reply_text == "done")
    );
    assert!(s.conn.call(1, basic::Qos::default().into()).is_err());
    s.send(0, connection::CloseOk {});
    assert!(matches!(
        closed_error(&s.events()),
        Error::ConnectionClosedByClient
    ));
    assert!(s.conn.is_closed());
}

#[test]
fn update_secret_is_a_call_on_channel_zero() {
    let mut s = connected();
    let r = s
        .conn
        .call(
            0,
            connection::UpdateSecret {
                new_secret: LongStr::from("token"),
                reason: ss("refresh"),
            }
            .into(),
        )
        .unwrap();
    let m = s.client_methods();
    assert!(matches!(&m[..], [(0, Method::ConnectionUpdateSecret(_))]));
    s.send(0, connection::UpdateSecretOk {});
    assert!(matches!(&s.events()[..], [Event::Reply { request, .. }] if *request == r));
}

#[test]
fn arbitrary_input_never_panics() {
    // A cheap deterministic fuzz: random bytes after the handshake.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for _ in 0..200 {
        let mut s = connected();
        let _ = s.open_channel();
        let mut data = Vec::new();
        for _ in 0..64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            data.push(x as u8);
        }
        s.conn.handle_input(&data, s.now);
        s.advance(Duration::from_secs(10));
        let _ = s.events();
        let _ = s.client_frames();
    }
}
