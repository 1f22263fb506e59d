//! connection.blocked / unblocked from a real memory alarm, with every
//! adapter in turn. In its own test binary and one test, so that no other
//! live test publishes while the broker is blocked; the watermark is always
//! restored.

use amqp_tests::adapter::{Adapter, Blocking};
use amqp_tests::adapter_event_loop::EventLoop;
use amqp_tests::adapter_smol::Smol;
use amqp_tests::adapter_tokio::{Tokio, TokioCurrentThread};
use amqp_tests::scenarios;

#[test]
fn blocked_unblocked_and_blocked_timeout() {
    let adapters: Vec<&dyn Adapter> =
        vec![&Blocking, &EventLoop, &Tokio, &TokioCurrentThread, &Smol];
    for adapter in adapters {
        scenarios::blocked_unblocked_and_blocked_timeout(adapter);
    }
}
