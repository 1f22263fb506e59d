//! The client's vocabulary, written once: one method per channel operation
//! that has a reply (or none, for acknowledgements), expanded by every
//! adapter in its own style, so that each operation has the same name,
//! arguments, option struct and result everywhere.
//!
//! An adapter expands [`channel_operations!`] inside its `impl Channel`, in
//! one of three styles, and provides what the style calls:
//!
//! - `blocking`: `fn request<T>(&self, op) -> Result<T, Error>`,
//!   `fn acknowledge(&self, op) -> Result<(), Error>`, and for publishes
//!   `publish_and_wait` (waits for the confirm in confirm mode),
//!   `publish_tracked` (gives a `Confirmation`) and `publish_untracked`;
//! - `future`: the same, `request` and the publishes being `async` (the
//!   publishes also take the body's length first, for back-pressure);
//! - `callback`: `fn request<T: 'static>(&self, op, on_done: Option<impl
//!   FnOnce(Result<T, Error>) + 'static>) -> Result<(), Error>` (the methods
//!   take a trailing `on_done`), `fn acknowledge(&self, op) -> Result<(),
//!   Error>` and `fn publish(&self, op) -> Result<Option<u64>, Error>` (the
//!   outcome goes to `on_confirm`).
//!
//! `op` is a closure `FnOnce(&mut Client, ChannelRef) -> Result<Pending<T>,
//! Error>` (or `-> Result<(), Error>` for acknowledgements) calling the
//! [`Client`](super::Client) method of the same name.

/// One method per channel operation, in the adapter's style (see the
/// [module docs](self)).
macro_rules! channel_operations {
    ($style:ident) => {
        $crate::core::vocabulary::channel_operations! { @table $style
            /// exchange.declare of `exchange` of type `kind` (`direct`,
            /// `fanout`, `topic`, `headers`, or a plugin's).
            fn exchange_declare(
                exchange: &str,
                kind: &str,
                options: $crate::types::ExchangeDeclareOptions
            ) -> ();
            /// exchange.delete.
            fn exchange_delete(exchange: &str, options: $crate::types::ExchangeDeleteOptions) -> ();
            /// exchange.bind: route from `source` to `destination`.
            fn exchange_bind(
                destination: &str,
                source: &str,
                routing_key: &str,
                arguments: $crate::FieldTable
            ) -> ();
            /// exchange.unbind.
            fn exchange_unbind(
                destination: &str,
                source: &str,
                routing_key: &str,
                arguments: $crate::FieldTable
            ) -> ();
            /// queue.declare; `""` asks the broker for a name, which the
            /// result carries with the queue's message and consumer counts.
            fn queue_declare(
                queue: &str,
                options: $crate::types::QueueDeclareOptions
            ) -> $crate::types::QueueDeclareOk;
            /// queue.bind.
            fn queue_bind(
                queue: &str,
                exchange: &str,
                routing_key: &str,
                arguments: $crate::FieldTable
            ) -> ();
            /// queue.unbind.
            fn queue_unbind(
                queue: &str,
                exchange: &str,
                routing_key: &str,
                arguments: $crate::FieldTable
            ) -> ();
            /// queue.purge: the number of messages purged.
            fn queue_purge(queue: &str) -> u32;
            /// queue.delete: the number of messages deleted with the queue.
            fn queue_delete(queue: &str, options: $crate::types::QueueDeleteOptions) -> u32;
            /// basic.qos: how many messages (`prefetch_count`, 0 for no
            /// limit) the broker sends ahead of their acks, per consumer
            /// (RabbitMQ's meaning of `global = false`) or for the channel.
            fn basic_qos(prefetch_size: u32, prefetch_count: u16, global: bool) -> ();
            /// basic.cancel of the consumer tagged `consumer_tag`: a
            /// callback consumer gets nothing after the reply; a consumer
            /// read as an iterator or a stream yields what it received, then
            /// ends.
            fn basic_cancel(consumer_tag: &str) -> ();
            /// basic.get; `None` when the queue is empty.
            fn basic_get(queue: &str, no_ack: bool) -> Option<$crate::types::GetMessage>;
            /// basic.recover (RabbitMQ supports `requeue = true` only).
            fn basic_recover(requeue: bool) -> ();
            /// confirm.select: from now on the broker acks or nacks every
            /// publish, and each publish has one outcome: acked, nacked
            /// ([`Error::Nacked`](crate::Error::Nacked)), or returned then
            /// acked ([`Error::Unroutable`](crate::Error::Unroutable)).
            fn confirm_delivery() -> ();
            /// tx.select.
            fn tx_select() -> ();
            /// tx.commit.
            fn tx_commit() -> ();
            /// tx.rollback.
            fn tx_rollback() -> ();
            /// channel.flow: asks the broker to stop (false) or resume
            /// (true) deliveries; the result is its answer. RabbitMQ refuses
            /// `false` with 540 not-implemented.
            fn flow(active: bool) -> bool;
        }
        $crate::core::vocabulary::channel_operations! { @publish $style }
        $crate::core::vocabulary::channel_operations! { @acks $style
            /// basic.ack: the delivery (with `multiple`, every earlier one
            /// of the channel too) is done with. Never waits.
            fn basic_ack(delivery_tag: u64, multiple: bool);
            /// basic.nack: the delivery is not done with; requeued or
            /// dropped (dead-lettered) as `options` says. Never waits.
            fn basic_nack(delivery_tag: u64, options: $crate::types::NackOptions);
            /// basic.reject: basic.nack of one delivery. Never waits.
            fn basic_reject(delivery_tag: u64, requeue: bool);
        }
    };
    (@publish blocking) => {
        /// basic.publish of `body` to `exchange` with `routing_key`. In
        /// confirm mode ([`confirm_delivery`](Self::confirm_delivery)),
        /// waits for the broker's answer: `Ok` for an ack,
        /// [`Error::Nacked`](crate::Error::Nacked), or
        /// [`Error::Unroutable`](crate::Error::Unroutable) when a mandatory
        /// message was returned.
        pub fn basic_publish(
            &self,
            exchange: &str,
            routing_key: &str,
            body: &[u8],
            properties: &$crate::BasicProperties,
            mandatory: bool,
        ) -> Result<(), $crate::Error> {
            self.publish_and_wait(|c, ch| {
                let settle = $crate::core::Settle::Take;
                c.basic_publish(ch, exchange, routing_key, body, properties, mandatory, settle)
            })
        }

        /// basic.publish in confirm mode without waiting: the returned
        /// [`Confirmation`] waits for the broker's answer. Publish many, then
        /// wait for them, to pipeline.
        pub fn publish_with_confirm(
            &self,
            exchange: &str,
            routing_key: &str,
            body: &[u8],
            properties: &$crate::BasicProperties,
            mandatory: bool,
        ) -> Result<Confirmation, $crate::Error> {
            self.publish_tracked(|c, ch| {
                c.require_confirm_mode(ch)?;
                let settle = $crate::core::Settle::Take;
                c.basic_publish(ch, exchange, routing_key, body, properties, mandatory, settle)
            })
        }

        /// basic.publish with every argument of the method under the
        /// caller's control (`immediate`, which RabbitMQ refuses with 540,
        /// included); does not wait for a confirm.
        pub fn publish_method(
            &self,
            method: $crate::protocol::basic::Publish,
            properties: &$crate::BasicProperties,
            body: &[u8],
        ) -> Result<(), $crate::Error> {
            self.publish_untracked(|c, ch| {
                let settle = $crate::core::Settle::Discard;
                c.publish_method(ch, method.clone(), properties, body, settle)
            })
        }
    };
    (@publish future) => {
        /// basic.publish of `body` to `exchange` with `routing_key`. In
        /// confirm mode ([`confirm_delivery`](Self::confirm_delivery)),
        /// waits for the broker's answer: `Ok` for an ack,
        /// [`Error::Nacked`](crate::Error::Nacked), or
        /// [`Error::Unroutable`](crate::Error::Unroutable) when a mandatory
        /// message was returned.
        pub async fn basic_publish(
            &self,
            exchange: &str,
            routing_key: &str,
            body: &[u8],
            properties: &$crate::BasicProperties,
            mandatory: bool,
        ) -> Result<(), $crate::Error> {
            self.publish_and_wait(body.len(), |c, ch| {
                let settle = $crate::core::Settle::Take;
                c.basic_publish(ch, exchange, routing_key, body, properties, mandatory, settle)
            })
            .await
        }

        /// basic.publish in confirm mode without waiting for the broker's
        /// answer: the returned [`Confirmation`] is a future of it. Publish
        /// many, then await them (in any order), to pipeline.
        pub async fn publish_with_confirm(
            &self,
            exchange: &str,
            routing_key: &str,
            body: &[u8],
            properties: &$crate::BasicProperties,
            mandatory: bool,
        ) -> Result<Confirmation, $crate::Error> {
            self.publish_tracked(body.len(), |c, ch| {
                c.require_confirm_mode(ch)?;
                let settle = $crate::core::Settle::Take;
                c.basic_publish(ch, exchange, routing_key, body, properties, mandatory, settle)
            })
            .await
        }

        /// basic.publish with every argument of the method under the
        /// caller's control (`immediate`, which RabbitMQ refuses with 540,
        /// included); does not wait for a confirm.
        pub async fn publish_method(
            &self,
            method: $crate::protocol::basic::Publish,
            properties: &$crate::BasicProperties,
            body: &[u8],
        ) -> Result<(), $crate::Error> {
            self.publish_untracked(body.len(), |c, ch| {
                let settle = $crate::core::Settle::Discard;
                c.publish_method(ch, method.clone(), properties, body, settle)
            })
            .await
        }
    };
    (@publish callback) => {
        /// basic.publish of `body` to `exchange` with `routing_key`. In
        /// confirm mode (after [`confirm_delivery`](Self::confirm_delivery))
        /// returns the publish sequence number, and
        /// [`on_confirm`](Self::on_confirm) gets its outcome.
        pub fn basic_publish(
            &self,
            exchange: &str,
            routing_key: &str,
            body: &[u8],
            properties: &$crate::BasicProperties,
            mandatory: bool,
        ) -> Result<Option<u64>, $crate::Error> {
            self.publish(|c, ch| {
                let settle = $crate::core::Settle::Event;
                c.basic_publish(ch, exchange, routing_key, body, properties, mandatory, settle)
            })
        }

        /// basic.publish with every argument of the method under the
        /// caller's control (`immediate`, which RabbitMQ refuses with 540,
        /// included); its outcome in confirm mode goes to
        /// [`on_confirm`](Self::on_confirm) too.
        pub fn publish_method(
            &self,
            method: $crate::protocol::basic::Publish,
            properties: &$crate::BasicProperties,
            body: &[u8],
        ) -> Result<Option<u64>, $crate::Error> {
            self.publish(|c, ch| {
                let settle = $crate::core::Settle::Event;
                c.publish_method(ch, method.clone(), properties, body, settle)
            })
        }
    };
    (@table $style:ident $(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident : $ty:ty),* $(,)?) -> $out:ty;
    )*) => {
        $( $crate::core::vocabulary::channel_operations! {
            @one $style [$(#[$doc])*] $name ($($arg : $ty),*) $out
        } )*
    };
    (@acks $style:ident $(
        $(#[$doc:meta])*
        fn $name:ident($($arg:ident : $ty:ty),* $(,)?);
    )*) => {
        $(
            $(#[$doc])*
            pub fn $name(&self, $($arg: $ty),*) -> Result<(), $crate::Error> {
                self.acknowledge(|c, ch| c.$name(ch, $($arg),*))
            }
        )*
    };
    (@one blocking [$($doc:tt)*] $name:ident ($($arg:ident : $ty:ty),*) $out:ty) => {
        $($doc)*
        pub fn $name(&self, $($arg: $ty),*) -> Result<$out, $crate::Error> {
            self.request(|c, ch| c.$name(ch, $($arg),*))
        }
    };
    (@one future [$($doc:tt)*] $name:ident ($($arg:ident : $ty:ty),*) $out:ty) => {
        $($doc)*
        pub async fn $name(&self, $($arg: $ty),*) -> Result<$out, $crate::Error> {
            self.request(|c, ch| c.$name(ch, $($arg),*)).await
        }
    };
    (@one callback [$($doc:tt)*] $name:ident ($($arg:ident : $ty:ty),*) $out:ty) => {
        $($doc)*
        ///
        /// `on_done` runs on the loop with the outcome.
        pub fn $name(
            &self,
            $($arg: $ty,)*
            on_done: Option<impl FnOnce(Result<$out, $crate::Error>) + 'static>,
        ) -> Result<(), $crate::Error> {
            self.request(|c, ch| c.$name(ch, $($arg),*), on_done)
        }
    };
}

pub(crate) use channel_operations;
