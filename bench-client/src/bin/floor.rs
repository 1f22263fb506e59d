//! A reference point, not a client: the least a consumer or confirming
//! publisher can do, on `amqp-protocol` alone. One thread, one blocking
//! socket, no locks, no queues between threads, no heartbeats, no error
//! handling beyond giving up: read as much as the socket has, decode it,
//! append the acks for the whole read to one buffer, write it once. What
//! any real client spends beyond this is the price of its threads, safety
//! and API; what this spends is mostly the kernel's.
//!
//! ```text
//! target/release/floor --scenario consume-ack --size 16 --count 100000
//! ```
//!
//! Runs `consume-ack`, `consume-noack`, `publish-confirm` and `latency`
//! like the client binaries (same pre-fill, meter and JSON line); it is not
//! in `run.sh`'s interleaving and not counted as a peer.
//!
//! `latency` also has tokio floors, for the async clients' rows: `--mode
//! multi-thread`, `current-thread` or `spawned` runs the round trips in a
//! future set up as the async clients' are (`tokio_runtime`, `run_on`),
//! which writes and reads the socket itself (tokio's `TcpStream`, one
//! `recv` per wake-up, no task of its own, no channel between tasks). What an async
//! client spends there beyond this is its own; what this spends is the
//! price of the runtime's wake-ups.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use amqp_client_bench::{
    latency_warmup, main_for, parse_args, payload, prefill, run_on, tokio_label, tokio_runtime,
    uri_parts, Args, Latencies, Meter, Report, Scenario, CONFIRM_WINDOW, FRAME_MAX, PREFETCH,
};
use amqp_protocol::{
    basic, channel, confirm, connection, encode_content, queue, Assembled, Assembler,
    BasicProperties, Frame, FrameDecoder, LongStr, Method, ShortStr,
};
use bytes::BytesMut;

type Res<T> = Result<T, String>;

struct Client {
    sock: TcpStream,
    buf: BytesMut,
    chunk: Box<[u8]>,
    decoder: FrameDecoder,
    asm: Assembler,
    out: Vec<u8>,
}

fn e(err: impl std::fmt::Display) -> String {
    err.to_string()
}

impl Client {
    fn connect(args: &Args) -> Res<Client> {
        let u = uri_parts(&args.uri)?;
        let sock = TcpStream::connect((u.host.as_str(), u.port)).map_err(e)?;
        sock.set_nodelay(true).map_err(e)?;
        let mut c = Client {
            sock,
            buf: BytesMut::with_capacity(1 << 17),
            chunk: vec![0; 1 << 17].into_boxed_slice(),
            decoder: FrameDecoder::new(0),
            asm: Assembler::new(),
            out: Vec::with_capacity(1 << 16),
        };
        c.sock.write_all(b"AMQP\x00\x00\x09\x01").map_err(e)?;
        c.expect(|m| matches!(m, Method::ConnectionStart(_)))?;
        let mut response = vec![0];
        response.extend_from_slice(u.user.as_bytes());
        response.push(0);
        response.extend_from_slice(u.password.as_bytes());
        c.send(
            0,
            connection::StartOk {
                mechanism: ShortStr::from_static("PLAIN"),
                response: LongStr::from(response),
                locale: ShortStr::from_static("en_US"),
                ..Default::default()
            },
        );
        c.flush()?;
        c.expect(|m| matches!(m, Method::ConnectionTune(_)))?;
        c.send(
            0,
            connection::TuneOk {
                channel_max: 2,
                frame_max: FRAME_MAX,
                heartbeat: 0,
            },
        );
        c.send(
            0,
            connection::Open {
                virtual_host: ShortStr::try_from(u.vhost.as_str()).map_err(e)?,
                ..Default::default()
            },
        );
        c.flush()?;
        c.expect(|m| matches!(m, Method::ConnectionOpenOk(_)))?;
        for ch in [1, 2] {
            c.send(ch, channel::Open::default());
            c.flush()?;
            c.expect(|m| matches!(m, Method::ChannelOpenOk(_)))?;
        }
        Ok(c)
    }

    fn send(&mut self, channel: u16, m: impl Into<Method>) {
        Frame::method(channel, m).encode(&mut self.out);
    }

    fn flush(&mut self) -> Res<()> {
        if !self.out.is_empty() {
            self.sock.write_all(&self.out).map_err(e)?;
            self.out.clear();
        }
        Ok(())
    }

    /// The next method or message already read, without reading.
    fn decoded(&mut self) -> Res<Option<Assembled>> {
        while let Some(frame) = self.decoder.decode(&mut self.buf).map_err(e)? {
            if let Some(a) = self.asm.handle_frame(frame).map_err(e)? {
                return Ok(Some(a));
            }
        }
        Ok(None)
    }

    /// Reads once (blocking) what the socket has.
    fn read(&mut self) -> Res<()> {
        let n = self.sock.read(&mut self.chunk).map_err(e)?;
        if n == 0 {
            return Err("the broker closed the connection".into());
        }
        self.buf.extend_from_slice(&self.chunk[..n]);
        Ok(())
    }

    fn next(&mut self) -> Res<Assembled> {
        loop {
            if let Some(a) = self.decoded()? {
                return Ok(a);
            }
            self.read()?;
        }
    }

    fn expect(&mut self, ok: impl Fn(&Method) -> bool) -> Res<Method> {
        match self.next()? {
            Assembled::Method { method, .. } if ok(&method) => Ok(method),
            other => Err(format!("unexpected {other:?}")),
        }
    }

    fn call(
        &mut self,
        channel: u16,
        m: impl Into<Method>,
        ok: impl Fn(&Method) -> bool,
    ) -> Res<Method> {
        self.send(channel, m);
        self.flush()?;
        self.expect(ok)
    }

    fn publish(&mut self, queue: &str, body: &[u8]) -> Res<()> {
        let publish = Method::from(basic::Publish {
            routing_key: ShortStr::try_from(queue).map_err(e)?,
            ..Default::default()
        });
        encode_content(
            &mut self.out,
            1,
            &publish,
            &BasicProperties::default(),
            body,
            FRAME_MAX,
        );
        Ok(())
    }
}

fn main() {
    let args = parse_args(
        "floor",
        &["blocking", "multi-thread", "current-thread", "spawned"],
    );
    main_for("floor", args.clone(), run);
}

fn run(args: &Args, queue: &str) -> Res<Report> {
    if args.mode != "blocking" && args.scenario != Scenario::Latency {
        return Err(format!("--mode {}: only for latency", args.mode));
    }
    let mut c = Client::connect(args)?;
    let q = ShortStr::try_from(queue).map_err(e)?;
    c.call(
        1,
        queue::Declare {
            queue: q.clone(),
            ..Default::default()
        },
        |m| matches!(m, Method::QueueDeclareOk(_)),
    )?;
    let body = payload(args.size);
    let n = args.count;
    let mut latencies = None;
    let mut prefilled = None;
    let measured = match args.scenario {
        Scenario::ConsumeAck | Scenario::ConsumeNoack => {
            prefill(&args.uri, queue, args.size, n)?;
            prefilled = Some("amqp-client");
            let no_ack = args.scenario == Scenario::ConsumeNoack;
            c.call(
                1,
                basic::Qos {
                    prefetch_count: PREFETCH,
                    ..Default::default()
                },
                |m| matches!(m, Method::BasicQosOk(_)),
            )?;
            let m = Meter::start();
            c.call(
                1,
                basic::Consume {
                    queue: q.clone(),
                    no_ack,
                    ..Default::default()
                },
                |m| matches!(m, Method::BasicConsumeOk(_)),
            )?;
            let mut got = 0;
            while got < n {
                // Everything this read brought, then one write of the acks.
                while let Some(a) = c.decoded()? {
                    if let Assembled::Content { content, .. } = a {
                        if let Method::BasicDeliver(d) = content.method {
                            got += 1;
                            if !no_ack {
                                c.send(
                                    1,
                                    basic::Ack {
                                        delivery_tag: d.delivery_tag,
                                        multiple: false,
                                    },
                                );
                            }
                        }
                    }
                }
                c.flush()?;
                if got < n {
                    c.read()?;
                }
            }
            let left = match c.call(
                1,
                queue::Declare {
                    queue: q.clone(),
                    passive: true,
                    ..Default::default()
                },
                |m| matches!(m, Method::QueueDeclareOk(_)),
            )? {
                Method::QueueDeclareOk(ok) => ok.message_count,
                _ => unreachable!("checked"),
            };
            let m = m.stop();
            if left != 0 {
                return Err(format!("{left} messages left"));
            }
            m
        }
        Scenario::PublishConfirm => {
            c.call(1, confirm::Select::default(), |m| {
                matches!(m, Method::ConfirmSelectOk(_))
            })?;
            let m = Meter::start();
            let (mut sent, mut acked) = (0u64, 0u64);
            let n = n as u64;
            while acked < n {
                while sent < n && sent - acked < CONFIRM_WINDOW as u64 {
                    c.publish(queue, &body)?;
                    sent += 1;
                }
                c.flush()?;
                if c.decoded()?.is_none() {
                    c.read()?;
                }
                while let Some(a) = c.decoded()? {
                    match a {
                        Assembled::Method {
                            method: Method::BasicAck(a),
                            ..
                        } => {
                            acked = if a.multiple {
                                a.delivery_tag
                            } else {
                                acked.max(a.delivery_tag)
                            }
                        }
                        Assembled::Method {
                            method: Method::BasicNack(_),
                            ..
                        } => return Err("nacked".into()),
                        _ => {}
                    }
                }
            }
            m.stop()
        }
        Scenario::Latency => {
            c.call(
                2,
                basic::Consume {
                    queue: q.clone(),
                    no_ack: true,
                    ..Default::default()
                },
                |m| matches!(m, Method::BasicConsumeOk(_)),
            )?;
            let (lat, m) = if args.mode == "blocking" {
                blocking_latency(&mut c, queue, &body, n)?
            } else {
                let rt = tokio_runtime(args)?;
                let (back, lat, m) =
                    run_on(&rt, args, tokio_latency(c, queue.to_owned(), body, n))?;
                c = back;
                (lat, m)
            };
            latencies = Some(lat);
            m
        }
        Scenario::Publish => return Err("publish: not measured by the floor".into()),
    };
    c.call(
        1,
        queue::Delete {
            queue: q,
            ..Default::default()
        },
        |m| matches!(m, Method::QueueDeleteOk(_)),
    )?;
    Ok(Report {
        client: if args.mode == "blocking" {
            "floor".to_owned()
        } else {
            tokio_label("floor-tokio", args)
        },
        args: args.clone(),
        measured,
        latencies,
        frame_max: Some(FRAME_MAX),
        prefill: prefilled,
    })
}

/// The latency round trips on the blocking socket.
fn blocking_latency(
    c: &mut Client,
    queue: &str,
    body: &[u8],
    n: usize,
) -> Res<(Latencies, amqp_client_bench::Measured)> {
    let warmup = latency_warmup(n);
    let mut lat = Latencies(Vec::with_capacity(n));
    let mut m = None;
    for i in 0..warmup + n {
        if i == warmup {
            m = Some(Meter::start());
        }
        let t0 = Instant::now();
        c.publish(queue, body)?;
        c.flush()?;
        while !matches!(c.next()?, Assembled::Content { .. }) {}
        if i >= warmup {
            lat.push(t0.elapsed());
        }
    }
    Ok((lat, m.ok_or("no round trip")?.stop()))
}

/// The latency round trips in a future: the socket under tokio's reactor,
/// written and read by the future itself. Hands the client back for the
/// clean-up.
async fn tokio_latency(
    mut c: Client,
    queue: String,
    body: Vec<u8>,
    n: usize,
) -> Res<(Client, Latencies, amqp_client_bench::Measured)> {
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    c.sock.set_nonblocking(true).map_err(e)?;
    let mut sock = tokio::net::TcpStream::from_std(c.sock.try_clone().map_err(e)?).map_err(e)?;
    let warmup = latency_warmup(n);
    let mut lat = Latencies(Vec::with_capacity(n));
    let mut m = None;
    for i in 0..warmup + n {
        if i == warmup {
            m = Some(Meter::start());
        }
        let t0 = Instant::now();
        c.publish(&queue, &body)?;
        let mut at = 0;
        while at < c.out.len() {
            at += poll_fn(|cx| Pin::new(&mut sock).poll_write(cx, &c.out[at..]))
                .await
                .map_err(e)?;
        }
        c.out.clear();
        loop {
            match c.decoded()? {
                Some(Assembled::Content { .. }) => break,
                Some(_) => continue,
                None => {}
            }
            // tokio's read clears the socket's readiness after a short read,
            // so the next wait parks without a `recv` that would block.
            let k = poll_fn(|cx| {
                let mut rb = ReadBuf::new(&mut c.chunk);
                Pin::new(&mut sock)
                    .poll_read(cx, &mut rb)
                    .map_ok(|()| rb.filled().len())
            })
            .await
            .map_err(e)?;
            if k == 0 {
                return Err("the broker closed the connection".into());
            }
            c.buf.extend_from_slice(&c.chunk[..k]);
        }
        if i >= warmup {
            lat.push(t0.elapsed());
        }
    }
    drop(sock);
    c.sock.set_nonblocking(false).map_err(e)?;
    let m = m.ok_or("no round trip")?.stop();
    Ok((c, lat, m))
}
