//! Scenarios against a [scripted broker](crate::peer) that breaks the rules
//! in ways RabbitMQ never does, run with every adapter by
//! [`misbehaving_scenarios!`](crate::misbehaving_scenarios): each checks
//! the typed error the application gets and what the client told the
//! broker.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::{basic, constants, ContentHeader, Frame, FramePayload, Method};
use bytes::Bytes;

use crate::adapter::Adapter;
use crate::peer::{ensure, Action, PeerResult, ScriptedBroker};

/// Parameters for the scripted broker on `port`, failing fast, reporting
/// each failure (recovery off).
fn params(port: u16) -> ConnectionParameters {
    ConnectionParameters::new()
        .without_recovery()
        .with_host("127.0.0.1")
        .with_port(port)
        .with_stack_timeout(Duration::from_secs(5))
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address").port()
}

/// Opening must fail: the error.
fn open_error(adapter: &dyn Adapter, endpoints: Vec<ConnectionParameters>) -> Error {
    match adapter.open(endpoints) {
        Ok(conn) => panic!("{}: opened {conn:?}", adapter.name()),
        Err(e) => e,
    }
}

/// A server answering the protocol header with another protocol's header,
/// or with something that is not AMQP, is reported at once as a version
/// mismatch naming what it sent, not as a frame error (and not at the
/// handshake timeout: the server keeps the socket open).
pub fn another_protocol_header_is_a_version_mismatch(adapter: &dyn Adapter) {
    let answers: [(&[u8], &str); 3] = [
        (b"AMQP\x00\x00\x09\x00", "0-9-0"),
        (b"AMQP\x01\x01\x00\x09", "0-9"),
        (b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", ""),
    ];
    for (answer, version) in answers {
        let broker = ScriptedBroker::start_n(1, move |mut peer| {
            peer.read_protocol_header()?;
            peer.send_raw(answer)?;
            // The client must give up by itself.
            peer.expect_eof()
        });
        let started = Instant::now();
        let e = open_error(adapter, vec![params(broker.port())]);
        let name = adapter.name();
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{name}: {e:?} came late"
        );
        let Error::ProtocolVersionMismatch { server, received } = &e else {
            panic!("{name}: {e:?}")
        };
        assert_eq!(server, version, "{name}: {e}");
        let shown = received.as_deref().unwrap_or_default();
        assert!(
            answer.starts_with(shown) && shown.len() >= 8,
            "{name}: {e:?}"
        );
        let text = e.to_string();
        if version.is_empty() {
            assert!(text.contains("does not speak AMQP"), "{name}: {text}");
            assert!(
                text.contains("HTTP/1.1 400 Bad Request\\r\\n"),
                "{name}: {text}"
            );
        } else {
            assert!(text.contains(&format!("AMQP {version},")), "{name}: {text}");
        }
        broker.join();
    }
}

/// Opening over several endpoints reports each attempt's failure, with its
/// endpoint; a single failure stays as it is.
pub fn every_endpoint_failure_is_reported(adapter: &dyn Adapter) {
    let name = adapter.name();
    let refused = closed_port();
    let single = open_error(adapter, vec![params(refused)]);
    assert!(
        matches!(&single, Error::ConnectFailed { endpoint, .. } if *endpoint == format!("127.0.0.1:{refused}")),
        "{name}: {single:?}"
    );

    let broker = ScriptedBroker::start_n(1, |mut peer| {
        peer.read_protocol_header()?;
        peer.send_raw(b"HTTP/1.1 400 Bad Request\r\n\r\n")?;
        peer.expect_eof()
    });
    let e = open_error(adapter, vec![params(refused), params(broker.port())]);
    let Error::AttemptsFailed(failures) = &e else {
        panic!("{name}: {e:?}")
    };
    let endpoints: Vec<_> = failures.iter().map(|f| f.endpoint.clone()).collect();
    assert_eq!(
        endpoints,
        [
            format!("127.0.0.1:{refused}"),
            format!("127.0.0.1:{}", broker.port())
        ],
        "{name}"
    );
    assert!(
        matches!(failures[0].error, Error::ConnectFailed { .. }),
        "{name}: {e:?}"
    );
    assert!(
        matches!(failures[1].error, Error::ProtocolVersionMismatch { .. }),
        "{name}: {e:?}"
    );
    // The broker may come up on the first endpoint.
    assert!(e.reconnect_may_help(), "{name}");
    let text = e.to_string();
    assert!(
        text.starts_with("all 2 connection attempts failed: "),
        "{name}: {text}"
    );
    assert!(
        text.contains(&format!("127.0.0.1:{refused}")),
        "{name}: {text}"
    );
    assert!(text.contains("does not speak AMQP"), "{name}: {text}");
    broker.join();
}

/// A server that accepts the connection and never answers: the handshake
/// timeout names the endpoint and the address it waited on.
pub fn a_silent_server_times_out_naming_its_address(adapter: &dyn Adapter) {
    let name = adapter.name();
    let broker = ScriptedBroker::start_n(1, |mut peer| {
        peer.read_protocol_header()?;
        peer.expect_eof()
    });
    let started = Instant::now();
    let p = params(broker.port()).with_stack_timeout(Duration::from_millis(300));
    let e = open_error(adapter, vec![p]);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{name}: {e:?} came late"
    );
    let Error::HandshakeTimeout { endpoint, address } = &e else {
        panic!("{name}: {e:?}")
    };
    assert_eq!(
        endpoint.as_deref(),
        Some(&*format!("127.0.0.1:{}", broker.port()))
    );
    assert_eq!(*address, Some(broker.addr()), "{name}");
    assert!(
        e.to_string().contains(&broker.addr().to_string()),
        "{name}: {e}"
    );
    broker.join();
}

/// Sends `bad` instead of basic.qos-ok and reports the client's
/// connection.close (code, text) on `closes`.
fn misbehave_at_qos(
    adapter: &dyn Adapter,
    bad: impl Fn(&mut crate::peer::Peer, u16) -> PeerResult<()> + Send + Sync + 'static,
) -> (Error, u16, String) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let broker = ScriptedBroker::start_n(1, move |mut peer| {
        peer.handshake()?;
        peer.serve(|server, command| {
            if !matches!(command.method, Method::BasicQos(_)) {
                return Ok(Action::Answer);
            }
            bad(server.peer(), command.channel)?;
            let close = server.peer().expect_close()?;
            let text = close.reply_text.to_string_lossy().into_owned();
            let _ = tx.lock().map(|t| t.send((close.reply_code, text)));
            Ok(Action::Stop)
        })?;
        Ok(())
    });
    let conn = adapter.open(vec![params(broker.port())]).expect("open");
    let ch = conn.channel().expect("channel");
    let e = ch.basic_qos(0, 1, false).expect_err("qos must fail");
    let got = rx.recv_timeout(Duration::from_secs(5));
    // The script's failure, if any, says more than a missing report.
    broker.join();
    let (code, text) = got.expect("the client's close");
    assert_eq!(
        conn.close_reason().map(|r| r.to_string()),
        Some(e.to_string())
    );
    (e, code, text)
}

/// A method no class defines (99/99) closes the connection with 503
/// command-invalid, saying it is an unknown method.
pub fn an_unknown_method_is_named_as_such(adapter: &dyn Adapter) {
    let name = adapter.name();
    let (e, code, text) = misbehave_at_qos(adapter, |peer, ch| {
        peer.send_raw_frame(constants::FRAME_METHOD, ch, &[0, 99, 0, 99])
    });
    assert_eq!(code, 503, "{name}: {text}");
    assert!(text.contains("unknown method 99/99"), "{name}: {text}");
    let Error::UnexpectedMethod { method, .. } = &e else {
        panic!("{name}: {e:?}")
    };
    assert_eq!((method.class_id, method.method_id), (99, 99), "{name}");
    assert!(
        e.to_string().contains("unknown method 99/99"),
        "{name}: {e}"
    );
}

/// A heartbeat frame on channel 1 closes the connection with 501
/// frame-error, saying so.
pub fn a_heartbeat_on_a_channel_is_named_as_such(adapter: &dyn Adapter) {
    let name = adapter.name();
    let (e, code, text) = misbehave_at_qos(adapter, |peer, ch| {
        peer.send_raw_frame(constants::FRAME_HEARTBEAT, ch, &[])
    });
    assert_eq!(code, 501, "{name}: {text}");
    assert!(
        text.contains("heartbeat frame on channel 1"),
        "{name}: {text}"
    );
    assert!(
        matches!(&e, Error::UnexpectedFrame { channel: 1, code, .. } if code.0 == 501),
        "{name}: {e:?}"
    );
    assert!(
        e.to_string().contains("heartbeat frame on channel 1"),
        "{name}: {e}"
    );
}

/// At most this much body is streamed before the client must have closed.
const STREAM_LIMIT: u64 = 8 * 1024 * 1024;

/// A delivery whose header declares 2^63 bytes, followed by body frames as
/// fast as the socket takes them: the client closes the connection with 311
/// at the header, long before the broker has sent a few MB, and the
/// consumer ends with [`Error::MessageTooLarge`].
pub fn an_oversized_message_is_refused_at_its_header(adapter: &dyn Adapter) {
    let name = adapter.name();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let broker = ScriptedBroker::start_n(1, move |mut peer| {
        peer.handshake()?;
        peer.serve(|server, command| {
            if !matches!(command.method, Method::BasicConsume(_)) {
                return Ok(Action::Answer);
            }
            let tag = server.answer(command)?;
            let ch = command.channel;
            let peer = server.peer();
            let deliver = basic::Deliver {
                consumer_tag: crate::peer::short(&tag),
                delivery_tag: 1,
                ..Default::default()
            };
            peer.send_method(ch, deliver)?;
            let header = ContentHeader::new(1 << 63, Default::default());
            peer.send_frame(&Frame::header(ch, header))?;
            let start = peer.bytes_sent();
            let chunk = Bytes::from(vec![0x55; peer.frame_max() as usize - 8]);
            let close = loop {
                ensure(
                    peer.bytes_sent() - start < 8 * STREAM_LIMIT,
                    "the client kept reading the body",
                )?;
                peer.send_frame(&Frame::body(ch, chunk.clone()))?;
                if let Some(f) = peer.try_recv_frame(Duration::ZERO)? {
                    if let FramePayload::Method(Method::ConnectionClose(c)) = f.payload {
                        break c;
                    }
                }
            };
            let streamed = peer.bytes_sent() - start;
            peer.send_method(0, amqp_protocol::connection::CloseOk {})?;
            let text = close.reply_text.to_string_lossy().into_owned();
            let _ = tx
                .lock()
                .map(|t| t.send((close.reply_code, text, streamed)));
            Ok(Action::Stop)
        })?;
        Ok(())
    });
    let conn = adapter.open(vec![params(broker.port())]).expect("open");
    let ch = conn.channel().expect("channel");
    let started = Instant::now();
    let mut consumer = ch
        .consume("q", Default::default(), Some(Duration::from_secs(5)))
        .expect("consume");
    let ended = consumer.next_delivery();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{name}: took {:?}",
        started.elapsed()
    );
    let got = rx.recv_timeout(Duration::from_secs(5));
    broker.join();
    let (code, text, streamed) = got.expect("the client's close");
    assert_eq!(code, 311, "{name}: {text}");
    assert!(
        text.contains(&format!("{} bytes", 1u64 << 63)),
        "{name}: {text}"
    );
    assert!(
        streamed < STREAM_LIMIT,
        "{name}: the broker streamed {streamed} bytes first"
    );
    let limit = ConnectionParameters::DEFAULT_MAX_MESSAGE_SIZE;
    let expected = |e: &Error| {
        matches!(e, Error::MessageTooLarge { channel, size, limit: l }
            if *channel == ch.id() && *size == 1 << 63 && *l == limit)
    };
    assert!(
        matches!(&ended, Some(Err(e)) if expected(e)),
        "{name}: {ended:?}"
    );
    let reason = conn.close_reason();
    assert!(reason.as_ref().is_some_and(expected), "{name}: {reason:?}");
}

/// A delivery for a consumer tag never registered on the channel: the
/// client closes that channel (505, naming the tag), its consumer ends with
/// [`Error::UnknownConsumerTag`], and the connection stays open.
pub fn a_delivery_for_an_unknown_tag_closes_its_channel(adapter: &dyn Adapter) {
    let name = adapter.name();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let broker = ScriptedBroker::start_n(1, move |mut peer| {
        peer.handshake()?;
        peer.serve(|server, command| match &command.method {
            Method::BasicConsume(_) => {
                server.answer(command)?;
                server.deliver(command.channel, "never-registered", b"stray")?;
                Ok(Action::Handled)
            }
            Method::ChannelClose(c) => {
                let text = c.reply_text.to_string_lossy().into_owned();
                let _ = tx.lock().map(|t| t.send((c.reply_code, text)));
                Ok(Action::Answer)
            }
            _ => Ok(Action::Answer),
        })?;
        Ok(())
    });
    let conn = adapter.open(vec![params(broker.port())]).expect("open");
    let ch = conn.channel().expect("channel");
    let mut consumer = ch
        .consume(
            "q",
            amqp_client::blocking::ConsumeOptions::default(),
            Some(Duration::from_secs(5)),
        )
        .expect("consume");
    let e = match consumer.next_delivery() {
        Some(Err(e)) => e,
        other => panic!("{name}: {other:?}"),
    };
    assert!(
        matches!(&e, Error::UnknownConsumerTag { consumer_tag, .. } if consumer_tag == "never-registered"),
        "{name}: {e:?}"
    );
    let (code, text) = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("the client's channel.close");
    assert_eq!(code, 505, "{name}: {text}");
    assert!(text.contains("never-registered"), "{name}: {text}");
    assert!(conn.is_open(), "{name}: {:?}", conn.close_reason());
    // The connection goes on: another channel works.
    conn.channel()
        .expect("another channel")
        .basic_qos(0, 1, false)
        .expect("qos");
    conn.close().expect("close");
    broker.join();
}

/// The broker closes the connection (320) instead of confirming a publish
/// whose confirmation the application awaits: the wait ends at once with
/// the broker's close, not at some later timer.
pub fn a_broker_close_fails_an_awaited_confirm_at_once(adapter: &dyn Adapter) {
    let name = adapter.name();
    let broker = ScriptedBroker::start_n(1, move |mut peer| {
        peer.handshake()?;
        peer.serve(|server, command| {
            if !matches!(command.method, Method::BasicPublish(_)) {
                return Ok(Action::Answer);
            }
            server.record_publish(command);
            server.later(Duration::from_millis(300), |s| {
                s.close_connection(
                    amqp_protocol::ReplyCode(320),
                    "CONNECTION_FORCED - scripted",
                )
            });
            Ok(Action::Handled)
        })?;
        Ok(())
    });
    let conn = adapter.open(vec![params(broker.port())]).expect("open");
    let ch = conn.channel().expect("channel");
    ch.confirm_delivery().expect("confirm.select");
    let confirm = ch
        .publish_with_confirm("", "q", b"m", &Default::default(), false)
        .expect("publish");
    let started = Instant::now();
    let e = confirm.wait().expect_err("no confirm came");
    let took = started.elapsed();
    assert!(
        matches!(&e, Error::ConnectionClosedByBroker(c) if c.code.0 == 320),
        "{name}: {e:?}"
    );
    assert!(
        took < Duration::from_secs(2),
        "{name}: the close reached the awaited confirm after {took:?}"
    );
    broker.join();
}

/// Deliveries the broker sends between the client's basic.cancel and its
/// cancel-ok belong to the cancelled consumer: they are requeued (nacked
/// with requeue) and counted by `cancel`, not dropped.
pub fn deliveries_before_cancel_ok_are_the_consumers(adapter: &dyn Adapter) {
    let name = adapter.name();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let broker = ScriptedBroker::start_n(1, move |mut peer| {
        peer.handshake()?;
        peer.serve(|server, command| match &command.method {
            Method::BasicCancel(c) => {
                let tag = c.consumer_tag.to_string_lossy().into_owned();
                server.deliver(command.channel, &tag, b"late-1")?;
                server.deliver(command.channel, &tag, b"late-2")?;
                Ok(Action::Answer)
            }
            Method::BasicNack(n) => {
                let _ = tx.lock().map(|t| t.send((n.delivery_tag, n.requeue)));
                Ok(Action::Answer)
            }
            _ => Ok(Action::Answer),
        })?;
        Ok(())
    });
    let conn = adapter.open(vec![params(broker.port())]).expect("open");
    let ch = conn.channel().expect("channel");
    let consumer = ch
        .consume(
            "q",
            amqp_client::blocking::ConsumeOptions::default(),
            Some(Duration::from_secs(5)),
        )
        .expect("consume");
    assert_eq!(consumer.cancel().expect("cancel"), 2, "{name}");
    let mut nacked: Vec<(u64, bool)> = (0..2)
        .map(|_| rx.recv_timeout(Duration::from_secs(5)).expect("a nack"))
        .collect();
    nacked.sort();
    assert_eq!(nacked, vec![(1, true), (2, true)], "{name}");
    assert!(conn.is_open(), "{name}: {:?}", conn.close_reason());
    conn.close().expect("close");
    broker.join();
}

/// Defines one `#[test]` per scenario of this module with the adapter
/// `$adapter` (as [`live_scenarios!`](crate::live_scenarios) does for the
/// live ones).
#[macro_export]
macro_rules! misbehaving_scenarios {
    ($adapter:expr) => {
        #[test]
        fn another_protocol_header_is_a_version_mismatch() {
            $crate::misbehaving::another_protocol_header_is_a_version_mismatch(&$adapter);
        }

        #[test]
        fn every_endpoint_failure_is_reported() {
            $crate::misbehaving::every_endpoint_failure_is_reported(&$adapter);
        }

        #[test]
        fn a_silent_server_times_out_naming_its_address() {
            $crate::misbehaving::a_silent_server_times_out_naming_its_address(&$adapter);
        }

        #[test]
        fn an_unknown_method_is_named_as_such() {
            $crate::misbehaving::an_unknown_method_is_named_as_such(&$adapter);
        }

        #[test]
        fn a_heartbeat_on_a_channel_is_named_as_such() {
            $crate::misbehaving::a_heartbeat_on_a_channel_is_named_as_such(&$adapter);
        }

        #[test]
        fn a_delivery_for_an_unknown_tag_closes_its_channel() {
            $crate::misbehaving::a_delivery_for_an_unknown_tag_closes_its_channel(&$adapter);
        }

        #[test]
        fn a_broker_close_fails_an_awaited_confirm_at_once() {
            $crate::misbehaving::a_broker_close_fails_an_awaited_confirm_at_once(&$adapter);
        }

        #[test]
        fn deliveries_before_cancel_ok_are_the_consumers() {
            $crate::misbehaving::deliveries_before_cancel_ok_are_the_consumers(&$adapter);
        }

        #[test]
        fn an_oversized_message_is_refused_at_its_header() {
            $crate::misbehaving::an_oversized_message_is_refused_at_its_header(&$adapter);
        }
    };
}
