//! The network's decisions, with no I/O (iroh-gossip's `proto/` is the model).
//!
//! [`Peering`] decides who this node keeps company with and what it asks of whom: which
//! peers hear a hello and when they hear it again, how often a peer may say hello, which
//! peers may read which logs and use which gossip topics, what to sync from whom after a
//! heads exchange, when a peer that stopped answering is taken for gone, and whom to
//! redial. It takes the time as an input, reads the logs through [`Logs`] (it holds no
//! copy of any council's state), and says what to do as a list of [`Out`]s, which a thin
//! actor carries out: [`crate::peering::NetNode`] on libp2p, and the seeded simulator
//! (`examples/simulate.rs`) on a simulated network.
//!
//! What a record *means* (is this genesis valid, does this invite name one the logs
//! record, does this entry follow its council's rules) is `council_core`'s, judged by the
//! actor with the same code as `council verify`; the resulting standing comes in here as
//! an [`Access`].

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use council_core::access::Access;
use council_core::records::{CouncilId, FederationId};
use council_core::replica::Replicas;
use council_core::{Hash, PublicKey};
use council_net::multiaddr::Protocol;
use council_net::{
    federation_topic, heads_digest, peer_id_of, wide_topic, Head, HeadsRequest, Multiaddr, PeerId, SyncRequest,
};

/// Entries asked for in one sync request.
pub const SYNC_BATCH: u32 = 1000;
/// Hellos a peer may send in [`HELLO_WINDOW_MS`]; beyond that its connections are closed.
pub const MAX_HELLOS: u32 = 4;
pub const HELLO_WINDOW_MS: u64 = 60_000;

/// The logs this node holds, as far as the network's decisions need them.
pub trait Logs {
    /// Where a council's log stands here (entries held, and the id of the last one), or
    /// `None` if this node does not follow the council.
    fn tip(&self, council: &CouncilId) -> Option<(u64, Hash)>;
    /// Whether the entry with id `head` is at place `seq` of the council's log here.
    fn holds(&self, council: &CouncilId, seq: u64, head: &Hash) -> bool;
    /// The council's current node key.
    fn node_key(&self, council: &CouncilId) -> Option<PublicKey>;
}

impl Logs for Replicas {
    fn tip(&self, council: &CouncilId) -> Option<(u64, Hash)> {
        self.get(council).map(|st| (st.seq(), st.head()))
    }
    fn holds(&self, council: &CouncilId, seq: u64, head: &Hash) -> bool {
        self.get(council).is_some_and(|st| st.holds(seq, head))
    }
    fn node_key(&self, council: &CouncilId) -> Option<PublicKey> {
        self.get(council).map(|st| st.node_key())
    }
}

/// How many ticks (sync intervals) apart the federation-level copies are asked after.
pub const COPY_TICKS: u32 = 6;

/// What the actor is to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Out {
    /// Say hello to this peer (with the council's genesis and the invites it holds).
    Hello(PeerId),
    /// Ask a peer where a federation's logs stand.
    Heads(PeerId, HeadsRequest),
    /// Ask a peer for entries; answer with [`Peering::synced`].
    Sync(PeerId, SyncRequest),
    /// A liveness probe (a sync request for no entries); answer with [`Peering::probed`].
    Probe(PeerId, u64, SyncRequest),
    /// Close every connection to this peer.
    Disconnect(PeerId, Gone),
    Dial(Multiaddr),
    /// Join a federation's gossip topic.
    Subscribe(FederationId),
    /// Join a federation of federations' federation-level topic (PROTOCOL.md §12.9).
    SubscribeWide(FederationId),
    /// The peers that may stay connected, and the gossip topics each may use.
    Allow(HashMap<PeerId, HashSet<String>>),
}

/// Why a peer's connections are closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// It said hello more than [`MAX_HELLOS`] times in [`HELLO_WINDOW_MS`].
    HelloFlood,
    /// It left a liveness probe unanswered for the stall time.
    Stalled,
}

/// What a heads answer asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fetch {
    /// A log this node does not follow, or holds fewer entries of: from where it stands.
    Log(CouncilId),
    /// The one entry at a place where the peer holds a different entry than this node:
    /// the sync's judgement proves the fork (PROTOCOL.md §9).
    Place(CouncilId, u64),
}

/// The syncs a heads answer calls for (PROTOCOL.md §12.2): only for councils this
/// council has standing with (`wanted`), never its own.
pub fn plan_heads(heads: &[Head], own: &CouncilId, wanted: &BTreeSet<CouncilId>, logs: &impl Logs) -> Vec<Fetch> {
    heads
        .iter()
        .filter(|h| h.council != *own && wanted.contains(&h.council))
        .filter_map(|h| match logs.tip(&h.council) {
            None => Some(Fetch::Log(h.council)),
            Some((seq, _)) if seq < h.seq => Some(Fetch::Log(h.council)),
            Some(_) if h.seq > 0 && !logs.holds(&h.council, h.seq, &h.head) => Some(Fetch::Place(h.council, h.seq)),
            Some(_) => None,
        })
        .collect()
}

/// Why a heads request is refused.
pub const NO_STANDING_IN_FEDERATION: &str = "no standing in that federation here";

/// The `/p2p/` peer id at the end of an address, if it has one.
pub fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    addr.iter().find_map(|p| match p {
        Protocol::P2p(id) => Some(id),
        _ => None,
    })
}

/// One node's network decisions.
#[derive(Debug)]
pub struct Peering {
    own: CouncilId,
    /// How long a liveness probe may stay unanswered before the peer is taken for gone.
    stall_after_ms: u64,
    access: Arc<Access>,
    /// Bumped each time the federations this council takes part in change: a dialed peer
    /// that refused this council hears a hello again only then.
    generation: u64,
    /// Peers whose council this node let in (by its hello or its welcome); kept across
    /// reconnections, dropped when the council loses its standing.
    peers: HashMap<PeerId, CouncilId>,
    connected: HashSet<PeerId>,
    /// For each log this node reads, the place the last heads answer that listed it said
    /// it reaches: what the node's metrics show as how far behind it is. A peer may claim
    /// more than it holds, but only until the next answer replaces its word.
    claimed: HashMap<CouncilId, u64>,
    /// Connected peers this node dialed: it says hello to them (and only to them).
    dialed: HashSet<PeerId>,
    /// The generation each dialed peer last heard a hello in.
    said_hello: HashMap<PeerId, u64>,
    /// Hellos received per peer in the current window, and when the window began (ms);
    /// kept across reconnections, forgotten once the window passed.
    hellos: HashMap<PeerId, (u32, u64)>,
    /// The node of every council with standing here.
    nodes: HashMap<PeerId, CouncilId>,
    topics: BTreeSet<FederationId>,
    /// The federations of federations whose federation-level topics this node joined.
    wide_topics: BTreeSet<FederationId>,
    /// Ticks since the federation-level copies were last asked after (see
    /// [`Peering::tick`]).
    copy_ticks: u32,
    allowed: HashMap<PeerId, HashSet<String>>,
    /// Addresses to keep dialing (configured peers, added peers, invite issuers).
    dial: Vec<Multiaddr>,
    peer_ids: HashMap<[u8; 32], PeerId>,
    /// Logs being synced, and from whom: one sync per log at a time, whoever else says
    /// they have more (while one answer is checked and applied, the others would only
    /// bring the same entries again).
    syncing: HashMap<CouncilId, PeerId>,
    /// Logs some peer (the one asked, or another) showed this node behind on while a
    /// sync of them was in flight:
    /// asked of that peer as soon as the sync in flight comes back (its answer may have
    /// been made before the entries the other peer showed).
    again: HashMap<CouncilId, PeerId>,
    /// Heads requests in flight: at most one per peer and federation.
    asking_heads: HashSet<(PeerId, FederationId)>,
    /// The liveness probe in flight to each let-in peer: its number and when it was sent.
    probes: HashMap<PeerId, (u64, u64)>,
    probe_seq: u64,
    out: Vec<Out>,
}

impl Peering {
    /// A node of council `own` that keeps dialing `dial`, with no standing known yet
    /// (gating starts closed): give it the first [`Access`] with [`Peering::set_access`].
    pub fn new(own: CouncilId, dial: Vec<Multiaddr>, stall_after_ms: u64) -> Peering {
        Peering {
            own,
            stall_after_ms,
            access: Arc::new(Access::none(own)),
            generation: 0,
            peers: HashMap::new(),
            connected: HashSet::new(),
            claimed: HashMap::new(),
            dialed: HashSet::new(),
            said_hello: HashMap::new(),
            hellos: HashMap::new(),
            nodes: HashMap::new(),
            topics: BTreeSet::new(),
            wide_topics: BTreeSet::new(),
            copy_ticks: 0,
            allowed: HashMap::new(),
            dial,
            peer_ids: HashMap::new(),
            syncing: HashMap::new(),
            again: HashMap::new(),
            asking_heads: HashSet::new(),
            probes: HashMap::new(),
            probe_seq: 0,
            out: Vec::new(),
        }
    }

    /// How long a liveness probe may stay unanswered before the peer is taken for gone.
    pub fn set_stall_after(&mut self, ms: u64) {
        self.stall_after_ms = ms;
    }

    /// What to do, in order; the list is emptied.
    pub fn take(&mut self) -> Vec<Out> {
        std::mem::take(&mut self.out)
    }

    /// Dials every address it keeps.
    pub fn start(&mut self) {
        self.out.extend(self.dial.iter().cloned().map(Out::Dial));
    }

    /// The federations whose gossip topics this node joined (never left: a council's
    /// last word to a federation it leaves goes out on that federation's topic).
    pub fn topics(&self) -> &BTreeSet<FederationId> {
        &self.topics
    }

    pub fn access(&self) -> &Arc<Access> {
        &self.access
    }

    /// The standing that holds now. Peers, topics and the allowed set follow it: a peer
    /// whose council lost its standing is no longer a peer of this council, and loses the
    /// topics it had.
    pub fn set_access(&mut self, access: Arc<Access>, logs: &impl Logs) {
        // A dialer says hello again when what it takes part in changed: its federations,
        // or the federations of federations that bind it (a peer it could not place may
        // let it in now).
        if !self.access.federations().eq(access.federations()) || !self.access.wide().keys().eq(access.wide().keys()) {
            self.generation += 1;
        }
        self.access = access;
        for f in self.access.federations() {
            if self.topics.insert(*f) {
                self.out.push(Out::Subscribe(*f));
            }
        }
        for f in self.access.wide().keys() {
            if self.wide_topics.insert(*f) {
                self.out.push(Out::SubscribeWide(*f));
            }
        }
        let councils = self.access.admitted();
        let mut allowed = HashMap::new();
        self.nodes.clear();
        for c in &councils {
            let Some(key) = logs.node_key(c) else { continue };
            let p = *self.peer_ids.entry(*key.as_bytes()).or_insert_with(|| peer_id_of(&key));
            self.nodes.insert(p, *c);
            let topics: HashSet<String> = self
                .access
                .standing_of(c)
                .map(federation_topic)
                .chain(self.access.wide_standing_of(c).map(wide_topic))
                .collect();
            allowed.insert(p, topics);
        }
        self.peers.retain(|_, c| councils.contains(c));
        if allowed != self.allowed {
            self.allowed = allowed.clone();
            self.out.push(Out::Allow(allowed));
        }
    }

    /// Tells the peer id of a node key, so that it need not be derived (deriving one
    /// decompresses the key; the simulator knows them all).
    pub fn learn_peer_id(&mut self, key: &PublicKey, peer: PeerId) {
        self.peer_ids.insert(*key.as_bytes(), peer);
    }

    pub fn connected(&mut self, peer: PeerId, dialed: bool) {
        self.connected.insert(peer);
        // The dialer speaks first; the dialed node waits for its hello.
        if dialed {
            self.dialed.insert(peer);
            self.say_hello(peer);
        }
    }

    pub fn disconnected(&mut self, peer: PeerId) {
        self.connected.remove(&peer);
        self.dialed.remove(&peer);
        self.said_hello.remove(&peer);
        // The hello count stays (until its window passes, see `tick`): a peer does not
        // get a fresh allowance by reconnecting.
        // A new connection starts with no probe against it.
        self.probes.remove(&peer);
    }

    /// Counts a hello from `peer` at `now_ms`: false (and its connections closed) once
    /// it has said more than [`MAX_HELLOS`] in [`HELLO_WINDOW_MS`].
    pub fn hello_arrived(&mut self, peer: PeerId, now_ms: u64) -> bool {
        let (n, since) = self.hellos.entry(peer).or_insert((0, now_ms));
        if now_ms.saturating_sub(*since) > HELLO_WINDOW_MS {
            (*n, *since) = (0, now_ms);
        }
        *n += 1;
        let ok = *n <= MAX_HELLOS;
        if !ok {
            self.out.push(Out::Disconnect(peer, Gone::HelloFlood));
        }
        ok
    }

    /// Takes `peer` as the node of `council` (its hello accepted, or its welcome), and
    /// asks it for the council's log and where each federation they share stands.
    pub fn accept(&mut self, peer: PeerId, council: CouncilId, logs: &impl Logs) {
        self.peers.insert(peer, council);
        self.want_log(peer, council, logs);
        for f in self.access.standing_of(&council).copied().collect::<Vec<_>>() {
            self.ask_heads(peer, f, logs);
        }
        self.want_copies(peer, council, logs);
    }

    /// Asks `peer`, the node of `council`, for the federation-level copies this node holds
    /// that a federation of federations binds with `council` (PROTOCOL.md §12.9), its own
    /// included: each from where it stands here. There are no heads for copies (a copy's
    /// `seq` skips places), so this, with gossip's gaps, is how a copy catches up.
    fn want_copies(&mut self, peer: PeerId, council: CouncilId, logs: &impl Logs) {
        let access = self.access.clone();
        for c in access.copies() {
            if access.may_copy(&council, &c) {
                self.want_log(peer, c, logs);
            }
        }
    }

    /// Whether `peer` may have `council`'s federation-level entries here (PROTOCOL.md
    /// §12.9); [`Peering::may_read`] says whether it may have the whole log.
    pub fn may_copy(&self, peer: &PeerId, council: &CouncilId) -> bool {
        self.council_of(peer).is_some_and(|r| self.access.may_copy(&r, council))
    }

    /// The council whose node `peer` is, if it was let in or its council has standing.
    pub fn council_of(&self, peer: &PeerId) -> Option<CouncilId> {
        self.peers.get(peer).or(self.nodes.get(peer)).copied()
    }

    /// Whether `peer` may read `council`'s log here now.
    pub fn may_read(&self, peer: &PeerId, council: &CouncilId) -> bool {
        self.council_of(peer).is_some_and(|r| self.access.may_read(&r, council))
    }

    /// The answer to a heads request: the heads, `None` if the digests agree, or the
    /// refusal if the asking peer has no standing in the federation.
    pub fn heads_for(
        &self,
        peer: &PeerId,
        req: &HeadsRequest,
        logs: &impl Logs,
    ) -> Result<Option<Vec<Head>>, &'static str> {
        let member =
            self.council_of(peer).is_some_and(|r| self.access.circle(&req.federation).is_some_and(|c| c.contains(&r)));
        if !member {
            return Err(NO_STANDING_IN_FEDERATION);
        }
        let heads = self.heads_of(&req.federation, logs);
        Ok((heads_digest(&heads) != req.digest).then_some(heads))
    }

    /// Where the logs of a federation's record stand here ([`Access::logs`]: its circle's
    /// and those of councils that left it) that this node holds, its own included,
    /// sorted by council id.
    pub fn heads_of(&self, federation: &FederationId, logs: &impl Logs) -> Vec<Head> {
        self.access
            .logs(federation)
            .iter()
            .filter_map(|c| logs.tip(c).map(|(seq, head)| Head { council: *c, seq, head }))
            .collect()
    }

    /// A heads request came back (`None`: the digests agreed, or it failed): sync, from
    /// the peer that told of them, every log this node is behind on, and the entry at
    /// any place where the peer holds a different one.
    pub fn heads_answered(
        &mut self,
        peer: PeerId,
        federation: FederationId,
        heads: Option<Vec<Head>>,
        logs: &impl Logs,
    ) {
        self.asking_heads.remove(&(peer, federation));
        let Some(heads) = heads else { return };
        // Only the logs of the federation asked about: a member of one federation says
        // nothing that counts about another's.
        let wanted = self.access.logs(&federation);
        for h in heads.iter().filter(|h| wanted.contains(&h.council)) {
            self.claimed.insert(h.council, h.seq);
        }
        for fetch in plan_heads(&heads, &self.own, &wanted, logs) {
            match fetch {
                Fetch::Log(c) => self.want_log(peer, c, logs),
                Fetch::Place(c, seq) => self.sync_from(peer, c, seq, 1),
            }
        }
    }

    /// Asks `peer` for `council`'s log from where it stands here.
    pub fn want_log(&mut self, peer: PeerId, council: CouncilId, logs: &impl Logs) {
        let from = logs.tip(&council).map(|(seq, _)| seq + 1).unwrap_or(0);
        self.sync_from(peer, council, from, SYNC_BATCH);
    }

    fn sync_from(&mut self, peer: PeerId, council: CouncilId, from_seq: u64, max_entries: u32) {
        match self.syncing.entry(council) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(peer);
                self.out.push(Out::Sync(peer, SyncRequest { council, from_seq, max_entries }));
            }
            // The answer in flight may have been made before what this peer now shows.
            std::collections::hash_map::Entry::Occupied(_) => {
                self.again.insert(council, peer);
            }
        }
    }

    /// A sync request came back, with `served` entries of which some were `applied`
    /// (`served` 0 if it failed): a full batch that moved the log on asks for the next.
    pub fn synced(&mut self, peer: PeerId, council: CouncilId, served: usize, applied: usize, logs: &impl Logs) {
        if self.syncing.get(&council) != Some(&peer) {
            return;
        }
        self.syncing.remove(&council);
        if applied > 0 && served >= SYNC_BATCH as usize / 2 {
            self.want_log(peer, council, logs);
        } else if let Some(other) = self.again.remove(&council) {
            self.want_log(other, council, logs);
        }
    }

    /// Gossip brought an entry this node cannot judge: of a council it does not follow
    /// (`followed` false) or beyond the end of the log it holds. The sender is asked for
    /// the log, a followed council's always, another only if it has standing here.
    pub fn out_of_reach(&mut self, from: PeerId, council: CouncilId, followed: bool, logs: &impl Logs) {
        if followed || self.access.councils().contains(&council) || self.access.copies().contains(&council) {
            self.want_log(from, council, logs);
        }
    }

    /// A liveness probe came back, answered or failed: either way not stalled.
    pub fn probed(&mut self, peer: PeerId, id: u64) {
        if self.probes.get(&peer).is_some_and(|(i, _)| *i == id) {
            self.probes.remove(&peer);
        }
    }

    /// Keeps dialing `addr` (once added, it is redialed whenever lost).
    pub fn add_dial(&mut self, addr: Multiaddr) {
        if !self.dial.contains(&addr) {
            self.dial.push(addr);
        }
    }

    /// The addresses kept dialed (from the configuration and `peer add`).
    pub fn dials(&self) -> &[Multiaddr] {
        &self.dial
    }

    /// Stops dialing the addresses that are `target` or end in its `/p2p/` peer id (when
    /// `target` is a peer id); returns those removed.
    pub fn remove_dial(&mut self, target: &str) -> Vec<Multiaddr> {
        let peer: Option<PeerId> = target.parse().ok();
        let (gone, kept): (Vec<Multiaddr>, Vec<Multiaddr>) = std::mem::take(&mut self.dial)
            .into_iter()
            .partition(|a| a.to_string() == target || (peer.is_some() && peer_of(a) == peer));
        self.dial = kept;
        gone
    }

    /// This council took an invite: peers it dialed that have not let it in hear a hello
    /// with the invite now, and the issuer's addresses are dialed.
    pub fn joined(&mut self, addrs: Vec<Multiaddr>) {
        let mut waiting: Vec<PeerId> = self.dialed.iter().filter(|p| !self.peers.contains_key(p)).copied().collect();
        waiting.sort();
        for p in waiting {
            self.say_hello(p);
        }
        for a in addrs {
            self.add_dial(a.clone());
            self.out.push(Out::Dial(a));
        }
    }

    fn say_hello(&mut self, peer: PeerId) {
        self.said_hello.insert(peer, self.generation);
        self.out.push(Out::Hello(peer));
    }

    fn ask_heads(&mut self, peer: PeerId, federation: FederationId, logs: &impl Logs) {
        if !self.asking_heads.insert((peer, federation)) {
            return;
        }
        let digest = heads_digest(&self.heads_of(&federation, logs));
        self.out.push(Out::Heads(peer, HeadsRequest { federation, digest }));
    }

    /// Connected peers, and the council of each that was let in.
    /// The place in `council`'s log that peers last said they reach (see `claimed`).
    pub fn claimed(&self, council: &CouncilId) -> Option<u64> {
        self.claimed.get(council).copied()
    }

    pub fn connections(&self) -> impl Iterator<Item = (PeerId, Option<CouncilId>)> + '_ {
        self.connected.iter().map(|p| (*p, self.peers.get(p).copied()))
    }

    /// The housekeeping of one sync interval, at `now_ms`:
    /// - peers this node dialed that have not let it in hear again who this council is,
    ///   once what it takes part in has changed (never more often than that);
    /// - every let-in connected peer is probed, and one that left a probe unanswered for
    ///   the stall time is taken for gone (a connection cut silently stays open at the
    ///   TCP level, and what is sent on it waits on the kernel's retransmission back-off:
    ///   closed, the peer is redialed like any lost peer);
    /// - a heads exchange per federation with each connected member node of it: each
    ///   tells this node every log of the federation it is behind on, or, when the two
    ///   agree, costs one digest each way; O(federations × connected peers) small
    ///   requests, whatever the number of councils;
    /// - lost peers are redialed.
    pub fn tick(&mut self, now_ms: u64, logs: &impl Logs) {
        self.hellos.retain(|_, (_, since)| now_ms.saturating_sub(*since) <= HELLO_WINDOW_MS);
        let generation = self.generation;
        let mut rehello: Vec<PeerId> = self
            .dialed
            .iter()
            .filter(|p| !self.peers.contains_key(p) && self.said_hello.get(p).is_none_or(|g| *g < generation))
            .copied()
            .collect();
        // In a fixed order: the same inputs give the same outputs.
        rehello.sort();
        for p in rehello {
            self.say_hello(p);
        }
        let mut live: Vec<(PeerId, CouncilId)> =
            self.peers.iter().filter(|(p, _)| self.connected.contains(p)).map(|(p, c)| (*p, *c)).collect();
        live.sort();
        let mut gone = Vec::new();
        for &(p, c) in &live {
            match self.probes.get(&p) {
                Some((_, since)) if now_ms.saturating_sub(*since) >= self.stall_after_ms => gone.push(p),
                Some(_) => {}
                None => {
                    self.probe_seq = self.probe_seq.wrapping_add(1);
                    let id = self.probe_seq;
                    self.probes.insert(p, (id, now_ms));
                    let from_seq = logs.tip(&c).map(|(seq, _)| seq + 1).unwrap_or(1);
                    self.out.push(Out::Probe(p, id, SyncRequest { council: c, from_seq, max_entries: 0 }));
                }
            }
        }
        for p in &gone {
            self.probes.remove(p);
            self.connected.remove(p);
            self.out.push(Out::Disconnect(*p, Gone::Stalled));
        }
        live.retain(|(p, _)| !gone.contains(p));
        let access = self.access.clone();
        for f in access.federations() {
            let Some(circle) = access.circle(f) else { continue };
            for (p, _) in live.iter().filter(|(_, c)| circle.contains(c)) {
                self.ask_heads(*p, *f, logs);
            }
        }
        // Copies have no heads: every COPY_TICKS ticks, each live peer bound with this
        // council by a federation of federations is asked for the copies it may have.
        self.copy_ticks += 1;
        if self.copy_ticks >= COPY_TICKS && !access.wide().is_empty() {
            self.copy_ticks = 0;
            for &(p, c) in &live {
                if access.wide_standing_of(&c).next().is_some() {
                    self.want_copies(p, c, logs);
                }
            }
        }
        for a in &self.dial {
            let lost = match peer_of(a) {
                Some(p) => !self.connected.contains(&p),
                None => self.connected.is_empty(),
            };
            if lost {
                self.out.push(Out::Dial(a.clone()));
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use council_core::records::{Action, CouncilRules, Entry, MotionForm, Rule, Share, Threshold};
    use council_core::replica::Judgement;
    use council_core::sample::{key_from_label, CouncilBuilder};
    use council_core::verify::{verify_entry, verify_genesis};

    /// A council of one member whose log holds `n` entries, and those entries.
    fn council(label: &str, n: usize) -> (CouncilBuilder, Vec<Entry>) {
        let m = key_from_label(&format!("{label}/m"));
        let mut b = CouncilBuilder::found(
            label,
            &[&m],
            CouncilRules::default(),
            key_from_label(&format!("{label}/node")),
            1_800_000_000,
        )
        .unwrap();
        let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
        for i in 0..n {
            b.open(
                1_800_000_001 + i as u64,
                &m,
                &format!("q{i}"),
                MotionForm::YesNo(Action::Resolution),
                rule,
                1_900_000_000,
            )
            .unwrap();
        }
        let entries = b.take_entries();
        (b, entries)
    }

    fn head(b: &CouncilBuilder, entries: &[Entry], seq: u64) -> Head {
        let head = if seq == 0 { b.id() } else { entries[seq as usize - 1].id() };
        Head { council: b.id(), seq, head }
    }

    #[test]
    fn a_heads_answer_asks_for_exactly_what_is_missing_or_forked() {
        let (x, xe) = council("x", 5);
        let (y, ye) = council("y", 2);
        let (z, ze) = council("z", 1);
        let (own, oe) = council("own", 1);
        let mut replicas = Replicas::new();
        replicas.follow(verify_genesis(x.genesis().clone()).unwrap()).unwrap();
        for e in &xe[..3] {
            assert_eq!(replicas.judge(verify_entry(e.clone()).unwrap()), Judgement::Applied);
        }
        let wanted: BTreeSet<CouncilId> = [x.id(), y.id()].into();
        let plan = |heads: &[Head]| plan_heads(heads, &own.id(), &wanted, &replicas);
        // Ahead of us: fetch from where we are. Unknown but wanted: fetch it all.
        assert_eq!(plan(&[head(&x, &xe, 5)]), vec![Fetch::Log(x.id())]);
        assert_eq!(plan(&[head(&y, &ye, 2)]), vec![Fetch::Log(y.id())]);
        // The same place, the same entry (or behind us): nothing.
        assert!(plan(&[head(&x, &xe, 3)]).is_empty());
        assert!(plan(&[head(&x, &xe, 2)]).is_empty());
        // The same place, another entry: that one entry, to prove the fork.
        let forked = Head { head: council_core::Hash([7; 32]), ..head(&x, &xe, 3) };
        assert_eq!(plan(&[forked]), vec![Fetch::Place(x.id(), 3)]);
        // A council without standing here, and this council's own log: never.
        assert!(plan(&[head(&z, &ze, 1), head(&own, &oe, 1)]).is_empty());
    }

    /// Logs as the state machine sees them: a council's place, its head and node key.
    #[derive(Default)]
    struct TestLogs(BTreeMap<CouncilId, (u64, Hash, PublicKey)>);

    impl Logs for TestLogs {
        fn tip(&self, c: &CouncilId) -> Option<(u64, Hash)> {
            self.0.get(c).map(|(s, h, _)| (*s, *h))
        }
        fn holds(&self, c: &CouncilId, seq: u64, head: &Hash) -> bool {
            self.0.get(c).is_some_and(|(s, h, _)| *s == seq && h == head)
        }
        fn node_key(&self, c: &CouncilId) -> Option<PublicKey> {
            self.0.get(c).map(|(_, _, k)| *k)
        }
    }

    /// Council `name`: its id and its node's peer id, entered in `logs` at `seq`.
    fn node(logs: &mut TestLogs, name: &str, seq: u64) -> (CouncilId, PeerId) {
        let id = Hash::of(name.as_bytes());
        let key = key_from_label(&format!("{name}/node")).public();
        logs.0.insert(id, (seq, Hash::of(&seq.to_be_bytes()), key));
        (id, peer_id_of(&key))
    }

    fn fed(name: &str) -> FederationId {
        Hash::of(format!("federation {name}").as_bytes())
    }

    fn access(own: CouncilId, circles: &[(FederationId, &[CouncilId])]) -> Arc<Access> {
        Arc::new(Access::from_circles(
            own,
            circles.iter().map(|(f, c)| (*f, c.iter().copied().chain([own]).collect())).collect(),
        ))
    }

    /// The node `own`, federated in F1 with `a` and in F2 with `b`.
    struct World {
        logs: TestLogs,
        own: CouncilId,
        a: (CouncilId, PeerId),
        b: (CouncilId, PeerId),
        f1: FederationId,
        f2: FederationId,
        p: Peering,
    }

    fn world() -> World {
        let mut logs = TestLogs::default();
        let (own, _) = node(&mut logs, "own", 3);
        let a = node(&mut logs, "a", 5);
        let b = node(&mut logs, "b", 2);
        let p = Peering::new(own, Vec::new(), 3_000);
        World { logs, own, a, b, f1: fed("1"), f2: fed("2"), p }
    }

    impl World {
        fn both(&self) -> Arc<Access> {
            access(self.own, &[(self.f1, &[self.a.0]), (self.f2, &[self.b.0])])
        }
        fn set(&mut self, a: Arc<Access>) -> Vec<Out> {
            self.p.set_access(a, &self.logs);
            self.p.take()
        }
        fn let_in(&mut self, (c, p): (CouncilId, PeerId)) -> Vec<Out> {
            self.p.connected(p, false);
            assert!(self.p.hello_arrived(p, 0));
            self.p.accept(p, c, &self.logs);
            self.p.take()
        }
    }

    fn allowed(outs: &[Out]) -> Option<&HashMap<PeerId, HashSet<String>>> {
        outs.iter().find_map(|o| match o {
            Out::Allow(a) => Some(a),
            _ => None,
        })
    }

    #[test]
    fn gating_starts_closed_and_each_peer_gets_only_its_federations_topics() {
        let mut w = world();
        assert!(w.p.take().is_empty(), "nothing is allowed before standing is known");
        assert!(!w.p.may_read(&w.a.1, &w.a.0));
        let outs = w.set(w.both());
        assert!(outs.contains(&Out::Subscribe(w.f1)) && outs.contains(&Out::Subscribe(w.f2)));
        let allow = allowed(&outs).unwrap();
        assert_eq!(allow.len(), 2);
        assert_eq!(allow[&w.a.1], HashSet::from([federation_topic(&w.f1)]));
        assert_eq!(allow[&w.b.1], HashSet::from([federation_topic(&w.f2)]));
        // The same standing again: nothing to do.
        assert!(w.set(w.both()).is_empty());
    }

    #[test]
    fn a_member_of_another_federation_reads_none_of_this_ones_logs() {
        let mut w = world();
        w.set(w.both());
        w.let_in(w.a);
        // a (in F1 only) reads F1's logs and this council's, never b's (F2).
        assert!(w.p.may_read(&w.a.1, &w.own));
        assert!(w.p.may_read(&w.a.1, &w.a.0));
        assert!(!w.p.may_read(&w.a.1, &w.b.0));
        let ask = |f| HeadsRequest { federation: f, digest: Hash([0; 32]) };
        assert_eq!(w.p.heads_for(&w.a.1, &ask(w.f2), &w.logs), Err(NO_STANDING_IN_FEDERATION));
        let heads = w.p.heads_for(&w.a.1, &ask(w.f1), &w.logs).unwrap().unwrap();
        assert!(heads.iter().all(|h| h.council != w.b.0), "F1's heads name no F2 council");
        assert_eq!(heads.len(), 2);
        // An outsider (never let in, no standing) reads nothing at all.
        let stranger = peer_id_of(&key_from_label("stranger").public());
        assert!(!w.p.may_read(&stranger, &w.own));
        assert_eq!(w.p.heads_for(&stranger, &ask(w.f1), &w.logs), Err(NO_STANDING_IN_FEDERATION));
    }

    #[test]
    fn a_council_that_leaves_loses_its_reading_and_its_topics_at_once() {
        let mut w = world();
        w.set(w.both());
        w.let_in(w.a);
        assert!(w.p.may_read(&w.a.1, &w.own));
        let after = Access::from_circles(w.own, [(w.f1, [w.own].into()), (w.f2, [w.own, w.b.0].into())].into())
            .with_former(w.f1, [w.a.0].into());
        let outs = w.set(Arc::new(after));
        let allow = allowed(&outs).expect("the allowed set changes");
        assert!(!allow.contains_key(&w.a.1));
        assert!(!w.p.may_read(&w.a.1, &w.own));
        assert!(!w.p.may_read(&w.a.1, &w.a.0));
        assert_eq!(w.p.council_of(&w.a.1), None);
        // Its log up to the leave stays part of F1's record: F1's members may read it and
        // see it in F1's heads (one that missed the leave by gossip learns it by sync).
        w.let_in(w.b);
        assert!(!w.p.may_read(&w.b.1, &w.a.0), "b is not in F1");
        let f1_member = node(&mut w.logs, "c", 1);
        w.set(Arc::new(
            Access::from_circles(w.own, [(w.f1, [w.own, f1_member.0].into()), (w.f2, [w.own, w.b.0].into())].into())
                .with_former(w.f1, [w.a.0].into()),
        ));
        w.let_in(f1_member);
        assert!(w.p.may_read(&f1_member.1, &w.a.0));
        let ask = HeadsRequest { federation: w.f1, digest: Hash([0; 32]) };
        let heads = w.p.heads_for(&f1_member.1, &ask, &w.logs).unwrap().unwrap();
        assert!(heads.iter().any(|h| h.council == w.a.0));
        assert_eq!(w.p.heads_for(&w.a.1, &ask, &w.logs), Err(NO_STANDING_IN_FEDERATION));
        // And no heads exchange or probe goes its way any more.
        let outs = {
            w.p.tick(10, &w.logs);
            w.p.take()
        };
        assert!(outs.iter().all(|o| !matches!(o, Out::Heads(p, _) | Out::Probe(p, _, _) if *p == w.a.1)), "{outs:?}");
    }

    #[test]
    fn a_peer_saying_hello_too_often_is_cut_off_until_the_window_passes() {
        let mut w = world();
        let p = w.a.1;
        for i in 0..MAX_HELLOS {
            assert!(w.p.hello_arrived(p, u64::from(i)));
        }
        assert!(w.p.take().is_empty());
        assert!(!w.p.hello_arrived(p, 100));
        assert_eq!(w.p.take(), vec![Out::Disconnect(p, Gone::HelloFlood)]);
        // Reconnecting gives no fresh allowance.
        w.p.disconnected(p);
        w.p.connected(p, false);
        assert!(!w.p.hello_arrived(p, 200));
        w.p.take();
        // Another peer is counted on its own.
        assert!(w.p.hello_arrived(w.b.1, 100));
        // A new window.
        assert!(w.p.hello_arrived(p, 100 + HELLO_WINDOW_MS + 1));
    }

    #[test]
    fn the_dialer_speaks_first_and_again_only_when_its_federations_change() {
        let mut w = world();
        w.set(w.both());
        w.p.connected(w.a.1, false);
        assert!(w.p.take().is_empty(), "a dialed node waits for the dialer's hello");
        w.p.connected(w.b.1, true);
        assert_eq!(w.p.take(), vec![Out::Hello(w.b.1)]);
        // Refused (never let in): ticks do not repeat the hello...
        for t in 0..5 {
            w.p.tick(t * 1000, &w.logs);
        }
        assert!(!w.p.take().contains(&Out::Hello(w.b.1)));
        // ...until what this council takes part in changes.
        let f3 = fed("3");
        w.set(access(w.own, &[(w.f1, &[w.a.0]), (w.f2, &[w.b.0]), (f3, &[])]));
        w.p.tick(6000, &w.logs);
        assert!(w.p.take().contains(&Out::Hello(w.b.1)));
        w.p.tick(7000, &w.logs);
        assert!(!w.p.take().contains(&Out::Hello(w.b.1)));
    }

    #[test]
    fn a_peer_that_leaves_a_probe_unanswered_is_cut_and_redialed() {
        let mut w = world();
        let addr: Multiaddr = format!("/ip4/127.0.0.1/tcp/1/p2p/{}", w.a.1).parse().unwrap();
        w.p.add_dial(addr.clone());
        w.set(w.both());
        w.let_in(w.a);
        w.p.tick(0, &w.logs);
        let outs = w.p.take();
        let id = outs
            .iter()
            .find_map(|o| match o {
                Out::Probe(p, id, r) if *p == w.a.1 && r.max_entries == 0 => Some(*id),
                _ => None,
            })
            .expect("a probe");
        assert!(!outs.iter().any(|o| matches!(o, Out::Dial(_))), "connected: not redialed");
        // Answered in time: probed again later, never cut.
        w.p.probed(w.a.1, id);
        w.p.tick(2_000, &w.logs);
        assert!(w.p.take().iter().any(|o| matches!(o, Out::Probe(p, _, _) if *p == w.a.1)));
        w.p.tick(4_000, &w.logs);
        assert!(!w.p.take().iter().any(|o| matches!(o, Out::Disconnect(..))));
        // Unanswered for the stall time: cut, and redialed on the same tick.
        w.p.tick(5_000, &w.logs);
        let outs = w.p.take();
        assert!(outs.contains(&Out::Disconnect(w.a.1, Gone::Stalled)), "{outs:?}");
        assert!(outs.contains(&Out::Dial(addr)));
    }

    #[test]
    fn heads_go_to_each_federations_members_once_at_a_time_and_ask_only_for_whats_missing() {
        let mut w = world();
        w.set(w.both());
        w.let_in(w.a);
        w.let_in(w.b);
        w.p.tick(0, &w.logs);
        let heads: Vec<(PeerId, FederationId)> =
            w.p.take()
                .into_iter()
                .filter_map(|o| match o {
                    Out::Heads(p, r) => Some((p, r.federation)),
                    _ => None,
                })
                .collect();
        assert!(heads.is_empty(), "accepting asked already; those are still in flight: {heads:?}");
        // The answers: a is ahead on its own log, and says where b stands (not for a to tell).
        let mut a_ahead = Head { council: w.a.0, seq: 9, head: Hash([9; 32]) };
        let from_b = Head { council: w.b.0, seq: 7, head: Hash([7; 32]) };
        w.p.heads_answered(w.a.1, w.f1, Some(vec![a_ahead, from_b]), &w.logs);
        w.p.heads_answered(w.b.1, w.f2, None, &w.logs);
        let outs = w.p.take();
        // The sync a was asked for at accept time is still in flight: not asked twice.
        assert!(outs.is_empty(), "{outs:?}");
        // Nor of another member while it is: one sync per log at a time.
        let c = node(&mut w.logs, "c", 0);
        w.set(access(w.own, &[(w.f1, &[w.a.0, c.0]), (w.f2, &[w.b.0])]));
        w.let_in(c);
        w.p.heads_answered(c.1, w.f1, Some(vec![a_ahead]), &w.logs);
        assert!(!w.p.take().iter().any(|o| matches!(o, Out::Sync(_, r) if r.council == w.a.0)));
        // But as soon as the one in flight comes back short, c is asked (its answer may
        // have been made before what c showed), once.
        w.p.synced(w.a.1, w.a.0, 0, 0, &w.logs);
        assert_eq!(
            w.p.take(),
            vec![Out::Sync(c.1, SyncRequest { council: w.a.0, from_seq: 6, max_entries: SYNC_BATCH })]
        );
        w.p.synced(c.1, w.a.0, 1, 1, &w.logs);
        assert!(w.p.take().is_empty());
        w.p.synced(w.a.1, w.a.0, 0, 0, &w.logs);
        a_ahead.seq = 10;
        w.p.heads_answered(w.a.1, w.f1, Some(vec![a_ahead]), &w.logs);
        let outs = w.p.take();
        assert_eq!(outs, vec![Out::Sync(w.a.1, SyncRequest { council: w.a.0, from_seq: 6, max_entries: SYNC_BATCH })]);
        // The next tick asks each member again, on its own federation only.
        w.p.tick(1_000, &w.logs);
        let mut heads: Vec<(PeerId, FederationId)> =
            w.p.take()
                .into_iter()
                .filter_map(|o| match o {
                    Out::Heads(p, r) => Some((p, r.federation)),
                    _ => None,
                })
                .collect();
        heads.sort();
        let mut want = vec![(w.a.1, w.f1), (c.1, w.f1), (w.b.1, w.f2)];
        want.sort();
        assert_eq!(heads, want);
        // A full batch that moved the log on asks for the next one; a short one does not.
        w.p.synced(w.a.1, w.a.0, SYNC_BATCH as usize, 10, &w.logs);
        assert!(w.p.take().iter().any(|o| matches!(o, Out::Sync(p, r) if *p == w.a.1 && r.council == w.a.0)));
        w.p.synced(w.a.1, w.a.0, 3, 3, &w.logs);
        assert!(w.p.take().is_empty());
    }

    #[test]
    fn gossip_out_of_reach_asks_the_sender_only_for_logs_with_standing() {
        let mut w = world();
        w.set(w.both());
        let stranger = Hash::of(b"not federated");
        w.p.out_of_reach(w.a.1, stranger, false, &w.logs);
        assert!(w.p.take().is_empty());
        w.p.out_of_reach(w.a.1, w.b.0, false, &w.logs);
        assert_eq!(
            w.p.take(),
            vec![Out::Sync(w.a.1, SyncRequest { council: w.b.0, from_seq: 3, max_entries: SYNC_BATCH })]
        );
    }
}
