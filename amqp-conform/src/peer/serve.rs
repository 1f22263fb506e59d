//! [`Peer::serve`]: the auto-responder, and the [`Server`] its hook acts
//! through.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use amqp_protocol::{
    basic, channel, confirm, connection, exchange, queue, tx, BasicProperties, Method, ReplyCode,
};
use bytes::Bytes;

use super::{short, Command, Peer, PeerError, PeerResult};

/// What [`Peer::serve`] does with a method after its hook ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Answer it as RabbitMQ would ([`Server::answer`]).
    Answer,
    /// Nothing more: the hook answered, or chose to send nothing.
    Handled,
    /// Nothing more, and return from `serve` ([`Ended::Stopped`]).
    Stop,
}

/// How [`Peer::serve`] ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// The client sent connection.close (answered with close-ok).
    ClientClosed(connection::Close),
    /// The client answered our connection.close with close-ok.
    Closed,
    /// The client closed the TCP connection.
    Eof,
    /// The hook returned [`Action::Stop`].
    Stopped,
}

/// A message the client published.
#[derive(Debug, Clone)]
pub struct Published {
    /// The channel.
    pub channel: u16,
    /// basic.publish's exchange.
    pub exchange: String,
    /// basic.publish's routing key.
    pub routing_key: String,
    /// Its properties.
    pub properties: BasicProperties,
    /// Its body.
    pub body: Bytes,
}

#[derive(Debug, Default)]
struct ChannelState {
    confirm: bool,
    /// Publishes so far in confirm mode: the last one's sequence number.
    published: u64,
    /// The last delivery tag used.
    delivered: u64,
    consumers: BTreeSet<String>,
}

type Later = Box<dyn for<'a, 'b> FnOnce(&'a mut Server<'b>) -> PeerResult<()> + Send>;

/// The auto-responder's state and the hook's means of acting: what it
/// records (channels, consumers, publishes) and what it can send.
pub struct Server<'p> {
    peer: &'p mut Peer,
    channels: BTreeMap<u16, ChannelState>,
    published: Vec<Published>,
    later: Vec<(Instant, Later)>,
    names: u64,
    closing: bool,
}

impl Peer {
    /// Answers the client's requests as RabbitMQ would, calling `hook`
    /// first for every method (see [`Action`]), until the client closes
    /// the connection, answers our close, drops the socket, or the hook
    /// stops. Silence from the client for longer than the peer's timeout,
    /// while nothing is scheduled, is an error.
    pub fn serve(
        &mut self,
        mut hook: impl FnMut(&mut Server<'_>, &Command) -> PeerResult<Action>,
    ) -> PeerResult<Ended> {
        let timeout = self.timeout;
        let mut server = Server {
            peer: self,
            channels: BTreeMap::new(),
            published: Vec::new(),
            later: Vec::new(),
            names: 0,
            closing: false,
        };
        let mut idle_since = Instant::now();
        loop {
            server.run_due()?;
            let now = Instant::now();
            let next = server.later.iter().map(|(at, _)| *at).min();
            let wait = match next {
                Some(at) => at.saturating_duration_since(now),
                None => (idle_since + timeout).saturating_duration_since(now),
            };
            let command = match server.peer.try_recv(wait) {
                Ok(c) => c,
                Err(_) if server.peer.eof => return Ok(Ended::Eof),
                Err(e) => return Err(e),
            };
            let Some(command) = command else {
                if next.is_none() && Instant::now() >= idle_since + timeout {
                    return Err(PeerError(format!(
                        "the client sent nothing for {timeout:?} while served"
                    )));
                }
                continue;
            };
            idle_since = Instant::now();
            if server.closing && matches!(command.method, Method::ConnectionCloseOk(_)) {
                return Ok(Ended::Closed);
            }
            match hook(&mut server, &command)? {
                Action::Answer => {
                    server.answer(&command)?;
                }
                Action::Handled => {}
                Action::Stop => return Ok(Ended::Stopped),
            }
            if let Method::ConnectionClose(close) = command.method {
                return Ok(Ended::ClientClosed(close));
            }
        }
    }
}

impl Server<'_> {
    /// The connection, for anything else (raw bytes, malformed frames).
    pub fn peer(&mut self) -> &mut Peer {
        self.peer
    }

    /// Every message published so far.
    pub fn published(&self) -> &[Published] {
        &self.published
    }

    /// The consumer tags registered on `channel`.
    pub fn consumers(&self, channel: u16) -> Vec<String> {
        self.channels
            .get(&channel)
            .map(|c| c.consumers.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Runs `action` once `delay` has passed (while serving): a late reply,
    /// a late confirm.
    pub fn later(
        &mut self,
        delay: Duration,
        action: impl for<'a, 'b> FnOnce(&'a mut Server<'b>) -> PeerResult<()> + Send + 'static,
    ) {
        self.later.push((Instant::now() + delay, Box::new(action)));
    }

    fn run_due(&mut self) -> PeerResult<()> {
        let now = Instant::now();
        while let Some(i) = self.later.iter().position(|(at, _)| *at <= now) {
            let (_, action) = self.later.swap_remove(i);
            action(self)?;
        }
        Ok(())
    }

    fn name(&mut self, prefix: &str) -> String {
        self.names += 1;
        format!("{prefix}-scripted-{}", self.names)
    }

    /// Records a basic.publish and returns its sequence number when the
    /// channel is in confirm mode, without confirming it (for a hook that
    /// confirms late, or never).
    pub fn record_publish(&mut self, command: &Command) -> Option<u64> {
        let Method::BasicPublish(p) = &command.method else {
            return None;
        };
        let (properties, body) = command.content.clone().unwrap_or_default();
        self.published.push(Published {
            channel: command.channel,
            exchange: p.exchange.to_string_lossy().into_owned(),
            routing_key: p.routing_key.to_string_lossy().into_owned(),
            properties,
            body,
        });
        let ch = self.channels.entry(command.channel).or_default();
        ch.confirm.then(|| {
            ch.published += 1;
            ch.published
        })
    }

    /// Answers `command` as RabbitMQ would; returns the name it generated
    /// or echoed (a queue name for queue.declare, a consumer tag for
    /// basic.consume), else an empty string. Methods RabbitMQ does not
    /// answer (acks, rejects, ...) are recorded or ignored; a method it
    /// would refuse is an error of the script.
    pub fn answer(&mut self, command: &Command) -> PeerResult<String> {
        let ch = command.channel;
        let mut name = String::new();
        match &command.method {
            Method::ConnectionClose(_) => self.peer.send_method(0, connection::CloseOk {})?,
            Method::ConnectionCloseOk(_) => {}
            Method::ChannelOpen(_) => {
                self.channels.insert(ch, ChannelState::default());
                self.peer.send_method(ch, channel::OpenOk::default())?;
            }
            Method::ChannelClose(_) => {
                self.channels.remove(&ch);
                self.peer.send_method(ch, channel::CloseOk {})?;
            }
            Method::ChannelCloseOk(_) => {
                self.channels.remove(&ch);
            }
            Method::ChannelFlow(f) => self
                .peer
                .send_method(ch, channel::FlowOk { active: f.active })?,
            Method::ExchangeDeclare(d) if !d.no_wait => {
                self.peer.send_method(ch, exchange::DeclareOk {})?
            }
            Method::ExchangeDelete(d) if !d.no_wait => {
                self.peer.send_method(ch, exchange::DeleteOk {})?
            }
            Method::ExchangeBind(d) if !d.no_wait => {
                self.peer.send_method(ch, exchange::BindOk {})?
            }
            Method::ExchangeUnbind(d) if !d.no_wait => {
                self.peer.send_method(ch, exchange::UnbindOk {})?
            }
            Method::QueueDeclare(d) => {
                name = if d.queue.is_empty() {
                    self.name("amq.gen")
                } else {
                    d.queue.to_string_lossy().into_owned()
                };
                if !d.no_wait {
                    let ok = queue::DeclareOk {
                        queue: short(&name),
                        message_count: 0,
                        consumer_count: 0,
                    };
                    self.peer.send_method(ch, ok)?;
                }
            }
            Method::QueueBind(d) if !d.no_wait => self.peer.send_method(ch, queue::BindOk {})?,
            Method::QueueUnbind(_) => self.peer.send_method(ch, queue::UnbindOk {})?,
            Method::QueuePurge(d) if !d.no_wait => self
                .peer
                .send_method(ch, queue::PurgeOk { message_count: 0 })?,
            Method::QueueDelete(d) if !d.no_wait => self
                .peer
                .send_method(ch, queue::DeleteOk { message_count: 0 })?,
            Method::BasicQos(_) => self.peer.send_method(ch, basic::QosOk {})?,
            Method::BasicConsume(c) => {
                name = if c.consumer_tag.is_empty() {
                    self.name("amq.ctag")
                } else {
                    c.consumer_tag.to_string_lossy().into_owned()
                };
                self.channels
                    .entry(ch)
                    .or_default()
                    .consumers
                    .insert(name.clone());
                if !c.no_wait {
                    let ok = basic::ConsumeOk {
                        consumer_tag: short(&name),
                    };
                    self.peer.send_method(ch, ok)?;
                }
            }
            Method::BasicCancel(c) => {
                name = c.consumer_tag.to_string_lossy().into_owned();
                if let Some(state) = self.channels.get_mut(&ch) {
                    state.consumers.remove(&name);
                }
                if !c.no_wait {
                    let ok = basic::CancelOk {
                        consumer_tag: c.consumer_tag.clone(),
                    };
                    self.peer.send_method(ch, ok)?;
                }
            }
            Method::BasicCancelOk(_) => {}
            Method::BasicGet(_) => self.peer.send_method(ch, basic::GetEmpty::default())?,
            Method::BasicRecover(_) => self.peer.send_method(ch, basic::RecoverOk {})?,
            Method::BasicPublish(_) => {
                if let Some(seq) = self.record_publish(command) {
                    self.ack(ch, seq, false)?;
                }
            }
            Method::BasicAck(_)
            | Method::BasicNack(_)
            | Method::BasicReject(_)
            | Method::BasicRecoverAsync(_) => {}
            Method::ConfirmSelect(s) => {
                self.channels.entry(ch).or_default().confirm = true;
                if !s.no_wait {
                    self.peer.send_method(ch, confirm::SelectOk {})?;
                }
            }
            Method::TxSelect(_) => self.peer.send_method(ch, tx::SelectOk {})?,
            Method::TxCommit(_) => self.peer.send_method(ch, tx::CommitOk {})?,
            Method::TxRollback(_) => self.peer.send_method(ch, tx::RollbackOk {})?,
            // The no-wait forms of the methods above: no answer.
            Method::ExchangeDeclare(_)
            | Method::ExchangeDelete(_)
            | Method::ExchangeBind(_)
            | Method::ExchangeUnbind(_)
            | Method::QueueBind(_)
            | Method::QueuePurge(_)
            | Method::QueueDelete(_) => {}
            other => {
                return Err(PeerError(format!(
                    "the scripted broker has no answer to {other:?} on channel {ch}"
                )))
            }
        }
        Ok(name)
    }

    /// Delivers a message to `consumer_tag` on `channel` (registered or
    /// not, whatever the prefetch), with the channel's next delivery tag,
    /// which it returns.
    pub fn deliver(&mut self, channel: u16, consumer_tag: &str, body: &[u8]) -> PeerResult<u64> {
        let state = self.channels.entry(channel).or_default();
        state.delivered += 1;
        let delivery_tag = state.delivered;
        let deliver = basic::Deliver {
            consumer_tag: short(consumer_tag),
            delivery_tag,
            redelivered: false,
            exchange: short(""),
            routing_key: short("scripted"),
        };
        self.peer
            .send_content(channel, deliver, &BasicProperties::default(), body)?;
        Ok(delivery_tag)
    }

    /// Cancels a consumer from the server's side (basic.cancel, as RabbitMQ
    /// does when its queue is deleted).
    pub fn cancel_consumer(&mut self, channel: u16, consumer_tag: &str) -> PeerResult<()> {
        if let Some(state) = self.channels.get_mut(&channel) {
            state.consumers.remove(consumer_tag);
        }
        let cancel = basic::Cancel {
            consumer_tag: short(consumer_tag),
            no_wait: false,
        };
        self.peer.send_method(channel, cancel)
    }

    /// Closes a channel from the server's side (channel.close); its
    /// close-ok comes back as a method the auto-responder records.
    pub fn close_channel(&mut self, channel: u16, code: ReplyCode, text: &str) -> PeerResult<()> {
        let close = channel::Close {
            reply_code: code.0,
            reply_text: short(text),
            class_id: 0,
            method_id: 0,
        };
        self.peer.send_method(channel, close)
    }

    /// Closes the connection from the server's side (connection.close);
    /// `serve` returns [`Ended::Closed`] at the client's close-ok.
    pub fn close_connection(&mut self, code: ReplyCode, text: &str) -> PeerResult<()> {
        self.closing = true;
        let close = connection::Close {
            reply_code: code.0,
            reply_text: short(text),
            class_id: 0,
            method_id: 0,
        };
        self.peer.send_method(0, close)
    }

    /// Confirms publishes (basic.ack).
    pub fn ack(&mut self, channel: u16, delivery_tag: u64, multiple: bool) -> PeerResult<()> {
        let ack = basic::Ack {
            delivery_tag,
            multiple,
        };
        self.peer.send_method(channel, ack)
    }

    /// Refuses publishes (basic.nack).
    pub fn nack(&mut self, channel: u16, delivery_tag: u64, multiple: bool) -> PeerResult<()> {
        let nack = basic::Nack {
            delivery_tag,
            multiple,
            requeue: false,
        };
        self.peer.send_method(channel, nack)
    }
}
