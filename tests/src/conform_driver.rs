//! What the `amqp-conform client` drivers of `amqp-client`'s adapters
//! share (`examples/conform_driver_*.rs`): the connection parameters, the
//! workload on the async adapters, and the exit code.
//!
//! The workload: connect with a 10 s handshake (stack) timeout, a 2 s
//! heartbeat and recovery off; open a channel, declare the queue
//! [`QUEUE`], enable confirms; publish [`PUBLISHES`] messages awaiting
//! each confirmation; consume [`CONSUMES`] with manual acks, waiting at
//! most [`DELIVERY_WAIT`] for each; cancel the consumer, close the channel
//! and the connection. Exit 0 when it completed, 1 on any error (printed
//! with Display).

use std::future::Future;
use std::process::ExitCode;
use std::time::Duration;

use amqp_client::futures_io::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, ConnectionParameters, Heartbeat};
use futures_util::future::{select, Either};
use futures_util::StreamExt;

/// The queue the workload declares.
pub const QUEUE: &str = "amqp-conform-client";
/// Messages published, each confirmation awaited.
pub const PUBLISHES: usize = 20;
/// Messages consumed and acked.
pub const CONSUMES: usize = 10;
/// How long the workload waits for each delivery.
pub const DELIVERY_WAIT: Duration = Duration::from_secs(10);

/// An error of the workload, printed with Display.
pub type DriverError = Box<dyn std::error::Error + Send + Sync>;

/// The connection parameters of the workload: `uri` with recovery off, a
/// 2 s heartbeat and a 10 s handshake timeout.
pub fn params(uri: &str) -> Result<ConnectionParameters, DriverError> {
    Ok(ConnectionParameters::from_uri(uri)?
        .without_recovery()
        .with_heartbeat(Heartbeat::Seconds(2))
        .with_stack_timeout(Duration::from_secs(10)))
}

/// The body of message `i`.
pub fn body(i: usize) -> String {
    format!("message {i}")
}

/// Runs `workload` with `AMQP_URI`: exit 0 when it completed, 1 when it
/// failed (the error printed after `name`) or `AMQP_URI` is not set.
pub fn main_with(name: &str, workload: impl FnOnce(&str) -> Result<(), DriverError>) -> ExitCode {
    let Ok(uri) = std::env::var("AMQP_URI") else {
        eprintln!("{name}: AMQP_URI is not set");
        return ExitCode::from(1);
    };
    match workload(&uri) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(1)
        }
    }
}

/// The workload after the connection opened, on the async adapters
/// (tokio and futures-io share their connection type); `sleep` is the
/// runtime's timer.
pub async fn async_workload<S, F>(conn: Connection, sleep: S) -> Result<(), DriverError>
where
    S: Fn(Duration) -> F,
    F: Future<Output = ()>,
{
    let ch = conn.channel().await?;
    let queue = ch
        .queue_declare(QUEUE, QueueDeclareOptions::default())
        .await?
        .queue;
    ch.confirm_delivery().await?;
    for i in 0..PUBLISHES {
        ch.basic_publish(
            "",
            &queue,
            body(i).as_bytes(),
            &BasicProperties::default(),
            false,
        )
        .await?;
    }
    let options = ConsumeOptions {
        no_ack: false,
        ..Default::default()
    };
    let mut consumer = ch.basic_consume(&queue, options).await?;
    for _ in 0..CONSUMES {
        let next = consumer.next();
        let timer = sleep(DELIVERY_WAIT);
        futures_util::pin_mut!(timer);
        match select(next, timer).await {
            Either::Left((Some(Ok(delivery)), _)) => ch.basic_ack(delivery.delivery_tag, false)?,
            Either::Left((Some(Err(e)), _)) => return Err(e.into()),
            Either::Left((None, _)) => return Err("the consumer ended".into()),
            Either::Right(_) => return Err("no delivery within 10 s".into()),
        }
    }
    consumer.cancel().await?;
    ch.close().await?;
    conn.close().await?;
    Ok(())
}
