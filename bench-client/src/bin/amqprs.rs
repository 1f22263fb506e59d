//! amqprs 2.x on tokio. Publishes take an owned `Vec<u8>` (one copy of the
//! body per publish, as the API requires). Confirms arrive in a
//! `ChannelCallback`; the publisher waits, through a `watch` channel, until
//! fewer than the window are unconfirmed. Deliveries come from
//! `basic_consume_rx` (an unbounded mpsc receiver).

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use amqp_client_bench::{
    latency_warmup, main_for, parse_args, payload, prefill, uri_parts, Args, Latencies, Meter,
    Report, Scenario, CONFIRM_WINDOW, POLL_INTERVAL, PREFETCH, STALL_TIMEOUT,
};
use amqprs::callbacks::ChannelCallback;
use amqprs::channel::{
    BasicAckArguments, BasicCancelArguments, BasicConsumeArguments, BasicPublishArguments,
    BasicQosArguments, Channel, ConfirmSelectArguments, QueueDeclareArguments,
    QueueDeleteArguments,
};
use amqprs::connection::{Connection, OpenConnectionArguments};
use amqprs::{Ack, BasicProperties, Cancel, CloseChannel, Nack, Return};
use async_trait::async_trait;
use tokio::sync::watch;

type Res<T> = Result<T, String>;

fn e(err: amqprs::error::Error) -> String {
    err.to_string()
}

fn main() {
    let args = parse_args("amqprs", amqp_client_bench::TOKIO_MODES);
    let client = amqp_client_bench::tokio_label("amqprs", &args);
    main_for(&client, args.clone(), |args, queue| {
        let rt = amqp_client_bench::tokio_runtime(args)?;
        let (owned, queue) = (args.clone(), queue.to_owned());
        amqp_client_bench::run_on(&rt, args, async move { run(&owned, &queue).await })
    });
}

/// Confirm bookkeeping: every tag up to `low` is confirmed; `above` holds
/// tags confirmed out of order.
struct Confirms {
    low: u64,
    above: BTreeSet<u64>,
    nacked: bool,
    tx: watch::Sender<(u64, bool)>,
}

impl Confirms {
    fn confirm(&mut self, tag: u64, multiple: bool, ack: bool) {
        if !ack {
            self.nacked = true;
        }
        if multiple {
            self.low = self.low.max(tag);
        } else {
            self.above.insert(tag);
        }
        while let Some(&t) = self.above.first() {
            if t <= self.low + 1 {
                self.above.pop_first();
                self.low = self.low.max(t);
            } else {
                break;
            }
        }
        let _ = self.tx.send((self.low, self.nacked));
    }
}

#[async_trait]
impl ChannelCallback for Confirms {
    async fn close(
        &mut self,
        _: &Channel,
        close: CloseChannel,
    ) -> Result<(), amqprs::error::Error> {
        eprintln!("amqprs: channel closed by the broker: {close}");
        Ok(())
    }
    async fn cancel(&mut self, _: &Channel, _: Cancel) -> Result<(), amqprs::error::Error> {
        Ok(())
    }
    async fn flow(&mut self, _: &Channel, _: bool) -> Result<bool, amqprs::error::Error> {
        Ok(true)
    }
    async fn publish_ack(&mut self, _: &Channel, ack: Ack) {
        self.confirm(ack.delivery_tag(), ack.mutiple(), true);
    }
    async fn publish_nack(&mut self, _: &Channel, nack: Nack) {
        self.confirm(nack.delivery_tag(), nack.multiple(), false);
    }
    async fn publish_return(&mut self, _: &Channel, _: Return, _: BasicProperties, _: Vec<u8>) {}
}

async fn passive(ch: &Channel, queue: &str) -> Res<u32> {
    let r = ch
        .queue_declare(QueueDeclareArguments::new(queue).passive(true).finish())
        .await
        .map_err(e)?;
    Ok(r.map(|(_, count, _)| count).unwrap_or(0))
}

async fn run(args: &Args, queue: &str) -> Res<Report> {
    let u = uri_parts(&args.uri)?;
    let conn = Connection::open(
        &OpenConnectionArguments::new(&u.host, u.port, &u.user, &u.password)
            .virtual_host(&u.vhost)
            .connection_name("bench amqprs")
            .finish(),
    )
    .await
    .map_err(e)?;
    let frame_max = conn.frame_max();
    let ch = conn.open_channel(None).await.map_err(e)?;
    ch.queue_declare(QueueDeclareArguments::new(queue))
        .await
        .map_err(e)?;
    let body = payload(args.size);
    let n = args.count;
    let mut latencies = None;
    let mut prefilled = None;
    let publish = |ch: &Channel| {
        let ch = ch.clone();
        let body = body.clone();
        async move {
            ch.basic_publish(
                BasicProperties::default(),
                body,
                BasicPublishArguments::new("", queue),
            )
            .await
        }
    };

    let measured = match args.scenario {
        Scenario::Publish => {
            let m = Meter::start();
            for _ in 0..n {
                publish(&ch).await.map_err(e)?;
            }
            let deadline = Instant::now() + STALL_TIMEOUT;
            while (passive(&ch, queue).await? as usize) < n {
                if Instant::now() > deadline {
                    return Err("timed out waiting for the queue to fill".into());
                }
                tokio::time::sleep(POLL_INTERVAL).await;
            }
            m.stop()
        }
        Scenario::PublishConfirm => {
            let (tx, mut rx) = watch::channel((0u64, false));
            ch.register_callback(Confirms {
                low: 0,
                above: BTreeSet::new(),
                nacked: false,
                tx,
            })
            .await
            .map_err(e)?;
            ch.confirm_select(ConfirmSelectArguments::default())
                .await
                .map_err(e)?;
            let window = CONFIRM_WINDOW as u64;
            let m = Meter::start();
            for published in 0..n as u64 {
                if published >= window {
                    let need = published - window + 1;
                    wait_low(&mut rx, need).await?;
                }
                publish(&ch).await.map_err(e)?;
            }
            wait_low(&mut rx, n as u64).await?;
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
            ch.basic_qos(BasicQosArguments::new(0, PREFETCH, false))
                .await
                .map_err(e)?;
            let m = Meter::start();
            let (tag, mut rx) = ch
                .basic_consume_rx(
                    BasicConsumeArguments::new(queue, "bench-amqprs")
                        .manual_ack(!no_ack)
                        .finish(),
                )
                .await
                .map_err(e)?;
            for _ in 0..n {
                let msg = tokio::time::timeout(STALL_TIMEOUT, rx.recv())
                    .await
                    .map_err(|_| "timed out waiting for a delivery".to_string())?
                    .ok_or("the consumer ended")?;
                if !no_ack {
                    let tag = msg
                        .deliver
                        .ok_or("a delivery without deliver")?
                        .delivery_tag();
                    ch.basic_ack(BasicAckArguments::new(tag, false))
                        .await
                        .map_err(e)?;
                }
            }
            let left = passive(&ch, queue).await?;
            let m = m.stop();
            ch.basic_cancel(BasicCancelArguments::new(&tag))
                .await
                .map_err(e)?;
            if left != 0 {
                return Err(format!("{left} messages left"));
            }
            m
        }
        Scenario::Latency => {
            let cch = conn.open_channel(None).await.map_err(e)?;
            let (_tag, mut rx) = cch
                .basic_consume_rx(
                    BasicConsumeArguments::new(queue, "bench-amqprs-latency")
                        .manual_ack(false)
                        .finish(),
                )
                .await
                .map_err(e)?;
            let mut lat = Latencies(Vec::with_capacity(n));
            let warmup = latency_warmup(n);
            let mut m = None;
            for i in 0..warmup + n {
                if i == warmup {
                    m = Some(Meter::start());
                }
                let t0 = Instant::now();
                publish(&ch).await.map_err(e)?;
                tokio::time::timeout(Duration::from_secs(10), rx.recv())
                    .await
                    .map_err(|_| "timed out waiting for the message".to_string())?
                    .ok_or("the consumer ended")?;
                if i >= warmup {
                    lat.push(t0.elapsed());
                }
            }
            let m = m.ok_or("no round trip")?.stop();
            latencies = Some(lat);
            m
        }
    };
    ch.queue_delete(QueueDeleteArguments::new(queue))
        .await
        .map_err(e)?;
    ch.close().await.map_err(e)?;
    conn.close().await.map_err(e)?;
    Ok(Report {
        client: amqp_client_bench::tokio_label("amqprs", args),
        args: args.clone(),
        measured,
        latencies,
        frame_max: Some(frame_max),
        prefill: prefilled,
    })
}

/// Waits until every publish up to `need` is confirmed.
async fn wait_low(rx: &mut watch::Receiver<(u64, bool)>, need: u64) -> Res<()> {
    let r = tokio::time::timeout(
        STALL_TIMEOUT,
        rx.wait_for(|(low, nacked)| *nacked || *low >= need),
    )
    .await
    .map_err(|_| "timed out waiting for confirms".to_string())?
    .map_err(|_| "the confirm callback is gone".to_string())?;
    if r.1 {
        return Err("nacked".into());
    }
    Ok(())
}
