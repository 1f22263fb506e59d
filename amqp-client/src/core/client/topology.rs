//! The topology the application declared through this connection:
//! exchanges, queues and bindings, kept as the broker confirmed them, so
//! that a new connection can declare them again in an order the broker
//! accepts (exchanges, then queues, then bindings).
//!
//! Recorded: what the broker confirmed (declare-ok, bind-ok, ...), never a
//! passive declare. Deleting an entity forgets it and the bindings that
//! name it; a server-named queue is kept under the name the broker gave it
//! and marked as such (a new connection must ask for a new name); a
//! binding named by an empty queue name is the channel's last declared
//! queue, as the specification says. An auto-delete queue is forgotten
//! when its last consumer of this connection goes, and an auto-delete
//! exchange when its last binding as a source goes.

use std::collections::HashMap;

use amqp_protocol::{exchange, queue, Method, ShortStr};

/// A queue as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordedQueue {
    /// Its name (the broker's, for a server-named queue).
    pub name: ShortStr,
    /// The broker chose the name: a new connection declares it with an
    /// empty name and gets another.
    pub server_named: bool,
    /// The declaration (passive off), with the name asked for.
    pub declare: queue::Declare,
}

/// The recorded topology of one connection.
#[derive(Debug, Default, Clone)]
pub struct Topology {
    exchanges: Vec<exchange::Declare>,
    queues: Vec<RecordedQueue>,
    queue_bindings: Vec<queue::Bind>,
    exchange_bindings: Vec<exchange::Bind>,
    /// The last queue declared on each channel (an empty queue name in a
    /// bind means it).
    last_queue: HashMap<u16, ShortStr>,
}

impl Topology {
    /// Whether `method` changes the topology once the broker confirms it.
    pub(super) fn concerns(method: &Method) -> bool {
        match method {
            Method::ExchangeDeclare(d) => !d.passive,
            Method::QueueDeclare(d) => !d.passive,
            Method::ExchangeDelete(_)
            | Method::QueueDelete(_)
            | Method::QueueBind(_)
            | Method::QueueUnbind(_)
            | Method::ExchangeBind(_)
            | Method::ExchangeUnbind(_) => true,
            _ => false,
        }
    }

    /// The broker confirmed `method` (sent on channel `channel`) with
    /// `reply`.
    pub(super) fn record(&mut self, channel: u16, method: &Method, reply: &Method) {
        match method {
            Method::ExchangeDeclare(d) if !d.passive => {
                let mut d = d.clone();
                d.no_wait = false;
                match self.exchanges.iter_mut().find(|e| e.exchange == d.exchange) {
                    Some(e) => *e = d,
                    None => self.exchanges.push(d),
                }
            }
            Method::QueueDeclare(d) if !d.passive => {
                let name = match reply {
                    Method::QueueDeclareOk(ok) => ok.queue.clone(),
                    _ => d.queue.clone(),
                };
                let mut declare = d.clone();
                declare.no_wait = false;
                let q = RecordedQueue {
                    name: name.clone(),
                    server_named: d.queue.is_empty(),
                    declare,
                };
                match self.queues.iter_mut().find(|r| r.name == name) {
                    Some(r) => *r = q,
                    None => self.queues.push(q),
                }
                self.last_queue.insert(channel, name);
            }
            Method::ExchangeDelete(d) => self.forget_exchange(&d.exchange),
            Method::QueueDelete(d) => {
                let name = self.queue_name(channel, &d.queue);
                self.forget_queue(&name);
            }
            Method::QueueBind(b) => {
                let mut b = b.clone();
                b.queue = self.queue_name(channel, &b.queue);
                b.no_wait = false;
                if !self.queue_bindings.contains(&b) {
                    self.queue_bindings.push(b);
                }
            }
            Method::QueueUnbind(u) => {
                let queue = self.queue_name(channel, &u.queue);
                self.queue_bindings.retain(|b| {
                    !(b.queue == queue
                        && b.exchange == u.exchange
                        && b.routing_key == u.routing_key
                        && b.arguments == u.arguments)
                });
                self.forget_unbound_auto_delete(&u.exchange);
            }
            Method::ExchangeBind(b) => {
                let mut b = b.clone();
                b.no_wait = false;
                if !self.exchange_bindings.contains(&b) {
                    self.exchange_bindings.push(b);
                }
            }
            Method::ExchangeUnbind(u) => {
                self.exchange_bindings.retain(|b| {
                    !(b.destination == u.destination
                        && b.source == u.source
                        && b.routing_key == u.routing_key
                        && b.arguments == u.arguments)
                });
                self.forget_unbound_auto_delete(&u.source);
            }
            _ => {}
        }
    }

    /// The last consumer of this connection on `queue` went: an
    /// auto-delete queue is gone with it.
    pub(super) fn last_consumer_gone(&mut self, queue: &ShortStr) {
        let auto_delete = self
            .queues
            .iter()
            .any(|q| q.name == *queue && q.declare.auto_delete);
        if auto_delete {
            self.forget_queue(queue);
        }
    }

    /// Forgets what `method` declared (a recovery could not declare it
    /// again).
    pub(super) fn forget(&mut self, method: &Method) {
        match method {
            Method::ExchangeDeclare(d) => self.forget_exchange(&d.exchange),
            Method::QueueDeclare(d) => self.forget_queue(&d.queue),
            Method::QueueBind(b) => self.queue_bindings.retain(|x| x != b),
            Method::ExchangeBind(b) => self.exchange_bindings.retain(|x| x != b),
            _ => {}
        }
    }

    /// Server-named queue `old` is now called `new`: its record and the
    /// bindings that name it follow.
    pub(super) fn rename_queue(&mut self, old: &ShortStr, new: &ShortStr) {
        for q in self.queues.iter_mut().filter(|q| q.name == *old) {
            q.name = new.clone();
        }
        for b in self.queue_bindings.iter_mut().filter(|b| b.queue == *old) {
            b.queue = new.clone();
        }
        for q in self.last_queue.values_mut().filter(|q| **q == *old) {
            *q = new.clone();
        }
    }

    /// The name an empty queue name stands for on `channel`.
    fn queue_name(&self, channel: u16, queue: &ShortStr) -> ShortStr {
        if queue.is_empty() {
            if let Some(q) = self.last_queue.get(&channel) {
                return q.clone();
            }
        }
        queue.clone()
    }

    fn forget_exchange(&mut self, name: &ShortStr) {
        self.exchanges.retain(|e| e.exchange != *name);
        self.queue_bindings.retain(|b| b.exchange != *name);
        let mut sources = Vec::new();
        self.exchange_bindings.retain(|b| {
            let names_it = b.source == *name || b.destination == *name;
            if names_it && b.source != *name {
                sources.push(b.source.clone());
            }
            !names_it
        });
        for s in sources {
            self.forget_unbound_auto_delete(&s);
        }
    }

    fn forget_queue(&mut self, name: &ShortStr) {
        self.queues.retain(|q| q.name != *name);
        let mut sources = Vec::new();
        self.queue_bindings.retain(|b| {
            if b.queue == *name {
                sources.push(b.exchange.clone());
                return false;
            }
            true
        });
        self.last_queue.retain(|_, q| q != name);
        for s in sources {
            self.forget_unbound_auto_delete(&s);
        }
    }

    /// An auto-delete exchange is deleted by the broker once its last
    /// binding as a source goes.
    fn forget_unbound_auto_delete(&mut self, exchange: &ShortStr) {
        let auto_delete = self
            .exchanges
            .iter()
            .any(|e| e.exchange == *exchange && e.auto_delete);
        let bound = self.queue_bindings.iter().any(|b| b.exchange == *exchange)
            || self.exchange_bindings.iter().any(|b| b.source == *exchange);
        if auto_delete && !bound {
            self.forget_exchange(exchange);
        }
    }

    /// The exchanges, in the order they were first declared.
    pub fn exchanges(&self) -> &[exchange::Declare] {
        &self.exchanges
    }

    /// The queues, in the order they were first declared.
    pub fn queues(&self) -> &[RecordedQueue] {
        &self.queues
    }

    /// The bindings of queues to exchanges.
    pub fn queue_bindings(&self) -> &[queue::Bind] {
        &self.queue_bindings
    }

    /// The bindings of exchanges to exchanges.
    pub fn exchange_bindings(&self) -> &[exchange::Bind] {
        &self.exchange_bindings
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.exchanges.is_empty()
            && self.queues.is_empty()
            && self.queue_bindings.is_empty()
            && self.exchange_bindings.is_empty()
    }

    /// The methods that declare it all again, in an order the broker
    /// accepts: exchanges, queues (a server-named one with an empty name),
    /// then bindings, each after what it names. (Renaming what names a
    /// server-named queue is up to whoever replays them.)
    pub fn replay(&self) -> Vec<Method> {
        let mut out: Vec<Method> = Vec::with_capacity(
            self.exchanges.len()
                + self.queues.len()
                + self.queue_bindings.len()
                + self.exchange_bindings.len(),
        );
        out.extend(self.exchanges.iter().cloned().map(Method::from));
        out.extend(self.queues.iter().map(|q| {
            let mut d = q.declare.clone();
            if q.server_named {
                d.queue = ShortStr::default();
            }
            Method::from(d)
        }));
        out.extend(self.exchange_bindings.iter().cloned().map(Method::from));
        out.extend(self.queue_bindings.iter().cloned().map(Method::from));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use amqp_protocol::FieldTable;

    fn ss(s: &str) -> ShortStr {
        ShortStr::try_from(s).unwrap()
    }

    fn exchange(name: &str, auto_delete: bool) -> Method {
        exchange::Declare {
            exchange: ss(name),
            kind: ss("topic"),
            auto_delete,
            ..Default::default()
        }
        .into()
    }

    fn queue(name: &str, auto_delete: bool) -> Method {
        queue::Declare {
            queue: ss(name),
            auto_delete,
            ..Default::default()
        }
        .into()
    }

    fn declare_ok(name: &str) -> Method {
        queue::DeclareOk {
            queue: ss(name),
            ..Default::default()
        }
        .into()
    }

    fn bind(queue: &str, exchange: &str, key: &str) -> Method {
        queue::Bind {
            queue: ss(queue),
            exchange: ss(exchange),
            routing_key: ss(key),
            ..Default::default()
        }
        .into()
    }

    fn unbind(queue: &str, exchange: &str, key: &str) -> Method {
        queue::Unbind {
            queue: ss(queue),
            exchange: ss(exchange),
            routing_key: ss(key),
            ..Default::default()
        }
        .into()
    }

    fn names(t: &Topology) -> Vec<String> {
        t.replay()
            .iter()
            .map(|m| {
                let s = |v: &ShortStr| v.to_string_lossy().into_owned();
                match m {
                    Method::ExchangeDeclare(d) => format!("x:{}", s(&d.exchange)),
                    Method::QueueDeclare(d) => format!("q:{}", s(&d.queue)),
                    Method::QueueBind(b) => {
                        format!(
                            "b:{}<-{}:{}",
                            s(&b.queue),
                            s(&b.exchange),
                            s(&b.routing_key)
                        )
                    }
                    Method::ExchangeBind(b) => {
                        format!("e:{}<-{}", s(&b.destination), s(&b.source))
                    }
                    other => format!("{other:?}"),
                }
            })
            .collect()
    }

    /// Recorded as confirmed, replayed exchanges first, then queues, then
    /// bindings; passive declares are not recorded; a redeclaration
    /// replaces the first.
    #[test]
    fn replays_in_dependency_order() {
        let mut t = Topology::default();
        t.record(1, &queue("q1", false), &declare_ok("q1"));
        t.record(
            1,
            &bind("q1", "x1", "a"),
            &Method::QueueBindOk(Default::default()),
        );
        t.record(
            1,
            &exchange("x1", false),
            &Method::ExchangeDeclareOk(Default::default()),
        );
        t.record(
            1,
            &exchange::Bind {
                destination: ss("x1"),
                source: ss("x2"),
                ..Default::default()
            }
            .into(),
            &Method::ExchangeBindOk(Default::default()),
        );
        t.record(
            1,
            &exchange("x2", false),
            &Method::ExchangeDeclareOk(Default::default()),
        );
        let passive = queue::Declare {
            queue: ss("elsewhere"),
            passive: true,
            ..Default::default()
        };
        t.record(1, &passive.into(), &declare_ok("elsewhere"));
        let mut args = FieldTable::new();
        args.insert("x-max-length", 10i32);
        let redeclared = queue::Declare {
            queue: ss("q1"),
            arguments: args.clone(),
            ..Default::default()
        };
        t.record(2, &redeclared.into(), &declare_ok("q1"));
        assert_eq!(
            names(&t),
            ["x:x1", "x:x2", "q:q1", "e:x1<-x2", "b:q1<-x1:a"]
        );
        assert_eq!(t.queues()[0].declare.arguments, args);
    }

    /// A server-named queue keeps the broker's name, replays with an empty
    /// one, and an empty queue name in a bind means the channel's last
    /// declared queue.
    #[test]
    fn server_named_queues_and_the_last_declared_queue() {
        let mut t = Topology::default();
        t.record(3, &queue("", false), &declare_ok("amq.gen-1"));
        t.record(
            3,
            &bind("", "x", "k"),
            &Method::QueueBindOk(Default::default()),
        );
        assert!(t.queues()[0].server_named);
        assert_eq!(t.queues()[0].name, ss("amq.gen-1"));
        assert_eq!(t.queue_bindings()[0].queue, ss("amq.gen-1"));
        assert_eq!(names(&t), ["q:", "b:amq.gen-1<-x:k"]);
    }

    /// Deleting forgets the entity and the bindings that name it; unbind
    /// forgets one binding; auto-delete entities go with their last
    /// consumer or binding.
    #[test]
    fn deletes_unbinds_and_auto_delete() {
        let mut t = Topology::default();
        t.record(
            1,
            &exchange("x", false),
            &Method::ExchangeDeclareOk(Default::default()),
        );
        t.record(
            1,
            &exchange("auto", true),
            &Method::ExchangeDeclareOk(Default::default()),
        );
        t.record(1, &queue("q", false), &declare_ok("q"));
        t.record(1, &queue("tmp", true), &declare_ok("tmp"));
        for (q, x, k) in [
            ("q", "x", "a"),
            ("q", "x", "b"),
            ("q", "auto", "c"),
            ("tmp", "x", "d"),
        ] {
            t.record(1, &bind(q, x, k), &Method::QueueBindOk(Default::default()));
        }
        t.record(
            1,
            &unbind("q", "x", "a"),
            &Method::QueueUnbindOk(Default::default()),
        );
        assert_eq!(
            names(&t),
            [
                "x:x",
                "x:auto",
                "q:q",
                "q:tmp",
                "b:q<-x:b",
                "b:q<-auto:c",
                "b:tmp<-x:d"
            ]
        );
        // The auto-delete exchange loses its last binding with it.
        t.record(
            1,
            &unbind("q", "auto", "c"),
            &Method::QueueUnbindOk(Default::default()),
        );
        assert_eq!(names(&t), ["x:x", "q:q", "q:tmp", "b:q<-x:b", "b:tmp<-x:d"]);
        t.last_consumer_gone(&ss("tmp"));
        assert_eq!(names(&t), ["x:x", "q:q", "b:q<-x:b"]);
        t.record(
            1,
            &exchange::Delete {
                exchange: ss("x"),
                ..Default::default()
            }
            .into(),
            &Method::ExchangeDeleteOk(Default::default()),
        );
        assert_eq!(names(&t), ["q:q"]);
        t.record(
            1,
            &queue::Delete {
                queue: ss("q"),
                ..Default::default()
            }
            .into(),
            &Method::QueueDeleteOk(Default::default()),
        );
        assert!(t.is_empty());
    }
}
