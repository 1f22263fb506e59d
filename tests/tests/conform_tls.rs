//! `amqp-conform` over `amqps://` against a RabbitMQ node with a TLS
//! listener ([`amqp_tests::tls_node`]): cases of every kind of check pass
//! with the node's CA in `cacertfile` and with `verify=verify_none`; a
//! failing case still reports its frames (the password masked); an
//! untrusted CA or a wrong host name fails every case at the TLS handshake,
//! saying so; and a plain connection to the TLS port is not mistaken for one.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use amqp_conform::run::{self, Outcome, Report};
use amqp_conform::{cases, Target};
use amqp_tests::tls_node::TlsNode;

/// Cases covering each kind of check: the reply method, a channel closed
/// with a code, the connection closed with a code, the socket closed without
/// a negotiated close, content going through and coming back, the close
/// handshake.
const PASSING: &[&str] = &[
    "connection.start-version",
    "connection.start-locales",
    "connection.close-by-client",
    "connection.unknown-mechanism",
    "queue.declare-generated-name",
    "queue.default-binding",
    "exchange.declare-passive-missing",
    "channel.open-twice",
    "framing.bad-frame-end",
    "framing.header-wrong-version",
];

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn run_ids(uri: &str, ids: &[&str]) -> Vec<Report> {
    let target = Target::parse(uri).unwrap();
    target.check_tls().unwrap();
    let config = run::Config {
        target,
        timeout: Duration::from_secs(3),
        jobs: 4,
    };
    let selected: Vec<_> = ids
        .iter()
        .map(|id| cases::find(id).unwrap_or_else(|| panic!("no case {id}")))
        .collect();
    run::run(&selected, &config)
}

fn assert_all_pass(reports: &[Report]) {
    let failed: Vec<String> = reports
        .iter()
        .filter(|r| r.outcome != Outcome::Pass)
        .map(|r| format!("{} {}: {:?}", r.outcome.label(), r.case.id, r.outcome))
        .collect();
    assert!(failed.is_empty(), "over TLS:\n{}", failed.join("\n"));
}

/// Every report failed at the TLS handshake, with `why` in the observation.
fn assert_handshake_failed(reports: &[Report], why: &str) {
    for r in reports {
        let Outcome::Fail {
            expected, observed, ..
        } = &r.outcome
        else {
            panic!("{} did not fail: {:?}", r.case.id, r.outcome);
        };
        assert!(expected.starts_with("a TLS connection to "), "{expected}");
        assert!(observed.contains(why), "{observed}");
    }
}

#[test]
fn conform_cases_over_amqps() {
    let node = TlsNode::start();
    let port = node.tls_port();
    let ca = encode(&node.ca().display().to_string());

    eprintln!("--- the node's CA in cacertfile");
    let uri = format!("amqps://guest:guest@localhost:{port}/%2f?cacertfile={ca}");
    assert_all_pass(&run_ids(&uri, PASSING));

    eprintln!("--- an IP address checked against the certificate, verify_peer");
    let uri =
        format!("amqps://guest:guest@127.0.0.1:{port}/%2f?cacertfile={ca}&verify=verify_peer");
    assert_all_pass(&run_ids(&uri, &PASSING[..3]));

    eprintln!("--- verify_none");
    let uri = format!("amqps://guest:guest@127.0.0.1:{port}/%2f?verify=verify_none");
    assert_all_pass(&run_ids(&uri, &PASSING[..3]));

    eprintln!("--- a departure of RabbitMQ's still fails over TLS, with its frames");
    let uri = format!("amqps://guest:guest@localhost:{port}/%2f?cacertfile={ca}");
    let reports = run_ids(&uri, &["queue.delete-missing"]);
    let Outcome::Fail {
        expected, frames, ..
    } = &reports[0].outcome
    else {
        panic!("{:?}", reports[0].outcome);
    };
    assert_eq!(expected, "channel.close on channel 1 with 404 (not-found)");
    assert!(
        frames.iter().any(|f| f.contains("TLS established")),
        "{frames:?}"
    );
    let start_ok = frames
        .iter()
        .find(|f| f.contains("method connection.start-ok"))
        .unwrap();
    assert!(start_ok.contains("response=\"***\""), "{start_ok}");
    assert!(!start_ok.contains("guest"), "{start_ok}");

    eprintln!("--- an untrusted CA");
    let other = encode(&node.other_ca().display().to_string());
    let uri = format!("amqps://guest:guest@localhost:{port}/%2f?cacertfile={other}");
    assert_handshake_failed(&run_ids(&uri, &PASSING[..2]), "certificate");

    eprintln!("--- a name the certificate is not for");
    let uri = format!(
        "amqps://guest:guest@127.0.0.1:{port}/%2f?cacertfile={ca}\
         &server_name_indication=not-the-broker.example"
    );
    assert_handshake_failed(&run_ids(&uri, &PASSING[..2]), "certificate");

    eprintln!("--- a missing CA file is an error before any case runs");
    let uri = format!("amqps://localhost:{port}/?cacertfile=/nonexistent/ca.pem");
    let e = Target::parse(&uri).unwrap().check_tls().unwrap_err();
    assert!(e.contains("/nonexistent/ca.pem"), "{e}");

    eprintln!("--- amqp:// to the TLS port does not pass");
    let uri = format!("amqp://guest:guest@127.0.0.1:{port}/%2f");
    let reports = run_ids(&uri, &["connection.start-version"]);
    assert!(
        matches!(reports[0].outcome, Outcome::Fail { .. }),
        "{:?}",
        reports[0].outcome
    );
}
