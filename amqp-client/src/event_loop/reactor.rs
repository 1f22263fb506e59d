//! [`EventLoop`]: the loop itself (the OS poller, timers, callbacks from
//! other threads) and the connections it drives.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mio::{Events, Poll, Registry, Token, Waker};

use crate::error::Error;

use super::state::{ConnInner, Connection, ConnectionId};

/// The token of the waker; connections use 1 and up.
const WAKER: Token = Token(0);

/// Size of the buffer sockets are read into.
const READ_BUFFER: usize = 64 * 1024;

/// Identifies a timer made by [`EventLoop::call_later`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId(u64);

type ThreadsafeFn = Box<dyn FnOnce(&EventLoop) + Send>;

/// What other threads share with the loop.
struct Shared {
    /// Callbacks scheduled from other threads; `None` once the loop is gone.
    queue: Mutex<Option<VecDeque<ThreadsafeFn>>>,
    waker: Waker,
    stop: AtomicBool,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<VecDeque<ThreadsafeFn>>> {
        // Only whole pushes and swaps happen under the lock: a poisoned
        // queue is still consistent.
        self.queue.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[derive(Default)]
struct Timers {
    by_deadline: BTreeMap<(Instant, u64), Box<dyn FnOnce()>>,
    deadlines: HashMap<u64, Instant>,
    next: u64,
}

pub(crate) struct LoopInner {
    poll: RefCell<Poll>,
    registry: Registry,
    events: RefCell<Events>,
    shared: Arc<Shared>,
    timers: RefCell<Timers>,
    conns: RefCell<BTreeMap<usize, Rc<ConnInner>>>,
    next_token: Cell<usize>,
    running: Cell<bool>,
    read_buf: RefCell<Vec<u8>>,
    /// Reused list of the connections to drive in one iteration.
    scratch: RefCell<Vec<Rc<ConnInner>>>,
}

impl Drop for LoopInner {
    fn drop(&mut self) {
        // Scheduled callbacks are dropped (their captures released) and
        // later ones refused.
        let queued = self.shared.lock().take();
        drop(queued);
        let conns = std::mem::take(&mut *self.conns.borrow_mut());
        for conn in conns.into_values() {
            conn.abandon();
        }
    }
}

/// A single-threaded event loop: sockets, timers and callbacks from other
/// threads, all run by [`run`](Self::run) on the calling thread. Cheap to
/// clone (clones share the loop); not `Send`: use an [`EventLoopHandle`]
/// from other threads.
#[derive(Clone)]
pub struct EventLoop {
    inner: Rc<LoopInner>,
}

impl std::fmt::Debug for EventLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventLoop")
            .field("connections", &self.inner.conns.borrow().len())
            .field("timers", &self.inner.timers.borrow().by_deadline.len())
            .finish_non_exhaustive()
    }
}

impl EventLoop {
    /// A new loop (an OS poller and a waker).
    pub fn new() -> Result<EventLoop, Error> {
        let poll = Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let waker = Waker::new(&registry, WAKER)?;
        Ok(EventLoop {
            inner: Rc::new(LoopInner {
                poll: RefCell::new(poll),
                registry,
                events: RefCell::new(Events::with_capacity(256)),
                shared: Arc::new(Shared {
                    queue: Mutex::new(Some(VecDeque::new())),
                    waker,
                    stop: AtomicBool::new(false),
                }),
                timers: RefCell::new(Timers::default()),
                conns: RefCell::new(BTreeMap::new()),
                next_token: Cell::new(1),
                running: Cell::new(false),
                read_buf: RefCell::new(vec![0; READ_BUFFER]),
                scratch: RefCell::new(Vec::new()),
            }),
        })
    }

    pub(super) fn from_inner(inner: Rc<LoopInner>) -> EventLoop {
        EventLoop { inner }
    }

    /// The loop, for a connection to find it again (see
    /// [`Connection::event_loop`]).
    pub(super) fn downgrade(&self) -> std::rc::Weak<dyn std::any::Any> {
        let weak: std::rc::Weak<LoopInner> = Rc::downgrade(&self.inner);
        weak
    }

    /// A handle for other threads: schedule callbacks, stop the loop.
    pub fn handle(&self) -> EventLoopHandle {
        EventLoopHandle {
            shared: self.inner.shared.clone(),
        }
    }

    /// Runs `callback` on the loop thread after `delay` (timers due at the
    /// same time run in the order they were made).
    pub fn call_later(&self, delay: Duration, callback: impl FnOnce() + 'static) -> TimerId {
        let mut timers = self.inner.timers.borrow_mut();
        timers.next += 1;
        let id = timers.next;
        let at = Instant::now() + delay;
        timers.by_deadline.insert((at, id), Box::new(callback));
        timers.deadlines.insert(id, at);
        TimerId(id)
    }

    /// Cancels a timer; false when it already ran or was removed.
    pub fn remove_timeout(&self, timer: TimerId) -> bool {
        let removed = {
            let mut timers = self.inner.timers.borrow_mut();
            match timers.deadlines.remove(&timer.0) {
                Some(at) => timers.by_deadline.remove(&(at, timer.0)),
                None => None,
            }
        };
        // The callback is dropped without the timers borrowed: its captures
        // may have destructors that use the loop.
        removed.is_some()
    }

    /// Schedules `callback` on the loop thread, as
    /// [`EventLoopHandle::add_callback_threadsafe`].
    pub fn add_callback_threadsafe(
        &self,
        callback: impl FnOnce(&EventLoop) + Send + 'static,
    ) -> Result<(), Error> {
        self.handle().add_callback_threadsafe(callback)
    }

    /// Makes [`run`](Self::run) return once the current callback finishes.
    pub fn stop(&self) {
        self.inner.shared.stop.store(true, Ordering::SeqCst);
    }

    /// The connection with this id, while the loop drives it (from its
    /// creation until it closes or fails to open).
    pub fn connection(&self, id: ConnectionId) -> Option<Connection> {
        self.inner
            .conns
            .borrow()
            .get(&id.0)
            .cloned()
            .map(|inner| Connection { inner })
    }

    pub(super) fn register_connection(
        &self,
        make: impl FnOnce(usize) -> Rc<ConnInner>,
    ) -> Rc<ConnInner> {
        let token = self.inner.next_token.get();
        self.inner.next_token.set(token + 1);
        let conn = make(token);
        self.inner.conns.borrow_mut().insert(token, conn.clone());
        conn
    }

    pub(super) fn unregister_connection(&self, token: usize) {
        let conn = self.inner.conns.borrow_mut().remove(&token);
        drop(conn);
    }

    pub(super) fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Runs the loop on this thread until [`stop`](Self::stop) (or
    /// [`EventLoopHandle::stop`]); it can be run again afterwards. Fails
    /// when called from one of the loop's own callbacks, or when the OS
    /// poller fails.
    pub fn run(&self) -> Result<(), Error> {
        if self.inner.running.replace(true) {
            return Err(Error::Misuse(
                "the event loop is already running on this thread".into(),
            ));
        }
        let result = self.run_inner();
        self.inner.running.set(false);
        self.inner.shared.stop.store(false, Ordering::SeqCst);
        result
    }

    fn run_inner(&self) -> Result<(), Error> {
        loop {
            let now = Instant::now();
            self.run_threadsafe();
            self.run_timers(now);
            let more_input = self.drive_connections();
            if self.inner.shared.stop.load(Ordering::SeqCst) {
                return Ok(());
            }
            let timeout = if more_input {
                Some(Duration::ZERO)
            } else {
                self.next_deadline()
                    .map(|t| t.saturating_duration_since(Instant::now()))
            };
            self.poll(timeout)?;
        }
    }

    /// Waits for socket readiness, a wake-up or `timeout`, and handles
    /// what is ready.
    fn poll(&self, timeout: Option<Duration>) -> Result<(), Error> {
        let mut events = self.inner.events.borrow_mut();
        match self.inner.poll.borrow_mut().poll(&mut events, timeout) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(e.into()),
        }
        let now = Instant::now();
        for event in events.iter() {
            if event.token() == WAKER {
                continue;
            }
            let conn = self.inner.conns.borrow().get(&event.token().0).cloned();
            if let Some(conn) = conn {
                let mut buf = self.inner.read_buf.borrow_mut();
                conn.on_ready(self, event, &mut buf, now);
                // What arrived is handled before any other callback runs,
                // so that they see the connection as it now is.
                conn.drive(self, &mut buf, now);
            }
        }
        Ok(())
    }

    /// Drives every connection (time, events, output); true when one of
    /// them has more input to read without waiting.
    fn drive_connections(&self) -> bool {
        let mut list = std::mem::take(&mut *self.inner.scratch.borrow_mut());
        list.extend(self.inner.conns.borrow().values().cloned());
        let mut more = false;
        for conn in list.drain(..) {
            let mut buf = self.inner.read_buf.borrow_mut();
            more |= conn.drive(self, &mut buf, Instant::now());
        }
        *self.inner.scratch.borrow_mut() = list;
        more
    }

    fn next_deadline(&self) -> Option<Instant> {
        let mut next = self
            .inner
            .timers
            .borrow()
            .by_deadline
            .keys()
            .next()
            .map(|(t, _)| *t);
        for conn in self.inner.conns.borrow().values() {
            if let Some(t) = conn.poll_timeout() {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        }
        next
    }

    fn run_threadsafe(&self) {
        let batch = match self.inner.shared.lock().as_mut() {
            Some(q) if !q.is_empty() => std::mem::take(q),
            _ => return,
        };
        for callback in batch {
            callback(self);
        }
    }

    /// Runs the timers due at `now` that existed before this call.
    fn run_timers(&self, now: Instant) {
        let limit = self.inner.timers.borrow().next;
        loop {
            let callback = {
                let mut timers = self.inner.timers.borrow_mut();
                let Some(&(at, id)) = timers.by_deadline.keys().next() else {
                    return;
                };
                if at > now || id > limit {
                    return;
                }
                timers.deadlines.remove(&id);
                timers.by_deadline.remove(&(at, id))
            };
            if let Some(callback) = callback {
                callback();
            }
        }
    }
}

/// Schedules work on an [`EventLoop`] from any thread. `Send + Sync`, cheap
/// to clone.
#[derive(Clone)]
pub struct EventLoopHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EventLoopHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventLoopHandle")
    }
}

impl EventLoopHandle {
    /// Queues `callback` to run on the loop thread and wakes the loop.
    /// Callbacks run in the order they were added. The callback gets the
    /// loop, from which [`EventLoop::connection`] and
    /// [`Connection::channel_by_id`] find the objects to act on. Fails once the
    /// loop is dropped.
    pub fn add_callback_threadsafe(
        &self,
        callback: impl FnOnce(&EventLoop) + Send + 'static,
    ) -> Result<(), Error> {
        match self.shared.lock().as_mut() {
            Some(q) => q.push_back(Box::new(callback)),
            None => return Err(Error::Misuse("the event loop is gone".into())),
        }
        self.shared.waker.wake()?;
        Ok(())
    }

    /// Makes [`EventLoop::run`] return once the current callback finishes.
    pub fn stop(&self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // A failed wake leaves the loop to notice at its next wake-up.
        let _ = self.shared.waker.wake();
    }
}
