//! Connecting: the endpoints in turn with their attempts and retry delays,
//! every address a host resolves to, non-blocking TCP connects with their
//! timeout, TLS set up once TCP is; and the open failure when nothing is
//! left to try.

use std::io;
use std::net::ToSocketAddrs;
use std::rc::Rc;
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Token};

use super::reactor::EventLoop;
use super::state::{ConnInner, Phase};
use super::transport::Transport;
use crate::core::{Client, Config, Dialing};
use crate::error::Error;
use crate::params::ConnectionParameters;
#[cfg(feature = "tls")]
use crate::tls::TlsLayer;

/// The start of an attempt on an endpoint: its TLS layer (unusable TLS
/// settings fail the attempt before connecting) and its addresses.
pub(super) fn connecting(params: &ConnectionParameters, now: Instant) -> Result<Phase, Error> {
    crate::sys::check_tcp_options(params)?;
    #[cfg(feature = "tls")]
    let tls = if params.tls() {
        Some(Box::new(TlsLayer::new(params)?))
    } else {
        None
    };
    #[cfg(not(feature = "tls"))]
    if params.tls() {
        return Err(Error::Misuse(
            "amqps (TLS) needs the amqp-client feature \"tls\"".into(),
        ));
    }
    let dial = Dialing::new(params);
    let addrs = (params.host(), params.port())
        .to_socket_addrs()
        .map_err(|e| dial.error(e))?;
    Ok(Phase::Connecting {
        addrs: addrs.collect(),
        deadline: now + dial.timeout(),
        dial,
        #[cfg(feature = "tls")]
        tls,
    })
}

impl ConnInner {
    /// The connection is over for good: leave the loop.
    pub(super) fn finish(&self, lp: &EventLoop) {
        self.st.borrow_mut().phase = Phase::Done;
        lp.unregister_connection(self.id.0);
    }

    /// Plans the next attempt, or reports the open failure when none is
    /// left (or the failure is one that would repeat).
    pub(super) fn next_attempt(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        if self.st.borrow().reconnecting.is_some() {
            return self.reconnect_failed(lp, now);
        }
        let failed = {
            let mut st = self.st.borrow_mut();
            if let Some(e) = st.last_error.take() {
                st.connecting.failed(e);
            }
            match st.connecting.next_attempt().map(|(_, delay)| delay) {
                Some(delay) => {
                    st.phase = Phase::Waiting { at: now + delay };
                    None
                }
                None => {
                    st.phase = Phase::Done;
                    if let Some(mut t) = st.transport.take() {
                        let _ = lp.registry().deregister(t.stream_mut());
                    }
                    let error = st.connecting.take_error();
                    st.open_failed = Some(error.clone());
                    Some(error)
                }
            }
        };
        if let Some(error) = failed {
            let mut callbacks = self.take_callbacks();
            let on_open_error = callbacks.on_open_error.take();
            drop(callbacks);
            self.finish(lp);
            match on_open_error {
                Some(f) => f(error),
                None => tracing::warn!(error = %error, "connection failed to open"),
            }
        }
    }

    /// Starts the current attempt: TLS settings, name resolution, then the
    /// first connect (the plan's first attempt, or the next one, when none
    /// was handed out yet).
    pub(super) fn begin_attempt(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        if self.st.borrow().reconnecting.is_some() {
            return self.begin_reconnect(lp, now);
        }
        let resolved = {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            let params = match st.connecting.current() {
                Some(params) if !st.connecting.is_over() => params,
                _ => {
                    drop(guard);
                    return self.next_attempt(lp, now);
                }
            };
            match connecting(params, now) {
                Ok(phase) => {
                    st.phase = phase;
                    true
                }
                Err(e) => {
                    st.last_error = Some(e);
                    false
                }
            }
        };
        if resolved {
            self.connect_next(lp, now);
        } else {
            self.next_attempt(lp, now);
        }
    }

    /// Starts a non-blocking connect to the next address of the endpoint;
    /// with none left, the attempt failed.
    pub(super) fn connect_next(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let exhausted = loop {
            let mut guard = self.st.borrow_mut();
            let st = &mut *guard;
            let tcp_options = st
                .attempt_params()
                .map(|p| *p.tcp_options())
                .unwrap_or_default();
            let attempt_deadline = st.reconnecting.as_ref().map(|(a, _)| a.deadline);
            let Phase::Connecting {
                addrs,
                deadline,
                dial,
                ..
            } = &mut st.phase
            else {
                return;
            };
            let Some(addr) = addrs.pop_front() else {
                st.last_error = Some(dial.take_error());
                break true;
            };
            let timeout = dial.timeout();
            let interest = Interest::READABLE | Interest::WRITABLE;
            // Set while the connect is under way: the kernel keeps them.
            let registered = TcpStream::connect(addr).and_then(|mut stream| {
                let applied =
                    crate::sys::apply_tcp_options(socket2::SockRef::from(&stream), &tcp_options)?;
                lp.registry()
                    .register(&mut stream, Token(self.id.0), interest)
                    .map(|()| (stream, applied))
            });
            match registered {
                Ok((stream, applied)) => {
                    *deadline = attempt_deadline.map_or(now + timeout, |d| d.min(now + timeout));
                    st.transport = Some(Transport::new(stream, interest));
                    st.socket_tcp_options = applied;
                    break false;
                }
                Err(e) => dial.failed(e),
            }
        };
        if exhausted {
            self.next_attempt(lp, now);
        }
    }

    /// The connect to the current address failed: try the next one.
    pub(super) fn address_failed(self: &Rc<Self>, lp: &EventLoop, error: io::Error, now: Instant) {
        {
            let mut st = self.st.borrow_mut();
            if let Some(mut t) = st.transport.take() {
                let _ = lp.registry().deregister(t.stream_mut());
            }
            if let Phase::Connecting { dial, .. } = &mut st.phase {
                dial.failed(error);
            }
        }
        self.connect_next(lp, now);
    }

    /// Readiness during a connect: connected, failed, or not yet.
    pub(super) fn check_connect(self: &Rc<Self>, lp: &EventLoop, now: Instant) {
        let outcome = {
            let st = self.st.borrow();
            let Some(t) = st.transport.as_ref() else {
                return;
            };
            match t.stream().take_error() {
                Ok(Some(e)) | Err(e) => Err(e),
                Ok(None) => match t.stream().peer_addr() {
                    Ok(_) => Ok(true),
                    Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
                    Err(e) => Err(e),
                },
            }
        };
        match outcome {
            Ok(false) => {}
            Ok(true) => self.connected(now),
            Err(e) => self.address_failed(lp, e, now),
        }
    }

    /// TCP is up: start TLS (the ClientHello is the first output) and the
    /// core (its protocol header follows, encrypted once TLS is up).
    fn connected(&self, now: Instant) {
        let mut guard = self.st.borrow_mut();
        let st = &mut *guard;
        let Phase::Connecting { .. } = st.phase else {
            return;
        };
        let Some(params) = st.attempt_params() else {
            return;
        };
        let nodelay = params.tcp_nodelay();
        let mut config = Config::from_params(params);
        config.peer_address = st
            .transport
            .as_ref()
            .and_then(|t| t.stream().peer_addr().ok());
        let peer = config.peer_address;
        tracing::debug!(host = params.host(), port = params.port(), "connected");
        let recovering = st.reconnecting.take().is_some();
        #[cfg_attr(not(feature = "tls"), allow(unused_variables))]
        let phase = std::mem::replace(&mut st.phase, Phase::Connected);
        if let Some(t) = st.transport.as_mut() {
            // A refused option is not a reason to drop the connection.
            let _ = t.stream().set_nodelay(nodelay);
            #[cfg(feature = "tls")]
            if let Phase::Connecting { tls: Some(tls), .. } = phase {
                t.start_tls(*tls);
            }
        }
        if recovering {
            if let Some(core) = st.core.as_mut() {
                core.reconnected(peer, now);
            }
        } else {
            let mut core = Client::new(config, now);
            if let Some(index) = st.connecting.current_index() {
                core.set_endpoints(st.connecting.endpoints().clone(), index);
            }
            st.core = Some(core);
        }
        st.more_input = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unusable_tls_fails_the_attempt_before_connecting() {
        let params = ConnectionParameters::new().with_tls_options(
            crate::params::TlsOptions::new().with_cacertfile("/nonexistent/ca.pem"),
        );
        let e = match connecting(&params, Instant::now()) {
            Err(e) => e,
            Ok(_) => panic!("an attempt with an unusable TLS setting started"),
        };
        #[cfg(feature = "tls")]
        assert_eq!(
            e.tls_failure(),
            Some(crate::error::TlsFailure::Config),
            "{e:?}"
        );
        #[cfg(not(feature = "tls"))]
        assert!(
            matches!(&e, Error::Misuse(m) if m.contains("feature \"tls\"")),
            "{e:?}"
        );
    }

    #[test]
    fn plain_attempts_resolve_their_addresses() {
        let params = ConnectionParameters::new().with_host("127.0.0.1");
        match connecting(&params, Instant::now()) {
            Ok(Phase::Connecting { addrs, .. }) => {
                assert_eq!(addrs.len(), 1);
            }
            _ => panic!("no connect planned"),
        }
    }
}
