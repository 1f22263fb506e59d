//! The driver: the one task that owns the socket. It feeds the core what it
//! reads and the time, moves the core's events to the waiting handles, and
//! writes what the core produced, in order. The application's handles update
//! the shared state and wake the driver; on TCP with tokio (with or without
//! TLS), a handle that sends a request, a reply or a lone publish while the
//! driver has nothing left to write writes it itself instead, without
//! blocking (see `Inner::write_or_wake`): a wake-up of the driver is a
//! context switch, and on a multi-threaded runtime that is most of a round
//! trip's CPU time.
//!
//! Every byte read passes through [`Driver::decrypt`] and [`Driver::feed`],
//! and every byte the driver writes is staged by [`Driver::stage_output`]:
//! those are the places where TLS (ciphertext in, plaintext to the core;
//! plaintext from the core, ciphertext out) slots in, under the lock, as
//! does a direct write's encryption (see `Inner::tls`). Without TLS, the
//! core reads straight from the read buffer and writes straight into the
//! write buffer.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, BytesMut};

use super::shared::{Effects, Inner, Shared, LAZY_FLUSH, LAZY_FLUSH_MAX, LOW_WATER};
use super::tls::Tls;
use super::transport::{BoxFuture, Dialer, Timer, Transport};
use crate::core::ReconnectAttempt;
use crate::error::Error;
use crate::params::ConnectionParameters;
use crate::sys::Coalescing;

/// Bytes read per system call, at first ...
const READ_BUF: usize = 64 * 1024;
/// ... and once a read filled that (large messages streaming in: a 64 KiB
/// message no longer takes two reads, and often two wake-ups).
const READ_BUF_MAX: usize = 256 * 1024;
/// While a consumer has a buffer limit, input goes to the core in slices of
/// this size, so that reading stops close to the limit.
const SLICE: usize = 4 * 1024;
/// Steps per poll before yielding to other tasks.
const BUDGET: usize = 32;
/// With at least this many publishes awaiting their confirms, a publisher
/// keeps a deep pipeline and gains nothing from hearing of each confirm at
/// once: the broker's confirms are read every [`CONFIRM_WINDOW`] (see
/// `Driver::hold_for_confirms`).
const CONFIRM_DEPTH: usize = 512;
/// See [`CONFIRM_DEPTH`].
const CONFIRM_WINDOW: Duration = Duration::from_millis(1);

enum Step {
    Again,
    Wait,
    Done,
}

/// Where the driver is in the recovery of a lost stream.
enum Redial<T> {
    /// No attempt under way: the core is asked for the next.
    Idle,
    /// The attempt waits for its time.
    Waiting(ReconnectAttempt, BoxFuture<()>),
    /// The stream is being connected, until the attempt's deadline.
    Dialing {
        attempt: ReconnectAttempt,
        connect: BoxFuture<Result<T, Error>>,
        deadline: BoxFuture<()>,
        params: Box<ConnectionParameters>,
    },
}

pub(crate) struct Driver<T, M> {
    shared: Arc<Shared>,
    io: T,
    timer: M,
    read_buf: Box<[u8]>,
    /// Why TLS failed, for the core once it has what was decrypted before.
    /// (With TLS, `Inner::tls`, the core's input is the decrypted
    /// [`Tls::plain`] rather than `read_buf`.)
    tls_error: Option<Error>,
    /// Bytes read (or decrypted) and not yet given to the core
    /// (`start..end`).
    start: usize,
    end: usize,
    read_closed: bool,
    read_error: Option<io::Result<()>>,
    out: BytesMut,
    needs_flush: bool,
    write_dead: bool,
    write_error: Option<io::Error>,
    sleep: Option<(Instant, BoxFuture<()>)>,
    timer_fired: bool,
    /// Reading is paused: the application has not taken what the core
    /// holds (a full consumer buffer, or the connection's bound; the core
    /// does not count the broker's heartbeats as missed meanwhile).
    paused: bool,
    room_wanted: bool,
    closed: bool,
    done: bool,
    fx: Effects,
    coalescing: Coalescing,
    /// While coalescing, when a read that found too little gives up waiting
    /// for the low-water mark and takes what is there.
    window_ends: Option<Instant>,
    /// See [`LAZY_FLUSH`].
    lazy_interval: Duration,
    /// Bytes in `out` when it was last staged (counted in `Inner::queued`).
    staged: usize,
    /// How long a coalescing read waits: [`Coalescing::WINDOW`], or
    /// [`CONFIRM_WINDOW`] while holding for confirms.
    window: Duration,
    /// A read filled `read_buf`: the next one gets [`READ_BUF_MAX`].
    grow_read_buf: bool,
    /// Connects a new stream when the connection is recovered (`None`: a
    /// stream the application supplied, which cannot be).
    dialer: Option<Dialer<T>>,
    /// The stream was lost and the core recovers the connection: this
    /// driver dials (see [`Driver::recover`]).
    lost: bool,
    redial: Redial<T>,
}

impl<T: Transport, M: Timer> Driver<T, M> {
    pub(crate) fn new(
        shared: Arc<Shared>,
        io: T,
        timer: M,
        mut tls: Option<Tls>,
        coalescing: bool,
        dialer: Option<Dialer<T>>,
    ) -> Self {
        let mut out = BytesMut::with_capacity(64 * 1024);
        if let Some(tls) = &mut tls {
            // The ClientHello goes out first.
            tls.take_output(&mut out);
        }
        {
            let mut inner = shared.lock();
            inner.tls = tls;
            inner.direct = io.direct_writer();
            inner.driver_out_empty = out.is_empty();
        }
        Driver {
            shared,
            io,
            timer,
            read_buf: vec![0; READ_BUF].into_boxed_slice(),
            tls_error: None,
            start: 0,
            end: 0,
            read_closed: false,
            read_error: None,
            out,
            needs_flush: false,
            write_dead: false,
            write_error: None,
            sleep: None,
            timer_fired: false,
            paused: false,
            room_wanted: false,
            closed: false,
            done: false,
            fx: Effects::default(),
            coalescing: Coalescing::new(coalescing),
            window_ends: None,
            lazy_interval: LAZY_FLUSH,
            staged: 0,
            window: Coalescing::WINDOW,
            grow_read_buf: false,
            dialer,
            lost: false,
            redial: Redial::Idle,
        }
    }

    /// After a read (`Some((bytes, frames))`) or a window that expired
    /// empty (`None`): adjusts the low-water mark.
    fn coalesce(&mut self, got: Option<(usize, u64)>) {
        self.window_ends = None;
        self.window = Coalescing::WINDOW;
        if let Some(lowat) = self.coalescing.after_read(got) {
            self.set_lowat(lowat);
        }
    }

    /// After a read, while at least [`CONFIRM_DEPTH`] publishes await their
    /// confirms: the next read waits [`CONFIRM_WINDOW`], so that the
    /// broker's confirms (small frames, a few at a time) are read, and the
    /// publisher woken, in batches.
    fn hold_for_confirms(&mut self) {
        self.window_ends = None;
        self.window = CONFIRM_WINDOW;
        if let Some(lowat) = self.coalescing.hold() {
            self.set_lowat(lowat);
        }
    }

    fn set_lowat(&mut self, lowat: usize) {
        if !self.io.set_recv_lowat(lowat) {
            self.coalescing.disable();
            self.io.set_recv_lowat(1);
        }
    }

    /// With TLS, decrypts the `n` bytes just read, so that the core is fed
    /// the plaintext; TLS's answers (handshake, alert) join the output.
    /// Under the lock (see `Inner::tls`), after a direct write's rest.
    fn decrypt(&mut self, inner: &mut Inner, n: usize) {
        let Some(tls) = &mut inner.tls else {
            self.end = n;
            return;
        };
        let result = tls.read(&self.read_buf[..n], &mut self.out);
        self.end = tls.plain().len();
        if self.write_dead {
            self.out.clear();
        }
        if let Err(e) = result {
            // The plaintext before the failure is fed first, then the core
            // learns that the stream is lost, and why.
            self.read_closed = true;
            self.read_error = Some(Err(io::Error::new(io::ErrorKind::InvalidData, e.clone())));
            self.tls_error = Some(e);
        }
    }

    /// Gives the core what was read (or decrypted): all of it, or slice by
    /// slice while a consumer has a buffer limit, stopping when one is full.
    fn feed(&mut self, inner: &mut Inner, now: Instant) {
        // The plaintext leaves the TLS state while the core reads it (the
        // core and the rest of `inner` are updated meanwhile).
        let plain = inner.tls.as_mut().map(Tls::take_plain);
        let input = plain.as_deref().unwrap_or(&self.read_buf[..]);
        while self.start < self.end {
            if !inner.wants_input() {
                break;
            }
            let stop = if inner.client.has_bounded_consumers() {
                self.end.min(self.start + SLICE)
            } else {
                self.end
            };
            inner.client.handle_input(&input[self.start..stop], now);
            self.start = stop;
            inner.pump(&mut self.fx);
        }
        if let (Some(tls), Some(plain)) = (&mut inner.tls, plain) {
            tls.restore_plain(plain);
        }
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Moves what a direct write left (see `Inner::write_or_wake`) to the
    /// write buffer: it goes before anything produced after it.
    fn take_direct_rest(&mut self, inner: &mut Inner) {
        if !inner.direct_rest.is_empty() {
            if !self.write_dead {
                self.out.extend_from_slice(&inner.direct_rest);
            }
            inner.direct_rest.clear();
        }
    }

    /// Moves the core's output to the write buffer, encrypted with TLS (in
    /// one batch); once the core is closed, ends TLS with `close_notify`.
    fn stage_output(&mut self, inner: &mut Inner, now: Instant) {
        let Some(tls) = &mut inner.tls else {
            while let Some(bytes) = inner.client.poll_transmit(now) {
                if !self.write_dead {
                    self.out.extend_from_slice(&bytes);
                }
            }
            return;
        };
        while let Some(bytes) = inner.client.poll_transmit(now) {
            if !self.write_dead {
                tls.stage(&bytes);
            }
        }
        if self.write_dead {
            return;
        }
        let result = tls.encrypt(&mut self.out);
        if inner.client.is_closed() {
            tls.close(&mut self.out);
        }
        if let Err(e) = result {
            inner.transport_error = Some(e.clone());
            inner
                .client
                .handle_eof(Some(io::Error::new(io::ErrorKind::InvalidData, e)));
            inner.pump(&mut self.fx);
        }
    }

    fn step(&mut self, cx: &mut Context<'_>) -> Step {
        if self.lost {
            return self.recover(cx);
        }
        let now = Instant::now();
        let mut progress = false;
        // Read, once everything read before was fed to the core.
        let mut just_read = None;
        // The socket was read until it had nothing more.
        let mut drained = false;
        if !self.read_closed && !self.closed && self.start == self.end && !self.paused {
            if self.grow_read_buf {
                self.grow_read_buf = false;
                self.read_buf = vec![0; READ_BUF_MAX].into_boxed_slice();
            }
            let cap = self.read_buf.len();
            let mut read = self.io.poll_read(cx, &mut self.read_buf[..cap]);
            if read.is_pending() && self.coalescing.engaged() {
                match self.window_ends {
                    None => self.window_ends = Some(now + self.window),
                    Some(t) if now >= t => match self.io.read_now(&mut self.read_buf[..cap]) {
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.coalesce(None),
                        other => read = Poll::Ready(other),
                    },
                    Some(_) => {}
                }
            }
            if let Poll::Ready(Ok(n)) = read {
                if n > 0 {
                    just_read = Some(n);
                }
                self.grow_read_buf = n == cap && cap < READ_BUF_MAX;
                if n > 0 && n < cap && !self.coalescing.engaged() {
                    // A short read most likely drained the socket: ask once
                    // more, into the rest of the buffer, now rather than in
                    // another step. Pending (the usual answer, without a
                    // system call: the runtime knows the socket is drained)
                    // registers the wake-up and leaves nothing to do.
                    match self.io.poll_read(cx, &mut self.read_buf[n..cap]) {
                        Poll::Pending => drained = true,
                        Poll::Ready(Ok(m)) if m > 0 => just_read = Some(n + m),
                        Poll::Ready(Ok(_)) => {
                            self.read_closed = true;
                            self.read_error = Some(Ok(()));
                        }
                        Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                        Poll::Ready(Err(e)) => {
                            self.read_closed = true;
                            self.read_error = Some(Err(e));
                        }
                    }
                }
            }
            match read {
                Poll::Ready(Ok(0)) => {
                    self.read_closed = true;
                    self.read_error = Some(Ok(()));
                    progress = true;
                }
                // Decrypted (with TLS) and fed under the lock, below.
                Poll::Ready(Ok(_)) => progress |= !drained,
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => progress = true,
                Poll::Ready(Err(e)) => {
                    self.read_closed = true;
                    self.read_error = Some(Err(e));
                    progress = true;
                }
                Poll::Pending => {}
            }
        }

        let next_deadline;
        let lazy_flush;
        let ending;
        {
            let shared = self.shared.clone();
            let mut inner = shared.lock();
            inner.set_driver_waker(cx);
            self.take_direct_rest(&mut inner);
            if let Some(n) = just_read {
                self.decrypt(&mut inner, n);
            }
            let before = inner.client.frames_received();
            self.feed(&mut inner, now);
            if drained && inner.client.batching_likely() {
                // The application is likely to queue output without waking
                // this task while it runs (pipelined publishes, acks): one
                // more step, right after this one, takes it.
                progress = true;
            }
            if let Some(n) = just_read {
                let frames = inner.client.frames_received() - before;
                if inner.client.confirms_outstanding() >= CONFIRM_DEPTH {
                    self.hold_for_confirms();
                } else {
                    self.coalesce(Some((n, frames)));
                }
            }
            if let Some(e) = self.write_error.take() {
                inner.client.handle_eof(Some(e));
            }
            if self.start == self.end {
                if let Some(e) = self.tls_error.take() {
                    inner.transport_error = Some(e);
                }
                match self.read_error.take() {
                    Some(Ok(())) => inner.client.handle_eof(None),
                    Some(Err(e)) => inner.client.handle_eof(Some(e)),
                    None => {}
                }
            }
            let due = self.sleep.as_ref().is_some_and(|(t, _)| now >= *t);
            if self.timer_fired || due {
                self.timer_fired = false;
                inner.client.handle_timeout(now);
            }
            inner.pump(&mut self.fx);
            // Everything the core holds goes out now, acknowledgements
            // queued without a wake-up included.
            let had_lazy = std::mem::take(&mut inner.lazy_output);
            self.stage_output(&mut inner, now);
            inner.queued = self.out.len();
            self.staged = self.out.len();
            inner.driver_out_empty = self.out.is_empty();
            if self.out.len() < LOW_WATER {
                inner.room_made(&mut self.fx);
            }
            self.room_wanted = inner.room_wanted();
            let was_paused = self.paused;
            self.paused = !inner.wants_input();
            if was_paused && !self.paused {
                // Room again: read on the next step.
                progress = true;
            }
            self.closed = inner.client.is_closed();
            ending = inner.client.take_close_queued() || !inner.client.is_open();
            if inner.client.is_stream_closed() && inner.client.is_recovering() {
                self.lost = true;
                progress = true;
            }
            next_deadline = inner.client.poll_timeout();
            // While deliveries wait in a buffer, acknowledgements may be
            // queued without waking this task, and while confirms are due,
            // publishes: look again within LAZY_FLUSH, in case the
            // application stops asking for more (the confirms' arrival
            // normally writes the publishes first; this is a safety net).
            self.lazy_interval = if had_lazy || progress {
                LAZY_FLUSH
            } else {
                (self.lazy_interval * 2).min(LAZY_FLUSH_MAX)
            };
            lazy_flush = (inner.client.any_buffered() || inner.client.confirms_outstanding() > 0)
                .then(|| now + self.lazy_interval);
        }
        // A close or close-ok just queued (a channel's or the connection's,
        // after a protocol error or in answer to the broker), and anything
        // once the connection is closing, is written before the waiters
        // learn of the end: an application that exits on the error must
        // not take it off the wire.
        if !ending {
            self.fx.run(&self.shared);
        }

        // Write everything staged, then flush once.
        let mut wrote = false;
        while !self.out.is_empty() && !self.write_dead {
            match self.io.poll_write(cx, &self.out) {
                Poll::Ready(Ok(0)) => {
                    self.fail_write(io::ErrorKind::WriteZero.into());
                    progress = true;
                }
                Poll::Ready(Ok(n)) => {
                    self.out.advance(n);
                    self.needs_flush = true;
                    wrote = true;
                }
                Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::Interrupted => {}
                Poll::Ready(Err(e)) => {
                    self.fail_write(e);
                    progress = true;
                }
                Poll::Pending => break,
            }
        }
        if self.out.is_empty() && self.needs_flush && !self.write_dead {
            match self.io.poll_flush(cx) {
                Poll::Ready(Ok(())) => self.needs_flush = false,
                Poll::Ready(Err(e)) => {
                    self.fail_write(e);
                    progress = true;
                }
                Poll::Pending => {}
            }
        }
        if wrote && self.out.is_empty() {
            // Nothing of the driver's left to write: the application's
            // tasks may write directly again.
            let mut inner = self.shared.lock();
            inner.driver_out_empty = true;
            inner.queued = inner.queued.saturating_sub(self.staged);
            self.staged = 0;
        }
        if wrote && self.room_wanted {
            // Publishers wait for room: tell them on the next step.
            progress = true;
        }
        if ending {
            self.fx.run(&self.shared);
        }

        if self.closed && (self.write_dead || (self.out.is_empty() && !self.needs_flush)) {
            return match self.io.poll_shutdown(cx) {
                Poll::Pending => Step::Wait,
                Poll::Ready(_) => Step::Done,
            };
        }

        // Arm the timer for the earliest deadline (a later one is simply
        // re-armed when the earlier fires: no sleep is made per write).
        let mut deadline = next_deadline;
        for t in [self.window_ends, lazy_flush].into_iter().flatten() {
            deadline = Some(deadline.map_or(t, |d| d.min(t)));
        }
        if let Some(t) = deadline {
            if self.sleep.as_ref().is_none_or(|(armed, _)| *armed > t) {
                self.sleep = Some((t, self.timer.sleep_until(t)));
            }
        }
        if let Some((_, sleep)) = &mut self.sleep {
            if sleep.as_mut().poll(cx).is_ready() {
                self.sleep = None;
                self.timer_fired = true;
                progress = true;
            }
        }
        if progress {
            Step::Again
        } else {
            Step::Wait
        }
    }

    /// The stream was lost and the core recovers the connection: runs the
    /// attempts it plans (wait, connect within the deadline, put the new
    /// stream in place), until one connects or the recovery is over.
    fn recover(&mut self, cx: &mut Context<'_>) -> Step {
        loop {
            let now = Instant::now();
            {
                let shared = self.shared.clone();
                let mut inner = shared.lock();
                inner.set_driver_waker(cx);
                if !inner.client.is_recovering() || self.dialer.is_none() {
                    // Over (closed by the application, or given up): the
                    // usual steps end the driver.
                    self.lost = false;
                    self.redial = Redial::Idle;
                    return Step::Again;
                }
                if matches!(self.redial, Redial::Idle) {
                    let attempt = inner.client.poll_reconnect(now);
                    inner.pump(&mut self.fx);
                    match attempt {
                        Some(a) => {
                            self.redial = Redial::Waiting(a, self.timer.sleep_until(a.at));
                        }
                        None => {
                            drop(inner);
                            self.fx.run(&self.shared);
                            self.lost = false;
                            return Step::Again;
                        }
                    }
                }
            }
            self.fx.run(&self.shared);
            match std::mem::replace(&mut self.redial, Redial::Idle) {
                Redial::Idle => {}
                Redial::Waiting(attempt, mut sleep) => {
                    if sleep.as_mut().poll(cx).is_pending() {
                        self.redial = Redial::Waiting(attempt, sleep);
                        return Step::Wait;
                    }
                    let params = self
                        .shared
                        .lock()
                        .client
                        .reconnect_params(attempt.endpoint)
                        .cloned();
                    match (params, &self.dialer) {
                        (Some(params), Some(dial)) => {
                            self.redial = Redial::Dialing {
                                attempt,
                                connect: dial(params.clone()),
                                deadline: self.timer.sleep_until(attempt.deadline),
                                params: Box::new(params),
                            };
                        }
                        _ => self.attempt_failed(Error::Misuse("no such endpoint".into())),
                    }
                }
                Redial::Dialing {
                    attempt,
                    mut connect,
                    mut deadline,
                    params,
                } => match connect.as_mut().poll(cx) {
                    Poll::Ready(Ok(io)) => {
                        self.install(io, &params);
                        return Step::Again;
                    }
                    Poll::Ready(Err(e)) => self.attempt_failed(e),
                    Poll::Pending => {
                        if deadline.as_mut().poll(cx).is_ready() {
                            let endpoint = format!("{}:{}", params.host(), params.port());
                            self.attempt_failed(Error::ConnectFailed {
                                endpoint,
                                source: Arc::new(io::ErrorKind::TimedOut.into()),
                            });
                        } else {
                            self.redial = Redial::Dialing {
                                attempt,
                                connect,
                                deadline,
                                params,
                            };
                            return Step::Wait;
                        }
                    }
                },
            }
        }
    }

    fn attempt_failed(&mut self, e: Error) {
        {
            let mut inner = self.shared.lock();
            inner.client.reconnect_failed(e, Instant::now());
            inner.pump(&mut self.fx);
        }
        self.fx.run(&self.shared);
    }

    /// Puts a new stream in place of the lost one: the core's handshake
    /// starts on it (after TLS's, when `params` ask for TLS).
    fn install(&mut self, io: T, params: &ConnectionParameters) {
        let mut tls = None;
        if params.tls() {
            match Tls::new(params) {
                Ok(t) => tls = Some(t),
                Err(e) => return self.attempt_failed(e),
            }
        }
        self.io = io;
        self.start = 0;
        self.end = 0;
        self.read_closed = false;
        self.read_error = None;
        self.tls_error = None;
        self.out.clear();
        self.needs_flush = false;
        self.write_dead = false;
        self.write_error = None;
        self.paused = false;
        self.staged = 0;
        self.window_ends = None;
        self.window = Coalescing::WINDOW;
        self.coalescing = Coalescing::new(params.receive_coalescing());
        if let Some(t) = &mut tls {
            t.take_output(&mut self.out);
        }
        {
            let mut inner = self.shared.lock();
            inner.tls = tls;
            inner.direct = self.io.direct_writer();
            inner.direct_rest.clear();
            inner.transport_error = None;
            inner.queued = self.out.len();
            inner.driver_out_empty = self.out.is_empty();
            inner
                .client
                .reconnected(self.io.peer_addr(), Instant::now());
            inner.pump(&mut self.fx);
        }
        self.fx.run(&self.shared);
        self.lost = false;
    }

    fn fail_write(&mut self, e: io::Error) {
        self.write_dead = true;
        self.out.clear();
        self.needs_flush = false;
        self.write_error = Some(e);
    }
}

impl<T: Transport, M: Timer> Future for Driver<T, M> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        for _ in 0..BUDGET {
            match this.step(cx) {
                Step::Again => {}
                Step::Wait => return Poll::Pending,
                Step::Done => {
                    this.done = true;
                    return Poll::Ready(());
                }
            }
        }
        // Let other tasks run; continue soon.
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

impl<T, M> Drop for Driver<T, M> {
    fn drop(&mut self) {
        // A driver dropped before the end (its runtime shut down): nothing
        // will ever complete, so fail everything now rather than hang.
        let mut fx = Effects::default();
        {
            let mut inner = self.shared.lock();
            // The socket closes with the driver, not with the last handle.
            inner.direct = None;
            if inner.client.is_recovering() {
                inner
                    .client
                    .abort_recovery(Error::StreamLost(Arc::new(io::Error::other(
                        "the connection's driver task stopped (was its runtime shut down?)",
                    ))));
            } else if !inner.client.is_closed() {
                inner.client.handle_eof(Some(io::Error::other(
                    "the connection's driver task stopped (was its runtime shut down?)",
                )));
            }
            inner.pump(&mut fx);
        }
        fx.run(&self.shared);
    }
}
