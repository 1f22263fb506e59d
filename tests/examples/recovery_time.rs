//! Recovery time after `kill -9` of the node the client is connected to,
//! on a 3-node cluster of the tests' own: the median (and spread) of 10
//! faults, from the kill signal until the connection is recovered
//! (reconnected, topology and channels back: its `Recovered` event) and
//! until the first confirmed publish to a quorum queue through it. A measurement, not a test:
//!
//! ```text
//! cargo run --release -p amqp-tests --example recovery_time
//! ```

use std::time::{Duration, Instant};

use amqp_client::blocking::{Connection, QueueDeclareOptions};
use amqp_client::{BasicProperties, FieldTable};
use amqp_tests::cluster::Cluster;

fn main() {
    let mut cluster = Cluster::start(3);
    let n = cluster.nodes.len();
    let runs = 10;
    let mut recovered = Vec::new();
    let mut confirmed = Vec::new();
    for run in 0..runs {
        let first = run % n;
        let endpoints: Vec<_> = (0..n).map(|k| cluster.params((first + k) % n)).collect();
        let conn = Connection::open(endpoints).expect("connect");
        let recovered_at = std::sync::Arc::new(std::sync::Mutex::new(None));
        let r = recovered_at.clone();
        conn.on_recovery(move |e| {
            if let amqp_client::core::client::RecoveryEvent::Recovered { .. } = e {
                *r.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            }
        });
        let ch = conn.channel().expect("channel");
        // The queue's leader on another node: the time measured is the
        // client's, not the queue's election.
        let q = format!("recovery-time-{run}");
        {
            let other = Connection::open(cluster.params((first + 1) % n)).expect("connect");
            let och = other.channel().expect("channel");
            let mut arguments = FieldTable::new();
            arguments.insert("x-queue-type", "quorum");
            let o = QueueDeclareOptions {
                durable: true,
                arguments,
                ..Default::default()
            };
            och.queue_declare(&q, o).expect("declare");
        }
        ch.confirm_delivery().expect("confirm mode");
        ch.basic_publish("", &q, b"before", &BasicProperties::default(), false)
            .expect("publish");
        let killed = Instant::now();
        cluster.kill(first);
        // The recovery's events run where callbacks run: in
        // process_data_events, every millisecond here.
        let at = loop {
            if let Some(at) = *recovered_at.lock().unwrap_or_else(|p| p.into_inner()) {
                break at;
            }
            assert!(killed.elapsed() < Duration::from_secs(60), "not recovered");
            conn.process_data_events(Some(Duration::from_millis(1)))
                .expect("the connection goes on");
        };
        let back = at.saturating_duration_since(killed);
        ch.basic_publish("", &q, b"after", &BasicProperties::default(), false)
            .expect("publish after the recovery");
        let published = killed.elapsed();
        println!(
            "run {}: recovered {:.0} ms, first confirm {:.0} ms after the kill",
            run + 1,
            back.as_secs_f64() * 1e3,
            published.as_secs_f64() * 1e3
        );
        recovered.push(back);
        confirmed.push(published);
        ch.queue_delete(&q, Default::default()).expect("delete");
        drop(ch);
        let _ = conn.close();
        cluster.restart(first);
    }
    let show = |name: &str, v: &mut Vec<Duration>| {
        v.sort();
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{name}: median {:.0} ms (min {:.0}, max {:.0}) over {} kills",
            ms(v[v.len() / 2]),
            ms(v[0]),
            ms(v[v.len() - 1]),
            v.len()
        );
    };
    show("recovered", &mut recovered);
    show("first confirmed publish", &mut confirmed);
}
