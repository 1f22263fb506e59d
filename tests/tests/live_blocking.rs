//! The live scenarios (`amqp_tests::scenarios`) run with the blocking
//! adapter, plus what only the blocking API has (timers, thread-safe
//! callbacks).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use amqp_client::blocking::Connection;
use amqp_tests::adapter::Blocking;
use amqp_tests::live::params;
use amqp_tests::scenarios;

#[test]
fn exchanges_declare_bind_unbind_delete() {
    scenarios::exchanges_declare_bind_unbind_delete(&Blocking);
}

#[test]
fn queues_declare_bind_purge_unbind_delete_and_get() {
    scenarios::queues_declare_bind_purge_unbind_delete_and_get(&Blocking);
}

#[test]
fn consume_with_callbacks_ack_from_another_thread_and_cancel() {
    scenarios::consume_with_callbacks_ack_from_another_thread_and_cancel(&Blocking);
}

#[test]
fn consume_iterator_cancel_requeues() {
    scenarios::consume_iterator_cancel_requeues(&Blocking);
}

#[test]
fn broker_cancel_ends_the_consumer_with_a_typed_error() {
    scenarios::broker_cancel_ends_the_consumer_with_a_typed_error(&Blocking);
}

#[test]
fn pipelined_confirms_tx_recover_flow() {
    scenarios::pipelined_confirms_tx_recover_flow(&Blocking);
}

#[test]
fn not_found_and_precondition_failed_close_the_channel_only() {
    scenarios::not_found_and_precondition_failed_close_the_channel_only(&Blocking);
}

#[test]
fn refusals_with_540_not_implemented() {
    scenarios::refusals_with_540_not_implemented(&Blocking);
}

#[test]
fn wrong_password_is_an_authentication_error_not_a_hang() {
    scenarios::wrong_password_is_an_authentication_error_not_a_hang(&Blocking);
}

#[test]
fn amqplain_and_a_mechanism_list() {
    scenarios::amqplain_and_a_mechanism_list(&Blocking);
}

#[test]
fn missing_vhost_is_530() {
    scenarios::missing_vhost_is_530(&Blocking);
}

#[test]
fn endpoints_are_tried_in_order() {
    scenarios::endpoints_are_tried_in_order(&Blocking);
}

#[test]
fn heartbeats_flow_while_a_callback_sleeps() {
    scenarios::heartbeats_flow_while_a_callback_sleeps(&Blocking);
}

#[test]
fn forced_close_reaches_a_blocked_consumer_within_a_second() {
    scenarios::forced_close_reaches_a_blocked_consumer_within_a_second(&Blocking);
}

#[test]
fn a_peer_that_stops_answering_is_detected_within_two_intervals() {
    scenarios::a_peer_that_stops_answering_is_detected_within_two_intervals(&Blocking);
}

#[test]
fn broker_cancel_ends_start_consuming_with_a_typed_error() {
    scenarios::broker_cancel_ends_start_consuming_with_a_typed_error(&Blocking);
}

#[test]
fn timers_and_threadsafe_callbacks_run_on_the_processing_thread() {
    let conn = Connection::open(params()).unwrap();
    let order = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (o1, o2, o3) = (order.clone(), order.clone(), order.clone());
    let main = std::thread::current().id();
    conn.call_later(Duration::from_millis(200), move || {
        o1.lock()
            .unwrap()
            .push(("late", std::thread::current().id()))
    });
    let cancelled = conn.call_later(Duration::from_millis(100), move || {
        o2.lock()
            .unwrap()
            .push(("never", std::thread::current().id()))
    });
    assert!(conn.remove_timeout(cancelled));
    let handle = conn.threadsafe_handle();
    std::thread::spawn(move || {
        handle
            .add_callback(move || {
                o3.lock()
                    .unwrap()
                    .push(("soon", std::thread::current().id()))
            })
            .unwrap()
    })
    .join()
    .unwrap();
    conn.process_data_events(Some(Duration::from_millis(400)))
        .unwrap();
    let got = order.lock().unwrap().clone();
    assert_eq!(got, vec![("soon", main), ("late", main)]);
    conn.close().unwrap();
}
