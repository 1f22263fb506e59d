//! The dispatcher behind `process_data_events` and `start_consuming`: it
//! takes the core's events one at a time under the lock and runs their
//! callbacks without it, on the calling thread.

use crate::core::client::RecoveryEvent;
use std::cell::RefCell;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use super::channel::{lock_callbacks, Callbacks, CancelFn, Channel};
use super::shared::{Shared, Task};
use crate::core::client::Event;
use crate::core::{ChannelRef, ConsumerId};
use crate::error::Error;
use crate::types::{Delivery, Returned};

thread_local! {
    /// The connections (their shared state's address) whose callback this
    /// thread is running.
    static IN_CALLBACK: RefCell<Vec<usize>> = const { RefCell::new(Vec::new()) };
}

/// Marks the running of one of `shared`'s callbacks on this thread.
struct CallbackScope(usize);

impl CallbackScope {
    fn enter(shared: &Arc<Shared>) -> Self {
        let id = Arc::as_ptr(shared) as usize;
        IN_CALLBACK.with(|c| c.borrow_mut().push(id));
        CallbackScope(id)
    }

    fn inside(shared: &Arc<Shared>) -> bool {
        let id = Arc::as_ptr(shared) as usize;
        IN_CALLBACK.with(|c| c.borrow().contains(&id))
    }
}

impl Drop for CallbackScope {
    fn drop(&mut self) {
        IN_CALLBACK.with(|c| {
            let mut c = c.borrow_mut();
            if let Some(i) = c.iter().rposition(|id| *id == self.0) {
                c.remove(i);
            }
        });
    }
}

enum Work {
    Run(Task),
    Deliver(ChannelRef, ConsumerId, Delivery),
    Return(ChannelRef, Returned),
    Cancelled(ChannelRef, String, CancelFn),
    Blocked(Option<String>),
    Recovery(RecoveryEvent),
}

/// Which dispatcher runs: `process_data_events` (every channel, until a
/// deadline or one callback) or `start_consuming` of one channel (until it
/// has no callback consumer).
#[derive(Clone, Copy)]
pub(super) enum Scope {
    Connection(&'static str),
    Channel(ChannelRef),
}

impl Scope {
    fn operation(self) -> &'static str {
        match self {
            Scope::Connection(op) => op,
            Scope::Channel(_) => "start_consuming",
        }
    }

    /// Whether a broker cancel on `channel` ends this dispatcher.
    fn owns(self, channel: ChannelRef) -> bool {
        match self {
            Scope::Connection(_) => true,
            Scope::Channel(c) => c == channel,
        }
    }
}

/// Takes one item at a time under the lock and runs it without. A broker
/// cancel of a callback consumer ends the dispatcher of its own channel
/// (or `process_data_events`) with [`Error::ConsumerCancelled`], unless the
/// channel has an `on_cancel` callback, which then runs instead. Called from
/// inside one of the connection's callbacks, it fails with
/// [`Error::Reentrancy`] rather than wait for itself.
pub(super) fn run_dispatch(
    shared: &Arc<Shared>,
    callbacks: &Arc<Mutex<Callbacks>>,
    deadline: Option<Instant>,
    scope: Scope,
) -> Result<(), Error> {
    if CallbackScope::inside(shared) {
        return Err(Error::Reentrancy {
            operation: scope.operation(),
        });
    }
    let mut ran = false;
    loop {
        let work = {
            let mut inner = shared.lock();
            loop {
                {
                    let mut cbs = lock_callbacks(callbacks);
                    if let Some(i) = cbs
                        .undelivered_cancels
                        .iter()
                        .position(|(ch, _)| scope.owns(*ch))
                    {
                        let (_, consumer_tag) = cbs.undelivered_cancels.remove(i);
                        return Err(Error::ConsumerCancelled { consumer_tag });
                    }
                }
                let now = Instant::now();
                if let Some(cb) = inner.timers.pop_due(now) {
                    break Work::Run(cb);
                }
                if let Some(cb) = inner.threadsafe_callbacks.pop_front() {
                    break Work::Run(cb);
                }
                if let Some(event) = inner.core.poll_event() {
                    shared.taken(&mut inner);
                    match event {
                        Event::Delivery {
                            channel,
                            consumer,
                            delivery,
                        } => break Work::Deliver(channel, consumer, delivery),
                        Event::Returned { channel, returned } => {
                            break Work::Return(channel, returned)
                        }
                        Event::Blocked { reason } => break Work::Blocked(Some(reason)),
                        Event::Unblocked => break Work::Blocked(None),
                        Event::Recovery(e) => break Work::Recovery(e),
                        Event::ConsumerCancelled {
                            channel,
                            consumer,
                            consumer_tag,
                        } => {
                            // Only a callback consumer's end concerns the
                            // dispatcher (an iterator reports its own).
                            let mut cbs = lock_callbacks(callbacks);
                            if cbs.consumers.remove(&consumer).is_none() {
                                continue;
                            }
                            if let Some(f) = cbs.cancels.get(&channel).cloned() {
                                break Work::Cancelled(channel, consumer_tag, f);
                            }
                            if scope.owns(channel) {
                                return Err(Error::ConsumerCancelled { consumer_tag });
                            }
                            // Another channel's: it waits for its own
                            // dispatcher, which may be waiting right now.
                            cbs.undelivered_cancels.push((channel, consumer_tag));
                            drop(cbs);
                            shared.cond.notify_all();
                            shared.interrupt.fire();
                            continue;
                        }
                        Event::ConsumerEnded { consumer, .. } => {
                            lock_callbacks(callbacks).consumers.remove(&consumer);
                            continue;
                        }
                        _ => continue,
                    }
                }
                if let Some(e) = inner.core.close_reason() {
                    return Err(e.clone());
                }
                if let Scope::Channel(ch) = scope {
                    match inner.core.channel_error(ch) {
                        None if inner.core.event_consumers(ch).is_empty() => return Ok(()),
                        None => {}
                        // Closed by the application: consuming is over.
                        Some(Error::ChannelClosedByClient { .. }) => return Ok(()),
                        Some(e) => return Err(e),
                    }
                }
                let limit = match deadline {
                    Some(d) if now >= d => return Ok(()),
                    None if ran && matches!(scope, Scope::Connection(_)) => return Ok(()),
                    other => other,
                };
                let next_timer = inner.timers.next_deadline();
                let until = match (limit, next_timer) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                // Reads the socket itself when no other thread does (a
                // batch of deliveries then needs no thread hand-off); other
                // threads' callbacks and timers interrupt the read.
                inner = shared.wait_dispatching(inner, until);
            }
        };
        ran = true;
        let _scope = CallbackScope::enter(shared);
        match work {
            Work::Run(cb) => cb(),
            Work::Deliver(chan, consumer, delivery) => {
                let cb = lock_callbacks(callbacks).consumers.get(&consumer).cloned();
                if let Some(cb) = cb {
                    let channel = Channel::new(shared.clone(), callbacks.clone(), chan);
                    let mut f = cb.lock().unwrap_or_else(|p| p.into_inner());
                    f(&channel, delivery);
                }
                // Without a callback (cancelled meanwhile) an unacked message
                // goes back to the queue when the channel closes.
            }
            Work::Return(chan, r) => {
                let cb = lock_callbacks(callbacks).returns.get(&chan).cloned();
                if let Some(cb) = cb {
                    let channel = Channel::new(shared.clone(), callbacks.clone(), chan);
                    cb(&channel, r);
                }
            }
            Work::Cancelled(chan, tag, cb) => {
                let channel = Channel::new(shared.clone(), callbacks.clone(), chan);
                cb(&channel, &tag);
            }
            Work::Blocked(reason) => {
                let cb = lock_callbacks(callbacks).blocked.clone();
                if let Some(cb) = cb {
                    cb(reason.as_deref());
                }
            }
            Work::Recovery(event) => {
                let cb = lock_callbacks(callbacks).recovery.clone();
                if let Some(cb) = cb {
                    cb(&event);
                }
            }
        }
    }
}

impl Channel {
    /// Runs consumer callbacks until no callback consumer remains on this
    /// channel (see [`stop_consuming`](Self::stop_consuming)) or the channel
    /// is closed (by the application: `Ok`). Ends with the error when the
    /// channel or the connection closes otherwise, and with
    /// [`Error::ConsumerCancelled`] when the broker cancels one of this
    /// channel's callback consumers while no [`on_cancel`](Self::on_cancel)
    /// callback is set. Called from inside a callback of the same
    /// connection, it fails at once with [`Error::Reentrancy`].
    pub fn start_consuming(&self) -> Result<(), Error> {
        run_dispatch(
            &self.shared,
            &self.callbacks,
            None,
            Scope::Channel(self.chan),
        )
    }
}
