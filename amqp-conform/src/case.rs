//! What a broker case is, what it may conclude, and the context it runs in.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Target;

/// How strongly the specification requires what a case or rule checks,
/// from its wording (RFC 2119 keywords as the specification capitalises them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// `MUST`, `MUST NOT`, `MAY NOT` (a prohibition).
    Must,
    /// `SHOULD`, `SHOULD NOT`.
    Should,
    /// `MAY`.
    May,
    /// No keyword: a description.
    None,
}

impl Level {
    /// The strongest keyword in `text`.
    pub fn of_text(text: &str) -> Level {
        if text.contains("MUST") || text.contains("MAY NOT") {
            Level::Must
        } else if text.contains("SHOULD") {
            Level::Should
        } else if text.contains("MAY") {
            Level::May
        } else {
            Level::None
        }
    }

    /// `MUST`, `SHOULD`, `MAY` or `-`.
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Must => "MUST",
            Level::Should => "SHOULD",
            Level::May => "MAY",
            Level::None => "-",
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    /// The broker did not do what the specification requires.
    Fail {
        /// What the specification requires.
        expected: String,
        /// What the broker did.
        observed: String,
    },
    /// The case does not apply to this broker (for example, it does not
    /// offer what the case needs).
    NotApplicable(String),
}

/// A failed check.
pub fn fail(expected: impl Into<String>, observed: impl Into<String>) -> Check {
    Check::Fail {
        expected: expected.into(),
        observed: observed.into(),
    }
}

/// What a case body returns: `Ok` when every check passed.
pub type CaseResult = Result<(), Check>;

/// One broker case.
#[derive(Debug, Clone, Copy)]
pub struct Case {
    /// Stable id, `class.what` (`framing.bad-frame-end`).
    pub id: &'static str,
    /// The class it is listed under (`framing`, `connection`, `queue`, ...).
    pub class: &'static str,
    /// What it sends and what it requires, in one line.
    pub title: &'static str,
    /// The rules of [`RULES`](amqp_protocol::RULES) it tests, as
    /// (path, name); empty for requirements stated in the specification's
    /// prose rather than in a `<rule>`.
    pub rules: &'static [(&'static str, &'static str)],
    /// Where the specification states the requirement when no rule does.
    pub reference: &'static str,
    /// MUST or SHOULD.
    pub level: Level,
    /// The body: opens its own connections through the [`Ctx`].
    pub run: fn(&mut Ctx) -> CaseResult,
}

/// What a case runs with: the broker, the time limit for each reply, names
/// of its own, the frames exchanged, and what to delete afterwards.
#[derive(Debug)]
pub struct Ctx {
    /// The broker.
    pub target: Target,
    /// How long to wait for each expected reply (or for the socket to close).
    pub timeout: Duration,
    prefix: String,
    pub(crate) log: Rc<RefCell<Vec<String>>>,
    pub(crate) connections: u32,
    pub(crate) cleanup: Vec<Cleanup>,
}

/// Something a case created that must not outlive it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cleanup {
    Exchange(String),
    Queue(String),
}

static SEQ: AtomicU64 = AtomicU64::new(0);

impl Ctx {
    /// A context for the case `id`.
    pub fn new(target: Target, timeout: Duration, id: &str) -> Ctx {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        Ctx {
            target,
            timeout,
            prefix: format!("amqp-conform.{}.{nanos:x}.{seq}.{id}", std::process::id()),
            log: Rc::default(),
            connections: 0,
            cleanup: Vec::new(),
        }
    }

    /// A name no other case or run uses, for an exchange or queue.
    pub fn name(&self, what: &str) -> String {
        format!("{}.{what}", self.prefix)
    }

    /// A unique exchange name, deleted after the case.
    pub fn exchange(&mut self, what: &str) -> String {
        let n = self.name(what);
        self.cleanup.push(Cleanup::Exchange(n.clone()));
        n
    }

    /// A unique queue name, deleted after the case.
    pub fn queue(&mut self, what: &str) -> String {
        let n = self.name(what);
        self.cleanup.push(Cleanup::Queue(n.clone()));
        n
    }

    /// Adds a line to the frames exchanged.
    pub fn note(&self, line: impl Into<String>) {
        self.log.borrow_mut().push(line.into());
    }

    /// The frames exchanged so far, one line each.
    pub fn frames(&self) -> Vec<String> {
        self.log.borrow().clone()
    }
}
