//! The broker mode against the local RabbitMQ 3.10, as a broker project
//! would run it from its own tests: every case passes except the ones
//! documented (in a comment on the case) as RabbitMQ departures.

use std::collections::BTreeSet;
use std::time::Duration;

use amqp_conform::run::{self, Config, Outcome};
use amqp_conform::{cases, Target};

/// Where RabbitMQ 3.10 departs from the specification (see each case).
const RABBITMQ_DEPARTURES: &[&str] = &[
    "framing.frame-over-frame-max",
    "framing.heartbeat-nonzero-channel",
    "framing.body-longer-than-declared",
    "connection.start-server-properties",
    "connection.channel-max-exceeded",
    "exchange.redeclare-other-type",
    "exchange.delete-missing",
    "exchange.declare-illegal-name",
    "exchange.redeclare-other-auto-delete",
    "exchange.bind-default-destination",
    "exchange.bind-default-source",
    "exchange.unbind-missing-binding",
    "exchange.unbind-missing-destination",
    "exchange.unbind-missing-source",
    "queue.delete-missing",
    "queue.declare-illegal-name",
    "queue.redeclare-other-auto-delete",
    "queue.bind-default-exchange",
    "queue.unbind-missing-binding",
    "queue.unbind-missing-queue",
    "queue.unbind-missing-exchange",
    "basic.priority-levels",
    "basic.qos-prefetch-size-single-message",
    "basic.publish-immediate-no-consumer",
    "basic.reject-requeue-not-same-channel",
    "basic.nack-requeue-not-same-channel",
];

#[test]
fn rabbitmq_fails_exactly_its_documented_departures() {
    let uri = std::env::var("AMQP_CONFORM_URI")
        .unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".to_owned());
    let config = Config {
        target: Target::parse(&uri).unwrap(),
        timeout: Duration::from_secs(3),
        jobs: 8,
    };
    let all = cases::all();
    let reports = run::run(&all, &config);
    assert_eq!(reports.len(), all.len());
    let failed: BTreeSet<&str> = reports
        .iter()
        .filter(|r| matches!(r.outcome, Outcome::Fail { .. }))
        .map(|r| r.case.id)
        .collect();
    let expected: BTreeSet<&str> = RABBITMQ_DEPARTURES.iter().copied().collect();
    let unexpected: Vec<_> = reports
        .iter()
        .filter(|r| failed.contains(r.case.id) != expected.contains(r.case.id))
        .map(|r| format!("{} {}: {:?}", r.outcome.label(), r.case.id, r.outcome))
        .collect();
    assert!(
        unexpected.is_empty(),
        "unexpected results:\n{}",
        unexpected.join("\n")
    );
    assert!(reports
        .iter()
        .all(|r| r.outcome != Outcome::NotApplicable(String::new())));
    for id in RABBITMQ_DEPARTURES {
        assert!(cases::find(id).is_some(), "no case {id}");
    }
}

#[test]
fn a_failure_reports_expected_observed_and_frames() {
    let config = Config {
        target: Target::parse("amqp://guest:guest@127.0.0.1:5672/%2f").unwrap(),
        timeout: Duration::from_secs(3),
        jobs: 1,
    };
    let case = cases::find("queue.delete-missing").unwrap();
    let report = run::run_case(case, &config.target, config.timeout);
    let Outcome::Fail {
        expected,
        observed,
        frames,
    } = report.outcome
    else {
        panic!("expected a failure, got {:?}", report.outcome);
    };
    assert_eq!(expected, "channel.close on channel 1 with 404 (not-found)");
    assert!(observed.contains("queue.delete-ok"), "{observed}");
    assert!(
        frames
            .iter()
            .any(|f| f.contains("-> ch=1 method queue.delete")),
        "{frames:?}"
    );
    assert!(
        frames
            .iter()
            .any(|f| f.contains("<- ch=0 method connection.start")),
        "{frames:?}"
    );
}
