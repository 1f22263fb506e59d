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
use std::rc::Rc;
use std::time::Duration;

use amqp_client::event_loop::{no_callback, Channel, Connection, EventLoop};
use amqp_client::types::{ConsumeOptions, QueueDeclareOk, QueueDeclareOptions};
use amqp_client::{ConnectionParameters, Error};
use amqp_protocol::BasicProperties;

/// Messages to send and receive.
const N: u64 = 20;

fn main() -> Result<(), Error> {
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
    conn.on_open_error(move |e| {
        eprintln!("cannot connect: {e}");
        stopper.stop();
    });
    let stopper = event_loop.handle();
    conn.on_close(move |_, reason| {
        println!("connection closed: {reason}");
        stopper.stop();
    });

    event_loop.run()
}

/// Opens the consumer's channel and declares the queue: the rest follows
/// from the reply.
fn setup(lp: &EventLoop, conn: &Connection) -> Result<(), Error> {
    let consumer = conn.open_channel(Some(|r: Result<Channel, Error>| match r {
        Ok(ch) => println!("consumer channel {} open", ch.id()),
        Err(e) => eprintln!("consumer channel failed: {e}"),
    }))?;
    consumer.on_close(|ch, reason| println!("channel {} closed: {reason}", ch.id()));
    let options = QueueDeclareOptions {
        exclusive: true,
        ..Default::default()
    };
    let (lp, ch) = (lp.clone(), consumer.clone());
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
    )?;
    Ok(())
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

    let publisher = consumer.connection().open_channel(no_callback())?;
    let confirmed = Rc::new(Cell::new(0));
    publisher.confirm_select(
        move |_, confirm| {
            confirmed.set(confirmed.get() + 1);
            let kind = if confirm.ack { "ack" } else { "nack" };
            println!(
                "{kind} for #{} (multiple: {}); {} confirms so far",
                confirm.delivery_tag,
                confirm.multiple,
                confirmed.get()
            );
        },
        no_callback(),
    )?;
    schedule_publish(lp.clone(), publisher, queue.to_owned(), 1);
    Ok(())
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
        Ok(seq) => println!("published {body:?} (sequence number {seq:?})"),
        Err(e) => return eprintln!("publish failed: {e}"),
    }
    let next = lp.clone();
    lp.call_later(Duration::from_millis(10), move || {
        schedule_publish(next, ch, queue, i + 1)
    });
}
