//! The event-loop adapter in the style of Pika's `SelectConnection`
//! asynchronous consumer and publisher: one thread, every step a callback.
//! A publisher sends a message every 10 ms on a timer (`call_later`), in
//! confirm mode; a consumer on a second channel acks what it receives. After
//! `N` messages the connection is closed, and its `on_close` stops the loop.
//!
//! ```text
//! cargo run -p amqp-client --example event_loop
//! ```

use std::cell::Cell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use amqp_client::event_loop::{no_callback, Channel, Connection, EventLoop};
use amqp_client::types::{ConsumeOptions, QueueDeclareOk, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::BasicProperties;

/// Messages to send and receive.
const N: u64 = 20;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("event_loop failed: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run() -> Result<(), Error> {
    let event_loop = EventLoop::new()?;
    let params = ConnectionParameters::new().with_host("127.0.0.1");
    let conn = Connection::open(&event_loop, params);

    let lp = event_loop.clone();
    conn.on_open(move |conn| {
        println!("connection open");
        if let Err(e) = setup(&lp, conn) {
            eprintln!("setup failed: {e}");
            conn.close();
        }
    });
    let stopper = event_loop.handle();
    let open_error = Rc::new(Cell::new(None));
    let failed = open_error.clone();
    conn.on_open_error(move |e| {
        failed.set(Some(e));
        stopper.stop();
    });
    let stopper = event_loop.handle();
    conn.on_close(move |_, reason| {
        println!("connection closed: {reason}");
        stopper.stop();
    });

    event_loop.run()?;
    match open_error.take() {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Opens the consumer's channel; the rest follows from the replies.
fn setup(lp: &EventLoop, conn: &Connection) -> Result<(), Error> {
    let lp = lp.clone();
    conn.channel(move |r: Result<Channel, Error>| match r {
        Ok(ch) => {
            println!("consumer channel {} open", ch.id());
            if let Err(e) = declare(lp, ch.clone()) {
                eprintln!("{e}");
                ch.connection().close();
            }
        }
        Err(e) => eprintln!("consumer channel failed: {e}"),
    })
}

/// Declares the queue: the consumer and the publisher start from the reply.
fn declare(lp: EventLoop, consumer: Channel) -> Result<(), Error> {
    consumer.on_close(|ch, reason| println!("channel {} closed: {reason}", ch.id()));
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let ch = consumer.clone();
    consumer.queue_declare(
        "",
        options,
        Some(move |r: Result<QueueDeclareOk, Error>| match r {
            Ok(ok) => {
                if let Err(e) = start(&lp, &ch, &ok.queue) {
                    eprintln!("{e}");
                    ch.connection().close();
                }
            }
            Err(e) => eprintln!("queue.declare failed: {e}"),
        }),
    )
}

/// Starts the consumer, then the publisher on a channel of its own.
fn start(lp: &EventLoop, consumer: &Channel, queue: &str) -> Result<(), Error> {
    println!("queue {queue} declared");
    consumer.basic_qos(0, 10, false, no_callback())?;
    let received = Rc::new(Cell::new(0));
    consumer.basic_consume(
        queue,
        ConsumeOptions::default(),
        move |ch, delivery| {
            received.set(received.get() + 1);
            println!(
                "received #{} {:?}",
                delivery.delivery_tag,
                String::from_utf8_lossy(&delivery.body)
            );
            if let Err(e) = ch.basic_ack(delivery.delivery_tag, false) {
                eprintln!("ack failed: {e}");
            }
            if received.get() == N {
                ch.connection().close();
            }
        },
        Some(|r: Result<String, Error>| {
            if let Ok(tag) = r {
                println!("consuming as {tag}");
            }
        }),
    )?;

    let (lp, queue) = (lp.clone(), queue.to_owned());
    consumer
        .connection()
        .channel(move |r: Result<Channel, Error>| {
            let publisher = match r {
                Ok(ch) => ch,
                Err(e) => return eprintln!("publisher channel failed: {e}"),
            };
            let confirmed = Rc::new(Cell::new(0));
            publisher.on_confirm(move |_, sequence_number, outcome| {
                confirmed.set(confirmed.get() + 1);
                match outcome {
                    Ok(()) => println!("#{sequence_number} confirmed; {} so far", confirmed.get()),
                    Err(e) => println!("#{sequence_number} not confirmed: {e}"),
                }
            });
            if let Err(e) = publisher.confirm_delivery(no_callback()) {
                return eprintln!("confirm.select failed: {e}");
            }
            schedule_publish(lp, publisher, queue, 1);
        })
}

/// Publishes message `i`, then schedules the next one.
fn schedule_publish(lp: EventLoop, ch: Channel, queue: String, i: u64) {
    if i > N || !ch.connection().is_open() {
        return;
    }
    let body = format!("message {i}");
    match ch.basic_publish(
        "",
        &queue,
        body.as_bytes(),
        &BasicProperties::default(),
        false,
    ) {
        Ok(Some(seq)) => println!("published {body:?} as #{seq}"),
        Ok(None) => println!("published {body:?}"),
        Err(e) => return eprintln!("publish failed: {e}"),
    }
    let next = lp.clone();
    lp.call_later(Duration::from_millis(10), move || {
        schedule_publish(next, ch, queue, i + 1)
    });
}
