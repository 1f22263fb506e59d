//! The event loop's part of automatic recovery (the rest is the core's):
//! when the core recovers a lost connection, the attempts it plans go
//! through the same phases as opening (waiting, connecting each address,
//! TLS), with the core kept and handed the new stream.

use std::rc::Rc;
use std::time::Instant;

use super::connect::connecting;
use super::reactor::EventLoop;
use super::state::{ConnInner, Phase};
use crate::error::Error;

impl ConnInner {
    /// The stream was lost and the core recovers: drop the socket, then
    /// wait for the next attempt the core plans.
    pub(super) fn stream_lost(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        {
            let mut st = self.st.borrow_mut();
            if let Some(mut t) = st.transport.take() {
                let _ = lp.registry().deregister(t.stream_mut());
            }
            st.more_input = false;
        }
        self.plan_reconnect(now);
        self.after_plan(lp, now);
    }

    /// Reports what recovery did; once it is over, the connection's end.
    fn after_plan(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        self.dispatch();
        let over = self
            .st
            .borrow()
            .core
            .as_ref()
            .is_some_and(|c| c.is_closed());
        if over {
            self.teardown(lp, now);
        }
    }

    /// The application closed the connection while an attempt waited or
    /// connected: the attempt is dropped, and the end reported.
    pub(super) fn recovery_over(self: &Rc<Self>, lp: &EventLoop) {
        let mut st = self.st.borrow_mut();
        let recovering = st.core.as_ref().is_some_and(|c| c.is_recovering());
        if st.reconnecting.is_none() || recovering {
            return;
        }
        st.reconnecting = None;
        if let Some(mut t) = st.transport.take() {
            let _ = lp.registry().deregister(t.stream_mut());
        }
        st.phase = Phase::Connected;
    }

    /// Asks the core for the next attempt: waits for its time, or, when
    /// the recovery is over, leaves the core's end to be reported.
    fn plan_reconnect(self: &Rc<Self>, now: Instant) {
        let mut st = self.st.borrow_mut();
        let Some(core) = st.core.as_mut() else {
            return;
        };
        let attempt = core.poll_reconnect(now);
        let params = attempt.and_then(|a| core.reconnect_params(a.endpoint).cloned());
        match (attempt, params) {
            (Some(a), Some(p)) => {
                st.phase = Phase::Waiting { at: a.at };
                st.reconnecting = Some((a, p));
            }
            (Some(_), None) => {
                core.reconnect_failed(Error::Misuse("no such endpoint".into()), now);
                drop(st);
                self.plan_reconnect(now);
            }
            // Over: the core is closed, and the next turn reports it.
            (None, _) => st.phase = Phase::Connected,
        }
    }

    /// The attempt's time has come: resolve its endpoint and connect.
    pub(super) fn begin_reconnect(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let started = {
            let mut st = self.st.borrow_mut();
            let Some((_, params)) = st.reconnecting.as_ref() else {
                return;
            };
            match connecting(params, now) {
                Ok(phase) => {
                    st.phase = phase;
                    Ok(())
                }
                Err(e) => Err(e),
            }
        };
        match started {
            Ok(()) => self.connect_next(lp, now),
            Err(e) => {
                self.st.borrow_mut().last_error = Some(e);
                self.reconnect_failed(lp, now);
            }
        }
    }

    /// The attempt failed before its stream connected.
    pub(super) fn reconnect_failed(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        {
            let mut st = self.st.borrow_mut();
            if let Some(mut t) = st.transport.take() {
                let _ = lp.registry().deregister(t.stream_mut());
            }
            let error = st
                .last_error
                .take()
                .unwrap_or_else(|| Error::Misuse("the attempt failed".into()));
            st.reconnecting = None;
            if let Some(core) = st.core.as_mut() {
                core.reconnect_failed(error, now);
            }
        }
        self.plan_reconnect(now);
        self.after_plan(lp, now);
    }
}
