//! [`Connecting`]: the plan of connection attempts over a list of endpoints
//! and when to give up, written once for every adapter.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{AttemptFailure, Error};
use crate::params::{Attempt, ConnectionParameters, Endpoints};

/// Walks [`Endpoints::attempts`]: each endpoint in turn, with its own
/// number of attempts and retry delay. Refused credentials end the plan at
/// once (another attempt would be refused the same way, and may lock the
/// account), as does the application closing the connection while it
/// connects; every other failure moves on to the next attempt. An endpoint
/// asking for TLS is skipped when the crate was built without the `tls`
/// feature.
///
/// When the plan ends, [`into_error`](Self::into_error) gives the one
/// failure as it is, or, after several, [`Error::AttemptsFailed`] with each
/// attempt's endpoint and error.
///
/// ```
/// use std::time::Duration;
/// use amqp_client::core::Connecting;
/// use amqp_client::{ConnectionParameters, Error};
///
/// let a = ConnectionParameters::new().with_host("a").with_connection_attempts(2);
/// let b = ConnectionParameters::new().with_host("b");
/// let mut plan = Connecting::new(vec![a, b].into());
/// let (params, delay) = plan.next_attempt().unwrap();
/// assert_eq!((params.host(), delay), ("a", Duration::ZERO));
/// plan.failed(Error::Misuse("refused".into()));
/// assert_eq!(plan.next_attempt().unwrap().0.host(), "a");
/// plan.failed(Error::Misuse("refused".into()));
/// assert_eq!(plan.next_attempt().unwrap().0.host(), "b");
/// plan.failed(Error::Misuse("refused".into()));
/// assert!(plan.next_attempt().is_none());
/// let Error::AttemptsFailed(failures) = plan.into_error() else { panic!() };
/// let endpoints: Vec<_> = failures.iter().map(|f| f.endpoint.as_str()).collect();
/// assert_eq!(endpoints, ["a:5672", "a:5672", "b:5672"]);
/// ```
#[derive(Debug)]
pub struct Connecting {
    endpoints: Endpoints,
    plan: Vec<Attempt>,
    next: usize,
    /// The endpoint of the attempt last handed out.
    current: Option<usize>,
    /// Every failure so far, with its endpoint.
    failures: Vec<AttemptFailure>,
    done: bool,
}

impl Connecting {
    /// The plan for `endpoints`.
    pub fn new(endpoints: Endpoints) -> Self {
        let plan = endpoints.attempts().collect();
        Connecting {
            endpoints,
            plan,
            next: 0,
            current: None,
            failures: Vec::new(),
            done: false,
        }
    }

    /// The next attempt: the parameters to connect with and how long to
    /// wait first; `None` once the plan is over (then
    /// [`into_error`](Self::into_error) says why).
    pub fn next_attempt(&mut self) -> Option<(&ConnectionParameters, Duration)> {
        while !self.done {
            let Some(attempt) = self.plan.get(self.next).copied() else {
                self.done = true;
                break;
            };
            self.next += 1;
            let Some(tls) = self.endpoints.get(attempt.endpoint).map(|p| p.tls()) else {
                continue;
            };
            if tls && !cfg!(feature = "tls") {
                // Not worth a TCP connection.
                let error =
                    Error::Misuse("amqps (TLS) needs the amqp-client feature \"tls\"".into());
                self.record(attempt.endpoint, error);
                continue;
            }
            self.current = Some(attempt.endpoint);
            let params = self.endpoints.get(attempt.endpoint)?;
            return Some((params, attempt.delay_before));
        }
        None
    }

    /// The index among the endpoints of the attempt
    /// [`next_attempt`](Self::next_attempt) handed out last.
    pub fn current_index(&self) -> Option<usize> {
        self.current
    }

    /// The endpoints planned over.
    pub fn endpoints(&self) -> &Endpoints {
        &self.endpoints
    }

    /// The parameters of the attempt [`next_attempt`](Self::next_attempt)
    /// handed out last.
    pub fn current(&self) -> Option<&ConnectionParameters> {
        self.endpoints.get(self.current?)
    }

    /// The last attempt failed with `error` (ignored once the plan is
    /// over: the error that ended it stands).
    pub fn failed(&mut self, error: Error) {
        if self.done {
            return;
        }
        if is_final(&error) {
            self.done = true;
        }
        match self.current {
            Some(endpoint) => self.record(endpoint, error),
            // A failure before any attempt: not an endpoint's.
            None => self.failures.push(AttemptFailure {
                endpoint: String::new(),
                error,
            }),
        }
    }

    fn record(&mut self, endpoint: usize, error: Error) {
        let endpoint = self
            .endpoints
            .get(endpoint)
            .map(|p| format!("{}:{}", p.host(), p.port()))
            .unwrap_or_default();
        self.failures.push(AttemptFailure { endpoint, error });
    }

    /// Whether the plan is over: a failure ended it, or
    /// [`next_attempt`](Self::next_attempt) found none left.
    pub fn is_over(&self) -> bool {
        self.done
    }

    /// Why the plan ended without a connection: its one failure, or
    /// [`Error::AttemptsFailed`] listing them all when there were several.
    pub fn into_error(mut self) -> Error {
        self.take_error()
    }

    /// [`into_error`](Self::into_error) for a plan kept in place.
    pub fn take_error(&mut self) -> Error {
        let mut failures = std::mem::take(&mut self.failures);
        match failures.len() {
            0 => Error::Misuse("no endpoint to connect to".into()),
            1 => failures.remove(0).error,
            _ => Error::AttemptsFailed(failures),
        }
    }
}

/// Failures that trying again, or elsewhere, would not mend (or that the
/// application asked for: it closed the connection while it connected).
pub(super) fn is_final(error: &Error) -> bool {
    matches!(
        error,
        Error::AuthenticationRefused(_)
            | Error::MechanismNotOffered { .. }
            | Error::ConnectionClosedByClient
    )
}

/// Time allowed for one TCP connect when the parameters set none.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connecting to one endpoint: its addresses tried in turn, each within the
/// connect timeout, and the error that says which endpoint failed and why
/// (the last address's failure, or a name that resolves to no address).
///
/// ```
/// use std::io;
/// use amqp_client::core::Dialing;
/// use amqp_client::{ConnectionParameters, Error};
///
/// let params = ConnectionParameters::new().with_host("rabbit.example");
/// let mut dial = Dialing::new(&params);
/// dial.failed(io::Error::from(io::ErrorKind::ConnectionRefused));
/// let Error::ConnectFailed { endpoint, source } = dial.into_error() else { panic!() };
/// assert_eq!(endpoint, "rabbit.example:5672");
/// assert_eq!(source.kind(), io::ErrorKind::ConnectionRefused);
/// ```
#[derive(Debug)]
pub struct Dialing {
    endpoint: String,
    timeout: Duration,
    last: Option<std::io::Error>,
}

impl Dialing {
    /// Connecting to the endpoint of `params`.
    pub fn new(params: &ConnectionParameters) -> Self {
        Dialing {
            endpoint: format!("{}:{}", params.host(), params.port()),
            timeout: params.socket_timeout().unwrap_or(CONNECT_TIMEOUT),
            last: None,
        }
    }

    /// The time allowed for one address's TCP connect.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// An address failed (or its connect timed out).
    pub fn failed(&mut self, error: std::io::Error) {
        self.last = Some(error);
    }

    /// The error for a failure that ends the endpoint at once (the name did
    /// not resolve).
    pub fn error(&self, source: std::io::Error) -> Error {
        Error::ConnectFailed {
            endpoint: self.endpoint.clone(),
            source: Arc::new(source),
        }
    }

    /// No address connected: the last one's failure, or that the name
    /// resolved to none.
    pub fn into_error(mut self) -> Error {
        self.take_error()
    }

    /// [`into_error`](Self::into_error) for a `Dialing` kept in place.
    pub fn take_error(&mut self) -> Error {
        let source = self.last.take().unwrap_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                "the name resolves to no address",
            )
        });
        Error::ConnectFailed {
            endpoint: self.endpoint.clone(),
            source: Arc::new(source),
        }
    }
}
