//! The proxy benchmark's client: a minimal blocking AMQP client written on
//! `amqp-protocol` alone (so that the client's own overhead stays small next
//! to what the proxy adds), run once against the broker and once through the
//! proxy by `bench/run.sh`.
//!
//! ```text
//! cargo run --release -p amqp-tap --example rtt -- ADDR rtt N        # publish, wait for the delivery, N times
//! cargo run --release -p amqp-tap --example rtt -- ADDR throughput N # N publishes in confirm mode, 1000 in flight
//! ```
//!
//! `rtt` prints `median_us p99_us`; `throughput` prints `messages_per_second`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

use amqp_protocol::{
    basic, channel, confirm, connection, encode_content, queue, Assembled, Assembler,
    BasicProperties, Frame, FrameDecoder, LongStr, Method, ShortStr,
};
use bytes::BytesMut;

struct Client {
    sock: TcpStream,
    buf: BytesMut,
    decoder: FrameDecoder,
    asm: Assembler,
    out: Vec<u8>,
}

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

impl Client {
    fn connect(addr: &str) -> Result<Client> {
        let sock = TcpStream::connect(addr)?;
        sock.set_nodelay(true)?;
        let mut c = Client {
            sock,
            buf: BytesMut::with_capacity(1 << 16),
            decoder: FrameDecoder::new(0),
            asm: Assembler::new(),
            out: Vec::new(),
        };
        c.sock.write_all(b"AMQP\x00\x00\x09\x01")?;
        c.expect(|m| matches!(m, Method::ConnectionStart(_)))?;
        c.send(
            0,
            connection::StartOk {
                mechanism: ShortStr::from_static("PLAIN"),
                response: LongStr::from_static(b"\x00guest\x00guest"),
                locale: ShortStr::from_static("en_US"),
                ..Default::default()
            },
        );
        c.flush()?;
        c.expect(|m| matches!(m, Method::ConnectionTune(_)))?;
        c.send(
            0,
            connection::TuneOk {
                channel_max: 1,
                frame_max: 131_072,
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
        c.flush()?;
        c.expect(|m| matches!(m, Method::ConnectionOpenOk(_)))?;
        c.send(1, channel::Open::default());
        c.flush()?;
        c.expect(|m| matches!(m, Method::ChannelOpenOk(_)))?;
        Ok(c)
    }

    fn send(&mut self, channel: u16, m: impl Into<Method>) {
        Frame::method(channel, m).encode(&mut self.out);
    }

    fn flush(&mut self) -> Result<()> {
        self.sock.write_all(&self.out)?;
        self.out.clear();
        Ok(())
    }

    /// The next method or message.
    fn next(&mut self) -> Result<Assembled> {
        loop {
            while let Some(frame) = self.decoder.decode(&mut self.buf)? {
                if let Some(a) = self.asm.handle_frame(frame)? {
                    return Ok(a);
                }
            }
            let mut chunk = [0u8; 1 << 16];
            let n = self.sock.read(&mut chunk)?;
            if n == 0 {
                return Err("the broker closed the connection".into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    fn expect(&mut self, ok: impl Fn(&Method) -> bool) -> Result<Method> {
        match self.next()? {
            Assembled::Method { method, .. } if ok(&method) => Ok(method),
            other => Err(format!("unexpected {other:?}").into()),
        }
    }

    fn declare_queue(&mut self) -> Result<ShortStr> {
        self.send(
            1,
            queue::Declare {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
        );
        self.flush()?;
        match self.expect(|m| matches!(m, Method::QueueDeclareOk(_)))? {
            Method::QueueDeclareOk(ok) => Ok(ok.queue),
            _ => unreachable!("checked"),
        }
    }

    fn publish(&mut self, queue: &ShortStr, body: &[u8]) {
        let publish = Method::from(basic::Publish {
            routing_key: queue.clone(),
            ..Default::default()
        });
        encode_content(
            &mut self.out,
            1,
            &publish,
            &BasicProperties::default(),
            body,
            131_072,
        );
    }

    fn close(mut self) -> Result<()> {
        self.send(
            0,
            connection::Close {
                reply_code: 200,
                ..Default::default()
            },
        );
        self.flush()?;
        loop {
            if let Assembled::Method {
                method: Method::ConnectionCloseOk(_),
                ..
            } = self.next()?
            {
                return Ok(());
            }
        }
    }
}

fn rtt(addr: &str, n: usize) -> Result<()> {
    let mut c = Client::connect(addr)?;
    let q = c.declare_queue()?;
    c.send(
        1,
        basic::Consume {
            queue: q.clone(),
            no_ack: true,
            ..Default::default()
        },
    );
    c.flush()?;
    c.expect(|m| matches!(m, Method::BasicConsumeOk(_)))?;
    let mut times = Vec::with_capacity(n);
    let body = [b'x'; 32];
    for _ in 0..n {
        let start = Instant::now();
        c.publish(&q, &body);
        c.flush()?;
        loop {
            if let Assembled::Content { .. } = c.next()? {
                break;
            }
        }
        times.push(start.elapsed().as_secs_f64() * 1e6);
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let p99 = times[(times.len() * 99).div_ceil(100) - 1];
    println!("{median:.1} {p99:.1}");
    c.close()
}

fn throughput(addr: &str, n: u64) -> Result<()> {
    const WINDOW: u64 = 1000;
    let mut c = Client::connect(addr)?;
    let q = c.declare_queue()?;
    c.send(1, confirm::Select::default());
    c.flush()?;
    c.expect(|m| matches!(m, Method::ConfirmSelectOk(_)))?;
    let body = [b'x'; 16];
    let start = Instant::now();
    let (mut sent, mut acked) = (0u64, 0u64);
    while acked < n {
        while sent < n && sent - acked < WINDOW {
            c.publish(&q, &body);
            sent += 1;
        }
        c.flush()?;
        match c.next()? {
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
            } => return Err("the broker nacked a publish".into()),
            _ => {}
        }
    }
    println!("{:.0}", n as f64 / start.elapsed().as_secs_f64());
    // Purge what was published rather than leave it to the exclusive queue's end.
    c.send(
        1,
        queue::Purge {
            queue: q,
            ..Default::default()
        },
    );
    c.flush()?;
    loop {
        if let Assembled::Method {
            method: Method::QueuePurgeOk(_),
            ..
        } = c.next()?
        {
            break;
        }
    }
    c.close()
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: rtt ADDR (rtt|throughput) N";
    let (Some(addr), Some(mode), Some(n)) = (args.get(1), args.get(2), args.get(3)) else {
        return Err(usage.into());
    };
    let n: u64 = n.parse()?;
    match mode.as_str() {
        "rtt" => rtt(addr, n as usize),
        "throughput" => throughput(addr, n),
        _ => Err(usage.into()),
    }
}
