//! Client mode's harness against drivers that misbehave: each is graded as
//! failing, whatever the scenario.

use std::time::{Duration, Instant};

use amqp_conform::client::{self, Exit, Limits, Verdict};

fn one(id: &str, driver: &str, limits: &Limits) -> client::Report {
    let scenario = client::find(id).expect("a scenario");
    client::run_one(scenario, driver, limits, None)
}

fn is_fail(v: &Verdict) -> bool {
    matches!(v, Verdict::Fail(_))
}

#[test]
fn a_driver_that_never_speaks_amqp_fails_every_scenario() {
    let limits = Limits::default();
    for scenario in client::scenarios() {
        for driver in ["true", "exit 1"] {
            let r = one(scenario.id, driver, &limits);
            assert!(
                is_fail(&r.verdict),
                "{} {driver}: {}",
                scenario.id,
                r.verdict
            );
            assert_eq!(r.wire.connections, 0);
        }
    }
}

#[test]
fn the_driver_sees_the_uri_and_the_scenario() {
    let driver = r#"case "$AMQP_URI" in amqp://guest:guest@127.0.0.1:*/%2f) ;; *) exit 7;; esac
                    test "$AMQP_CONFORM_SCENARIO" = frame-max || exit 8"#;
    let r = one("frame-max", driver, &Limits::default());
    assert_eq!(r.driver.exit, Exit::Code(0));
    assert!(is_fail(&r.verdict), "{}", r.verdict);
}

#[test]
fn crashes_are_failures() {
    let limits = Limits::default();
    let r = one("clean", "exit 3", &limits);
    assert_eq!(r.driver.exit, Exit::Code(3));
    assert!(matches!(&r.verdict, Verdict::Fail(why) if why.contains("crash")));
    let r = one("unknown-channel", "kill -9 $$", &limits);
    assert_eq!(r.driver.exit, Exit::Signal(9));
    assert!(matches!(&r.verdict, Verdict::Fail(why) if why.contains("crash")));
}

#[test]
fn a_hang_is_killed_and_fails() {
    let limits = Limits {
        hang: Duration::from_secs(2),
    };
    let started = Instant::now();
    // The sleep runs in a child of the shell: the whole group is killed.
    let r = one("no-heartbeat", "sleep 40; true", &limits);
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(r.driver.exit, Exit::Hang);
    assert!(matches!(&r.verdict, Verdict::Fail(why) if why.contains("hung")));
}

#[test]
fn the_driver_can_connect_to_the_scripted_broker() {
    // Bash's /dev/tcp is not everywhere; a protocol header through
    // python3, when there is one, reaches the broker.
    let driver = r#"command -v python3 >/dev/null || exit 0
python3 - <<'PY'
import os, socket, urllib.parse
u = urllib.parse.urlparse(os.environ["AMQP_URI"])
s = socket.create_connection((u.hostname, u.port))
s.sendall(b"AMQP\x00\x00\x09\x01")
s.recv(8)
PY
exit 1"#;
    let r = one("protocol-header", driver, &Limits::default());
    if r.wire.connections == 0 {
        return; // no python3 here
    }
    assert_eq!(r.driver.exit, Exit::Code(1));
    assert_eq!(
        r.verdict,
        Verdict::Pass,
        "{}",
        client::text(std::slice::from_ref(&r))
    );
    assert!(r.wire.lines.iter().any(|l| l.what.contains("AMQP 0-10")));
}
