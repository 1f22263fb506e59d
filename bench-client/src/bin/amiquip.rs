//! amiquip 0.4 (blocking, its own mio I/O thread; TLS feature off). Confirms
//! come from `listen_for_publisher_confirms` through a `ConfirmSmoother`;
//! deliveries from `Consumer::receiver()` (crossbeam).
//!
//! amiquip never sets TCP_NODELAY on the sockets it opens, so a publish
//! waits behind Nagle's algorithm and the broker's delayed ACK (about 40 ms
//! a round trip on Linux). `--mode nodelay` (the default) therefore opens
//! the socket here, sets TCP_NODELAY and frame_max 131072, and hands it to
//! `Connection::insecure_open_stream`, as the other clients (which all set
//! TCP_NODELAY) do; `--mode url` opens it as shipped, with
//! `Connection::insecure_open(uri)` (frame_max: the broker's).

use std::time::{Duration, Instant};

use amiquip::{
    Auth, Channel, Confirm, ConfirmSmoother, Connection, ConnectionOptions, ConnectionTuning,
    ConsumerMessage, ConsumerOptions, Publish, QueueDeclareOptions, QueueDeleteOptions,
};
use amqp_client_bench::{
    latency_warmup, main_for, parse_args, payload, prefill, uri_parts, Args, Latencies, Meter,
    Report, Scenario, CONFIRM_WINDOW, FRAME_MAX, POLL_INTERVAL, PREFETCH, STALL_TIMEOUT,
};

type Res<T> = Result<T, String>;

fn e(err: amiquip::Error) -> String {
    err.to_string()
}

fn main() {
    let args = parse_args("amiquip", &["nodelay", "url"]);
    let client = if args.mode == "url" {
        "amiquip-url"
    } else {
        "amiquip"
    };
    main_for(client, args.clone(), |args, queue| run(client, args, queue));
}

/// Opens the connection: with `nodelay`, on a socket of our own.
fn open(args: &Args) -> Res<(Connection, Option<u32>)> {
    if args.mode == "url" {
        return Ok((Connection::insecure_open(&args.uri).map_err(e)?, None));
    }
    let u = uri_parts(&args.uri)?;
    let stream =
        std::net::TcpStream::connect((u.host.as_str(), u.port)).map_err(|e| e.to_string())?;
    stream.set_nodelay(true).map_err(|e| e.to_string())?;
    let stream = mio06::net::TcpStream::from_stream(stream).map_err(|e| e.to_string())?;
    let options = ConnectionOptions::default()
        .auth(Auth::Plain {
            username: u.user.clone(),
            password: u.password.clone(),
        })
        .virtual_host(u.vhost.clone())
        .frame_max(FRAME_MAX)
        .connection_timeout(Some(Duration::from_secs(10)));
    let conn = Connection::insecure_open_stream(stream, options, ConnectionTuning::default())
        .map_err(e)?;
    Ok((conn, Some(FRAME_MAX)))
}

fn passive(ch: &Channel, queue: &str) -> Res<u32> {
    Ok(ch
        .queue_declare_passive(queue)
        .map_err(e)?
        .declared_message_count()
        .unwrap_or(0))
}

fn run(client: &str, args: &Args, queue: &str) -> Res<Report> {
    let (mut conn, frame_max) = open(args)?;
    let ch = conn.open_channel(None).map_err(e)?;
    ch.queue_declare(queue, QueueDeclareOptions::default())
        .map_err(e)?;
    let body = payload(args.size);
    let n = args.count;
    let mut latencies = None;
    let mut prefilled = None;
    let publish = |ch: &Channel| ch.basic_publish("", Publish::new(&body, queue));

    let measured = match args.scenario {
        Scenario::Publish => {
            let m = Meter::start();
            for _ in 0..n {
                publish(&ch).map_err(e)?;
            }
            let deadline = Instant::now() + STALL_TIMEOUT;
            while (passive(&ch, queue)? as usize) < n {
                if Instant::now() > deadline {
                    return Err("timed out waiting for the queue to fill".into());
                }
                std::thread::sleep(POLL_INTERVAL);
            }
            m.stop()
        }
        Scenario::PublishConfirm => {
            let confirms = ch.listen_for_publisher_confirms().map_err(e)?;
            ch.enable_publisher_confirms().map_err(e)?;
            let mut smoother = ConfirmSmoother::new();
            let mut confirmed = 0usize;
            let mut wait_until = |target: usize, confirmed: &mut usize| -> Res<()> {
                while *confirmed < target {
                    let c = confirms
                        .recv_timeout(STALL_TIMEOUT)
                        .map_err(|_| "timed out waiting for confirms".to_string())?;
                    for c in smoother.process(c) {
                        match c {
                            Confirm::Ack(_) => *confirmed += 1,
                            Confirm::Nack(_) => return Err("nacked".into()),
                        }
                    }
                }
                Ok(())
            };
            let m = Meter::start();
            for published in 0..n {
                if published >= CONFIRM_WINDOW {
                    wait_until(published - CONFIRM_WINDOW + 1, &mut confirmed)?;
                }
                publish(&ch).map_err(e)?;
            }
            wait_until(n, &mut confirmed)?;
            m.stop()
        }
        Scenario::ConsumeAck | Scenario::ConsumeNoack => {
            prefill(&args.uri, queue, args.size, n)?;
            prefilled = Some("amqp-client");
            let no_ack = args.scenario == Scenario::ConsumeNoack;
            ch.qos(0, PREFETCH, false).map_err(e)?;
            let m = Meter::start();
            let consumer = ch
                .basic_consume(
                    queue,
                    ConsumerOptions {
                        no_ack,
                        ..Default::default()
                    },
                )
                .map_err(e)?;
            for _ in 0..n {
                let d = match consumer.receiver().recv_timeout(STALL_TIMEOUT) {
                    Ok(ConsumerMessage::Delivery(d)) => d,
                    Ok(other) => return Err(format!("consumer ended: {other:?}")),
                    Err(_) => return Err("timed out waiting for a delivery".into()),
                };
                if !no_ack {
                    consumer.ack(d).map_err(e)?;
                }
            }
            let left = passive(&ch, queue)?;
            let m = m.stop();
            consumer.cancel().map_err(e)?;
            if left != 0 {
                return Err(format!("{left} messages left"));
            }
            m
        }
        Scenario::Latency => {
            let cch = conn.open_channel(None).map_err(e)?;
            let consumer = cch
                .basic_consume(
                    queue,
                    ConsumerOptions {
                        no_ack: true,
                        ..Default::default()
                    },
                )
                .map_err(e)?;
            let mut lat = Latencies(Vec::with_capacity(n));
            let warmup = latency_warmup(n);
            let mut m = None;
            for i in 0..warmup + n {
                if i == warmup {
                    m = Some(Meter::start());
                }
                let t0 = Instant::now();
                publish(&ch).map_err(e)?;
                match consumer.receiver().recv_timeout(Duration::from_secs(10)) {
                    Ok(ConsumerMessage::Delivery(_)) => {}
                    Ok(other) => return Err(format!("consumer ended: {other:?}")),
                    Err(_) => return Err("timed out waiting for the message".into()),
                }
                if i >= warmup {
                    lat.push(t0.elapsed());
                }
            }
            let m = m.ok_or("no round trip")?.stop();
            latencies = Some(lat);
            consumer.cancel().map_err(e)?;
            drop(consumer);
            cch.close().map_err(e)?;
            m
        }
    };
    ch.queue_delete(queue, QueueDeleteOptions::default())
        .map_err(e)?;
    ch.close().map_err(e)?;
    conn.close().map_err(e)?;
    Ok(Report {
        client: client.to_owned(),
        args: args.clone(),
        measured,
        latencies,
        frame_max,
        prefill: prefilled,
    })
}
