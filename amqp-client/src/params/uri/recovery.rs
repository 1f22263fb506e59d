//! The URI's recovery parameters (this crate's own; Pika has no automatic
//! recovery): `recovery=false` turns it off, the others set the
//! [`RecoveryPolicy`].
//!
//! | parameter | value | policy field |
//! |---|---|---|
//! | `recovery` | `true` or `false` | on (default) or off |
//! | `recovery_initial_delay` | seconds | [`initial_delay`](RecoveryPolicy::initial_delay) |
//! | `recovery_max_delay` | seconds | [`max_delay`](RecoveryPolicy::max_delay) |
//! | `recovery_attempt_timeout` | seconds | [`attempt_timeout`](RecoveryPolicy::attempt_timeout) |
//! | `recovery_max_attempts` | count, 0 for no limit | [`max_attempts`](RecoveryPolicy::max_attempts) |
//! | `recovery_max_duration` | seconds, 0 for no limit | [`max_duration`](RecoveryPolicy::max_duration) |
//! | `recovery_republish` | `true` or `false` | [`republish`](RecoveryPolicy::republish) |
//! | `recovery_abort_on_refusal` | `true` or `false` | [`abort_on_refusal`](RecoveryPolicy::abort_on_refusal) |
//! | `recovery_publish_buffer` | messages | [`publish_buffer_messages`](RecoveryPolicy::publish_buffer_messages) |
//! | `recovery_publish_buffer_bytes` | bytes | [`publish_buffer_bytes`](RecoveryPolicy::publish_buffer_bytes) |
//! | `recovery_publish_wait` | seconds | [`publish_wait`](RecoveryPolicy::publish_wait) |
//! | `recovery_nack_retry_window` | seconds | [`nack_retry_window`](RecoveryPolicy::nack_retry_window) |
//! | `recovery_nack_retries` | count | [`nack_retries`](RecoveryPolicy::nack_retries) |
//! | `recovery_nack_retry_delay` | seconds | [`nack_retry_delay`](RecoveryPolicy::nack_retry_delay) |

use std::time::Duration;

use super::error::UriError;
use crate::core::RecoveryPolicy;
use crate::params::connection::ConnectionParameters;

/// The recovery parameters' names.
pub(super) const RECOVERY_PARAMETERS: &[&str] = &[
    "recovery",
    "recovery_initial_delay",
    "recovery_max_delay",
    "recovery_attempt_timeout",
    "recovery_max_attempts",
    "recovery_max_duration",
    "recovery_republish",
    "recovery_abort_on_refusal",
    "recovery_publish_buffer",
    "recovery_publish_buffer_bytes",
    "recovery_publish_wait",
    "recovery_nack_retry_window",
    "recovery_nack_retries",
    "recovery_nack_retry_delay",
];

/// Applies recovery parameter `name` (one of [`RECOVERY_PARAMETERS`]).
pub(super) fn apply(p: &mut ConnectionParameters, name: &str, value: &str) -> Result<(), UriError> {
    let invalid = |expected| UriError::InvalidValue {
        name: name.to_owned(),
        value: value.to_owned(),
        expected,
    };
    let boolean = || match value {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid("true or false")),
    };
    let secs = |zero_ok: bool| {
        let s: f64 = value
            .parse()
            .ok()
            .filter(|s: &f64| s.is_finite() && *s >= 0.0)?;
        (zero_ok || s > 0.0).then(|| Duration::from_secs_f64(s))
    };
    let count = || value.parse::<u64>().ok();
    if name == "recovery" {
        if boolean()? {
            p.recovery.get_or_insert_with(RecoveryPolicy::default);
        } else {
            p.recovery = None;
        }
        return Ok(());
    }
    let Some(policy) = p.recovery.as_mut() else {
        return Err(invalid("nothing: recovery=false turns recovery off"));
    };
    match name {
        "recovery_initial_delay" => {
            policy.initial_delay = secs(true).ok_or_else(|| invalid("a number of seconds"))?
        }
        "recovery_max_delay" => {
            policy.max_delay = secs(true).ok_or_else(|| invalid("a number of seconds"))?
        }
        "recovery_attempt_timeout" => {
            policy.attempt_timeout =
                secs(false).ok_or_else(|| invalid("a positive number of seconds"))?
        }
        "recovery_max_attempts" => {
            let n = count()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("a number of attempts, 0 for no limit"))?;
            policy.max_attempts = (n > 0).then_some(n);
        }
        "recovery_max_duration" => {
            let d = secs(true).ok_or_else(|| invalid("a number of seconds, 0 for no limit"))?;
            policy.max_duration = (!d.is_zero()).then_some(d);
        }
        "recovery_republish" => policy.republish = boolean()?,
        "recovery_abort_on_refusal" => policy.abort_on_refusal = boolean()?,
        "recovery_publish_buffer" => {
            policy.publish_buffer_messages = count()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| invalid("a number of messages"))?
        }
        "recovery_publish_buffer_bytes" => {
            policy.publish_buffer_bytes = count()
                .and_then(|n| usize::try_from(n).ok())
                .ok_or_else(|| invalid("a number of bytes"))?
        }
        "recovery_publish_wait" => {
            policy.publish_wait = secs(true).ok_or_else(|| invalid("a number of seconds"))?
        }
        "recovery_nack_retry_window" => {
            policy.nack_retry_window = secs(true).ok_or_else(|| invalid("a number of seconds"))?
        }
        "recovery_nack_retry_delay" => {
            policy.nack_retry_delay = secs(true).ok_or_else(|| invalid("a number of seconds"))?
        }
        "recovery_nack_retries" => {
            policy.nack_retries = count()
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| invalid("a number of retries"))?
        }
        _ => unreachable!("every recovery parameter is handled"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::core::RecoveryPolicy;
    use crate::params::ConnectionParameters;

    fn parse(query: &str) -> ConnectionParameters {
        ConnectionParameters::from_uri(&format!("amqp://h/?{query}")).unwrap()
    }

    /// Every recovery parameter reaches its policy field; `recovery=false`
    /// turns it off, and a recovery parameter after it is refused.
    #[test]
    fn recovery_parameters() {
        assert_eq!(parse("").recovery(), Some(&RecoveryPolicy::default()));
        assert_eq!(parse("recovery=false").recovery(), None);
        let p = parse(
            "recovery_initial_delay=0.5&recovery_max_delay=10&recovery_attempt_timeout=2\
             &recovery_max_attempts=7&recovery_max_duration=60&recovery_republish=false\
             &recovery_abort_on_refusal=true&recovery_publish_buffer=100\
             &recovery_publish_buffer_bytes=4096&recovery_publish_wait=0\
             &recovery_nack_retry_window=5&recovery_nack_retries=2&recovery_nack_retry_delay=0.25",
        );
        let expected = RecoveryPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
            attempt_timeout: Duration::from_secs(2),
            max_attempts: Some(7),
            max_duration: Some(Duration::from_secs(60)),
            republish: false,
            abort_on_refusal: true,
            publish_buffer_messages: 100,
            publish_buffer_bytes: 4096,
            publish_wait: Duration::ZERO,
            nack_retry_window: Duration::from_secs(5),
            nack_retries: 2,
            nack_retry_delay: Duration::from_millis(250),
        };
        assert_eq!(p.recovery(), Some(&expected));
        assert_eq!(
            parse("recovery_max_attempts=0")
                .recovery()
                .unwrap()
                .max_attempts,
            None
        );
        for bad in [
            "recovery=maybe",
            "recovery_attempt_timeout=0",
            "recovery_max_delay=-1",
            "recovery_max_attempts=x",
            "recovery=false&recovery_max_delay=3",
        ] {
            let e = ConnectionParameters::from_uri(&format!("amqp://h/?{bad}")).unwrap_err();
            assert!(e.to_string().contains("recovery"), "{bad}: {e}");
        }
    }
}
