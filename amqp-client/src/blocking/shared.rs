//! State shared by the application's threads and the I/O threads: the
//! client core behind one mutex, the events whose callbacks wait for a
//! dispatching thread, and the hand-over of the socket between threads.
//!
//! The client's behaviour (replies, consumers and their buffers, confirms,
//! channel generations) is the core's; this file only moves bytes and wakes
//! threads.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use bytes::Bytes;

use crate::core::{Client, Timers};

use super::io::{Input, Interrupt, OutReceiver, ReadOnce, WriteQueued, HANDOVER, MAX_READ_WAIT};

/// A callback queued by another thread or a timer.
pub(super) type Task = Box<dyn FnOnce() + Send>;

pub(super) struct Inner {
    pub(super) core: Client,
    pub(super) writer: Option<super::io::OutSender>,
    /// How many of the core's events (whose callbacks run in
    /// `process_data_events`: deliveries of callback consumers, returns,
    /// blocked notices, broker cancels) dispatching threads were told of.
    /// The events stay in the core until a dispatcher takes them, so that
    /// the core's bound on deliveries not yet taken covers them.
    pub(super) events_seen: usize,
    /// Reading is paused: the application has not taken what the core
    /// holds (see `Client::wants_input`).
    pub(super) paused: bool,
    pub(super) threadsafe_callbacks: VecDeque<Task>,
    pub(super) timers: Timers<Task>,
    /// Threads parked in [`Shared::wait`]: waking costs a system call, so
    /// [`Shared::pump`] skips it when nobody waits.
    pub(super) waiters: usize,
}

pub(super) struct Shared {
    pub(super) inner: Mutex<Inner>,
    pub(super) cond: Condvar,
    /// Bytes handed to the writer and not yet written: publishers wait while
    /// it is above [`HIGH_WATER`], so a fast publisher cannot pile up
    /// unbounded memory in front of a slow socket.
    pub(super) queued: AtomicUsize,
    pub(super) room: Mutex<()>,
    pub(super) room_cond: Condvar,
    /// What the writer (or a reading application thread) is to write.
    pub(super) out: OutReceiver,
    /// The socket's write side, held by whichever thread writes.
    pub(super) write_side: Mutex<Option<Box<dyn WriteQueued>>>,
    /// The socket's read side, held by whichever thread reads (see
    /// [`Shared::wait_reading`]); `None` until the I/O starts.
    pub(super) read_side: Mutex<Option<Box<dyn ReadOnce>>>,
    /// When an application thread last read the socket, in microseconds
    /// since `epoch` (0: never).
    pub(super) app_read_at: AtomicU64,
    /// The thread (see [`thread_number`]) that last read the socket in
    /// [`Shared::wait_reading`].
    pub(super) app_reader: AtomicU64,
    /// The reader thread is (about to be) blocked in a read: output queued
    /// lazily must wake the writer.
    pub(super) reader_reads: std::sync::atomic::AtomicBool,
    /// Application threads parked in [`Shared::wait_reading`] because
    /// another thread held the read side.
    pub(super) app_wants_read: AtomicUsize,
    pub(super) epoch: Instant,
    /// Wakes a dispatching thread that reads the socket (see
    /// [`Shared::wait_dispatching`]).
    pub(super) interrupt: Interrupt,
}

/// Above this many queued output bytes, publishers wait.
pub(super) const HIGH_WATER: usize = 4 * 1024 * 1024;
/// ... until the writer brings it below this.
pub(super) const LOW_WATER: usize = 1024 * 1024;

impl Shared {
    pub(super) fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic in another thread while holding the lock leaves consistent
        // data here (every update is complete before user code runs), so
        // poisoning is ignored.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// After the application took deliveries: when that ends a pause of
    /// reading, wakes the thread that will read.
    pub(super) fn taken(&self, inner: &mut Inner) {
        inner.events_seen = inner.core.event_count();
        if inner.paused && inner.core.wants_input() {
            inner.paused = false;
            self.cond.notify_all();
        }
    }

    pub(super) fn wait<'a>(
        &self,
        mut guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        guard.waiters += 1;
        let mut guard = match until {
            None => self.cond.wait(guard).unwrap_or_else(|p| p.into_inner()),
            Some(t) => {
                let d = t.saturating_duration_since(Instant::now());
                self.cond
                    .wait_timeout(guard, d)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|p| p.into_inner().0)
            }
        };
        guard.waiters -= 1;
        guard
    }

    pub(super) fn lock_write_side(&self) -> MutexGuard<'_, Option<Box<dyn WriteQueued>>> {
        self.write_side.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Writes what is queued, on this thread, unless another thread is
    /// writing (it then writes this too). Called without the core's lock.
    /// False when another thread holds the write side (it writes this
    /// output too).
    fn flush_directly(&self) -> bool {
        let Ok(mut side) = self.write_side.try_lock() else {
            return false;
        };
        let Some(w) = side.as_mut() else {
            return false;
        };
        match w.write_queued(&self.out) {
            Ok(n) => self.written(n),
            Err(e) => {
                drop(side);
                let mut inner = self.lock();
                inner.core.handle_eof(Some(e));
                self.pump(&mut inner);
            }
        }
        true
    }

    pub(super) fn lock_read_side(&self) -> MutexGuard<'_, Option<Box<dyn ReadOnce>>> {
        self.read_side.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mark_application_read(&self) {
        self.app_reader.store(thread_number(), Ordering::Relaxed);
        let micros = self.epoch.elapsed().as_micros() as u64 + 1;
        self.app_read_at.store(micros, Ordering::Relaxed);
    }

    /// Whether an application thread reads the socket, waits to, or did so
    /// within [`HANDOVER`]: then the reader thread keeps off it.
    pub(super) fn application_reads(&self) -> bool {
        if self.app_wants_read.load(Ordering::Relaxed) > 0 {
            return true;
        }
        let at = self.app_read_at.load(Ordering::Relaxed);
        at != 0
            && (self.epoch.elapsed().as_micros() as u64 + 1).saturating_sub(at)
                < HANDOVER.as_micros() as u64
    }

    /// Like [`Shared::wait`], for what only the socket can bring (a
    /// delivery, a confirm, a reply): when no other thread reads the socket,
    /// this one reads it (once, at most until `until`) instead of parking
    /// until the reader thread wakes it. Returns after that read or wake-up;
    /// the caller checks its condition again.
    pub(super) fn wait_reading<'a>(
        &'a self,
        guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        self.wait_reading_with(guard, until, None, false)
    }

    /// [`Shared::wait_reading`] for a publish's confirm: it reads even while
    /// reading is paused for deliveries the application has not taken (the
    /// confirm may be behind them, and the thread that would take them may
    /// be this one, inside a callback). What it reads past the bound is at
    /// most what the broker wrote before the confirm.
    pub(super) fn wait_reading_for_confirm<'a>(
        &'a self,
        guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        self.wait_reading_with(guard, until, None, true)
    }

    /// [`Shared::wait_reading`] for a thread that also waits for what other
    /// threads add (thread-safe callbacks, timers: they fire
    /// [`Shared::interrupt`]): `start_consuming` and `process_data_events`.
    /// Where no interrupt is available, it parks as [`Shared::wait`] does.
    pub(super) fn wait_dispatching<'a>(
        &'a self,
        guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
    ) -> MutexGuard<'a, Inner> {
        if !self.interrupt.available() {
            return self.wait(guard, until);
        }
        // Armed under the lock: whatever is added after the caller looked
        // (under the same lock) fires it.
        self.interrupt.arm();
        let guard = self.wait_reading_with(guard, until, Some(&self.interrupt), false);
        self.interrupt.disarm();
        guard
    }

    fn wait_reading_with<'a>(
        &'a self,
        mut guard: MutexGuard<'a, Inner>,
        until: Option<Instant>,
        interrupt: Option<&Interrupt>,
        despite_pause: bool,
    ) -> MutexGuard<'a, Inner> {
        if self.out.has_pending() {
            // Acks queued lazily (and whatever came after them) go out
            // before this thread reads: one write for a whole batch.
            drop(guard);
            if self.flush_directly() {
                return self.lock();
            }
            // The writer is at it (a long backlog of publishes): wait as
            // below rather than look again at once, which spun this thread
            // until the backlog was written.
            guard = self.lock();
        }
        let now = Instant::now();
        let mut wait = guard
            .core
            .poll_timeout()
            .map_or(MAX_READ_WAIT, |t| t.saturating_duration_since(now));
        if let Some(u) = until {
            wait = wait.min(u.saturating_duration_since(now));
        }
        if !guard.core.is_stream_closed() && (!guard.paused || despite_pause) {
            // Never waits for the read side while holding the core's lock
            // (the reader holds the read side and then takes the core's).
            if let Ok(mut side) = self.read_side.try_lock() {
                if let Some(s) = side.as_mut() {
                    drop(guard);
                    self.mark_application_read();
                    s.read_once(self, wait, interrupt);
                    self.mark_application_read();
                    drop(side);
                    return self.lock();
                }
            }
        }
        self.app_wants_read.fetch_add(1, Ordering::Relaxed);
        let guard = self.wait(guard, until);
        self.app_wants_read.fetch_sub(1, Ordering::Relaxed);
        guard
    }

    /// [`Shared::pump`] after an ack, nack or reject: while an application
    /// thread reads the socket, its output is queued without waking the
    /// writer, and that thread writes it before its next read (the reader
    /// thread wakes the writer within [`HANDOVER`] otherwise).
    pub(super) fn pump_ack(&self, inner: &mut Inner) {
        self.pump_inner(inner, self.application_reads());
    }

    /// [`Shared::pump`] after a publish: when this thread is the one that
    /// reads the socket (it waits for confirms or deliveries in between), the
    /// frames are queued without waking the writer and this thread writes
    /// them, with whatever else it queued, before its next read: one write
    /// per window of publishes, and no thread hop for a request/response.
    pub(super) fn pump_publish(&self, inner: &mut Inner) {
        let lazy =
            self.application_reads() && self.app_reader.load(Ordering::Relaxed) == thread_number();
        self.pump_inner(inner, lazy);
    }

    /// Moves the core's output to the writer and its events into the shared
    /// structures, then wakes every waiter.
    pub(super) fn pump(&self, inner: &mut Inner) {
        self.pump_inner(inner, false);
    }

    fn pump_inner(&self, inner: &mut Inner, lazy: bool) {
        let now = Instant::now();
        while let Some(bytes) = inner.core.poll_transmit(now) {
            if let Some(w) = &inner.writer {
                let n = bytes.len();
                self.queued.fetch_add(n, Ordering::AcqRel);
                let sent = if lazy {
                    w.send_lazy(bytes)
                } else {
                    w.send(bytes)
                };
                if sent.is_err() {
                    self.queued.fetch_sub(n, Ordering::AcqRel);
                    inner.writer = None;
                }
            }
        }
        // Queued lazily while the reader thread blocks in a read (nobody
        // would write it soon): wake the writer after all. Pairs with the
        // reader's store-then-kick, so that one of the two sees the other.
        if lazy && self.reader_reads.load(Ordering::SeqCst) {
            self.out.kick();
        }
        // Waking every waiter costs a system call: only do it when a waiter
        // may have something to look at (a publish's "written" is not).
        let mut wake = false;
        while inner.core.poll_ready().is_some() {
            wake = true;
        }
        let events = inner.core.event_count();
        if events > inner.events_seen {
            wake = true;
        }
        inner.events_seen = events;
        let paused = !inner.core.wants_input();
        if paused != inner.paused {
            inner.paused = paused;
            wake = true;
        }
        if inner.core.is_closed() {
            // Dropping the sender lets the writer drain and shut the socket.
            inner.writer = None;
            wake = true;
        }
        if wake && inner.waiters > 0 {
            self.cond.notify_all();
        }
    }
}

impl Shared {
    /// Drops what waits to be written (for a stream that was lost).
    pub(super) fn discard_output(&self) {
        let mut chunks = Vec::new();
        self.out.take_all(&mut chunks);
        let n: usize = chunks.iter().map(|c| c.len()).sum();
        if n > 0 {
            self.written(n);
        }
    }

    /// Called by the writer after writing `n` bytes.
    pub(super) fn written(&self, n: usize) {
        let before = self.queued.fetch_sub(n, Ordering::AcqRel);
        if before >= LOW_WATER && before - n < LOW_WATER {
            let _guard = self.room.lock().unwrap_or_else(|p| p.into_inner());
            self.room_cond.notify_all();
        }
    }

    /// Waits (without holding the core's lock) while too much output is
    /// queued; returns at once when the connection is gone.
    pub(super) fn wait_for_room(&self) {
        if self.queued.load(Ordering::Acquire) <= HIGH_WATER {
            return;
        }
        // Output queued lazily does not wake the writer: write it here.
        self.flush_directly();
        self.out.kick();
        let mut guard = self.room.lock().unwrap_or_else(|p| p.into_inner());
        while self.queued.load(Ordering::Acquire) > LOW_WATER {
            let (g, timeout) = self
                .room_cond
                .wait_timeout(guard, std::time::Duration::from_millis(100))
                .unwrap_or_else(|p| p.into_inner());
            guard = g;
            if timeout.timed_out() && self.lock().core.is_closed() {
                return;
            }
        }
    }
}

impl Input for Shared {
    fn feed(&self, read: std::io::Result<Option<&[u8]>>) -> (u64, bool) {
        let now = Instant::now();
        let mut frames = 0;
        let mut inner = self.lock();
        match read {
            Ok(None) => inner.core.handle_eof(None),
            Ok(Some(input)) => {
                let before = inner.core.frames_received();
                inner.core.handle_input(input, now);
                inner.core.handle_timeout(now);
                frames = inner.core.frames_received() - before;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                inner.core.handle_timeout(now)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => inner.core.handle_eof(Some(e)),
        }
        self.pump(&mut inner);
        (frames, !inner.core.is_closed())
    }

    fn wake_writer(&self) {
        if let Some(w) = &self.lock().writer {
            let _ = w.send(Bytes::new());
        }
    }
}

/// A small number per thread, for telling threads apart cheaply.
pub(super) fn thread_number() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    thread_local! {
        static NUMBER: u64 = NEXT.fetch_add(1, Ordering::Relaxed);
    }
    NUMBER.with(|n| *n)
}
