//! The `connection.tune` negotiation rules: `channel-max`, `frame-max` and
//! the heartbeat policy.

use std::fmt;
use std::sync::Arc;

use amqp_protocol::constants::FRAME_MIN_SIZE;

/// Negotiates `channel-max` from the client's wish and the server's proposal
/// (`connection.tune`), as the 0-9-1 specification and RabbitMQ's clients do:
/// 0 means "no limit", so when either side says 0 the other side's value
/// wins; otherwise the lower value wins.
///
/// Both sides 0 gives 0, "no limit": channel numbers then go up to 65535, the
/// largest a frame header can carry (the value to size a channel table with).
///
/// ```
/// use amqp_client::negotiate_channel_max;
/// assert_eq!(negotiate_channel_max(65535, 2047), 2047);
/// assert_eq!(negotiate_channel_max(0, 2047), 2047);
/// assert_eq!(negotiate_channel_max(100, 0), 100);
/// assert_eq!(negotiate_channel_max(0, 0), 0);
/// ```
pub fn negotiate_channel_max(client: u16, server: u16) -> u16 {
    match (client, server) {
        (0, other) | (other, 0) => other,
        (c, s) => c.min(s),
    }
}

/// Negotiates `frame-max` (in bytes, frame header and end octet included)
/// from the client's wish and the server's proposal (`connection.tune`).
///
/// 0 means "no limit", so when either side says 0 the other side's value
/// wins; otherwise the lower value wins. A non-zero result is never below
/// [`FRAME_MIN_SIZE`] (4096), the specification's minimum for `frame-max`:
/// smaller values, from either side, are raised to it. Both sides 0 gives 0,
/// "no limit", which [`amqp_protocol::FrameDecoder`] and
/// [`amqp_protocol::body_frames`] understand as such.
///
/// ```
/// use amqp_client::negotiate_frame_max;
/// assert_eq!(negotiate_frame_max(131_072, 65_536), 65_536);
/// assert_eq!(negotiate_frame_max(0, 131_072), 131_072);
/// assert_eq!(negotiate_frame_max(1_000, 131_072), 4_096);
/// assert_eq!(negotiate_frame_max(0, 0), 0);
/// ```
pub fn negotiate_frame_max(client: u32, server: u32) -> u32 {
    let value = match (client, server) {
        (0, other) | (other, 0) => other,
        (c, s) => c.min(s),
    };
    if value == 0 {
        0
    } else {
        value.max(FRAME_MIN_SIZE)
    }
}

/// The client's heartbeat policy: how to answer the server's proposal in
/// `connection.tune` (Pika's `heartbeat` parameter: `None`, an integer or a
/// callable).
///
/// Heartbeat values are timeouts in seconds; 0 means "no heartbeat". See
/// [`negotiate`](Self::negotiate) for the rules.
#[derive(Clone, Default)]
pub enum Heartbeat {
    /// Accept whatever the server proposes (Pika's `None`, the default).
    #[default]
    ServerDefault,
    /// No heartbeats, whatever the server proposes (Pika's `0`).
    Disabled,
    /// This many seconds, or the server's value when lower. `Seconds(0)`
    /// is [`Disabled`](Self::Disabled).
    Seconds(u16),
    /// A function choosing the value from the server's proposal (Pika's
    /// callable); its result is used as is, 0 disabling heartbeats.
    Negotiate(Arc<dyn Fn(u16) -> u16 + Send + Sync>),
}

impl Heartbeat {
    /// A [`Negotiate`](Self::Negotiate) policy from a function of the server's
    /// proposal.
    ///
    /// ```
    /// use amqp_client::Heartbeat;
    /// let at_least_30 = Heartbeat::from_fn(|server| server.max(30));
    /// assert_eq!(at_least_30.negotiate(10), 30);
    /// ```
    pub fn from_fn(f: impl Fn(u16) -> u16 + Send + Sync + 'static) -> Self {
        Heartbeat::Negotiate(Arc::new(f))
    }

    /// The heartbeat timeout to send in `connection.tune-ok`, in seconds (0:
    /// none), given the server's proposal from `connection.tune` (0: the server
    /// does not want heartbeats).
    ///
    /// | policy | server 0 | server `s` > 0 |
    /// |---|---|---|
    /// | `ServerDefault` | 0 | `s` |
    /// | `Disabled`, `Seconds(0)` | 0 | 0 |
    /// | `Seconds(n)` | `n` | `min(n, s)` |
    /// | `Negotiate(f)` | `f(0)` | `f(s)` |
    ///
    /// A 0 on one side means that side does not ask for heartbeats, so the
    /// other side's non-zero value is used; when both give a value, the lower
    /// one. (Pika always uses its own value when it has one, even above the
    /// server's; the lower value is what the specification's "the client may
    /// reduce those limits" and RabbitMQ's other clients do.)
    pub fn negotiate(&self, server: u16) -> u16 {
        match self {
            Heartbeat::ServerDefault => server,
            Heartbeat::Disabled | Heartbeat::Seconds(0) => 0,
            Heartbeat::Seconds(n) if server == 0 => *n,
            Heartbeat::Seconds(n) => (*n).min(server),
            Heartbeat::Negotiate(f) => f(server),
        }
    }
}

impl fmt::Debug for Heartbeat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Heartbeat::ServerDefault => f.write_str("ServerDefault"),
            Heartbeat::Disabled => f.write_str("Disabled"),
            Heartbeat::Seconds(n) => f.debug_tuple("Seconds").field(n).finish(),
            Heartbeat::Negotiate(_) => f.write_str("Negotiate(<fn>)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_negotiation_table() {
        let cases: &[(Heartbeat, u16, u16)] = &[
            (Heartbeat::ServerDefault, 0, 0),
            (Heartbeat::ServerDefault, 60, 60),
            (Heartbeat::Disabled, 0, 0),
            (Heartbeat::Disabled, 60, 0),
            (Heartbeat::Seconds(0), 0, 0),
            (Heartbeat::Seconds(0), 60, 0),
            (Heartbeat::Seconds(30), 0, 30),
            (Heartbeat::Seconds(30), 60, 30),
            (Heartbeat::Seconds(120), 60, 60),
            (Heartbeat::Seconds(60), 60, 60),
            (Heartbeat::from_fn(|s| s * 2), 30, 60),
            (Heartbeat::from_fn(|_| 0), 30, 0),
            (Heartbeat::from_fn(|s| if s == 0 { 5 } else { s }), 0, 5),
        ];
        for (policy, server, expected) in cases {
            assert_eq!(
                policy.negotiate(*server),
                *expected,
                "{policy:?} with server {server}"
            );
        }
        assert_eq!(format!("{:?}", Heartbeat::Seconds(5)), "Seconds(5)");
        assert_eq!(
            format!("{:?}", Heartbeat::from_fn(|s| s)),
            "Negotiate(<fn>)"
        );
        assert!(matches!(Heartbeat::default(), Heartbeat::ServerDefault));
    }

    #[test]
    fn channel_max_negotiation_table() {
        for (client, server, expected) in [
            (0, 0, 0),
            (0, 2047, 2047),
            (2047, 0, 2047),
            (65535, 2047, 2047),
            (100, 2047, 100),
            (1, 1, 1),
            (65535, 65535, 65535),
        ] {
            assert_eq!(
                negotiate_channel_max(client, server),
                expected,
                "{client} {server}"
            );
        }
    }

    #[test]
    fn frame_max_negotiation_table() {
        assert_eq!(FRAME_MIN_SIZE, 4096);
        for (client, server, expected) in [
            (0, 0, 0),
            (0, 131_072, 131_072),
            (131_072, 0, 131_072),
            (131_072, 65_536, 65_536),
            (8_192, 131_072, 8_192),
            (4_096, 131_072, 4_096),
            (4_095, 131_072, 4_096),
            (1, 0, 4_096),
            (0, 512, 4_096),
            (131_072, 1_000, 4_096),
            (u32::MAX, u32::MAX, u32::MAX),
        ] {
            assert_eq!(
                negotiate_frame_max(client, server),
                expected,
                "{client} {server}"
            );
        }
    }
}
