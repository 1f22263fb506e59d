//! Publisher confirms of one channel: sequence numbers awaiting the broker's
//! answer, a basic.return paired with the ack that follows it, and one
//! outcome per publish.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::error::{BrokerClose, Error};

/// Publish sequence numbers are small consecutive integers that only this
/// process chooses: a multiplicative hash spreads them well, far cheaper
/// than SipHash.
#[derive(Default)]
pub(super) struct SeqHasher(u64);

impl std::hash::Hasher for SeqHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }
}

type SeqBuild = std::hash::BuildHasherDefault<SeqHasher>;

/// What becomes of a publish's outcome once the broker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Kept until [`Client::take_confirm`](super::Client::take_confirm)
    /// takes it (or [`Client::abandon_confirm`](super::Client::abandon_confirm)
    /// says nobody will): a publisher waits for it.
    Take,
    /// Reported as [`Event::Confirmed`](super::Event::Confirmed): for
    /// callbacks.
    Event,
    /// Not kept: nobody asks.
    Discard,
}

/// Unconfirmed sequence numbers in increasing order (they are assigned in
/// order), each with what becomes of its outcome: a multiple confirm takes
/// them from the front.
#[derive(Default)]
struct Unconfirmed(VecDeque<(u64, Settle)>);

impl Unconfirmed {
    fn push(&mut self, seq: u64, settle: Settle) {
        self.0.push_back((seq, settle));
    }

    fn position(&self, seq: u64) -> Option<usize> {
        if self.0.front().is_some_and(|(s, _)| *s == seq) {
            return Some(0);
        }
        self.0.binary_search_by_key(&seq, |(s, _)| *s).ok()
    }

    fn contains(&self, seq: u64) -> bool {
        self.position(seq).is_some()
    }

    fn remove(&mut self, seq: u64) -> Option<Settle> {
        let i = self.position(seq)?;
        self.0.remove(i).map(|(_, s)| s)
    }

    fn pop_up_to(&mut self, up_to: u64) -> Option<(u64, Settle)> {
        match self.0.front() {
            Some(&(seq, _)) if seq <= up_to => self.0.pop_front(),
            _ => None,
        }
    }
}

/// A publish's settled outcome to report as an event.
pub(super) type Settled = (u64, Result<(), Error>);

/// The confirm state of one channel.
#[derive(Default)]
pub(super) struct Confirms {
    /// confirm.select was submitted: publishes get sequence numbers.
    pub(super) enabled: bool,
    pending: Unconfirmed,
    /// Outcomes not yet taken by their publisher.
    done: HashMap<u64, Result<(), Error>, SeqBuild>,
    /// Publishes whose publisher gave up waiting: their outcome is dropped.
    abandoned: HashSet<u64, SeqBuild>,
    /// A basic.return seen since the last confirm: the next ack is its.
    returned: Option<BrokerClose>,
    /// The sequence number of the last publish handed to the wire ...
    pub(super) queued: u64,
    /// ... and of the last one taken out for the socket.
    pub(super) staged: u64,
}

impl Confirms {
    /// A publish with sequence number `seq` went out.
    pub(super) fn published(&mut self, seq: u64, settle: Settle) {
        self.queued = seq;
        self.pending.push(seq, settle);
    }

    /// Whether answers to earlier publishes are still due.
    pub(super) fn due(&self) -> bool {
        !self.pending.0.is_empty()
    }

    /// How many publishes await their answer.
    pub(super) fn outstanding(&self) -> usize {
        self.pending.0.len()
    }

    /// The broker returned a mandatory message: the ack that follows is its.
    pub(super) fn returned(&mut self, reason: BrokerClose) {
        if self.enabled {
            self.returned = Some(reason);
        }
    }

    /// basic.ack or basic.nack from the broker: settles every publish it
    /// names; those settled as events are added to `events`.
    pub(super) fn confirm(
        &mut self,
        delivery_tag: u64,
        multiple: bool,
        ack: bool,
        events: &mut Vec<Settled>,
    ) {
        let returned = self.returned.take();
        let outcome = |tag: u64| match (ack, &returned) {
            (false, _) => Err(Error::Nacked),
            // The return belongs to the message this ack names.
            (true, Some(r)) if tag == delivery_tag => Err(Error::Unroutable(r.clone())),
            (true, _) => Ok(()),
        };
        if multiple {
            while let Some((tag, settle)) = self.pending.pop_up_to(delivery_tag) {
                self.settle(tag, settle, outcome(tag), events);
            }
        } else if let Some(settle) = self.pending.remove(delivery_tag) {
            self.settle(delivery_tag, settle, outcome(delivery_tag), events);
        }
    }

    fn settle(
        &mut self,
        tag: u64,
        settle: Settle,
        outcome: Result<(), Error>,
        events: &mut Vec<Settled>,
    ) {
        match settle {
            Settle::Take => {
                if !self.abandoned.is_empty() && self.abandoned.remove(&tag) {
                    return;
                }
                self.done.insert(tag, outcome);
            }
            Settle::Event => events.push((tag, outcome)),
            Settle::Discard => {}
        }
    }

    /// The channel closed: every publish still awaiting an answer fails
    /// with `error`.
    pub(super) fn fail_all(&mut self, error: &Error, events: &mut Vec<Settled>) {
        while let Some((tag, settle)) = self.pending.0.pop_front() {
            self.settle(tag, settle, Err(error.clone()), events);
        }
    }

    /// The outcome of publish `seq`, once known: `None` while it is awaited,
    /// `Some(None)` when this channel knows nothing of it.
    pub(super) fn take(&mut self, seq: u64) -> Option<Option<Result<(), Error>>> {
        if let Some(r) = self.done.remove(&seq) {
            return Some(Some(r));
        }
        if self.pending.contains(seq) {
            None
        } else {
            Some(None)
        }
    }

    /// Nobody waits for `seq` any more.
    pub(super) fn abandon(&mut self, seq: u64) {
        if self.done.remove(&seq).is_none() && self.pending.contains(seq) {
            self.abandoned.insert(seq);
        }
    }

    /// Whether publish `seq` has left the core's output for the socket.
    pub(super) fn is_staged(&self, seq: u64) -> bool {
        self.staged >= seq
    }
}
