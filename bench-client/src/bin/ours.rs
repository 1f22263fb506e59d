//! amqp-client's blocking API. `--mode iter` (default) consumes with the
//! `consume` iterator; `--mode callback` with `basic_consume` +
//! `start_consuming` (consume scenarios only; the others are the same in
//! both modes).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use amqp_client::blocking::{
    Channel, Confirmation, Connection, ConsumeOptions, QueueDeclareOptions,
};
use amqp_client::{ConnectionParameters, Error};
use amqp_client_bench::{
    label, latency_warmup, main_for, parse_args, payload, prefill, Args, Latencies, Meter, Report,
    Scenario, CONFIRM_WINDOW, FRAME_MAX, POLL_INTERVAL, PREFETCH, STALL_TIMEOUT,
};
use amqp_protocol::BasicProperties;

/// What differs between `amqp-client` now and as of the `before` build.
mod api {
    use super::{Channel, Connection, Error};

    #[cfg(not(feature = "old-api"))]
    pub fn frame_max(conn: &Connection) -> u32 {
        conn.tuning().frame_max
    }

    #[cfg(not(feature = "old-api"))]
    pub fn queue_delete(ch: &Channel, queue: &str) -> Result<u32, Error> {
        ch.queue_delete(queue, Default::default())
    }

    #[cfg(feature = "old-api")]
    pub fn frame_max(conn: &Connection) -> u32 {
        conn.server_properties().1.frame_max
    }

    #[cfg(feature = "old-api")]
    pub fn queue_delete(ch: &Channel, queue: &str) -> Result<u32, Error> {
        ch.queue_delete(queue, false, false)
    }
}

fn main() {
    let args = parse_args("ours", &["iter", "callback"]);
    let client = label(if args.mode == "callback" {
        "ours-cb"
    } else {
        "ours"
    });
    main_for(&client, args.clone(), |args, queue| {
        run(&client, args, queue).map_err(|e| e.to_string())
    });
}

fn passive(ch: &Channel, queue: &str) -> Result<u32, Error> {
    Ok(ch
        .queue_declare(
            queue,
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
        )?
        .message_count)
}

fn run(client: &str, args: &Args, queue: &str) -> Result<Report, Error> {
    let params = ConnectionParameters::from_uri(&args.uri)
        .map_err(|e| Error::Misuse(e.to_string()))?
        .with_frame_max(FRAME_MAX)
        .with_connection_name(format!("bench {client}"));
    let conn = Connection::open(params)?;
    let frame_max = api::frame_max(&conn);
    let ch = conn.channel()?;
    ch.queue_declare(queue, QueueDeclareOptions::default())?;
    let body = payload(args.size);
    let props = BasicProperties::default();
    let n = args.count;
    let mut latencies = None;
    let mut prefilled = None;

    let measured = match args.scenario {
        Scenario::Publish => {
            let m = Meter::start();
            for _ in 0..n {
                ch.basic_publish("", queue, &body, &props, false)?;
            }
            let deadline = Instant::now() + STALL_TIMEOUT;
            while (passive(&ch, queue)? as usize) < n {
                if Instant::now() > deadline {
                    return Err(Error::Timeout {
                        what: "the queue to hold every message".into(),
                    });
                }
                std::thread::sleep(POLL_INTERVAL);
            }
            m.stop()
        }
        Scenario::PublishConfirm => {
            ch.confirm_delivery()?;
            let mut window: VecDeque<Confirmation> = VecDeque::with_capacity(CONFIRM_WINDOW);
            let m = Meter::start();
            for _ in 0..n {
                if window.len() >= CONFIRM_WINDOW {
                    if let Some(c) = window.pop_front() {
                        c.wait(Some(STALL_TIMEOUT))?;
                    }
                }
                window.push_back(ch.publish_with_confirm("", queue, &body, &props, false)?);
            }
            for r in Confirmation::wait_all(window) {
                r?;
            }
            m.stop()
        }
        Scenario::ConsumeAck | Scenario::ConsumeNoack => {
            prefill(&args.uri, queue, args.size, n).map_err(Error::Misuse)?;
            prefilled = Some("amqp-client");
            let no_ack = args.scenario == Scenario::ConsumeNoack;
            ch.basic_qos(0, PREFETCH, false)?;
            let options = ConsumeOptions {
                no_ack,
                ..Default::default()
            };
            if args.mode == "callback" {
                let got = Arc::new(AtomicUsize::new(0));
                let seen = got.clone();
                let m = Meter::start();
                let failed = Arc::new(std::sync::Mutex::new(None::<Error>));
                let failed_in = failed.clone();
                ch.basic_consume(queue, options, move |ch, d| {
                    let k = seen.fetch_add(1, Ordering::Relaxed) + 1;
                    if !no_ack {
                        if let Err(e) = ch.basic_ack(d.delivery_tag, false) {
                            *failed_in.lock().unwrap() = Some(e);
                        }
                    }
                    if k == n {
                        if let Err(e) = ch.stop_consuming() {
                            *failed_in.lock().unwrap() = Some(e);
                        }
                    }
                })?;
                ch.start_consuming()?;
                let failure = failed.lock().unwrap().take();
                if let Some(e) = failure {
                    return Err(e);
                }
                // A round trip on the channel: the acks reached the broker.
                let left = passive(&ch, queue)?;
                let m = m.stop();
                if got.load(Ordering::Relaxed) != n || left != 0 {
                    return Err(Error::Misuse(format!(
                        "consumed {} of {n}, {left} left",
                        got.load(Ordering::Relaxed)
                    )));
                }
                m
            } else {
                let m = Meter::start();
                let mut it = ch.consume(queue, options, Some(STALL_TIMEOUT))?;
                for _ in 0..n {
                    let d = match it.next() {
                        Some(Ok(Some(d))) => d,
                        Some(Err(e)) => return Err(e),
                        _ => {
                            return Err(Error::Timeout {
                                what: "a delivery".into(),
                            })
                        }
                    };
                    if !no_ack {
                        ch.basic_ack(d.delivery_tag, false)?;
                    }
                }
                let left = passive(&ch, queue)?;
                let m = m.stop();
                it.cancel()?;
                if left != 0 {
                    return Err(Error::Misuse(format!("{left} messages left")));
                }
                m
            }
        }
        Scenario::Latency => {
            let consumer_ch = conn.channel()?;
            let mut it = consumer_ch.consume(
                queue,
                ConsumeOptions {
                    no_ack: true,
                    ..Default::default()
                },
                Some(Duration::from_secs(10)),
            )?;
            let mut one = |lat: Option<&mut Latencies>| -> Result<(), Error> {
                let t0 = Instant::now();
                ch.basic_publish("", queue, &body, &props, false)?;
                match it.next() {
                    Some(Ok(Some(_))) => {}
                    Some(Err(e)) => return Err(e),
                    _ => {
                        return Err(Error::Timeout {
                            what: "the message to come back".into(),
                        })
                    }
                }
                if let Some(l) = lat {
                    l.push(t0.elapsed());
                }
                Ok(())
            };
            for _ in 0..latency_warmup(n) {
                one(None)?;
            }
            let mut lat = Latencies(Vec::with_capacity(n));
            let m = Meter::start();
            for _ in 0..n {
                one(Some(&mut lat))?;
            }
            let m = m.stop();
            latencies = Some(lat);
            it.cancel()?;
            m
        }
    };
    api::queue_delete(&ch, queue)?;
    conn.close()?;
    Ok(Report {
        client: client.to_owned(),
        args: args.clone(),
        measured,
        latencies,
        frame_max: Some(frame_max),
        prefill: prefilled,
    })
}
