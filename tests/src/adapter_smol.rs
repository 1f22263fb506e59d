//! The futures-io adapter ([`amqp_client::futures_io`]) on smol, for the
//! live scenarios.

use std::future::Future;
use std::time::{Duration, Instant};

use amqp_client::futures_io::{BoxFuture, Connection, Runtime};
use amqp_client::{ConnectionParameters, Error};

use crate::adapter::{Adapter, Conn};
use crate::adapter_async::{AsyncConn, Exec};

/// smol's networking, global executor and timers as the connection's
/// runtime.
#[derive(Debug, Clone, Copy)]
pub struct SmolRuntime;

impl Runtime for SmolRuntime {
    type Stream = smol::net::TcpStream;

    fn connect(&self, host: &str, port: u16) -> BoxFuture<std::io::Result<Self::Stream>> {
        let host = host.to_owned();
        Box::pin(async move {
            let stream = smol::net::TcpStream::connect((host.as_str(), port)).await?;
            stream.set_nodelay(true)?;
            Ok(stream)
        })
    }

    fn spawn(&self, task: BoxFuture<()>) {
        smol::spawn(task).detach();
    }

    fn sleep_until(&self, deadline: Instant) -> BoxFuture<()> {
        Box::pin(async move {
            smol::Timer::at(deadline).await;
        })
    }

    fn peer_addr(&self, stream: &Self::Stream) -> Option<std::net::SocketAddr> {
        stream.peer_addr().ok()
    }
}

/// Blocks on futures with `smol::block_on`.
#[derive(Debug, Clone, Copy)]
pub struct SmolExec;

impl Exec for SmolExec {
    fn block_on<F: Future>(&self, f: F) -> F::Output {
        smol::block_on(f)
    }
    fn block_on_timeout<F: Future>(&self, d: Duration, f: F) -> Option<F::Output> {
        smol::block_on(smol::future::or(async { Some(f.await) }, async {
            smol::Timer::after(d).await;
            None
        }))
    }
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Connection, Error> {
        smol::block_on(Connection::open_with(SmolRuntime, endpoints))
    }
}

/// The futures-io adapter on smol.
#[derive(Debug, Clone, Copy)]
pub struct Smol;

impl Adapter for Smol {
    fn name(&self) -> &'static str {
        "smol"
    }
    fn open(&self, endpoints: Vec<ConnectionParameters>) -> Result<Box<dyn Conn>, Error> {
        AsyncConn::open(SmolExec, endpoints)
    }
    fn sets_tcp_options(&self) -> bool {
        false
    }
}
