//! What a connection of the event loop holds: where it is in connecting, the
//! core client and the socket once connected, and the application's
//! callbacks, keyed by the core's ids. The handles ([`Connection`],
//! [`Channel`]) are defined here; their methods live in `connection.rs` and
//! `channel.rs`.
//!
//! Everything about channels, consumers and confirms is the core's
//! ([`Client`]): a [`Channel`] is a connection plus the [`ChannelRef`] the
//! core gave it.

use std::any::Any;
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::rc::{Rc, Weak};
use std::time::Instant;

use crate::core::ReconnectAttempt;
use crate::core::{ChannelRef, Client, Connecting, ConsumerId, Dialing, Pending, RequestId};
use crate::error::Error;
use crate::params::{ConnectionParameters, Endpoints, TcpOptions};
#[cfg(feature = "tls")]
use crate::tls::TlsLayer;
use crate::types::{Delivery, Returned};

use super::transport::{typed_error, Transport};

/// Identifies a connection on its loop (see
/// [`EventLoop::connection`](super::EventLoop::connection)); `Send`, so
/// other threads can name a connection in the callbacks they schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ConnectionId(pub(super) usize);

/// Where connecting is.
pub(super) enum Phase {
    /// The next attempt starts at `at`.
    Waiting { at: Instant },
    /// A TCP connect is in progress; `addrs` are the addresses left to try.
    Connecting {
        addrs: VecDeque<SocketAddr>,
        deadline: Instant,
        /// The endpoint's addresses tried so far, and why they failed.
        dial: Dialing,
        /// The TLS layer for the connection, unused until it is up.
        #[cfg(feature = "tls")]
        tls: Option<Box<TlsLayer>>,
    },
    /// Connected: the core runs the handshake, then the connection.
    Connected,
    /// Open failed or the connection closed.
    Done,
}

pub(super) type OnOpen = Box<dyn FnOnce(&Connection)>;
pub(super) type OnOpenError = Box<dyn FnOnce(Error)>;
pub(super) type OnClose = Box<dyn FnOnce(&Connection, Error)>;
pub(super) type OnBlocked = Rc<RefCell<dyn FnMut(&Connection, Option<&str>)>>;
pub(super) type OnRecovery =
    Rc<RefCell<dyn FnMut(&Connection, &crate::core::client::RecoveryEvent)>>;
pub(super) type OnMessage = Rc<RefCell<dyn FnMut(&Channel, Delivery)>>;
pub(super) type OnReturn = Rc<RefCell<dyn FnMut(&Channel, Returned)>>;
pub(super) type OnConfirm = Rc<RefCell<dyn FnMut(&Channel, u64, Result<(), Error>)>>;
pub(super) type OnCancel = Rc<RefCell<dyn FnMut(&Channel, &str)>>;
pub(super) type OnFlow = Rc<RefCell<dyn FnMut(&Channel, bool)>>;
pub(super) type OnChannelClose = Box<dyn FnOnce(&Channel, Error)>;

/// A request's completion: its typed outcome taken from the core while the
/// state is borrowed, then the application's callback run once it no longer
/// is.
pub(super) trait Completion {
    /// Takes the outcome out of the core.
    fn take(&mut self, core: &mut Client);
    /// Runs the application's callback with it.
    fn run(self: Box<Self>);
}

/// A [`Completion`] for `Pending<T>` and the application's optional `on_done`.
struct Waiting<T, F> {
    pending: Pending<T>,
    outcome: Option<Result<T, Error>>,
    on_done: Option<F>,
}

impl<T, F: FnOnce(Result<T, Error>)> Completion for Waiting<T, F> {
    fn take(&mut self, core: &mut Client) {
        self.outcome = core.take(&self.pending);
    }

    fn run(self: Box<Self>) {
        let Waiting {
            pending,
            outcome,
            on_done,
        } = *self;
        let outcome = outcome
            .unwrap_or_else(|| {
                Err(Error::Misuse(format!(
                    "no outcome for request {:?}",
                    pending.request()
                )))
            })
            .map_err(typed_error);
        match on_done {
            Some(f) => f(outcome),
            None => {
                if let Err(e) = outcome {
                    tracing::debug!(error = %e, "request failed (no callback)");
                }
            }
        }
    }
}

/// The completion of `pending`: `on_done` gets its outcome (without one, a
/// failure is logged).
pub(super) fn completion<T: 'static>(
    pending: Pending<T>,
    on_done: Option<impl FnOnce(Result<T, Error>) + 'static>,
) -> Box<dyn Completion> {
    Box::new(Waiting {
        pending,
        outcome: None,
        on_done,
    })
}

/// The callbacks of one channel.
#[derive(Default)]
pub(super) struct ChannelCallbacks {
    pub(super) on_close: Option<OnChannelClose>,
    pub(super) on_return: Option<OnReturn>,
    pub(super) on_confirm: Option<OnConfirm>,
    pub(super) on_cancel: Option<OnCancel>,
    pub(super) on_flow: Option<OnFlow>,
}

/// The application's callbacks, by the core id they answer to.
#[derive(Default)]
pub(super) struct Callbacks {
    pub(super) completions: HashMap<RequestId, Box<dyn Completion>>,
    pub(super) channels: HashMap<ChannelRef, ChannelCallbacks>,
    pub(super) consumers: HashMap<ConsumerId, OnMessage>,
    /// Callbacks of channels or consumers that ended may be left: look once
    /// nothing is queued in the core.
    pub(super) sweep: bool,
    pub(super) on_open: Option<OnOpen>,
    pub(super) on_open_error: Option<OnOpenError>,
    pub(super) on_close: Option<OnClose>,
    pub(super) on_blocked: Option<OnBlocked>,
    pub(super) on_recovery: Option<OnRecovery>,
}

impl Callbacks {
    /// The callbacks of `channel`, made on first use.
    pub(super) fn channel(&mut self, channel: ChannelRef) -> &mut ChannelCallbacks {
        self.sweep = true;
        self.channels.entry(channel).or_default()
    }
}

pub(crate) struct ConnInner {
    pub(super) id: ConnectionId,
    /// The loop's `LoopInner`, type-erased so that this file does not
    /// depend on the loop's.
    pub(super) lp: Weak<dyn Any>,
    pub(super) st: RefCell<ConnState>,
}

pub(super) struct ConnState {
    /// The plan of attempts over the endpoints.
    pub(super) connecting: Connecting,
    pub(super) phase: Phase,
    /// The error of the last failed attempt.
    pub(super) last_error: Option<Error>,
    /// Why opening failed for good.
    pub(super) open_failed: Option<Error>,
    /// The client of the current attempt; kept once the connection that
    /// opened has closed, for what its handles ask.
    pub(super) core: Option<Client>,
    pub(super) transport: Option<Transport>,
    /// The TCP options read back from the socket once set.
    pub(super) socket_tcp_options: Option<TcpOptions>,
    /// The recovery attempt being dialled, and its endpoint's parameters.
    pub(super) reconnecting: Option<(ReconnectAttempt, ConnectionParameters)>,
    /// The socket may have more input than was read last turn.
    pub(super) more_input: bool,
    pub(super) callbacks: Callbacks,
}

impl ConnState {
    pub(super) fn new(endpoints: Endpoints) -> Self {
        ConnState {
            connecting: Connecting::new(endpoints),
            phase: Phase::Done,
            last_error: None,
            open_failed: None,
            core: None,
            transport: None,
            socket_tcp_options: None,
            reconnecting: None,
            more_input: false,
            callbacks: Callbacks::default(),
        }
    }

    /// The parameters of the attempt under way: a recovery's, or the
    /// opening plan's.
    pub(super) fn attempt_params(&self) -> Option<&ConnectionParameters> {
        match &self.reconnecting {
            Some((_, p)) => Some(p),
            None => self.connecting.current(),
        }
    }

    /// The core, when the connection opened and has not closed.
    pub(super) fn core(&mut self) -> Result<&mut Client, Error> {
        if let Some(e) = &self.open_failed {
            return Err(e.clone());
        }
        match &mut self.core {
            Some(core) if core.is_connected() => match core.close_reason() {
                Some(e) => Err(typed_error(e.clone())),
                None => Ok(core),
            },
            _ => Err(Error::Misuse("the connection is not open yet".into())),
        }
    }

    /// Why the connection closed or failed to open, once it has.
    pub(super) fn close_reason(&self) -> Option<Error> {
        self.open_failed.clone().or_else(|| {
            self.core
                .as_ref()
                .and_then(|c| c.close_reason().cloned())
                .map(typed_error)
        })
    }
}

impl ConnInner {
    /// Takes every callback out of the state, to be dropped once it is no
    /// longer borrowed (they may hold handles to this connection).
    pub(super) fn take_callbacks(&self) -> Callbacks {
        std::mem::take(&mut self.st.borrow_mut().callbacks)
    }

    /// The loop is dropped: release the socket and every callback.
    pub(super) fn abandon(&self) {
        let transport = {
            let mut st = self.st.borrow_mut();
            st.phase = Phase::Done;
            st.transport.take()
        };
        drop((transport, self.take_callbacks()));
    }
}

/// A connection driven by an [`EventLoop`](super::EventLoop). Cheap to clone
/// (clones share the connection); not `Send`: other threads name it by its
/// [`ConnectionId`] in
/// [`EventLoopHandle::add_callback_threadsafe`](super::EventLoopHandle::add_callback_threadsafe).
///
/// Set the callbacks right after [`open`](Self::open), before the loop runs
/// (or in the callback that opened it): connecting starts on the loop's
/// next iteration.
#[derive(Clone)]
pub struct Connection {
    pub(super) inner: Rc<ConnInner>,
}

/// A channel of an event-loop [`Connection`], from
/// [`Connection::channel`]. Cheap to clone; not `Send`.
///
/// Synchronous methods take an optional completion callback, run on the
/// loop with the broker's reply or the error that ended the channel;
/// requests are pipelined (each goes out after the reply to the previous
/// synchronous one). Errors found before sending are returned at once.
///
/// A handle stays with the channel it was given for: once that channel
/// closed and a new channel reuses its id, the old handle keeps failing
/// with why its own channel closed.
#[derive(Clone)]
pub struct Channel {
    pub(super) conn: Rc<ConnInner>,
    pub(super) channel: ChannelRef,
}
