//! Running cases in parallel and collecting their outcomes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use amqp_protocol::{exchange, queue};

use crate::case::{Case, Check, Cleanup, Ctx};
use crate::wire::{short, Conn};
use crate::Target;

/// How a case ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The broker did what the specification requires.
    Pass,
    /// It did not.
    Fail {
        /// What the specification requires.
        expected: String,
        /// What the broker did.
        observed: String,
        /// The frames exchanged, in order, one per line.
        frames: Vec<String>,
    },
    /// The case does not apply to this broker: why.
    NotApplicable(String),
}

impl Outcome {
    /// `pass`, `FAIL` or `n/a`.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Fail { .. } => "FAIL",
            Outcome::NotApplicable(_) => "n/a",
        }
    }
}

/// One case's result.
#[derive(Debug, Clone)]
pub struct Report {
    /// The case.
    pub case: &'static Case,
    /// How it ended.
    pub outcome: Outcome,
    /// How long it took.
    pub elapsed: Duration,
}

/// How to run cases.
#[derive(Debug, Clone)]
pub struct Config {
    /// The broker.
    pub target: Target,
    /// The limit for each expected reply.
    pub timeout: Duration,
    /// How many cases run at once.
    pub jobs: usize,
}

/// Whether `case` is selected by `filters` (case ids, id prefixes ending in
/// `.`, or class names); no filter selects everything.
pub fn selected(case: &Case, filters: &[String]) -> bool {
    filters.is_empty()
        || filters.iter().any(|f| {
            case.id == f || case.class == f || (f.ends_with('.') && case.id.starts_with(f.as_str()))
        })
}

/// Runs one case, then deletes what it created.
pub fn run_case(case: &'static Case, target: &Target, timeout: Duration) -> Report {
    let started = Instant::now();
    let mut ctx = Ctx::new(target.clone(), timeout, case.id);
    let result = (case.run)(&mut ctx);
    let outcome = match result {
        Ok(()) => Outcome::Pass,
        Err(Check::NotApplicable(why)) => Outcome::NotApplicable(why),
        Err(Check::Fail { expected, observed }) => Outcome::Fail {
            expected,
            observed,
            frames: ctx.frames(),
        },
    };
    clean_up(&mut ctx);
    Report {
        case,
        outcome,
        elapsed: started.elapsed(),
    }
}

// Best effort: a leftover is reported on stderr rather than failing the case,
// which already said what it had to say about the broker.
fn clean_up(ctx: &mut Ctx) {
    let items = std::mem::take(&mut ctx.cleanup);
    if items.is_empty() {
        return;
    }
    let result = (|| {
        let mut c = Conn::open(ctx)?;
        // A channel per item: a failed delete closes its channel only.
        for (i, item) in items.iter().enumerate() {
            let ch = i as u16 + 1;
            c.open_channel(ch)?;
            match item {
                Cleanup::Exchange(n) => c.send(
                    ch,
                    exchange::Delete {
                        exchange: short(n)?,
                        ..Default::default()
                    },
                )?,
                Cleanup::Queue(n) => c.send(
                    ch,
                    queue::Delete {
                        queue: short(n)?,
                        ..Default::default()
                    },
                )?,
            }
            let _ = c.recv();
        }
        c.close()
    })();
    if let Err(e) = result {
        eprintln!("amqp-conform: cleaning up after {items:?} failed: {e:?}");
    }
}

/// Runs `cases` on `config.jobs` threads; the reports come back in the
/// order of `cases`.
pub fn run(cases: &[&'static Case], config: &Config) -> Vec<Report> {
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Option<Report>>> = Mutex::new(vec![None; cases.len()]);
    std::thread::scope(|s| {
        for _ in 0..config.jobs.max(1).min(cases.len().max(1)) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let report = run_case(case, &config.target, config.timeout);
                if let Ok(mut r) = reports.lock() {
                    r[i] = Some(report);
                }
            });
        }
    });
    reports
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
        .into_iter()
        .flatten()
        .collect()
}
