//! Client mode: a scripted, misbehaving broker that grades any client.
//!
//! A *driver* is a program that runs one fixed workload with the client
//! under test against the broker at `AMQP_URI`:
//!
//! 1. connect with a handshake timeout of 10 s and a heartbeat of 2 s (and
//!    no automatic recovery);
//! 2. open a channel, declare a queue, enable publisher confirms;
//! 3. publish 20 messages to the queue through the default exchange,
//!    awaiting each confirmation;
//! 4. consume 10 messages with manual acks;
//! 5. close the channel and the connection.
//!
//! It exits 0 when the workload completed and 1 when the client reported
//! an error; any other exit code, or a signal, is a crash.
//!
//! Each [`Scenario`] serves that workload from a scripted broker on its own
//! port of 127.0.0.1 ([`Broker`]), correctly (the `clean` baseline) or
//! breaking one rule of the specification at one point, and [`run`] spawns
//! the driver once per scenario (through `sh -c`), with `AMQP_URI` and
//! `AMQP_CONFORM_SCENARIO` in its environment. It records the driver's
//! exit, wall time and peak RSS, kills it after 30 s (a hang), and grades
//! the scenario from the driver's result and what the client sent on the
//! wire: [`Verdict::Pass`], [`Verdict::Fail`], or
//! [`Verdict::ClosedWrongCode`] for a client that closed the connection,
//! but not with the reply code the specification names.
//!
//! ```no_run
//! use amqp_conform::client;
//!
//! let reports = client::run(&client::scenarios(), "./my-driver", &client::Limits::default());
//! for r in &reports {
//!     println!("{} {}", r.scenario.id, r.verdict);
//! }
//! ```

mod broker;
mod driver;
mod faults;
mod grade;
mod report;
mod scenarios;

pub use broker::{Broker, Echo, Wire, WireLine};
use driver::spawn_driver;
pub use driver::{DriverRun, Exit};
pub use grade::{grade, Verdict};
pub use report::{json, text};
pub use scenarios::{find, scenarios};

use std::time::Duration;

/// How many messages the workload publishes.
pub const PUBLISHES: u32 = 20;
/// How many messages the workload consumes.
pub const CONSUMES: u32 = 10;
/// The heartbeat the broker proposes, in seconds.
pub const HEARTBEAT: u16 = 2;
/// The frame-max the broker proposes (the specification's frame-min-size
/// in the `frame-max` scenario).
pub const FRAME_MAX: u32 = 131_072;
/// How much more than the clean run's peak RSS a scenario may use.
pub const RSS_MARGIN_KIB: u64 = 64 * 1024;

/// One scripted scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scenario {
    /// Stable id.
    pub id: &'static str,
    /// What the broker does.
    pub title: &'static str,
    /// What the specification requires of the client.
    pub requires: &'static str,
    /// Where the specification says so.
    pub spec: &'static str,
}

/// One scenario's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The scenario.
    pub scenario: Scenario,
    /// Its grade.
    pub verdict: Verdict,
    /// The driver's run.
    pub driver: DriverRun,
    /// The wire.
    pub wire: Wire,
}

/// The time limits of a run.
#[derive(Debug, Clone)]
pub struct Limits {
    /// A driver still running after this is killed and graded a hang.
    pub hang: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            hang: Duration::from_secs(30),
        }
    }
}

/// Runs each scenario with `driver` (a shell command), in order; the clean
/// scenario's peak RSS, when it ran, bounds the others' (plus
/// [`RSS_MARGIN_KIB`]).
pub fn run(scenarios: &[Scenario], driver: &str, limits: &Limits) -> Vec<Report> {
    let mut order: Vec<Scenario> = scenarios.to_vec();
    order.sort_by_key(|s| s.id != "clean");
    let mut baseline = None;
    let mut reports = Vec::new();
    for s in order {
        let report = run_one(s, driver, limits, baseline);
        if s.id == "clean" {
            baseline = report.driver.peak_rss_kib;
        }
        reports.push(report);
    }
    reports
}

/// Runs one scenario with `driver`; `baseline_rss_kib` is the clean run's
/// peak RSS, if known.
pub fn run_one(
    scenario: Scenario,
    driver: &str,
    limits: &Limits,
    baseline_rss_kib: Option<u64>,
) -> Report {
    let broker = match Broker::start("127.0.0.1:0", scenario) {
        Ok(b) => b,
        Err(e) => {
            return Report {
                scenario,
                verdict: Verdict::Fail(format!("the scripted broker did not start: {e}")),
                driver: DriverRun {
                    exit: Exit::SpawnFailed(e.to_string()),
                    wall: Duration::ZERO,
                    peak_rss_kib: None,
                    stderr: String::new(),
                },
                wire: Wire::default(),
            }
        }
    };
    let uri = format!("amqp://guest:guest@127.0.0.1:{}/%2f", broker.port());
    let driver = spawn_driver(driver, &uri, scenario.id, limits.hang);
    // The broker's side of the last frames.
    std::thread::sleep(Duration::from_millis(100));
    let wire = broker.stop();
    let verdict = grade(scenario, &driver, &wire, baseline_rss_kib);
    Report {
        scenario,
        verdict,
        driver,
        wire,
    }
}
