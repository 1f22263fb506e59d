//! Publishes one message, as the first example of Pika's README.
//!
//! ```text
//! cargo run -p amqp-client --example publish
//! ```

use std::process::ExitCode;

use amqp_client::blocking::{Connection, ExchangeDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::BasicProperties;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("publish failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let connection = Connection::open(ConnectionParameters::new().with_host("127.0.0.1"))?;
    let channel = connection.channel()?;
    channel.exchange_declare("test", "direct", ExchangeDeclareOptions::default())?;
    channel.basic_publish(
        "test",
        "test",
        b"Test message.",
        &BasicProperties::default(),
        false,
    )?;
    println!("published \"Test message.\" to exchange \"test\" with routing key \"test\"");
    channel.exchange_delete("test", Default::default())?;
    connection.close()
}
