//! What an unknown peer can cost the node before it has said who it is.
//!
//! Anyone may open a TCP connection, and until Noise completes the node does not even
//! know the peer's id. [`ConnectionGuard`] bounds that:
//!
//! - connections still in their handshake, per remote IP address: beyond
//!   [`GuardLimits::pending_per_ip`] a new one is refused, so one address cannot hold the
//!   pending slots that a joining council or a restarting member node needs (the
//!   handshake itself times out after [`crate::HANDSHAKE_TIMEOUT`]);
//! - connection attempts per remote IP address, and established connections per peer
//!   id, each by a token bucket (governor): a peer that connects and hangs up in a loop
//!   is refused until its bucket refills.
//!
//! Refusals happen before any protocol runs, and cost the node a hash-map lookup.

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::task::{Context, Poll};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// The limits of a [`ConnectionGuard`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuardLimits {
    /// Inbound connections in their handshake at once, per remote IP address.
    pub pending_per_ip: u32,
    /// Inbound connection attempts per remote IP address per minute (and the burst).
    pub attempts_per_ip_per_minute: u32,
    /// Established inbound connections per peer id per minute (and the burst).
    pub connections_per_peer_per_minute: u32,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits { pending_per_ip: 8, attempts_per_ip_per_minute: 120, connections_per_peer_per_minute: 30 }
    }
}

/// Keys a limiter remembers before it forgets the ones whose buckets are full again.
const PRUNE_AT: usize = 10_000;

/// Refuses inbound connections beyond the [`GuardLimits`]. See the module documentation.
pub struct ConnectionGuard {
    limits: GuardLimits,
    pending: HashMap<ConnectionId, IpAddr>,
    pending_per_ip: HashMap<IpAddr, u32>,
    attempts: DefaultKeyedRateLimiter<IpAddr>,
    connections: DefaultKeyedRateLimiter<PeerId>,
}

impl std::fmt::Debug for ConnectionGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionGuard")
            .field("limits", &self.limits)
            .field("pending", &self.pending.len())
            .finish_non_exhaustive()
    }
}

fn per_minute(n: u32) -> Quota {
    let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
    Quota::per_minute(n).allow_burst(n)
}

fn ip_of(addr: &Multiaddr) -> Option<IpAddr> {
    addr.iter().find_map(|p| match p {
        Protocol::Ip4(ip) => Some(IpAddr::V4(ip)),
        Protocol::Ip6(ip) => Some(IpAddr::V6(ip)),
        _ => None,
    })
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refused(&'static str);

impl ConnectionGuard {
    pub fn new(limits: GuardLimits) -> Self {
        ConnectionGuard {
            limits,
            pending: HashMap::new(),
            pending_per_ip: HashMap::new(),
            attempts: RateLimiter::keyed(per_minute(limits.attempts_per_ip_per_minute)),
            connections: RateLimiter::keyed(per_minute(limits.connections_per_peer_per_minute)),
        }
    }

    fn done(&mut self, id: ConnectionId) {
        if let Some(ip) = self.pending.remove(&id) {
            if let Some(n) = self.pending_per_ip.get_mut(&ip) {
                *n -= 1;
                if *n == 0 {
                    self.pending_per_ip.remove(&ip);
                }
            }
        }
    }
}

impl NetworkBehaviour for ConnectionGuard {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        let Some(ip) = ip_of(remote) else { return Ok(()) };
        if self.attempts.len() > PRUNE_AT {
            self.attempts.retain_recent();
        }
        if self.attempts.check_key(&ip).is_err() {
            tracing::debug!(%ip, "refused a connection: too many attempts from this address");
            return Err(ConnectionDenied::new(Refused("too many connection attempts from this address")));
        }
        let n = self.pending_per_ip.entry(ip).or_insert(0);
        if *n >= self.limits.pending_per_ip {
            tracing::debug!(%ip, "refused a connection: too many handshakes in progress from this address");
            return Err(ConnectionDenied::new(Refused("too many handshakes in progress from this address")));
        }
        *n += 1;
        self.pending.insert(id, ip);
        Ok(())
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        _local: &Multiaddr,
        _remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.done(id);
        if self.connections.len() > PRUNE_AT {
            self.connections.retain_recent();
        }
        if self.connections.check_key(&peer).is_err() {
            tracing::debug!(%peer, "refused a connection: this peer reconnects too often");
            return Err(ConnectionDenied::new(Refused("this peer reconnects too often")));
        }
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _id: ConnectionId,
        _peer: PeerId,
        _addr: &Multiaddr,
        _role: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ListenFailure(f) => self.done(f.connection_id),
            FromSwarm::ConnectionClosed(c) => self.done(c.connection_id),
            FromSwarm::ConnectionEstablished(c) => self.done(c.connection_id),
            _ => {}
        }
    }

    fn on_connection_handler_event(&mut self, _peer: PeerId, _id: ConnectionId, event: THandlerOutEvent<Self>) {
        match event {}
    }

    fn poll(&mut self, _cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
