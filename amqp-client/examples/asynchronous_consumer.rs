//! An asynchronous consumer on tokio, the counterpart of Pika's
//! `asynchronous_consumer_example.py`: declares a topic exchange, a queue
//! and the binding between them, sets a prefetch count, consumes and acks.
//! A lost connection is recovered by the client itself (on by default):
//! the consumer stream goes on with deliveries from the new connection, and
//! `on_recovery` prints each step. When the broker closes the channel or
//! cancels the consumer, or a recovery gives up, it connects again after a
//! delay, as Pika's does. It stops cleanly after a number of messages,
//! after a time limit, or on Ctrl-C, then deletes what it declared.
//!
//! ```text
//! cargo run -p amqp-client --features tokio --example asynchronous_consumer -- [MESSAGES] [SECONDS]
//! ```
//!
//! `AMQP_URL` overrides the broker (`amqp://guest:guest@127.0.0.1:5672/%2F`).
//! Run `asynchronous_publisher` meanwhile to give it messages.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use amqp_client::core::client::RecoveryEvent;
use amqp_client::tokio::{
    Channel, Connection, ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::FieldTable;
use futures_util::StreamExt;
use tokio::sync::watch;

const EXCHANGE: &str = "message";
const EXCHANGE_TYPE: &str = "topic";
const QUEUE: &str = "text";
const ROUTING_KEY: &str = "example.text";
const RECONNECT_DELAY: Duration = Duration::from_secs(2);

/// Why a consuming session ended.
enum End {
    /// Stop asked for, or the limits reached.
    Stopped,
    /// The broker or the network ended it.
    Lost(Error),
}

struct Limits {
    messages: u64,
    deadline: Instant,
}

async fn setup(ch: &Channel) -> Result<(), Error> {
    ch.exchange_declare(EXCHANGE, EXCHANGE_TYPE, ExchangeDeclareOptions::default())
        .await?;
    ch.queue_declare(QUEUE, QueueDeclareOptions::default())
        .await?;
    ch.queue_bind(QUEUE, EXCHANGE, ROUTING_KEY, FieldTable::new())
        .await?;
    ch.basic_qos(0, 1, false).await
}

async fn consume(
    params: &ConnectionParameters,
    limits: &Limits,
    received: &mut u64,
    stop: &mut watch::Receiver<bool>,
) -> Result<End, Error> {
    let conn = Connection::open(params.clone()).await?;
    // The password stays out of the parameters' Display.
    println!("connected to {params}");
    conn.on_recovery(|event| match event {
        RecoveryEvent::Started { cause } => eprintln!("connection lost ({cause}): recovering"),
        RecoveryEvent::Recovered { endpoint, took } => {
            eprintln!("recovered: connected again to {endpoint} after {took:?}")
        }
        RecoveryEvent::GaveUp { error } => eprintln!("recovery gave up: {error}"),
        _ => {}
    });
    let ch = conn.channel().await?;
    setup(&ch).await?;
    let mut consumer = ch.basic_consume(QUEUE, ConsumeOptions::default()).await?;
    println!("consuming {QUEUE} as {}", consumer.consumer_tag());
    let end = loop {
        if *received >= limits.messages {
            break End::Stopped;
        }
        tokio::select! {
            Ok(()) = stop.changed() => break End::Stopped,
            _ = tokio::time::sleep_until(limits.deadline.into()) => break End::Stopped,
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    *received += 1;
                    println!(
                        "received #{} ({}): {}",
                        delivery.delivery_tag,
                        delivery.routing_key.to_string_lossy(),
                        String::from_utf8_lossy(&delivery.body)
                    );
                    match ch.basic_ack(delivery.delivery_tag, false) {
                        // Handed out before a recovery: not acknowledged;
                        // the message went back to its queue and comes again.
                        Ok(()) | Err(Error::StaleDeliveryTag { .. }) => {}
                        Err(e) => break End::Lost(e),
                    }
                }
                Some(Err(e)) => break End::Lost(e),
                None => break End::Lost(Error::Misuse("the consumer ended".into())),
            },
        }
    };
    if let End::Lost(e) = end {
        return Ok(End::Lost(e));
    }
    // Graceful stop: cancel (unacked messages go back), clean up, close.
    let requeued = consumer.cancel().await?;
    match requeued {
        1 => println!("cancelled the consumer; 1 buffered message requeued"),
        n => println!("cancelled the consumer; {n} buffered messages requeued"),
    }
    ch.queue_delete(QUEUE, QueueDeleteOptions::default())
        .await?;
    ch.exchange_delete(EXCHANGE, ExchangeDeleteOptions::default())
        .await?;
    conn.close().await?;
    println!("closed");
    Ok(End::Stopped)
}

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let messages = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let seconds = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2F".to_owned());
    let params = match ConnectionParameters::from_uri(&url) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("AMQP_URL: {e}");
            return ExitCode::FAILURE;
        }
    };
    let limits = Limits {
        messages,
        deadline: Instant::now() + Duration::from_secs(seconds),
    };
    println!("consuming up to {messages} messages for at most {seconds} s; Ctrl-C stops");

    // Ctrl-C stops the consumer cleanly.
    let (stop_tx, mut stop) = watch::channel(false);
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let _ = stop_tx.send(true);
        }
    });

    let mut received = 0;
    loop {
        match consume(&params, &limits, &mut received, &mut stop).await {
            Ok(End::Stopped) => break,
            Ok(End::Lost(e)) | Err(e) => {
                if !e.reconnect_may_help() || Instant::now() >= limits.deadline {
                    eprintln!("giving up: {e}");
                    return ExitCode::FAILURE;
                }
                eprintln!("{e}; reconnecting in {RECONNECT_DELAY:?}");
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    }
    match received {
        1 => println!("received 1 message"),
        n => println!("received {n} messages"),
    }
    ExitCode::SUCCESS
}
