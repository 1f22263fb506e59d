//! The `amqp-conform client` driver for the blocking adapter: the fixed
//! workload against the broker at `AMQP_URI`, with recovery off, a 2 s
//! heartbeat and a 10 s handshake (stack) timeout. Exits 0 when the
//! workload completed, 1 on any error (printed with Display).
//!
//! ```text
//! amqp-conform client --driver 'cargo run -q -p amqp-tests --example conform_driver_blocking'
//! ```
//!
//! The workload: connect, open a channel, declare a queue, enable
//! confirms, publish 20 messages awaiting each confirmation, consume 10
//! with manual acks, close.

use std::process::ExitCode;
use std::time::Duration;

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{BasicProperties, ConnectionParameters, Heartbeat};

const PUBLISHES: usize = 20;
const CONSUMES: usize = 10;

fn workload(uri: &str) -> Result<(), Box<dyn std::error::Error>> {
    let params = ConnectionParameters::from_uri(uri)?
        .without_recovery()
        .with_heartbeat(Heartbeat::Seconds(2))
        .with_stack_timeout(Duration::from_secs(10));
    let conn = Connection::open(params)?;
    let ch = conn.channel()?;
    let queue = ch
        .queue_declare("amqp-conform-client", QueueDeclareOptions::default())?
        .queue;
    ch.confirm_delivery()?;
    for i in 0..PUBLISHES {
        let body = format!("message {i}");
        ch.basic_publish(
            "",
            &queue,
            body.as_bytes(),
            &BasicProperties::default(),
            false,
        )?;
    }
    let options = ConsumeOptions {
        no_ack: false,
        ..Default::default()
    };
    let mut consumer = ch.consume(&queue, options, Some(Duration::from_secs(10)))?;
    for _ in 0..CONSUMES {
        match consumer.next() {
            Some(Ok(Some(delivery))) => ch.basic_ack(delivery.delivery_tag, false)?,
            Some(Ok(None)) => return Err("no delivery within 10 s".into()),
            Some(Err(e)) => return Err(e.into()),
            None => return Err("the consumer ended".into()),
        }
    }
    consumer.cancel()?;
    ch.close()?;
    conn.close()?;
    Ok(())
}

fn main() -> ExitCode {
    let Ok(uri) = std::env::var("AMQP_URI") else {
        eprintln!("conform_driver_blocking: AMQP_URI is not set");
        return ExitCode::from(1);
    };
    match workload(&uri) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("conform_driver_blocking: {e}");
            ExitCode::from(1)
        }
    }
}
