//! amqp-client's event-loop adapter (`amqp_client::event_loop`), in the
//! style of Pika's `SelectConnection`: one thread, no runtime, every step a
//! callback run by `EventLoop::run`. Each scenario is a chain of completion
//! callbacks; the connection's `on_close` stops the loop, and the outcome
//! is read back after `run` returns.
//!
//! Without confirms the publisher keeps at most [`OUTPUT_HIGH`] bytes
//! queued in front of the socket (`Connection::buffered_output`), resuming
//! from a timer; with confirms, each confirm's callback publishes the next
//! messages while fewer than `CONFIRM_WINDOW` are unconfirmed. Consumers ack
//! from their `on_message` callback; a latency round trip publishes the
//! next message from the consumer's callback.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use amqp_client::event_loop::{
    Channel, Connection, ConsumeOptions, EventLoop, QueueDeclareOk, QueueDeclareOptions,
};
use amqp_client::{ConnectionParameters, Error};
use amqp_client_bench::{
    label, latency_warmup, main_for, parse_args, payload, prefill, Args, Latencies, Measured,
    Meter, Report, Scenario, CONFIRM_WINDOW, FRAME_MAX, POLL_INTERVAL, PREFETCH, STALL_TIMEOUT,
};
use amqp_protocol::BasicProperties;

/// The `publish` scenario publishes while less than this many bytes wait
/// in front of the socket ...
const OUTPUT_HIGH: usize = 256 * 1024;
/// ... and, once the socket holds back, resumes below this many (checked
/// every `POLL_INTERVAL`).
const OUTPUT_LOW: usize = 64 * 1024;

/// The consumer tag of the consume and latency scenarios.
const TAG: &str = "bench-el";

/// What differs between `amqp-client` now and as of the `before` build.
mod api {
    use super::{Channel, Connection, Error};

    /// Opens a channel; `on_open` gets it once the broker opened it.
    #[cfg(not(feature = "old-api"))]
    pub fn channel(
        conn: &Connection,
        on_open: impl FnOnce(Result<Channel, Error>) + 'static,
    ) -> Result<(), Error> {
        conn.channel(on_open)
    }

    /// Confirm mode: `on_confirmed` gets how many more publishes the broker
    /// confirmed (or why one was not), `on_done` the reply to confirm.select.
    #[cfg(not(feature = "old-api"))]
    pub fn confirm_delivery(
        ch: &Channel,
        mut on_confirmed: impl FnMut(&Channel, Result<usize, Error>) + 'static,
        on_done: impl FnOnce(Result<(), Error>) + 'static,
    ) -> Result<(), Error> {
        ch.on_confirm(move |ch, _, outcome| on_confirmed(ch, outcome.map(|()| 1)));
        ch.confirm_delivery(Some(on_done))
    }

    #[cfg(not(feature = "old-api"))]
    pub fn queue_delete(
        ch: &Channel,
        queue: &str,
        on_done: impl FnOnce(Result<u32, Error>) + 'static,
    ) -> Result<(), Error> {
        ch.queue_delete(queue, Default::default(), Some(on_done))
    }

    #[cfg(feature = "old-api")]
    pub fn channel(
        conn: &Connection,
        on_open: impl FnOnce(Result<Channel, Error>) + 'static,
    ) -> Result<(), Error> {
        conn.open_channel(Some(on_open)).map(drop)
    }

    /// One basic.ack or basic.nack may cover several publishes (`multiple`):
    /// the newly confirmed are counted with a watermark, as `amqprs` does.
    #[cfg(feature = "old-api")]
    pub fn confirm_delivery(
        ch: &Channel,
        mut on_confirmed: impl FnMut(&Channel, Result<usize, Error>) + 'static,
        on_done: impl FnOnce(Result<(), Error>) + 'static,
    ) -> Result<(), Error> {
        let (mut low, mut above) = (0u64, std::collections::BTreeSet::new());
        let on_confirm = move |ch: &Channel, c: amqp_client::event_loop::Confirm| {
            if !c.ack {
                return on_confirmed(ch, Err(Error::Nacked));
            }
            let was = low;
            if c.multiple {
                low = low.max(c.delivery_tag);
            } else {
                above.insert(c.delivery_tag);
            }
            while let Some(&t) = above.first() {
                if t > low + 1 {
                    break;
                }
                above.pop_first();
                low = low.max(t);
            }
            on_confirmed(ch, Ok((low - was) as usize));
        };
        ch.confirm_select(on_confirm, Some(on_done))
    }

    #[cfg(feature = "old-api")]
    pub fn queue_delete(
        ch: &Channel,
        queue: &str,
        on_done: impl FnOnce(Result<u32, Error>) + 'static,
    ) -> Result<(), Error> {
        ch.queue_delete(queue, false, false, Some(on_done))
    }
}

fn main() {
    let args = parse_args("ours-el", &["callbacks"]);
    let client = label("ours-el");
    main_for(&client, args.clone(), |args, queue| {
        run(args, queue).map_err(|e| e.to_string())
    });
}

/// What the callbacks of one run share.
struct Run {
    args: Args,
    queue: String,
    body: Vec<u8>,
    props: BasicProperties,
    frame_max: Option<u32>,
    meter: Option<Meter>,
    measured: Option<Measured>,
    latencies: Option<Latencies>,
    prefilled: Option<&'static str>,
    /// The first error; it closes the connection.
    error: Option<Error>,
    /// The queue is deleted: the connection's close ends the run.
    done: bool,
    /// Moves on with every burst, confirm, delivery and poll; the watchdog
    /// ends a run that stalls for `STALL_TIMEOUT`.
    progress: u64,
    published: usize,
    confirmed: usize,
    received: usize,
    trip_started: Instant,
}

/// A callback's view of the run: the loop, the connection, the state.
#[derive(Clone)]
struct Cx {
    lp: EventLoop,
    conn: Connection,
    run: Rc<RefCell<Run>>,
}

impl Cx {
    /// Ends the run with `e` (the first error wins): closes the connection,
    /// whose `on_close` stops the loop.
    fn fail(&self, e: Error) {
        let mut r = self.run.borrow_mut();
        if r.error.is_none() {
            r.error = Some(e);
        }
        drop(r);
        if self.conn.is_closed() {
            self.lp.stop();
        } else {
            self.conn.close();
        }
    }

    /// Runs one step; its error ends the run.
    fn step(&self, f: impl FnOnce() -> Result<(), Error>) {
        if let Err(e) = f() {
            self.fail(e);
        }
    }

    /// A completion callback that goes on with `next` on success.
    fn then<T>(
        &self,
        next: impl FnOnce(&Cx, T) -> Result<(), Error> + 'static,
    ) -> impl FnOnce(Result<T, Error>) + 'static {
        let cx = self.clone();
        move |r| match r {
            Ok(v) => cx.step(|| next(&cx, v)),
            Err(e) => cx.fail(e),
        }
    }

    /// Runs `f` as a step after `delay`.
    fn later(&self, delay: Duration, f: impl FnOnce(&Cx) -> Result<(), Error> + 'static) {
        let cx = self.clone();
        self.lp.call_later(delay, move || cx.step(|| f(&cx)));
    }

    fn start_meter(&self) {
        self.run.borrow_mut().meter = Some(Meter::start());
    }

    fn stop_meter(&self) {
        let mut r = self.run.borrow_mut();
        if let Some(m) = r.meter.take() {
            r.measured = Some(m.stop());
        }
    }

    fn queue(&self) -> String {
        self.run.borrow().queue.clone()
    }

    fn count(&self) -> usize {
        self.run.borrow().args.count
    }
}

fn timeout(what: &str) -> Error {
    Error::Timeout { what: what.into() }
}

fn passive() -> QueueDeclareOptions {
    QueueDeclareOptions {
        passive: true,
        ..Default::default()
    }
}

fn run(args: &Args, queue: &str) -> Result<Report, Error> {
    let params = ConnectionParameters::from_uri(&args.uri)
        .map_err(|e| Error::Misuse(e.to_string()))?
        .with_frame_max(FRAME_MAX)
        .with_connection_name(format!("bench {}", label("ours-el")));
    let lp = EventLoop::new()?;
    let conn = Connection::open(&lp, params);
    let cx = Cx {
        lp: lp.clone(),
        conn: conn.clone(),
        run: Rc::new(RefCell::new(Run {
            args: args.clone(),
            queue: queue.to_owned(),
            body: payload(args.size),
            props: BasicProperties::default(),
            frame_max: None,
            meter: None,
            measured: None,
            latencies: None,
            prefilled: None,
            error: None,
            done: false,
            progress: 0,
            published: 0,
            confirmed: 0,
            received: 0,
            trip_started: Instant::now(),
        })),
    };
    let c = cx.clone();
    conn.on_open(move |conn| {
        c.run.borrow_mut().frame_max = Some(conn.tuning().frame_max);
        c.step(|| api::channel(conn, c.then(declare)));
    });
    let c = cx.clone();
    conn.on_open_error(move |e| {
        c.fail(e);
        c.lp.stop();
    });
    let c = cx.clone();
    conn.on_close(move |_, reason| {
        let mut r = c.run.borrow_mut();
        if !r.done && r.error.is_none() {
            r.error = Some(reason);
        }
        drop(r);
        c.lp.stop();
    });
    watchdog(&cx, 0);
    lp.run()?;

    let mut r = cx.run.borrow_mut();
    if let Some(e) = r.error.take() {
        return Err(e);
    }
    let measured = r
        .measured
        .ok_or_else(|| Error::Misuse("nothing measured".into()))?;
    Ok(Report {
        client: label("ours-el"),
        args: args.clone(),
        measured,
        latencies: r.latencies.take(),
        frame_max: r.frame_max,
        prefill: r.prefilled,
    })
}

/// Fails the run when nothing moved for `STALL_TIMEOUT`.
fn watchdog(cx: &Cx, seen: u64) {
    cx.later(STALL_TIMEOUT, move |cx| {
        let (done, progress) = {
            let r = cx.run.borrow();
            (r.done, r.progress)
        };
        if done {
            return Ok(());
        }
        if progress == seen {
            return Err(timeout("the run to make progress"));
        }
        watchdog(cx, progress);
        Ok(())
    });
}

fn declare(cx: &Cx, ch: Channel) -> Result<(), Error> {
    let queue = cx.queue();
    let c = ch.clone();
    let next = cx.then(move |cx, _: QueueDeclareOk| scenario(cx, c));
    ch.queue_declare(&queue, QueueDeclareOptions::default(), Some(next))
}

fn scenario(cx: &Cx, ch: Channel) -> Result<(), Error> {
    let args = cx.run.borrow().args.clone();
    match args.scenario {
        Scenario::Publish => {
            cx.start_meter();
            let deadline = Instant::now() + STALL_TIMEOUT;
            publish_some(cx, ch, deadline)
        }
        Scenario::PublishConfirm => {
            let c = cx.clone();
            let on_confirmed = move |ch: &Channel, r: Result<usize, Error>| {
                c.step(|| confirmed(&c, ch, r?));
            };
            let window = ch.clone();
            let on_done = cx.then(move |cx, ()| {
                cx.start_meter();
                publish_window(cx, &window)
            });
            api::confirm_delivery(&ch, on_confirmed, on_done)
        }
        Scenario::ConsumeAck | Scenario::ConsumeNoack => {
            // Blocks the loop, which has nothing else to do meanwhile.
            prefill(&args.uri, &cx.queue(), args.size, args.count).map_err(Error::Misuse)?;
            cx.run.borrow_mut().prefilled = Some("amqp-client");
            let c = ch.clone();
            let next = cx.then(move |cx, ()| consume(cx, c));
            ch.basic_qos(0, PREFETCH, false, Some(next))
        }
        Scenario::Latency => {
            cx.run.borrow_mut().latencies = Some(Latencies(Vec::with_capacity(args.count)));
            api::channel(&cx.conn, cx.then(move |cx, cch| latency(cx, ch, cch)))
        }
    }
}

/// Publishes while the socket takes the output, then waits for the queue to
/// hold every message.
fn publish_some(cx: &Cx, ch: Channel, deadline: Instant) -> Result<(), Error> {
    let n = cx.count();
    let (burst, left) = {
        let mut r = cx.run.borrow_mut();
        r.progress += 1;
        let mut burst = false;
        if cx.conn.buffered_output() <= OUTPUT_LOW {
            let r = &mut *r;
            while r.published < n && cx.conn.buffered_output() < OUTPUT_HIGH {
                ch.basic_publish("", &r.queue, &r.body, &r.props, false)?;
                r.published += 1;
                burst = true;
            }
        }
        (burst, r.published < n)
    };
    if left {
        // Right after the loop wrote the burst, or once the socket is
        // likely to have taken some.
        let delay = if burst { Duration::ZERO } else { POLL_INTERVAL };
        cx.later(delay, move |cx| publish_some(cx, ch, deadline));
        Ok(())
    } else {
        wait_for_queue(cx, ch, deadline)
    }
}

/// Passive queue.declare every `POLL_INTERVAL` until the queue holds every
/// message.
fn wait_for_queue(cx: &Cx, ch: Channel, deadline: Instant) -> Result<(), Error> {
    let queue = cx.queue();
    let c = ch.clone();
    let next = cx.then(move |cx, ok: QueueDeclareOk| {
        cx.run.borrow_mut().progress += 1;
        if ok.message_count as usize >= cx.count() {
            cx.stop_meter();
            return finish(cx, &c);
        }
        if Instant::now() > deadline {
            return Err(timeout("the queue to hold every message"));
        }
        cx.later(POLL_INTERVAL, move |cx| wait_for_queue(cx, c, deadline));
        Ok(())
    });
    ch.queue_declare(&queue, passive(), Some(next))
}

/// Publishes while fewer than `CONFIRM_WINDOW` are unconfirmed.
fn publish_window(cx: &Cx, ch: &Channel) -> Result<(), Error> {
    let n = cx.count();
    let mut r = cx.run.borrow_mut();
    let r = &mut *r;
    while r.published < n && r.published - r.confirmed < CONFIRM_WINDOW {
        ch.basic_publish("", &r.queue, &r.body, &r.props, false)?;
        r.published += 1;
    }
    Ok(())
}

fn confirmed(cx: &Cx, ch: &Channel, more: usize) -> Result<(), Error> {
    let all = {
        let mut r = cx.run.borrow_mut();
        r.confirmed += more;
        r.progress += 1;
        r.confirmed >= r.args.count
    };
    if all {
        cx.stop_meter();
        finish(cx, ch)
    } else {
        publish_window(cx, ch)
    }
}

fn consume(cx: &Cx, ch: Channel) -> Result<(), Error> {
    let no_ack = cx.run.borrow().args.scenario == Scenario::ConsumeNoack;
    let options = ConsumeOptions {
        no_ack,
        consumer_tag: TAG.into(),
        ..Default::default()
    };
    cx.start_meter();
    let c = cx.clone();
    let on_message = move |ch: &Channel, d: amqp_client::event_loop::Delivery| {
        c.step(|| delivered(&c, ch, d.delivery_tag, no_ack));
    };
    let on_done = cx.then(|_, _tag: String| Ok(()));
    ch.basic_consume(&cx.queue(), options, on_message, Some(on_done))
        .map(drop)
}

fn delivered(cx: &Cx, ch: &Channel, delivery_tag: u64, no_ack: bool) -> Result<(), Error> {
    if !no_ack {
        ch.basic_ack(delivery_tag, false)?;
    }
    let all = {
        let mut r = cx.run.borrow_mut();
        r.received += 1;
        r.progress += 1;
        r.received == r.args.count
    };
    if !all {
        return Ok(());
    }
    // A round trip on the channel: the acks reached the broker.
    let c = ch.clone();
    let next = cx.then(move |cx, ok: QueueDeclareOk| {
        cx.stop_meter();
        if ok.message_count != 0 {
            return Err(Error::Misuse(format!("{} messages left", ok.message_count)));
        }
        let d = c.clone();
        c.basic_cancel(TAG, Some(cx.then(move |cx, ()| finish(cx, &d))))
    });
    ch.queue_declare(&cx.queue(), passive(), Some(next))
}

/// Round trips: publish on `ch`, receive on `cch`, publish the next.
fn latency(cx: &Cx, ch: Channel, cch: Channel) -> Result<(), Error> {
    let options = ConsumeOptions {
        no_ack: true,
        consumer_tag: TAG.into(),
        ..Default::default()
    };
    let (c, publisher) = (cx.clone(), ch.clone());
    let on_message = move |cch: &Channel, _: amqp_client::event_loop::Delivery| {
        c.step(|| returned(&c, &publisher, cch));
    };
    let on_done = cx.then(move |cx, _tag: String| trip(cx, &ch));
    cch.basic_consume(&cx.queue(), options, on_message, Some(on_done))
        .map(drop)
}

fn trip(cx: &Cx, ch: &Channel) -> Result<(), Error> {
    let warmup = latency_warmup(cx.count());
    let mut r = cx.run.borrow_mut();
    if r.received == warmup {
        r.meter = Some(Meter::start());
    }
    r.trip_started = Instant::now();
    ch.basic_publish("", &r.queue, &r.body, &r.props, false)?;
    Ok(())
}

fn returned(cx: &Cx, ch: &Channel, cch: &Channel) -> Result<(), Error> {
    let n = cx.count();
    let warmup = latency_warmup(n);
    let all = {
        let mut r = cx.run.borrow_mut();
        let elapsed = r.trip_started.elapsed();
        if r.received >= warmup {
            if let Some(l) = r.latencies.as_mut() {
                l.push(elapsed);
            }
        }
        r.received += 1;
        r.progress += 1;
        r.received == warmup + n
    };
    if !all {
        return trip(cx, ch);
    }
    cx.stop_meter();
    let c = ch.clone();
    cch.basic_cancel(TAG, Some(cx.then(move |cx, ()| finish(cx, &c))))
}

/// Deletes the queue, then closes the connection (which ends the run).
fn finish(cx: &Cx, ch: &Channel) -> Result<(), Error> {
    let done = cx.then(|cx, _: u32| {
        cx.run.borrow_mut().done = true;
        cx.conn.close();
        Ok(())
    });
    api::queue_delete(ch, &cx.queue(), done)
}
