//! Automatic recovery of a lost connection, written once for every adapter.
//!
//! When an open connection fails with an error that a new connection may
//! mend ([`Error::reconnect_may_help`]), the client keeps its channels,
//! consumers, unconfirmed publishes and waiting requests, and asks its
//! adapter for a new stream ([`Client::poll_reconnect`]): endpoints and
//! backoff as [`Reconnecting`] plans them. Once the new connection is
//! open it declares again, in this order:
//!
//! 1. the recorded topology ([`Topology`](super::Topology)), one method at
//!    a time on a channel of its own: exchanges, queues (a server-named one
//!    gets a new name, which its bindings, consumers and unsent publishes
//!    follow), bindings. A refusal skips that entity and is reported
//!    ([`RecoveryEvent::Refused`]), unless the policy aborts; a queue
//!    whose home node is down (404) or still locked by the old connection
//!    (405) makes the attempt fail, and the recovery tries again after a
//!    backoff;
//! 2. each channel under its own number (handles stay valid), its QoS,
//!    confirm and transaction modes, its consumers under their tags (a
//!    stream consumer from the offset after the last one acknowledged),
//!    the requests that were waiting (declares, binds, QoS; others in
//!    flight failed with [`Error::ConnectionRecovered`]), the unconfirmed
//!    publishes (their confirmations resolve from the new ones), and the
//!    publishes made meanwhile.
//!
//! Delivery tags keep increasing across it (see `tags`); a fault in the
//! middle of it is one more failed attempt.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use amqp_protocol::{basic, Method, ReplyCode, ShortStr};

use super::{ChannelRef, Client, ConsumerId, Event, Kind, Ready, Reply};
use crate::core::{
    Config, Connection, ReconnectAttempt, Reconnecting, RecoveryPolicy, RequestId, Tuning,
};
use crate::error::Error;
use crate::params::{ConnectionParameters, Endpoints};

/// What recovery reports, as an event of each adapter and a `tracing`
/// event.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RecoveryEvent {
    /// The connection was lost; recovery starts.
    Started {
        /// Why the connection was lost.
        cause: Error,
    },
    /// An attempt to reconnect starts.
    Attempt {
        /// The endpoint tried (`host:port`).
        endpoint: String,
        /// Which attempt of this recovery, from 1.
        attempt: u32,
    },
    /// An attempt failed; another follows after a backoff.
    AttemptFailed {
        /// The endpoint tried.
        endpoint: String,
        /// Why.
        error: Error,
    },
    /// The connection, its topology, channels and consumers are back.
    Recovered {
        /// The endpoint now connected to.
        endpoint: String,
        /// Since the connection was lost.
        took: Duration,
    },
    /// Recovery gave up (a limit of the policy, refused credentials, or a
    /// refused entity with `abort_on_refusal`); the connection is closed
    /// with this error, which lists every attempt's failure.
    GaveUp {
        /// Why.
        error: Error,
    },
    /// A server-named queue was declared again under a new name: its
    /// bindings, consumers and the publishes routed to it by name follow.
    QueueRenamed {
        /// The name it had.
        old: String,
        /// The name it has now.
        new: String,
    },
    /// The broker refused to declare a recorded entity again: it was
    /// skipped, and forgotten.
    Refused {
        /// What was refused (`queue.declare orders`, ...).
        entity: String,
        /// The broker's answer.
        error: Error,
    },
}

/// The recovery of one client: its policy and endpoints, and the run in
/// progress.
pub(super) struct Recovery {
    pub(super) policy: RecoveryPolicy,
    pub(super) endpoints: Endpoints,
    /// The endpoint connected to.
    pub(super) endpoint: usize,
    pub(super) seed: u64,
    pub(super) run: Option<Run>,
}

/// One recovery, from the loss to the end.
pub(super) struct Run {
    pub(super) cause: Error,
    pub(super) lost_at: Instant,
    pub(super) reconnecting: Option<Reconnecting>,
    pub(super) attempt: Option<ReconnectAttempt>,
    pub(super) phase: Phase,
    /// Topology still to declare, in order.
    pub(super) topology: VecDeque<Topo>,
    /// The frame-max publishes made meanwhile are encoded for.
    pub(super) frame_max: u32,
    /// When the replay of this attempt must be done by (a broker that
    /// accepts the connection but does not answer would hold it forever).
    pub(super) replay_deadline: Option<Instant>,
    /// Why this attempt is being closed: retried after a backoff.
    pub(super) retry: Option<Error>,
    /// Why the recovery is being abandoned.
    pub(super) abort: Option<Error>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    /// Waiting for the adapter to ask for the next attempt.
    Idle,
    /// The adapter connects the stream.
    Dialing,
    /// The new connection's handshake.
    Handshake,
    /// Declaring the topology again.
    Topology,
    /// Opening the channels again; the application's commands go to the
    /// wire from here on.
    Channels,
}

/// One topology method to replay, with the server-named queue it declares.
pub(super) struct Topo {
    pub(super) method: Method,
    pub(super) renames: Option<ShortStr>,
}

#[derive(Debug)]
pub(super) enum Step {
    ReplayOpen,
    Topology(Method, Option<ShortStr>),
    /// channel.open of this channel number.
    Open(u16),
    /// A setting of a channel (QoS, confirm, transaction mode).
    Channel,
    Consume(ConsumerId),
}

/// How much of the old name to match: a server-named queue's name.
pub(super) fn entity(method: &Method) -> String {
    let name = match method {
        Method::ExchangeDeclare(d) => d.exchange.to_string_lossy().into_owned(),
        Method::QueueDeclare(d) => d.queue.to_string_lossy().into_owned(),
        Method::QueueBind(b) => format!(
            "{} to {} with {:?}",
            b.queue.to_string_lossy(),
            b.exchange.to_string_lossy(),
            b.routing_key.to_string_lossy()
        ),
        Method::ExchangeBind(b) => format!(
            "{} to {} with {:?}",
            b.destination.to_string_lossy(),
            b.source.to_string_lossy(),
            b.routing_key.to_string_lossy()
        ),
        _ => String::new(),
    };
    format!("{} {name}", method.name())
}

/// Whether the broker's refusal is worth another attempt rather than a
/// skip: the queue's home node is down (404 with RabbitMQ's wording), or
/// an exclusive queue is still held by the old connection (405).
pub(super) fn transient(error: &Error) -> bool {
    match error {
        Error::ChannelClosedByBroker { close, .. } => {
            close.code == ReplyCode::RESOURCE_LOCKED
                || (close.code == ReplyCode::NOT_FOUND && close.text.contains("home node"))
        }
        _ => false,
    }
}

/// Whether a request in flight when the connection was lost is sent again
/// on the recovered one: what declaring twice does not change.
pub(super) fn resendable(method: &Method) -> bool {
    matches!(
        method,
        Method::ExchangeDeclare(_)
            | Method::QueueDeclare(_)
            | Method::QueueBind(_)
            | Method::QueueUnbind(_)
            | Method::ExchangeBind(_)
            | Method::ExchangeUnbind(_)
            | Method::BasicQos(_)
            | Method::ConfirmSelect(_)
            | Method::TxSelect(_)
    )
}

impl Recovery {
    pub(super) fn new(policy: RecoveryPolicy, endpoints: Endpoints, endpoint: usize) -> Self {
        // Any value that differs between clients keeps their backoffs apart.
        let seed = std::process::id() as u64 ^ (&policy as *const RecoveryPolicy as usize as u64);
        Recovery {
            policy,
            endpoints,
            endpoint,
            seed,
            run: None,
        }
    }

    pub(super) fn endpoint_name(&self, index: usize) -> String {
        self.endpoints
            .get(index)
            .map(|p| format!("{}:{}", p.host(), p.port()))
            .unwrap_or_default()
    }
}

impl Client {
    /// Recovers this connection, once it is open and then lost, over
    /// `endpoints` (connected now to endpoint `connected`), as the
    /// [`Config::recovery`] policy says (nothing when it is `None`). An
    /// adapter calls it once its first connection opened.
    pub fn set_endpoints(&mut self, endpoints: Endpoints, connected: usize) {
        if let Some(policy) = self.wire.config.recovery.clone() {
            self.recovery = Some(Recovery::new(policy, endpoints, connected));
        }
    }

    /// Whether the connection is being recovered (lost, not yet back).
    pub fn is_recovering(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.run.is_some())
    }

    /// While recovering, until the channels are being opened again: the
    /// application's commands wait in the client.
    pub(super) fn deferring(&self) -> bool {
        self.recovery
            .as_ref()
            .and_then(|r| r.run.as_ref())
            .is_some_and(|r| r.phase != Phase::Channels)
    }

    /// Whether publishes in confirm mode keep their frames, to be sent
    /// again after a recovery.
    pub(super) fn keeps_publishes(&self) -> bool {
        self.recovery.as_ref().is_some_and(|r| r.policy.republish)
    }

    /// The recovery policy, when recovery is on.
    pub fn recovery_policy(&self) -> Option<&RecoveryPolicy> {
        self.recovery.as_ref().map(|r| &r.policy)
    }

    /// The next reconnection attempt of a recovery, once per attempt: the
    /// adapter waits until `at`, connects to the endpoint's parameters
    /// ([`reconnect_params`](Self::reconnect_params)) within `deadline`, then
    /// calls [`reconnected`](Self::reconnected) or
    /// [`reconnect_failed`](Self::reconnect_failed). `None` while no attempt
    /// is due (not recovering, or one is under way); when the recovery gives
    /// up the connection closes ([`Event::Closed`]).
    pub fn poll_reconnect(&mut self, now: Instant) -> Option<ReconnectAttempt> {
        let rec = self.recovery.as_mut()?;
        let seed = rec.seed;
        let (endpoints, endpoint, policy) = (rec.endpoints.clone(), rec.endpoint, &rec.policy);
        let run = rec.run.as_mut()?;
        if run.phase != Phase::Idle {
            return None;
        }
        let reconnecting = run.reconnecting.get_or_insert_with(|| {
            Reconnecting::new(endpoints, endpoint, policy.clone(), run.lost_at, seed)
        });
        match reconnecting.next_attempt(now) {
            Some(a) => {
                run.attempt = Some(a);
                run.phase = Phase::Dialing;
                let n = reconnecting.attempts();
                let name = rec.endpoint_name(a.endpoint);
                tracing::info!(endpoint = %name, attempt = n, "recovery: connecting");
                self.out.event(Event::Recovery(RecoveryEvent::Attempt {
                    endpoint: name,
                    attempt: n,
                }));
                Some(a)
            }
            None => {
                let error = reconnecting
                    .error()
                    .cloned()
                    .unwrap_or_else(|| run.cause.clone());
                self.give_up(error);
                None
            }
        }
    }

    /// The parameters of endpoint `index` of a [`ReconnectAttempt`].
    pub fn reconnect_params(&self, index: usize) -> Option<&ConnectionParameters> {
        self.recovery.as_ref()?.endpoints.get(index)
    }

    /// The stream of the attempt [`poll_reconnect`](Self::poll_reconnect)
    /// handed out is connected (to `peer`): the new connection's handshake
    /// starts ([`poll_transmit`](Self::poll_transmit) has its protocol
    /// header), bounded by the attempt's deadline.
    pub fn reconnected(&mut self, peer: Option<SocketAddr>, now: Instant) {
        self.now = now;
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let Some(run) = rec.run.as_mut().filter(|r| r.phase == Phase::Dialing) else {
            return;
        };
        let Some(a) = run.attempt else { return };
        let Some(params) = rec.endpoints.get(a.endpoint) else {
            return;
        };
        let mut config = Config::from_params(params);
        // The policy in force is the one the connection was opened with.
        config.recovery = self.wire.config.recovery.clone();
        config.peer_address = peer;
        config.handshake_timeout = Some(a.deadline.saturating_duration_since(now));
        let mut wire = Connection::new(config, now);
        wire.continue_after(&self.wire);
        self.wire = wire;
        run.phase = Phase::Handshake;
    }

    /// The stream of the attempt handed out could not be connected.
    pub fn reconnect_failed(&mut self, error: Error, now: Instant) {
        self.now = now;
        if let Some(run) = self.run_mut() {
            if run.phase == Phase::Dialing {
                self.attempt_failed(error);
            }
        }
    }

    pub(super) fn run_mut(&mut self) -> Option<&mut Run> {
        self.recovery.as_mut()?.run.as_mut()
    }

    /// Whether the loss of the connection with `error` starts (or is part
    /// of) a recovery rather than closing the client.
    pub(super) fn recovers_from(&self, error: &Error) -> bool {
        let Some(rec) = &self.recovery else {
            return false;
        };
        if rec.run.is_some() {
            return true;
        }
        self.connected
            && self.closed.is_none()
            && error.reconnect_may_help()
            && !matches!(
                error,
                Error::ChannelClosedByBroker { .. } | Error::ConnectionClosedByClient
            )
    }

    /// A channel of the lost connection: it stays, to be opened again; of
    /// what waited on it, what declaring again does not change waits on,
    /// the rest fails.
    pub(super) fn channel_lost(&mut self, number: u16, failed: Vec<RequestId>) {
        if self.replay_channel == Some(number) {
            self.replay_channel = None;
        }
        let channel = self.current(number);
        for r in failed {
            self.request_lost(r);
        }
        if let Some(c) = self.channels.get_mut(&number) {
            c.open = false;
            c.flow_active = true;
            c.tags.reopened();
            if c.settings.transactional && c.tx_dirty {
                c.tx_lost = true;
            }
            c.tx_dirty = false;
            c.stream_tags.clear();
            c.confirms.lost();
        }
        // Deliveries not yet taken of consumers that acknowledge went back
        // to their queues with the connection: their tags could not be
        // acknowledged any more.
        for id in self.consumers.of_channel(channel) {
            let Some(c) = self.consumers.get_mut(id) else {
                continue;
            };
            c.active = false;
            if c.orphaned {
                self.forget(id);
            } else if !c.no_ack {
                self.consumers.drain(id);
            }
        }
        let consumers = &self.consumers;
        let before = self.out.events.len();
        let mut dropped = Vec::new();
        self.out.events.retain(|(_, e)| match e {
            Event::Delivery {
                channel: ch,
                consumer,
                delivery,
            } if *ch == channel && consumers.get(*consumer).is_some_and(|c| !c.no_ack) => {
                dropped.push(delivery.body.len());
                false
            }
            _ => true,
        });
        debug_assert_eq!(before - self.out.events.len(), dropped.len());
        for len in dropped {
            self.out.held.count -= 1;
            self.out.held.bytes -= len;
        }
    }

    /// A request that was in flight on the lost connection.
    fn request_lost(&mut self, request: RequestId) {
        if self.replay_steps.remove(&request).is_some() {
            // The replay's own: the attempt failed.
            return;
        }
        let Some(r) = self.requests.get(&request) else {
            return;
        };
        match r.kind {
            Kind::Open | Kind::Consume(_) => {}
            Kind::Cancel { .. } => {
                // The consumer went with the connection: it is not
                // registered again.
                let tag = match r.kind {
                    Kind::Cancel {
                        consumer: Some(id), ..
                    } => self.consumers.get(id).map(|c| c.tag.clone()),
                    _ => None,
                };
                let ok = basic::CancelOk {
                    consumer_tag: tag.unwrap_or_default(),
                };
                self.complete(request, Ok(Reply::Method(ok.into(), None)));
            }
            _ => {
                let keep = r.method.as_ref().is_some_and(resendable);
                if !keep {
                    let method = r.name;
                    self.complete(request, Err(Error::ConnectionRecovered { method }));
                }
            }
        }
    }

    /// The connection was lost with `cause` (its channels were handled by
    /// [`channel_lost`](Self::channel_lost)): recovery starts, or this
    /// attempt failed.
    pub(super) fn connection_lost(&mut self, cause: Error) {
        let running = self.recovery.as_ref().is_some_and(|r| r.run.is_some());
        // Requests of channel 0 (update-secret) in flight.
        let lost: Vec<RequestId> = self
            .requests
            .iter()
            .filter(|(_, r)| r.outcome.is_none() && r.channel.number == 0 && !r.deferred)
            .map(|(id, _)| *id)
            .collect();
        for r in lost {
            self.request_lost(r);
        }
        if running {
            self.attempt_failed(cause);
            return;
        }
        let frame_max = self.wire.tuning().frame_max;
        tracing::warn!(error = %cause, "connection lost: recovering");
        let policy_republishes = self.keeps_publishes();
        if let Some(rec) = self.recovery.as_mut() {
            rec.run = Some(Run {
                cause: cause.clone(),
                lost_at: self.now,
                reconnecting: None,
                attempt: None,
                phase: Phase::Idle,
                topology: VecDeque::new(),
                frame_max,
                replay_deadline: None,
                retry: None,
                abort: None,
            });
        }
        if !policy_republishes {
            let numbers: Vec<u16> = self.channels.keys().copied().collect();
            for n in numbers {
                let channel = self.current(n);
                if let Some(c) = self.channels.get_mut(&n) {
                    c.confirms
                        .fail_all(&Error::PublishOutcomeUnknown, &mut self.settled);
                    self.out.ready(Ready::Confirms {
                        channel,
                        up_to: u64::MAX,
                        multiple: true,
                    });
                }
                self.report_settled(channel);
            }
        }
        self.out
            .event(Event::Recovery(RecoveryEvent::Started { cause }));
        self.out.ready(Ready::State);
    }

    /// The current attempt failed with `error` (the stream, the handshake,
    /// or the replay).
    pub(super) fn attempt_failed(&mut self, error: Error) {
        let now = self.now;
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let Some(run) = rec.run.as_mut() else { return };
        if let Some(abort) = run.abort.take() {
            return self.give_up(abort);
        }
        let error = run.retry.take().unwrap_or(error);
        let attempt = run.attempt;
        run.phase = Phase::Idle;
        run.replay_deadline = None;
        self.replay_steps.clear();
        run.topology.clear();
        if let Some(r) = run.reconnecting.as_mut() {
            r.failed(error.clone(), now);
        }
        let endpoint = attempt.map(|a| rec.endpoint_name(a.endpoint));
        tracing::warn!(endpoint = endpoint.as_deref().unwrap_or(""), error = %error, "recovery: attempt failed");
        self.replay_channel = None;
        // What the replay had opened is lost again.
        let numbers: Vec<u16> = self.channels.keys().copied().collect();
        for n in numbers {
            let channel = self.current(n);
            if let Some(c) = self.channels.get_mut(&n) {
                if c.closed.is_none() {
                    c.open = false;
                    c.confirms.lost();
                }
            }
            for id in self.consumers.of_channel(channel) {
                if let Some(c) = self.consumers.get_mut(id) {
                    c.active = false;
                }
            }
        }
        self.out
            .event(Event::Recovery(RecoveryEvent::AttemptFailed {
                endpoint: endpoint.unwrap_or_default(),
                error,
            }));
        self.out.ready(Ready::State);
    }

    /// Recovery is over without a connection: everything waiting fails with
    /// `error`, as when a connection closes.
    pub(super) fn give_up(&mut self, error: Error) {
        tracing::error!(error = %error, "recovery gave up");
        if let Some(rec) = self.recovery.as_mut() {
            rec.run = None;
        }
        self.deferred.clear();
        self.deferred_held = Default::default();
        self.out.event(Event::Recovery(RecoveryEvent::GaveUp {
            error: error.clone(),
        }));
        self.closed_for_good(error);
    }

    /// The replay's deadline, while one runs.
    pub(super) fn replay_deadline(&self) -> Option<Instant> {
        self.recovery.as_ref()?.run.as_ref()?.replay_deadline
    }

    /// Past the replay's deadline: this attempt ends (the connection is
    /// closed), and the recovery tries again after a backoff.
    pub(super) fn check_replay_deadline(&mut self, now: Instant) {
        let Some(deadline) = self.replay_deadline() else {
            return;
        };
        if now < deadline || !self.wire.is_open() {
            return;
        }
        let endpoint = self.wire.config.endpoint.clone();
        let address = self.wire.config.peer_address;
        tracing::warn!(
            endpoint = endpoint.as_deref().unwrap_or(""),
            "recovery: the broker did not answer the replay in time"
        );
        if let Some(run) = self.run_mut() {
            run.replay_deadline = None;
            run.retry = Some(Error::HandshakeTimeout { endpoint, address });
        }
        self.wire
            .close(ReplyCode::REPLY_SUCCESS, "recovery timed out", now);
        self.absorb();
    }

    /// Ends a recovery in progress with `error`, as if it had given up
    /// (the adapter can no longer dial: its task stopped).
    pub fn abort_recovery(&mut self, error: Error) {
        if self.is_recovering() {
            self.give_up(error);
        }
    }

    /// The application closed the connection while it was being recovered.
    /// With a new connection already under way (its handshake or its
    /// replay), that one is closed properly (connection.close, then
    /// close-ok), and its end is the client's.
    pub(super) fn stop_recovery(&mut self, now: Instant) -> bool {
        if !self.is_recovering() {
            return false;
        }
        if let Some(rec) = self.recovery.as_mut() {
            rec.run = None;
        }
        self.replay_steps.clear();
        self.deferred.clear();
        self.deferred_held = Default::default();
        if self.wire.is_closed() {
            self.closed_for_good(Error::ConnectionClosedByClient);
        } else {
            self.wire
                .close(ReplyCode::REPLY_SUCCESS, "Normal shutdown", now);
            self.absorb();
        }
        true
    }

    /// A command submitted while the connection is being recovered: it
    /// waits in the client and is sent once its channel is open again.
    pub(super) fn defer_call(
        &mut self,
        channel: ChannelRef,
        method: Method,
        kind: Kind,
    ) -> RequestId {
        let request = self.wire.reserve_request();
        self.requests.insert(
            request,
            super::Request {
                channel,
                kind,
                outcome: None,
                abandoned: false,
                name: method.name(),
                method: Some(method),
                deferred: true,
            },
        );
        request
    }

    /// The tuning of the connection in use (or of the lost one).
    pub(super) fn last_tuning(&self) -> Tuning {
        self.wire.tuning()
    }
}
