//! Who holds the server's connections, so that slow or idle clients cannot starve a scrape.
//!
//! Every accepted connection asks [`Connections::admit`] for a place, naming its peer:
//! - a peer already holding [`ConnectionLimits::per_peer`] connections is refused at once, so one
//!   host cannot take the server's places however many connections it opens;
//! - when the server holds [`ConnectionLimits::max`] connections, the idle one (no request in
//!   progress: a TLS handshake, request headers still arriving, a keep-alive wait) of the peer
//!   holding the most connections, the longest idle among them, is closed to make room; only
//!   when every connection is serving a request is the new one refused.
//!
//! Peers are told apart by IP address, an IPv4-mapped IPv6 address as its IPv4 one, and IPv6
//! addresses by their /64 prefix (what one host is usually given). The server closes a
//! connection whose request headers (or TLS handshake) take longer than
//! [`ConnectionLimits::header_timeout`], and counts every refusal and closing by its
//! [`Refusal`] reason.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// How many connections the server holds, per peer and in all, and how long a client may take
/// to send its request headers (and to finish a TLS handshake).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    pub max: usize,
    pub per_peer: usize,
    pub header_timeout: Duration,
}

impl ConnectionLimits {
    /// `--web.max-connections`.
    pub const DEFAULT_MAX: usize = 256;
    /// `--web.max-connections-per-peer`.
    pub const DEFAULT_PER_PEER: usize = 32;
    /// `--web.header-timeout`: well under Prometheus' default scrape timeout (10 s), so that a
    /// connection that sends nothing frees its place long before a scrape would give up.
    pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(5);
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max: Self::DEFAULT_MAX,
            per_peer: Self::DEFAULT_PER_PEER,
            header_timeout: Self::DEFAULT_HEADER_TIMEOUT,
        }
    }
}

/// Why a connection was refused, or closed before it made a request: the `reason` label of
/// `okta_exporter_http_connections_refused_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Its peer already held the most connections one peer may hold.
    PeerLimit,
    /// The server held the most connections it holds, each serving a request.
    ServerLimit,
    /// It was idle and closed to make room for a new connection.
    Shed,
    /// Its request headers took longer than the header timeout.
    HeaderTimeout,
    /// Its TLS handshake took longer than the header timeout.
    HandshakeTimeout,
}

impl Refusal {
    pub const ALL: [Refusal; 5] = [
        Refusal::PeerLimit,
        Refusal::ServerLimit,
        Refusal::Shed,
        Refusal::HeaderTimeout,
        Refusal::HandshakeTimeout,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::PeerLimit => "peer_limit",
            Refusal::ServerLimit => "server_limit",
            Refusal::Shed => "shed_idle",
            Refusal::HeaderTimeout => "header_timeout",
            Refusal::HandshakeTimeout => "tls_handshake_timeout",
        }
    }
}

/// The server's connections: who holds them, and what was refused.
pub struct Connections {
    limits: ConnectionLimits,
    state: Mutex<State>,
    refused: [AtomicU64; Refusal::ALL.len()],
}

#[derive(Default)]
struct State {
    next_id: u64,
    held: HashMap<u64, Held>,
    per_peer: HashMap<IpAddr, usize>,
}

struct Held {
    peer: IpAddr,
    /// Requests in progress.
    open: usize,
    /// Since when no request is in progress (when `open` is 0).
    idle_since: Instant,
    /// Told when the connection is to close to make room.
    shed: Arc<Notify>,
}

impl State {
    fn release(&mut self, id: u64) -> bool {
        let Some(held) = self.held.remove(&id) else {
            return false;
        };
        if let Some(count) = self.per_peer.get_mut(&held.peer) {
            *count -= 1;
            if *count == 0 {
                self.per_peer.remove(&held.peer);
            }
        }
        true
    }

    /// The connection to close for a new one: an idle one, of the peer holding the most
    /// connections, the longest idle of those.
    fn victim(&self) -> Option<u64> {
        self.held
            .iter()
            .filter(|(_, h)| h.open == 0)
            .max_by_key(|(id, h)| {
                let peer = self.per_peer.get(&h.peer).copied().unwrap_or(0);
                (
                    peer,
                    std::cmp::Reverse(h.idle_since),
                    std::cmp::Reverse(**id),
                )
            })
            .map(|(id, _)| *id)
    }
}

/// How many connections are idle and how many serve a request, at one instant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnectionCounts {
    pub idle: usize,
    pub active: usize,
}

impl Connections {
    pub fn new(limits: ConnectionLimits) -> Arc<Connections> {
        Arc::new(Connections {
            limits: ConnectionLimits {
                max: limits.max.max(1),
                per_peer: limits.per_peer.max(1),
                ..limits
            },
            state: Mutex::default(),
            refused: Default::default(),
        })
    }

    pub fn limits(&self) -> ConnectionLimits {
        self.limits
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A place for a new connection from `peer`, or why there is none (counted). When the
    /// server is full, an idle connection is told to close ([`Connection::shed`]) and its place
    /// is given to this one at once.
    pub fn admit(self: &Arc<Self>, peer: IpAddr) -> Result<Connection, Refusal> {
        let peer = peer_key(peer);
        let mut state = self.lock();
        if state.per_peer.get(&peer).copied().unwrap_or(0) >= self.limits.per_peer {
            drop(state);
            self.count(Refusal::PeerLimit);
            return Err(Refusal::PeerLimit);
        }
        if state.held.len() >= self.limits.max {
            let Some(victim) = state.victim() else {
                drop(state);
                self.count(Refusal::ServerLimit);
                return Err(Refusal::ServerLimit);
            };
            if let Some(held) = state.held.get(&victim) {
                held.shed.notify_one();
            }
            state.release(victim);
            self.count(Refusal::Shed);
        }
        let id = state.next_id;
        state.next_id += 1;
        let shed = Arc::new(Notify::new());
        state.held.insert(
            id,
            Held {
                peer,
                open: 0,
                idle_since: Instant::now(),
                shed: Arc::clone(&shed),
            },
        );
        *state.per_peer.entry(peer).or_default() += 1;
        Ok(Connection {
            id,
            shed,
            connections: Arc::clone(self),
        })
    }

    /// Counts a connection refused or closed for `reason`.
    pub fn count(&self, reason: Refusal) {
        let index = Refusal::ALL.iter().position(|r| *r == reason).unwrap_or(0);
        self.refused[index].fetch_add(1, Ordering::Relaxed);
    }

    /// Connections refused or closed, per reason, since the start.
    pub fn refused(&self) -> [(Refusal, u64); Refusal::ALL.len()] {
        Refusal::ALL.map(|reason| {
            let index = Refusal::ALL.iter().position(|r| *r == reason).unwrap_or(0);
            (reason, self.refused[index].load(Ordering::Relaxed))
        })
    }

    /// The connections held now.
    pub fn counts(&self) -> ConnectionCounts {
        let state = self.lock();
        let active = state.held.values().filter(|h| h.open > 0).count();
        ConnectionCounts {
            idle: state.held.len() - active,
            active,
        }
    }
}

/// What tells peers apart: the IP address, IPv4 for an IPv4-mapped one, an IPv6 address's /64.
pub fn peer_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => {
            let prefix = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(Ipv6Addr::from(prefix))
        }
    }
}

/// A connection's place; given back when dropped.
pub struct Connection {
    id: u64,
    shed: Arc<Notify>,
    connections: Arc<Connections>,
}

impl Connection {
    /// Completes when the server closes this connection to make room for another.
    pub async fn shed(&self) {
        self.shed.notified().await
    }

    /// Counts a request as in progress (the connection is not idle) until the guard is dropped.
    pub fn start_request(&self) -> RequestOpen {
        let mut state = self.connections.lock();
        if let Some(held) = state.held.get_mut(&self.id) {
            held.open += 1;
        }
        RequestOpen {
            id: self.id,
            connections: Arc::clone(&self.connections),
        }
    }

    /// When the connection will have gone `timeout` without a request in progress, if nothing
    /// happens meanwhile.
    pub fn idle_deadline(&self, timeout: Duration) -> Instant {
        let state = self.connections.lock();
        match state.held.get(&self.id) {
            Some(held) if held.open == 0 => held.idle_since + timeout,
            _ => Instant::now() + timeout,
        }
    }

    /// Whether no request was in progress for `timeout`.
    pub fn idle_for(&self, timeout: Duration) -> bool {
        let state = self.connections.lock();
        state
            .held
            .get(&self.id)
            .is_none_or(|held| held.open == 0 && held.idle_since.elapsed() >= timeout)
    }

    /// Counts this connection as refused or closed for `reason`.
    pub fn count(&self, reason: Refusal) {
        self.connections.count(reason)
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.connections.lock().release(self.id);
    }
}

/// A request in progress on a [`Connection`].
pub struct RequestOpen {
    id: u64,
    connections: Arc<Connections>,
}

impl Drop for RequestOpen {
    fn drop(&mut self) {
        let mut state = self.connections.lock();
        if let Some(held) = state.held.get_mut(&self.id) {
            held.open -= 1;
            if held.open == 0 {
                held.idle_since = Instant::now();
            }
        }
    }
}

/// The connection metrics, read from [`Connections`] at each scrape:
/// `okta_exporter_http_connections{state}`, `okta_exporter_http_connections_max` and
/// `okta_exporter_http_connections_refused_total{reason}`.
pub struct ConnectionMetrics {
    connections: Arc<Connections>,
    held: prometheus::IntGaugeVec,
    max: prometheus::IntGauge,
    refused: prometheus::IntCounterVec,
    /// One scrape at a time brings the counters up to date.
    collecting: Mutex<()>,
}

impl ConnectionMetrics {
    pub fn new(connections: Arc<Connections>) -> prometheus::Result<ConnectionMetrics> {
        use prometheus::Opts;
        let held = prometheus::IntGaugeVec::new(
            Opts::new(
                "okta_exporter_http_connections",
                "Connections the exporter's HTTP server holds: active ones serve a request, idle \
                 ones do not (a TLS handshake, request headers on their way, a keep-alive wait).",
            ),
            &["state"],
        )?;
        let max = prometheus::IntGauge::new(
            "okta_exporter_http_connections_max",
            "The most connections the HTTP server holds at once (--web.max-connections).",
        )?;
        let refused = prometheus::IntCounterVec::new(
            Opts::new(
                "okta_exporter_http_connections_refused_total",
                "Connections the HTTP server refused, or closed before they made a request, by \
                 reason: peer_limit (the peer held --web.max-connections-per-peer), server_limit \
                 (every place served a request), shed_idle (closed to make room), header_timeout \
                 and tls_handshake_timeout (slower than --web.header-timeout).",
            ),
            &["reason"],
        )?;
        for state in ["active", "idle"] {
            held.with_label_values(&[state]);
        }
        for reason in Refusal::ALL {
            refused.with_label_values(&[reason.as_str()]);
        }
        max.set(i64::try_from(connections.limits().max).unwrap_or(i64::MAX));
        Ok(ConnectionMetrics {
            connections,
            held,
            max,
            refused,
            collecting: Mutex::new(()),
        })
    }
}

impl prometheus::core::Collector for ConnectionMetrics {
    fn desc(&self) -> Vec<&prometheus::core::Desc> {
        let mut descs = self.held.desc();
        descs.extend(self.max.desc());
        descs.extend(self.refused.desc());
        descs
    }

    fn collect(&self) -> Vec<prometheus::proto::MetricFamily> {
        let _one = self.collecting.lock().unwrap_or_else(|e| e.into_inner());
        let counts = self.connections.counts();
        let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
        self.held
            .with_label_values(&["active"])
            .set(gauge(counts.active));
        self.held
            .with_label_values(&["idle"])
            .set(gauge(counts.idle));
        for (reason, total) in self.connections.refused() {
            let counter = self.refused.with_label_values(&[reason.as_str()]);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
        let mut families = self.held.collect();
        families.extend(self.max.collect());
        families.extend(self.refused.collect());
        families
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn limits(max: usize, per_peer: usize) -> ConnectionLimits {
        ConnectionLimits {
            max,
            per_peer,
            ..ConnectionLimits::default()
        }
    }

    fn refused(connections: &Connections, reason: Refusal) -> u64 {
        connections
            .refused()
            .iter()
            .find(|(r, _)| *r == reason)
            .unwrap()
            .1
    }

    #[test]
    fn one_peer_gets_no_more_than_its_share_and_others_still_get_in() {
        let connections = Connections::new(limits(10, 3));
        let held: Vec<_> = (0..3)
            .map(|_| connections.admit(ip("127.0.0.2")).unwrap())
            .collect();
        assert_eq!(
            connections.admit(ip("127.0.0.2")).err(),
            Some(Refusal::PeerLimit)
        );
        assert_eq!(
            connections.admit(ip("::ffff:127.0.0.2")).err(),
            Some(Refusal::PeerLimit),
            "an IPv4-mapped address is the same peer"
        );
        assert!(connections.admit(ip("127.0.0.1")).is_ok());
        assert_eq!(refused(&connections, Refusal::PeerLimit), 2);
        drop(held);
        assert!(
            connections.admit(ip("127.0.0.2")).is_ok(),
            "places are given back"
        );
    }

    #[test]
    fn ipv6_peers_are_told_apart_by_their_64_prefix() {
        assert_eq!(
            peer_key(ip("2001:db8::1")),
            peer_key(ip("2001:db8::ffff:1"))
        );
        assert_ne!(peer_key(ip("2001:db8::1")), peer_key(ip("2001:db8:0:1::1")));
        assert_eq!(peer_key(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_ne!(peer_key(ip("127.0.0.1")), peer_key(ip("127.0.0.2")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_server_closes_an_idle_connection_of_the_busiest_peer_first() {
        let connections = Connections::new(limits(4, 3));
        let lone = connections.admit(ip("10.0.0.1")).unwrap();
        tokio::time::advance(Duration::from_secs(1)).await;
        let crowd: Vec<_> = (0..3)
            .map(|_| connections.admit(ip("10.0.0.2")).unwrap())
            .collect();
        let busy = crowd[0].start_request();
        let newcomer = connections.admit(ip("10.0.0.3")).unwrap();
        assert_eq!(refused(&connections, Refusal::Shed), 1);
        // crowd[1] is the longest idle of the busiest peer's idle connections.
        tokio::time::timeout(Duration::from_millis(1), crowd[1].shed())
            .await
            .expect("told to close");
        assert!(
            tokio::time::timeout(Duration::from_millis(1), lone.shed())
                .await
                .is_err(),
            "the lone peer's older connection stays"
        );
        assert_eq!(
            connections.counts(),
            ConnectionCounts { idle: 3, active: 1 }
        );
        drop(busy);
        drop(newcomer);
    }

    #[tokio::test(start_paused = true)]
    async fn a_server_whose_every_connection_serves_a_request_refuses_new_ones() {
        let connections = Connections::new(limits(2, 2));
        let a = connections.admit(ip("10.0.0.1")).unwrap();
        let b = connections.admit(ip("10.0.0.2")).unwrap();
        let _requests = (a.start_request(), b.start_request());
        assert_eq!(
            connections.admit(ip("10.0.0.3")).err(),
            Some(Refusal::ServerLimit)
        );
        assert_eq!(
            connections.counts(),
            ConnectionCounts { idle: 0, active: 2 }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn idleness_starts_when_the_last_request_ends() {
        let connections = Connections::new(limits(2, 2));
        let connection = connections.admit(ip("10.0.0.1")).unwrap();
        let timeout = Duration::from_secs(5);
        tokio::time::advance(Duration::from_secs(3)).await;
        let request = connection.start_request();
        tokio::time::advance(Duration::from_secs(10)).await;
        assert!(!connection.idle_for(timeout), "a request is in progress");
        drop(request);
        assert_eq!(connection.idle_deadline(timeout), Instant::now() + timeout);
        tokio::time::advance(timeout).await;
        assert!(connection.idle_for(timeout));
    }
}
