//! Receive coalescing for the forwarding threads: the socket's receive
//! low-water mark (`SO_RCVLOWAT`, Linux), which std does not offer, and when
//! to raise it. Elsewhere it is a no-op and coalescing stays off.

use std::time::Duration;

/// Sets the receive low-water mark: a blocking read waits until this many
/// bytes are there, or until its timeout expires (then it returns what
/// came). Linux only; `Ok(false)` elsewhere.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn set_recv_lowat(
    socket: &impl std::os::fd::AsFd,
    bytes: usize,
) -> std::io::Result<bool> {
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
pub(crate) fn set_recv_lowat<S>(_socket: &S, _bytes: usize) -> std::io::Result<bool> {
    Ok(false)
}

/// Waits until the socket is readable (with a low-water mark: until that
/// many bytes are there) or `timeout` passed: true if readable. Precise to
/// tens of microseconds, unlike a socket's read timeout (scheduler ticks).
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn poll_readable(
    socket: &impl std::os::fd::AsFd,
    timeout: Duration,
) -> std::io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_fd().as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: one valid `pollfd` on the stack, its count 1; the descriptor
    // is borrowed from a live socket for the whole call.
    match unsafe { libc::poll(&mut fd, 1, ms) } {
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

/// Reads what the socket has now, whatever its low-water mark;
/// `WouldBlock` if nothing.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn recv_now(socket: &impl std::os::fd::AsFd, buf: &mut [u8]) -> std::io::Result<usize> {
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

/// See the Linux variant; never called elsewhere (coalescing stays off).
#[cfg(not(target_os = "linux"))]
pub(crate) fn poll_readable<S>(_socket: &S, _timeout: Duration) -> std::io::Result<bool> {
    Ok(true)
}

/// See the Linux variant; never called elsewhere (coalescing stays off).
#[cfg(not(target_os = "linux"))]
pub(crate) fn recv_now<S>(_socket: &S, _buf: &mut [u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::WouldBlock.into())
}

/// While bulk data flows through a direction (a read brought at least
/// [`Coalescing::ENGAGE`] bytes and [`Coalescing::ENGAGE_FRAMES`] frames), its next read waits for a low-water mark
/// (doubling up to [`Coalescing::MAX`] while reads fill it) or at most
/// [`Coalescing::WINDOW`]: the forwarding thread wakes once per batch rather
/// than once per segment, which leaves the CPU to the broker. Smaller reads
/// (requests, replies, single messages) turn it off, so round trips never
/// wait.
#[derive(Debug)]
pub(crate) struct Coalescing {
    lowat: usize,
    enabled: bool,
}

impl Coalescing {
    pub(crate) const ENGAGE: usize = 8 * 1024;
    pub(crate) const ENGAGE_FRAMES: u64 = 8;
    pub(crate) const MAX: usize = 32 * 1024;
    pub(crate) const WINDOW: Duration = Duration::from_millis(2);

    pub(crate) fn new(enabled: bool) -> Self {
        Coalescing { lowat: 1, enabled }
    }

    pub(crate) fn engaged(&self) -> bool {
        self.lowat > 1
    }

    /// After a read: `Some((bytes, frames))` came, `None` if the window
    /// expired empty. The new low-water mark when it changes.
    pub(crate) fn after_read(&mut self, got: Option<(usize, u64)>) -> Option<usize> {
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

    /// Waits for the largest mark: the next read comes when its window
    /// expires, unless that much arrives first. The new low-water mark when
    /// it changes.
    pub(crate) fn hold(&mut self) -> Option<usize> {
        (self.enabled && self.lowat != Self::MAX).then(|| {
            self.lowat = Self::MAX;
            Self::MAX
        })
    }

    pub(crate) fn disable(&mut self) {
        self.enabled = false;
        self.lowat = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::Coalescing;

    #[test]
    fn engages_on_bulk_reads_and_falls_back() {
        let mut c = Coalescing::new(true);
        assert_eq!(c.after_read(Some((200, 3))), None);
        // One large message: off.
        assert_eq!(c.after_read(Some((60000, 3))), None);
        assert_eq!(c.after_read(Some((9000, 90))), Some(9000));
        assert_eq!(c.after_read(Some((9000, 90))), Some(18000));
        assert_eq!(c.after_read(Some((60000, 90))), Some(Coalescing::MAX));
        assert_eq!(c.after_read(Some((9000, 90))), Some(9000));
        assert_eq!(c.after_read(None), Some(1));
        assert!(!c.engaged());
        let mut off = Coalescing::new(false);
        assert_eq!(off.after_read(Some((60000, 90))), None);
    }

    #[test]
    fn holding_waits_for_the_largest_mark_until_a_read_says_otherwise() {
        let mut c = Coalescing::new(true);
        assert_eq!(c.hold(), Some(Coalescing::MAX));
        assert!(c.engaged());
        assert_eq!(c.hold(), None);
        assert_eq!(c.after_read(Some((42, 2))), Some(1));
        assert!(!c.engaged());
        let mut off = Coalescing::new(false);
        assert_eq!(off.hold(), None);
        assert!(!off.engaged());
    }
}
