//! What the broker sends, frame by frame: the handshake, the methods it
//! initiates, the replies to our calls, and how the connection and its
//! channels end.

use std::time::Instant;

use amqp_protocol::{
    basic, channel as chan, connection, encode_method_frame, Assembled, Frame, FramePayload,
    Method, ReplyCode, ShortStr,
};
use bytes::Bytes;

use super::channel::ChannelState;
use super::connection::{broker_close, Connection, Phase, State};
use super::{Content, Event, Tuning};
use crate::error::Error;
use crate::params::{negotiate_channel_max, negotiate_frame_max};

impl Connection {
    pub(super) fn handle_frame(&mut self, frame: Frame, now: Instant) {
        match self.state {
            State::Handshake(phase) => return self.handshake(phase, frame, now),
            State::Closing { .. } => {
                // Only close and close-ok matter now.
                if let FramePayload::Method(m) = &frame.payload {
                    match m {
                        Method::ConnectionCloseOk(_) => {
                            if let State::Closing { error, .. } = &self.state {
                                let e = error.clone();
                                self.finish(e);
                            }
                        }
                        Method::ConnectionClose(c) => {
                            encode_method_frame(
                                &mut self.output,
                                0,
                                &connection::CloseOk {}.into(),
                            );
                            let e = Error::ConnectionClosedByBroker(broker_close(
                                c.reply_code,
                                &c.reply_text,
                                c.class_id,
                                c.method_id,
                            ));
                            self.finish(e);
                        }
                        _ => {}
                    }
                }
                return;
            }
            State::Closed => return,
            State::Open => {}
        }
        let channel = frame.channel;
        if matches!(frame.payload, FramePayload::Heartbeat) && channel != 0 {
            // The spec: heartbeats belong on channel 0, else 501 frame-error.
            return self.unexpected_frame(
                channel,
                ReplyCode::FRAME_ERROR,
                format!("heartbeat frame on channel {channel} (heartbeats belong on channel 0)"),
                now,
            );
        }
        if channel != 0 && !self.channels.contains_key(&channel) {
            let text = "frame on a channel that is not open";
            let FramePayload::Method(m) = &frame.payload else {
                return self.unexpected_frame(
                    channel,
                    ReplyCode::CHANNEL_ERROR,
                    format!("{} {text}", frame_kind(&frame.payload)),
                    now,
                );
            };
            let e = Error::UnexpectedMethod {
                channel,
                method: m.id(),
            };
            return self.protocol_violation(e, ReplyCode::CHANNEL_ERROR, text, now);
        }
        // A channel we are closing ignores everything but close and close-ok.
        if let Some(ch) = self.channels.get(&channel) {
            if ch.state == ChannelState::Closing {
                match &frame.payload {
                    FramePayload::Method(Method::ChannelCloseOk(_)) => {
                        let error = self
                            .channels
                            .get_mut(&channel)
                            .and_then(|c| c.close_error.take())
                            .unwrap_or(Error::ChannelClosedByClient { channel });
                        return self.channel_closed(channel, error);
                    }
                    FramePayload::Method(Method::ChannelClose(c)) => {
                        // Both sides closed at once: answer and finish.
                        encode_method_frame(&mut self.output, channel, &chan::CloseOk {}.into());
                        self.close_queued = true;
                        let e = Error::ChannelClosedByBroker {
                            channel,
                            close: broker_close(
                                c.reply_code,
                                &c.reply_text,
                                c.class_id,
                                c.method_id,
                            ),
                        };
                        return self.channel_closed(channel, e);
                    }
                    _ => {
                        self.assembler.reset_channel(channel);
                        return;
                    }
                }
            }
        }
        if let FramePayload::Header(h) = &frame.payload {
            if h.body_size > self.config.max_message_size {
                // Refused before the body arrives: nothing of it is kept,
                // and the rest is discarded while the close completes.
                let (size, limit) = (h.body_size, self.config.max_message_size);
                let e = Error::MessageTooLarge {
                    channel,
                    size,
                    limit,
                };
                let text = format!("message of {size} bytes over the client's limit of {limit}");
                return self.protocol_violation(e, ReplyCode::CONTENT_TOO_LARGE, &text, now);
            }
        }
        match self.assembler.handle_frame(frame) {
            Ok(None) => {}
            Ok(Some(Assembled::Heartbeat)) => {}
            Ok(Some(Assembled::Method { channel, method })) => {
                self.handle_method(channel, method, None, now)
            }
            Ok(Some(Assembled::Content { channel, content })) => {
                let props = match content.header.properties {
                    amqp_protocol::Properties::Basic(p) => p,
                    _ => Default::default(),
                };
                let c = Content {
                    properties: props,
                    body: content.body,
                };
                self.handle_method(channel, content.method, Some(c), now)
            }
            Err(e) => {
                let code = e.reply_code();
                let text = e.to_string();
                self.protocol_violation(Error::Protocol(e), code, &text, now)
            }
        }
    }

    pub(super) fn handshake(&mut self, phase: Phase, frame: Frame, now: Instant) {
        let FramePayload::Method(method) = frame.payload else {
            if matches!(frame.payload, FramePayload::Heartbeat) {
                return;
            }
            return self.unexpected_frame(
                frame.channel,
                ReplyCode::UNEXPECTED_FRAME,
                format!("{} during the handshake", frame_kind(&frame.payload)),
                now,
            );
        };
        match (phase, method) {
            (_, Method::ConnectionClose(c)) => {
                encode_method_frame(&mut self.output, 0, &connection::CloseOk {}.into());
                self.close_queued = true;
                let close = broker_close(c.reply_code, &c.reply_text, c.class_id, c.method_id);
                let e = if phase != Phase::Start && c.reply_code == ReplyCode::ACCESS_REFUSED.0 {
                    Error::AuthenticationRefused(close)
                } else {
                    Error::ConnectionClosedByBroker(close)
                };
                self.finish(e);
            }
            (Phase::Start, Method::ConnectionStart(start)) => {
                if (start.version_major, start.version_minor) != (0, 9) {
                    return self.finish(Error::ProtocolVersionMismatch {
                        server: format!("{}-{}", start.version_major, start.version_minor),
                        received: None,
                    });
                }
                let offered = start.mechanisms.to_string_lossy().into_owned();
                let is_offered =
                    |m: &ShortStr| offered.split(' ').any(|o| o.as_bytes() == m.as_bytes());
                if !is_offered(&self.config.mechanism) {
                    let Some(pos) = self
                        .config
                        .alternatives
                        .iter()
                        .position(|(m, _)| is_offered(m))
                    else {
                        return self.finish(Error::MechanismNotOffered {
                            mechanism: self.config.mechanism.to_string_lossy().into_owned(),
                            offered,
                        });
                    };
                    let (m, r) = self.config.alternatives.swap_remove(pos);
                    self.config.mechanism = m;
                    self.config.response = r;
                }
                self.server_properties = start.server_properties;
                let ok = connection::StartOk {
                    client_properties: self.config.client_properties.clone(),
                    mechanism: self.config.mechanism.clone(),
                    response: self.config.response.clone(),
                    locale: self.config.locale.clone(),
                };
                encode_method_frame(&mut self.output, 0, &ok.into());
                self.state = State::Handshake(Phase::SecureOrTune);
            }
            (Phase::SecureOrTune, Method::ConnectionSecure(_)) => {
                // PLAIN, AMQPLAIN and EXTERNAL have no challenge: answer
                // with the same response.
                let ok = connection::SecureOk {
                    response: self.config.response.clone(),
                };
                encode_method_frame(&mut self.output, 0, &ok.into());
            }
            (Phase::SecureOrTune, Method::ConnectionTune(tune)) => {
                let channel_max = negotiate_channel_max(self.config.channel_max, tune.channel_max);
                let frame_max = negotiate_frame_max(self.config.frame_max, tune.frame_max);
                let heartbeat = (self.config.heartbeat)(tune.heartbeat);
                self.tuning = Tuning {
                    channel_max,
                    frame_max,
                    heartbeat,
                };
                self.decoder.set_max_frame_size(frame_max);
                encode_method_frame(
                    &mut self.output,
                    0,
                    &connection::TuneOk {
                        channel_max,
                        frame_max,
                        heartbeat,
                    }
                    .into(),
                );
                let open = connection::Open {
                    virtual_host: self.config.virtual_host.clone(),
                    ..Default::default()
                };
                encode_method_frame(&mut self.output, 0, &open.into());
                self.last_sent = now;
                self.state = State::Handshake(Phase::OpenOk);
            }
            (Phase::OpenOk, Method::ConnectionOpenOk(_)) => {
                self.state = State::Open;
                tracing::info!(
                    parent: &self.span,
                    channel_max = self.tuning.channel_max,
                    frame_max = self.tuning.frame_max,
                    heartbeat = self.tuning.heartbeat,
                    "connection open"
                );
                self.events.push_back(Event::Connected {
                    server_properties: std::mem::take(&mut self.server_properties),
                    tuning: self.tuning,
                });
            }
            (_, other) => {
                let e = Error::UnexpectedMethod {
                    channel: frame.channel,
                    method: other.id(),
                };
                self.protocol_violation(
                    e,
                    ReplyCode::COMMAND_INVALID,
                    "unexpected method during the handshake",
                    now,
                );
            }
        }
    }

    pub(super) fn handle_method(
        &mut self,
        channel: u16,
        method: Method,
        content: Option<Content>,
        now: Instant,
    ) {
        // Methods the broker initiates.
        match method {
            Method::ConnectionClose(c) => {
                encode_method_frame(&mut self.output, 0, &connection::CloseOk {}.into());
                self.close_queued = true;
                let e = Error::ConnectionClosedByBroker(broker_close(
                    c.reply_code,
                    &c.reply_text,
                    c.class_id,
                    c.method_id,
                ));
                return self.finish(e);
            }
            Method::ConnectionBlocked(b) => {
                self.blocked_since.get_or_insert(now);
                tracing::warn!(parent: &self.span, reason = %b.reason, "connection blocked by the broker");
                self.events.push_back(Event::Blocked {
                    reason: b.reason.to_string_lossy().into_owned(),
                });
                return;
            }
            Method::ConnectionUnblocked(_) => {
                self.blocked_since = None;
                tracing::info!(parent: &self.span, "connection unblocked");
                self.events.push_back(Event::Unblocked);
                return;
            }
            Method::ChannelClose(c) => {
                encode_method_frame(&mut self.output, channel, &chan::CloseOk {}.into());
                self.close_queued = true;
                let e = Error::ChannelClosedByBroker {
                    channel,
                    close: broker_close(c.reply_code, &c.reply_text, c.class_id, c.method_id),
                };
                return self.channel_closed(channel, e);
            }
            Method::ChannelFlow(f) => {
                if let Some(ch) = self.channels.get(&channel) {
                    tracing::info!(parent: &ch.span, active = f.active, "channel.flow from the broker");
                }
                encode_method_frame(
                    &mut self.output,
                    channel,
                    &chan::FlowOk { active: f.active }.into(),
                );
                self.events.push_back(Event::Flow {
                    channel,
                    active: f.active,
                });
                return;
            }
            Method::BasicDeliver(deliver) => {
                let content = content.unwrap_or_else(|| Content {
                    properties: Default::default(),
                    body: Bytes::new(),
                });
                self.events.push_back(Event::Delivery {
                    channel,
                    deliver,
                    content,
                });
                return;
            }
            Method::BasicReturn(ret) => {
                let content = content.unwrap_or_else(|| Content {
                    properties: Default::default(),
                    body: Bytes::new(),
                });
                self.events.push_back(Event::Return {
                    channel,
                    method: ret,
                    content,
                });
                return;
            }
            Method::BasicAck(a) if channel != 0 => {
                if self.unknown_confirm(channel, a.delivery_tag, a.multiple) {
                    return;
                }
                self.events.push_back(Event::Confirm {
                    channel,
                    delivery_tag: a.delivery_tag,
                    multiple: a.multiple,
                    ack: true,
                });
                return;
            }
            Method::BasicNack(n) if channel != 0 => {
                if self.unknown_confirm(channel, n.delivery_tag, n.multiple) {
                    return;
                }
                self.events.push_back(Event::Confirm {
                    channel,
                    delivery_tag: n.delivery_tag,
                    multiple: n.multiple,
                    ack: false,
                });
                return;
            }
            Method::BasicCancel(c) if channel != 0 => {
                if let Some(ch) = self.channels.get(&channel) {
                    tracing::warn!(parent: &ch.span, consumer_tag = %c.consumer_tag, "consumer cancelled by the broker");
                }
                if !c.no_wait {
                    let ok = basic::CancelOk {
                        consumer_tag: c.consumer_tag.clone(),
                    };
                    encode_method_frame(&mut self.output, channel, &ok.into());
                }
                if let Some(ch) = self.channels.get_mut(&channel) {
                    ch.consumers.remove(&c.consumer_tag);
                }
                self.events.push_back(Event::ConsumerCancelled {
                    channel,
                    consumer_tag: c.consumer_tag.to_string_lossy().into_owned(),
                });
                return;
            }
            _ => {}
        }
        // Replies to our calls.
        let ch = if channel == 0 {
            Some(&mut self.connection_calls)
        } else {
            self.channels.get_mut(&channel)
        };
        let Some(ch) = ch else { return };
        match ch.in_flight {
            Some((request, info)) if info.expects(method.id()) => {
                ch.in_flight = None;
                match &method {
                    Method::ChannelOpenOk(_) => {
                        ch.state = ChannelState::Open;
                        tracing::debug!(parent: &ch.span, "channel open");
                    }
                    Method::BasicConsumeOk(ok) => {
                        ch.consumers.insert(ok.consumer_tag.clone());
                    }
                    Method::BasicCancelOk(ok) => {
                        ch.consumers.remove(&ok.consumer_tag);
                    }
                    _ => {}
                }
                self.events.push_back(Event::Reply {
                    channel,
                    request,
                    method,
                    content,
                });
                self.flush(channel);
            }
            _ => {
                let id = method.id();
                let text = match method {
                    Method::Unknown { .. } => format!("unknown method {id}"),
                    _ => format!("{id}: a reply to no outstanding request"),
                };
                let e = Error::UnexpectedMethod {
                    channel,
                    method: id,
                };
                // 503: the spec's code for a method that is invalid where it
                // came, which a method no class defines is everywhere.
                self.protocol_violation(e, ReplyCode::COMMAND_INVALID, &text, now);
            }
        }
    }

    /// A confirm naming a publish the channel never made (the `exists`
    /// rule of basic.ack, applied to the broker's confirms): the channel
    /// is closed with 406 precondition-failed, and `true` returned.
    fn unknown_confirm(&mut self, channel: u16, delivery_tag: u64, multiple: bool) -> bool {
        let Some(ch) = self.channels.get(&channel) else {
            return false;
        };
        if ch.state != ChannelState::Open {
            return false;
        }
        let published = ch.next_seq;
        let known = ch.confirm && delivery_tag <= published && (delivery_tag != 0 || multiple);
        if known {
            return false;
        }
        tracing::warn!(parent: &ch.span, delivery_tag, multiple, published, "confirm of a publish the channel never made: closing the channel");
        let text = if ch.confirm {
            format!(
                "confirm of delivery tag {delivery_tag}, but the channel has published {published} messages"
            )
        } else {
            format!(
                "confirm of delivery tag {delivery_tag}, but the channel is not in confirm mode"
            )
        };
        let error = Error::UnknownConfirmTag {
            channel,
            delivery_tag,
            published,
        };
        let _ = self.close_channel_for(channel, ReplyCode::PRECONDITION_FAILED, &text, error);
        true
    }

    pub(super) fn channel_closed(&mut self, channel: u16, error: Error) {
        self.assembler.reset_channel(channel);
        let Some(mut ch) = self.channels.remove(&channel) else {
            return;
        };
        let failed = ch.take_unfinished();
        match &error {
            Error::ChannelClosedByClient { .. } => {
                tracing::debug!(parent: &ch.span, "channel closed")
            }
            e => tracing::warn!(parent: &ch.span, error = %e, "channel closed"),
        }
        self.events.push_back(Event::ChannelClosed {
            channel,
            error,
            failed,
        });
    }

    /// The peer sent a frame that is not allowed where it came.
    fn unexpected_frame(&mut self, channel: u16, code: ReplyCode, what: String, now: Instant) {
        let e = Error::UnexpectedFrame {
            channel,
            code,
            what: what.clone(),
        };
        self.protocol_violation(e, code, &what, now);
    }

    /// The peer broke the protocol: close the connection with `code`.
    pub(super) fn protocol_violation(
        &mut self,
        error: Error,
        code: ReplyCode,
        text: &str,
        now: Instant,
    ) {
        if matches!(self.state, State::Closing { .. } | State::Closed) {
            return;
        }
        tracing::error!(
            parent: &self.span,
            error = %error,
            reply_code = code.0,
            "protocol violation by the peer: closing the connection"
        );
        self.start_closing(code, text, error, now);
    }

    /// The connection is over: fail every channel and report once.
    pub(super) fn finish(&mut self, error: Error) {
        if matches!(self.state, State::Closed) {
            return;
        }
        self.state = State::Closed;
        match &error {
            Error::ConnectionClosedByClient => {
                tracing::info!(parent: &self.span, "connection closed")
            }
            e => tracing::warn!(parent: &self.span, error = %e, "connection closed"),
        }
        let channels = std::mem::take(&mut self.channels);
        for (channel, mut ch) in channels {
            let failed = ch.take_unfinished();
            self.events.push_back(Event::ChannelClosed {
                channel,
                error: error.clone(),
                failed,
            });
        }
        if !self.closed_event_sent {
            self.closed_event_sent = true;
            self.events.push_back(Event::Closed { error });
        }
    }
}

/// A frame's kind, for errors.
fn frame_kind(payload: &FramePayload) -> &'static str {
    match payload {
        FramePayload::Method(_) => "method frame",
        FramePayload::Header(_) => "content header frame",
        FramePayload::Body(_) => "content body frame",
        FramePayload::Heartbeat => "heartbeat frame",
    }
}

/// What the first bytes from the server are.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Answer {
    /// They start like a frame: decode them as frames.
    Frames,
    /// Too few to tell.
    Undecided,
    /// Something else: a protocol header of another version, or not AMQP.
    Other,
}

/// The bytes kept of a server's answer that is not AMQP 0-9-1, for the error.
const ANSWER_SHOWN: usize = 64;

/// Tells frames from another answer to our protocol header: a server that
/// does not speak 0-9-1 answers with its own protocol header (`AMQP` and
/// its version: frame type 65, which no frame has) and closes; a server
/// that is not AMQP answers what it answers.
pub(super) fn not_a_frame(input: &[u8]) -> Answer {
    match input.first() {
        None => Answer::Undecided,
        Some(&t)
            if t == amqp_protocol::constants::FRAME_METHOD
                || t == amqp_protocol::constants::FRAME_HEARTBEAT =>
        {
            Answer::Frames
        }
        // Wait for a whole protocol header, to name its version.
        Some(_) if input.len() < 8 => Answer::Undecided,
        Some(_) => Answer::Other,
    }
}

/// The error for a server that answered our protocol header with `input`.
pub(super) fn version_mismatch(input: &[u8]) -> Error {
    let shown = &input[..input.len().min(ANSWER_SHOWN)];
    let server = match shown {
        // AMQP 0-9-1's form: protocol id 0, major, minor, revision.
        [b'A', b'M', b'Q', b'P', 0, major, minor, revision] => {
            format!("{major}-{minor}-{revision}")
        }
        // The older form (0-8, 0-9): class 1, instance 1, major, minor.
        [b'A', b'M', b'Q', b'P', 1, 1, major, minor] => format!("{major}-{minor}"),
        [b'A', b'M', b'Q', b'P', id, major, minor, revision] => {
            format!("{major}-{minor}-{revision} (protocol id {id})")
        }
        _ => String::new(),
    };
    Error::ProtocolVersionMismatch {
        server,
        received: Some(shown.to_vec()),
    }
}
