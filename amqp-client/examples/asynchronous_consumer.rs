//! An asynchronous consumer on tokio, the counterpart of Pika's
//! `asynchronous_consumer_example.py`: declares a topic exchange, a queue
//! and the binding between them, sets a prefetch count, consumes and acks.
//! When the broker closes the channel or connection, or cancels the
//! consumer, it reconnects after a delay. It stops cleanly after a number
//! of messages, after a time limit, or on Ctrl-C, then deletes
//! what it declared.
//!
//! ```text
//! cargo run -p amqp-client --features tokio --example asynchronous_consumer -- [MESSAGES] [SECONDS]
//! ```
//!
//! `AMQP_URL` overrides the broker (`amqp://guest:guest@127.0.0.1:5672/%2F`).
//! Run `asynchronous_publisher` meanwhile to give it messages.

use std::time::{Duration, Instant};

use amqp_client::tokio::{
    Channel, Connection, ConsumeOptions, ExchangeDeclareOptions, ExchangeDeleteOptions,
    QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client::Error;
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
    url: &str,
    limits: &Limits,
    received: &mut u64,
    stop: &mut watch::Receiver<bool>,
) -> Result<End, Error> {
    let conn = Connection::open_uri(url).await?;
    println!("connected to {url}");
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
                    ch.basic_ack(delivery.delivery_tag, false)?;
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
    println!("cancelled the consumer; {requeued} buffered messages requeued");
    ch.queue_delete(QUEUE, QueueDeleteOptions::default())
        .await?;
    ch.exchange_delete(EXCHANGE, ExchangeDeleteOptions::default())
        .await?;
    conn.close().await?;
    println!("closed");
    Ok(End::Stopped)
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let mut args = std::env::args().skip(1);
    let messages = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let seconds = args.next().and_then(|a| a.parse().ok()).unwrap_or(10);
    let url = std::env::var("AMQP_URL")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2F".to_owned());
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
        match consume(&url, &limits, &mut received, &mut stop).await {
            Ok(End::Stopped) => break,
            Ok(End::Lost(e)) | Err(e) => {
                if !e.reconnect_may_help() || Instant::now() >= limits.deadline {
                    eprintln!("giving up: {e}");
                    return Err(e);
                }
                eprintln!("{e}; reconnecting in {RECONNECT_DELAY:?}");
                tokio::time::sleep(RECONNECT_DELAY).await;
            }
        }
    }
    println!("received {received} messages");
    Ok(())
}
