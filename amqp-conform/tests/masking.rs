//! A failed case's report shows the frames exchanged, connection.start-ok
//! among them; its SASL response holds the password, which no rendering
//! (text, JSON, JUnit XML) shows.

#![allow(clippy::unwrap_used)]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use amqp_conform::deviations::Deviations;
use amqp_conform::run::{self, Outcome};
use amqp_conform::{cases, report, Target};
use amqp_protocol::Method;
use support::{Broker, Reply, PASSWORD};

#[test]
fn no_report_shows_the_password() {
    let responses: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let seen = responses.clone();
    let broker = Broker::start(move |_, m| {
        if let Method::ConnectionStartOk(s) = m {
            seen.lock().unwrap().push(s.response.as_bytes().to_vec());
        }
        Reply::Ok
    });
    let target = Target::parse(&broker.uri()).unwrap();
    let ids = ["queue.delete-missing", "exchange.delete-missing"];
    let reports: Vec<_> = ids
        .iter()
        .map(|id| {
            run::run_case(
                cases::find(id).unwrap(),
                &target,
                Duration::from_millis(400),
            )
        })
        .collect();
    // The password did go to the broker.
    let sent = format!("\0guest\0{PASSWORD}").into_bytes();
    assert!(responses.lock().unwrap().contains(&sent));
    for r in &reports {
        let Outcome::Fail { frames, .. } = &r.outcome else {
            panic!("{} did not fail: {:?}", r.case.id, r.outcome);
        };
        let start_ok = frames
            .iter()
            .find(|f| f.contains("-> ch=0 method connection.start-ok"))
            .expect("start-ok in the frames");
        assert!(start_ok.contains("response=\"***\""), "{start_ok}");
    }
    let deviations = Deviations::default();
    let judged = report::judge(&reports, &deviations);
    for (format, out) in [
        ("text", report::text(&judged, false)),
        ("json", report::json(&judged, &deviations, false)),
        ("junit", report::junit(&judged, false)),
    ] {
        assert!(out.contains("connection.start-ok"), "{format}: {out}");
        assert!(out.contains("***"), "{format}: {out}");
        assert!(
            !out.contains(PASSWORD),
            "{format} shows the password: {out}"
        );
    }
}
