//! Publishes around a recovery: those made while the connection is being
//! recovered wait in a bounded buffer; nacks soon after a recovery are
//! retried (on the channel opened again, where RabbitMQ needs it); and the
//! optional confirm timeout.

use std::time::Instant;

use amqp_protocol::{basic, encode_content, Method, ReplyCode};
use bytes::BytesMut;

use super::{ChannelRef, Client, Kind, Ready};
use crate::core::RequestId;
use crate::error::Error;

impl Client {
    /// How many times a nack may publish a message again: within the
    /// policy's window after a recovery (a quorum queue electing its
    /// leader nacks for a while), none otherwise.
    pub(super) fn nack_retries(&self) -> Option<u32> {
        let rec = self.recovery.as_ref()?;
        let at = self.recovered_at?;
        (rec.policy.republish
            && self.now.saturating_duration_since(at) < rec.policy.nack_retry_window)
            .then_some(rec.policy.nack_retries)
    }

    /// Nacked publishes wait to be published again: after a backoff that
    /// doubles with each retry of this window.
    pub(super) fn schedule_nack_retry(&mut self) {
        let Some(rec) = self.recovery.as_ref() else {
            return;
        };
        let backoff = rec
            .policy
            .nack_retry_delay
            .saturating_mul(1 << self.nack_retries_made.min(8))
            .min(rec.policy.max_delay);
        self.nack_retries_made += 1;
        let at = self.now + backoff;
        self.nack_retry_at = Some(self.nack_retry_at.map_or(at, |t| t.min(at)));
    }

    /// Time-driven publisher work: nacked publishes published again, and
    /// publishes unanswered past the confirm timeout failed.
    pub(super) fn publish_timers(&mut self, now: Instant) {
        if self.nack_retry_at.is_some_and(|t| t <= now) && self.wire.is_open() {
            self.nack_retry_at = None;
            let mut numbers: Vec<u16> = self
                .channels
                .iter()
                .filter(|(_, c)| c.closed.is_none() && c.confirms.has_retrying())
                .map(|(n, _)| *n)
                .collect();
            numbers.sort_unstable();
            for n in numbers {
                self.retry_nacked(n);
            }
        }
        if let Some(timeout) = self.wire.config.confirm_timeout {
            let Some(cutoff) = now.checked_sub(timeout) else {
                return;
            };
            let error = Error::ConfirmTimeout { after: timeout };
            let numbers: Vec<u16> = self
                .channels
                .iter()
                .filter(|(_, c)| c.confirms.oldest().is_some_and(|t| t <= cutoff))
                .map(|(n, _)| *n)
                .collect();
            for n in numbers {
                let channel = self.current(n);
                if let Some(c) = self.channels.get_mut(&n) {
                    c.confirms.expire(cutoff, &error, &mut self.settled);
                    self.out.ready(Ready::Confirms {
                        channel,
                        up_to: u64::MAX,
                        multiple: true,
                    });
                }
                self.report_settled(channel);
            }
        }
    }

    /// Publishes the nacked publishes of channel `n` again. RabbitMQ 3.10
    /// keeps a channel's quorum-queue client on the leader it first knew:
    /// when that node is gone, the channel's publishes to the queue are
    /// nacked for as long as the channel lives, while a new channel's are
    /// confirmed. So a channel without consumers is closed and opened
    /// again under the same handle (its settings and waiting requests
    /// with it), and the nacked publishes go out on the new one; a channel
    /// with consumers (which the reopening would redeliver) publishes them
    /// again as it is.
    fn retry_nacked(&mut self, n: u16) {
        let channel = self.current(n);
        let has_consumers = !self.consumers.of_channel(channel).is_empty();
        let Some(c) = self.channels.get_mut(&n) else {
            return;
        };
        if has_consumers || c.closing_to_reopen || !c.open {
            let wire = &mut self.wire;
            c.confirms
                .resend_retrying(|frames| wire.publish_frames(n, frames).ok().flatten());
            return;
        }
        tracing::info!(
            channel = n,
            "the broker nacks the channel's publishes: reopening it"
        );
        c.closing_to_reopen = true;
        c.open = false;
        if self
            .wire
            .close_channel(
                n,
                ReplyCode::REPLY_SUCCESS,
                "reopened: its publishes were nacked",
            )
            .is_err()
        {
            if let Some(c) = self.channels.get_mut(&n) {
                c.closing_to_reopen = false;
            }
        }
    }

    /// The close-ok of a channel closed to be opened again: it is opened
    /// again, as a recovery opens a channel.
    pub(super) fn reopen(&mut self, number: u16, failed: Vec<RequestId>) {
        self.channel_lost(number, failed);
        if let Some(c) = self.channels.get_mut(&number) {
            c.closing_to_reopen = false;
        }
        let channel = self.current(number);
        let mut waiting: Vec<(RequestId, ChannelRef, Kind)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.outcome.is_none() && r.channel == channel)
            .map(|(id, r)| (*id, r.channel, r.kind))
            .collect();
        waiting.sort_by_key(|(id, _, _)| id.0);
        if let Err(e) = self.replay_channel_open(channel, &waiting) {
            tracing::warn!(channel = number, error = %e, "the channel could not be opened again");
        }
        for (id, _, _) in &waiting {
            if let Some(r) = self.requests.get_mut(id) {
                r.deferred = false;
            }
        }
    }

    /// The next time [`publish_timers`](Self::publish_timers) has work.
    pub(super) fn publish_deadline(&self) -> Option<Instant> {
        let timeout = self.wire.config.confirm_timeout.and_then(|t| {
            self.channels
                .values()
                .filter_map(|c| c.confirms.oldest())
                .min()
                .map(|oldest| oldest + t)
        });
        match (self.nack_retry_at, timeout) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// A publish made while the connection is being recovered: it waits in
    /// the client, within the policy's bound.
    pub(super) fn defer_publish(
        &mut self,
        channel: ChannelRef,
        method: basic::Publish,
        properties: &amqp_protocol::BasicProperties,
        body: &[u8],
        settle: super::Settle,
    ) -> Result<Option<u64>, Error> {
        let Some(rec) = self.recovery.as_ref() else {
            return Err(Error::Recovering);
        };
        let policy = &rec.policy;
        let frame_max = rec
            .run
            .as_ref()
            .map_or(self.wire.tuning().frame_max, |r| r.frame_max);
        let bounded = rec.run.is_some();
        let number = channel.number;
        let mut buf = BytesMut::new();
        encode_content(
            &mut buf,
            number,
            &Method::BasicPublish(method),
            properties,
            body,
            frame_max,
        );
        if bounded {
            // (A channel being reopened holds publishes for one round
            // trip: not counted.)
            if self.deferred_held.count >= policy.publish_buffer_messages
                || self.deferred_held.bytes + buf.len() > policy.publish_buffer_bytes
            {
                return Err(Error::Recovering);
            }
            self.deferred_held.count += 1;
            self.deferred_held.bytes += buf.len();
        }
        let frames = buf.freeze();
        let Some(c) = self.channels.get_mut(&number) else {
            return Err(Error::ChannelClosedByClient { channel: number });
        };
        if c.confirms.enabled {
            let seq = c.confirms.next_seq();
            c.confirms.published(seq, 0, settle, frames, self.now);
            Ok(Some(seq))
        } else {
            self.deferred.push_back((number, frames));
            Ok(None)
        }
    }

    /// Whether a publish now would fail with [`Error::Recovering`] for lack
    /// of room: a publisher may wait for [`Ready::State`] and try again.
    pub fn recovery_buffer_full(&self) -> bool {
        let Some(rec) = &self.recovery else {
            return false;
        };
        self.deferring()
            && (self.deferred_held.count >= rec.policy.publish_buffer_messages
                || self.deferred_held.bytes >= rec.policy.publish_buffer_bytes)
    }

    /// For a publisher that found the recovery's buffer full
    /// ([`Error::Recovering`]) at `since` (set on its first call): until
    /// when it may wait for room ([`RecoveryPolicy::publish_wait`](crate::core::RecoveryPolicy::publish_wait)),
    /// or `None` once that has passed.
    pub fn publish_wait(&self, since: &mut Option<Instant>, now: Instant) -> Option<Instant> {
        let wait = self
            .recovery
            .as_ref()
            .map_or(std::time::Duration::ZERO, |r| r.policy.publish_wait);
        let deadline = *since.get_or_insert(now) + wait;
        (now < deadline).then_some(deadline)
    }
}
