//! Driving a connected core: the socket's bytes in, the loop's time, the
//! core's output out (buffered while the socket does not take it), and the
//! end of the socket once the core is closed.

use std::io;
use std::rc::Rc;
use std::time::Instant;

use mio::event::Event as IoEvent;
use mio::Token;

use super::reactor::EventLoop;
use super::state::{ConnInner, ConnState, Phase};
use super::transport::ReadStatus;

/// How many reads one connection does per loop iteration before the others
/// get their turn (the rest is read on the next iteration).
const READS_PER_TURN: usize = 16;

impl ConnInner {
    /// The earliest time the loop must come back for this connection.
    pub(super) fn poll_timeout(&self) -> Option<Instant> {
        let st = self.st.borrow();
        match &st.phase {
            Phase::Waiting { at, .. } => Some(*at),
            Phase::Connecting { deadline, .. } => Some(*deadline),
            Phase::Connected => st.core.as_ref().and_then(|c| c.poll_timeout()),
            Phase::Done => None,
        }
    }

    /// Socket readiness.
    pub(super) fn on_ready(
        self: &Rc<Self>,
        lp: &EventLoop,
        event: &IoEvent,
        buf: &mut [u8],
        now: Instant,
    ) {
        let connecting = matches!(self.st.borrow().phase, Phase::Connecting { .. });
        if connecting {
            self.check_connect(lp, now);
            return;
        }
        let mut st = self.st.borrow_mut();
        if !matches!(st.phase, Phase::Connected) {
            return;
        }
        if event.is_readable() || event.is_read_closed() || event.is_error() {
            st.more_input = true;
        }
        if event.is_writable() || event.is_write_closed() || event.is_error() {
            // A failure is handled by the next `drive`, which runs the
            // core's events.
            let _ = Self::flush(&mut st);
        }
        drop(st);
        self.read(buf, now);
    }

    /// Reads what is ready (a bounded amount) and feeds it to the core.
    fn read(&self, buf: &mut [u8], now: Instant) {
        let mut st = self.st.borrow_mut();
        if !st.more_input {
            return;
        }
        let st = &mut *st;
        let (Some(transport), Some(core)) = (st.transport.as_mut(), st.core.as_mut()) else {
            st.more_input = false;
            return;
        };
        let result = transport.read(buf, READS_PER_TURN, |data| core.handle_input(data, now));
        st.more_input = false;
        match result {
            Ok(ReadStatus::Drained) => {}
            Ok(ReadStatus::More) => st.more_input = true,
            Ok(ReadStatus::Eof) => core.handle_eof(None),
            Err(e) => core.handle_eof(Some(e)),
        }
    }

    /// Writes what the transport holds; a failed write ends the core (true).
    fn flush(st: &mut ConnState) -> bool {
        let (Some(transport), Some(core)) = (st.transport.as_mut(), st.core.as_mut()) else {
            return false;
        };
        match transport.flush() {
            Ok(()) => false,
            Err(e) => {
                core.handle_eof(Some(e));
                true
            }
        }
    }

    /// One loop turn for this connection: attempts and connect timeouts,
    /// leftover input, the core's timers, its events (callbacks) and its
    /// output. True when more input may be waiting.
    pub(super) fn drive(self: &Rc<Self>, lp: &EventLoop, buf: &mut [u8], now: Instant) -> bool {
        self.recovery_over(lp);
        let due = {
            let st = self.st.borrow();
            match &st.phase {
                Phase::Waiting { at } => (*at <= now).then_some(true),
                Phase::Connecting { deadline, .. } => (*deadline <= now).then_some(false),
                Phase::Connected | Phase::Done => None,
            }
        };
        match due {
            Some(true) => self.begin_attempt(lp, now),
            Some(false) => self.address_failed(
                lp,
                io::Error::new(io::ErrorKind::TimedOut, "connect timed out"),
                now,
            ),
            None => {}
        }
        if !matches!(self.st.borrow().phase, Phase::Connected) {
            return false;
        }
        self.read(buf, now);
        if let Some(core) = self.st.borrow_mut().core.as_mut() {
            core.handle_timeout(now);
        }
        self.process(lp, now);
        self.st.borrow().more_input
    }

    /// Runs the callbacks of what the core reports and writes its output,
    /// until neither is left; then tears the socket down when the core is
    /// done.
    fn process(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        loop {
            self.dispatch();
            let (closed, failed) = {
                let mut guard = self.st.borrow_mut();
                let st = &mut *guard;
                let Some(core) = st.core.as_mut() else {
                    return;
                };
                let Some(transport) = st.transport.as_mut() else {
                    // No stream: the recovery ended (closed), or not yet
                    // connected.
                    let closed = core.is_closed();
                    drop(guard);
                    if closed {
                        return self.teardown(lp, now);
                    }
                    return;
                };
                let mut failed = false;
                while let Some(bytes) = core.poll_transmit(now) {
                    if let Err(e) = transport.queue(bytes) {
                        core.handle_eof(Some(e));
                        failed = true;
                        break;
                    }
                }
                // Even after a failure: TLS may have an alert to send.
                failed |= Self::flush(st);
                let lost = st
                    .core
                    .as_ref()
                    .is_some_and(|c| c.is_stream_closed() && c.is_recovering());
                if lost {
                    drop(guard);
                    self.dispatch();
                    return self.stream_lost(lp, now);
                }
                (st.core.as_ref().is_some_and(|c| c.is_closed()), failed)
            };
            if failed {
                // The failure queued the close's events: run them.
                continue;
            }
            if closed {
                return self.teardown(lp, now);
            }
            if !self.update_interest(lp) {
                return;
            }
        }
    }

    /// Registers the socket for writability exactly while output waits.
    /// True when registering failed (the core then has the error).
    fn update_interest(&self, lp: &EventLoop) -> bool {
        let mut st = self.st.borrow_mut();
        let Some(transport) = st.transport.as_mut() else {
            return false;
        };
        let wanted = transport.wanted_interest();
        if wanted == transport.interest() {
            return false;
        }
        let token = Token(self.id.0);
        match lp
            .registry()
            .reregister(transport.stream_mut(), token, wanted)
        {
            Ok(()) => {
                transport.set_interest(wanted);
                false
            }
            Err(e) => {
                if let Some(core) = st.core.as_mut() {
                    core.handle_eof(Some(e));
                }
                true
            }
        }
    }

    /// The core is closed: drop the socket, then either leave the loop (the
    /// end was reported; the core stays, for what handles ask) or, when the
    /// handshake failed, go on with the next attempt.
    pub(super) fn teardown(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let opened = {
            let mut st = self.st.borrow_mut();
            if let Some(mut t) = st.transport.take() {
                t.finish();
                let _ = lp.registry().deregister(t.stream_mut());
            }
            st.more_input = false;
            let opened = st.core.as_ref().is_some_and(|c| c.is_connected());
            if !opened {
                st.core = None;
            }
            opened
        };
        if opened {
            self.finish(lp);
            // Callbacks set after the close was reported.
            drop(self.take_callbacks());
        } else {
            self.next_attempt(lp, now);
        }
    }
}
