//! The replay of a recovery (see [`recovery`](super::recovery)): the
//! topology declared again one method at a time on a channel of its own,
//! then each channel opened again under its number with its settings,
//! consumers, waiting requests and publishes.

use std::collections::VecDeque;
use std::time::Duration;

use amqp_protocol::{basic, confirm, encode_content, tx, FieldValue, Method, ReplyCode, ShortStr};
use bytes::{Bytes, BytesMut};

use super::recovery::{entity, transient, Phase, RecoveryEvent, Step, Topo};
use super::{ChannelRef, Client, Event, Kind, Ready, Reply};
use crate::core::RequestId;
use crate::error::Error;

impl Client {
    /// The handshake of a recovery's connection completed: the topology is
    /// declared again, then the channels are opened again.
    pub(super) fn reconnected_handshake(&mut self) {
        let steps = self.topology_steps();
        let (now, timeout) = (
            self.now,
            self.recovery
                .as_ref()
                .map_or(Duration::ZERO, |r| r.policy.attempt_timeout),
        );
        let Some(run) = self.run_mut() else { return };
        run.phase = Phase::Topology;
        run.topology = steps;
        run.replay_deadline = Some(now + timeout);
        if run.topology.is_empty() {
            // Nothing recorded: no channel of its own for it.
            return self.replay_channels();
        }
        let number = self.free_channel_number();
        let Some(number) = number else {
            return self.replay_channels();
        };
        let request = self.wire.reserve_request();
        if self.wire.open_as(number, request).is_err() {
            return self.replay_channels();
        }
        self.replay_channel = Some(number);
        self.replay_steps.insert(request, Step::ReplayOpen);
        self.next_topology();
    }

    /// The recorded topology as replay steps.
    fn topology_steps(&self) -> VecDeque<Topo> {
        let t = &self.topology;
        let mut steps = VecDeque::new();
        for e in t.exchanges() {
            steps.push_back(Topo {
                method: e.clone().into(),
                renames: None,
            });
        }
        for q in t.queues() {
            let mut d = q.declare.clone();
            let renames = q.server_named.then(|| q.name.clone());
            if q.server_named {
                d.queue = ShortStr::default();
            }
            steps.push_back(Topo {
                method: d.into(),
                renames,
            });
        }
        for b in t.exchange_bindings() {
            steps.push_back(Topo {
                method: b.clone().into(),
                renames: None,
            });
        }
        for b in t.queue_bindings() {
            steps.push_back(Topo {
                method: b.clone().into(),
                renames: None,
            });
        }
        steps
    }

    /// A channel number for the replay: the highest the broker allows that
    /// no channel of the application holds.
    fn free_channel_number(&self) -> Option<u16> {
        let max = match self.wire.tuning().channel_max {
            0 => u16::MAX,
            m => m,
        };
        (1..=max).rev().find(|n| !self.channels.contains_key(n))
    }

    /// Sends the next topology method, or goes on to the channels.
    fn next_topology(&mut self) {
        let (Some(number), Some(run)) = (self.replay_channel, self.run_mut()) else {
            return self.replay_channels();
        };
        let Some(step) = run.topology.pop_front() else {
            let _ = self
                .wire
                .close_channel(number, ReplyCode::REPLY_SUCCESS, "recovered");
            return self.replay_channels();
        };
        let request = self.wire.reserve_request();
        match self.wire.call_as(number, step.method.clone(), request) {
            Ok(()) => {
                self.replay_steps
                    .insert(request, Step::Topology(step.method, step.renames));
            }
            Err(_) => self.next_topology(),
        }
    }

    /// The outcome of `request` if it is one of the replay's own (true);
    /// false otherwise.
    pub(super) fn run_step_done(
        &mut self,
        request: RequestId,
        outcome: &Result<Reply, Error>,
    ) -> bool {
        let Some(step) = self.replay_steps.remove(&request) else {
            return false;
        };
        match (step, outcome) {
            (Step::ReplayOpen, _) => {}
            (Step::Topology(_, renames), Ok(reply)) => {
                if let (Some(old), Reply::Method(Method::QueueDeclareOk(ok), _)) = (renames, reply)
                {
                    if ok.queue != old {
                        let new = ok.queue.clone();
                        self.rename_queue(&old, &new);
                    }
                }
                self.next_topology();
            }
            (Step::Topology(method, _), Err(error)) => self.topology_refused(method, error.clone()),
            (Step::Open(number), Ok(_)) => {
                if let Some(c) = self.channels.get_mut(&number) {
                    c.open = true;
                }
            }
            (Step::Open(_) | Step::Channel, _) | (Step::Consume(_), Ok(_)) => {}
            (Step::Consume(id), Err(error)) => {
                if let Some(c) = self.consumers.get(id) {
                    let entity = format!("basic.consume {}", c.queue_name.to_string_lossy());
                    self.out.event(Event::Recovery(RecoveryEvent::Refused {
                        entity,
                        error: error.clone(),
                    }));
                }
            }
        }
        self.maybe_recovered();
        true
    }

    /// The broker refused to declare `method` again with `error`.
    fn topology_refused(&mut self, method: Method, error: Error) {
        if !matches!(error, Error::ChannelClosedByBroker { .. }) {
            // The connection went: that is the attempt's failure.
            return;
        }
        let abort = self
            .recovery
            .as_ref()
            .is_some_and(|r| r.policy.abort_on_refusal);
        if transient(&error) || abort {
            tracing::warn!(entity = %entity(&method), error = %error, "recovery: refused, trying again later");
            if let Some(run) = self.run_mut() {
                if abort && !transient(&error) {
                    run.abort = Some(error);
                } else {
                    run.retry = Some(error);
                }
            }
            self.wire
                .close(ReplyCode::REPLY_SUCCESS, "recovery retries", self.now);
            return;
        }
        let what = entity(&method);
        tracing::warn!(entity = %what, error = %error, "recovery: refused, skipped");
        self.topology.forget(&method);
        self.out.event(Event::Recovery(RecoveryEvent::Refused {
            entity: what,
            error,
        }));
        // The refusal closed the replay's channel: open it again.
        let Some(number) = self.replay_channel else {
            return self.replay_channels();
        };
        let request = self.wire.reserve_request();
        if self.wire.open_as(number, request).is_err() {
            return self.replay_channels();
        }
        self.replay_steps.insert(request, Step::ReplayOpen);
        self.next_topology();
    }

    /// The broker gave server-named queue `old` the name `new`.
    fn rename_queue(&mut self, old: &ShortStr, new: &ShortStr) {
        tracing::info!(old = %old, new = %new, "recovery: server-named queue renamed");
        self.topology.rename_queue(old, new);
        if let Some(run) = self.run_mut() {
            for t in run.topology.iter_mut() {
                if let Method::QueueBind(b) = &mut t.method {
                    if b.queue == *old {
                        b.queue = new.clone();
                    }
                }
            }
        }
        self.consumers.rename_queue(old, new);
        let frame_max = self.wire.tuning().frame_max;
        let rewrite = |frames: &Bytes| reroute(frames, old, new, frame_max);
        for c in self.channels.values_mut() {
            c.confirms.rewrite_unsent(rewrite);
        }
        for (_, frames) in self.deferred.iter_mut() {
            if let Some(b) = rewrite(frames) {
                *frames = b;
            }
        }
        self.out.event(Event::Recovery(RecoveryEvent::QueueRenamed {
            old: old.to_string_lossy().into_owned(),
            new: new.to_string_lossy().into_owned(),
        }));
    }

    /// The topology is back: each channel is opened again with its
    /// settings, consumers, waiting requests and publishes.
    fn replay_channels(&mut self) {
        let Some(run) = self.run_mut() else { return };
        run.phase = Phase::Channels;
        let mut numbers: Vec<u16> = self
            .channels
            .iter()
            .filter(|(_, c)| c.closed.is_none())
            .map(|(n, _)| *n)
            .collect();
        numbers.sort_unstable();
        let mut waiting: Vec<(RequestId, ChannelRef, Kind)> = self
            .requests
            .iter()
            .filter(|(_, r)| r.outcome.is_none())
            .map(|(id, r)| (*id, r.channel, r.kind))
            .collect();
        waiting.sort_by_key(|(id, _, _)| id.0);
        for number in numbers {
            let channel = self.current(number);
            if self.replay_channel_open(channel, &waiting).is_err() {
                continue;
            }
        }
        // Commands of the connection itself (update-secret).
        for (id, channel, _) in &waiting {
            if channel.number == 0 {
                if let Some(m) = self.requests.get(id).and_then(|r| r.method.clone()) {
                    let _ = self.wire.call_as(0, m, *id);
                }
            }
        }
        for (_, r) in self.requests.iter_mut() {
            r.deferred = false;
        }
        self.deferred_held = Default::default();
        self.absorb();
        self.maybe_recovered();
    }

    pub(super) fn replay_channel_open(
        &mut self,
        channel: ChannelRef,
        waiting: &[(RequestId, ChannelRef, Kind)],
    ) -> Result<(), Error> {
        let number = channel.number;
        let opening = waiting
            .iter()
            .find(|(_, c, k)| *c == channel && matches!(k, Kind::Open))
            .map(|(id, _, _)| *id);
        let open_request = match opening {
            Some(id) => id,
            None => {
                let id = self.wire.reserve_request();
                self.add_step(id, Step::Open(number));
                id
            }
        };
        self.wire.open_as(number, open_request)?;
        let Some(c) = self.channels.get(&number) else {
            return Ok(());
        };
        let (settings, confirm) = (c.settings, c.confirms.enabled);
        let mut setup: Vec<Method> = Vec::new();
        if let Some(p) = settings.consumer_prefetch {
            setup.push(qos(p, false));
        }
        if let Some(p) = settings.channel_prefetch {
            setup.push(qos(p, true));
        }
        if confirm {
            setup.push(confirm::Select { no_wait: false }.into());
        }
        if settings.transactional {
            setup.push(tx::Select {}.into());
        }
        for m in setup {
            let id = self.wire.reserve_request();
            self.wire.call_as(number, m, id)?;
            self.add_step(id, Step::Channel);
        }
        for id in self.consumers.of_channel(channel) {
            let Some(c) = self.consumers.get(id) else {
                continue;
            };
            if c.ended.is_some() || c.orphaned {
                continue;
            }
            let mut arguments = c.options.arguments.clone();
            if let Some(offset) = c.acked_offset {
                arguments.insert("x-stream-offset", FieldValue::I64(offset + 1));
            }
            let m = basic::Consume {
                queue: c.queue_name.clone(),
                consumer_tag: c.tag.clone(),
                no_local: c.options.no_local,
                no_ack: c.options.no_ack,
                exclusive: c.options.exclusive,
                arguments,
                ..Default::default()
            };
            let pending = waiting
                .iter()
                .find(|(_, _, k)| matches!(k, Kind::Consume(x) if *x == id))
                .map(|(r, _, _)| *r);
            let request = match pending {
                Some(r) => r,
                None => {
                    let r = self.wire.reserve_request();
                    self.add_step(r, Step::Consume(id));
                    r
                }
            };
            self.wire.call_as(number, m.into(), request)?;
        }
        for (id, c, kind) in waiting {
            if *c != channel || matches!(kind, Kind::Open | Kind::Consume(_)) {
                continue;
            }
            if let Some(m) = self.requests.get(id).and_then(|r| r.method.clone()) {
                self.wire.call_as(number, m, *id)?;
            }
        }
        let wire = &mut self.wire;
        if let Some(c) = self.channels.get_mut(&number) {
            c.confirms
                .resend(|frames| wire.publish_frames(number, frames).ok().flatten());
        }
        let mut rest = VecDeque::new();
        for (n, frames) in std::mem::take(&mut self.deferred) {
            if n == number {
                self.wire.publish_frames(n, frames)?;
            } else {
                rest.push_back((n, frames));
            }
        }
        self.deferred = rest;
        Ok(())
    }

    fn add_step(&mut self, id: RequestId, step: Step) {
        self.replay_steps.insert(id, step);
    }

    /// Once the channels' replay is answered: recovered.
    fn maybe_recovered(&mut self) {
        let now = self.now;
        let Some(rec) = self.recovery.as_mut() else {
            return;
        };
        let Some(run) = rec.run.as_ref() else { return };
        if run.phase != Phase::Channels || !self.replay_steps.is_empty() {
            return;
        }
        let took = now.saturating_duration_since(run.lost_at);
        if let Some(a) = run.attempt {
            rec.endpoint = a.endpoint;
        }
        let endpoint = rec.endpoint_name(rec.endpoint);
        rec.run = None;
        self.recovered_at = Some(now);
        tracing::info!(endpoint = %endpoint, took_ms = took.as_millis() as u64, "recovered");
        self.out
            .event(Event::Recovery(RecoveryEvent::Recovered { endpoint, took }));
        self.out.ready(Ready::State);
    }
}

fn qos(p: super::Prefetch, global: bool) -> Method {
    basic::Qos {
        prefetch_size: p.size,
        prefetch_count: p.count,
        global,
    }
    .into()
}

/// `frames` (a publish encoded for a channel) routed to queue `new` where
/// they were routed by name, through the default exchange, to `old`;
/// `None` when they were not.
fn reroute(frames: &Bytes, old: &ShortStr, new: &ShortStr, frame_max: u32) -> Option<Bytes> {
    let mut decoder = amqp_protocol::FrameDecoder::new(u32::MAX);
    let mut input = BytesMut::from(&frames[..]);
    let mut assembler = amqp_protocol::Assembler::new();
    while let Ok(Some(frame)) = decoder.decode(&mut input) {
        let Ok(Some(amqp_protocol::Assembled::Content { channel, content })) =
            assembler.handle_frame(frame)
        else {
            continue;
        };
        let Method::BasicPublish(mut p) = content.method else {
            return None;
        };
        if !p.exchange.is_empty() || p.routing_key != *old {
            return None;
        }
        p.routing_key = new.clone();
        let properties = content.header.basic()?.clone();
        let mut out = BytesMut::new();
        encode_content(
            &mut out,
            channel,
            &Method::BasicPublish(p),
            &properties,
            &content.body,
            frame_max,
        );
        return Some(out.freeze());
    }
    None
}
