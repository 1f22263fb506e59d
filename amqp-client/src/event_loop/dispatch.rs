//! Turning what the core reports into the application's callbacks: the
//! outcome of each request ([`Ready::Request`]) to its completion, and each
//! [`Event`] to the callback registered for its connection, channel or
//! consumer. Every callback runs once the state is no longer borrowed, so
//! that it may use the connection and its channels.
//!
//! Callbacks run in the order the core produced what they report, which is
//! wire order: a consumer's `on_done` before its first delivery, a delivery
//! that arrived before a cancel-ok before the cancel's `on_done`, and a
//! request's completion before the close of its channel or connection.

use std::rc::Rc;

use super::state::OnRecovery;
use super::state::{
    Callbacks, Channel, ChannelCallbacks, Completion, ConnInner, ConnState, Connection, OnBlocked,
    OnCancel, OnConfirm, OnFlow, OnMessage, OnOpen, OnReturn,
};
use super::transport::typed_error;
use crate::core::client::{Event, RecoveryEvent};
use crate::core::{ChannelRef, Client, ConsumerId, Next, Ready};
use crate::error::Error;
use crate::types::{Delivery, Returned};

/// A callback to run once the state is no longer borrowed.
enum Action {
    Complete(Box<dyn Completion>),
    Opened(OnOpen),
    Deliver(OnMessage, ChannelRef, Delivery),
    Return(OnReturn, ChannelRef, Returned),
    Confirmed(OnConfirm, ChannelRef, u64, Result<(), Error>),
    Cancelled(OnCancel, ChannelRef, String),
    Flow(OnFlow, ChannelRef, bool),
    Blocked(OnBlocked, Option<String>),
    Recovery(OnRecovery, RecoveryEvent),
    /// The channel's callbacks, taken out: `on_close` runs, the rest is
    /// dropped.
    ChannelClosed(ChannelRef, ChannelCallbacks, Error),
    /// Every callback of the connection, taken out: `on_close` runs, the
    /// rest is dropped.
    Closed(Box<Callbacks>, Error),
}

impl ConnInner {
    /// Runs the callbacks of everything the core has to report, then drops
    /// those of channels and consumers that ended.
    pub(super) fn dispatch(self: &Rc<Self>) {
        loop {
            let action = {
                let mut st = self.st.borrow_mut();
                match next_action(&mut st) {
                    Some(action) => action,
                    None => break,
                }
            };
            self.run(action);
        }
        self.sweep();
    }

    fn handle(self: &Rc<Self>, channel: ChannelRef) -> Channel {
        Channel {
            conn: self.clone(),
            channel,
        }
    }

    fn run(self: &Rc<Self>, action: Action) {
        match action {
            Action::Complete(completion) => completion.run(),
            Action::Opened(f) => f(&Connection {
                inner: self.clone(),
            }),
            Action::Deliver(f, ch, delivery) => (f.borrow_mut())(&self.handle(ch), delivery),
            Action::Return(f, ch, returned) => (f.borrow_mut())(&self.handle(ch), returned),
            Action::Confirmed(f, ch, seq, outcome) => {
                (f.borrow_mut())(&self.handle(ch), seq, outcome)
            }
            Action::Cancelled(f, ch, tag) => (f.borrow_mut())(&self.handle(ch), &tag),
            Action::Flow(f, ch, active) => (f.borrow_mut())(&self.handle(ch), active),
            Action::Recovery(f, event) => (f.borrow_mut())(
                &Connection {
                    inner: self.clone(),
                },
                &event,
            ),
            Action::Blocked(f, reason) => (f.borrow_mut())(
                &Connection {
                    inner: self.clone(),
                },
                reason.as_deref(),
            ),
            Action::ChannelClosed(ch, mut callbacks, error) => {
                if let Some(f) = callbacks.on_close.take() {
                    f(&self.handle(ch), error);
                }
                drop(callbacks);
            }
            Action::Closed(mut callbacks, error) => {
                if let Some(f) = callbacks.on_close.take() {
                    f(
                        &Connection {
                            inner: self.clone(),
                        },
                        error,
                    );
                }
                drop(callbacks);
            }
        }
    }

    /// Drops the callbacks of channels that closed and consumers that ended
    /// (once nothing is queued in the core, none of their events is left).
    fn sweep(&self) {
        let mut channels = Vec::new();
        let mut consumers = Vec::new();
        {
            let mut st = self.st.borrow_mut();
            let st = &mut *st;
            let Some(core) = st.core.as_ref() else {
                return;
            };
            let cb = &mut st.callbacks;
            if !std::mem::take(&mut cb.sweep) {
                return;
            }
            let ended: Vec<ChannelRef> = (cb.channels.keys())
                .filter(|ch| core.channel_error(**ch).is_some())
                .copied()
                .collect();
            channels.extend(ended.iter().filter_map(|ch| cb.channels.remove(ch)));
            let ended: Vec<ConsumerId> = (cb.consumers.keys())
                .filter(|id| core.consumer_tag(**id).is_none())
                .copied()
                .collect();
            consumers.extend(ended.iter().filter_map(|id| cb.consumers.remove(id)));
        }
        drop((channels, consumers));
    }
}

/// What to run next: the outcome of a request, else an event, that has a
/// callback.
fn next_action(st: &mut ConnState) -> Option<Action> {
    let core = st.core.as_mut()?;
    let cb = &mut st.callbacks;
    // In the order the core produced them, so that callbacks run in wire
    // order (a delivery before its cancel's completion).
    while let Some(next) = core.poll_next() {
        let event = match next {
            Next::Ready(Ready::Request(id)) => {
                if let Some(mut completion) = cb.completions.remove(&id) {
                    completion.take(core);
                    // The request may have ended a consumer (cancel-ok, a
                    // refused consume).
                    cb.sweep = true;
                    return Some(Action::Complete(completion));
                }
                continue;
            }
            Next::Ready(_) => continue,
            Next::Event(event) => event,
        };
        let action = match event {
            Event::Connected => {
                st.last_error = None;
                cb.on_open.take().map(Action::Opened)
            }
            Event::Delivery {
                channel,
                consumer,
                delivery,
            } => {
                (cb.consumers.get(&consumer)).map(|f| Action::Deliver(f.clone(), channel, delivery))
            }
            Event::Returned { channel, returned } => {
                channel_callback(cb, channel, |c| &c.on_return)
                    .map(|f| Action::Return(f, channel, returned))
            }
            Event::Confirmed {
                channel,
                sequence_number,
                outcome,
            } => channel_callback(cb, channel, |c| &c.on_confirm).map(|f| {
                Action::Confirmed(f, channel, sequence_number, outcome.map_err(typed_error))
            }),
            Event::ConsumerCancelled {
                channel,
                consumer_tag,
                ..
            } => {
                cb.sweep = true;
                channel_callback(cb, channel, |c| &c.on_cancel)
                    .map(|f| Action::Cancelled(f, channel, consumer_tag))
            }
            Event::ConsumerEnded { .. } => {
                // Dropped by the next sweep, outside the borrow.
                cb.sweep = true;
                None
            }
            Event::Flow { channel, active } => channel_callback(cb, channel, |c| &c.on_flow)
                .map(|f| Action::Flow(f, channel, active)),
            Event::Blocked { reason } => {
                (cb.on_blocked.clone()).map(|f| Action::Blocked(f, Some(reason)))
            }
            Event::Unblocked => (cb.on_blocked.clone()).map(|f| Action::Blocked(f, None)),
            Event::ChannelClosed { channel, error } => {
                cb.sweep = true;
                (cb.channels.remove(&channel))
                    .map(|callbacks| Action::ChannelClosed(channel, callbacks, typed_error(error)))
            }
            Event::Closed { error } => closed(core, cb, &mut st.last_error, typed_error(error)),
            Event::Recovery(event) => (cb.on_recovery.clone()).map(|f| Action::Recovery(f, event)),
        };
        if action.is_some() {
            return action;
        }
    }
    None
}

/// A channel's callback of one kind, when it has one.
fn channel_callback<T: Clone>(
    cb: &Callbacks,
    channel: ChannelRef,
    kind: impl FnOnce(&ChannelCallbacks) -> &Option<T>,
) -> Option<T> {
    cb.channels.get(&channel).and_then(|c| kind(c).clone())
}

/// The connection closed: after the handshake, its `on_close` runs and every
/// callback goes; before, the attempt failed (the next one may follow).
fn closed(
    core: &Client,
    cb: &mut Callbacks,
    last_error: &mut Option<Error>,
    error: Error,
) -> Option<Action> {
    if core.is_connected() {
        Some(Action::Closed(Box::new(std::mem::take(cb)), error))
    } else {
        *last_error = Some(error);
        None
    }
}
