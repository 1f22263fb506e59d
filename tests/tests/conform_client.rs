//! `amqp-conform`'s client mode against the drivers of each adapter
//! (`examples/conform_driver_*.rs`): the verdicts our client gets,
//! scenario by scenario, and drivers built to misbehave graded as failing.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use amqp_conform::client::{self, Exit, Limits, Verdict};

const ADAPTERS: [&str; 4] = ["blocking", "tokio", "smol", "event_loop"];

/// Builds every adapter's driver once (in this test's profile) and
/// returns the path of `adapter`'s, quoted for `sh -c`.
fn driver_of(adapter: &str) -> String {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(build_drivers);
    // target/<profile>/deps/<this test> -> target/<profile>/examples/
    let exe = std::env::current_exe().expect("this test's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the profile's directory");
    let path: PathBuf = profile
        .join("examples")
        .join(format!("conform_driver_{adapter}"));
    assert!(path.exists(), "{} exists", path.display());
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

fn driver() -> String {
    driver_of("blocking")
}

fn build_drivers() {
    let mut build = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    build.args(["build", "-q", "-p", "amqp-tests"]);
    for adapter in ADAPTERS {
        build.args(["--example", &format!("conform_driver_{adapter}")]);
    }
    if !cfg!(debug_assertions) {
        build.arg("--release");
    }
    // What cargo sets for this test, not for a build: build scripts that
    // watch them would rebuild.
    for (key, _) in std::env::vars_os() {
        let Some(key) = key.to_str() else { continue };
        if key.starts_with("CARGO_PKG_")
            || matches!(
                key,
                "CARGO_MANIFEST_DIR"
                    | "CARGO_MANIFEST_PATH"
                    | "CARGO_CRATE_NAME"
                    | "CARGO_BIN_NAME"
                    | "CARGO_PRIMARY_PACKAGE"
                    | "CARGO_TARGET_TMPDIR"
                    | "OUT_DIR"
            )
        {
            build.env_remove(key);
        }
    }
    let status = build.status().expect("cargo build runs");
    assert!(status.success(), "the drivers build");
}

#[test]
fn the_blocking_client_against_every_scenario() {
    every_scenario_passes("blocking");
}

#[test]
fn the_tokio_client_against_every_scenario() {
    every_scenario_passes("tokio");
}

#[test]
fn the_smol_client_against_every_scenario() {
    every_scenario_passes("smol");
}

#[test]
fn the_event_loop_client_against_every_scenario() {
    every_scenario_passes("event_loop");
}

fn every_scenario_passes(adapter: &str) {
    let driver = driver_of(adapter);
    let reports = client::run(&client::scenarios(), &driver, &Limits::default());
    let text = client::text(&reports);
    let verdict = |id: &str| {
        &reports
            .iter()
            .find(|r| r.scenario.id == id)
            .unwrap_or_else(|| panic!("{id} ran"))
            .verdict
    };
    // Every scenario passes: the client closes with the code the
    // specification names (501 for a bad frame-end, with connection.close
    // rather than in silence; 503 for an unknown method or a reply to
    // nothing; 505 for a body longer than its header; 311 for a message
    // over its size limit, refused at the header; 502 for headers nested
    // deeper than its limit; it closes the channel with 505 on a delivery
    // for a consumer tag it does not have, and with 406 on a confirm of a
    // publish it never made), notices the missing heartbeats within two
    // intervals, bounds the whole handshake, answers the broker's closes,
    // and reports a lost connection or a closed channel to the publisher
    // waiting for its confirm.
    for s in client::scenarios() {
        assert_eq!(verdict(s.id), &Verdict::Pass, "{adapter} {}\n{text}", s.id);
    }
    assert_eq!(reports.len(), client::scenarios().len(), "{text}");
    let clean = &reports[0];
    assert_eq!(clean.scenario.id, "clean");
    assert_eq!(clean.driver.exit, Exit::Code(0));
    assert_eq!(clean.wire.published, client::PUBLISHES);
    assert_eq!(clean.wire.acked, client::CONSUMES);
    for r in &reports[1..] {
        // A deep table may be read; ours refuses it past its nesting limit.
        assert_eq!(
            r.driver.exit,
            Exit::Code(1),
            "{adapter} {}\n{text}",
            r.scenario.id
        );
    }
}

#[test]
fn misbehaving_drivers_fail() {
    let limits = Limits {
        hang: Duration::from_secs(3),
    };
    let one = |id: &str, driver: &str| {
        client::run_one(client::find(id).expect("a scenario"), driver, &limits, None)
    };
    // Exits 0 without speaking AMQP.
    let r = one("clean", "true");
    assert!(matches!(r.verdict, Verdict::Fail(_)), "{}", r.verdict);
    // Reports an error before the broker's fault.
    let r = one("unknown-channel", "exit 1");
    assert!(matches!(r.verdict, Verdict::Fail(_)), "{}", r.verdict);
    // Crashes.
    let r = one("frame-max", "exit 3");
    assert_eq!(r.driver.exit, Exit::Code(3));
    assert!(matches!(r.verdict, Verdict::Fail(_)), "{}", r.verdict);
    // Hangs: killed at the limit.
    let r = one("no-heartbeat", "sleep 40");
    assert_eq!(r.driver.exit, Exit::Hang);
    assert!(matches!(r.verdict, Verdict::Fail(_)), "{}", r.verdict);
}

/// Our client does what each scenario requires; wrapped so that it then
/// misbehaves as a lax client would, every scenario's grade fails it:
/// swallowing the error (claiming success), crashing on it, or hanging.
#[test]
fn every_fault_fails_a_client_that_swallows_the_error() {
    lax("{driver}; exit 0", 15, |r| r.driver.exit == Exit::Code(0));
}

#[test]
fn every_fault_fails_a_client_that_crashes_on_it() {
    lax("{driver} || kill -SEGV $$", 15, |r| {
        r.driver.exit == Exit::Signal(11)
    });
}

#[test]
fn every_fault_fails_a_client_that_hangs_on_it() {
    // Killed at 3 s: the silent handshakes' 10 s timeout counts as a hang.
    lax("{driver} || sleep 40", 3, |r| r.driver.exit == Exit::Hang);
}

fn lax(wrapper: &str, hang: u64, ended_as_wrapped: impl Fn(&client::Report) -> bool) {
    let limits = Limits {
        hang: Duration::from_secs(hang),
    };
    let driver = wrapper.replace("{driver}", &driver());
    for scenario in client::scenarios() {
        if scenario.id == "clean" {
            continue;
        }
        let r = client::run_one(scenario, &driver, &limits, None);
        let text = client::text(std::slice::from_ref(&r));
        assert!(ended_as_wrapped(&r), "{text}");
        assert!(matches!(r.verdict, Verdict::Fail(_)), "{text}");
    }
}
