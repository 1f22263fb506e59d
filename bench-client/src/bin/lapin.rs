//! lapin 3.x on tokio (its executor and reactor; lapin adds its own I/O
//! thread). `--mode await` (default, reported as `lapin`): each
//! `basic_publish(..).await` (which resolves once lapin's I/O loop has written
//! the frames) and each `ack(..).await` is awaited before the next; confirms
//! (`PublisherConfirm`) are kept in a window. `--mode inflight` (reported as
//! `lapin-inflight`): up to the window of publish (or ack) futures are in
//! flight at once, polled together.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use amqp_client_bench::{
    latency_warmup, main_for, parse_args, payload, prefill, Args, Latencies, Meter, Report,
    Scenario, CONFIRM_WINDOW, FRAME_MAX, POLL_INTERVAL, PREFETCH, STALL_TIMEOUT,
};
use futures_util::stream::{FuturesOrdered, FuturesUnordered, StreamExt};
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions,
    ConfirmSelectOptions, QueueDeclareOptions, QueueDeleteOptions,
};
use lapin::publisher_confirm::{Confirmation, PublisherConfirm};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

type Res<T> = Result<T, String>;
type AckFuture = std::pin::Pin<Box<dyn std::future::Future<Output = lapin::Result<bool>> + Send>>;

fn e(err: lapin::Error) -> String {
    err.to_string()
}

/// An error with the step it happened in.
fn at(step: &'static str) -> impl Fn(lapin::Error) -> String {
    move |err| format!("{step}: {err}")
}

fn main() {
    let args = parse_args("lapin", &["await", "inflight"]);
    let client = if args.mode == "inflight" {
        "lapin-inflight"
    } else {
        "lapin"
    };
    main_for(client, args.clone(), |args, queue| {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        rt.block_on(run(client, args, queue))
    });
}

async fn passive(ch: &Channel, queue: &str) -> Res<u32> {
    Ok(ch
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .map_err(e)?
        .message_count())
}

async fn confirmed(c: PublisherConfirm) -> Res<()> {
    match tokio::time::timeout(STALL_TIMEOUT, c).await {
        Err(_) => Err("confirm timed out".into()),
        Ok(Err(err)) => Err(e(err)),
        Ok(Ok(Confirmation::Ack(_))) | Ok(Ok(Confirmation::NotRequested)) => Ok(()),
        Ok(Ok(Confirmation::Nack(_))) => Err("nacked".into()),
    }
}

async fn run(client: &str, args: &Args, queue: &str) -> Res<Report> {
    let uri = if args.uri.contains('?') {
        args.uri.clone()
    } else {
        format!("{}?frame_max={FRAME_MAX}", args.uri)
    };
    let props = ConnectionProperties::default()
        .with_connection_name(format!("bench {client}").into())
        .with_executor(tokio_executor_trait::Tokio::current())
        .with_reactor(tokio_reactor_trait::Tokio::current());
    let conn = Connection::connect(&uri, props).await.map_err(e)?;
    let frame_max = conn.configuration().frame_max();
    let ch = conn.create_channel().await.map_err(e)?;
    ch.queue_declare(queue, QueueDeclareOptions::default(), FieldTable::default())
        .await
        .map_err(e)?;
    let body = payload(args.size);
    let n = args.count;
    let inflight = args.mode == "inflight";
    let mut latencies = None;
    let mut prefilled = None;
    let publish = || {
        ch.basic_publish(
            "",
            queue,
            BasicPublishOptions::default(),
            &body,
            BasicProperties::default(),
        )
    };

    let measured = match args.scenario {
        Scenario::Publish | Scenario::PublishConfirm => {
            let confirm = args.scenario == Scenario::PublishConfirm;
            if confirm {
                ch.confirm_select(ConfirmSelectOptions::default())
                    .await
                    .map_err(e)?;
            }
            let mut confirms: VecDeque<PublisherConfirm> = VecDeque::new();
            let m = Meter::start();
            if inflight {
                let mut sends: FuturesOrdered<_> = FuturesOrdered::new();
                for _ in 0..n {
                    while sends.len() + confirms.len() >= CONFIRM_WINDOW {
                        if let Some(r) = sends.next().await {
                            let r: lapin::Result<PublisherConfirm> = r;
                            let c = r.map_err(e)?;
                            if confirm {
                                confirms.push_back(c);
                            }
                        } else if let Some(c) = confirms.pop_front() {
                            confirmed(c).await?;
                        }
                    }
                    sends.push_back(publish());
                }
                while let Some(r) = sends.next().await {
                    let c = r.map_err(e)?;
                    if confirm {
                        confirms.push_back(c);
                    }
                }
            } else {
                for _ in 0..n {
                    if confirms.len() >= CONFIRM_WINDOW {
                        if let Some(c) = confirms.pop_front() {
                            confirmed(c).await?;
                        }
                    }
                    let c = publish().await.map_err(e)?;
                    if confirm {
                        confirms.push_back(c);
                    }
                }
            }
            for c in confirms {
                confirmed(c).await?;
            }
            if !confirm {
                let deadline = Instant::now() + STALL_TIMEOUT;
                while (passive(&ch, queue).await? as usize) < n {
                    if Instant::now() > deadline {
                        return Err("timed out waiting for the queue to fill".into());
                    }
                    tokio::time::sleep(POLL_INTERVAL).await;
                }
            }
            m.stop()
        }
        Scenario::ConsumeAck | Scenario::ConsumeNoack => {
            let uri = args.uri.clone();
            let (q, size) = (queue.to_owned(), args.size);
            tokio::task::spawn_blocking(move || prefill(&uri, &q, size, n))
                .await
                .map_err(|e| e.to_string())??;
            prefilled = Some("amqp-client");
            let no_ack = args.scenario == Scenario::ConsumeNoack;
            ch.basic_qos(PREFETCH, BasicQosOptions::default())
                .await
                .map_err(e)?;
            let m = Meter::start();
            let mut consumer = ch
                .basic_consume(
                    queue,
                    "",
                    BasicConsumeOptions {
                        no_ack,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(e)?;
            let tag = consumer.tag().to_string();
            let mut acks: FuturesUnordered<AckFuture> = FuturesUnordered::new();
            let mut got = 0;
            while got < n {
                tokio::select! {
                    biased;
                    Some(r) = acks.next(), if !acks.is_empty() => {
                        let _: bool = r.map_err(e)?;
                    }
                    d = tokio::time::timeout(STALL_TIMEOUT, consumer.next()) => {
                        let d = d
                            .map_err(|_| "timed out waiting for a delivery".to_string())?
                            .ok_or("the consumer ended")?
                            .map_err(e)?;
                        got += 1;
                        if !no_ack {
                            if inflight {
                                acks.push(Box::pin(async move {
                                    d.acker.ack(BasicAckOptions::default()).await
                                }));
                            } else {
                                d.acker.ack(BasicAckOptions::default()).await.map_err(e)?;
                            }
                        }
                    }
                }
            }
            while let Some(r) = acks.next().await {
                r.map_err(e)?;
            }
            let left = passive(&ch, queue).await?;
            let m = m.stop();
            ch.basic_cancel(&tag, BasicCancelOptions::default())
                .await
                .map_err(e)?;
            if left != 0 {
                return Err(format!("{left} messages left"));
            }
            m
        }
        Scenario::Latency => {
            let cch = conn
                .create_channel()
                .await
                .map_err(at("create consumer channel"))?;
            let mut consumer = cch
                .basic_consume(
                    queue,
                    "",
                    BasicConsumeOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                    FieldTable::default(),
                )
                .await
                .map_err(at("basic.consume"))?;
            let mut lat = Latencies(Vec::with_capacity(n));
            let warmup = latency_warmup(n);
            let mut m = None;
            for i in 0..warmup + n {
                if i == warmup {
                    m = Some(Meter::start());
                }
                let t0 = Instant::now();
                publish().await.map_err(at("publish"))?;
                tokio::time::timeout(Duration::from_secs(10), consumer.next())
                    .await
                    .map_err(|_| "timed out waiting for the message".to_string())?
                    .ok_or("the consumer ended")?
                    .map_err(at("delivery"))?;
                if i >= warmup {
                    lat.push(t0.elapsed());
                }
            }
            let m = m.ok_or("no round trip")?.stop();
            latencies = Some(lat);
            // Closed explicitly: a dropped lapin channel closes in the
            // background, and connection.close fails while it does.
            drop(consumer);
            cch.close(200, "OK").await.map_err(at("channel.close"))?;
            m
        }
    };
    ch.queue_delete(queue, QueueDeleteOptions::default())
        .await
        .map_err(at("queue.delete"))?;
    conn.close(200, "OK")
        .await
        .map_err(at("connection.close"))?;
    Ok(Report {
        client: client.to_owned(),
        args: args.clone(),
        measured,
        latencies,
        frame_max: Some(frame_max),
        prefill: prefilled,
    })
}
