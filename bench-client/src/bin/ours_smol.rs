//! amqp-client's async API over `futures-io` (feature `futures-io`), on
//! smol: the connection's driver task runs on smol's global executor (one
//! thread unless `SMOL_THREADS` says otherwise), the application in
//! `smol::block_on` on the main thread. The same handles as `ours-tokio`:
//! consumers are `Stream`s; pipelined confirms are `Confirmation` futures
//! kept in a window.

use std::collections::VecDeque;
use std::future::Future;
use std::time::{Duration, Instant};

use amqp_client::futures_io::{
    BoxFuture, Channel, Confirmation, Connection, ConsumeOptions, QueueDeclareOptions, Runtime,
};
use amqp_client::{ConnectionParameters, Error};
use amqp_client_bench::{
    label, latency_warmup, main_for, parse_args, payload, prefill, Args, Latencies, Meter, Report,
    Scenario, CONFIRM_WINDOW, FRAME_MAX, POLL_INTERVAL, PREFETCH, STALL_TIMEOUT,
};
use amqp_protocol::BasicProperties;
use futures_util::StreamExt;

/// What differs between `amqp-client` now and as of the `before` build.
mod api {
    use super::{Channel, Error};

    /// basic.ack never waits: a plain call now, a future before.
    #[cfg(not(feature = "old-api"))]
    pub async fn basic_ack(ch: &Channel, delivery_tag: u64) -> Result<(), Error> {
        ch.basic_ack(delivery_tag, false)
    }

    #[cfg(not(feature = "old-api"))]
    pub async fn queue_delete(ch: &Channel, queue: &str) -> Result<u32, Error> {
        ch.queue_delete(queue, Default::default()).await
    }

    #[cfg(feature = "old-api")]
    pub async fn basic_ack(ch: &Channel, delivery_tag: u64) -> Result<(), Error> {
        ch.basic_ack(delivery_tag, false).await
    }

    #[cfg(feature = "old-api")]
    pub async fn queue_delete(ch: &Channel, queue: &str) -> Result<u32, Error> {
        ch.queue_delete(queue, false, false).await
    }
}

/// smol's networking, global executor and timers as the connection's
/// runtime (as in `amqp_client::futures_io`'s documentation).
struct Smol;

impl Runtime for Smol {
    type Stream = smol::net::TcpStream;

    fn connect(&self, host: &str, port: u16) -> BoxFuture<std::io::Result<Self::Stream>> {
        let host = host.to_owned();
        Box::pin(async move {
            let stream = smol::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }

    fn spawn(&self, task: BoxFuture<()>) {
        smol::spawn(task).detach();
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(async move {
            smol::Timer::at(deadline).await;
        })
    }
}

fn main() {
    let args = parse_args("ours-smol", &["block-on"]);
    let client = label("ours-smol");
    main_for(&client, args.clone(), |args, queue| {
        smol::block_on(run(args, queue)).map_err(|e| e.to_string())
    });
}

async fn passive(ch: &Channel, queue: &str) -> Result<u32, Error> {
    Ok(ch
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )
        .await?
        .message_count)
}

fn timeout(what: &str) -> Error {
    Error::Timeout { what: what.into() }
}

/// `f`'s output, or the timeout error after `limit`.
async fn within<T>(limit: Duration, what: &str, f: impl Future<Output = T>) -> Result<T, Error> {
    smol::future::or(async { Ok(f.await) }, async {
        smol::Timer::after(limit).await;
        Err(timeout(what))
    })
    .await
}

async fn run(args: &Args, queue: &str) -> Result<Report, Error> {
    let params = ConnectionParameters::from_uri(&args.uri)
        .map_err(|e| Error::Misuse(e.to_string()))?
        .with_frame_max(FRAME_MAX)
        .with_connection_name(format!("bench {}", label("ours-smol")));
    let conn = Connection::open_with(Smol, params).await?;
    let frame_max = conn.tuning().frame_max;
    let ch = conn.channel().await?;
    ch.queue_declare(queue, QueueDeclareOptions::default())
        .await?;
    let body = payload(args.size);
    let props = BasicProperties::default();
    let n = args.count;
    let mut latencies = None;
    let mut prefilled = None;

    let measured = match args.scenario {
        Scenario::Publish => {
            let m = Meter::start();
            for _ in 0..n {
                ch.basic_publish("", queue, &body, &props, false).await?;
            }
            let deadline = Instant::now() + STALL_TIMEOUT;
            while (passive(&ch, queue).await? as usize) < n {
                if Instant::now() > deadline {
                    return Err(timeout("the queue to hold every message"));
                }
                smol::Timer::after(POLL_INTERVAL).await;
            }
            m.stop()
        }
        Scenario::PublishConfirm => {
            ch.confirm_delivery().await?;
            let mut window: VecDeque<Confirmation> = VecDeque::with_capacity(CONFIRM_WINDOW);
            let m = Meter::start();
            for _ in 0..n {
                if window.len() >= CONFIRM_WINDOW {
                    if let Some(c) = window.pop_front() {
                        within(STALL_TIMEOUT, "a confirm", c).await??;
                    }
                }
                window.push_back(
                    ch.publish_with_confirm("", queue, &body, &props, false)
                        .await?,
                );
            }
            for c in window {
                c.await?;
            }
            m.stop()
        }
        Scenario::ConsumeAck | Scenario::ConsumeNoack => {
            let uri = args.uri.clone();
            let (q, size) = (queue.to_owned(), args.size);
            smol::unblock(move || prefill(&uri, &q, size, n))
                .await
                .map_err(Error::Misuse)?;
            prefilled = Some("amqp-client");
            let no_ack = args.scenario == Scenario::ConsumeNoack;
            ch.basic_qos(0, PREFETCH, false).await?;
            let m = Meter::start();
            let mut consumer = ch
                .basic_consume(
                    queue,
                    ConsumeOptions {
                        no_ack,
                        ..Default::default()
                    },
                )
                .await?;
            for _ in 0..n {
                let d = within(STALL_TIMEOUT, "a delivery", consumer.next())
                    .await?
                    .ok_or_else(|| Error::Misuse("the consumer ended".into()))??;
                if !no_ack {
                    api::basic_ack(&ch, d.delivery_tag).await?;
                }
            }
            let left = passive(&ch, queue).await?;
            let m = m.stop();
            consumer.cancel().await?;
            if left != 0 {
                return Err(Error::Misuse(format!("{left} messages left")));
            }
            m
        }
        Scenario::Latency => {
            let cch = conn.channel().await?;
            let mut consumer = cch
                .basic_consume(
                    queue,
                    ConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                )
                .await?;
            let mut lat = Latencies(Vec::with_capacity(n));
            let warmup = latency_warmup(n);
            let mut m = None;
            for i in 0..warmup + n {
                if i == warmup {
                    m = Some(Meter::start());
                }
                let t0 = Instant::now();
                ch.basic_publish("", queue, &body, &props, false).await?;
                within(
                    Duration::from_secs(10),
                    "the message to come back",
                    consumer.next(),
                )
                .await?
                .ok_or_else(|| Error::Misuse("the consumer ended".into()))??;
                if i >= warmup {
                    lat.push(t0.elapsed());
                }
            }
            let m = m
                .ok_or_else(|| Error::Misuse("no round trip".into()))?
                .stop();
            latencies = Some(lat);
            consumer.cancel().await?;
            m
        }
    };
    api::queue_delete(&ch, queue).await?;
    conn.close().await?;
    Ok(Report {
        client: label("ours-smol"),
        args: args.clone(),
        measured,
        latencies,
        frame_max: Some(frame_max),
        prefill: prefilled,
    })
}
