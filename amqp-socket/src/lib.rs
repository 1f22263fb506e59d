//! Socket calls that std does not offer, for AMQP connections' receive
//! paths, and when to use them: shared by `amqp-client` and `amqp-tap`, and
//! the only crate of the workspace with `unsafe` code (its `libc` calls,
//! each with its safety argument).
//!
//! - [`set_recv_lowat`]: the receive low-water mark (`SO_RCVLOWAT`), which
//!   lets a reader that is behind a stream of messages take them in larger
//!   batches;
//! - [`poll_readable`], [`poll_either`]: waiting for readability with
//!   `poll`'s precision rather than a read timeout's;
//! - [`recv_now`]: a non-blocking read that leaves the socket's mode alone;
//! - [`Coalescing`]: the policy that raises and lowers the low-water mark.
//!
//! All of them are Linux only; elsewhere the mark cannot be set and
//! coalescing stays off.

use std::time::Duration;

/// The receive low-water mark of a socket: a blocking read, and readiness in
/// `epoll`, wait until this many bytes are there (a read still returns less
/// when its timeout expires first). Linux only; `Ok(false)` elsewhere.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn set_recv_lowat(socket: &impl std::os::fd::AsFd, bytes: usize) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: the descriptor is borrowed from a live socket for the whole
    // call; the option value is a `c_int` on the stack, passed with its
    // size, and only read by the kernel.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(true)
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// See the Linux variant.
#[cfg(not(target_os = "linux"))]
pub fn set_recv_lowat<S>(_socket: &S, _bytes: usize) -> std::io::Result<bool> {
    Ok(false)
}

/// Waits until the socket is readable (with a low-water mark set: until
/// that many bytes are there) or `timeout` passed: true if readable.
/// `poll`'s timeout is precise to a few tens of microseconds, unlike a
/// socket's read timeout, which the kernel counts in scheduler ticks (4 ms
/// at 250 Hz). Linux only.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn poll_readable(socket: &impl std::os::fd::AsFd, timeout: Duration) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid `pollfd` on the stack, its count 1; the descriptor
    // is borrowed from a live socket for the whole call.
    let rc = unsafe { libc::poll(&mut fd, 1, ms) };
    match rc {
        n if n > 0 => Ok(true),
        0 => Ok(false),
        _ => {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

/// Waits until `socket` or `other` is readable (`socket` with its
/// low-water mark) or `timeout` passed: which of them are. Linux only.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn poll_either(
    socket: &impl std::os::fd::AsFd,
    other: &impl std::os::fd::AsFd,
    timeout: Duration,
) -> std::io::Result<(bool, bool)> {
    use std::os::fd::AsRawFd;
    let mut fds = [
        libc::pollfd {
            fd: socket.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: other.as_fd().as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: two valid `pollfd`s in an array on the stack, their count 2;
    // the descriptors are borrowed from live sockets for the whole call.
    let rc = unsafe { libc::poll(fds.as_mut_ptr(), 2, ms) };
    if rc < 0 {
        let e = std::io::Error::last_os_error();
        return if e.kind() == std::io::ErrorKind::Interrupted {
            Ok((false, false))
        } else {
            Err(e)
        };
    }
    Ok((fds[0].revents != 0, fds[1].revents != 0))
}

/// Reads what the socket has now without waiting (whatever its low-water
/// mark): `WouldBlock` if nothing. Linux only.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub fn recv_now(socket: &impl std::os::fd::AsFd, buf: &mut [u8]) -> std::io::Result<usize> {
    use std::os::fd::AsRawFd;
    // SAFETY: the buffer is valid for writes of its length for the whole
    // call; the descriptor is borrowed from a live socket.
    let rc = unsafe {
        libc::recv(
            socket.as_fd().as_raw_fd(),
            buf.as_mut_ptr().cast(),
            buf.len(),
            libc::MSG_DONTWAIT,
        )
    };
    usize::try_from(rc).map_err(|_| std::io::Error::last_os_error())
}

/// See the Linux variant. Elsewhere it says "readable" at once: there the
/// low-water mark cannot be set, so nothing should wait on it.
#[cfg(not(target_os = "linux"))]
pub fn poll_readable<S>(_socket: &S, _timeout: Duration) -> std::io::Result<bool> {
    Ok(true)
}

/// See the Linux variant. Elsewhere it says "`socket` readable" at once.
#[cfg(not(target_os = "linux"))]
pub fn poll_either<S, O>(
    _socket: &S,
    _other: &O,
    _timeout: Duration,
) -> std::io::Result<(bool, bool)> {
    Ok((true, false))
}

/// See the Linux variant. Elsewhere it always says `WouldBlock`: read the
/// socket in its own mode instead.
#[cfg(not(target_os = "linux"))]
pub fn recv_now<S>(_socket: &S, _buf: &mut [u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::WouldBlock.into())
}

/// Receive coalescing: while deliveries stream in faster than the reader
/// takes them, wait for a few kilobytes (or [`Coalescing::WINDOW`], whichever
/// comes first) before waking up, instead of waking for every segment. This
/// halves the CPU a fast consumer spends per message (most of it goes to
/// wake-ups and system calls), at a cost in latency of at most the window,
/// and only while a stream is flowing: a read that brings less than
/// [`Coalescing::ENGAGE`] bytes, or fewer than [`Coalescing::ENGAGE_FRAMES`]
/// frames (a reply, a single delivery however large, a round trip),
/// switches it off, so request-reply traffic never waits.
///
/// The low-water mark grows (doubling up to [`Coalescing::MAX`]) while reads
/// fill it, and falls back to what actually came when the window expires
/// first.
#[derive(Debug)]
pub struct Coalescing {
    /// The low-water mark now set on the socket; 1 (the default) when off.
    lowat: usize,
    /// False where the option is unavailable or was refused.
    enabled: bool,
}

impl Coalescing {
    /// A read of at least this many bytes ...
    pub const ENGAGE: usize = 8 * 1024;
    /// ... and this many frames (several messages at once) switches
    /// coalescing on.
    pub const ENGAGE_FRAMES: u64 = 8;
    /// The largest low-water mark.
    pub const MAX: usize = 32 * 1024;
    /// The longest a coalescing read waits for the low-water mark.
    pub const WINDOW: Duration = Duration::from_millis(2);

    /// The policy, off for good unless `enabled` (the low-water mark is
    /// then never raised).
    pub fn new(enabled: bool) -> Self {
        Coalescing { lowat: 1, enabled }
    }

    /// Whether reads wait for a low-water mark now (and so must wait at
    /// most [`Coalescing::WINDOW`]).
    pub fn engaged(&self) -> bool {
        self.lowat > 1
    }

    /// After a read: `Some((bytes, frames))` came, `None` if the window
    /// expired empty. Returns the new low-water mark when it changes.
    pub fn after_read(&mut self, got: Option<(usize, u64)>) -> Option<usize> {
        if !self.enabled {
            return None;
        }
        let next = match got {
            Some((n, frames)) if n >= Self::ENGAGE && frames >= Self::ENGAGE_FRAMES => {
                if n >= self.lowat {
                    (self.lowat.max(n / 2) * 2).min(Self::MAX)
                } else {
                    n
                }
            }
            _ => 1,
        };
        (next != self.lowat).then(|| {
            self.lowat = next;
            next
        })
    }

    /// Waits for the largest mark: the next read comes when the window
    /// expires, unless that much arrives first. Returns the new low-water
    /// mark when it changes.
    pub fn hold(&mut self) -> Option<usize> {
        (self.enabled && self.lowat != Self::MAX).then(|| {
            self.lowat = Self::MAX;
            Self::MAX
        })
    }

    /// The socket refused the option: stay off.
    pub fn disable(&mut self) {
        self.enabled = false;
        self.lowat = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Coalescing;

    #[test]
    fn engages_on_large_reads_grows_and_falls_back() {
        let mut c = Coalescing::new(true);
        // Replies and single deliveries never engage it.
        let many = Coalescing::ENGAGE_FRAMES;
        assert_eq!(c.after_read(Some((100, 3))), None);
        assert_eq!(c.after_read(Some((Coalescing::ENGAGE - 1, many))), None);
        // One large message (a few frames), however many bytes: off.
        assert_eq!(c.after_read(Some((64 * 1024, 3))), None);
        assert!(!c.engaged());
        // Several deliveries at once: on, then doubling while filled.
        assert_eq!(
            c.after_read(Some((Coalescing::ENGAGE, many))),
            Some(Coalescing::ENGAGE)
        );
        assert!(c.engaged());
        assert_eq!(
            c.after_read(Some((Coalescing::ENGAGE, many))),
            Some(2 * Coalescing::ENGAGE)
        );
        assert_eq!(c.after_read(Some((64 * 1024, many))), Some(Coalescing::MAX));
        assert_eq!(c.after_read(Some((Coalescing::MAX, many))), None);
        // The window expired with less: what came, while still a batch ...
        assert_eq!(c.after_read(Some((10_000, many))), Some(10_000));
        // ... and off when little or nothing came.
        assert_eq!(c.after_read(Some((500, 4))), Some(1));
        assert!(!c.engaged());
        c.after_read(Some((Coalescing::ENGAGE, many)));
        assert_eq!(c.after_read(None), Some(1));
        assert!(!c.engaged());
    }

    #[test]
    fn holding_waits_for_the_largest_mark_until_a_read_says_otherwise() {
        let mut c = Coalescing::new(true);
        assert_eq!(c.hold(), Some(Coalescing::MAX));
        assert!(c.engaged());
        assert_eq!(c.hold(), None);
        // A few small frames came when the window expired: off again.
        assert_eq!(c.after_read(Some((42, 2))), Some(1));
        assert!(!c.engaged());
        let mut off = Coalescing::new(false);
        assert_eq!(off.hold(), None);
        assert!(!off.engaged());
    }

    #[test]
    fn stays_off_when_disabled() {
        let mut c = Coalescing::new(false);
        assert_eq!(c.after_read(Some((1 << 20, 1000))), None);
        assert!(!c.engaged());
        let mut c = Coalescing::new(true);
        c.after_read(Some((1 << 20, 1000)));
        c.disable();
        assert!(!c.engaged());
        assert_eq!(c.after_read(Some((1 << 20, 1000))), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_low_water_mark_is_set_on_a_socket() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let s = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (mut peer, _) = listener.accept().unwrap();
        assert!(super::set_recv_lowat(&s, 16 * 1024).unwrap());
        // Fewer bytes than the mark: not readable, but they can be taken.
        std::io::Write::write_all(&mut peer, &[7; 100]).unwrap();
        let t0 = std::time::Instant::now();
        assert!(!super::poll_readable(&s, std::time::Duration::from_millis(5)).unwrap());
        assert!(t0.elapsed() < std::time::Duration::from_millis(100));
        let mut buf = [0; 200];
        assert_eq!(super::recv_now(&s, &mut buf).unwrap(), 100);
        assert_eq!(
            super::recv_now(&s, &mut buf).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock
        );
        // Enough bytes: readable.
        std::io::Write::write_all(&mut peer, &[8; 16 * 1024]).unwrap();
        assert!(super::poll_readable(&s, std::time::Duration::from_secs(5)).unwrap());
        assert!(super::set_recv_lowat(&s, 1).unwrap());
    }
}
