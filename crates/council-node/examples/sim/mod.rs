//! A seeded, deterministic simulation of one federation's network, with no sockets.
//!
//! Every node runs the node's real network decisions ([`council_node::proto::Peering`]):
//! who it says hello to and lets in, what it syncs from whom after a heads exchange,
//! probes, stalls and redials, and which peers may use the federation's topic. This
//! module is only the world around them: a clock, links with latency, gossip, requests,
//! partitions and restarts, all drawn from one seeded random generator, so the same
//! seed gives the same run, event for event ([`Report::trace`]).
//!
//! What is modelled, and what is not:
//! - A node is one council; all are members of one federation. Logs are chains of entry
//!   ids: what a node holds of a log is how far along the chain it is. Signatures and
//!   the council rules are not run (they are `council_core`'s, tested on their own and
//!   in the real-node suites): every entry here is valid.
//! - Gossip is gossipsub's eager part: a publisher sends to every peer of the topic
//!   (flood publishing), and a node forwards a new entry to its mesh (up to `mesh`
//!   peers, topped up every heartbeat). Each copy may be lost (`loss`). Gossipsub's lazy
//!   IHAVE/IWANT repair is not modelled: what is lost is repaired by the heads exchange.
//!   A node sends gossip only to peers its [`Out::Allow`] lets use the topic, as the
//!   node's topic gate does.
//! - Requests (hello, heads, sync, probe) travel with latency and are never lost on a
//!   live link; across a partition they go unanswered, and fail when their connection
//!   closes or after 30 s, as libp2p's request-response does.
//! - Nodes find each other through a fixed list of `degree` random addresses each
//!   (Kademlia's discovery is not modelled).
//! - Sizes are those of the protocol's encodings: a head and an entry are measured from
//!   real records at start.
//!
//! With `SIM_DEBUG` set, a run that does not converge prints what each node is missing.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;

use council_core::access::Access;
use council_core::cbor::Cbor;
use council_core::records::{CouncilId, FederationId};
use council_core::sample::key_from_label;
use council_core::{Hash, PublicKey};
use council_net::{federation_topic, peer_id_of, Head, Multiaddr, PeerId};
use council_node::proto::{Logs, Out, Peering};
use rand::seq::index::sample;
use rand::{RngExt, SeedableRng};
use rand_pcg::Pcg64Mcg;

/// How a run is set up.
#[derive(Debug, Clone)]
pub struct Params {
    pub councils: usize,
    pub seed: u64,
    /// Addresses each node dials at start (and redials when lost).
    pub degree: usize,
    /// Gossipsub's mesh size (D).
    pub mesh: usize,
    /// One-way latency of a link, drawn uniformly from this range (ms).
    pub latency_ms: (u64, u64),
    /// The chance that one gossip copy is lost.
    pub loss: f64,
    /// The sync interval (a node's tick).
    pub tick_ms: u64,
    /// New entries, made by random councils, spread over `load_ms`.
    pub entries: usize,
    pub load_ms: u64,
    /// From `load_ms / 4` to `load_ms / 2`, this share of the nodes is cut off from the rest.
    pub partition: f64,
    /// Nodes that stop during the load and start again `down_ms` later, with their logs
    /// but no other state.
    pub churn: usize,
    pub down_ms: u64,
    /// Council 0 leaves the federation at `load_ms / 3`.
    pub leave: bool,
    /// The run stops here whatever happened.
    pub limit_ms: u64,
}

impl Params {
    /// A federation of `councils` with the daemon's defaults: 5 s sync interval, a mesh of
    /// 6, 10–50 ms links, 1% of gossip copies lost, a partition of a tenth of the nodes,
    /// a tenth of them restarted, and one council leaving.
    pub fn federation(councils: usize, seed: u64) -> Params {
        Params {
            councils,
            seed,
            degree: 8,
            mesh: 6,
            latency_ms: (10, 50),
            loss: 0.01,
            tick_ms: 5_000,
            entries: councils,
            load_ms: 20_000,
            partition: 0.1,
            churn: councils / 10,
            down_ms: 8_000,
            leave: true,
            limit_ms: 120_000,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub councils: usize,
    pub entries: usize,
    /// From the last new entry until every node up (the leaver aside) holds every log
    /// to its end; `None` if that never happened before the limit.
    pub converged_after_last_entry_ms: Option<u64>,
    /// The marked entry (made halfway through the load, like a recall): from its making
    /// until every node up holds it, and the median node.
    pub recall_all_ms: Option<u64>,
    pub recall_median_ms: Option<u64>,
    /// Per node, per new entry: gossip copies received, and their bytes.
    pub gossip_per_node_per_entry: f64,
    pub gossip_bytes_per_node_per_entry: f64,
    /// Per node, per new entry: heads and sync messages (requests and answers), and bytes.
    pub repair_per_node_per_entry: f64,
    pub repair_bytes_per_node_per_entry: f64,
    /// Per node per second of the run: heads bytes (the cost of the safety net at rest
    /// and under load).
    pub heads_bytes_per_node_per_s: f64,
    /// Entries made after the leave that reached the leaver's node from a node that
    /// already held the leave (must be 0).
    pub leaked_to_leaver: u64,
    /// Entries the leaver's node received in all after it left (from nodes that had not
    /// heard of the leave yet, or none).
    pub after_leave_received: u64,
    pub connections_mean: f64,
    /// A digest of every event in order: two runs agree event for event iff it is equal.
    pub trace: Hash,
    pub events: u64,
}

const HEARTBEAT_MS: u64 = 1_000;
const REQUEST_TIMEOUT_MS: u64 = 30_000;

#[derive(Debug, Clone)]
enum Msg {
    Hello,
    Welcome,
    Refused,
    HeadsReq(council_net::HeadsRequest),
    HeadsResp(FederationId, Option<Vec<Head>>),
    SyncReq(council_net::SyncRequest),
    SyncResp { council: CouncilId, served: Vec<u64> },
    ProbeReq(u64),
    ProbeResp(u64),
    Gossip { council: usize, seq: u64 },
}

#[derive(Debug)]
enum Ev {
    Deliver { from: usize, to: usize, msg: Msg, req: Option<u64> },
    Connect { from: usize, to: usize },
    Tick(usize),
    Heartbeat(usize),
    NewEntry { council: usize, marked: bool },
    Down(usize),
    Up(usize),
    Timeout(u64),
}

/// A request waiting for its answer: who asked whom, and what.
#[derive(Debug, Clone)]
struct Pending {
    from: usize,
    to: usize,
    msg: Msg,
}

struct Node {
    peering: Peering,
    /// The addresses it was configured to dial.
    dial: Vec<Multiaddr>,
    /// How far along each council's chain this node is.
    seqs: Vec<u64>,
    up: bool,
    /// Connected peers (node indexes).
    conns: BTreeSet<usize>,
    /// Peers allowed on the topic, by this node's last [`Out::Allow`].
    allowed: BTreeSet<usize>,
    mesh: BTreeSet<usize>,
    /// Whether this node holds council 0's leave.
    knows_leave: bool,
    left: bool,
}

/// What every node reads: the chains and identities.
struct Shared {
    ids: Vec<CouncilId>,
    keys: Vec<PublicKey>,
    peers: Vec<PeerId>,
    index: HashMap<CouncilId, usize>,
    by_peer: HashMap<PeerId, usize>,
    chains: Vec<Vec<Hash>>,
}

struct View<'a> {
    seqs: &'a [u64],
    shared: &'a Shared,
}

impl Logs for View<'_> {
    fn tip(&self, c: &CouncilId) -> Option<(u64, Hash)> {
        let i = *self.shared.index.get(c)?;
        let s = self.seqs[i];
        Some((s, self.shared.chains[i][s as usize]))
    }
    fn holds(&self, c: &CouncilId, seq: u64, head: &Hash) -> bool {
        let Some(&i) = self.shared.index.get(c) else { return false };
        seq <= self.seqs[i] && self.shared.chains[i].get(seq as usize) == Some(head)
    }
    fn node_key(&self, c: &CouncilId) -> Option<PublicKey> {
        self.shared.index.get(c).map(|i| self.shared.keys[*i])
    }
}

#[derive(Default)]
struct Counters {
    gossip: u64,
    gossip_bytes: u64,
    repair: u64,
    repair_bytes: u64,
    heads_bytes: u64,
    leaked: u64,
    after_leave: u64,
    conn_samples: u64,
    conn_sum: u64,
}

pub struct Sim {
    p: Params,
    rng: Pcg64Mcg,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64)>>,
    events: HashMap<u64, Ev>,
    nodes: Vec<Node>,
    shared: Shared,
    federation: FederationId,
    pending: BTreeMap<u64, Pending>,
    next_req: u64,
    partitioned: Option<BTreeSet<usize>>,
    entry_bytes: u64,
    head_bytes: u64,
    made: usize,
    last_entry_at: u64,
    marked: Option<(usize, u64, u64)>,
    marked_at: BTreeMap<usize, u64>,
    leave_seq: Option<u64>,
    c: Counters,
    trace: sha2::Sha256,
    n_events: u64,
    /// Whether a log, a chain or a node's state changed since [`Sim::converged`] was last
    /// asked: it scans every node's place in every log, so it is asked only then.
    changed: bool,
}

fn dial_addr(shared: &Shared, i: usize) -> Multiaddr {
    // The address names only the peer: the simulator routes by peer id.
    format!("/memory/{}/p2p/{}", i + 1, shared.peers[i]).parse().expect("a valid address")
}

impl Sim {
    pub fn new(p: Params) -> Sim {
        let mut rng = Pcg64Mcg::seed_from_u64(p.seed);
        let n = p.councils;
        let ids: Vec<CouncilId> = (0..n).map(|i| Hash::of(format!("sim council {i}").as_bytes())).collect();
        let keys: Vec<PublicKey> = (0..n).map(|i| key_from_label(&format!("sim node {i}")).public()).collect();
        let peers: Vec<PeerId> = keys.iter().map(peer_id_of).collect();
        let shared = Shared {
            index: ids.iter().enumerate().map(|(i, c)| (*c, i)).collect(),
            by_peer: peers.iter().enumerate().map(|(i, p)| (*p, i)).collect(),
            chains: ids.iter().map(|c| vec![*c]).collect(),
            ids,
            keys,
            peers,
        };
        let federation = Hash::of(b"sim federation");
        let mut nodes = Vec::with_capacity(n);
        for i in 0..n {
            let dial: Vec<Multiaddr> = sample(&mut rng, n - 1, p.degree.min(n - 1))
                .into_iter()
                .map(|j| if j >= i { j + 1 } else { j })
                .map(|j| dial_addr(&shared, j))
                .collect();
            nodes.push(Node {
                peering: Peering::new(shared.ids[i], Vec::new(), 0),
                dial,
                seqs: vec![0; n],
                up: true,
                conns: BTreeSet::new(),
                allowed: BTreeSet::new(),
                mesh: BTreeSet::new(),
                knows_leave: false,
                left: false,
            });
        }
        let entry_bytes = sample_entry_bytes();
        let head_bytes =
            Head { council: Hash([0xff; 32]), seq: u64::MAX, head: Hash([0xff; 32]) }.to_cbor().len() as u64;
        let mut sim = Sim {
            p,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: HashMap::new(),
            nodes,
            shared,
            federation,
            pending: BTreeMap::new(),
            next_req: 0,
            partitioned: None,
            entry_bytes,
            head_bytes,
            made: 0,
            last_entry_at: 0,
            marked: None,
            marked_at: BTreeMap::new(),
            leave_seq: None,
            c: Counters::default(),
            trace: <sha2::Sha256 as sha2::Digest>::new(),
            n_events: 0,
            changed: true,
        };
        for i in 0..n {
            sim.boot(i);
        }
        // The load: entries at random times, one marked halfway.
        let times: Vec<u64> = (0..sim.p.entries).map(|_| sim.rng.random_range(0..sim.p.load_ms.max(1))).collect();
        let half = sim.p.load_ms / 2;
        let marked = times.iter().enumerate().min_by_key(|(_, t)| t.abs_diff(half)).map(|(k, _)| k);
        for (k, t) in times.into_iter().enumerate() {
            let council = sim.rng.random_range(0..n);
            sim.at(t, Ev::NewEntry { council, marked: Some(k) == marked });
        }
        // Restarts, drawn among the nodes other than the leaver.
        let churn = sim.p.churn.min(n.saturating_sub(1));
        for j in sample(&mut sim.rng, n - 1, churn) {
            let t = sim.rng.random_range(0..sim.p.load_ms.max(1));
            sim.at(t, Ev::Down(j + 1));
            sim.at(t + sim.p.down_ms, Ev::Up(j + 1));
        }
        sim
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.seq += 1;
        self.events.insert(self.seq, ev);
        self.queue.push(Reverse((t, self.seq)));
    }

    fn latency(&mut self) -> u64 {
        let (a, b) = self.p.latency_ms;
        self.rng.random_range(a..=b.max(a))
    }

    fn cut(&self, a: usize, b: usize) -> bool {
        self.partitioned.as_ref().is_some_and(|side| side.contains(&a) != side.contains(&b))
    }

    fn access_of(&self, i: usize) -> Arc<Access> {
        let own = self.shared.ids[i];
        if self.nodes[i].left {
            let others = self.shared.ids.iter().copied().filter(|c| *c != own).collect();
            return Arc::new(Access::none(own).with_audience(others));
        }
        let mut circle: BTreeSet<CouncilId> = self.shared.ids.iter().copied().collect();
        let access = if self.nodes[i].knows_leave {
            circle.remove(&self.shared.ids[0]);
            Access::from_circles(own, BTreeMap::from([(self.federation, circle)]))
                .with_former(self.federation, BTreeSet::from([self.shared.ids[0]]))
        } else {
            Access::from_circles(own, BTreeMap::from([(self.federation, circle)]))
        };
        Arc::new(access)
    }

    /// Starts (or restarts) node `i`: a fresh state machine over the logs it kept.
    fn boot(&mut self, i: usize) {
        let stall_after = (3 * self.p.tick_ms).max(2_000);
        let mut fresh = Peering::new(self.shared.ids[i], self.nodes[i].dial.clone(), stall_after);
        for (k, key) in self.shared.keys.iter().enumerate() {
            fresh.learn_peer_id(key, self.shared.peers[k]);
        }
        let access = self.access_of(i);
        let node = &mut self.nodes[i];
        fresh.set_access(access, &View { seqs: &node.seqs, shared: &self.shared });
        fresh.start();
        node.peering = fresh;
        node.up = true;
        self.changed = true;
        self.carry_out(i);
        let first_tick = self.rng.random_range(0..self.p.tick_ms);
        self.at(self.now + first_tick, Ev::Tick(i));
        let hb = self.rng.random_range(0..HEARTBEAT_MS);
        self.at(self.now + hb, Ev::Heartbeat(i));
    }

    fn send(&mut self, from: usize, to: usize, msg: Msg, req: Option<u64>) {
        let t = self.now + self.latency();
        self.at(t, Ev::Deliver { from, to, msg, req });
    }

    fn request(&mut self, from: usize, to: usize, msg: Msg) {
        if !self.nodes[from].conns.contains(&to) {
            self.fail(from, to, &msg);
            return;
        }
        self.next_req += 1;
        let id = self.next_req;
        self.pending.insert(id, Pending { from, to, msg: msg.clone() });
        self.at(self.now + REQUEST_TIMEOUT_MS, Ev::Timeout(id));
        self.count_request(&msg);
        self.send(from, to, msg, Some(id));
    }

    fn count_request(&mut self, msg: &Msg) {
        match msg {
            Msg::HeadsReq(_) => {
                self.c.repair += 1;
                self.c.repair_bytes += 80;
                self.c.heads_bytes += 80;
            }
            Msg::SyncReq(_) => {
                self.c.repair += 1;
                self.c.repair_bytes += 60;
            }
            _ => {}
        }
    }

    /// A request that cannot be answered: the asker hears it failed.
    fn fail(&mut self, from: usize, to: usize, msg: &Msg) {
        let peer = self.shared.peers[to];
        let node = &mut self.nodes[from];
        if !node.up {
            return;
        }
        let view = View { seqs: &node.seqs, shared: &self.shared };
        match msg {
            Msg::HeadsReq(r) => node.peering.heads_answered(peer, r.federation, None, &view),
            Msg::SyncReq(r) => node.peering.synced(peer, r.council, 0, 0, &view),
            Msg::ProbeReq(id) => node.peering.probed(peer, *id),
            _ => {}
        }
        self.carry_out(from);
    }

    /// Fails every request between `a` and `b` (their connection closed).
    fn fail_between(&mut self, a: usize, b: usize) {
        let ids: Vec<u64> = self
            .pending
            .iter()
            .filter(|(_, p)| (p.from == a && p.to == b) || (p.from == b && p.to == a))
            .map(|(id, _)| *id)
            .collect();
        for id in ids {
            if let Some(p) = self.pending.remove(&id) {
                self.fail(p.from, p.to, &p.msg);
            }
        }
    }

    fn disconnect(&mut self, a: usize, b: usize) {
        if !self.nodes[a].conns.remove(&b) {
            return;
        }
        self.nodes[b].conns.remove(&a);
        self.nodes[a].mesh.remove(&b);
        self.nodes[b].mesh.remove(&a);
        let (pa, pb) = (self.shared.peers[a], self.shared.peers[b]);
        self.nodes[a].peering.disconnected(pb);
        self.nodes[b].peering.disconnected(pa);
        self.fail_between(a, b);
    }

    fn carry_out(&mut self, i: usize) {
        let outs = self.nodes[i].peering.take();
        for out in outs {
            match out {
                Out::Hello(p) => {
                    let j = self.shared.by_peer[&p];
                    self.request(i, j, Msg::Hello);
                }
                Out::Heads(p, r) => {
                    let j = self.shared.by_peer[&p];
                    self.request(i, j, Msg::HeadsReq(r));
                }
                Out::Sync(p, r) => {
                    let j = self.shared.by_peer[&p];
                    self.request(i, j, Msg::SyncReq(r));
                }
                Out::Probe(p, id, _) => {
                    let j = self.shared.by_peer[&p];
                    self.request(i, j, Msg::ProbeReq(id));
                }
                Out::Disconnect(p, _) => {
                    let j = self.shared.by_peer[&p];
                    self.disconnect(i, j);
                }
                Out::Dial(a) => {
                    let Some(p) = council_node::proto::peer_of(&a) else { continue };
                    let j = self.shared.by_peer[&p];
                    if j != i && !self.nodes[i].conns.contains(&j) {
                        let t = self.now + 2 * self.latency();
                        self.at(t, Ev::Connect { from: i, to: j });
                    }
                }
                Out::Subscribe(_) | Out::SubscribeWide(_) => {}
                Out::Allow(allowed) => {
                    let topic = federation_topic(&self.federation);
                    let now: BTreeSet<usize> = allowed
                        .iter()
                        .filter(|(_, topics)| topics.contains(&topic))
                        .map(|(p, _)| self.shared.by_peer[p])
                        .collect();
                    // The gate closes the connections of a peer that lost its topic.
                    let lost: Vec<usize> = self.nodes[i].allowed.difference(&now).copied().collect();
                    self.nodes[i].allowed = now;
                    for j in lost {
                        self.disconnect(i, j);
                    }
                }
            }
        }
    }

    fn view(&self, i: usize) -> View<'_> {
        View { seqs: &self.nodes[i].seqs, shared: &self.shared }
    }

    /// Applies entry `seq` of council `c` at node `i` if it is the next one there.
    fn apply(&mut self, i: usize, c: usize, seq: u64, from: usize) -> bool {
        if self.nodes[i].seqs[c] + 1 != seq {
            return false;
        }
        self.nodes[i].seqs[c] = seq;
        self.changed = true;
        if self.nodes[i].left && from != i {
            self.c.after_leave += 1;
            if self.nodes[from].knows_leave {
                self.c.leaked += 1;
            }
        }
        if Some((c, seq)) == self.marked.map(|(mc, ms, _)| (mc, ms)) {
            self.marked_at.insert(i, self.now);
        }
        if c == 0 && Some(seq) == self.leave_seq && i != 0 {
            self.nodes[i].knows_leave = true;
            let access = self.access_of(i);
            let node = &mut self.nodes[i];
            node.peering.set_access(access, &View { seqs: &node.seqs, shared: &self.shared });
            self.carry_out(i);
        }
        true
    }

    fn gossip_from(&mut self, i: usize, c: usize, seq: u64, except: Option<usize>, publish: bool) {
        let targets: Vec<usize> = if publish {
            self.nodes[i].conns.intersection(&self.nodes[i].allowed).copied().collect()
        } else {
            self.nodes[i].mesh.iter().copied().collect()
        };
        for j in targets {
            if Some(j) == except || !self.nodes[i].allowed.contains(&j) {
                continue;
            }
            self.c.gossip += 1;
            self.c.gossip_bytes += self.entry_bytes;
            if self.rng.random_bool(self.p.loss) {
                continue;
            }
            self.send(i, j, Msg::Gossip { council: c, seq }, None);
        }
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::Tick(i) => {
                if !self.nodes[i].up {
                    return;
                }
                let now = self.now;
                let node = &mut self.nodes[i];
                node.peering.tick(now, &View { seqs: &node.seqs, shared: &self.shared });
                self.carry_out(i);
                self.at(now + self.p.tick_ms, Ev::Tick(i));
                self.c.conn_samples += 1;
                self.c.conn_sum += self.nodes[i].conns.len() as u64;
            }
            Ev::Heartbeat(i) => {
                if !self.nodes[i].up {
                    return;
                }
                let node = &mut self.nodes[i];
                let eligible: Vec<usize> = node.conns.intersection(&node.allowed).copied().collect();
                node.mesh.retain(|j| eligible.contains(j));
                let spare: Vec<usize> = eligible.iter().filter(|j| !node.mesh.contains(j)).copied().collect();
                let want = self.p.mesh.saturating_sub(node.mesh.len()).min(spare.len());
                for k in sample(&mut self.rng, spare.len(), want) {
                    self.nodes[i].mesh.insert(spare[k]);
                }
                self.at(self.now + HEARTBEAT_MS, Ev::Heartbeat(i));
            }
            Ev::Connect { from, to } => {
                if !self.nodes[from].up
                    || !self.nodes[to].up
                    || self.cut(from, to)
                    || self.nodes[from].conns.contains(&to)
                {
                    return;
                }
                self.nodes[from].conns.insert(to);
                self.nodes[to].conns.insert(from);
                let (pf, pt) = (self.shared.peers[from], self.shared.peers[to]);
                self.nodes[to].peering.connected(pf, false);
                self.carry_out(to);
                self.nodes[from].peering.connected(pt, true);
                self.carry_out(from);
            }
            Ev::NewEntry { council, marked } => {
                let c = council;
                if !self.nodes[c].up || self.nodes[c].left {
                    return;
                }
                let seq = self.nodes[c].seqs[c] + 1;
                let prev = self.shared.chains[c][seq as usize - 1];
                self.shared.chains[c].push(Hash::of(&[prev.0.as_slice(), &seq.to_be_bytes()].concat()));
                self.nodes[c].seqs[c] = seq;
                self.made += 1;
                self.changed = true;
                self.last_entry_at = self.now;
                if marked {
                    self.marked = Some((c, seq, self.now));
                    self.marked_at.insert(c, self.now);
                }
                self.gossip_from(c, c, seq, None, true);
            }
            Ev::Deliver { from, to, msg, req } => self.deliver(from, to, msg, req),
            Ev::Down(i) => {
                self.nodes[i].up = false;
                self.changed = true;
                for j in self.nodes[i].conns.clone() {
                    self.disconnect(i, j);
                }
                let gone: Vec<u64> =
                    self.pending.iter().filter(|(_, p)| p.from == i || p.to == i).map(|(id, _)| *id).collect();
                for id in gone {
                    self.pending.remove(&id);
                }
            }
            Ev::Up(i) => self.boot(i),
            Ev::Timeout(id) => {
                if let Some(p) = self.pending.remove(&id) {
                    self.fail(p.from, p.to, &p.msg);
                }
            }
        }
    }

    fn deliver(&mut self, from: usize, to: usize, msg: Msg, req: Option<u64>) {
        // Gossip already sent is delivered even if the connection closes behind it (a
        // graceful close); a request needs the connection its answer goes back on.
        let gossip = matches!(msg, Msg::Gossip { .. });
        let live = self.nodes[to].up && (gossip || (self.nodes[from].up && self.nodes[to].conns.contains(&from)));
        if !live || self.cut(from, to) {
            // Lost with the link: a request fails by its timeout or when the link closes.
            return;
        }
        let peer = self.shared.peers[from];
        match msg {
            Msg::Gossip { council, seq } => {
                // The topic gate: gossip from a peer not allowed on the topic is dropped.
                if !self.nodes[to].allowed.contains(&from) {
                    return;
                }
                let have = self.nodes[to].seqs[council];
                if seq <= have {
                    return;
                }
                if seq == have + 1 {
                    self.apply(to, council, seq, from);
                    self.gossip_from(to, council, seq, Some(from), false);
                } else {
                    let node = &mut self.nodes[to];
                    let c = self.shared.ids[council];
                    node.peering.out_of_reach(peer, c, true, &View { seqs: &node.seqs, shared: &self.shared });
                    self.carry_out(to);
                }
            }
            Msg::Hello => {
                let now = self.now;
                let accepted = self.nodes[to].peering.hello_arrived(peer, now)
                    && self.nodes[to].peering.access().councils().contains(&self.shared.ids[from]);
                if accepted {
                    let node = &mut self.nodes[to];
                    node.peering.accept(peer, self.shared.ids[from], &View { seqs: &node.seqs, shared: &self.shared });
                }
                self.carry_out(to);
                self.send(to, from, if accepted { Msg::Welcome } else { Msg::Refused }, req);
            }
            Msg::Welcome => {
                if self.answered(req).is_none() {
                    return;
                }
                let c = self.shared.ids[from];
                if self.nodes[to].peering.access().councils().contains(&c) {
                    let node = &mut self.nodes[to];
                    node.peering.accept(peer, c, &View { seqs: &node.seqs, shared: &self.shared });
                    self.carry_out(to);
                }
            }
            Msg::Refused => {
                self.answered(req);
            }
            Msg::HeadsReq(r) => {
                let answer = self.nodes[to].peering.heads_for(&peer, &r, &self.view(to)).ok().flatten();
                let bytes = 40 + answer.as_ref().map_or(0, |h| h.len() as u64 * self.head_bytes);
                self.c.repair += 1;
                self.c.repair_bytes += bytes;
                self.c.heads_bytes += bytes;
                self.send(to, from, Msg::HeadsResp(r.federation, answer), req);
            }
            Msg::HeadsResp(f, heads) => {
                if self.answered(req).is_none() {
                    return;
                }
                let node = &mut self.nodes[to];
                node.peering.heads_answered(peer, f, heads, &View { seqs: &node.seqs, shared: &self.shared });
                self.carry_out(to);
            }
            Msg::SyncReq(r) => {
                let mut served = Vec::new();
                if self.nodes[to].peering.may_read(&peer, &r.council) {
                    if let Some(&c) = self.shared.index.get(&r.council) {
                        let upto = self.nodes[to].seqs[c];
                        let from_seq = r.from_seq.max(1);
                        served = (from_seq..=upto).take(r.max_entries as usize).collect();
                    }
                }
                self.c.repair += 1;
                self.c.repair_bytes += 40 + served.len() as u64 * self.entry_bytes;
                self.send(to, from, Msg::SyncResp { council: r.council, served }, req);
            }
            Msg::SyncResp { council, served } => {
                if self.answered(req).is_none() {
                    return;
                }
                let c = self.shared.index[&council];
                let mut applied = 0;
                for s in &served {
                    if self.apply(to, c, *s, from) {
                        applied += 1;
                    }
                }
                let node = &mut self.nodes[to];
                node.peering.synced(
                    peer,
                    council,
                    served.len(),
                    applied,
                    &View { seqs: &node.seqs, shared: &self.shared },
                );
                self.carry_out(to);
            }
            Msg::ProbeReq(id) => self.send(to, from, Msg::ProbeResp(id), req),
            Msg::ProbeResp(id) => {
                if self.answered(req).is_some() {
                    self.nodes[to].peering.probed(peer, id);
                    self.carry_out(to);
                }
            }
        }
    }

    /// Takes an answer's request off the pending list; `None` if it already failed.
    fn answered(&mut self, req: Option<u64>) -> Option<Pending> {
        self.pending.remove(&req?)
    }

    fn converged(&self) -> bool {
        let ends: Vec<u64> = self.shared.chains.iter().map(|c| c.len() as u64 - 1).collect();
        self.nodes.iter().enumerate().filter(|(i, n)| n.up && !n.left && !(self.p.leave && *i == 0)).all(|(_, n)| {
            n.seqs
                .iter()
                .zip(&ends)
                .enumerate()
                .all(|(c, (s, e))| *s == *e || (self.p.leave && c == 0 && n.knows_leave))
        })
    }

    /// Runs to convergence after the load (or the limit) and reports.
    pub fn run(mut self) -> Report {
        use sha2::Digest;
        let half = self.p.load_ms / 2;
        let (cut_from, cut_until) = (self.p.load_ms / 4, half);
        let leave_at = self.p.load_ms / 3;
        let (mut cut_done, mut leave_done) = (self.p.partition <= 0.0, !self.p.leave);
        let mut converged_at = None;
        while let Some(Reverse((t, id))) = self.queue.pop() {
            if t > self.p.limit_ms {
                break;
            }
            self.now = t;
            if !cut_done && self.partitioned.is_none() && t >= cut_from {
                let k = ((self.p.councils as f64) * self.p.partition).round() as usize;
                self.partitioned = Some(sample(&mut self.rng, self.p.councils, k).into_iter().collect());
            }
            if self.partitioned.is_some() && t >= cut_until {
                self.partitioned = None;
                cut_done = true;
            }
            if !leave_done && t >= leave_at && self.nodes[0].up {
                leave_done = true;
                // Council 0 records its leave (its last entry) and gossips it; from then on
                // its own view takes part in nothing.
                let seq = self.nodes[0].seqs[0] + 1;
                let prev = self.shared.chains[0][seq as usize - 1];
                self.shared.chains[0].push(Hash::of(&[prev.0.as_slice(), b"leave"].concat()));
                self.nodes[0].seqs[0] = seq;
                self.leave_seq = Some(seq);
                self.gossip_from(0, 0, seq, None, true);
                self.nodes[0].left = true;
                self.changed = true;
                let access = self.access_of(0);
                let node = &mut self.nodes[0];
                node.peering.set_access(access, &View { seqs: &node.seqs, shared: &self.shared });
                self.carry_out(0);
            }
            let Some(ev) = self.events.remove(&id) else { continue };
            self.n_events += 1;
            self.trace.update(format!("{t} {ev:?}").as_bytes());
            self.handle(ev);
            if cut_done && leave_done && t >= self.p.load_ms && self.changed && self.pending_restarts() == 0 {
                self.changed = false;
                if self.converged() {
                    converged_at = Some(t);
                    break;
                }
            }
        }
        if converged_at.is_none() && std::env::var_os("SIM_DEBUG").is_some() {
            let ends: Vec<u64> = self.shared.chains.iter().map(|c| c.len() as u64 - 1).collect();
            for (i, nd) in self.nodes.iter().enumerate() {
                let miss: Vec<(usize, u64, u64)> = nd
                    .seqs
                    .iter()
                    .zip(&ends)
                    .enumerate()
                    .filter(|(_, (s, e))| s != e)
                    .map(|(c, (s, e))| (c, *s, *e))
                    .collect();
                if !miss.is_empty() {
                    eprintln!(
                        "node {i} up={} left={} knows_leave={} conns={:?} allowed={} missing={miss:?}",
                        nd.up,
                        nd.left,
                        nd.knows_leave,
                        nd.conns,
                        nd.allowed.len()
                    );
                }
            }
        }
        let n = self.p.councils as f64;
        let e = self.made.max(1) as f64;
        let span_s = (self.now.max(1) as f64) / 1000.0;
        let mut times: Vec<u64> = match self.marked {
            Some((_, _, at)) => self
                .nodes
                .iter()
                .enumerate()
                .filter(|(i, nd)| nd.up && !nd.left && !(self.p.leave && *i == 0))
                .map(|(i, _)| self.marked_at.get(&i).map_or(u64::MAX, |t| t - at))
                .collect(),
            None => Vec::new(),
        };
        times.sort();
        let all = times.last().copied().filter(|t| *t != u64::MAX);
        let median = times.get(times.len() / 2).copied().filter(|t| *t != u64::MAX);
        Report {
            councils: self.p.councils,
            entries: self.made,
            converged_after_last_entry_ms: converged_at.map(|t| t.saturating_sub(self.last_entry_at)),
            recall_all_ms: all,
            recall_median_ms: median,
            gossip_per_node_per_entry: self.c.gossip as f64 / n / e,
            gossip_bytes_per_node_per_entry: self.c.gossip_bytes as f64 / n / e,
            repair_per_node_per_entry: self.c.repair as f64 / n / e,
            repair_bytes_per_node_per_entry: self.c.repair_bytes as f64 / n / e,
            heads_bytes_per_node_per_s: self.c.heads_bytes as f64 / n / span_s,
            leaked_to_leaver: self.c.leaked,
            after_leave_received: self.c.after_leave,
            connections_mean: self.c.conn_sum as f64 / self.c.conn_samples.max(1) as f64,
            trace: Hash(self.trace.finalize().into()),
            events: self.n_events,
        }
    }

    fn pending_restarts(&self) -> usize {
        self.nodes.iter().filter(|n| !n.up).count()
    }
}

/// The encoded size of a typical entry (a member's vote), from a real record.
fn sample_entry_bytes() -> u64 {
    use council_core::records::{Action, CouncilRules, MotionForm, Rule, Share, Threshold};
    use council_core::sample::CouncilBuilder;
    let m = key_from_label("sim/m");
    let Ok(mut b) =
        CouncilBuilder::found("sim", &[&m], CouncilRules::default(), key_from_label("sim/node"), 1_800_000_000)
    else {
        return 300;
    };
    let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    if b.open(1_800_000_001, &m, "a motion", MotionForm::YesNo(Action::Resolution), rule, 1_900_000_000).is_err() {
        return 300;
    }
    b.take_entries().first().map_or(300, |e| council_core::export::ExportItem::Entry(e.clone()).to_cbor().len() as u64)
}
