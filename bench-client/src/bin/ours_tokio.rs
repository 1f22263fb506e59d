//! amqp-client's async API on tokio (feature `tokio`), on a multi-thread
//! runtime with 2 workers like the other async clients here, or with
//! `--mode current-thread` on a current-thread runtime. Consumers are
//! `Stream`s; pipelined confirms are `Confirmation` futures kept in a window.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use amqp_client::tokio::{Channel, Confirmation, Connection, ConsumeOptions, QueueDeclareOptions};
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

/// The label of this run: `ours-tokio`, `-ct` or `-sp` for the mode, then
/// `-before` in the `before` build.
fn client(args: &Args) -> String {
    label(&amqp_client_bench::tokio_label("ours-tokio", args))
}

fn main() {
    let args = parse_args("ours-tokio", amqp_client_bench::TOKIO_MODES);
    let client = client(&args);
    main_for(&client, args.clone(), |args, queue| {
        let rt = amqp_client_bench::tokio_runtime(args)?;
        let (owned, queue) = (args.clone(), queue.to_owned());
        amqp_client_bench::run_on(&rt, args, async move {
            run(&owned, &queue).await.map_err(|e| e.to_string())
        })
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

async fn run(args: &Args, queue: &str) -> Result<Report, Error> {
    let params = ConnectionParameters::from_uri(&args.uri)
        .map_err(|e| Error::Misuse(e.to_string()))?
        .with_frame_max(FRAME_MAX)
        .with_connection_name(format!("bench {}", client(args)));
    let conn = Connection::open(params).await?;
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
                tokio::time::sleep(POLL_INTERVAL).await;
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
                        tokio::time::timeout(STALL_TIMEOUT, c)
                            .await
                            .map_err(|_| timeout("a confirm"))??;
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
            tokio::task::spawn_blocking(move || prefill(&uri, &q, size, n))
                .await
                .map_err(|e| Error::Misuse(e.to_string()))?
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
                let d = tokio::time::timeout(STALL_TIMEOUT, consumer.next())
                    .await
                    .map_err(|_| timeout("a delivery"))?
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
                tokio::time::timeout(Duration::from_secs(10), consumer.next())
                    .await
                    .map_err(|_| timeout("the message to come back"))?
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
        client: client(args),
        args: args.clone(),
        measured,
        latencies,
        frame_max: Some(frame_max),
        prefill: prefilled,
    })
}
