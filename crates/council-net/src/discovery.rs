//! Kademlia, gated by membership.
//!
//! A Kademlia node answers `FIND_NODE` with the peers (and their addresses) in its routing
//! table. Left alone it would answer anyone connected, including an outsider in its hello
//! grace, who would learn where every member node is. [`GatedKad`] wraps
//! [`kad::Behaviour`] so that:
//!
//! - only connections to allowed peers accept inbound Kademlia streams; on every other
//!   connection the protocol is refused at negotiation (the same `DeniedUpgrade` a client
//!   mode node uses), so an outsider's `FIND_NODE` is never read, let alone answered;
//! - a connection opens for Kademlia when its peer becomes allowed, and closes when it
//!   stops being allowed, without reconnecting;
//! - the routing table holds only what the event loop puts there (`BucketInserts::Manual`):
//!   addresses that allowed peers announced over identify.
//!
//! The protocol name is councilnet's own, so these nodes never join a public DHT.

use std::collections::{HashMap, HashSet, VecDeque};
use std::task::{Context, Poll};

use either::Either;
use libp2p::core::transport::PortUse;
use libp2p::core::upgrade::DeniedUpgrade;
use libp2p::core::Endpoint;
use libp2p::kad::{self, store::MemoryStore};
use libp2p::swarm::handler::ConnectionEvent;
use libp2p::swarm::{
    ConnectionDenied, ConnectionHandler, ConnectionHandlerEvent, ConnectionId, FromSwarm, NetworkBehaviour,
    NotifyHandler, SubstreamProtocol, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId, StreamProtocol};

/// The Kademlia protocol name: councilnet's own, never the public IPFS DHT.
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/councilnet/kad/1");

type Inner = kad::Behaviour<MemoryStore>;
type InnerHandler = <Inner as NetworkBehaviour>::ConnectionHandler;

/// [`kad::Behaviour`] that serves only allowed peers. See the module documentation.
pub struct GatedKad {
    inner: Inner,
    allowed: HashSet<PeerId>,
    /// Open connections, by peer: each must hear when its peer's standing changes.
    connections: HashMap<PeerId, Vec<ConnectionId>>,
    /// Open/close orders for handlers, sent before anything else the inner behaviour says.
    orders: VecDeque<(PeerId, ConnectionId, bool)>,
}

impl GatedKad {
    pub fn new(local: PeerId) -> Self {
        let mut cfg = kad::Config::new(KAD_PROTOCOL);
        cfg.set_kbucket_inserts(kad::BucketInserts::Manual);
        // The table is the only use: records and provider announcements a peer sends are
        // handed to the event loop (which drops them), never stored.
        cfg.set_record_filtering(kad::StoreInserts::FilterBoth);
        let mut inner = kad::Behaviour::with_config(local, MemoryStore::new(local), cfg);
        // Serve (allowed peers) from the start: the default waits for a confirmed external
        // address, which a node behind NAT or on loopback never has.
        inner.set_mode(Some(kad::Mode::Server));
        GatedKad { inner, allowed: HashSet::new(), connections: HashMap::new(), orders: VecDeque::new() }
    }

    pub fn kad(&mut self) -> &mut Inner {
        &mut self.inner
    }

    /// Replaces the peers served: connections of peers that joined the set open for
    /// Kademlia, those of peers that left it close. The routing table is not touched (a
    /// peer may be in it, to be dialed, without being served; see
    /// [`GatedKad::forget`]).
    pub fn set_allowed(&mut self, allowed: &HashSet<PeerId>) {
        for (peer, conns) in &self.connections {
            let was = self.allowed.contains(peer);
            let is = allowed.contains(peer);
            if was != is {
                self.orders.extend(conns.iter().map(|c| (*peer, *c, is)));
            }
        }
        self.allowed = allowed.clone();
    }

    /// Takes peers out of the routing table (they are no longer let in at all).
    pub fn forget<'a>(&mut self, peers: impl IntoIterator<Item = &'a PeerId>) {
        for p in peers {
            self.inner.remove_peer(p);
        }
    }

    fn handler(&mut self, peer: PeerId, id: ConnectionId, inner: InnerHandler) -> GatedHandler {
        self.connections.entry(peer).or_default().push(id);
        GatedHandler { inner, open: self.allowed.contains(&peer) }
    }
}

impl std::fmt::Debug for GatedKad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedKad")
            .field("allowed", &self.allowed.len())
            .field("connections", &self.connections.len())
            .finish_non_exhaustive()
    }
}

impl NetworkBehaviour for GatedKad {
    type ConnectionHandler = GatedHandler;
    type ToSwarm = kad::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let h = self.inner.handle_established_inbound_connection(id, peer, local, remote)?;
        Ok(self.handler(peer, id, h))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addresses: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(id, peer, addresses, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let h = self.inner.handle_established_outbound_connection(id, peer, addr, role, port_use)?;
        Ok(self.handler(peer, id, h))
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(c) = &event {
            if let Some(conns) = self.connections.get_mut(&c.peer_id) {
                conns.retain(|id| *id != c.connection_id);
                if conns.is_empty() {
                    self.connections.remove(&c.peer_id);
                }
            }
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, id: ConnectionId, event: THandlerOutEvent<Self>) {
        self.inner.on_connection_handler_event(peer, id, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, id, open)) = self.orders.pop_front() {
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(id),
                event: Either::Right(open),
            });
        }
        self.inner.poll(cx).map(|e| e.map_in(Either::Left))
    }
}

/// Kademlia's connection handler with a gate on inbound streams.
pub struct GatedHandler {
    inner: InnerHandler,
    /// Whether the remote peer may open Kademlia streams to us.
    open: bool,
}

impl std::fmt::Debug for GatedHandler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatedHandler").field("open", &self.open).finish_non_exhaustive()
    }
}

impl ConnectionHandler for GatedHandler {
    /// Kademlia's own orders, or `Right(open)` to open or close the gate.
    type FromBehaviour = Either<<InnerHandler as ConnectionHandler>::FromBehaviour, bool>;
    type ToBehaviour = <InnerHandler as ConnectionHandler>::ToBehaviour;
    type InboundProtocol = <InnerHandler as ConnectionHandler>::InboundProtocol;
    type OutboundProtocol = <InnerHandler as ConnectionHandler>::OutboundProtocol;
    type InboundOpenInfo = <InnerHandler as ConnectionHandler>::InboundOpenInfo;
    type OutboundOpenInfo = <InnerHandler as ConnectionHandler>::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        // The swarm asks for each new inbound stream, so a closed gate refuses the very next.
        if self.open {
            self.inner.listen_protocol()
        } else {
            SubstreamProtocol::new(Either::Right(DeniedUpgrade), ())
        }
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>> {
        self.inner.poll(cx)
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {
            Either::Left(e) => self.inner.on_behaviour_event(e),
            Either::Right(open) => self.open = open,
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        self.inner.on_connection_event(event);
    }
}
