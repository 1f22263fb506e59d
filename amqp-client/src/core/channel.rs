//! Per-channel state of the connection core.

use std::collections::{HashSet, VecDeque};

use amqp_protocol::{Method, MethodInfo, ShortStr};
use bytes::Bytes;

use super::RequestId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ChannelState {
    /// channel.open sent, open-ok awaited.
    Opening,
    Open,
    /// channel.close sent, close-ok awaited.
    Closing,
}

/// A request not yet written.
#[derive(Debug)]
pub(super) enum Outgoing {
    /// A synchronous method: written, then the channel waits for its reply.
    Call {
        request: RequestId,
        method: Method,
        info: &'static MethodInfo,
    },
    /// A method without reply.
    Send { request: RequestId, method: Method },
    /// A publish, already encoded (method, header and body frames).
    Publish { request: RequestId, frames: Bytes },
}

impl Outgoing {
    pub(super) fn request(&self) -> RequestId {
        match self {
            Outgoing::Call { request, .. }
            | Outgoing::Send { request, .. }
            | Outgoing::Publish { request, .. } => *request,
        }
    }
}

#[derive(Debug)]
pub(super) struct Channel {
    pub(super) state: ChannelState,
    pub(super) queue: VecDeque<Outgoing>,
    pub(super) in_flight: Option<(RequestId, &'static MethodInfo)>,
    /// Requests that failed when we started closing the channel.
    pub(super) closing_failed: Vec<RequestId>,
    /// Why we close it, when not at the application's request: reported
    /// once close-ok arrives.
    pub(super) close_error: Option<crate::error::Error>,
    /// confirm.select was submitted: publishes get sequence numbers.
    pub(super) confirm: bool,
    pub(super) next_seq: u64,
    pub(super) consumers: HashSet<ShortStr>,
    /// `amqp_channel` span, a child of the connection's.
    pub(super) span: tracing::Span,
}

impl Channel {
    pub(super) fn new(state: ChannelState) -> Self {
        Channel {
            span: tracing::Span::none(),
            state,
            queue: VecDeque::new(),
            in_flight: None,
            closing_failed: Vec::new(),
            close_error: None,
            confirm: false,
            next_seq: 0,
            consumers: HashSet::new(),
        }
    }

    /// Every request that has not completed, in submission order: those that
    /// failed when the channel started closing, the one waiting for its
    /// reply, those not yet written. The channel keeps none of them.
    pub(super) fn take_unfinished(&mut self) -> Vec<RequestId> {
        let mut failed = std::mem::take(&mut self.closing_failed);
        if let Some((r, _)) = self.in_flight.take() {
            failed.push(r);
        }
        failed.extend(self.queue.drain(..).map(|o| o.request()));
        failed
    }
}
