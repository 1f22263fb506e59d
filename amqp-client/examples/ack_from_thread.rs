//! Long work on worker threads, acked from there (Pika's README example).
//! Pika must hop back to the connection's thread with
//! `add_callback_threadsafe`; here a `Channel` is `Send + Sync`, so the worker
//! acks directly. The thread-safe callback is shown too.
//!
//! ```text
//! cargo run -p amqp-client --example ack_from_thread
//! ```

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amqp_client::blocking::{Connection, ConsumeOptions, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::BasicProperties;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ack_from_thread failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let connection = Connection::open(ConnectionParameters::new().with_host("127.0.0.1"))?;
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
    channel.basic_qos(0, 1, false)?;
    for i in 0..4 {
        channel.basic_publish(
            "",
            &queue,
            format!("job {i}").as_bytes(),
            &BasicProperties::default(),
            false,
        )?;
    }

    let done = Arc::new(AtomicUsize::new(0));
    let handle = connection.threadsafe_handle();
    let workers_done = done.clone();
    channel.basic_consume(
        &queue,
        ConsumeOptions::default(),
        move |channel, delivery| {
            let channel = channel.clone();
            let handle = handle.clone();
            let done = workers_done.clone();
            std::thread::spawn(move || {
                // The work: heartbeats keep flowing meanwhile.
                std::thread::sleep(Duration::from_millis(300));
                println!(
                    "worker done with {:?}",
                    String::from_utf8_lossy(&delivery.body)
                );
                if let Err(e) = channel.basic_ack(delivery.delivery_tag, false) {
                    eprintln!("ack failed: {e}");
                }
                if done.fetch_add(1, Ordering::SeqCst) + 1 == 4 {
                    // Back on the consuming thread: stop consuming there.
                    let _ = handle.add_callback(move || {
                        let _ = channel.stop_consuming();
                    });
                }
            });
        },
    )?;
    channel.start_consuming()?;
    println!("{} jobs done", done.load(Ordering::SeqCst));
    connection.close()
}
