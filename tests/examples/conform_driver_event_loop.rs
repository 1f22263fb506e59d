//! The `amqp-conform client` driver for the event-loop adapter: the fixed
//! workload (see `amqp_tests::conform_driver`) against the broker at
//! `AMQP_URI`, every step a callback on one thread. Exits 0 when the
//! workload completed, 1 on any error (printed with Display).
//!
//! ```text
//! cargo build -p amqp-tests --example conform_driver_event_loop
//! amqp-conform client --driver target/debug/examples/conform_driver_event_loop
//! ```

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;

use amqp_client::event_loop::{Channel, Connection, EventLoop, TimerId};
use amqp_client::types::{ConsumeOptions, QueueDeclareOk, QueueDeclareOptions};
use amqp_client::{BasicProperties, Error};
use amqp_tests::conform_driver::{
    body, main_with, params, DriverError, CONSUMES, DELIVERY_WAIT, PUBLISHES, QUEUE,
};

/// The workload's progress, shared by the callbacks.
#[derive(Default)]
struct Progress {
    /// The first error, which ends the workload.
    error: Option<String>,
    /// Every step before the close done: the channel and the connection
    /// are being closed.
    closing: bool,
    /// ... and the connection closed at our request.
    completed: bool,
    confirmed: usize,
    received: usize,
    /// The timer of the delivery awaited.
    timer: Option<TimerId>,
}

type Shared = Rc<RefCell<Progress>>;

/// Records the workload's first error and closes the connection.
fn fail(progress: &Shared, conn: &Connection, error: impl std::fmt::Display) {
    let mut p = progress.borrow_mut();
    if p.error.is_none() && !p.closing {
        p.error = Some(error.to_string());
    }
    drop(p);
    conn.close();
}

fn workload(uri: &str) -> Result<(), DriverError> {
    let event_loop = EventLoop::new()?;
    let conn = Connection::open(&event_loop, params(uri)?);
    let progress: Shared = Rc::default();
    let (lp, p) = (event_loop.clone(), progress.clone());
    conn.on_open(move |conn| {
        let (lp, p2) = (lp.clone(), p.clone());
        let opened = conn.channel(move |r: Result<Channel, Error>| match r {
            Ok(ch) => declare(lp, p2, ch),
            Err(e) => p2.borrow_mut().error = Some(e.to_string()),
        });
        if let Err(e) = opened {
            fail(&p, conn, e);
        }
    });
    let (stopper, p) = (event_loop.handle(), progress.clone());
    conn.on_open_error(move |e| {
        p.borrow_mut().error = Some(e.to_string());
        stopper.stop();
    });
    let (stopper, p) = (event_loop.handle(), progress.clone());
    conn.on_close(move |_, reason| {
        let mut p = p.borrow_mut();
        if p.closing && matches!(reason, Error::ConnectionClosedByClient) {
            p.completed = true;
        } else if p.error.is_none() {
            p.error = Some(reason.to_string());
        }
        stopper.stop();
    });
    event_loop.run()?;
    let p = progress.borrow();
    match (&p.error, p.completed) {
        (Some(e), _) => Err(e.clone().into()),
        (None, true) => Ok(()),
        (None, false) => Err("the event loop stopped before the workload completed".into()),
    }
}

/// Declares the queue, then enables confirms.
fn declare(lp: EventLoop, progress: Shared, ch: Channel) {
    let p = progress.clone();
    ch.on_close(move |ch, reason| {
        if !p.borrow().closing {
            fail(&p, &ch.connection(), reason);
        }
    });
    let (p, c) = (progress.clone(), ch.clone());
    let declared = ch.queue_declare(
        QUEUE,
        QueueDeclareOptions::default(),
        Some(move |r: Result<QueueDeclareOk, Error>| match r {
            Ok(ok) => select(lp, p, c, ok.queue),
            Err(e) => fail(&p, &c.connection(), e),
        }),
    );
    if let Err(e) = declared {
        fail(&progress, &ch.connection(), e);
    }
}

/// Enables confirms; each confirm publishes the next message, the last
/// starts the consumer.
fn select(lp: EventLoop, progress: Shared, ch: Channel, queue: String) {
    let (p, q) = (progress.clone(), queue.clone());
    ch.on_confirm(move |ch, _, outcome| {
        if let Err(e) = outcome {
            return fail(&p, &ch.connection(), e);
        }
        let confirmed = {
            let mut p = p.borrow_mut();
            p.confirmed += 1;
            p.confirmed
        };
        if confirmed < PUBLISHES {
            publish(&p, ch, &q, confirmed);
        } else {
            consume(lp.clone(), p.clone(), ch.clone(), &q);
        }
    });
    let (p, c) = (progress.clone(), ch.clone());
    let selected = ch.confirm_delivery(Some(move |r: Result<(), Error>| match r {
        Ok(()) => publish(&p, &c, &queue, 0),
        Err(e) => fail(&p, &c.connection(), e),
    }));
    if let Err(e) = selected {
        fail(&progress, &ch.connection(), e);
    }
}

fn publish(progress: &Shared, ch: &Channel, queue: &str, i: usize) {
    let body = body(i);
    if let Err(e) = ch.basic_publish(
        "",
        queue,
        body.as_bytes(),
        &BasicProperties::default(),
        false,
    ) {
        fail(progress, &ch.connection(), e);
    }
}

/// Consumes with manual acks; each delivery restarts the 10 s timer.
fn consume(lp: EventLoop, progress: Shared, ch: Channel, queue: &str) {
    let options = ConsumeOptions {
        no_ack: false,
        ..Default::default()
    };
    let (lp2, p, tag) = (lp.clone(), progress.clone(), Rc::new(RefCell::new(None)));
    let tag2 = tag.clone();
    let consumed = ch.basic_consume(
        queue,
        options,
        move |ch, delivery| {
            if let Err(e) = ch.basic_ack(delivery.delivery_tag, false) {
                return fail(&p, &ch.connection(), e);
            }
            let received = {
                let mut p = p.borrow_mut();
                p.received += 1;
                if let Some(t) = p.timer.take() {
                    lp2.remove_timeout(t);
                }
                p.received
            };
            if received == CONSUMES {
                finish(&p, ch, tag2.borrow().clone());
            } else if received < CONSUMES {
                wait(&lp2, &p, ch);
            }
        },
        Some(move |r: Result<String, Error>| {
            if let Ok(t) = r {
                *tag.borrow_mut() = Some(t);
            }
        }),
    );
    match consumed {
        Ok(()) => wait(&lp, &progress, &ch),
        Err(e) => fail(&progress, &ch.connection(), e),
    }
}

/// Fails the workload when no delivery comes within 10 s.
fn wait(lp: &EventLoop, progress: &Shared, ch: &Channel) {
    let (p, conn) = (progress.clone(), ch.connection());
    let before = progress.borrow().received;
    let timer = lp.call_later(DELIVERY_WAIT, move || {
        if p.borrow().received == before {
            fail(&p, &conn, "no delivery within 10 s");
        }
    });
    progress.borrow_mut().timer = Some(timer);
}

/// Cancels the consumer, closes the channel and the connection.
fn finish(progress: &Shared, ch: &Channel, tag: Option<String>) {
    let Some(tag) = tag else {
        return fail(progress, &ch.connection(), "a delivery before consume-ok");
    };
    let (p, c) = (progress.clone(), ch.clone());
    let cancelled = ch.basic_cancel(
        &tag,
        Some(move |r: Result<(), Error>| {
            if let Err(e) = r {
                return fail(&p, &c.connection(), e);
            }
            p.borrow_mut().closing = true;
            if let Err(e) = c.close() {
                p.borrow_mut().error = Some(e.to_string());
            }
            c.connection().close();
        }),
    );
    if let Err(e) = cancelled {
        fail(progress, &ch.connection(), e);
    }
}

fn main() -> ExitCode {
    main_with("conform_driver_event_loop", workload)
}
