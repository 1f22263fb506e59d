//! The live scenarios (`amqp_tests::scenarios`) run with the blocking
//! adapter, plus what only the blocking API has (timers, thread-safe
//! callbacks).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use amqp_client::blocking::Connection;
use amqp_tests::adapter::Blocking;
use amqp_tests::live::params;

amqp_tests::live_scenarios!(Blocking);

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
