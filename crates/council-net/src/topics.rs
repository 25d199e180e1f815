//! Gossipsub, gated per topic: a peer takes part in a federation's topic only while the
//! node says it may.
//!
//! Gossipsub sends a topic's messages (and its IHAVE gossip) to the peers that subscribed
//! to the topic, and meshes with them on their GRAFT only if they did. Left alone it takes
//! any subscription from any connected peer, so a member of one federation could subscribe
//! to another federation's topic on a node that is in both, and read its traffic.
//! [`TopicGate`] wraps [`gossipsub::Behaviour`] and, for each RPC a peer sends:
//!
//! - keeps its subscriptions only to topics the peer may use; the rest are held back,
//!   and handed to gossipsub if the peer is later allowed on that topic (a council
//!   admitted to a second federation, say), so the peer need not reconnect;
//! - drops its messages on topics it may not use, unread;
//! - passes everything else (IHAVE, IWANT, GRAFT, PRUNE) through: gossipsub ignores a
//!   GRAFT or an IHAVE for a topic the peer is not subscribed to, and answers an IWANT
//!   only with a message the peer names by id, which is the hash of the topic and the
//!   content (`message_id`): it cannot ask for what it has not seen.
//!
//! When a peer loses a topic (its council left the federation, or its invite expired),
//! the node closes its connections: gossipsub has no way to forget a subscription it
//! took, and the peer's next connection subscribes afresh, through the gate.

use std::collections::{HashMap, HashSet};
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::gossipsub::{self, TopicHash};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

/// The most topics whose subscriptions are held back for one peer: a node takes part in a
/// few federations, and a peer naming more topics than that is not worth remembering.
const MAX_HELD_TOPICS: usize = 64;

/// What a gossipsub connection handler reports (an RPC received, mostly).
type HandlerEvent = THandlerOutEvent<gossipsub::Behaviour>;

/// The gossip message id: the SHA-256 of the topic and the content. The same entry
/// relayed by many peers on one topic is one message; published on two topics (a
/// council in two federations) it is two, so neither publish is taken for a duplicate
/// of the other.
pub fn message_id(topic: &TopicHash, data: &[u8]) -> Vec<u8> {
    let t = topic.as_str().as_bytes();
    let mut buf = Vec::with_capacity(8 + t.len() + data.len());
    buf.extend_from_slice(&(t.len() as u64).to_be_bytes());
    buf.extend_from_slice(t);
    buf.extend_from_slice(data);
    council_core::Hash::of(&buf).0.to_vec()
}

/// [`gossipsub::Behaviour`] that lets each peer use only its allowed topics. See the
/// module documentation.
pub struct TopicGate {
    inner: gossipsub::Behaviour,
    allowed: HashMap<PeerId, HashSet<TopicHash>>,
    /// Subscriptions held back, by peer: the RPC that carried them (subscriptions only),
    /// and the connection it came on.
    held: HashMap<PeerId, (ConnectionId, HandlerEvent)>,
}

impl std::fmt::Debug for TopicGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TopicGate").field("allowed", &self.allowed.len()).field("held", &self.held.len()).finish()
    }
}

impl TopicGate {
    pub fn new(inner: gossipsub::Behaviour) -> Self {
        TopicGate { inner, allowed: HashMap::new(), held: HashMap::new() }
    }

    pub fn gossipsub(&mut self) -> &mut gossipsub::Behaviour {
        &mut self.inner
    }

    /// The peers that may use every one of this node's own topics (those it subscribed
    /// to): the peers that may read whatever this node could tell them about any of its
    /// federations (see [`crate::discovery`]).
    pub fn in_all_topics(&self) -> std::collections::HashSet<PeerId> {
        let own: Vec<TopicHash> = self.inner.topics().cloned().collect();
        self.allowed.iter().filter(|(_, t)| own.iter().all(|o| t.contains(o))).map(|(p, _)| *p).collect()
    }

    /// Replaces every peer's topics. Returns the peers that lost a topic they had: their
    /// connections must close (see the module documentation).
    pub fn set_allowed(&mut self, allowed: HashMap<PeerId, HashSet<TopicHash>>) -> Vec<PeerId> {
        let lost: Vec<PeerId> = self
            .allowed
            .iter()
            .filter(|(p, old)| allowed.get(p).is_none_or(|new| !old.is_subset(new)))
            .map(|(p, _)| *p)
            .collect();
        self.allowed = allowed;
        // Held subscriptions to topics now allowed go through.
        let peers: Vec<PeerId> = self.held.keys().copied().collect();
        for peer in peers {
            let Some((conn, mut ev)) = self.held.remove(&peer) else { continue };
            let HandlerEvent::Message { rpc, .. } = &mut ev else { continue };
            let topics = self.allowed.get(&peer);
            let (now, still): (Vec<_>, Vec<_>) =
                rpc.subscriptions.drain(..).partition(|s| topics.is_some_and(|t| t.contains(&s.topic_hash)));
            if !still.is_empty() {
                let mut later = rpc.clone();
                later.subscriptions = still;
                self.held.insert(peer, (conn, HandlerEvent::Message { rpc: later, invalid_messages: Vec::new() }));
            }
            if !now.is_empty() {
                rpc.subscriptions = now;
                self.inner.on_connection_handler_event(peer, conn, ev);
            }
        }
        lost
    }

    /// Takes out of an RPC what the peer may not do, holding back its subscriptions.
    fn filter(&mut self, peer: PeerId, conn: ConnectionId, ev: &mut HandlerEvent) {
        let HandlerEvent::Message { rpc, .. } = ev else { return };
        let topics = self.allowed.get(&peer);
        let ok = |t: &TopicHash| topics.is_some_and(|s| s.contains(t));
        let before = rpc.messages.len();
        rpc.messages.retain(|m| ok(&m.topic));
        if rpc.messages.len() != before {
            tracing::debug!(%peer, dropped = before - rpc.messages.len(), "gossip on a topic the peer may not use");
        }
        let (keep, hold): (Vec<_>, Vec<_>) = rpc.subscriptions.drain(..).partition(|s| ok(&s.topic_hash));
        // A later word on a topic (subscribe or unsubscribe) replaces one held back, so
        // what is held is at most one action per topic, the peer's latest.
        if let Some((c, HandlerEvent::Message { rpc: held, .. })) = self.held.get_mut(&peer) {
            for s in keep.iter().chain(&hold) {
                held.subscriptions.retain(|h| h.topic_hash != s.topic_hash);
            }
            if !hold.is_empty() {
                *c = conn;
                held.subscriptions.extend(hold.iter().cloned());
                held.subscriptions.truncate(MAX_HELD_TOPICS);
            }
        } else if !hold.is_empty() {
            let mut later = rpc.clone();
            later.messages.clear();
            later.control_msgs.clear();
            later.subscriptions = hold.clone();
            later.subscriptions.truncate(MAX_HELD_TOPICS);
            self.held.insert(peer, (conn, HandlerEvent::Message { rpc: later, invalid_messages: Vec::new() }));
        }
        if !hold.is_empty() {
            tracing::debug!(%peer, topics = hold.len(), "subscriptions held back until the peer may use the topics");
        }
        rpc.subscriptions = keep;
    }
}

impl NetworkBehaviour for TopicGate {
    type ConnectionHandler = THandler<gossipsub::Behaviour>;
    type ToSwarm = gossipsub::Event;

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
        self.inner.handle_established_inbound_connection(id, peer, local, remote)
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
        self.inner.handle_established_outbound_connection(id, peer, addr, role, port_use)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        if let FromSwarm::ConnectionClosed(c) = &event {
            if self.held.get(&c.peer_id).is_some_and(|(conn, _)| *conn == c.connection_id) {
                self.held.remove(&c.peer_id);
            }
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(&mut self, peer: PeerId, id: ConnectionId, mut event: THandlerOutEvent<Self>) {
        self.filter(peer, id, &mut event);
        self.inner.on_connection_handler_event(peer, id, event);
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.inner.poll(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The vector in PROTOCOL.md §13: a message id depends on the topic and the data.
    #[test]
    fn message_id_vector() {
        let topic = TopicHash::from_raw(crate::federation_topic(&council_core::Hash([0u8; 32])));
        let id = message_id(&topic, b"councilnet");
        assert_eq!(hex(&id), "c4622304a116e7c0ad436815714bcf8cdb8e708a7ae162b29118e938397d721c");
        let other = TopicHash::from_raw(crate::federation_topic(&council_core::Hash([1u8; 32])));
        assert_ne!(message_id(&other, b"councilnet"), id, "the same data on another topic is another message");
    }

    fn hex(b: &[u8]) -> String {
        b.iter().map(|x| format!("{x:02x}")).collect()
    }
}
