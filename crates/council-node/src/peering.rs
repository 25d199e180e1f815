//! The node on the network: it follows the logs of the councils it federates with,
//! publishes its own council's entries, judges every message that arrives, and decides
//! which peers may stay connected.
//!
//! One task ([`NetNode::run`]) owns the followed logs ([`Replicas`], including a copy of
//! the node's own council) and talks to the swarm through a [`NetHandle`]. Entries are
//! judged by the same [`CouncilState::apply`](council_core::council::CouncilState::apply)
//! as `council verify`, and federation state is [`federation::evaluate`] over the same
//! logs, so every node that holds the same logs reaches the same verdicts.
//!
//! Who is let in, and what each may read (PROTOCOL.md §12.1), is
//! [`council_core::access`]: per federation, from the logs and the clock. The node that
//! dialed says hello first, with its council's genesis (and any invites it holds); the
//! node that was dialed says nothing until that hello is accepted, and then answers with
//! its own genesis. A peer is welcome if its council has standing in one of this
//! council's federations, or shows an invite to one that is valid now. It may then sync
//! the logs of the councils that share a federation with it, and use those federations'
//! gossip topics, for as long as that holds: standing is computed again whenever a log
//! changes and when an invite lapses.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use council_core::access::{Access, AccessInputs, InviteClaim};
use council_core::cbor::{Cbor, Decoder, Encoder};
use council_core::council::{CouncilState, FedEvent, FedEventKind};
use council_core::export::{entry_item_bytes, ExportItem};
use council_core::federation::{self, FedError, FederationReport};
use council_core::records::{
    Action, Charter, CouncilId, DelegateVoteBody, Entry, EquivocationProof, FederationId, Genesis, InviteProof,
    MotionForm, Signed,
};
use council_core::replica::{GossipVerdict, Judgement, Replicas};
use council_core::verify::{verify_entry, verify_equivocation, verify_genesis, Verified};
use council_core::DecodeError;
use council_net::multiaddr::Protocol as libp2p_protocol;
use council_net::{
    federation_topic, peer_id_of, Head, Hello, Multiaddr, NetError, NetEvent, NetHandle, PeerId, Response, SyncRequest,
    SyncResponse, Verdict,
};
use council_store::{Store, StoreError};
use tokio::sync::{mpsc, oneshot, watch};

use crate::metrics::Metrics;
use crate::proto::{Gone, Out, Peering};
use crate::writer::{now, CausalClock, Sealed};

/// Control requests queued towards the network task.
const CONTROL_QUEUE: usize = 64;
/// A peer that leaves a liveness probe unanswered for this many sync intervals (and at
/// least [`MIN_STALL`]) is taken for gone: its connections are closed and it is redialed
/// (see [`Peering::tick`]).
const STALL_TICKS: u32 = 3;
const MIN_STALL: Duration = Duration::from_secs(2);
/// Invites shown by other councils that are remembered at once (each is judged against
/// the logs whenever standing is computed, and dropped once it grants nothing).
const MAX_CLAIMS: usize = 4096;
/// How many federation-level copies taken on a welcome (PROTOCOL.md §12.9, "finding the
/// councils of a member federation") a node keeps at once before any federation of
/// federations justifies them, and for how long (seconds).
const MAX_PROVISIONAL: usize = 16;
const PROVISIONAL_SECS: u64 = 600;
/// Gossip carries entries at most this old (by the entry's time and the receiver's
/// clock): older ones are stored but not forwarded, nor published (PROTOCOL.md §12.3).
pub const GOSSIP_FRESH_SECS: u64 = 300;
/// A duplicate entry this old, arriving by gossip, is a replay: rejected. Twice the
/// freshness window, so that clocks up to five minutes apart never penalise an honest
/// relay.
pub const REPLAY_AGE_SECS: u64 = 2 * GOSSIP_FRESH_SECS;

/// A join this council started with an invite (kept in the store across restarts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Join {
    pub federation: FederationId,
    pub proof: InviteProof,
    /// Where the issuer's node listens.
    pub addrs: Vec<Multiaddr>,
}

const JOIN_TAG: &str = "councilnet/1/pending-join";

impl Cbor for Join {
    fn encode(&self, e: &mut Encoder) {
        e.array(4).text(JOIN_TAG).value(&self.federation).value(&self.proof).array(self.addrs.len());
        for a in &self.addrs {
            e.text(&a.to_string());
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(4)?;
        d.tag(JOIN_TAG)?;
        let federation = d.value()?;
        let proof = d.value()?;
        let n = d.array(64)?;
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            let at = d.position();
            let t = d.text()?;
            addrs.push(t.parse().map_err(|_| DecodeError::UnexpectedType { at, expected: "a multiaddr" })?);
        }
        Ok(Join { federation, proof, addrs })
    }
}

/// What `GET /v1/federations` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FederationsView {
    pub federations: Vec<FederationReport>,
    /// Federation events that broke a federation rule (PROTOCOL.md §8): no effect.
    pub void_events: Vec<FedError>,
    /// Councils whose node signed two different entries at one place in their log.
    pub forked: Vec<CouncilId>,
    /// Federations this council is joining with an invite.
    pub joining: Vec<FederationId>,
    /// For a join the issuer's node refused, its reason (an invite used up, say).
    pub join_refusals: BTreeMap<FederationId, String>,
    /// Every charter this node has seen signed or moved (canonical CBOR in hex), by
    /// federation id: what a joining council signs.
    pub charters: BTreeMap<FederationId, String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct PeerView {
    pub peer: String,
    pub council: Option<CouncilId>,
    /// The peer's gossipsub score here (below −80 it is graylisted).
    pub score: Option<f64>,
    /// Where the peer says it listens, each ending in its `/p2p/` peer id.
    pub addrs: Vec<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FollowedView {
    pub council: CouncilId,
    pub name: String,
    pub entries: u64,
    pub head: council_core::Hash,
    /// How far peers last said this council's log reaches (its last sequence number), if
    /// any said: more than `entries` while this node catches up.
    pub peers_reach: Option<u64>,
    /// Held as a federation-level copy (PROTOCOL.md §12.9): `entries` is then the place of
    /// the last federation-level entry held, not a count.
    pub copy: bool,
}

/// What `GET /v1/network` shows.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NetworkView {
    pub peer_id: String,
    /// Addresses other nodes can dial, each ending in this node's `/p2p/` peer id.
    pub listen: Vec<String>,
    pub connected: Vec<PeerView>,
    pub followed: Vec<FollowedView>,
    /// Addresses the node keeps dialing (configured, or added with `POST /v1/peers`).
    pub dialing: Vec<String>,
}

/// Requests from the API.
#[derive(Debug)]
enum Control {
    Federations(oneshot::Sender<FederationsView>),
    Network(oneshot::Sender<NetworkView>),
    Join(Box<Join>, oneshot::Sender<Result<(), String>>),
    /// Ends a join; answers whether there was one.
    CancelJoin(FederationId, oneshot::Sender<Result<bool, String>>),
    AddPeer(Multiaddr, oneshot::Sender<Result<(), String>>),
    /// Stops dialing an address or peer, and disconnects the peer; answers the addresses
    /// no longer dialed and the peer disconnected, if any.
    RemovePeer(String, oneshot::Sender<(Vec<String>, Option<String>)>),
    CheckDelegateVote(Box<Signed<DelegateVoteBody>>, oneshot::Sender<Result<(), String>>),
    Proof(Box<EquivocationProof>, oneshot::Sender<ProofTaken>),
}

/// What became of an equivocation proof a member handed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProofTaken {
    /// New here: kept, the council marked forked, and gossiped to the federations.
    Kept,
    /// Known already.
    Known,
    /// This node does not follow the council, so it cannot judge the proof.
    UnknownCouncil,
    /// Not a proof: see PROTOCOL.md §9.
    Invalid,
}

/// A cloneable handle for the API to ask the network task.
#[derive(Debug, Clone)]
pub struct NetControl {
    tx: mpsc::Sender<Control>,
}

/// The network is off, or has stopped.
#[derive(Debug, thiserror::Error)]
#[error("the node's network is not running")]
pub struct NetworkDown;

impl NetControl {
    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Control) -> Result<T, NetworkDown> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| NetworkDown)?;
        rx.await.map_err(|_| NetworkDown)
    }
    pub async fn federations(&self) -> Result<FederationsView, NetworkDown> {
        self.ask(Control::Federations).await
    }
    pub async fn network(&self) -> Result<NetworkView, NetworkDown> {
        self.ask(Control::Network).await
    }
    pub async fn join(&self, join: Join) -> Result<Result<(), String>, NetworkDown> {
        self.ask(|r| Control::Join(Box::new(join), r)).await
    }
    pub async fn remove_peer(&self, target: String) -> Result<(Vec<String>, Option<String>), NetworkDown> {
        self.ask(|r| Control::RemovePeer(target, r)).await
    }
    pub async fn cancel_join(&self, federation: FederationId) -> Result<Result<bool, String>, NetworkDown> {
        self.ask(|r| Control::CancelJoin(federation, r)).await
    }
    pub async fn add_peer(&self, addr: Multiaddr) -> Result<Result<(), String>, NetworkDown> {
        self.ask(|r| Control::AddPeer(addr, r)).await
    }
    /// Whether the federation would void this delegate vote if the council logged it
    /// now (`Err` with the reason), judged by the federation rules themselves.
    /// Judges an equivocation proof from outside (a member's device) as gossip would be,
    /// and keeps and spreads it if it holds.
    pub async fn hand_in_proof(&self, proof: EquivocationProof) -> Result<ProofTaken, NetworkDown> {
        self.ask(|r| Control::Proof(Box::new(proof), r)).await
    }
    pub async fn check_delegate_vote(&self, vote: Signed<DelegateVoteBody>) -> Result<Result<(), String>, NetworkDown> {
        self.ask(|r| Control::CheckDelegateVote(Box::new(vote), r)).await
    }
}

/// Answers from tasks the network task spawned.
#[derive(Debug)]
enum Internal {
    Welcome {
        peer: PeerId,
        result: Result<Response, NetError>,
    },
    Synced {
        peer: PeerId,
        council: CouncilId,
        from: u64,
        result: Result<SyncResponse, NetError>,
    },
    Probed {
        peer: PeerId,
        id: u64,
    },
    Heads {
        peer: PeerId,
        federation: FederationId,
        result: Result<Option<Vec<Head>>, NetError>,
    },
    /// Entries of this council's own log, asked of a peer while catching up.
    OwnSynced {
        peer: PeerId,
        result: Result<SyncResponse, NetError>,
    },
}

/// The network task's state: the actor that carries out [`Peering`]'s decisions on
/// libp2p, and judges what arrives with `council_core`.
pub struct NetNode {
    own: CouncilId,
    own_genesis: Genesis,
    store: Store,
    net: NetHandle,
    /// The logs this node holds: the only copy of each council's state.
    replicas: Replicas,
    joins: BTreeMap<FederationId, Join>,
    /// The last refusal each peer sent this council's hello (cleared when it welcomes
    /// it): a join shows the issuer's reason.
    refusals: HashMap<PeerId, String>,
    /// Who to keep company with and what to ask of whom.
    proto: Peering,
    /// When the task started: [`Peering`]'s clock for rate windows and probes.
    started: tokio::time::Instant,
    /// Invites other councils showed (signature checked), judged against the logs each
    /// time [`Access`] is computed.
    claims: Vec<InviteClaim>,
    /// Copies taken on a welcome and not yet justified by a wide circle, with when.
    provisional: HashMap<CouncilId, u64>,
    listen: Vec<Multiaddr>,
    p2p_addr_file: PathBuf,
    forked: BTreeSet<CouncilId>,
    /// Federation state as of the clock: recomputed when a followed log changes, and
    /// when the next open federation motion's closing time passes (`fed_until`), so that
    /// it closes on time with no traffic.
    fed: Option<(Vec<FederationReport>, Vec<FedError>)>,
    fed_until: Option<u64>,
    /// Who may read what, recomputed when a log, the joins or the claims change (see
    /// [`NetNode::stale`]), and when an invite lapses.
    access: Option<Arc<Access>>,
    /// Whether `access` still holds (no log, join or claim changed since).
    access_fresh: bool,
    internal: mpsc::Sender<Internal>,
    internal_rx: Option<mpsc::Receiver<Internal>>,
    control_rx: Option<mpsc::Receiver<Control>>,
    clock: CausalClock,
    metrics: Metrics,
    /// Where to start listening once this council takes part in a federation (the
    /// configuration named no listen address); `None` once done, or if not wanted.
    listen_when_federated: Option<Multiaddr>,
    /// Set when this council's node key is seen signing elsewhere; the writer then stops.
    halt: crate::writer::Halt,
    /// On while this node must fetch its own log's newer entries (after a restore), and
    /// the writer that takes them.
    catch_up: crate::writer::CatchUp,
    writer: Option<crate::writer::WriterHandle>,
    /// An own-log fetch is in flight.
    fetching_own: bool,
    /// Where the last own-log fetch asked the peer to start.
    own_fetch_from: u64,
    /// A node key replaced by a council act, waiting for a peer to hold the act.
    handover: crate::writer::Handover,
}

impl std::fmt::Debug for NetNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetNode").field("council", &self.own).field("proto", &self.proto).finish_non_exhaustive()
    }
}

fn verdict(v: GossipVerdict) -> Verdict {
    match v {
        GossipVerdict::Accept => Verdict::Accept,
        GossipVerdict::Ignore => Verdict::Ignore,
        GossipVerdict::Reject => Verdict::Reject,
    }
}

/// Whether a peer id belongs to this node key.
fn is_node_of(peer: &PeerId, key: &council_core::PublicKey) -> bool {
    peer_id_of(key) == *peer
}

impl NetNode {
    /// Sets up the task: `own` is the node's own council as replayed at start. Followed
    /// logs and joins are read from the store.
    pub fn new(
        own: CouncilState,
        store: Store,
        net: NetHandle,
        dial: Vec<Multiaddr>,
        p2p_addr_file: PathBuf,
        clock: CausalClock,
    ) -> Result<(NetNode, NetControl), StoreError> {
        let own_id = own.id();
        let own_genesis = store.genesis()?.ok_or_else(|| StoreError::Corrupt("no genesis".into()))?;
        let mut replicas = Replicas::new();
        replicas.insert(own);
        // Followed logs were checked before they were stored; replaying them rebuilds
        // the same states. A log that no longer replays is dropped from that point
        // (and synced again), never trusted. Whole logs first, then federation-level
        // copies (PROTOCOL.md §12.9), whose entries skip places.
        let stored = store.foreign_geneses().map(|g| (g, false)).chain(store.copy_geneses().map(|g| (g, true)));
        for (g, copy) in stored {
            let g = g?;
            let id = g.council_id();
            if id == own_id || replicas.get(&id).is_some() {
                continue;
            }
            let Ok(v) = verify_genesis(g) else { continue };
            if (if copy { replicas.follow_copy(v) } else { replicas.follow(v) }).is_err() {
                continue;
            }
            for e in store.foreign_entries(&id, 1) {
                let e = Verified::from_own_store(e?);
                let seq = e.body.seq;
                if replicas.judge_synced(e) != Judgement::Applied {
                    tracing::warn!(council = %id.short(), seq, copy, "a stored foreign entry does not replay; syncing it again");
                    break;
                }
            }
        }
        for st in replicas.councils().values() {
            if let Some(t) = st.fed_events().iter().map(|e| e.time).max() {
                if st.id() != own_id {
                    clock.saw(t);
                }
            }
        }
        let mut joins = BTreeMap::new();
        for (f, v) in store.joins()? {
            if let Ok(j) = Join::from_cbor(&v) {
                joins.insert(f, j);
            }
        }
        let mut forked = BTreeSet::new();
        for p in store.equivocations() {
            forked.insert(p?.a.body.council);
        }
        let mut dial = dial;
        for j in joins.values() {
            dial.extend(j.addrs.iter().cloned());
        }
        let (internal, internal_rx) = mpsc::channel(1024);
        let (ctx, crx) = mpsc::channel(CONTROL_QUEUE);
        let node = NetNode {
            own: own_id,
            own_genesis,
            store,
            net,
            replicas,
            joins,
            refusals: HashMap::new(),
            proto: Peering::new(own_id, dial, MIN_STALL.as_millis() as u64),
            started: tokio::time::Instant::now(),
            claims: Vec::new(),
            provisional: HashMap::new(),
            listen: Vec::new(),
            p2p_addr_file,
            forked,
            fed: None,
            fed_until: None,
            access: None,
            access_fresh: false,
            internal,
            internal_rx: Some(internal_rx),
            control_rx: Some(crx),
            clock,
            metrics: Metrics::default(),
            listen_when_federated: None,
            halt: crate::writer::Halt::default(),
            catch_up: crate::writer::CatchUp::default(),
            writer: None,
            fetching_own: false,
            own_fetch_from: 0,
            handover: crate::writer::Handover::default(),
        };
        Ok((node, NetControl { tx: ctx }))
    }

    /// While `catch_up` is on, fetches this council's own newer entries from peers and
    /// hands them to `writer`; turns it off once a peer shows the log holds all it has.
    pub fn with_catch_up(mut self, catch_up: crate::writer::CatchUp, writer: crate::writer::WriterHandle) -> Self {
        self.catch_up = catch_up;
        self.writer = Some(writer);
        self
    }

    /// Confirms `handover` once a federation peer holds this council's log through the
    /// act that replaced its node key (or at once if no other council's node is a peer).
    pub fn with_handover(mut self, handover: crate::writer::Handover) -> Self {
        self.handover = handover;
        self
    }

    /// What of a followed council bears on who may connect: its federation events, and
    /// its node key (a council act that replaced it changes which peer id is its node).
    fn standing_marks(&self, council: &CouncilId) -> (usize, Option<council_core::PublicKey>) {
        let st = self.replicas.get(council);
        (st.map(|s| s.fed_events().len()).unwrap_or(0), st.map(|s| s.node_key()))
    }

    /// A peer's heads answer for a federation: while a node key waits to be presented,
    /// whether the peer holds this council's log through the act that replaced it.
    fn handover_heads(&mut self, peer: PeerId, heads: &Result<Option<Vec<council_net::Head>>, NetError>) {
        let Some(through) = self.handover.pending() else { return };
        let ours = self.own_state().map(|s| s.seq()).unwrap_or(0);
        let holds = match heads {
            // The same heads as this node's: the peer holds the log as far as it does.
            Ok(None) => ours >= through,
            Ok(Some(hs)) => hs.iter().any(|h| h.council == self.own && h.seq >= through),
            Err(_) => false,
        };
        if holds {
            tracing::info!(%peer, through, "a federation peer holds the act that replaced the node key");
            self.handover.confirm();
        }
    }

    /// Sets `halt` when this council's node key is seen signing elsewhere.
    pub fn with_halt(mut self, halt: crate::writer::Halt) -> Self {
        self.halt = halt;
        self
    }

    /// Listens on `addr` once this council takes part in a federation, and not before.
    pub fn listen_when_federated(mut self, addr: Option<Multiaddr>) -> Self {
        self.listen_when_federated = addr;
        self
    }

    /// Counts into `metrics` (gossip verdicts, equivocations) instead of a set nobody reads.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs until `shutdown` turns true or the network stops.
    pub async fn run(
        mut self,
        mut events: mpsc::Receiver<NetEvent>,
        mut durable: watch::Receiver<Sealed>,
        sync_every: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let (Some(mut internal), Some(mut control)) = (self.internal_rx.take(), self.control_rx.take()) else {
            return;
        };
        let stall_after = (sync_every * STALL_TICKS).max(MIN_STALL);
        self.proto.set_stall_after(stall_after.as_millis() as u64);
        let d = durable.borrow_and_update().clone();
        self.catch_up_own(d).await;
        self.settle().await;
        self.proto.start();
        self.carry_out().await;
        let mut tick = tokio::time::interval(sync_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Local work first (rust-libp2p's guidelines): the operator's and members'
            // requests, this council's own new entries, answers to this node's own
            // requests; only then new remote work, and the housekeeping tick.
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                Some(c) = control.recv() => self.on_control(c).await,
                r = durable.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let d = durable.borrow_and_update().clone();
                    self.catch_up_own(d).await;
                }
                Some(i) = internal.recv() => self.on_internal(i).await,
                ev = events.recv() => match ev {
                    Some(ev) => self.on_event(ev).await,
                    None => break,
                },
                _ = tick.tick() => self.tick().await,
            }
        }
        tracing::debug!("network task stopped");
    }

    fn own_state(&self) -> Option<&CouncilState> {
        self.replicas.get(&self.own)
    }

    /// Applies the own council's newly durable entries to its copy and publishes them
    /// on every federation topic. They come from the writer with the news that they are
    /// on disk; only if this task fell more than a batch behind are the missing ones read
    /// back from the store.
    async fn catch_up_own(&mut self, sealed: Sealed) {
        let durable = sealed.seq;
        let mut handed = Some(sealed.batch);
        loop {
            let have = self.own_state().map(|s| s.seq()).unwrap_or(0);
            if have >= durable {
                return;
            }
            let from_writer = handed.take().filter(|b| b.first().is_some_and(|a| a.entry.body.seq <= have + 1));
            // Only what is on disk: an entry published and then lost in a crash would be
            // signed again differently, and the pair would prove this node forked. The
            // writer's batch comes with the bytes it stored, published as they are.
            let entries: Vec<(Entry, Vec<u8>)> = match from_writer {
                Some(b) => b
                    .iter()
                    .filter(|a| a.entry.body.seq > have)
                    .map(|a| (a.entry.clone(), entry_item_bytes(a.bytes())))
                    .collect(),
                None => {
                    let store = self.store.clone();
                    tokio::task::block_in_place(|| {
                        store
                            .entries(have + 1)
                            .take_while(|e| e.as_ref().map(|e| e.body.seq <= durable).unwrap_or(false))
                            .take(10_000)
                            .filter_map(Result::ok)
                            .map(|e| {
                                let bytes = entry_item_bytes(&e.to_cbor());
                                (e, bytes)
                            })
                            .collect()
                    })
                }
            };
            if entries.is_empty() {
                tracing::error!(have, durable, "the node's own durable entries cannot be read");
                return;
            }
            for (e, bytes) in entries {
                let time = e.body.time;
                let before = self.own_state().map(|s| s.fed_events().len()).unwrap_or(0);
                let payload = e.body.payload.clone();
                let j = self.replicas.judge(Verified::from_own_store(e));
                if j != Judgement::Applied {
                    tracing::error!(?j, "the node's own entry did not apply to its copy");
                    return;
                }
                let federation_level = self.own_state().is_some_and(|s| s.is_federation_level(&payload));
                // Any entry moves its council's clock, and a federation's clock closes
                // its motions (PROTOCOL.md §8): the federation state is stale.
                self.stale();
                let fresh = now().saturating_sub(time) <= GOSSIP_FRESH_SECS;
                let moved = self.own_state().map(|s| s.fed_events().len()).unwrap_or(0) != before;
                // An entry that changes what this council takes part in goes out on the
                // topics it had before (a leave reaches the federation it leaves, before
                // the gate closes on its peers) and then on any topic it gains (a charter
                // signed needs its new federation's topic, and its peers let in on it).
                let mut published = BTreeSet::new();
                if moved && fresh {
                    published = self.proto.topics().clone();
                    self.publish_own(&published, &bytes).await;
                }
                if moved {
                    self.settle().await;
                }
                if !fresh {
                    // Too old for gossip (a node that fell far behind its own writer):
                    // peers get it by sync.
                    continue;
                }
                let topics: BTreeSet<FederationId> = self.proto.topics().difference(&published).copied().collect();
                self.publish_own(&topics, &bytes).await;
                // Its federation-level entries go to every council a federation of
                // federations binds with it, too (PROTOCOL.md §12.9).
                if federation_level {
                    for f in self.proto.access().wide().keys() {
                        if let Err(e) = self.net.publish(&council_net::wide_topic(f), bytes.clone()).await {
                            tracing::debug!(error = %e, "not published (peers catch up by sync)");
                        }
                    }
                }
            }
        }
    }

    async fn publish_own(&self, topics: &BTreeSet<FederationId>, bytes: &[u8]) {
        for f in topics {
            if let Err(e) = self.net.publish(&federation_topic(f), bytes.to_vec()).await {
                tracing::debug!(error = %e, "not published (peers catch up by sync)");
            }
        }
    }

    /// A followed council's log moved on with no federation event: its clock moved, which
    /// can close a federation's motions (PROTOCOL.md §8), but standing is unchanged (it
    /// depends on federation events, joins, invites shown, and the time, which
    /// [`NetNode::access`] watches).
    fn clock_moved(&mut self) {
        self.fed = None;
    }

    /// Marks everything derived from the logs as out of date.
    fn stale(&mut self) {
        self.fed = None;
        self.access_fresh = false;
    }

    /// Who may read what, from the cache or computed now.
    fn access(&mut self) -> Arc<Access> {
        if let Some(a) = self.access.as_ref().filter(|_| self.access_fresh) {
            if a.next_change().is_none_or(|t| now() < t) {
                return a.clone();
            }
        }
        let charters = self.own_charters();
        let joining: BTreeMap<FederationId, InviteProof> =
            self.joins.iter().map(|(f, j)| (*f, j.proof.clone())).collect();
        let own = self.own;
        let t = now();
        self.federation_state();
        let reports = self.fed.as_ref().map_or(&[][..], |(r, _)| &r[..]);
        let a = Arc::new(Access::compute(AccessInputs {
            own,
            reports,
            charters: &charters,
            joining: &joining,
            claims: &self.claims,
            now: t,
        }));
        // Claims that grant nothing any more are forgotten.
        self.claims.retain(|c| a.circle(&c.federation).is_some_and(|circle| circle.contains(&c.council)));
        self.drop_outgrown_copies(&a);
        self.access = Some(a.clone());
        self.access_fresh = true;
        a
    }

    /// The charters this council signed or has an open motion to sign.
    fn own_charters(&self) -> BTreeMap<FederationId, Charter> {
        let mut m = BTreeMap::new();
        if let Some(st) = self.own_state() {
            for ev in st.fed_events() {
                if let FedEventKind::SignCharter { id, charter, .. } = &ev.kind {
                    m.insert(*id, charter.as_ref().clone());
                }
            }
            for mo in st.open_motions() {
                if let MotionForm::YesNo(Action::SignCharter { charter, .. }) = &mo.body.form {
                    m.insert(charter.id(), charter.clone());
                }
            }
        }
        m
    }

    fn federation_state(&mut self) -> &(Vec<FederationReport>, Vec<FedError>) {
        let t = now();
        if self.fed_until.is_some_and(|until| t >= until) {
            self.fed = None;
        }
        let (replicas, until) = (&self.replicas, &mut self.fed_until);
        self.fed.get_or_insert_with(|| {
            let fed = federation::evaluate_at(replicas.councils(), t);
            // A motion still open at `t` has `closes_at >= t`; it closes once the clock
            // is past it.
            *until =
                fed.0.iter().flat_map(|r| &r.motions).filter(|m| m.outcome.is_none()).map(|m| m.closes_at + 1).min();
            fed
        })
    }

    /// Forgets the joins that succeeded: the council is a member of that federation now,
    /// and stands by its membership, not by the invite.
    fn joins_done(&mut self) {
        if self.joins.is_empty() {
            return;
        }
        let own = self.own;
        let joins: Vec<FederationId> = self.joins.keys().copied().collect();
        let reports = &self.federation_state().0;
        let done: Vec<FederationId> = joins
            .into_iter()
            .filter(|f| {
                reports.iter().any(|r| r.id == *f && r.members.iter().any(|m| m.council == own && m.left_at.is_none()))
            })
            .collect();
        for f in done {
            self.joins.remove(&f);
            if let Err(e) = self.store.remove_join(&f) {
                tracing::warn!(error = %e, "cannot forget a finished join");
            }
            tracing::info!(federation = %f.short(), "joined: this council is a member of the federation");
            self.stale();
        }
    }

    /// Brings [`Peering`] up to the standing that holds now (a log, a join, an invite shown
    /// or the clock may have changed it), and carries out what it decides.
    async fn settle(&mut self) {
        self.joins_done();
        let access = self.access();
        if !Arc::ptr_eq(&access, self.proto.access()) {
            self.proto.set_access(access, &self.replicas);
        }
        self.open_if_federated().await;
        self.carry_out().await;
    }

    /// Opens the listener kept for when this council takes part in a federation: it is
    /// joining one with an invite, or is in a federation's circle with another council (a
    /// founder that signed a charter, a member).
    async fn open_if_federated(&mut self) {
        if self.listen_when_federated.is_none() {
            return;
        }
        let own = self.own;
        let federated = !self.joins.is_empty() || self.proto.access().councils().iter().any(|c| *c != own);
        if !federated {
            return;
        }
        let Some(addr) = self.listen_when_federated.take() else { return };
        match self.net.listen(addr.clone()).await {
            Ok(()) => {
                tracing::info!(%addr, "this council takes part in a federation now: listening for other councils' nodes")
            }
            Err(e) => {
                tracing::error!(%addr, error = %e, "cannot listen for other councils' nodes (network.listen_when_federated)")
            }
        }
    }

    /// Carries out what [`Peering`] decided, in order. Requests run as tasks of their own
    /// and come back as [`Internal`]s.
    async fn carry_out(&mut self) {
        for out in self.proto.take() {
            match out {
                Out::Hello(peer) => self.say_hello(peer),
                Out::Heads(peer, req) => {
                    let (net, tx) = (self.net.clone(), self.internal.clone());
                    tokio::spawn(async move {
                        let federation = req.federation;
                        let result = net.heads(peer, req).await;
                        let _ = tx.send(Internal::Heads { peer, federation, result }).await;
                    });
                }
                Out::Sync(peer, req) => {
                    let (net, tx) = (self.net.clone(), self.internal.clone());
                    tokio::spawn(async move {
                        let (council, from) = (req.council, req.from_seq);
                        let result = net.sync(peer, req).await;
                        let _ = tx.send(Internal::Synced { peer, council, from, result }).await;
                    });
                }
                Out::Probe(peer, id, req) => {
                    let (net, tx) = (self.net.clone(), self.internal.clone());
                    tokio::spawn(async move {
                        let _ = net.sync(peer, req).await;
                        let _ = tx.send(Internal::Probed { peer, id }).await;
                    });
                }
                Out::Disconnect(peer, why) => {
                    match why {
                        Gone::HelloFlood => {
                            tracing::info!(%peer, "a peer says hello too often: closing its connections")
                        }
                        Gone::Stalled => {
                            tracing::info!(%peer, "a peer left a probe unanswered: closing its connections (it is redialed)")
                        }
                    }
                    let _ = self.net.disconnect(peer).await;
                }
                Out::Dial(addr) => {
                    let _ = self.net.dial(addr).await;
                }
                Out::Subscribe(f) => {
                    if let Err(e) = self.net.subscribe(&federation_topic(&f)).await {
                        tracing::warn!(error = %e, "cannot subscribe to a federation topic");
                    }
                    tracing::info!(federation = %f.short(), "following a federation");
                }
                Out::SubscribeWide(f) => {
                    if let Err(e) = self.net.subscribe(&council_net::wide_topic(&f)).await {
                        tracing::warn!(error = %e, "cannot subscribe to a federation-level topic");
                    }
                    tracing::info!(federation = %f.short(), "following a federation of federations' federation-level records");
                }
                Out::Allow(allowed) => {
                    let _ = self.net.allow(allowed).await;
                }
            }
        }
    }

    /// The time [`Peering`] goes by.
    fn millis(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    async fn on_event(&mut self, ev: NetEvent) {
        match ev {
            NetEvent::Listening(a) => {
                let full = a.with(libp2p_protocol::P2p(self.net.peer_id()));
                tracing::info!(addr = %full, "listening for other councils' nodes");
                self.listen.push(full);
                let text: String = self.listen.iter().map(|a| format!("{a}\n")).collect();
                if let Err(e) = crate::datadir::write_private(&self.p2p_addr_file, text.as_bytes()) {
                    tracing::warn!(error = %e, "cannot write the p2p address file");
                }
            }
            NetEvent::Connected { peer, dialed } => {
                // The dialer speaks first; the dialed node waits for its hello.
                self.proto.connected(peer, dialed);
                self.carry_out().await;
            }
            NetEvent::Disconnected(peer) => self.proto.disconnected(peer),
            NetEvent::Hello { from, hello, channel } => {
                let t = self.millis();
                if !self.proto.hello_arrived(from, t) {
                    self.carry_out().await;
                    return;
                }
                let answer = match self.judge_hello(&from, &hello) {
                    Ok((council, by_invite)) => {
                        self.settle().await;
                        self.proto.accept(from, council, &self.replicas);
                        self.carry_out().await;
                        tracing::info!(%from, council = %council.short(), by_invite, "welcomed a council's node");
                        Response::Welcome(Box::new(self.own_genesis.clone()))
                    }
                    Err(why) => {
                        tracing::debug!(%from, reason = %why, "refused a hello");
                        Response::Refused(why)
                    }
                };
                let _ = self.net.respond(channel, answer).await;
            }
            NetEvent::SyncRequest { from, request, channel } => {
                self.settle().await;
                let whole = self.proto.may_read(&from, &request.council);
                let answer = if whole || self.proto.may_copy(&from, &request.council) {
                    // A peer bound with that council only by a federation of federations
                    // gets its federation-level entries, never its ballots (§12.9).
                    let answer = tokio::task::block_in_place(|| self.serve_sync(&request, !whole));
                    tracing::debug!(%from, council = %request.council.short(), from_seq = request.from_seq, entries = answer.entries.len(), copy = !whole, "served a sync request");
                    Response::Sync(answer)
                } else {
                    tracing::debug!(%from, council = %request.council.short(), "refused a sync request: no standing");
                    Response::Refused("no standing to read that log here".into())
                };
                let _ = self.net.respond(channel, answer).await;
            }
            NetEvent::HeadsRequest { from, request, channel } => {
                self.settle().await;
                let answer = match self.proto.heads_for(&from, &request, &self.replicas) {
                    Ok(heads) => {
                        // The peer's heads are this node's: it holds this council's log as
                        // far as this node does.
                        if heads.is_none() {
                            self.handover_heads(from, &Ok(None));
                        }
                        Response::Heads(heads)
                    }
                    Err(why) => Response::Refused(why.into()),
                };
                let _ = self.net.respond(channel, answer).await;
            }
            NetEvent::Gossip { id, from, data, topic } => {
                let (v, reason) = match council_net::federation_of_topic(topic.as_str()) {
                    Some(f) => self.on_gossip(&from, f, &data).await,
                    None => match council_net::federation_of_wide_topic(topic.as_str()) {
                        Some(f) => self.on_wide_gossip(&from, f, &data).await,
                        None => (Verdict::Reject, "not-a-federation-topic"),
                    },
                };
                self.metrics.judged(v, reason);
                let _ = self.net.validate(id, from, v).await;
            }
        }
    }

    fn say_hello(&mut self, peer: PeerId) {
        let hello = Hello {
            genesis: self.own_genesis.clone(),
            invites: self
                .joins
                .values()
                .take(council_net::MAX_HELLO_INVITES)
                .map(|j| (j.federation, j.proof.clone()))
                .collect(),
        };
        let (net, tx) = (self.net.clone(), self.internal.clone());
        tokio::spawn(async move {
            let result = net.hello(peer, hello).await;
            let _ = tx.send(Internal::Welcome { peer, result }).await;
        });
    }

    /// Decides whether a peer presenting this hello is let in: its council, and whether
    /// it came in by invite. The cheap checks come first: a stranger with no standing
    /// and no invite the logs record costs no signature check at all, and a genesis
    /// (which may carry a thousand founders' signatures) is checked only for a council
    /// that would be let in.
    fn judge_hello(&mut self, from: &PeerId, hello: &Hello) -> Result<(CouncilId, bool), String> {
        let council = self.check_node(from, &hello.genesis)?;
        let refused = || {
            Err(format!(
                "council {} has no standing here, and shows no valid invite (an invite is valid while unexpired and not used up)",
                council.short()
            ))
        };
        let access = self.access();
        let claim = if access.admitted().contains(&council) {
            None
        } else {
            let t = now();
            self.federation_state();
            let reports = self.fed.as_ref().map_or(&[][..], |(r, _)| &r[..]);
            // The first reason an invite shown is closed, for the joining council to see.
            let mut why = None;
            let claim = hello.invites.iter().find_map(|(f, proof)| {
                let Some(report) = reports.iter().find(|r| r.id == *f && access.circle(f).is_some()) else {
                    why.get_or_insert_with(|| format!("this node is in no federation {}", f.short()));
                    return None;
                };
                if let Some(closed) = Access::invite_closed(report, proof, t) {
                    why.get_or_insert(closed);
                    return None;
                }
                InviteClaim::check(council, *f, proof.clone())
            });
            let Some(claim) = claim else {
                return match why {
                    Some(why) => Err(format!("council {} has no standing here: {why}", council.short())),
                    None => refused(),
                };
            };
            if self.claims.len() >= MAX_CLAIMS {
                return Err("this node holds too many pending invites; try again later".into());
            }
            Some(claim)
        };
        // Only now the genesis's signatures (once per council: a followed council's
        // genesis is not checked again).
        self.follow(hello.genesis.clone())?;
        let by_invite = claim.is_some();
        if let Some(claim) = claim {
            self.claims.retain(|c| !(c.council == claim.council && c.federation == claim.federation));
            self.claims.push(claim);
            self.stale();
        }
        Ok((council, by_invite))
    }

    /// Checks that `peer` is the node of the council whose genesis this is, without
    /// checking the genesis's signatures ([`NetNode::follow`] does).
    fn check_node(&self, peer: &PeerId, g: &Genesis) -> Result<CouncilId, String> {
        let council = g.council_id();
        if council == self.own {
            return Err("that is this node's own council".into());
        }
        // The cheap checks first: a genesis may carry a thousand founders' signatures,
        // and anyone may say hello.
        let followed = self.replicas.get(&council);
        let key = followed.map(|s| s.node_key()).unwrap_or(g.body.node_key);
        if !is_node_of(peer, &key) {
            return Err(format!("the peer is not the node of council {}", council.short()));
        }
        Ok(council)
    }

    /// Starts following a council, checking its genesis (a followed council's genesis was
    /// checked when it was first followed, and the council id is the hash of the genesis:
    /// the same bytes again need no new check).
    fn follow(&mut self, genesis: Genesis) -> Result<(), String> {
        self.follow_as(genesis, false)
    }

    /// [`NetNode::follow`], as a federation-level copy if `copy` (or if access says so).
    fn follow_as(&mut self, genesis: Genesis, copy: bool) -> Result<(), String> {
        let id = genesis.council_id();
        if self.replicas.get(&id).is_some() {
            return Ok(());
        }
        // A council bound with this one only by a federation of federations: its
        // federation-level entries alone (PROTOCOL.md §12.9).
        let access = self.access();
        let copy = copy || (!access.councils().contains(&id) && access.copies().contains(&id));
        let v = verify_genesis(genesis.clone()).map_err(|e| format!("invalid genesis: {e}"))?;
        let followed = if copy { self.replicas.follow_copy(v) } else { self.replicas.follow(v) };
        if let Err(e) = followed {
            tracing::warn!(council = %id.short(), error = %e, "cannot follow a council");
            return Err(format!("cannot follow the council: {e}"));
        }
        let stored =
            if copy { self.store.put_copy_genesis(&genesis) } else { self.store.put_foreign_genesis(&genesis) };
        if let Err(e) = stored {
            tracing::error!(error = %e, "cannot store a followed council's genesis");
        }
        tracing::info!(council = %id.short(), name = %genesis.body.name, copy, "following a council");
        self.stale();
        Ok(())
    }

    /// Copies of councils whose whole log this council may read now (it joined their
    /// federation) are dropped, so that the whole log is synced in their place; so are
    /// copies taken from a welcome (see `on_internal`) that, once nothing is left
    /// unresolved, no federation of federations justifies.
    fn drop_outgrown_copies(&mut self, access: &Access) {
        let whole = access.councils();
        let copies = access.copies();
        let t = now();
        // A provisional copy that a wide circle holds now is justified.
        self.provisional.retain(|c, _| !copies.contains(c));
        let provisional = &self.provisional;
        let dropped: Vec<CouncilId> = self
            .replicas
            .councils()
            .values()
            .filter(|st| st.is_partial())
            .map(CouncilState::id)
            .filter(|c| {
                let lapsed = provisional.get(c).is_some_and(|since| t.saturating_sub(*since) > PROVISIONAL_SECS);
                // Kept while a wide circle holds it, or, provisional, while still unresolved.
                let kept = copies.contains(c) || (access.unresolved() && provisional.contains_key(c));
                whole.contains(c) || lapsed || !kept
            })
            .collect();
        for c in dropped {
            self.provisional.remove(&c);
            self.replicas.forget(&c);
            if let Err(e) = self.store.drop_copy(&c) {
                tracing::error!(error = %e, "cannot drop a federation-level copy");
            }
            tracing::info!(council = %c.short(), whole = whole.contains(&c), "dropped a federation-level copy (the whole log is synced instead, if this council may read it)");
            self.fed = None;
        }
    }

    /// Entries of a council this node holds (its own, or one it follows).
    fn serve_sync(&self, r: &SyncRequest, copy_only: bool) -> SyncResponse {
        let mut out = SyncResponse::default();
        let Some(st) = self.replicas.get(&r.council) else { return out };
        let own = r.council == self.own;
        if r.from_seq == 0 {
            out.genesis =
                if own { Some(self.own_genesis.clone()) } else { self.foreign_genesis(&r.council) }.map(Box::new);
        }
        let from = r.from_seq.max(1);
        // Only what this node has applied (its copy), so a half-written tail is never served.
        let upto = st.seq();
        let max = (r.max_entries as usize).min(council_net::MAX_SYNC_ENTRIES);
        let mut bytes = 0usize;
        let budget = council_net::MAX_SYNC_RESPONSE_BYTES - 64 * 1024;
        let store = &self.store;
        let iter: Box<dyn Iterator<Item = Result<Entry, StoreError>>> =
            if own { Box::new(store.entries(from)) } else { Box::new(store.foreign_entries(&r.council, from)) };
        let copy = |e: &Result<Entry, StoreError>| {
            !copy_only || e.as_ref().is_ok_and(|e| st.is_federation_level(&e.body.payload))
        };
        for e in iter.filter(copy).take(max) {
            let Ok(e) = e else { break };
            if e.body.seq > upto {
                break;
            }
            let b = e.to_cbor();
            bytes += b.len() + 8;
            if bytes > budget {
                break;
            }
            out.entries.push(b);
        }
        out
    }

    /// The genesis of a council this node follows, whole or as a copy.
    fn foreign_genesis(&self, id: &CouncilId) -> Option<Genesis> {
        self.store
            .foreign_geneses()
            .chain(self.store.copy_geneses())
            .find_map(|g| g.ok().filter(|g| g.council_id() == *id))
    }

    async fn on_internal(&mut self, i: Internal) {
        match i {
            Internal::Welcome { peer, result } => match result {
                Ok(Response::Welcome(g)) => match self.check_node(&peer, &g) {
                    Ok(council) => {
                        self.refusals.remove(&peer);
                        // Rebuilding this council's log (`councild recover`): the log may
                        // not yet show the federation that makes this peer one, but a
                        // node that welcomed this council serves it its own log (each
                        // entry is checked against this council's node key by the writer).
                        if self.catch_up.on() {
                            let ours = self.own_state().map(|s| s.seq()).unwrap_or(0);
                            self.fetch_own(peer, ours + 1);
                        }
                        let access = self.access();
                        // A federation of federations of this council's names a member
                        // federation no log here shows yet: the welcoming node's council
                        // may be one of its councils. Its federation-level copy (signed
                        // by its own node key) shows whether it is (PROTOCOL.md §12.9).
                        let provisional = !access.admitted().contains(&council)
                            && access.unresolved()
                            && self.provisional.len() < MAX_PROVISIONAL;
                        if !access.admitted().contains(&council) && !provisional {
                            tracing::info!(%peer, council = %council.short(), "welcomed by a council this council has no federation with: not following it");
                        } else if let Err(why) = {
                            if provisional && self.replicas.get(&council).is_none() {
                                self.provisional.insert(council, now());
                            }
                            self.follow_as(*g, provisional)
                        } {
                            tracing::info!(%peer, reason = %why, "a welcome that does not add up");
                        } else {
                            self.settle().await;
                            self.proto.accept(peer, council, &self.replicas);
                            self.carry_out().await;
                        }
                    }
                    Err(why) => tracing::info!(%peer, reason = %why, "a welcome that does not add up"),
                },
                Ok(Response::Refused(why)) => {
                    tracing::info!(%peer, reason = %why, "a peer refused this council");
                    if self.refusals.len() < 1024 || self.refusals.contains_key(&peer) {
                        self.refusals.insert(peer, why);
                    }
                }
                Ok(Response::Sync(_) | Response::Heads(_)) => {
                    tracing::debug!(%peer, "answered hello with something else")
                }
                Err(e) => tracing::debug!(%peer, error = %e, "hello failed"),
            },
            Internal::OwnSynced { peer, result } => self.on_own_synced(peer, result).await,
            Internal::Synced { peer, council, from, result } => {
                let (served, applied) = match result {
                    Ok(r) => self.on_synced(peer, council, from, r).await,
                    Err(e) => {
                        tracing::debug!(%peer, error = %e, "sync failed");
                        (0, 0)
                    }
                };
                self.settle().await;
                self.proto.synced(peer, council, served, applied, &self.replicas);
                self.carry_out().await;
            }
            Internal::Probed { peer, id } => self.proto.probed(peer, id),
            Internal::Heads { peer, federation, result } => {
                self.handover_heads(peer, &result);
                if self.catch_up.on() {
                    match &result {
                        // The digests agree: the peer holds this council's log exactly as
                        // far as this node does.
                        Ok(None) => self.own_log_confirmed(peer),
                        Ok(Some(hs)) => {
                            if let Some(h) = hs.iter().find(|h| h.council == self.own) {
                                self.own_head_seen(peer, h.seq, h.head);
                            }
                        }
                        Err(_) => {}
                    }
                }
                let heads = result.unwrap_or_else(|e| {
                    tracing::debug!(%peer, error = %e, "heads request failed");
                    None
                });
                self.settle().await;
                self.proto.heads_answered(peer, federation, heads, &self.replicas);
                self.carry_out().await;
            }
        }
    }

    /// While catching up: a member peer says this council's log reaches `seq` (with
    /// `head` there). Further than here: fetch from it. Not further, and the same entry:
    /// the log holds all that peer has, and signing resumes.
    fn own_head_seen(&mut self, peer: PeerId, seq: u64, head: council_core::Hash) {
        let ours = self.replicas.get(&self.own).map(|s| s.seq()).unwrap_or(0);
        if seq > ours {
            tracing::info!(%peer, have = ours, peer_has = seq, "fetching this council's own newer entries before signing again");
            self.fetch_own(peer, ours + 1);
            return;
        }
        let same = if seq == 0 {
            head == self.own
        } else {
            self.store.entry(seq).ok().flatten().is_some_and(|e| e.id() == head)
        };
        if same {
            self.own_log_confirmed(peer);
        } else {
            tracing::warn!(%peer, seq, "a peer holds a different entry of this council's log at a place this node holds: not signing (see the double-run guard)");
        }
    }

    /// Asks `peer` for this council's own entries from `from` on (one request at a time).
    fn fetch_own(&mut self, peer: PeerId, from: u64) {
        if self.fetching_own {
            return;
        }
        self.fetching_own = true;
        self.own_fetch_from = from;
        let (net, tx) = (self.net.clone(), self.internal.clone());
        let req = SyncRequest { council: self.own, from_seq: from, max_entries: crate::proto::SYNC_BATCH };
        tokio::spawn(async move {
            let result = net.sync(peer, req).await;
            let _ = tx.send(Internal::OwnSynced { peer, result }).await;
        });
    }

    /// A member peer holds no more of this council's log than this node: signing resumes.
    fn own_log_confirmed(&mut self, peer: PeerId) {
        if let Err(e) = self.store.set_recovering(false).and_then(|()| self.store.set_catching_up(false)) {
            tracing::warn!(error = %e, "cannot record that the log caught up");
            return;
        }
        self.catch_up.done();
        let ours = self.replicas.get(&self.own).map(|s| s.seq()).unwrap_or(0);
        tracing::info!(%peer, seq = ours, "this council's log holds everything a federation peer has of it: signing again");
    }

    /// Own-log entries a peer sent while catching up: checked by the writer through the
    /// council rules, and stored.
    async fn on_own_synced(&mut self, peer: PeerId, result: Result<SyncResponse, NetError>) {
        self.fetching_own = false;
        let r = match result {
            Ok(r) => r,
            Err(e) => {
                tracing::info!(%peer, error = %e, "could not fetch this council's own entries");
                return;
            }
        };
        let entries: Vec<Entry> = r.entries.iter().filter_map(|b| Entry::from_cbor(b).ok()).collect();
        // More may follow as long as the peer sends any (an answer is also cut at its byte
        // budget, before the batch is full).
        let more = !entries.is_empty();
        let Some(writer) = self.writer.clone() else { return };
        match writer.adopt(entries).await {
            Ok(len) => {
                tracing::info!(%peer, len, "took this council's own entries from a peer");
                // Only while the log grows: a peer that serves nothing new is not asked again.
                if more && len >= self.own_fetch_from && self.catch_up.on() {
                    self.fetch_own(peer, len + 1);
                }
            }
            Err(e) => tracing::warn!(%peer, error = %e, "this council's own entries from a peer do not fit its log"),
        }
    }

    /// Judges and keeps what a sync brought: how many entries were served, and how many
    /// of them were new here.
    async fn on_synced(&mut self, peer: PeerId, council: CouncilId, from: u64, r: SyncResponse) -> (usize, usize) {
        if from == 0 {
            let Some(g) = r.genesis else { return (0, 0) };
            if g.council_id() != council {
                tracing::warn!(%peer, "a sync response carried another council's genesis");
                return (0, 0);
            }
            // A council followed already (a provisional copy, see `on_internal`) or one
            // with standing here.
            let known = self.replicas.get(&council).is_some() || self.access().admitted().contains(&council);
            if !known || self.follow(*g).is_err() {
                return (0, 0);
            }
        }
        let n = r.entries.len();
        let (mut applied, mut fed_changed) = (Vec::new(), false);
        // Signatures first, all together; then the rules, in order.
        let checked: Vec<Result<Verified<Entry>, String>> = tokio::task::block_in_place(|| {
            r.entries
                .iter()
                .map(|b| {
                    let e = Entry::from_cbor(b).map_err(|e| e.to_string())?;
                    if e.body.council != council {
                        return Err("an entry of another council".into());
                    }
                    verify_entry(e).map_err(|e| e.to_string())
                })
                .collect()
        });
        for c in checked {
            let e = match c {
                Ok(e) => e,
                Err(why) => {
                    tracing::warn!(%peer, reason = %why, "a peer served a bad entry in sync");
                    break;
                }
            };
            let stored = e.get().clone();
            // A copy takes the federation-level entries alone; a peer that may read the
            // whole log serves it whole.
            if self
                .replicas
                .get(&council)
                .is_some_and(|st| st.is_partial() && !st.is_federation_level(&stored.body.payload))
            {
                continue;
            }
            let before = self.standing_marks(&council);
            match self.replicas.judge_synced(e) {
                Judgement::Applied => {
                    if self.standing_marks(&council) != before {
                        fed_changed = true;
                        self.clock.saw(stored.body.time);
                    }
                    applied.push(stored);
                }
                Judgement::Duplicate => {}
                Judgement::Conflict { seq } => {
                    self.equivocation(council, seq, stored).await;
                    break;
                }
                Judgement::Invalid(why) => {
                    tracing::warn!(%peer, council = %council.short(), reason = %why, "a peer served an invalid entry in sync");
                    break;
                }
                Judgement::Gap { .. } | Judgement::Unknown(_) => break,
            }
        }
        if !applied.is_empty() {
            self.clock_moved();
            let store = self.store.clone();
            if let Err(e) = tokio::task::block_in_place(|| store.append_foreign(&applied)) {
                tracing::error!(error = %e, "cannot store followed entries");
            }
            tracing::debug!(council = %council.short(), entries = applied.len(), "caught up by sync");
        }
        if fed_changed {
            self.stale();
        }
        (n, applied.len())
    }

    /// Judges one gossip message. Anything accepted is stored first (on disk within
    /// sled's flush interval).
    async fn on_gossip(&mut self, from: &PeerId, federation: FederationId, data: &[u8]) -> (Verdict, &'static str) {
        let item = match ExportItem::from_cbor(data) {
            Ok(i) => i,
            Err(e) => {
                tracing::info!(%from, error = %e, "rejected undecodable gossip");
                return (Verdict::Reject, "undecodable");
            }
        };
        // Gossip on a federation's topic is about that federation's councils: an entry or
        // proof of any other council is not for this topic (a member relaying another
        // federation's traffic), and is not passed on.
        let council = match &item {
            ExportItem::Entry(e) => Some(e.body.council),
            ExportItem::Equivocation(p) => Some(p.a.body.council),
            _ => None,
        };
        if let Some(c) = council {
            if !self.access().circle(&federation).is_some_and(|circle| circle.contains(&c)) {
                tracing::info!(%from, council = %c.short(), federation = %federation.short(), "ignored gossip about a council outside the topic's federation");
                return (Verdict::Ignore, "outside-the-federation");
            }
        }
        match item {
            ExportItem::Entry(e) => self.on_gossip_entry(from, e).await,
            ExportItem::Equivocation(p) => self.on_gossip_proof(p).await,
            _ => (Verdict::Reject, "not-an-entry-or-proof"),
        }
    }

    /// Judges one message on a federation of federations' federation-level topic
    /// (PROTOCOL.md §12.9): an entry of a council that federation binds, and one that can
    /// be federation-level. A ballot, a name or a motion that enacts nothing there is
    /// rejected (its sender penalised): no honest node publishes one on this topic.
    async fn on_wide_gossip(
        &mut self,
        from: &PeerId,
        federation: FederationId,
        data: &[u8],
    ) -> (Verdict, &'static str) {
        let e = match ExportItem::from_cbor(data) {
            Ok(ExportItem::Entry(e)) => e,
            Ok(_) => return (Verdict::Reject, "not-an-entry"),
            Err(err) => {
                tracing::info!(%from, error = %err, "rejected undecodable gossip");
                return (Verdict::Reject, "undecodable");
            }
        };
        let council = e.body.council;
        if !self.access().wide().get(&federation).is_some_and(|bound| bound.contains(&council)) {
            tracing::info!(%from, council = %council.short(), federation = %federation.short(), "ignored gossip about a council the federation does not bind");
            return (Verdict::Ignore, "outside-the-federation");
        }
        if council_core::council::never_federation_level(&e.body.payload) {
            tracing::info!(%from, council = %council.short(), kind = e.body.payload.kind(), "rejected gossip: not federation-level, on a federation-level topic");
            return (Verdict::Reject, "not-federation-level");
        }
        // A close is federation-level when its motion is: a close of a motion this node
        // holds and that enacts nothing is rejected; one of a motion it does not hold yet
        // is not judged here (a copy syncs, a whole log waits for the motion).
        if let council_core::records::Payload::Close { motion, .. } = &e.body.payload {
            if let Some(st) = self.replicas.get(&council) {
                if !st.is_federation_level(&e.body.payload) {
                    if st.motion(motion).is_some() {
                        tracing::info!(%from, council = %council.short(), "rejected gossip: the close of a motion that enacts nothing, on a federation-level topic");
                        return (Verdict::Reject, "not-federation-level");
                    }
                    if e.body.seq <= st.seq() + 1 {
                        return (Verdict::Ignore, "unknown-motion");
                    }
                }
            }
        }
        self.on_gossip_entry(from, e).await
    }

    async fn on_gossip_entry(&mut self, from: &PeerId, e: Entry) -> (Verdict, &'static str) {
        let council = e.body.council;
        if council == self.own {
            return self.on_own_entry(e).await;
        }
        // An entry of a council not followed yet, or beyond the end of its log, cannot be
        // judged here: ask the sender for the log (the sync checks everything), without
        // spending a signature check on it.
        if let Some(j) = self.replicas.beyond_reach(&council, e.body.seq) {
            self.settle().await;
            let followed = matches!(j, Judgement::Gap { .. });
            self.proto.out_of_reach(*from, council, followed, &self.replicas);
            self.carry_out().await;
            return (Verdict::Ignore, "beyond-the-log");
        }
        let v = match verify_entry(e) {
            Ok(v) => v,
            Err(err) => {
                tracing::info!(%from, council = %council.short(), error = %err, "rejected gossip: bad signature");
                return (Verdict::Reject, "bad-signature");
            }
        };
        let stored = v.get().clone();
        let (seq, time) = (stored.body.seq, stored.body.time);
        let age = now().saturating_sub(time);
        let before = self.standing_marks(&council);
        let j = self.replicas.judge(v);
        match &j {
            Judgement::Applied => {
                let store = self.store.clone();
                let entry = [stored];
                // Stored, then forwarded; on disk within sled's flush interval (see
                // `Store::insert_foreign`): an fsync per hop would put the disk's latency
                // between every relay and the next.
                if let Err(err) = tokio::task::block_in_place(|| store.insert_foreign(&entry)) {
                    tracing::error!(error = %err, "cannot store a followed entry");
                    return (Verdict::Ignore, "store-failed");
                }
                self.clock_moved();
                let after = self.standing_marks(&council);
                let fresh = age <= GOSSIP_FRESH_SECS;
                if after != before {
                    self.stale();
                    self.clock.saw(time);
                    self.settle().await;
                    // Valid in its council's log, but void in the federation (a delegate
                    // vote outside its mandate, say): kept, as the log needs it, but not
                    // spread, and the sender is not penalised (its node may have logged it
                    // honestly before it heard of the event that voids it).
                    let void = self.federation_state().1.iter().any(|f| f.council == council && f.seq == seq);
                    if void {
                        tracing::info!(council = %council.short(), seq, "a federation event that is void: not forwarded");
                        return (Verdict::Ignore, "void-federation-event");
                    }
                }
                if !fresh {
                    // Kept, but not passed on: gossip carries only recent entries, so
                    // that an old entry arriving by gossip is a replay (below).
                    tracing::debug!(council = %council.short(), seq, age, "an old entry: stored, not forwarded");
                    return (Verdict::Ignore, "old-entry");
                }
            }
            // Judged above, before the signature check.
            Judgement::Gap { .. } | Judgement::Unknown(_) => {}
            Judgement::Conflict { seq } => {
                let seq = *seq;
                self.equivocation(council, seq, stored).await;
            }
            Judgement::Invalid(why) => {
                tracing::info!(%from, council = %council.short(), seq, reason = %why, "rejected gossip: breaks the council's rules");
            }
            Judgement::Duplicate if age > REPLAY_AGE_SECS => {
                // No honest node sends an entry this old by gossip (see GOSSIP_FRESH_SECS):
                // someone is replaying it, perhaps after the duplicate cache forgot it.
                tracing::info!(%from, council = %council.short(), seq, age, "rejected gossip: a replayed old entry");
                return (Verdict::Reject, "replayed");
            }
            Judgement::Duplicate => {}
        }
        let reason = match j {
            Judgement::Applied => "valid",
            Judgement::Duplicate => "duplicate",
            Judgement::Conflict { .. } => "equivocation",
            Judgement::Invalid(_) => "breaks-rules",
            Judgement::Gap { .. } | Judgement::Unknown(_) => "beyond-the-log",
        };
        (verdict(j.verdict()), reason)
    }

    /// An entry of this council's own log, from gossip. Normally one of its own, relayed
    /// back. Anything else that its node key signed (a different entry at a place it
    /// holds, or one past its head) means the key signs somewhere else too: another copy
    /// of this node, or this node restored from a backup its key had gone past. Either
    /// way signing stops here, before the log forks further, and a different entry at a
    /// place held is kept and spread as the proof it is.
    async fn on_own_entry(&mut self, e: Entry) -> (Verdict, &'static str) {
        let seq = e.body.seq;
        let held = self.store.entry(seq).ok().flatten();
        if held.as_ref().is_some_and(|h| h.id() == e.id()) {
            return (Verdict::Ignore, "own-entry");
        }
        let key = self.replicas.get(&self.own).and_then(|st| st.node_key_at(seq.min(st.seq().max(1))));
        let Ok(v) = verify_entry(e) else { return (Verdict::Reject, "bad-signature") };
        if Some(v.get().signer) != key {
            return (Verdict::Reject, "breaks-rules");
        }
        let theirs = v.into_inner();
        match held {
            Some(ours) => {
                self.halt.halt(format!(
                    "an entry at place {seq} of this council's log, signed with this node's key, is not the one this node holds: another copy of this node (or someone with its key) is signing. Stop the other copy, then restart this one"
                ));
                self.keep_proof(EquivocationProof { a: ours, b: theirs }).await;
            }
            // A node restored from a backup fetches exactly such entries before it signs
            // (`catch_up`): not a second signer, as long as it has not signed since.
            None if self.catch_up.on() => {
                tracing::info!(seq, "an entry of this council's own log past what this node holds, while it catches up: it is fetched by sync");
                return (Verdict::Ignore, "own-entry-ahead");
            }
            None => self.halt.halt(format!(
                "an entry at place {seq} of this council's log, past the {} this node holds, is signed with this node's key: another copy of this node is signing, or this node runs on a backup older than its log. Stop the other copy (or restore a newer backup), then restart this one",
                self.store.last_seq().unwrap_or(0)
            )),
        }
        (Verdict::Ignore, "own-key-elsewhere")
    }

    /// Keeps and spreads the proof that a council's node signed two entries at `seq`.
    async fn equivocation(&mut self, council: CouncilId, seq: u64, other: Entry) {
        let held = self.store.foreign_entries(&council, seq).next().and_then(Result::ok).filter(|e| e.body.seq == seq);
        let Some(held) = held else { return };
        let proof = EquivocationProof { a: held, b: other };
        if verify_equivocation(proof.clone()).is_err() {
            return;
        }
        self.keep_proof(proof).await;
    }

    async fn keep_proof(&mut self, proof: EquivocationProof) -> bool {
        let council = proof.a.body.council;
        match self.store.put_equivocation(&proof) {
            Ok(true) => {
                tracing::warn!(council = %council.short(), seq = proof.a.body.seq, "equivocation: this council's node signed two different entries at one place; its log is forked");
                if council == self.own {
                    self.halt.halt(format!(
                        "a proof shows this council's node key signed two different entries at place {} of its log: another copy of this node (or someone with its key) is signing. Stop the other copy, then restart this one",
                        proof.a.body.seq
                    ));
                }
                self.metrics.equivocations.inc();
                self.forked.insert(council);
                let bytes = ExportItem::Equivocation(proof).to_cbor();
                // Only to the federations the council is in: its log is theirs to read.
                let access = self.access();
                for f in access.standing_of(&council) {
                    let _ = self.net.publish(&federation_topic(f), bytes.clone()).await;
                }
                true
            }
            Ok(false) => false,
            Err(e) => {
                tracing::error!(error = %e, "cannot store an equivocation proof");
                false
            }
        }
    }

    async fn on_gossip_proof(&mut self, p: EquivocationProof) -> (Verdict, &'static str) {
        let (council, seq) = (p.a.body.council, p.a.body.seq);
        let Ok(v) = verify_equivocation(p) else { return (Verdict::Reject, "bad-proof") };
        let Some(st) = self.replicas.get(&council) else { return (Verdict::Ignore, "proof-of-unfollowed-council") };
        // PROTOCOL.md §9: signed by the node key of that place, within the known log.
        if seq == 0 || seq > st.seq() + 1 || st.node_key_at(seq.min(st.seq().max(1))) != Some(v.get().a.signer) {
            return (Verdict::Reject, "bad-proof");
        }
        if self.keep_proof(v.into_inner()).await {
            (Verdict::Accept, "proof")
        } else {
            (Verdict::Ignore, "known-proof")
        }
    }

    async fn on_control(&mut self, c: Control) {
        match c {
            Control::Federations(r) => {
                let joining = self.joins.keys().copied().collect();
                let join_refusals = self
                    .joins
                    .values()
                    .filter_map(|j| {
                        let why =
                            j.addrs.iter().filter_map(crate::proto::peer_of).find_map(|p| self.refusals.get(&p))?;
                        Some((j.federation, why.clone()))
                    })
                    .collect();
                let forked = self.forked.iter().copied().collect();
                let (federations, void_events) = self.federation_state().clone();
                let mut charters: BTreeMap<FederationId, String> =
                    self.own_charters().iter().map(|(f, c)| (*f, hex::encode(c.to_cbor()))).collect();
                for st in self.replicas.councils().values() {
                    for ev in st.fed_events() {
                        if let FedEventKind::SignCharter { id, charter, .. } = &ev.kind {
                            charters.entry(*id).or_insert_with(|| hex::encode(charter.to_cbor()));
                        }
                    }
                }
                let _ = r.send(FederationsView { federations, void_events, forked, joining, join_refusals, charters });
            }
            Control::Network(r) => {
                let mut connected = Vec::new();
                for (p, council) in self.proto.connections().collect::<Vec<_>>() {
                    let score = self.net.score(p).await.ok().flatten();
                    let addrs = self.net.addresses(p).await.unwrap_or_default();
                    let addrs = addrs.into_iter().map(|a| format!("{a}/p2p/{p}")).collect();
                    connected.push(PeerView { peer: p.to_string(), council, score, addrs });
                }
                let followed = self
                    .replicas
                    .councils()
                    .iter()
                    .filter(|(id, _)| **id != self.own)
                    .map(|(id, st)| FollowedView {
                        council: *id,
                        name: st.genesis().name.clone(),
                        entries: st.seq(),
                        head: st.head(),
                        peers_reach: self.proto.claimed(id),
                        copy: st.is_partial(),
                    })
                    .collect();
                let _ = r.send(NetworkView {
                    peer_id: self.net.peer_id().to_string(),
                    listen: self.listen.iter().map(ToString::to_string).collect(),
                    connected,
                    followed,
                    dialing: self.proto.dials().iter().map(ToString::to_string).collect(),
                });
            }
            Control::Join(j, r) => {
                let j = *j;
                if let Err(e) = self.store.put_join(&j.federation, &j.to_cbor()) {
                    let _ = r.send(Err(e.to_string()));
                    return;
                }
                let addrs = j.addrs.clone();
                // A refusal of an earlier attempt says nothing about this one.
                for p in addrs.iter().filter_map(crate::proto::peer_of) {
                    self.refusals.remove(&p);
                }
                self.joins.insert(j.federation, j);
                self.stale();
                self.settle().await;
                // Peers this node dialed hear about the invite now; the issuer is dialed.
                self.proto.joined(addrs);
                self.carry_out().await;
                let _ = r.send(Ok(()));
            }
            Control::CancelJoin(f, r) => {
                let had = match self.store.remove_join(&f) {
                    Ok(had) => had,
                    Err(e) => {
                        let _ = r.send(Err(e.to_string()));
                        return;
                    }
                };
                if self.joins.remove(&f).is_some() {
                    // The invite is no longer shown: the issuer's node, if it let this
                    // council in by it alone, may now refuse it.
                    self.stale();
                    self.settle().await;
                    self.carry_out().await;
                    tracing::info!(federation = %f.short(), "join cancelled");
                }
                let _ = r.send(Ok(had));
            }
            Control::CheckDelegateVote(v, r) => {
                let _ = r.send(self.check_delegate_vote(&v));
            }
            Control::Proof(p, r) => {
                let council = p.a.body.council;
                let known = self.replicas.get(&council).is_some();
                let taken = match self.on_gossip_proof(*p).await.0 {
                    Verdict::Accept => ProofTaken::Kept,
                    Verdict::Ignore if known => ProofTaken::Known,
                    Verdict::Ignore => ProofTaken::UnknownCouncil,
                    Verdict::Reject => ProofTaken::Invalid,
                };
                let _ = r.send(taken);
            }
            Control::AddPeer(a, r) => {
                self.proto.add_dial(a.clone());
                let _ = r.send(self.net.dial(a).await.map_err(|e| e.to_string()));
            }
            Control::RemovePeer(target, r) => {
                let gone = self.proto.remove_dial(&target);
                let peer = target
                    .parse::<PeerId>()
                    .ok()
                    .or_else(|| target.parse::<Multiaddr>().ok().as_ref().and_then(crate::proto::peer_of))
                    .or_else(|| gone.iter().find_map(crate::proto::peer_of));
                let mut cut = None;
                if let Some(p) = peer {
                    if self.proto.connections().any(|(c, _)| c == p) {
                        let _ = self.net.disconnect(p).await;
                        cut = Some(p.to_string());
                    }
                }
                let _ = r.send((gone.iter().map(ToString::to_string).collect(), cut));
            }
        }
    }

    fn check_delegate_vote(&self, v: &Signed<DelegateVoteBody>) -> Result<(), String> {
        let Some(own) = self.own_state() else { return Ok(()) };
        // Not a member's key: the council's own rules refuse it, with their own reason.
        let Some(delegate) = own.member_of_key(&v.signer) else { return Ok(()) };
        let ev = FedEvent {
            time: self.clock.stamp(),
            council: self.own,
            seq: own.seq() + 1,
            kind: FedEventKind::DelegateVote { vote: v.body.clone(), delegate, members: own.roster().len() as u64 },
        };
        let (_, void) = federation::evaluate_with(self.replicas.councils(), std::slice::from_ref(&ev), Some(now()));
        match void.into_iter().find(|e| e.council == ev.council && e.seq == ev.seq) {
            Some(e) => Err(e.reason),
            None => Ok(()),
        }
    }

    /// The housekeeping of one sync interval ([`Peering::tick`]). Standing lapses with
    /// time (an invite expires): [`NetNode::access`] notices, and settling applies it.
    async fn tick(&mut self) {
        self.settle().await;
        let own = self.own;
        if self.handover.pending().is_some() && self.proto.access().councils().iter().all(|c| *c == own) {
            // No other council's node to tell first.
            self.handover.confirm();
        }
        let t = self.millis();
        self.proto.tick(t, &self.replicas);
        self.carry_out().await;
    }
}
