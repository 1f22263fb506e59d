//! Recovering from connection failures by catching errors (Pika's README
//! example): reconnect when the error says it may help, give up otherwise.
//! Stop it with Ctrl-C, or close its connection from the management UI or
//! `rabbitmqctl close_connection` to watch it reconnect... or not: a close by
//! the broker is final here, as in Pika's example.
//!
//! ```text
//! cargo run -p amqp-client --example recover_catch
//! ```

use std::time::Duration;

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};

fn consume_until_error(params: &ConnectionParameters) -> Result<(), Error> {
    let connection = Connection::open(params.clone())?;
    let channel = connection.channel()?;
    let queue = channel
        .queue_declare(
            "",
            QueueDeclareOptions {
                exclusive: true,
                ..Default::default()
            },
        )?
        .queue;
    channel.basic_consume(&queue, ConsumeOptions::default(), |channel, delivery| {
        println!("{:?}", delivery.body);
        let _ = channel.basic_ack(delivery.delivery_tag, false);
    })?;
    // For the example, stop after a few seconds instead of running forever.
    connection.process_data_events(Some(Duration::from_secs(3)))?;
    connection.close()
}

fn main() {
    let params = ConnectionParameters::new().with_host("127.0.0.1");
    for round in 1..=3 {
        match consume_until_error(&params) {
            Ok(()) => println!("round {round}: consumed for 3 s, closed cleanly"),
            // Closed by the broker, or a channel error: don't recover.
            Err(e @ (Error::ConnectionClosedByBroker(_) | Error::ChannelClosedByBroker { .. })) => {
                eprintln!("giving up: {e}");
                return;
            }
            // Lost connection, heartbeat timeout...: try again.
            Err(e) if e.reconnect_may_help() => {
                eprintln!("round {round}: {e}; reconnecting");
                std::thread::sleep(Duration::from_secs(1));
            }
            Err(e) => {
                eprintln!("giving up: {e}");
                return;
            }
        }
    }
}
