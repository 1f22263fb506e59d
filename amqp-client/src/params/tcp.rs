//! [`TcpOptions`]: keepalive probes and `TCP_USER_TIMEOUT`, Pika's
//! `tcp_options`.

use std::time::Duration;

/// TCP options for the connection's socket, set once it is connected: the
/// counterpart of Pika's `tcp_options` (`TCP_KEEPIDLE`, `TCP_KEEPINTVL`,
/// `TCP_KEEPCNT`, `TCP_USER_TIMEOUT`).
///
/// Setting any keepalive option turns keepalive (`SO_KEEPALIVE`) on, as
/// Pika does; the others keep the system's defaults. With none set, the
/// socket keeps the system's settings (keepalive off).
///
/// ```
/// use std::time::Duration;
/// use amqp_client::{ConnectionParameters, TcpOptions};
///
/// let options = TcpOptions::new()
///     .with_keepalive_idle(Duration::from_secs(60))
///     .with_keepalive_interval(Duration::from_secs(10))
///     .with_keepalive_count(3)
///     .with_user_timeout(Duration::from_secs(30));
/// let params = ConnectionParameters::new().with_tcp_options(options);
/// assert_eq!(params.tcp_options().keepalive_count(), Some(3));
/// assert!(params.tcp_options().keepalive());
/// ```
///
/// The blocking, tokio and event-loop adapters set them on the sockets they
/// connect; opening a connection with them over a stream the application
/// supplies (the `futures_io` adapter, tokio's `open_stream`) is an
/// [`Error::Misuse`](crate::Error::Misuse), as is a value out of the ranges
/// below. Keepalive times are whole seconds and the user timeout whole
/// milliseconds: a fraction is rounded up.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpOptions {
    pub(super) keepalive_idle: Option<Duration>,
    pub(super) keepalive_interval: Option<Duration>,
    pub(super) keepalive_count: Option<u32>,
    pub(super) user_timeout: Option<Duration>,
}

impl TcpOptions {
    /// The longest keepalive idle time and interval, in seconds (Linux's
    /// limit).
    pub const MAX_KEEPALIVE_SECS: u64 = 32_767;
    /// The most keepalive probes (Linux's limit).
    pub const MAX_KEEPALIVE_COUNT: u32 = 127;
    /// The longest user timeout, in milliseconds.
    pub const MAX_USER_TIMEOUT_MS: u64 = i32::MAX as u64;

    /// No option: the system's settings.
    pub fn new() -> Self {
        TcpOptions::default()
    }

    /// Sets how long the connection stays idle before the first keepalive
    /// probe (`TCP_KEEPIDLE`; 1 s to [`MAX_KEEPALIVE_SECS`](Self::MAX_KEEPALIVE_SECS)).
    pub fn with_keepalive_idle(mut self, idle: Duration) -> Self {
        self.keepalive_idle = Some(idle);
        self
    }

    /// Sets the time between two keepalive probes (`TCP_KEEPINTVL`; 1 s to
    /// [`MAX_KEEPALIVE_SECS`](Self::MAX_KEEPALIVE_SECS)).
    pub fn with_keepalive_interval(mut self, interval: Duration) -> Self {
        self.keepalive_interval = Some(interval);
        self
    }

    /// Sets how many unanswered probes drop the connection (`TCP_KEEPCNT`;
    /// 1 to [`MAX_KEEPALIVE_COUNT`](Self::MAX_KEEPALIVE_COUNT)).
    pub fn with_keepalive_count(mut self, count: u32) -> Self {
        self.keepalive_count = Some(count);
        self
    }

    /// Sets how long sent data may stay unacknowledged before the
    /// connection is dropped (`TCP_USER_TIMEOUT`; Linux only; up to
    /// [`MAX_USER_TIMEOUT_MS`](Self::MAX_USER_TIMEOUT_MS) ms; zero means the
    /// system's default).
    pub fn with_user_timeout(mut self, timeout: Duration) -> Self {
        self.user_timeout = (!timeout.is_zero()).then_some(timeout);
        self
    }

    /// The keepalive idle time (`TCP_KEEPIDLE`).
    pub fn keepalive_idle(&self) -> Option<Duration> {
        self.keepalive_idle
    }

    /// The keepalive probe interval (`TCP_KEEPINTVL`).
    pub fn keepalive_interval(&self) -> Option<Duration> {
        self.keepalive_interval
    }

    /// The number of keepalive probes (`TCP_KEEPCNT`).
    pub fn keepalive_count(&self) -> Option<u32> {
        self.keepalive_count
    }

    /// The user timeout (`TCP_USER_TIMEOUT`).
    pub fn user_timeout(&self) -> Option<Duration> {
        self.user_timeout
    }

    /// Whether keepalive is on: any keepalive option is set.
    pub fn keepalive(&self) -> bool {
        self.keepalive_idle.is_some()
            || self.keepalive_interval.is_some()
            || self.keepalive_count.is_some()
    }

    /// Whether no option is set.
    pub fn is_empty(&self) -> bool {
        *self == TcpOptions::default()
    }

    /// Why these values cannot be set, if they cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        let secs_ok = |d: Option<Duration>| {
            d.is_none_or(|d| (1..=Self::MAX_KEEPALIVE_SECS).contains(&ceil_secs(d)))
        };
        if !secs_ok(self.keepalive_idle) {
            return Err(format!(
                "TCP keepalive idle time {:?}: expected 1 to {} seconds",
                self.keepalive_idle.unwrap_or_default(),
                Self::MAX_KEEPALIVE_SECS
            ));
        }
        if !secs_ok(self.keepalive_interval) {
            return Err(format!(
                "TCP keepalive interval {:?}: expected 1 to {} seconds",
                self.keepalive_interval.unwrap_or_default(),
                Self::MAX_KEEPALIVE_SECS
            ));
        }
        if let Some(n) = self.keepalive_count {
            if !(1..=Self::MAX_KEEPALIVE_COUNT).contains(&n) {
                return Err(format!(
                    "TCP keepalive count {n}: expected 1 to {}",
                    Self::MAX_KEEPALIVE_COUNT
                ));
            }
        }
        if let Some(t) = self.user_timeout {
            if ceil_millis(t) > Self::MAX_USER_TIMEOUT_MS {
                return Err(format!(
                    "TCP user timeout {t:?}: expected at most {} ms",
                    Self::MAX_USER_TIMEOUT_MS
                ));
            }
            if !cfg!(any(target_os = "linux", target_os = "android")) {
                return Err("TCP_USER_TIMEOUT is only available on Linux".into());
            }
        }
        let tunable = cfg!(any(
            target_os = "linux",
            target_os = "android",
            target_os = "macos",
            target_os = "ios",
            target_os = "freebsd",
            target_os = "netbsd"
        ));
        if !tunable && (self.keepalive_interval.is_some() || self.keepalive_count.is_some()) {
            return Err(
                "TCP keepalive's interval and probe count cannot be set on this platform".into(),
            );
        }
        Ok(())
    }
}

/// Whole seconds, a fraction rounded up.
pub(crate) fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Whole milliseconds, a fraction rounded up.
pub(crate) fn ceil_millis(d: Duration) -> u64 {
    let ms = d.as_millis() + u128::from(!d.subsec_nanos().is_multiple_of(1_000_000));
    u64::try_from(ms).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setters_getters_and_keepalive() {
        let o = TcpOptions::new();
        assert!(o.is_empty() && !o.keepalive());
        assert_eq!(o.check(), Ok(()));
        let o = TcpOptions::new().with_keepalive_count(3);
        assert!(o.keepalive() && !o.is_empty());
        let o = TcpOptions::new().with_user_timeout(Duration::from_millis(1500));
        assert!(!o.keepalive() && !o.is_empty());
        assert_eq!(o.user_timeout(), Some(Duration::from_millis(1500)));
        // Zero is the system's default: nothing to set.
        assert!(TcpOptions::new()
            .with_user_timeout(Duration::ZERO)
            .is_empty());
        let o = TcpOptions::new()
            .with_keepalive_idle(Duration::from_secs(60))
            .with_keepalive_interval(Duration::from_secs(10));
        assert_eq!(o.keepalive_idle(), Some(Duration::from_secs(60)));
        assert_eq!(o.keepalive_interval(), Some(Duration::from_secs(10)));
        assert_eq!(o.keepalive_count(), None);
        assert_eq!(o.check(), Ok(()));
    }

    #[test]
    fn out_of_range_values_are_refused_with_the_range() {
        let bad = [
            TcpOptions::new().with_keepalive_idle(Duration::ZERO),
            TcpOptions::new().with_keepalive_idle(Duration::from_secs(32_768)),
            TcpOptions::new().with_keepalive_interval(Duration::from_secs(40_000)),
            TcpOptions::new().with_keepalive_count(0),
            TcpOptions::new().with_keepalive_count(128),
            TcpOptions::new().with_user_timeout(Duration::from_millis(1 << 31)),
        ];
        for o in bad {
            let e = o.check().expect_err("accepted");
            assert!(e.contains("expected"), "{e}");
        }
        // A fraction rounds up, so a short idle time is one second.
        let o = TcpOptions::new().with_keepalive_idle(Duration::from_millis(1));
        assert_eq!(o.check(), Ok(()));
        assert_eq!(ceil_secs(Duration::from_millis(1)), 1);
        assert_eq!(ceil_secs(Duration::from_secs(2)), 2);
        assert_eq!(ceil_millis(Duration::from_micros(1001)), 2);
        assert_eq!(ceil_millis(Duration::from_millis(7)), 7);
    }
}
