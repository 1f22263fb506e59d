//! Consumes with an iterator, stops after 10 messages and cancels, printing
//! how many buffered messages went back to the queue (Pika's README example).
//!
//! ```text
//! cargo run -p amqp-client --example consume
//! ```

use std::process::ExitCode;
use std::time::Duration;

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::BasicProperties;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("consume failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let connection = Connection::open(ConnectionParameters::new().with_host("127.0.0.1"))?;
    let channel = connection.channel()?;
    let queue = "amqp-client.example.consume";
    channel.queue_declare(queue, QueueDeclareOptions::default())?;
    for i in 1..=15 {
        channel.basic_publish(
            "",
            queue,
            format!("message {i}").as_bytes(),
            &BasicProperties::default(),
            false,
        )?;
    }

    let mut messages = channel.consume(
        queue,
        ConsumeOptions::default(),
        Some(Duration::from_secs(5)),
    )?;
    for message in messages.by_ref() {
        let Some(delivery) = message? else {
            println!("no message for 5 seconds");
            break;
        };
        println!(
            "{}: {:?}",
            delivery.delivery_tag,
            String::from_utf8_lossy(&delivery.body)
        );
        channel.basic_ack(delivery.delivery_tag, false)?;
        if delivery.delivery_tag == 10 {
            break;
        }
    }
    let requeued = messages.cancel()?;
    match requeued {
        1 => println!("Requeued 1 message"),
        n => println!("Requeued {n} messages"),
    }

    channel.queue_delete(queue, Default::default())?;
    connection.close()
}
