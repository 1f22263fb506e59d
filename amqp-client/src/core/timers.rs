//! [`Timers`]: the callbacks of `call_later`, by deadline, for the adapters
//! that offer it (blocking and event loop), written once.

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

/// Identifies a timer made by `call_later`, to cancel it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TimerId(u64);

/// Items (callbacks) due at given instants, taken in deadline order (and in
/// the order they were added, for equal deadlines).
///
/// ```
/// use std::time::{Duration, Instant};
/// use amqp_client::core::Timers;
///
/// let now = Instant::now();
/// let mut t = Timers::new();
/// let late = t.add(now + Duration::from_secs(2), "late");
/// t.add(now + Duration::from_secs(1), "soon");
/// assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(1)));
/// assert_eq!(t.pop_due(now), None);
/// assert_eq!(t.pop_due(now + Duration::from_secs(1)), Some("soon"));
/// assert!(t.remove(late));
/// assert!(!t.remove(late), "already gone");
/// assert!(t.is_empty());
/// ```
#[derive(Debug)]
pub struct Timers<T> {
    queue: BTreeMap<(Instant, u64), T>,
    deadlines: HashMap<u64, Instant>,
    next: u64,
}

impl<T> Default for Timers<T> {
    fn default() -> Self {
        Timers {
            queue: BTreeMap::new(),
            deadlines: HashMap::new(),
            next: 0,
        }
    }
}

impl<T> Timers<T> {
    /// No timers.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `item`, due at `at`.
    pub fn add(&mut self, at: Instant, item: T) -> TimerId {
        self.next += 1;
        self.queue.insert((at, self.next), item);
        self.deadlines.insert(self.next, at);
        TimerId(self.next)
    }

    /// Removes a timer; false when it already ran or never existed.
    pub fn remove(&mut self, id: TimerId) -> bool {
        match self.deadlines.remove(&id.0) {
            Some(at) => self.queue.remove(&(at, id.0)).is_some(),
            None => false,
        }
    }

    /// The earliest item due at `now`, taken out.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let entry = self.queue.first_entry()?;
        if entry.key().0 > now {
            return None;
        }
        let ((_, id), item) = entry.remove_entry();
        self.deadlines.remove(&id);
        Some(item)
    }

    /// When the earliest item is due.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(at, _)| *at)
    }

    /// Whether no timer is set.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}
