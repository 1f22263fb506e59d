//! Publisher confirms of one channel: sequence numbers awaiting the broker's
//! answer, a basic.return paired with the ack that follows it, and one
//! outcome per publish.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Instant;

use bytes::Bytes;

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

/// A publish awaiting the broker's answer.
struct Entry {
    /// Its sequence number as the application knows it.
    seq: u64,
    /// The broker's for it on the current connection (they restart at 1 on
    /// a recovered channel); 0 while not sent there.
    wire: u64,
    settle: Settle,
    /// The encoded frames, kept for sending again after a recovery (empty
    /// when recovery is off).
    frames: Bytes,
    /// When it was published (for the confirm timeout).
    at: Instant,
    /// How many times a nack published it again.
    tries: u32,
}

/// Unconfirmed publishes in increasing order of both sequence numbers (the
/// application's are assigned in order, and so are the broker's when they
/// are sent again): a multiple confirm takes them from the front.
#[derive(Default)]
struct Unconfirmed(VecDeque<Entry>);

impl Unconfirmed {
    fn push(&mut self, e: Entry) {
        self.0.push_back(e);
    }

    fn position(&self, seq: u64) -> Option<usize> {
        if self.0.front().is_some_and(|e| e.seq == seq) {
            return Some(0);
        }
        self.0.binary_search_by_key(&seq, |e| e.seq).ok()
    }

    fn position_wire(&self, wire: u64) -> Option<usize> {
        if self.0.front().is_some_and(|e| e.wire == wire) {
            return Some(0);
        }
        self.0.binary_search_by_key(&wire, |e| e.wire).ok()
    }

    fn contains(&self, seq: u64) -> bool {
        self.position(seq).is_some()
    }

    fn remove_wire(&mut self, wire: u64) -> Option<Entry> {
        let i = self.position_wire(wire)?;
        self.0.remove(i)
    }

    fn pop_up_to_wire(&mut self, up_to: u64) -> Option<Entry> {
        match self.0.front() {
            Some(e) if e.wire != 0 && e.wire <= up_to => self.0.pop_front(),
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
    /// Nacked soon after a recovery: to be published again (see
    /// [`RecoveryPolicy::nack_retries`](crate::core::RecoveryPolicy::nack_retries)) ...
    retrying: VecDeque<Entry>,
    /// ... and published again, in the broker's order.
    resent: Unconfirmed,
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
    /// A publish with sequence number `seq` went out at `at` (`wire`: the
    /// broker's number for it, 0 while deferred); `frames` are kept for a
    /// recovery.
    pub(super) fn published(
        &mut self,
        seq: u64,
        wire: u64,
        settle: Settle,
        frames: Bytes,
        at: Instant,
    ) {
        self.queued = seq;
        self.pending.push(Entry {
            seq,
            wire,
            settle,
            frames,
            at,
            tries: 0,
        });
    }

    /// The sequence number the next publish gets.
    pub(super) fn next_seq(&self) -> u64 {
        self.queued + 1
    }

    /// The connection was lost: every unconfirmed publish is to be sent
    /// again (its broker number is unknown until then); a return seen
    /// without its ack is dropped with it.
    pub(super) fn lost(&mut self) {
        self.returned = None;
        if !self.retrying.is_empty() || !self.resent.0.is_empty() {
            let mut all: Vec<Entry> = self.pending.0.drain(..).collect();
            all.extend(self.retrying.drain(..));
            all.extend(self.resent.0.drain(..));
            all.sort_by_key(|e| e.seq);
            self.pending.0 = all.into();
        }
        for e in &mut self.pending.0 {
            e.wire = 0;
        }
    }

    /// Publishes again, with `send`, what nacks left to retry.
    pub(super) fn resend_retrying(&mut self, mut send: impl FnMut(Bytes) -> Option<u64>) {
        while let Some(mut e) = self.retrying.pop_front() {
            match send(e.frames.clone()) {
                Some(wire) => {
                    e.wire = wire;
                    self.resent.push(e);
                }
                None => {
                    self.retrying.push_front(e);
                    break;
                }
            }
        }
    }

    /// Whether nacked publishes wait to be published again.
    pub(super) fn has_retrying(&self) -> bool {
        !self.retrying.is_empty()
    }

    /// When the oldest publish still awaiting its answer went out.
    pub(super) fn oldest(&self) -> Option<Instant> {
        let a = self.pending.0.front().filter(|e| e.wire != 0).map(|e| e.at);
        let b = self.resent.0.iter().map(|e| e.at).min();
        match (a, b) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Publishes sent before `cutoff` and still unanswered fail with
    /// `error` (the confirm timeout).
    pub(super) fn expire(&mut self, cutoff: Instant, error: &Error, events: &mut Vec<Settled>) {
        while self
            .pending
            .0
            .front()
            .is_some_and(|e| e.wire != 0 && e.at <= cutoff)
        {
            if let Some(e) = self.pending.0.pop_front() {
                self.settle(e.seq, e.settle, Err(error.clone()), events);
            }
        }
        let mut i = 0;
        while i < self.resent.0.len() {
            if self.resent.0[i].at <= cutoff {
                if let Some(e) = self.resent.0.remove(i) {
                    self.settle(e.seq, e.settle, Err(error.clone()), events);
                }
            } else {
                i += 1;
            }
        }
    }

    /// Sends every publish not sent on the current connection with `send`,
    /// which gives its broker number; stops at the first `None` (the
    /// channel is not usable).
    pub(super) fn resend(&mut self, mut send: impl FnMut(Bytes) -> Option<u64>) -> usize {
        let mut n = 0;
        for e in self.pending.0.iter_mut().filter(|e| e.wire == 0) {
            match send(e.frames.clone()) {
                Some(wire) => e.wire = wire,
                None => break,
            }
            n += 1;
        }
        n
    }

    /// Rewrites the kept frames of every unsent publish with `f` (a queue
    /// renamed by recovery).
    pub(super) fn rewrite_unsent(&mut self, mut f: impl FnMut(&Bytes) -> Option<Bytes>) {
        for e in self.pending.0.iter_mut().filter(|e| e.wire == 0) {
            if let Some(b) = f(&e.frames) {
                e.frames = b;
            }
        }
    }

    /// Whether answers to earlier publishes are still due.
    pub(super) fn due(&self) -> bool {
        !self.pending.0.is_empty() || !self.resent.0.is_empty()
    }

    /// How many publishes await their answer.
    pub(super) fn outstanding(&self) -> usize {
        self.pending.0.len() + self.retrying.len() + self.resent.0.len()
    }

    /// The broker returned a mandatory message: the ack that follows is its.
    pub(super) fn returned(&mut self, reason: BrokerClose) {
        if self.enabled {
            self.returned = Some(reason);
        }
    }

    /// basic.ack or basic.nack from the broker (its `delivery_tag` is the
    /// broker's number): settles every publish it names; those settled as
    /// events are added to `events`. A nack of a publish tried fewer than
    /// `retry` times keeps it, to be published again. Returns the
    /// application's highest sequence number settled, and whether a nack
    /// was kept for a retry.
    pub(super) fn confirm(
        &mut self,
        delivery_tag: u64,
        multiple: bool,
        ack: bool,
        retry: Option<u32>,
        events: &mut Vec<Settled>,
    ) -> (u64, bool) {
        let returned = self.returned.take();
        let outcome = |wire: u64| match (ack, &returned) {
            (false, _) => Err(Error::Nacked),
            // The return belongs to the message this ack names.
            (true, Some(r)) if wire == delivery_tag => Err(Error::Unroutable(r.clone())),
            (true, _) => Ok(()),
        };
        let mut named = Vec::new();
        if multiple {
            // Tag 0 with multiple: every outstanding publish (basic.ack's
            // multiple field).
            let up_to = if delivery_tag == 0 {
                u64::MAX
            } else {
                delivery_tag
            };
            while let Some(e) = self.pending.pop_up_to_wire(up_to) {
                named.push(e);
            }
            if !self.resent.0.is_empty() {
                while let Some(e) = self.resent.pop_up_to_wire(up_to) {
                    named.push(e);
                }
            }
        } else if let Some(e) = self.pending.remove_wire(delivery_tag) {
            named.push(e);
        } else if let Some(e) = self.resent.remove_wire(delivery_tag) {
            named.push(e);
        }
        let mut highest = 0;
        let mut retried = false;
        for mut e in named {
            if !ack && !e.frames.is_empty() && retry.is_some_and(|max| e.tries < max) {
                e.tries += 1;
                e.wire = 0;
                self.retrying.push_back(e);
                retried = true;
                continue;
            }
            highest = highest.max(e.seq);
            self.settle(e.seq, e.settle, outcome(e.wire), events);
        }
        (highest, retried)
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
        let rest: Vec<Entry> = self
            .retrying
            .drain(..)
            .chain(self.resent.0.drain(..))
            .collect();
        while let Some(e) = self.pending.0.pop_front() {
            self.settle(e.seq, e.settle, Err(error.clone()), events);
        }
        for e in rest {
            self.settle(e.seq, e.settle, Err(error.clone()), events);
        }
    }

    /// Whether publish `seq` awaits its answer.
    fn awaits(&self, seq: u64) -> bool {
        self.pending.contains(seq)
            || self.retrying.iter().any(|e| e.seq == seq)
            || self.resent.0.iter().any(|e| e.seq == seq)
    }

    /// The outcome of publish `seq`, once known: `None` while it is awaited,
    /// `Some(None)` when this channel knows nothing of it.
    pub(super) fn take(&mut self, seq: u64) -> Option<Option<Result<(), Error>>> {
        if let Some(r) = self.done.remove(&seq) {
            return Some(Some(r));
        }
        if self.awaits(seq) {
            None
        } else {
            Some(None)
        }
    }

    /// Nobody waits for `seq` any more.
    pub(super) fn abandon(&mut self, seq: u64) {
        if self.done.remove(&seq).is_none() && self.awaits(seq) {
            self.abandoned.insert(seq);
        }
    }

    /// Whether publish `seq` has left the core's output for the socket.
    pub(super) fn is_staged(&self, seq: u64) -> bool {
        self.staged >= seq
    }
}
