//! What the connection core reports to its adapter.

use amqp_protocol::{basic, BasicProperties, FieldTable, Method};
use bytes::Bytes;

use crate::error::Error;

/// Identifies one request submitted to the core (a synchronous call, an
/// asynchronous method or a publish), so that its outcome can be matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RequestId(pub u64);

/// The values agreed in connection.tune / tune-ok.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    /// Highest usable channel id.
    pub channel_max: u16,
    /// Largest frame, header and end octet included (0: no limit).
    pub frame_max: u32,
    /// Heartbeat interval in seconds (0: off).
    pub heartbeat: u16,
}

/// A message's properties and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Content {
    /// The properties.
    pub properties: BasicProperties,
    /// The body.
    pub body: Bytes,
}

/// Something the adapter must act on.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// The handshake completed.
    Connected {
        /// The broker's server-properties (product, version, capabilities).
        server_properties: FieldTable,
        /// What was negotiated.
        tuning: Tuning,
    },
    /// The reply to a synchronous call (channel.open-ok included). basic.get's
    /// get-ok carries the message.
    Reply {
        /// The channel.
        channel: u16,
        /// The call.
        request: RequestId,
        /// The reply.
        method: Method,
        /// The message, for basic.get-ok.
        content: Option<Content>,
    },
    /// A request without reply (an asynchronous method or a publish) was
    /// written to the output.
    Sent {
        /// The channel.
        channel: u16,
        /// The request.
        request: RequestId,
    },
    /// A message for a consumer.
    Delivery {
        /// The channel.
        channel: u16,
        /// The basic.deliver method.
        deliver: basic::Deliver,
        /// Properties and body.
        content: Content,
    },
    /// A mandatory message the broker could not route.
    Return {
        /// The channel.
        channel: u16,
        /// The basic.return method.
        method: basic::Return,
        /// Properties and body.
        content: Content,
    },
    /// A publisher confirm (basic.ack or basic.nack from the broker).
    Confirm {
        /// The channel.
        channel: u16,
        /// The publish sequence number confirmed.
        delivery_tag: u64,
        /// Whether every earlier unconfirmed sequence number is included.
        multiple: bool,
        /// Ack (true) or nack (false).
        ack: bool,
    },
    /// The broker cancelled a consumer.
    ConsumerCancelled {
        /// The channel.
        channel: u16,
        /// The consumer tag.
        consumer_tag: String,
    },
    /// The broker asked to stop (false) or resume (true) publishing on a
    /// channel (already answered with flow-ok).
    Flow {
        /// The channel.
        channel: u16,
        /// Whether publishing may go on.
        active: bool,
    },
    /// The broker blocked the connection (resource alarm).
    Blocked {
        /// The broker's reason.
        reason: String,
    },
    /// The broker unblocked the connection.
    Unblocked,
    /// A channel closed; every request still queued or waiting on it failed
    /// with `error`.
    ChannelClosed {
        /// The channel.
        channel: u16,
        /// Why.
        error: Error,
        /// The requests that did not complete.
        failed: Vec<RequestId>,
    },
    /// The connection closed; everything still pending failed with `error`.
    /// Once the output is drained, the socket can be closed.
    Closed {
        /// Why.
        error: Error,
    },
}
