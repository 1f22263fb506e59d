//! A scripted broker for the tests of the machinery, on the scripted peer
//! ([`amqp_conform::peer`]): a TCP server on 127.0.0.1 that reads anything (undecodable bytes are dropped, never
//! answered), sends `connection.start`, and answers every method a client
//! sends as a [`Policy`] says: by default with its `-ok` (or nothing, for
//! a method without one), never closing anything. A policy that breaks one
//! rule at a time shows that each kind of check a case makes can fail.

#![allow(dead_code)] // each test binary uses a part

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use amqp_conform::peer::{Peer, ScriptedBroker};
use amqp_protocol::{
    basic, channel, confirm, connection, exchange, queue, tx, FieldTable, FramePayload, LongStr,
    Method, ShortStr,
};

/// What the broker does about one method from the client.
#[derive(Debug, Clone)]
pub(crate) enum Reply {
    /// The method's `-ok` (`connection.tune` for `start-ok`), or nothing
    /// when it has none.
    Ok,
    /// These methods on the method's channel instead.
    Send(Vec<Method>),
    /// Nothing at all.
    Silence,
    /// `channel.close` with this code on the method's channel.
    CloseChannel(u16),
    /// `connection.close` with this code; the socket is closed once the
    /// client answers `close-ok`.
    CloseConnection(u16),
    /// `connection.close` with this code, and the socket left open after
    /// `close-ok`.
    CloseConnectionKeepSocket(u16),
    /// The socket closed at once, without a word.
    CloseSocket,
}

/// Decides the [`Reply`] to the method on a channel.
pub(crate) type Policy = dyn Fn(u16, &Method) -> Reply + Send + Sync;

/// The password the broker's URI carries (for the masking tests).
pub(crate) const PASSWORD: &str = "s3cret-pw";

/// A listening scripted broker, on [`ScriptedBroker`]; stops when dropped.
pub(crate) struct Broker {
    stop: Arc<AtomicBool>,
    scripted: Option<ScriptedBroker>,
}

impl Broker {
    /// The always-accepting broker.
    pub(crate) fn accepting() -> Broker {
        Broker::start(|_, _| Reply::Ok)
    }

    /// A broker answering as `policy` says.
    pub(crate) fn start(policy: impl Fn(u16, &Method) -> Reply + Send + Sync + 'static) -> Broker {
        let stop = Arc::new(AtomicBool::new(false));
        let policy: Arc<Policy> = Arc::new(policy);
        let s = stop.clone();
        let scripted = ScriptedBroker::start(move |peer| {
            serve(peer, &*policy, &s);
            Ok(())
        });
        Broker {
            stop,
            scripted: Some(scripted),
        }
    }

    /// `amqp://guest:PASSWORD@127.0.0.1:PORT/%2f`.
    pub(crate) fn uri(&self) -> String {
        let port = self.scripted.as_ref().map_or(0, |s| s.port());
        format!("amqp://guest:{PASSWORD}@127.0.0.1:{port}/%2f")
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(s) = self.scripted.take() {
            s.join();
        }
    }
}

static NAMES: AtomicU64 = AtomicU64::new(0);

/// The `-ok` of a synchronous request, `None` for anything else.
pub(crate) fn ok_of(method: &Method) -> Option<Method> {
    let short = |s: String| ShortStr::try_from(s.as_str()).unwrap_or_default();
    Some(match method {
        Method::ConnectionStartOk(_) => connection::Tune {
            channel_max: 2047,
            frame_max: 131072,
            heartbeat: 0,
        }
        .into(),
        Method::ConnectionOpen(_) => connection::OpenOk::default().into(),
        Method::ConnectionClose(_) => connection::CloseOk {}.into(),
        Method::ChannelOpen(_) => channel::OpenOk::default().into(),
        Method::ChannelClose(_) => channel::CloseOk {}.into(),
        Method::ChannelFlow(f) => channel::FlowOk { active: f.active }.into(),
        Method::ExchangeDeclare(d) if !d.no_wait => exchange::DeclareOk {}.into(),
        Method::ExchangeDelete(d) if !d.no_wait => exchange::DeleteOk {}.into(),
        Method::ExchangeBind(d) if !d.no_wait => exchange::BindOk {}.into(),
        Method::ExchangeUnbind(d) if !d.no_wait => exchange::UnbindOk {}.into(),
        Method::QueueDeclare(d) if !d.no_wait => {
            let name = if d.queue.is_empty() {
                format!("amq.gen-{}", NAMES.fetch_add(1, Ordering::Relaxed))
            } else {
                d.queue.to_string_lossy().into_owned()
            };
            queue::DeclareOk {
                queue: short(name),
                message_count: 0,
                consumer_count: 0,
            }
            .into()
        }
        Method::QueueBind(d) if !d.no_wait => queue::BindOk {}.into(),
        Method::QueueUnbind(_) => queue::UnbindOk {}.into(),
        Method::QueuePurge(d) if !d.no_wait => queue::PurgeOk { message_count: 0 }.into(),
        Method::QueueDelete(d) if !d.no_wait => queue::DeleteOk { message_count: 0 }.into(),
        Method::BasicQos(_) => basic::QosOk {}.into(),
        Method::BasicConsume(c) if !c.no_wait => basic::ConsumeOk {
            consumer_tag: if c.consumer_tag.is_empty() {
                short(format!(
                    "amq.ctag-{}",
                    NAMES.fetch_add(1, Ordering::Relaxed)
                ))
            } else {
                c.consumer_tag.clone()
            },
        }
        .into(),
        Method::BasicCancel(c) if !c.no_wait => basic::CancelOk {
            consumer_tag: c.consumer_tag.clone(),
        }
        .into(),
        Method::BasicGet(_) => basic::GetEmpty::default().into(),
        Method::BasicRecover(_) => basic::RecoverOk {}.into(),
        Method::ConfirmSelect(s) if !s.no_wait => confirm::SelectOk {}.into(),
        Method::TxSelect(_) => tx::SelectOk {}.into(),
        Method::TxCommit(_) => tx::CommitOk {}.into(),
        Method::TxRollback(_) => tx::RollbackOk {}.into(),
        _ => return None,
    })
}

fn close_method(code: u16) -> Method {
    connection::Close {
        reply_code: code,
        reply_text: ShortStr::from_static("SCRIPTED"),
        class_id: 0,
        method_id: 0,
    }
    .into()
}

/// One connection, until the client closes it, the policy closes it, or
/// the broker stops.
fn serve(mut peer: Peer, policy: &Policy, stop: &AtomicBool) {
    let wait = Duration::from_millis(20);
    // Any frame size: an oversized frame is the broker's to judge.
    peer.set_frame_max(u32::MAX);
    // Whether the socket closes when the client's close-ok comes.
    let mut close_on_close_ok = false;
    let mut header_read = false;
    while !stop.load(Ordering::SeqCst) {
        if !header_read {
            match peer.try_read_protocol_header(wait) {
                // Whatever header it is: accepted.
                Ok(Some(_)) => header_read = true,
                Ok(None) => continue,
                Err(_) => return,
            }
            let mut props = FieldTable::default();
            for key in [
                "host",
                "product",
                "version",
                "platform",
                "copyright",
                "information",
            ] {
                props.insert(key, "scripted");
            }
            let start = connection::Start {
                version_major: 0,
                version_minor: 9,
                server_properties: props,
                mechanisms: LongStr::from("PLAIN AMQPLAIN"),
                locales: LongStr::from("en_US"),
            };
            if peer.send_method(0, start).is_err() {
                return;
            }
        }
        let frame = match peer.try_recv_frame_raw(wait) {
            Ok(Some(frame)) => frame,
            Ok(None) => continue,
            Err(e) if e.is_undecodable() => {
                // Undecodable: dropped, never answered.
                peer.discard_input();
                continue;
            }
            Err(_) => return,
        };
        let FramePayload::Method(method) = frame.payload else {
            continue; // heartbeats and content: accepted
        };
        let ch = frame.channel;
        if matches!(method, Method::ConnectionCloseOk(_)) && close_on_close_ok {
            peer.close_socket();
            return;
        }
        let sent = match policy(ch, &method) {
            Reply::Ok => match ok_of(&method) {
                Some(ok) => peer.send_method(ch, ok),
                None => Ok(()),
            },
            Reply::Send(methods) => methods
                .into_iter()
                .try_for_each(|m| peer.send_method(ch, m)),
            Reply::Silence => Ok(()),
            Reply::CloseChannel(code) => peer.send_method(
                ch,
                channel::Close {
                    reply_code: code,
                    reply_text: ShortStr::from_static("SCRIPTED"),
                    class_id: 0,
                    method_id: 0,
                },
            ),
            Reply::CloseConnection(code) => {
                close_on_close_ok = true;
                peer.send_method(0, close_method(code))
            }
            Reply::CloseConnectionKeepSocket(code) => peer.send_method(0, close_method(code)),
            Reply::CloseSocket => {
                peer.close_socket();
                return;
            }
        };
        if sent.is_err() {
            return;
        }
    }
}
