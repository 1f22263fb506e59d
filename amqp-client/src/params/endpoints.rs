//! [`Endpoints`]: several parameter sets, tried in order, and the plan of
//! connection [`Attempt`]s over them.

use std::time::Duration;

use super::connection::ConnectionParameters;

/// An ordered list of [`ConnectionParameters`], tried in turn until one
/// connects, each with its own `connection_attempts` and `retry_delay`.
///
/// [`attempts`](Self::attempts) gives the plan; carrying it out (resolving
/// each host to all of its addresses and trying them, sleeping, timing out)
/// is the I/O adapter's job.
#[derive(Debug, Clone, Default)]
pub struct Endpoints {
    list: Vec<ConnectionParameters>,
}

impl Endpoints {
    /// An empty list (which plans no attempt).
    pub fn new() -> Self {
        Endpoints::default()
    }

    /// Appends an endpoint.
    pub fn push(&mut self, params: ConnectionParameters) {
        self.list.push(params);
    }

    /// Appends an endpoint, builder style.
    pub fn with(mut self, params: ConnectionParameters) -> Self {
        self.list.push(params);
        self
    }

    /// The endpoints, in order.
    pub fn as_slice(&self) -> &[ConnectionParameters] {
        &self.list
    }

    /// The endpoint at `index`.
    pub fn get(&self, index: usize) -> Option<&ConnectionParameters> {
        self.list.get(index)
    }

    /// The endpoints, in order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConnectionParameters> {
        self.list.iter()
    }

    /// Number of endpoints.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The connection plan: for each endpoint in order, `connection_attempts`
    /// attempts, the first right away (after the previous endpoint's last
    /// failure) and each other one after that endpoint's `retry_delay`. The
    /// caller stops at the first success.
    ///
    /// (Pika 1.x's connection workflow, given several parameter sets, instead
    /// repeats the whole list as many times as the *last* set's
    /// `connection_attempts`; here each endpoint keeps its own settings.)
    ///
    /// ```
    /// use std::time::Duration;
    /// use amqp_client::{Attempt, ConnectionParameters, Endpoints};
    ///
    /// let endpoints = Endpoints::new()
    ///     .with(ConnectionParameters::new().with_host("a").with_connection_attempts(2))
    ///     .with(ConnectionParameters::new().with_host("b"));
    /// let plan: Vec<Attempt> = endpoints.attempts().collect();
    /// assert_eq!(plan, [
    ///     Attempt { endpoint: 0, attempt: 1, delay_before: Duration::ZERO },
    ///     Attempt { endpoint: 0, attempt: 2, delay_before: Duration::from_secs(2) },
    ///     Attempt { endpoint: 1, attempt: 1, delay_before: Duration::ZERO },
    /// ]);
    /// ```
    pub fn attempts(&self) -> Attempts<'_> {
        Attempts {
            endpoints: &self.list,
            endpoint: 0,
            attempt: 1,
        }
    }
}

impl From<ConnectionParameters> for Endpoints {
    fn from(params: ConnectionParameters) -> Self {
        Endpoints { list: vec![params] }
    }
}

impl From<Vec<ConnectionParameters>> for Endpoints {
    fn from(list: Vec<ConnectionParameters>) -> Self {
        Endpoints { list }
    }
}

impl FromIterator<ConnectionParameters> for Endpoints {
    fn from_iter<I: IntoIterator<Item = ConnectionParameters>>(iter: I) -> Self {
        Endpoints {
            list: iter.into_iter().collect(),
        }
    }
}

impl<'a> IntoIterator for &'a Endpoints {
    type Item = &'a ConnectionParameters;
    type IntoIter = std::slice::Iter<'a, ConnectionParameters>;
    fn into_iter(self) -> Self::IntoIter {
        self.list.iter()
    }
}

/// One step of a connection plan: see [`Endpoints::attempts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Attempt {
    /// Index of the endpoint in the [`Endpoints`] list.
    pub endpoint: usize,
    /// Which attempt on this endpoint, from 1 to its `connection_attempts`.
    pub attempt: u32,
    /// How long to wait before this attempt: zero for an endpoint's first
    /// attempt, its `retry_delay` for the others.
    pub delay_before: Duration,
}

/// The iterator of [`Endpoints::attempts`].
#[derive(Debug, Clone)]
pub struct Attempts<'a> {
    endpoints: &'a [ConnectionParameters],
    endpoint: usize,
    attempt: u32,
}

impl Iterator for Attempts<'_> {
    type Item = Attempt;

    fn next(&mut self) -> Option<Attempt> {
        loop {
            let params = self.endpoints.get(self.endpoint)?;
            if self.attempt > params.connection_attempts().max(1) {
                self.endpoint += 1;
                self.attempt = 1;
                continue;
            }
            let step = Attempt {
                endpoint: self.endpoint,
                attempt: self.attempt,
                delay_before: if self.attempt == 1 {
                    Duration::ZERO
                } else {
                    params.retry_delay()
                },
            };
            self.attempt += 1;
            return Some(step);
        }
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let total: u64 = self
            .endpoints
            .iter()
            .skip(self.endpoint)
            .map(|p| u64::from(p.connection_attempts().max(1)))
            .sum();
        let done = if self.endpoint < self.endpoints.len() {
            u64::from(self.attempt - 1)
        } else {
            0
        };
        let left = total.saturating_sub(done);
        match usize::try_from(left) {
            Ok(n) => (n, Some(n)),
            Err(_) => (usize::MAX, None),
        }
    }
}

impl std::iter::FusedIterator for Attempts<'_> {}

impl ExactSizeIterator for Attempts<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planner_two_endpoints_three_attempts() {
        let endpoints: Endpoints = [("a", 1), ("b", 3)]
            .into_iter()
            .map(|(host, secs)| {
                ConnectionParameters::new()
                    .with_host(host)
                    .with_connection_attempts(3)
                    .with_retry_delay(Duration::from_secs(secs))
            })
            .collect();
        let attempts = endpoints.attempts();
        assert_eq!(attempts.len(), 6);
        let plan: Vec<(usize, u32, u64)> = attempts
            .map(|a| (a.endpoint, a.attempt, a.delay_before.as_secs()))
            .collect();
        assert_eq!(
            plan,
            [
                (0, 1, 0),
                (0, 2, 1),
                (0, 3, 1),
                (1, 1, 0),
                (1, 2, 3),
                (1, 3, 3)
            ]
        );
        let mut it = endpoints.attempts();
        it.next();
        it.next();
        assert_eq!(it.size_hint(), (4, Some(4)));
        assert_eq!(it.by_ref().count(), 4);
        assert_eq!(it.next(), None);
        assert_eq!(it.size_hint(), (0, Some(0)));
        assert_eq!(Endpoints::new().attempts().next(), None);
        assert_eq!(endpoints.get(1).map(|p| p.host()), Some("b"));
        assert_eq!(endpoints.iter().count(), 2);
    }
}
