//! The tokio adapter ([`amqp_client::tokio`]) for the live scenarios, on a
//! multi-threaded runtime ([`Tokio`]) and on a current-thread runtime
//! ([`TokioCurrentThread`]) that a thread of its own keeps running, as an
//! application's `#[tokio::main(flavor = "current_thread")]` would.

use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use amqp_client::tokio::Connection;
use amqp_client::{ConnectionParameters, Error};
use tokio::runtime::{Builder, Handle, Runtime};

use crate::adapter::{Adapter, Conn};
use crate::adapter_async::{AsyncConn, Exec};

/// Blocks on futures with a handle on a tokio runtime.
#[derive(Debug, Clone)]
pub struct TokioExec(Handle);

impl Exec for TokioExec {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        self.0.block_on(f)
    }
    fn block_on_timeout<F: Future>(&self, d: Duration, f: F) -> Option<F::Output> {
        self.0
            .block_on(async { tokio::time::timeout(d, f).await.ok() })
    }
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Connection, Error> {
        self.0.block_on(Connection::open(endpoints))
    }
}

/// A multi-threaded runtime shared by the tests.
pub fn multi_thread() -> TokioExec {
    static RT: OnceLock<Runtime> = OnceLock::new();
    let rt = RT.get_or_init(|| {
        Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime")
    });
    TokioExec(rt.handle().clone())
}

/// A current-thread runtime, driven by a thread of its own.
pub fn current_thread() -> TokioExec {
    static HANDLE: OnceLock<Handle> = OnceLock::new();
    let handle = HANDLE.get_or_init(|| {
        let rt = Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let handle = rt.handle().clone();
        std::thread::Builder::new()
            .name("tokio-current-thread".into())
            .spawn(move || rt.block_on(std::future::pending::<()>()))
            .expect("a runtime thread");
        handle
    });
    TokioExec(handle.clone())
}

/// The tokio adapter on a multi-threaded runtime.
#[derive(Debug, Clone, Copy)]
pub struct Tokio;

impl Adapter for Tokio {
    fn name(&self) -> &'static str {
        "tokio"
    }
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error> {
        AsyncConn::open(multi_thread(), endpoints)
    }
}

/// The tokio adapter on a current-thread runtime.
#[derive(Debug, Clone, Copy)]
pub struct TokioCurrentThread;

impl Adapter for TokioCurrentThread {
    fn name(&self) -> &'static str {
        "tokio-current-thread"
    }
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error> {
        AsyncConn::open(current_thread(), endpoints)
    }
}
