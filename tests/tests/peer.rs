//! The scripted broker (`amqp_tests::peer`) itself: its handshake and
//! auto-responder against a client written with the codec alone, its hooks
//! against the blocking client, and its reports of failed scripts.

#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{mpsc, Mutex};
use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::Error;
use amqp_protocol::{
    basic, channel, confirm, connection, encode_content, encode_method_frame, queue,
    BasicProperties, FrameDecoder, FramePayload, LongStr, Method, ProtocolHeader, ReplyCode,
    ShortStr,
};
use amqp_tests::peer::{ensure, Action, Ended, ScriptedBroker};
use bytes::BytesMut;

/// A client made of the codec and a socket.
struct RawClient {
    stream: TcpStream,
    input: BytesMut,
    decoder: FrameDecoder,
}

impl RawClient {
    fn connect(broker: &ScriptedBroker) -> RawClient {
        let stream = TcpStream::connect(broker.addr()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        RawClient {
            stream,
            input: BytesMut::new(),
            decoder: FrameDecoder::new(131_072),
        }
    }

    fn send(&mut self, channel: u16, method: impl Into<Method>) {
        let mut buf = BytesMut::new();
        encode_method_frame(&mut buf, channel, &method.into());
        self.stream.write_all(&buf).unwrap();
    }

    fn recv(&mut self) -> (u16, Method) {
        loop {
            if let Some(frame) = self.decoder.decode(&mut self.input).unwrap() {
                let FramePayload::Method(m) = frame.payload else {
                    panic!("not a method: {frame}")
                };
                return (frame.channel, m);
            }
            let mut buf = [0u8; 16 * 1024];
            let n = self.stream.read(&mut buf).unwrap();
            assert!(n > 0, "the scripted broker closed the connection");
            self.input.extend_from_slice(&buf[..n]);
        }
    }
}

#[test]
fn the_auto_responder_answers_as_rabbitmq_does() {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let broker = ScriptedBroker::start_n(1, move |mut peer| {
        let handshake = peer.handshake()?;
        ensure(handshake.open.virtual_host == "/", "vhost /")?;
        let mut published = Vec::new();
        let ended = peer.serve(|server, command| {
            if matches!(command.method, Method::ConnectionClose(_)) {
                published = server.published().iter().map(|p| p.body.clone()).collect();
            }
            Ok(Action::Answer)
        })?;
        ensure(
            matches!(ended, Ended::ClientClosed(_)),
            format!("{ended:?}"),
        )?;
        let _ = tx.lock().unwrap().send(published);
        Ok(())
    });
    let mut c = RawClient::connect(&broker);
    c.stream
        .write_all(&ProtocolHeader::AMQP_0_9_1.to_bytes())
        .unwrap();
    let (_, Method::ConnectionStart(start)) = c.recv() else {
        panic!("no start")
    };
    assert!(start.server_properties.get("capabilities").is_some());
    c.send(
        0,
        connection::StartOk {
            mechanism: ShortStr::from_static("PLAIN"),
            response: LongStr::from("\0guest\0guest"),
            locale: ShortStr::from_static("en_US"),
            ..Default::default()
        },
    );
    let (_, Method::ConnectionTune(tune)) = c.recv() else {
        panic!("no tune")
    };
    assert_eq!((tune.frame_max, tune.heartbeat), (131_072, 0));
    c.send(
        0,
        connection::TuneOk {
            channel_max: 10,
            frame_max: 4096,
            heartbeat: 0,
        },
    );
    c.send(
        0,
        connection::Open {
            virtual_host: ShortStr::from_static("/"),
            ..Default::default()
        },
    );
    assert!(matches!(c.recv(), (0, Method::ConnectionOpenOk(_))));
    c.send(1, channel::Open::default());
    assert!(matches!(c.recv(), (1, Method::ChannelOpenOk(_))));
    c.send(1, queue::Declare::default());
    let (1, Method::QueueDeclareOk(ok)) = c.recv() else {
        panic!("no declare-ok")
    };
    assert!(ok.queue.to_string_lossy().starts_with("amq.gen-"), "{ok:?}");
    c.send(1, basic::Consume::default());
    let (1, Method::BasicConsumeOk(ok)) = c.recv() else {
        panic!("no consume-ok")
    };
    assert!(ok.consumer_tag.to_string_lossy().starts_with("amq.ctag-"));
    c.send(1, confirm::Select::default());
    assert!(matches!(c.recv(), (1, Method::ConfirmSelectOk(_))));
    // A body over the negotiated frame size: three body frames.
    let body = vec![7u8; 10_000];
    let mut buf = BytesMut::new();
    let publish = Method::from(basic::Publish::default());
    encode_content(
        &mut buf,
        1,
        &publish,
        &BasicProperties::default(),
        &body,
        4096,
    );
    c.stream.write_all(&buf).unwrap();
    let (1, Method::BasicAck(ack)) = c.recv() else {
        panic!("no ack")
    };
    assert_eq!((ack.delivery_tag, ack.multiple), (1, false));
    c.send(0, connection::Close::default());
    assert!(matches!(c.recv(), (0, Method::ConnectionCloseOk(_))));
    let published = rx.recv_timeout(Duration::from_secs(5)).unwrap();
    broker.join();
    assert_eq!(published, [body]);
}

#[test]
fn hooks_deliver_delay_cancel_and_close_against_the_blocking_client() {
    let broker = ScriptedBroker::start_n(1, |mut peer| {
        peer.handshake()?;
        let mut consumes = 0;
        peer.serve(|server, command| match &command.method {
            Method::BasicPublish(_) => {
                // Confirmed 300 ms late.
                let seq = server
                    .record_publish(command)
                    .ok_or("not in confirm mode")?;
                let ch = command.channel;
                server.later(Duration::from_millis(300), move |s| s.ack(ch, seq, false));
                Ok(Action::Handled)
            }
            Method::BasicConsume(_) => {
                consumes += 1;
                let tag = server.answer(command)?;
                server.deliver(command.channel, &tag, b"first")?;
                if consumes == 1 {
                    // Then the broker cancels it.
                    server.cancel_consumer(command.channel, &tag)?;
                }
                Ok(Action::Handled)
            }
            Method::QueuePurge(_) => {
                server.close_channel(command.channel, ReplyCode::PRECONDITION_FAILED, "refused")?;
                Ok(Action::Handled)
            }
            _ => Ok(Action::Answer),
        })?;
        Ok(())
    });
    let conn = Connection::open_uri(&broker.uri()).unwrap();
    let ch = conn.channel().unwrap();
    ch.confirm_delivery().unwrap();
    let started = Instant::now();
    let confirm = ch
        .publish_with_confirm("", "q", b"late", &BasicProperties::default(), false)
        .unwrap();
    confirm.wait(Some(Duration::from_secs(5))).unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));

    let q = ch
        .queue_declare("", QueueDeclareOptions::default())
        .unwrap();
    let mut it = ch
        .consume(
            &q.queue,
            ConsumeOptions::default(),
            Some(Duration::from_secs(5)),
        )
        .unwrap();
    let d = it.next().unwrap().unwrap().unwrap();
    assert_eq!(&d.body[..], b"first");
    let end = it.next();
    assert!(
        matches!(end, Some(Err(Error::ConsumerCancelled { .. }))),
        "{end:?}"
    );

    let e = ch.queue_purge(&q.queue).unwrap_err();
    assert!(e.is_precondition_failed(), "{e:?}");
    conn.close().unwrap();
    broker.join();
}

#[test]
fn a_failed_script_fails_the_test_with_its_reason() {
    let broker = ScriptedBroker::start_n(1, |mut peer| {
        peer.set_timeout(Duration::from_millis(100));
        peer.read_protocol_header()?;
        peer.expect("connection.start-ok")?;
        Ok(())
    });
    // Open until the script gave up waiting for start-ok.
    let mut client = TcpStream::connect(broker.addr()).unwrap();
    client.write_all(b"AMQP\0\0\x09\x01").unwrap();
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| broker.join()))
        .expect_err("join must fail");
    let text = failure.downcast_ref::<String>().unwrap();
    assert!(text.contains("script failed"), "{text}");
    assert!(text.contains("no method from the client within"), "{text}");

    let broker = ScriptedBroker::start_n(1, |_peer| panic!("on purpose"));
    drop(TcpStream::connect(broker.addr()).unwrap());
    let failure = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| broker.join()))
        .expect_err("join must fail");
    let text = failure.downcast_ref::<String>().unwrap();
    assert!(text.contains("script panicked: on purpose"), "{text}");
}
