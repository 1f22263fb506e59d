//! The `amqp-conform client` driver for lapin 4 (on tokio: async-rs's tokio
//! runtime, bound to the driver's): the fixed workload against the broker
//! at `AMQP_URI`, with a 2 s heartbeat, no automatic recovery and a 10 s
//! handshake timeout. Exits 0 when the workload completed, 1 on any error
//! the client reported (printed with Display).
//!
//! ```text
//! amqp-conform client --driver 'target/release/conform-driver-lapin4'
//! ```
//!
//! The workload: connect, open a channel, declare the queue
//! `amqp-conform-client`, enable confirms, publish 20 messages
//! (`message 0` .. `message 19`) through the default exchange awaiting each
//! confirmation (`PublisherConfirm`; a nack is an error), consume 10 with
//! manual acks (at most 10 s for each delivery), cancel the consumer, close
//! the channel and the connection (200).
//!
//! On an error the driver prints it, lets the client's objects drop as a
//! program returning the error would, and keeps the runtime running 0.5 s
//! before it exits: the library reports some faults to the caller before
//! it has written its reply to them (a broker's channel.close is reported
//! to the awaited publish before the close-ok goes out), and an immediate
//! exit would race that reply. The grace only lets the library finish what
//! it does by itself (or on drop); the driver makes no further call.

use std::process::ExitCode;
use std::time::Duration;

use futures_util::StreamExt;
use lapin4::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicPublishOptions,
    ConfirmSelectOptions, QueueDeclareOptions,
};
use lapin4::types::FieldTable;
use lapin4::uri::AMQPUri;
use lapin4::{BasicProperties, Confirmation, Connection, ConnectionProperties};

const NAME: &str = "conform-driver-lapin4";
const QUEUE: &str = "amqp-conform-client";
const PUBLISHES: usize = 20;
const CONSUMES: usize = 10;
const HEARTBEAT: u16 = 2;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the runtime keeps running after the workload failed (its client
/// objects dropped), before the exit: see the module doc.
const EXIT_GRACE: Duration = Duration::from_millis(500);

type Res<T> = Result<T, Box<dyn std::error::Error>>;

async fn workload(uri: &str) -> Res<()> {
    let mut uri: AMQPUri = uri.parse()?;
    uri.query.heartbeat = Some(HEARTBEAT);
    // No automatic recovery: lapin 4 recovers only after
    // `enable_auto_recover` (not called here), and its default backoff makes
    // no connection retry.
    let props = ConnectionProperties::default().with_connection_name(NAME.into());
    // lapin 4 takes its executor and reactor as one `async_rs::Runtime`: the
    // tokio one, on the runtime this driver runs in. lapin 4 has no handshake
    // timeout (its async connect does not apply the `connection_timeout` URI
    // parameter): the whole connect, through connection.open-ok, is wrapped
    // in a tokio timeout.
    let conn = tokio::time::timeout(
        HANDSHAKE_TIMEOUT,
        Connection::connect_uri_with_runtime(uri, props, async_rs::Runtime::tokio_current()),
    )
    .await
    .map_err(|_| "the opening handshake timed out (10 s)")??;
    let ch = conn.create_channel().await?;
    ch.queue_declare(
        QUEUE.into(),
        QueueDeclareOptions::default(),
        FieldTable::default(),
    )
    .await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    for i in 0..PUBLISHES {
        let body = format!("message {i}");
        let confirm = ch
            .basic_publish(
                "".into(),
                QUEUE.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await?;
        match confirm.await? {
            Confirmation::Ack(_) => {}
            Confirmation::Nack(_) => return Err(format!("publish {i} was nacked").into()),
            Confirmation::NotRequested => {
                return Err(format!("publish {i}: no confirmation requested").into())
            }
        }
    }
    let options = BasicConsumeOptions {
        no_ack: false,
        ..Default::default()
    };
    let mut consumer = ch
        .basic_consume(QUEUE.into(), "".into(), options, FieldTable::default())
        .await?;
    for _ in 0..CONSUMES {
        match tokio::time::timeout(DELIVERY_TIMEOUT, consumer.next()).await {
            Ok(Some(Ok(delivery))) => {
                ch.basic_ack(delivery.delivery_tag, BasicAckOptions::default())
                    .await?
            }
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => return Err("the consumer ended".into()),
            Err(_) => return Err("no delivery within 10 s".into()),
        }
    }
    ch.basic_cancel(consumer.tag(), BasicCancelOptions::default())
        .await?;
    ch.close(200, "OK".into()).await?;
    conn.close(200, "OK".into()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    let Ok(uri) = std::env::var("AMQP_URI") else {
        eprintln!("{NAME}: AMQP_URI is not set");
        return ExitCode::from(1);
    };
    match workload(&uri).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{NAME}: {e}");
            tokio::time::sleep(EXIT_GRACE).await;
            ExitCode::from(1)
        }
    }
}
