//! The memory the core holds per publish awaiting its confirm, measured
//! as the growth of the process's resident memory over 100,000 of them:
//! with automatic recovery on (each keeps its encoded frames, to be
//! published again after a recovery) and off.

#![allow(clippy::unwrap_used)]

mod scripted;

use amqp_client::core::{Config, RecoveryPolicy, Settle};
use amqp_client::BasicProperties;
use amqp_protocol::confirm;
use scripted::Broker;

/// The process's resident memory, in bytes (Linux).
fn resident() -> isize {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: isize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    pages * 4096
}

/// Bytes held per unconfirmed publish of `size` bytes, once `n` are out.
fn per_publish(recovery: bool, size: usize) -> f64 {
    let mut config = Config::plain("guest", "guest");
    if recovery {
        config.recovery = Some(RecoveryPolicy::default());
    }
    let mut b = Broker::with_config(config, std::time::Instant::now());
    if recovery {
        let endpoints = vec![amqp_client::ConnectionParameters::new()];
        b.client.set_endpoints(endpoints.into(), 0);
    }
    let ch = b.open();
    let p = b.client.confirm_delivery(ch).unwrap();
    b.methods();
    b.send(ch.number(), confirm::SelectOk {});
    b.result(&p).unwrap();
    let body = vec![7u8; size];
    let props = BasicProperties::default();
    // Warm up the buffers that do not grow with the count.
    let warm = 1000;
    for _ in 0..warm {
        b.client
            .basic_publish(ch, "", "q", &body, &props, false, Settle::Discard)
            .unwrap();
    }
    b.take_output();
    b.from_client.clear();
    let n = 100_000;
    let before = resident();
    for _ in 0..n {
        b.client
            .basic_publish(ch, "", "q", &body, &props, false, Settle::Discard)
            .unwrap();
        // The socket takes the output at once: only what the core keeps
        // stays.
        while b.client.poll_transmit(b.now).is_some() {}
    }
    let after = resident();
    assert_eq!(b.client.confirms_outstanding(), warm + n);
    (after - before) as f64 / n as f64
}

/// Recovery keeps each unconfirmed publish's frames (about its size plus
/// the frames' headers); without it, about the bookkeeping alone. The
/// figures are printed for the benchmark's README.
#[test]
fn memory_per_unconfirmed_publish() {
    for size in [16usize, 1024] {
        let on = per_publish(true, size);
        let off = per_publish(false, size);
        println!("{size} B body: {on:.0} B held per unconfirmed publish with recovery, {off:.0} B without");
        assert!(off < 160.0, "{off} B without recovery");
        assert!(
            on < off + size as f64 + 200.0,
            "{on} B with recovery for a {size} B body"
        );
        assert!(on > off + size as f64 / 2.0, "the frames are kept: {on} B");
    }
}
