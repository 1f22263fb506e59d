//! A scripted broker for the client layer of the core ([`Client`]): fake
//! time, every byte the client writes decoded, replies sent as frames.

#![allow(dead_code)]

use std::time::Instant;

use amqp_client::core::client::Event;
use amqp_client::core::{ChannelRef, Client, Config, ConsumerMode, Pending, Ready};
use amqp_client::types::ConsumeOptions;
use amqp_client::{BasicProperties, Error, ShortStr};
use amqp_protocol::{
    basic, channel, connection, ContentHeader, FieldTable, Frame, FrameDecoder, FramePayload,
    LongStr, Method, ProtocolHeader,
};
use bytes::{Bytes, BytesMut};

pub(crate) struct Broker {
    pub client: Client,
    pub now: Instant,
    pub from_client: BytesMut,
    pub decoder: FrameDecoder,
}

pub(crate) fn ss(v: &str) -> ShortStr {
    ShortStr::try_from(v).unwrap()
}

impl Broker {
    /// A client through its handshake.
    pub(crate) fn connected() -> Broker {
        Broker::with_config(Config::plain("guest", "guest"), Instant::now())
    }

    /// A client with `config` through its handshake.
    pub(crate) fn with_config(config: Config, now: Instant) -> Broker {
        let mut b = Broker {
            client: Client::new(config, now),
            now,
            from_client: BytesMut::new(),
            decoder: FrameDecoder::new(0),
        };
        b.take_output();
        assert_eq!(
            ProtocolHeader::decode(&mut b.from_client).unwrap(),
            Some(ProtocolHeader::AMQP_0_9_1)
        );
        b.send(
            0,
            connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: FieldTable::new(),
                mechanisms: LongStr::from("PLAIN"),
                locales: LongStr::from("en_US"),
            },
        );
        b.send(
            0,
            connection::Tune {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 0,
            },
        );
        b.send(0, connection::OpenOk::default());
        assert_eq!(b.methods().len(), 3, "start-ok, tune-ok, open");
        assert!(b.client.is_open());
        assert!(matches!(b.events()[..], [Event::Connected]));
        b.readies();
        b
    }

    pub(crate) fn take_output(&mut self) {
        while let Some(out) = self.client.poll_transmit(self.now) {
            self.from_client.extend_from_slice(&out);
        }
    }

    /// The methods the client wrote since the last call.
    pub(crate) fn methods(&mut self) -> Vec<(u16, Method)> {
        self.take_output();
        let mut v = Vec::new();
        while let Some(f) = self.decoder.decode(&mut self.from_client).unwrap() {
            if let FramePayload::Method(m) = f.payload {
                v.push((f.channel, m));
            }
        }
        v
    }

    pub(crate) fn send(&mut self, channel: u16, m: impl Into<Method>) {
        let mut b = Vec::new();
        Frame::method(channel, m).encode(&mut b);
        self.client.handle_input(&b, self.now);
    }

    /// A method with content (deliver, return, get-ok).
    pub(crate) fn send_content(&mut self, channel: u16, m: impl Into<Method>, body: &'static [u8]) {
        let mut b = Vec::new();
        Frame::method(channel, m).encode(&mut b);
        Frame::header(
            channel,
            ContentHeader::new(body.len() as u64, BasicProperties::default()),
        )
        .encode(&mut b);
        Frame::body(channel, Bytes::from_static(body)).encode(&mut b);
        self.client.handle_input(&b, self.now);
    }

    pub(crate) fn deliver(
        &mut self,
        channel: u16,
        tag: &str,
        delivery_tag: u64,
        body: &'static [u8],
    ) {
        let d = basic::Deliver {
            consumer_tag: ss(tag),
            delivery_tag,
            redelivered: false,
            exchange: ss(""),
            routing_key: ss("q"),
        };
        self.send_content(channel, d, body);
    }

    pub(crate) fn events(&mut self) -> Vec<Event> {
        std::iter::from_fn(|| self.client.poll_event()).collect()
    }

    pub(crate) fn readies(&mut self) -> Vec<Ready> {
        std::iter::from_fn(|| self.client.poll_ready()).collect()
    }

    pub(crate) fn result<T>(&mut self, p: &Pending<T>) -> Result<T, Error> {
        assert!(
            self.readies().contains(&Ready::Request(p.request())),
            "the request is reported ready"
        );
        self.client.take(p).expect("an outcome")
    }

    pub(crate) fn open(&mut self) -> ChannelRef {
        let p = self.client.open_channel().unwrap();
        let m = self.methods();
        let [(n, Method::ChannelOpen(_))] = m[..] else {
            panic!("{m:?}")
        };
        assert!(self.client.take(&p).is_none(), "no outcome before open-ok");
        self.send(n, channel::OpenOk::default());
        let ch = self.result(&p).unwrap();
        assert_eq!(ch.number(), n);
        assert!(self.client.is_channel_open(ch));
        ch
    }

    /// A consumer on `ch` tagged `tag`, consume-ok answered.
    pub(crate) fn consume(
        &mut self,
        ch: ChannelRef,
        tag: &str,
        mode: ConsumerMode,
    ) -> amqp_client::core::ConsumerId {
        let options = ConsumeOptions {
            consumer_tag: tag.into(),
            ..Default::default()
        };
        let (id, p) = self.client.basic_consume(ch, "q", options, mode).unwrap();
        let m = self.methods();
        assert!(
            matches!(&m[..], [(_, Method::BasicConsume(c))] if c.consumer_tag == tag),
            "{m:?}"
        );
        self.send(
            ch.number(),
            basic::ConsumeOk {
                consumer_tag: ss(tag),
            },
        );
        assert_eq!(self.result(&p).unwrap(), tag);
        id
    }
}

impl Broker {
    /// A consumer whose consume-ok has not come.
    pub(crate) fn consume_pending(&mut self, ch: ChannelRef) -> amqp_client::core::ConsumerId {
        let (id, _) = self
            .client
            .basic_consume(
                ch,
                "q",
                ConsumeOptions::default(),
                ConsumerMode::Buffer { limit: None },
            )
            .unwrap();
        id
    }
}

impl Broker {
    /// A client through its handshake, recovering over endpoints `a` and
    /// `b` (connected to `a`) as `policy` says.
    pub(crate) fn recovering(policy: amqp_client::core::RecoveryPolicy) -> Broker {
        let now = Instant::now();
        let mut config = Config::plain("guest", "guest");
        config.recovery = Some(policy);
        let mut b = Broker {
            client: Client::new(config, now),
            now,
            from_client: BytesMut::new(),
            decoder: FrameDecoder::new(0),
        };
        b.handshake();
        assert!(matches!(b.events()[..], [Event::Connected]));
        b.readies();
        let endpoints: Vec<_> = ["a", "b"]
            .into_iter()
            .map(|h| amqp_client::ConnectionParameters::new().with_host(h))
            .collect();
        b.client.set_endpoints(endpoints.into(), 0);
        b
    }

    /// The broker's side of a handshake, from the protocol header on.
    pub(crate) fn handshake(&mut self) {
        self.take_output();
        assert_eq!(
            ProtocolHeader::decode(&mut self.from_client).unwrap(),
            Some(ProtocolHeader::AMQP_0_9_1)
        );
        self.decoder = FrameDecoder::new(0);
        self.send(
            0,
            connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: FieldTable::new(),
                mechanisms: LongStr::from("PLAIN"),
                locales: LongStr::from("en_US"),
            },
        );
        self.send(
            0,
            connection::Tune {
                channel_max: 2047,
                frame_max: 131_072,
                heartbeat: 0,
            },
        );
        assert_eq!(self.methods().len(), 3, "start-ok, tune-ok, open");
        self.send(0, connection::OpenOk::default());
    }

    /// The stream fails.
    pub(crate) fn lose(&mut self) {
        self.from_client.clear();
        let e = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        self.client.handle_eof(Some(e));
    }

    /// The next attempt, connected: its endpoint.
    pub(crate) fn reconnect(&mut self) -> usize {
        let a = self.client.poll_reconnect(self.now).expect("an attempt");
        self.now = self.now.max(a.at);
        self.client.reconnected(None, self.now);
        a.endpoint
    }
}
