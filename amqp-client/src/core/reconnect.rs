//! [`Reconnecting`]: when and where a lost connection is opened again,
//! written once for every adapter. The first `open` follows the endpoints'
//! own plan ([`Connecting`](super::Connecting)); a connection lost after it
//! opened is reconnected by this one, as RabbitMQ clusters need:
//!
//! - endpoints in turn, starting after the one that was lost (the lost node
//!   is probably down), each that fails moving to the back, so a node that
//!   failed in this recovery is tried again only after the others;
//! - the first attempt at once, then exponential backoff with jitter, so
//!   that many clients do not come back in step;
//! - each attempt bounded by [`RecoveryPolicy::attempt_timeout`] (connect
//!   and handshake), so a frozen node costs seconds, not the stack timeout;
//! - by default no end: it tries until the application closes, unless a
//!   limit on attempts or on time says otherwise; refused credentials end it
//!   at once (another attempt would be refused the same way).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::connect::is_final;
use crate::error::{AttemptFailure, Error};
use crate::params::{ConnectionParameters, Endpoints};

/// How a lost connection is recovered: reconnected, and what was open on
/// it opened again. The defaults:
/// [`DEFAULT_INITIAL_DELAY`](Self::DEFAULT_INITIAL_DELAY) doubling up to
/// [`DEFAULT_MAX_DELAY`](Self::DEFAULT_MAX_DELAY),
/// [`DEFAULT_ATTEMPT_TIMEOUT`](Self::DEFAULT_ATTEMPT_TIMEOUT) per attempt, no
/// limit on attempts or time; unconfirmed publishes published again;
/// refused topology skipped; up to
/// [`DEFAULT_PUBLISH_BUFFER_MESSAGES`](Self::DEFAULT_PUBLISH_BUFFER_MESSAGES)
/// publishes held while recovering; nacks retried within
/// [`DEFAULT_NACK_RETRY_WINDOW`](Self::DEFAULT_NACK_RETRY_WINDOW) of a
/// recovery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPolicy {
    /// The wait before the second attempt; each later one doubles it.
    pub initial_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// The time one attempt may take, TCP connect and handshake together.
    pub attempt_timeout: Duration,
    /// Give up after this many attempts (`None`: never).
    pub max_attempts: Option<u32>,
    /// Give up once this long has passed since the connection was lost
    /// (`None`: never).
    pub max_duration: Option<Duration>,
    /// Publishes still unconfirmed when the connection was lost are
    /// published again on the recovered channel, and their confirmations
    /// resolve from the new ones (true: at-least-once, the default); with
    /// false they fail with [`Error::PublishOutcomeUnknown`].
    pub republish: bool,
    /// A recorded exchange, queue or binding that the broker refuses to
    /// declare again ends the recovery with that error (true), or is
    /// skipped, reported, and the recovery goes on (false, the default).
    pub abort_on_refusal: bool,
    /// Publishes made while the connection is being recovered wait in the
    /// client, up to this many messages ...
    pub publish_buffer_messages: usize,
    /// ... and this many bytes of encoded messages; beyond them a publish
    /// fails with [`Error::Recovering`] ...
    pub publish_buffer_bytes: usize,
    /// ... after a publisher of a blocking or async connection waited this
    /// long for room (zero: at once).
    pub publish_wait: Duration,
    /// A nack that arrives within this long after a recovery (while a
    /// quorum queue elects its new leader, say) publishes the message again
    /// after a backoff, ...
    pub nack_retry_window: Duration,
    /// ... at most this many times, then reports it as
    /// [`Error::Nacked`]. Any other nack reaches the publisher at once.
    pub nack_retries: u32,
    /// The wait before the first of those retries; each later one doubles
    /// it (up to [`max_delay`](Self::max_delay)). Long enough for a quorum
    /// queue to elect its new leader and make it known.
    pub nack_retry_delay: Duration,
}

impl RecoveryPolicy {
    /// 100 ms.
    pub const DEFAULT_INITIAL_DELAY: Duration = Duration::from_millis(100);
    /// 30 s.
    pub const DEFAULT_MAX_DELAY: Duration = Duration::from_secs(30);
    /// 5 s: enough for a handshake with a loaded node, short enough that a
    /// frozen one costs little.
    pub const DEFAULT_ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);
    /// 10,000 messages.
    pub const DEFAULT_PUBLISH_BUFFER_MESSAGES: usize = 10_000;
    /// 64 MiB.
    pub const DEFAULT_PUBLISH_BUFFER_BYTES: usize = 64 * 1024 * 1024;
    /// 30 s.
    pub const DEFAULT_PUBLISH_WAIT: Duration = Duration::from_secs(30);
    /// 30 s.
    pub const DEFAULT_NACK_RETRY_WINDOW: Duration = Duration::from_secs(30);
    /// 5.
    pub const DEFAULT_NACK_RETRIES: u32 = 5;
    /// 1 s.
    pub const DEFAULT_NACK_RETRY_DELAY: Duration = Duration::from_secs(1);
}

impl Default for RecoveryPolicy {
    fn default() -> Self {
        RecoveryPolicy {
            initial_delay: Self::DEFAULT_INITIAL_DELAY,
            max_delay: Self::DEFAULT_MAX_DELAY,
            attempt_timeout: Self::DEFAULT_ATTEMPT_TIMEOUT,
            max_attempts: None,
            max_duration: None,
            republish: true,
            abort_on_refusal: false,
            publish_buffer_messages: Self::DEFAULT_PUBLISH_BUFFER_MESSAGES,
            publish_buffer_bytes: Self::DEFAULT_PUBLISH_BUFFER_BYTES,
            publish_wait: Self::DEFAULT_PUBLISH_WAIT,
            nack_retry_window: Self::DEFAULT_NACK_RETRY_WINDOW,
            nack_retries: Self::DEFAULT_NACK_RETRIES,
            nack_retry_delay: Self::DEFAULT_NACK_RETRY_DELAY,
        }
    }
}

/// One reconnection attempt of [`Reconnecting`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconnectAttempt {
    /// The endpoint to connect to (its index in the endpoints).
    pub endpoint: usize,
    /// When to start it.
    pub at: Instant,
    /// When to give it up (connect and handshake included).
    pub deadline: Instant,
}

/// The reconnection of a lost connection: endpoints in turn from the one
/// after the lost one (each that fails moves to the back), the first
/// attempt at once and then exponential backoff with jitter, each attempt
/// bounded by [`RecoveryPolicy::attempt_timeout`], no end unless a limit of
/// the policy says so; refused credentials end it at once.
///
/// ```
/// use std::time::{Duration, Instant};
/// use amqp_client::core::{Reconnecting, RecoveryPolicy};
/// use amqp_client::{ConnectionParameters, Error};
///
/// let nodes: Vec<_> = ["n1", "n2", "n3"]
///     .into_iter()
///     .map(|h| ConnectionParameters::new().with_host(h))
///     .collect();
/// let now = Instant::now();
/// // Connected to n1 when the connection was lost.
/// let mut r = Reconnecting::new(nodes.into(), 0, RecoveryPolicy::default(), now, 7);
/// let a = r.next_attempt(now).unwrap();
/// assert_eq!((a.endpoint, a.at), (1, now)); // n2, at once
/// r.failed(Error::HeartbeatTimeout, now);
/// let b = r.next_attempt(now).unwrap();
/// assert_eq!(b.endpoint, 2); // then n3, after a short backoff
/// assert!(b.at > now && b.at <= now + Duration::from_millis(100));
/// ```
#[derive(Debug)]
pub struct Reconnecting {
    endpoints: Endpoints,
    policy: RecoveryPolicy,
    /// Endpoints in the order they will be tried.
    order: VecDeque<usize>,
    current: Option<usize>,
    attempts: u32,
    started: Instant,
    failures: Vec<AttemptFailure>,
    /// Set once the recovery gave up: why.
    over: Option<Error>,
    rng: u64,
}

impl Reconnecting {
    /// Starts reconnecting over `endpoints`, the connection to endpoint
    /// `lost` having been lost at `now`; `seed` varies the jitter (any
    /// value; two clients should not share one).
    pub fn new(
        endpoints: Endpoints,
        lost: usize,
        policy: RecoveryPolicy,
        now: Instant,
        seed: u64,
    ) -> Self {
        let n = endpoints.len();
        let order = (1..=n).map(|k| (lost + k) % n.max(1)).collect();
        Reconnecting {
            endpoints,
            policy,
            order,
            current: None,
            attempts: 0,
            started: now,
            failures: Vec::new(),
            over: None,
            rng: seed_state(seed),
        }
    }

    /// The next attempt, or `None` once the recovery gave up (then
    /// [`error`](Self::error) says why).
    pub fn next_attempt(&mut self, now: Instant) -> Option<ReconnectAttempt> {
        if self.over.is_some() {
            return None;
        }
        let out_of_attempts = self.policy.max_attempts.is_some_and(|m| self.attempts >= m);
        let out_of_time = self
            .policy
            .max_duration
            .is_some_and(|d| now.saturating_duration_since(self.started) >= d);
        let Some(endpoint) = self.order.pop_front() else {
            self.give_up(Error::Misuse("no endpoint to reconnect to".into()));
            return None;
        };
        if out_of_attempts || out_of_time {
            self.order.push_front(endpoint);
            let error = self.take_failures();
            self.give_up(error);
            return None;
        }
        let delay = self.delay();
        self.attempts += 1;
        self.current = Some(endpoint);
        let at = now + delay;
        Some(ReconnectAttempt {
            endpoint,
            at,
            deadline: at + self.policy.attempt_timeout,
        })
    }

    /// The endpoint's parameters.
    pub fn endpoint(&self, index: usize) -> Option<&ConnectionParameters> {
        self.endpoints.get(index)
    }

    /// The attempt handed out last failed with `error`: its endpoint goes to
    /// the back of the order. An error that another attempt would not mend
    /// ([`Error::reconnect_may_help`] false: refused credentials, access or
    /// virtual host) ends the recovery.
    pub fn failed(&mut self, error: Error, _now: Instant) {
        let Some(endpoint) = self.current.take() else {
            return;
        };
        self.order.push_back(endpoint);
        let name = self
            .endpoints
            .get(endpoint)
            .map(|p| format!("{}:{}", p.host(), p.port()))
            .unwrap_or_default();
        // Refused credentials, access or virtual host: another attempt
        // would be refused the same way.
        let last = (is_final(&error) || !error.reconnect_may_help()).then(|| error.clone());
        self.failures.push(AttemptFailure {
            endpoint: name,
            error,
        });
        if let Some(e) = last {
            self.give_up(e);
        }
    }

    /// How many attempts were handed out.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// Why the recovery gave up, once it has: the refusal that ended it, the
    /// one failure, or [`Error::AttemptsFailed`] listing every attempt's.
    pub fn error(&self) -> Option<&Error> {
        self.over.as_ref()
    }

    fn give_up(&mut self, error: Error) {
        self.over = Some(error);
        self.current = None;
    }

    fn take_failures(&mut self) -> Error {
        let mut failures = std::mem::take(&mut self.failures);
        match failures.len() {
            0 => Error::Misuse("recovery gave up before any attempt".into()),
            1 => failures.remove(0).error,
            _ => Error::AttemptsFailed(failures),
        }
    }

    /// The wait before the next attempt: none for the first; then the
    /// initial delay doubled per attempt up to the maximum, half of it fixed
    /// and half random ("equal jitter").
    fn delay(&mut self) -> Duration {
        if self.attempts == 0 {
            return Duration::ZERO;
        }
        let doublings = (self.attempts - 1).min(31);
        let base = self
            .policy
            .initial_delay
            .saturating_mul(1 << doublings)
            .min(self.policy.max_delay);
        let half = base / 2;
        let nanos = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
        let jitter = if nanos == 0 {
            0
        } else {
            self.next_random() % (nanos + 1)
        };
        half + Duration::from_nanos(jitter)
    }

    /// xorshift64*: enough to keep clients out of step.
    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// A non-zero xorshift state from any seed (splitmix64's finalizer, so
/// that close seeds give unrelated sequences).
fn seed_state(seed: u64) -> u64 {
    let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    if z == 0 {
        0x2545_F491_4F6C_DD1D
    } else {
        z
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nodes(n: usize) -> Endpoints {
        (1..=n)
            .map(|i| ConnectionParameters::new().with_host(format!("n{i}")))
            .collect::<Vec<_>>()
            .into()
    }

    fn refused() -> Error {
        Error::HeartbeatTimeout
    }

    /// Endpoints from the one after the lost one; each failure moves its
    /// endpoint to the back, so the lost node comes last and a node that
    /// failed is tried again only after the others.
    #[test]
    fn order_starts_after_the_lost_endpoint() {
        let t = Instant::now();
        let mut r = Reconnecting::new(nodes(3), 1, RecoveryPolicy::default(), t, 1);
        let mut tried = Vec::new();
        for _ in 0..6 {
            let a = r.next_attempt(t).unwrap();
            tried.push(a.endpoint);
            r.failed(refused(), t);
        }
        assert_eq!(tried, [2, 0, 1, 2, 0, 1]);
    }

    /// The first attempt at once; then waits that double, half fixed and
    /// half random, capped; each attempt bounded by the attempt timeout.
    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let t = Instant::now();
        let policy = RecoveryPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..Default::default()
        };
        let mut r = Reconnecting::new(nodes(2), 0, policy.clone(), t, 42);
        let mut waits = Vec::new();
        for _ in 0..8 {
            let a = r.next_attempt(t).unwrap();
            assert_eq!(a.deadline, a.at + policy.attempt_timeout);
            waits.push(a.at - t);
            r.failed(refused(), t);
        }
        assert_eq!(waits[0], Duration::ZERO);
        let bases = [100, 200, 400, 800, 1000, 1000, 1000];
        for (w, base) in waits[1..].iter().zip(bases) {
            let base = Duration::from_millis(base);
            assert!(*w >= base / 2 && *w <= base, "{w:?} for a base of {base:?}");
        }
        // Jitter: two seeds do not wait the same.
        let mut other = Reconnecting::new(nodes(2), 0, policy, t, 43);
        let mut other_waits = Vec::new();
        for _ in 0..8 {
            other_waits.push(other.next_attempt(t).unwrap().at - t);
            other.failed(refused(), t);
        }
        assert_ne!(waits, other_waits);
    }

    /// Limits on attempts and on time end the recovery with every
    /// attempt's failure; refused credentials end it at once.
    #[test]
    fn limits_and_refusals_end_it() {
        let t = Instant::now();
        let policy = RecoveryPolicy {
            max_attempts: Some(3),
            ..Default::default()
        };
        let mut r = Reconnecting::new(nodes(2), 0, policy, t, 1);
        for _ in 0..3 {
            r.next_attempt(t).unwrap();
            r.failed(refused(), t);
        }
        assert!(r.next_attempt(t).is_none());
        let Some(Error::AttemptsFailed(f)) = r.error() else {
            panic!("{:?}", r.error())
        };
        let endpoints: Vec<_> = f.iter().map(|f| f.endpoint.as_str()).collect();
        assert_eq!(endpoints, ["n2:5672", "n1:5672", "n2:5672"]);

        let policy = RecoveryPolicy {
            max_duration: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        let mut r = Reconnecting::new(nodes(2), 0, policy, t, 1);
        r.next_attempt(t).unwrap();
        r.failed(refused(), t + Duration::from_secs(1));
        assert!(r.next_attempt(t + Duration::from_secs(2)).is_some());
        r.failed(refused(), t + Duration::from_secs(3));
        assert!(r.next_attempt(t + Duration::from_secs(10)).is_none());
        assert!(matches!(r.error(), Some(Error::AttemptsFailed(f)) if f.len() == 2));

        let mut r = Reconnecting::new(nodes(2), 0, RecoveryPolicy::default(), t, 1);
        r.next_attempt(t).unwrap();
        r.failed(Error::ConnectionClosedByClient, t);
        assert!(r.next_attempt(t).is_none());
        assert!(matches!(r.error(), Some(Error::ConnectionClosedByClient)));
    }
}
