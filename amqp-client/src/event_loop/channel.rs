//! [`Channel`]'s methods: each channel operation is the core's of the same
//! name, its reply handed to the optional completion callback; and the
//! channel's callbacks (close, returns, confirms, broker cancels, flow).

use std::cell::RefCell;
use std::rc::Rc;

use super::state::{completion, Channel, ChannelCallbacks, Connection};
use super::transport::typed_error;
use crate::core::{ChannelRef, Client, ConsumerMode, Pending};
use crate::error::Error;
use crate::types::{ConsumeOptions, Delivery, Returned};

impl std::fmt::Debug for Channel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Channel").field("id", &self.id()).finish()
    }
}

impl Channel {
    /// An acknowledgement (no reply): `op` on the core for this channel.
    fn acknowledge(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<(), Error>,
    ) -> Result<(), Error> {
        self.with_core(op)
    }

    /// Runs `op` on the core for this channel; its errors come back typed.
    fn with_core<T>(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<T, Error>,
    ) -> Result<T, Error> {
        let mut st = self.conn.st.borrow_mut();
        op(st.core()?, self.channel).map_err(typed_error)
    }

    /// Submits a request with `op`; `on_done` gets its outcome.
    fn request<T: 'static>(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Pending<T>, Error>,
        on_done: Option<impl FnOnce(Result<T, Error>) + 'static>,
    ) -> Result<(), Error> {
        let mut st = self.conn.st.borrow_mut();
        let pending = op(st.core()?, self.channel).map_err(typed_error)?;
        (st.callbacks.completions).insert(pending.request(), completion(pending, on_done));
        Ok(())
    }

    /// Sets one of the channel's callbacks.
    fn set_callback(&self, set: impl FnOnce(&mut ChannelCallbacks)) {
        let mut st = self.conn.st.borrow_mut();
        set(st.callbacks.channel(self.channel));
    }

    /// The channel id.
    pub fn id(&self) -> u16 {
        self.channel.number()
    }

    /// The connection.
    pub fn connection(&self) -> Connection {
        Connection {
            inner: self.conn.clone(),
        }
    }

    /// Whether the broker opened the channel and it is not closed.
    pub fn is_open(&self) -> bool {
        let st = self.conn.st.borrow();
        st.core
            .as_ref()
            .is_some_and(|c| c.is_channel_open(self.channel))
    }

    /// Whether the channel is closed: by either side, or with its
    /// connection (closed or lost).
    pub fn is_closed(&self) -> bool {
        self.close_reason().is_some()
    }

    /// The tags of this channel's consumers (Pika's `consumer_tags`).
    pub fn consumer_tags(&self) -> Vec<String> {
        let st = self.conn.st.borrow();
        st.core
            .as_ref()
            .map(|c| c.consumer_tags(self.channel))
            .unwrap_or_default()
    }

    /// Why the channel (or its connection) closed, once it has.
    pub fn close_reason(&self) -> Option<Error> {
        let st = self.conn.st.borrow();
        let error = match &st.core {
            Some(core) => core.channel_error(self.channel),
            None => st.close_reason(),
        };
        error.map(typed_error)
    }

    /// Whether the broker lets the channel publish (channel.flow from the
    /// broker; see [`on_flow`](Self::on_flow)).
    pub fn is_flow_active(&self) -> bool {
        let st = self.conn.st.borrow();
        st.core
            .as_ref()
            .is_some_and(|c| c.is_flow_active(self.channel))
    }

    /// Called once when the channel closes (by either side, or with its
    /// connection): [`Error::ChannelClosedByClient`] after
    /// [`close`](Self::close).
    pub fn on_close(&self, callback: impl FnOnce(&Channel, Error) + 'static) {
        self.set_callback(|c| c.on_close = Some(Box::new(callback)));
    }

    /// Called for each mandatory message the broker returns as unroutable.
    /// With confirms on, the publish's outcome ([`on_confirm`](Self::on_confirm))
    /// follows its return, as [`Error::Unroutable`].
    pub fn on_return(&self, callback: impl FnMut(&Channel, Returned) + 'static) {
        self.set_callback(|c| c.on_return = Some(Rc::new(RefCell::new(callback))));
    }

    /// Called once per publish made in confirm mode (see
    /// [`confirm_delivery`](Self::confirm_delivery)), with its sequence
    /// number and outcome: `Ok` when the broker acked it,
    /// [`Error::Nacked`], [`Error::Unroutable`] when a mandatory message
    /// was returned then acked, or the error that closed the channel first.
    /// Set it before publishing: an outcome that arrives while none is set
    /// is dropped.
    pub fn on_confirm(&self, callback: impl FnMut(&Channel, u64, Result<(), Error>) + 'static) {
        self.set_callback(|c| c.on_confirm = Some(Rc::new(RefCell::new(callback))));
    }

    /// Called with the consumer tag when the broker cancels a consumer
    /// (its queue was deleted, ...).
    pub fn on_cancel(&self, callback: impl FnMut(&Channel, &str) + 'static) {
        self.set_callback(|c| c.on_cancel = Some(Rc::new(RefCell::new(callback))));
    }

    /// Called when the broker asks to stop (`false`) or resume (`true`)
    /// publishing on this channel (already answered).
    pub fn on_flow(&self, callback: impl FnMut(&Channel, bool) + 'static) {
        self.set_callback(|c| c.on_flow = Some(Rc::new(RefCell::new(callback))));
    }

    crate::core::vocabulary::channel_operations!(callback);

    /// basic.consume: `on_message` runs on the loop for each delivery until
    /// the consumer is cancelled (deliveries that arrived before cancel-ok
    /// included). `on_done` gets the consumer tag (generated when
    /// `options.consumer_tag` is empty) at consume-ok, before the first
    /// delivery.
    pub fn basic_consume(
        &self,
        queue: &str,
        options: ConsumeOptions,
        on_message: impl FnMut(&Channel, Delivery) + 'static,
        on_done: Option<impl FnOnce(Result<String, Error>) + 'static>,
    ) -> Result<(), Error> {
        let mut st = self.conn.st.borrow_mut();
        let (consumer, pending) = (st.core()?)
            .basic_consume(self.channel, queue, options, ConsumerMode::Events)
            .map_err(typed_error)?;
        let cb = &mut st.callbacks;
        cb.consumers
            .insert(consumer, Rc::new(RefCell::new(on_message)));
        cb.completions
            .insert(pending.request(), completion(pending, on_done));
        Ok(())
    }

    /// A publish; its outcome in confirm mode goes to `on_confirm`.
    fn publish(
        &self,
        op: impl FnOnce(&mut Client, ChannelRef) -> Result<Option<u64>, Error>,
    ) -> Result<Option<u64>, Error> {
        self.with_core(op)
    }

    // ------------------------------------------------------- confirms, tx

    /// Closes the channel (channel.close, then close-ok); requests still
    /// queued on it fail, and [`on_close`](Self::on_close) reports the end.
    /// Closing a closed channel does nothing.
    pub fn close(&self) -> Result<(), Error> {
        let mut st = self.conn.st.borrow_mut();
        match st.core() {
            Ok(core) => core.close_channel(self.channel).map_err(typed_error),
            // The connection's end closes the channel too.
            Err(_) => Ok(()),
        }
    }
}
