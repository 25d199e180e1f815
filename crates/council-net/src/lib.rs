//! # council-net
//!
//! The network between councils' nodes, on libp2p: TCP with Noise and Yamux, gossipsub
//! for federation traffic, request-response for log sync, identify.
//!
//! One task ([`run`]) owns the `Swarm`. Everything else talks to it through a cloneable
//! [`NetHandle`] over a bounded channel, each command carrying a oneshot for its answer,
//! and hears from it through a bounded stream of [`NetEvent`]s.
//!
//! - Gossipsub runs with `validate_messages()`: nothing is forwarded until the node has
//!   checked it and answered [`NetHandle::validate`] with exactly one [`Verdict`]. Message
//!   ids are the SHA-256 of the topic and the content ([`topics::message_id`]), and peer
//!   scoring is on, with parameters for every topic, so that a peer whose messages are
//!   rejected drops below the graylist threshold at once.
//! - Every inbound message is bounded: gossip by [`MAX_MESSAGE_BYTES`], sync requests and
//!   responses by [`MAX_SYNC_REQUEST_BYTES`] and [`MAX_SYNC_RESPONSE_BYTES`].
//! - Membership gating, per federation: the node tells the network which peers are
//!   members, and on which federation topics each may gossip ([`NetHandle::allow`]);
//!   until it does, nobody is (gating starts closed). Any other peer gets a short grace
//!   period in which the only thing it can do is say [`Hello`] (present its council and
//!   any invite it holds); meanwhile its gossipsub score is far below the graylist
//!   threshold, so it is sent no messages, its messages are ignored, and its sync
//!   requests go unanswered. Unless the node allows it in that time, it is disconnected.
//!   An allowed peer's subscriptions to other topics are held back ([`topics`]).
//! - Bounded cost for strangers: handshakes time out after [`HANDSHAKE_TIMEOUT`], and
//!   connection attempts are limited per address and per peer ([`guard`]).
//!
//! - Discovery: configured addresses, mDNS on a LAN (opt-in), and Kademlia beyond it,
//!   served only to allowed peers ([`discovery`]): an outsider in its grace period cannot
//!   read the routing table, so it learns no member's address.
//!
//! A peer's id is derived from its council node key (ed25519), so "which peers are
//! allowed" is the set of current node keys of the federations' member councils.

mod codec;
pub mod discovery;
pub mod guard;
mod swarm;
pub mod topics;
pub mod transport;

pub use codec::{
    heads_digest, Head, HeadsRequest, Hello, Request, Response, SyncRequest, SyncResponse, MAX_HEADS,
    MAX_HELLO_INVITES, MAX_SYNC_ENTRIES, MAX_SYNC_REQUEST_BYTES, MAX_SYNC_RESPONSE_BYTES,
};
pub use libp2p::{gossipsub::MessageId, multiaddr, Multiaddr, PeerId};
pub use swarm::{
    run, GossipLabels, NetConfig, NetError, NetEvent, NetHandle, NetMetrics, Verdict, DUPLICATE_CACHE,
    GRAYLIST_THRESHOLD, HANDSHAKE_TIMEOUT, MAX_MESSAGE_BYTES,
};

/// The libp2p identity of a node whose council node key has this RFC 8032 seed.
pub fn keypair_from_seed(seed: &[u8; 32]) -> libp2p::identity::Keypair {
    let mut s = *seed;
    // `try_from_bytes` zeroes its input; the copy keeps the caller's seed intact.
    #[allow(clippy::expect_used)]
    let secret = libp2p::identity::ed25519::SecretKey::try_from_bytes(&mut s).expect("32 bytes are an ed25519 secret");
    libp2p::identity::Keypair::from(libp2p::identity::ed25519::Keypair::from(secret))
}

/// The peer id of the node whose council node key is `key`.
pub fn peer_id_of(key: &council_core::PublicKey) -> PeerId {
    #[allow(clippy::expect_used)]
    let pk =
        libp2p::identity::ed25519::PublicKey::try_from_bytes(key.as_bytes()).expect("an accepted key is a valid point");
    PeerId::from_public_key(&libp2p::identity::PublicKey::from(pk))
}

/// The gossip topic of a federation.
pub fn federation_topic(federation: &council_core::Hash) -> String {
    format!("councilnet/1/federation/{}", federation.to_hex())
}

/// The federation-level gossip topic of a federation of federations (PROTOCOL.md §12.9):
/// the federation-level entries of every council it binds.
pub fn wide_topic(federation: &council_core::Hash) -> String {
    format!("councilnet/1/federation-level/{}", federation.to_hex())
}

/// The federation of federations whose federation-level topic this is ([`wide_topic`]).
pub fn federation_of_wide_topic(topic: &str) -> Option<council_core::Hash> {
    council_core::Hash::from_hex(topic.strip_prefix("councilnet/1/federation-level/")?)
}

/// The federation whose gossip topic this is ([`federation_topic`]), if it is one.
pub fn federation_of_topic(topic: &str) -> Option<council_core::Hash> {
    council_core::Hash::from_hex(topic.strip_prefix("councilnet/1/federation/")?)
}
