//! Errors an application can act on without parsing strings.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

use amqp_protocol::{MethodId, ReplyCode};

/// A close sent by the broker: reply code, text, and the method that caused it
/// (class and method id 0 when none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerClose {
    /// The reply code (`404 not-found`, `320 connection-forced`, ...).
    pub code: ReplyCode,
    /// The broker's explanation.
    pub text: String,
    /// The method that failed, if the broker named one.
    pub method: Option<MethodId>,
}

impl fmt::Display for BrokerClose {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)?;
        if let Some(m) = self.method {
            write!(f, " (in reply to {m})")?;
        }
        Ok(())
    }
}

/// What failed in TLS (see [`Error::Tls`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsFailure {
    /// The TLS settings cannot be used: an unreadable CA, certificate or key
    /// file, a server name that is not a host name, no trusted roots.
    Config,
    /// The broker's certificate was refused: unknown issuer (not signed by a
    /// trusted CA), expired, revoked, malformed.
    Certificate,
    /// The broker's certificate is valid, but not for the host name (or the
    /// `server_name_indication`) connected to.
    HostName,
    /// The broker refused the handshake with an alert: a client certificate
    /// it requires or does not trust, no common protocol version or cipher.
    Refused,
    /// Any other TLS failure: corrupt or unexpected records.
    Protocol,
}

/// One failed connection attempt of [`Error::AttemptsFailed`].
#[derive(Debug, Clone)]
pub struct AttemptFailure {
    /// The endpoint (`host:port`).
    pub endpoint: String,
    /// Why the attempt failed.
    pub error: Error,
}

impl fmt::Display for AttemptFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Most errors name the endpoint already; say it once.
        let text = self.error.to_string();
        if text.contains(&self.endpoint) {
            f.write_str(&text)
        } else {
            write!(f, "{}: {text}", self.endpoint)
        }
    }
}

/// Everything that can go wrong, by what the application can do about it.
/// [`Error::reconnect_may_help`] says whether opening a new connection (or
/// channel) and retrying is worthwhile.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Error {
    /// The broker closed the connection (a hard error, or an administrator's
    /// `close_connection`: 320 connection-forced).
    ConnectionClosedByBroker(BrokerClose),
    /// The broker closed a channel (a soft error: 404, 406, 403, ...).
    ChannelClosedByBroker {
        /// The channel.
        channel: u16,
        /// Why.
        close: BrokerClose,
    },
    /// The application closed the connection.
    ConnectionClosedByClient,
    /// The application closed the channel.
    ChannelClosedByClient {
        /// The channel.
        channel: u16,
    },
    /// No connection could be made to the broker's address.
    ConnectFailed {
        /// The endpoint (`host:port`).
        endpoint: String,
        /// The last failure.
        source: Arc<std::io::Error>,
    },
    /// The TCP (or TLS) stream ended or failed.
    StreamLost(Arc<std::io::Error>),
    /// Nothing arrived from the broker for two heartbeat intervals.
    HeartbeatTimeout,
    /// The broker kept the connection blocked longer than
    /// `blocked_connection_timeout`.
    BlockedConnectionTimeout,
    /// The handshake did not finish within the configured time: the broker
    /// (or whatever listens at the address) did not answer.
    HandshakeTimeout {
        /// The endpoint waited on (`host:port`), when known.
        endpoint: Option<String>,
        /// The address it resolved to and the connection was made to, when
        /// known.
        address: Option<SocketAddr>,
    },
    /// The broker refused the credentials (403 access-refused during the
    /// handshake).
    AuthenticationRefused(BrokerClose),
    /// The broker does not offer the configured SASL mechanism.
    MechanismNotOffered {
        /// The mechanism asked for.
        mechanism: String,
        /// What the broker offers.
        offered: String,
    },
    /// The connection ended right after the credentials were sent: almost
    /// certainly refused credentials (a broker without
    /// `authentication_failure_close`).
    ProbableAuthenticationFailure,
    /// The connection ended while opening the virtual host: probably no
    /// access to it.
    ProbableAccessDenied,
    /// The broker speaks another protocol version, or the server is not an
    /// AMQP broker at all.
    ProtocolVersionMismatch {
        /// The version the server announced (`0-10`, `0-9-0`, ...), in
        /// connection.start or in the protocol header it answered with;
        /// empty when its answer is not AMQP at all.
        server: String,
        /// The first bytes the server answered the protocol header with,
        /// when it answered with something other than connection.start (a
        /// protocol header of its own version, an HTTP error, ...).
        received: Option<Vec<u8>>,
    },
    /// A mandatory publish was returned as unroutable (with confirms on).
    Unroutable(BrokerClose),
    /// The broker nacked a publish.
    Nacked,
    /// The broker cancelled the consumer (queue deleted, node failure, ...).
    ConsumerCancelled {
        /// The consumer tag.
        consumer_tag: String,
    },
    /// The broker delivered a message for a consumer tag the channel does
    /// not have; the client closed the channel (505 unexpected-frame), which
    /// returns its unacknowledged messages to their queues.
    UnknownConsumerTag {
        /// The channel.
        channel: u16,
        /// The tag the delivery named.
        consumer_tag: String,
    },
    /// The broker confirmed (basic.ack or basic.nack) a publish the channel
    /// never made: a delivery tag beyond its last publish, a zero tag
    /// without `multiple`, or any confirm on a channel not in confirm mode.
    /// The client closed the channel (406 precondition-failed); the
    /// publishes that awaited their confirms failed with this error, since
    /// the broker's numbering can no longer be trusted.
    UnknownConfirmTag {
        /// The channel.
        channel: u16,
        /// The tag the confirm named.
        delivery_tag: u64,
        /// How many messages the channel had published in confirm mode.
        published: u64,
    },
    /// An acknowledgement (ack, nack, reject) of a delivery tag handed out
    /// before the channel was recovered on a new connection: it was not
    /// sent, since that message went back to its queue with the old
    /// connection (and may be delivered again).
    StaleDeliveryTag {
        /// The channel.
        channel: u16,
        /// The tag.
        delivery_tag: u64,
    },
    /// The connection is being recovered and the buffer that holds
    /// publishes meanwhile is full (see
    /// [`RecoveryPolicy`](crate::core::RecoveryPolicy)): the message was
    /// not published.
    Recovering,
    /// The connection was lost and recovered while this call awaited its
    /// reply: whether the broker carried it out is unknown (a purge, a
    /// delete, a get ...), so it is not sent again; call it again if it is
    /// still wanted.
    ConnectionRecovered {
        /// The method that was in flight.
        method: &'static str,
    },
    /// The connection was lost and recovered during a transaction of this
    /// channel: what it held is gone, and this commit (or rollback) was not
    /// sent. The channel is still transactional; start the transaction's
    /// work again.
    TransactionLost {
        /// The channel.
        channel: u16,
    },
    /// The broker did not confirm this publish within the confirm timeout
    /// ([`ConnectionParameters::with_confirm_timeout`](crate::ConnectionParameters::with_confirm_timeout)):
    /// it may or may not have reached its queue.
    ConfirmTimeout {
        /// The timeout.
        after: std::time::Duration,
    },
    /// The connection was lost before the broker confirmed this publish,
    /// and recovery was told not to publish it again: it may or may not
    /// have reached its queue.
    PublishOutcomeUnknown,
    /// A blocking wait that dispatches callbacks (`start_consuming`,
    /// `process_data_events`, `sleep`) was called from inside one of the
    /// connection's callbacks, where it would wait for itself.
    Reentrancy {
        /// The call.
        operation: &'static str,
    },
    /// A consumer with this tag already exists on the channel.
    DuplicateConsumerTag {
        /// The tag.
        consumer_tag: String,
    },
    /// A channel number that cannot be opened: 0 (the connection's own) or
    /// above the negotiated channel-max.
    InvalidChannelNumber {
        /// The number asked for.
        channel: u16,
        /// The highest number the connection allows.
        channel_max: u16,
    },
    /// A channel of this number is open (or opening, or closing).
    ChannelInUse {
        /// The number asked for.
        channel: u16,
    },
    /// The peer broke the protocol; the connection was closed with this
    /// error's reply code.
    Protocol(amqp_protocol::Error),
    /// The peer sent a frame the protocol forbids where it came (a heartbeat
    /// on a channel other than 0, content during the handshake or on a
    /// channel that is not open); the connection was closed with `code`.
    UnexpectedFrame {
        /// The channel.
        channel: u16,
        /// The reply code the connection was closed with.
        code: ReplyCode,
        /// What was wrong.
        what: String,
    },
    /// The broker announced a message larger than
    /// [`ConnectionParameters::with_max_message_size`](crate::ConnectionParameters::with_max_message_size)
    /// allows. The connection was closed (311 content-too-large) before any
    /// of the body was buffered.
    MessageTooLarge {
        /// The channel.
        channel: u16,
        /// The body size its content header declared.
        size: u64,
        /// The limit in force.
        limit: u64,
    },
    /// Every connection attempt failed (there was more than one): each
    /// attempt's endpoint and error, in order. The last one ended the plan.
    AttemptsFailed(Vec<AttemptFailure>),
    /// The peer sent a method the protocol does not allow here, or one it
    /// does not define.
    UnexpectedMethod {
        /// The channel.
        channel: u16,
        /// The method.
        method: MethodId,
    },
    /// A wait given a time limit ran out.
    Timeout {
        /// What was waited for.
        what: String,
    },
    /// The application used the API wrongly (a closed channel, no free
    /// channel id, a value too long, ...).
    Misuse(String),
    /// TLS failed: the settings, the broker's certificate, the host name, or
    /// the handshake.
    Tls {
        /// What failed.
        kind: TlsFailure,
        /// The TLS library's explanation (`invalid peer certificate:
        /// UnknownIssuer`, ...).
        message: String,
    },
}

impl Error {
    /// Whether opening a new connection or channel and retrying may succeed:
    /// true for lost streams, timeouts and forced closes; false for refusals
    /// that would repeat (bad credentials, missing queue, bad arguments).
    /// For [`Error::AttemptsFailed`], whether it may for any of the attempts.
    pub fn reconnect_may_help(&self) -> bool {
        match self {
            Error::AttemptsFailed(failures) => {
                failures.iter().any(|f| f.error.reconnect_may_help())
            }
            Error::ConnectionClosedByBroker(c) => matches!(
                c.code.0,
                320 // connection-forced
                    | 541 // internal-error
                    | 506 // resource-error
            ),
            Error::ChannelClosedByBroker { close, .. } => {
                close.code == ReplyCode::RESOURCE_LOCKED || close.code.0 == 320
            }
            Error::StreamLost(_)
            | Error::ConnectFailed { .. }
            | Error::HeartbeatTimeout
            | Error::BlockedConnectionTimeout
            | Error::HandshakeTimeout { .. }
            | Error::ConsumerCancelled { .. }
            | Error::UnknownConsumerTag { .. }
            | Error::UnknownConfirmTag { .. }
            | Error::Nacked
            | Error::Recovering
            | Error::ConnectionRecovered { .. }
            | Error::TransactionLost { .. }
            | Error::PublishOutcomeUnknown
            | Error::ConfirmTimeout { .. }
            | Error::Tls {
                kind: TlsFailure::Protocol,
                ..
            } => true,
            _ => false,
        }
    }

    /// Whether the broker refused a method as not implemented (540): for
    /// RabbitMQ, channel.flow with active=false and basic.publish with
    /// immediate=true.
    pub fn is_not_implemented(&self) -> bool {
        self.reply_code() == Some(ReplyCode::NOT_IMPLEMENTED)
    }

    /// Whether the broker said the queue or exchange does not exist (404).
    pub fn is_not_found(&self) -> bool {
        self.reply_code() == Some(ReplyCode::NOT_FOUND)
    }

    /// Whether the broker refused a redeclaration or a conditional delete
    /// (406 precondition-failed).
    pub fn is_precondition_failed(&self) -> bool {
        self.reply_code() == Some(ReplyCode::PRECONDITION_FAILED)
    }

    /// Whether access was refused (403: credentials, permissions, reserved
    /// names).
    pub fn is_access_refused(&self) -> bool {
        self.reply_code() == Some(ReplyCode::ACCESS_REFUSED)
    }

    /// The TLS failure, if this is one.
    pub fn tls_failure(&self) -> Option<TlsFailure> {
        match self {
            Error::Tls { kind, .. } => Some(*kind),
            _ => None,
        }
    }

    /// The reply code involved, if any (for [`Error::AttemptsFailed`], the
    /// last attempt's, the one that ended the plan).
    pub fn reply_code(&self) -> Option<ReplyCode> {
        match self {
            Error::AttemptsFailed(failures) => failures.last()?.error.reply_code(),
            Error::UnexpectedFrame { code, .. } => Some(*code),
            Error::MessageTooLarge { .. } => Some(ReplyCode::CONTENT_TOO_LARGE),
            Error::UnknownConfirmTag { .. } => Some(ReplyCode::PRECONDITION_FAILED),
            Error::ConnectionClosedByBroker(c)
            | Error::AuthenticationRefused(c)
            | Error::Unroutable(c) => Some(c.code),
            Error::ChannelClosedByBroker { close, .. } => Some(close.code),
            Error::Protocol(e) => Some(e.reply_code()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ConnectionClosedByBroker(c) => write!(f, "connection closed by the broker: {c}"),
            Error::ChannelClosedByBroker { channel, close } => {
                write!(f, "channel {channel} closed by the broker: {close}")
            }
            Error::ConnectionClosedByClient => f.write_str("connection closed by the client"),
            Error::ChannelClosedByClient { channel } => {
                write!(f, "channel {channel} closed by the client")
            }
            Error::ConnectFailed { endpoint, source } => {
                write!(f, "cannot connect to the broker at {endpoint}: {source}")
            }
            Error::StreamLost(e) => write!(f, "connection to the broker lost: {e}"),
            Error::HeartbeatTimeout => {
                f.write_str("no heartbeat from the broker for two heartbeat intervals")
            }
            Error::BlockedConnectionTimeout => {
                f.write_str("the broker blocked the connection for longer than blocked_connection_timeout")
            }
            Error::HandshakeTimeout { endpoint, address } => {
                f.write_str("the connection handshake timed out")?;
                match (endpoint, address) {
                    (Some(e), Some(a)) => write!(f, ": no answer from {e} ({a})"),
                    (Some(e), None) => write!(f, ": no answer from {e}"),
                    (None, Some(a)) => write!(f, ": no answer from {a}"),
                    (None, None) => Ok(()),
                }
            }
            Error::AuthenticationRefused(c) => write!(f, "authentication refused: {c}"),
            Error::MechanismNotOffered { mechanism, offered } => write!(
                f,
                "the broker does not offer SASL mechanism {mechanism} (it offers: {offered})"
            ),
            Error::ProbableAuthenticationFailure => f.write_str(
                "the broker closed the connection after the credentials were sent: probably refused credentials",
            ),
            Error::ProbableAccessDenied => f.write_str(
                "the broker closed the connection while opening the virtual host: probably no access to it",
            ),
            Error::ProtocolVersionMismatch { server, received } => {
                if server.is_empty() {
                    f.write_str("the server does not speak AMQP")?;
                } else {
                    write!(f, "the broker speaks AMQP {server}, not 0-9-1")?;
                }
                if let Some(bytes) = received {
                    write!(
                        f,
                        ": it answered the protocol header with \"{}\"",
                        bytes.escape_ascii()
                    )?;
                }
                Ok(())
            }
            Error::Unroutable(c) => write!(f, "message returned as unroutable: {c}"),
            Error::Nacked => f.write_str("the broker nacked the message"),
            Error::ConsumerCancelled { consumer_tag } => {
                write!(f, "consumer {consumer_tag:?} cancelled by the broker")
            }
            Error::DuplicateConsumerTag { consumer_tag } => {
                write!(f, "consumer tag {consumer_tag:?} is already in use on this channel")
            }
            Error::UnknownConsumerTag {
                channel,
                consumer_tag,
            } => write!(
                f,
                "the broker delivered for consumer tag {consumer_tag:?}, which channel {channel} does not have; the channel was closed"
            ),
            Error::UnknownConfirmTag {
                channel,
                delivery_tag,
                published,
            } => write!(
                f,
                "the broker confirmed delivery tag {delivery_tag} on channel {channel}, which has published {published} messages in confirm mode; the channel was closed"
            ),
            Error::StaleDeliveryTag {
                channel,
                delivery_tag,
            } => write!(
                f,
                "delivery tag {delivery_tag} of channel {channel} was handed out before the connection was recovered: not acknowledged (the message went back to its queue)"
            ),
            Error::Recovering => f.write_str(
                "the connection is being recovered and its buffer of publishes is full: not published",
            ),
            Error::ConnectionRecovered { method } => write!(
                f,
                "the connection was recovered while {method} awaited its reply: its outcome is unknown and it was not sent again"
            ),
            Error::TransactionLost { channel } => write!(
                f,
                "the transaction of channel {channel} was lost with the connection (which was recovered): not committed; the channel stays transactional"
            ),
            Error::ConfirmTimeout { after } => write!(
                f,
                "the broker did not confirm the publish within {after:?}: it may or may not have reached its queue"
            ),
            Error::PublishOutcomeUnknown => f.write_str(
                "the connection was lost before the broker confirmed the publish: it may or may not have reached its queue",
            ),
            Error::Reentrancy { operation } => write!(
                f,
                "{operation} may not be called from inside one of the connection's callbacks (it would wait for itself)"
            ),
            Error::InvalidChannelNumber {
                channel,
                channel_max,
            } => write!(
                f,
                "channel number {channel} cannot be opened: expected 1 to {channel_max} (the \
                 negotiated channel-max)"
            ),
            Error::ChannelInUse { channel } => write!(f, "channel {channel} is already in use"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::UnexpectedMethod { channel, method } => {
                if method.name().is_some() {
                    write!(f, "unexpected method {method} on channel {channel}")
                } else {
                    write!(f, "unknown method {method} on channel {channel}")
                }
            }
            Error::UnexpectedFrame { channel, code, what } => {
                write!(f, "protocol error on channel {channel}: {what} ({code})")
            }
            Error::MessageTooLarge {
                channel,
                size,
                limit,
            } => write!(
                f,
                "the broker announced a message of {size} bytes on channel {channel}, over the limit of {limit}"
            ),
            Error::AttemptsFailed(failures) => {
                write!(f, "all {} connection attempts failed", failures.len())?;
                for (i, failure) in failures.iter().enumerate() {
                    write!(f, "{} {failure}", if i == 0 { ":" } else { ";" })?;
                }
                Ok(())
            }
            Error::Misuse(what) => write!(f, "misuse: {what}"),
            Error::Timeout { what } => write!(f, "timed out waiting for {what}"),
            Error::Tls { kind, message } => match kind {
                TlsFailure::Config => write!(f, "TLS settings: {message}"),
                TlsFailure::Certificate => {
                    write!(f, "TLS: the broker's certificate was refused: {message}")
                }
                TlsFailure::HostName => write!(
                    f,
                    "TLS: the broker's certificate does not match the host name: {message}"
                ),
                TlsFailure::Refused => write!(f, "TLS: the broker refused the handshake: {message}"),
                TlsFailure::Protocol => write!(f, "TLS error: {message}"),
            },
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::StreamLost(e) | Error::ConnectFailed { source: e, .. } => Some(e.as_ref()),
            Error::Protocol(e) => Some(e),
            Error::AttemptsFailed(failures) => failures
                .last()
                .map(|f| &f.error as &(dyn std::error::Error + 'static)),
            _ => None,
        }
    }
}

impl From<amqp_protocol::Error> for Error {
    fn from(e: amqp_protocol::Error) -> Self {
        Error::Protocol(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::StreamLost(Arc::new(e))
    }
}
