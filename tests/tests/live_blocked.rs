//! connection.blocked / unblocked from a real memory alarm, with the blocking
//! adapter. In its own test binary, so that no other live test publishes
//! while the broker is blocked; the watermark is always restored.

use amqp_tests::adapter::Blocking;
use amqp_tests::scenarios;

#[test]
fn blocked_unblocked_and_blocked_timeout() {
    scenarios::blocked_unblocked_and_blocked_timeout(&Blocking);
}
