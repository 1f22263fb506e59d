//! Shared support for the workspace tests.

pub mod adapter;
pub mod adapter_async;
pub mod adapter_event_loop;
pub mod adapter_smol;
pub mod adapter_tokio;
pub mod cluster;
pub mod conform_driver;
pub mod firewall;
pub mod fuzz_checks;
pub mod fuzz_client;
pub mod json;
pub mod live;
pub mod log;
pub mod misbehaving;
pub mod peer;
mod process;
pub mod scenarios;
pub mod scenarios_connection;
pub mod scenarios_recovery;
pub mod tls_node;

/// Defines one `#[test]` per live scenario of [`scenarios`] (all but the
/// memory-alarm one, which runs alone in `live_blocked.rs`), each running
/// with the adapter `$adapter` (an expression of a type that implements
/// [`adapter::Adapter`]). Every adapter's test binary is one invocation, so
/// every adapter runs the same scenarios.
#[macro_export]
macro_rules! live_scenarios {
    ($adapter:expr) => {
        #[test]
        fn exchanges_declare_bind_unbind_delete() {
            $crate::scenarios::exchanges_declare_bind_unbind_delete(&$adapter);
        }

        #[test]
        fn queues_declare_bind_purge_unbind_delete_and_get() {
            $crate::scenarios::queues_declare_bind_purge_unbind_delete_and_get(&$adapter);
        }

        #[test]
        fn consume_with_callbacks_ack_from_another_thread_and_cancel() {
            $crate::scenarios::consume_with_callbacks_ack_from_another_thread_and_cancel(&$adapter);
        }

        #[test]
        fn a_stream_then_single_messages_arrive_promptly() {
            $crate::scenarios::a_stream_then_single_messages_arrive_promptly(&$adapter);
        }

        #[test]
        fn large_messages_stream_in_whole() {
            $crate::scenarios::large_messages_stream_in_whole(&$adapter);
        }

        #[test]
        fn cancel_and_drop_on_a_stream_queue_keep_the_connection() {
            $crate::scenarios::cancel_and_drop_on_a_stream_queue_keep_the_connection(&$adapter);
        }

        #[test]
        fn dropping_a_consumer_cancels_it_and_requeues() {
            $crate::scenarios::dropping_a_consumer_cancels_it_and_requeues(&$adapter);
        }

        #[test]
        fn consume_iterator_cancel_requeues() {
            $crate::scenarios::consume_iterator_cancel_requeues(&$adapter);
        }

        #[test]
        fn broker_cancel_ends_the_consumer_with_a_typed_error() {
            $crate::scenarios::broker_cancel_ends_the_consumer_with_a_typed_error(&$adapter);
        }

        #[test]
        fn pipelined_confirms_tx_recover_flow() {
            $crate::scenarios::pipelined_confirms_tx_recover_flow(&$adapter);
        }

        #[test]
        fn not_found_and_precondition_failed_close_the_channel_only() {
            $crate::scenarios::not_found_and_precondition_failed_close_the_channel_only(&$adapter);
        }

        #[test]
        fn a_stale_handle_never_acts_on_the_channel_that_reused_its_id() {
            $crate::scenarios::a_stale_handle_never_acts_on_the_channel_that_reused_its_id(
                &$adapter,
            );
        }

        #[test]
        fn refusals_with_540_not_implemented() {
            $crate::scenarios::refusals_with_540_not_implemented(&$adapter);
        }

        #[test]
        fn wrong_password_is_an_authentication_error_not_a_hang() {
            $crate::scenarios::wrong_password_is_an_authentication_error_not_a_hang(&$adapter);
        }

        #[test]
        fn amqplain_and_a_mechanism_list() {
            $crate::scenarios::amqplain_and_a_mechanism_list(&$adapter);
        }

        #[test]
        fn missing_vhost_is_530() {
            $crate::scenarios::missing_vhost_is_530(&$adapter);
        }

        #[test]
        fn endpoints_are_tried_in_order() {
            $crate::scenarios::endpoints_are_tried_in_order(&$adapter);
        }

        #[test]
        fn heartbeats_flow_while_a_callback_sleeps() {
            $crate::scenarios::heartbeats_flow_while_a_callback_sleeps(&$adapter);
        }

        #[test]
        fn forced_close_reaches_a_blocked_consumer_within_a_second() {
            $crate::scenarios::forced_close_reaches_a_blocked_consumer_within_a_second(&$adapter);
        }

        #[test]
        fn a_peer_that_stops_answering_is_detected_within_two_intervals() {
            $crate::scenarios::a_peer_that_stops_answering_is_detected_within_two_intervals(
                &$adapter,
            );
        }

        #[test]
        fn broker_cancel_ends_start_consuming_with_a_typed_error() {
            $crate::scenarios::broker_cancel_ends_start_consuming_with_a_typed_error(&$adapter);
        }
    };
}

/// The README's Rust examples, compiled and run as doctests.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
