//! The event loop that owns the swarm, and the handle the rest of the node uses.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use libp2p::gossipsub::{self, IdentTopic, MessageAcceptance, MessageAuthenticity, MessageId, TopicHash};
use libp2p::kad;
use libp2p::metrics::{Metrics, Recorder};
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport, ResponseChannel};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::dial_opts::{DialOpts, PeerCondition};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{identify, mdns, noise, tcp, yamux, Multiaddr, PeerId, Swarm};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use tokio::sync::{mpsc, oneshot};

use crate::codec::{Head, HeadsRequest, Hello, Request, Response, SyncCodec, SyncRequest, SyncResponse, PROTOCOL};
use crate::discovery::GatedKad;
use crate::guard::{ConnectionGuard, GuardLimits};
use crate::topics::{message_id, TopicGate};
use crate::transport::FreshPort;

/// The largest gossip message data accepted (one export item: a log entry of at most
/// 1 MiB, plus its framing). Larger data that arrives is rejected, and its sender
/// penalised, before anything decodes it.
pub const MAX_MESSAGE_BYTES: usize = council_core::records::limits::MAX_RECORD_BYTES + 4096;
/// The largest gossipsub frame read from a peer: the message data, gossipsub's own fields
/// and room for an oversized message to arrive and be penalised. A frame beyond it is
/// discarded by libp2p's codec unread, which gossipsub cannot attribute to a message.
const MAX_FRAME_BYTES: usize = MAX_MESSAGE_BYTES + 64 * 1024;
/// How long gossipsub remembers a message id, dropping the same message unread. As long
/// as its peer scoring remembers a delivery (two minutes, fixed in libp2p-gossipsub):
/// a copy arriving after that is judged afresh, and if the node rejects it (a replayed
/// old entry, PROTOCOL.md §12.3) the sender is penalised. With a shorter cache, a copy
/// between the two would be judged but could not be penalised.
pub const DUPLICATE_CACHE: Duration = Duration::from_secs(120);

/// Commands queued towards the swarm; when full, callers wait.
const COMMAND_QUEUE: usize = 1024;
/// Events queued towards the node; when full, new gossip is ignored rather than queued.
const EVENT_QUEUE: usize = 4096;
/// The most addresses taken from one peer's identify message into the routing table.
const MAX_PEER_ADDRS: usize = 8;
/// Discovery dials member nodes until this many are connected. Gossip and sync reach
/// every member through a connected few; a full mesh would cost every node a connection
/// per member.
const TARGET_MEMBER_PEERS: usize = 8;

/// How long an inbound or outbound connection may take to finish its handshake (TCP,
/// multistream-select, Noise, Yamux). A connection that never starts Noise holds a
/// pending slot no longer than this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// How the node judged a gossip message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Valid and new: forward it.
    Accept,
    /// Not harmful, not useful (a duplicate, or something we cannot judge yet): drop it.
    Ignore,
    /// Invalid: drop it and penalise the peer that sent it.
    Reject,
}

#[derive(Debug, Clone)]
pub struct NetConfig {
    pub keypair: libp2p::identity::Keypair,
    pub listen: Vec<Multiaddr>,
    pub bootstrap: Vec<Multiaddr>,
    /// Gossipsub heartbeat; short in tests.
    pub heartbeat: Duration,
    /// How long a peer that is not allowed may stay connected to say hello.
    pub hello_grace: Duration,
    /// The most connections kept at once (inbound and outbound together), and the most
    /// per peer.
    pub max_connections: u32,
    /// Look for other nodes on the local network with mDNS (multicast DNS). Found nodes
    /// are dialed and then gated like any other.
    pub mdns: bool,
    /// Find member nodes beyond the known addresses with Kademlia, served to allowed
    /// peers only (see [`crate::discovery`]).
    pub kademlia: bool,
    /// How often the node looks for allowed peers it is not connected to.
    pub discovery_interval: Duration,
    /// What a peer may cost before it is known (see [`crate::guard`]).
    pub guard: GuardLimits,
    /// Where libp2p's metrics go, and the gossip verdicts this layer gives itself;
    /// none are kept without it.
    pub metrics: Option<NetMetrics>,
}

/// The metrics the network keeps.
#[derive(Debug, Clone)]
pub struct NetMetrics {
    /// libp2p's own metrics (connections, bandwidth, gossipsub, identify, Kademlia) are
    /// registered here, all named `libp2p_…`.
    pub registry: Arc<Mutex<Registry>>,
    /// Gossip messages judged, by verdict and reason. This layer counts those it judges
    /// itself (from a peer not allowed, oversized, shed while the node is behind); the
    /// node counts the rest into the same family.
    pub gossip: Family<GossipLabels, Counter>,
}

/// The labels of a gossip verdict count.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct GossipLabels {
    /// `accept`, `ignore` or `reject`.
    pub verdict: &'static str,
    /// Why, in a few words without spaces (`valid`, `bad-signature`, `oversized`, ...).
    pub reason: &'static str,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Accept => "accept",
            Verdict::Ignore => "ignore",
            Verdict::Reject => "reject",
        }
    }
}

impl NetMetrics {
    /// Counts one verdict.
    pub fn judged(&self, verdict: Verdict, reason: &'static str) {
        self.gossip.get_or_create(&GossipLabels { verdict: verdict.as_str(), reason }).inc();
    }
}

impl NetConfig {
    /// Defaults for everything but the identity and addresses.
    pub fn new(keypair: libp2p::identity::Keypair, listen: Vec<Multiaddr>) -> Self {
        NetConfig {
            keypair,
            listen,
            bootstrap: Vec::new(),
            heartbeat: Duration::from_secs(1),
            hello_grace: Duration::from_secs(10),
            max_connections: 256,
            mdns: false,
            kademlia: true,
            discovery_interval: Duration::from_secs(30),
            guard: GuardLimits::default(),
            metrics: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum NetError {
    #[error("the network task has stopped")]
    Stopped,
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, String),
    #[error("cannot dial {0}: {1}")]
    Dial(Multiaddr, String),
    #[error("gossip: {0}")]
    Gossip(String),
    #[error("sync with {0} failed: {1}")]
    Sync(PeerId, String),
    #[error("cannot build the network: {0}")]
    Build(String),
}

/// What the network tells the node.
#[derive(Debug)]
pub enum NetEvent {
    /// A gossip message; answer it with exactly one [`NetHandle::validate`].
    Gossip {
        id: MessageId,
        from: PeerId,
        topic: TopicHash,
        data: Vec<u8>,
    },
    /// An allowed peer asks for log entries; answer with [`NetHandle::respond`].
    SyncRequest {
        from: PeerId,
        request: SyncRequest,
        channel: ResponseChannel<Response>,
    },
    /// An allowed peer asks where a federation's logs stand; answer with
    /// [`NetHandle::respond`].
    HeadsRequest {
        from: PeerId,
        request: HeadsRequest,
        channel: ResponseChannel<Response>,
    },
    /// A peer (allowed or not) presents its council; answer with [`NetHandle::respond`]
    /// (`Welcome` or `Refused`), and [`NetHandle::allow`] it if it is welcome.
    Hello {
        from: PeerId,
        hello: Box<Hello>,
        channel: ResponseChannel<Response>,
    },
    /// The first connection to a peer is up; `dialed` if this node dialed it (the dialer
    /// says hello first, PROTOCOL.md §12.2).
    Connected {
        peer: PeerId,
        dialed: bool,
    },
    Disconnected(PeerId),
    Listening(Multiaddr),
}

enum Command {
    Subscribe(String, oneshot::Sender<Result<(), NetError>>),
    Publish(String, Vec<u8>, oneshot::Sender<Result<(), NetError>>),
    Validate(MessageId, PeerId, Verdict),
    Dial(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    Listen(Multiaddr, oneshot::Sender<Result<(), NetError>>),
    Request(PeerId, Request, oneshot::Sender<Result<Response, NetError>>),
    Respond(ResponseChannel<Response>, Response),
    Allow(HashMap<PeerId, HashSet<String>>),
    Score(PeerId, oneshot::Sender<Option<f64>>),
    Peers(oneshot::Sender<Vec<PeerId>>),
    Addresses(PeerId, oneshot::Sender<Vec<Multiaddr>>),
    MeshPeers(String, oneshot::Sender<Vec<PeerId>>),
    Disconnect(PeerId),
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Command")
    }
}

/// A cloneable handle to the network task.
#[derive(Debug, Clone)]
pub struct NetHandle {
    tx: mpsc::Sender<Command>,
    peer_id: PeerId,
}

impl NetHandle {
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> Command) -> Result<T, NetError> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(make(tx)).await.map_err(|_| NetError::Stopped)?;
        rx.await.map_err(|_| NetError::Stopped)
    }

    pub async fn subscribe(&self, topic: &str) -> Result<(), NetError> {
        self.ask(|r| Command::Subscribe(topic.to_owned(), r)).await?
    }
    pub async fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), NetError> {
        self.ask(|r| Command::Publish(topic.to_owned(), data, r)).await?
    }
    pub async fn validate(&self, id: MessageId, from: PeerId, verdict: Verdict) -> Result<(), NetError> {
        self.tx.send(Command::Validate(id, from, verdict)).await.map_err(|_| NetError::Stopped)
    }
    pub async fn dial(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|r| Command::Dial(addr, r)).await?
    }
    /// Starts listening on another address (its addresses come as [`NetEvent::Listening`]).
    pub async fn listen(&self, addr: Multiaddr) -> Result<(), NetError> {
        self.ask(|r| Command::Listen(addr, r)).await?
    }
    /// Asks a peer for log entries.
    pub async fn sync(&self, peer: PeerId, request: SyncRequest) -> Result<SyncResponse, NetError> {
        match self.ask(|r| Command::Request(peer, Request::Sync(request), r)).await?? {
            Response::Sync(s) => Ok(s),
            Response::Refused(why) => Err(NetError::Sync(peer, format!("refused: {why}"))),
            Response::Welcome(_) | Response::Heads(_) => {
                Err(NetError::Sync(peer, "answered a sync request with something else".into()))
            }
        }
    }
    /// Asks a peer where the logs of a federation stand (`None`: as in `digest`).
    pub async fn heads(&self, peer: PeerId, request: HeadsRequest) -> Result<Option<Vec<Head>>, NetError> {
        match self.ask(|r| Command::Request(peer, Request::Heads(request), r)).await?? {
            Response::Heads(h) => Ok(h),
            Response::Refused(why) => Err(NetError::Sync(peer, format!("refused: {why}"))),
            Response::Welcome(_) | Response::Sync(_) => {
                Err(NetError::Sync(peer, "answered a heads request with something else".into()))
            }
        }
    }
    /// Says hello to a peer; the answer is `Welcome` (with its council) or `Refused`.
    pub async fn hello(&self, peer: PeerId, hello: Hello) -> Result<Response, NetError> {
        self.ask(|r| Command::Request(peer, Request::Hello(Box::new(hello)), r)).await?
    }
    pub async fn respond(&self, channel: ResponseChannel<Response>, response: Response) -> Result<(), NetError> {
        self.tx.send(Command::Respond(channel, response)).await.map_err(|_| NetError::Stopped)
    }
    /// Replaces the peers allowed to stay connected, each with the gossip topics it may
    /// use (subscribe to, publish on, and be sent). Others still in their hello grace
    /// period keep it; the rest are disconnected now, and so is an allowed peer that lost
    /// a topic (it reconnects, and subscribes afresh through the gate).
    pub async fn allow(&self, peers: HashMap<PeerId, HashSet<String>>) -> Result<(), NetError> {
        self.tx.send(Command::Allow(peers)).await.map_err(|_| NetError::Stopped)
    }
    /// The gossipsub score of a peer, if it is known.
    pub async fn score(&self, peer: PeerId) -> Result<Option<f64>, NetError> {
        self.ask(|r| Command::Score(peer, r)).await
    }
    pub async fn connected_peers(&self) -> Result<Vec<PeerId>, NetError> {
        self.ask(Command::Peers).await
    }
    /// The addresses a connected peer says it listens on (over identify; bounded).
    pub async fn addresses(&self, peer: PeerId) -> Result<Vec<Multiaddr>, NetError> {
        self.ask(|r| Command::Addresses(peer, r)).await
    }
    pub async fn mesh_peers(&self, topic: &str) -> Result<Vec<PeerId>, NetError> {
        self.ask(|r| Command::MeshPeers(topic.to_owned(), r)).await
    }
    /// Closes every connection to a peer (one that stopped answering: a connection cut
    /// silently, by a partition or a peer that restarted, stays open at the TCP level
    /// until the kernel's next retransmission, which backs off up to two minutes). Its
    /// pending requests fail at once; the peer is then redialed like any lost peer, and
    /// discovery looks for it within a second.
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), NetError> {
        self.tx.send(Command::Disconnect(peer)).await.map_err(|_| NetError::Stopped)
    }
}

#[derive(NetworkBehaviour)]
struct Behaviour {
    guard: ConnectionGuard,
    limits: libp2p::connection_limits::Behaviour,
    gossipsub: TopicGate,
    sync: request_response::Behaviour<SyncCodec>,
    identify: identify::Behaviour,
    mdns: Toggle<mdns::tokio::Behaviour>,
    kad: Toggle<GatedKad>,
}

/// Scores: one rejected message takes a peer below the graylist threshold.
pub const GRAYLIST_THRESHOLD: f64 = -80.0;
/// The cap on a peer's topic score. Topic credit (time in mesh, first deliveries) is
/// weighted zero, so one rejected message (−100) always takes a peer below
/// [`GRAYLIST_THRESHOLD`]; the cap keeps that true if weights change.
const TOPIC_SCORE_CAP: f64 = 10.0;
/// The application score of a peer that is not (yet) allowed: with the default weight
/// of 10 it puts the peer far below every threshold, so gossipsub neither sends to it,
/// nor meshes with it, nor reads what it sends.
const OUTSIDER_SCORE: f64 = -1000.0;

fn topic_params() -> gossipsub::TopicScoreParams {
    gossipsub::TopicScoreParams {
        topic_weight: 1.0,
        // P4: every invalid message costs 100 (squared counter, weight -100).
        invalid_message_deliveries_weight: -100.0,
        invalid_message_deliveries_decay: 0.9,
        // P1 and P2 (time in mesh, first deliveries) are off: the topic score is capped
        // as a whole, so credit earned there would hide the penalty of a rejected message.
        time_in_mesh_weight: 0.0,
        first_message_deliveries_weight: 0.0,
        // P3 (mesh delivery deficits) is off: federation traffic is bursty and sparse.
        mesh_message_deliveries_weight: 0.0,
        mesh_failure_penalty_weight: 0.0,
        ..gossipsub::TopicScoreParams::default()
    }
}

/// Builds the swarm, registering libp2p's metrics in `registry` (the caller's, or one
/// nobody reads), and returns the recorder for the swarm's events.
fn build(cfg: &NetConfig, registry: &mut Registry) -> Result<(Swarm<Behaviour>, Metrics), NetError> {
    let gcfg = gossipsub::ConfigBuilder::default()
        .validate_messages()
        .validation_mode(gossipsub::ValidationMode::Strict)
        .message_id_fn(|m: &gossipsub::Message| MessageId::from(message_id(&m.topic, &m.data)))
        .max_transmit_size(MAX_FRAME_BYTES)
        .duplicate_cache_time(DUPLICATE_CACHE)
        .heartbeat_interval(cfg.heartbeat)
        .build()
        .map_err(|e| NetError::Build(e.to_string()))?;
    let swarm = libp2p::SwarmBuilder::with_existing_identity(cfg.keypair.clone())
        .with_tokio()
        .with_other_transport(|key| -> Result<_, Box<dyn std::error::Error + Send + Sync>> {
            use libp2p::core::upgrade::Version;
            use libp2p::Transport;
            Ok(FreshPort(tcp::tokio::Transport::new(tcp::Config::default().nodelay(true)))
                .upgrade(Version::V1Lazy)
                .authenticate(noise::Config::new(key)?)
                .multiplex(yamux::Config::default())
                .timeout(HANDSHAKE_TIMEOUT))
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_bandwidth_metrics(registry)
        .with_behaviour(|key| {
            let mut gossipsub = gossipsub::Behaviour::new(MessageAuthenticity::Signed(key.clone()), gcfg)?
                .with_metrics(
                    registry.sub_registry_with_prefix("libp2p_gossipsub"),
                    gossipsub::MetricsConfig::default(),
                );
            let params = gossipsub::PeerScoreParams {
                topic_score_cap: TOPIC_SCORE_CAP,
                // P6 (many peers on one IP) is off: membership, not addresses, decides
                // who is in, and councils behind one NAT (or tests on loopback) are normal.
                ip_colocation_factor_weight: 0.0,
                ..gossipsub::PeerScoreParams::default()
            };
            let thresholds = gossipsub::PeerScoreThresholds {
                gossip_threshold: -10.0,
                publish_threshold: -50.0,
                graylist_threshold: GRAYLIST_THRESHOLD,
                ..gossipsub::PeerScoreThresholds::default()
            };
            gossipsub.with_peer_score(params, thresholds)?;
            let sync = request_response::Behaviour::with_codec(
                SyncCodec,
                [(PROTOCOL, ProtocolSupport::Full)],
                request_response::Config::default()
                    .with_request_timeout(Duration::from_secs(30))
                    .with_max_concurrent_streams(64),
            );
            let identify = identify::Behaviour::new(identify::Config::new("/councilnet/1".into(), key.public()));
            let limits = libp2p::connection_limits::Behaviour::new(
                libp2p::connection_limits::ConnectionLimits::default()
                    .with_max_established(Some(cfg.max_connections))
                    .with_max_pending_incoming(Some(cfg.max_connections / 4 + 1))
                    .with_max_established_per_peer(Some(2)),
            );
            let mdns = if cfg.mdns {
                Some(mdns::tokio::Behaviour::new(mdns::Config::default(), key.public().to_peer_id())?)
            } else {
                None
            };
            let kad = cfg.kademlia.then(|| GatedKad::new(key.public().to_peer_id()));
            let guard = ConnectionGuard::new(cfg.guard);
            Ok(Behaviour {
                guard,
                limits,
                gossipsub: TopicGate::new(gossipsub),
                sync,
                identify,
                mdns: Toggle::from(mdns),
                kad: Toggle::from(kad),
            })
        })
        .map_err(|e| NetError::Build(e.to_string()))?
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(120)))
        .build();
    Ok((swarm, Metrics::new(registry)))
}

/// Starts the network task. Returns the handle and the stream of events.
pub fn run(cfg: NetConfig) -> Result<(NetHandle, mpsc::Receiver<NetEvent>), NetError> {
    let (mut swarm, recorder) = match &cfg.metrics {
        Some(m) => build(&cfg, &mut m.registry.lock().unwrap_or_else(|p| p.into_inner()))?,
        None => build(&cfg, &mut Registry::default())?,
    };
    let metrics = cfg.metrics.clone().unwrap_or_else(|| NetMetrics {
        registry: Arc::new(Mutex::new(Registry::default())),
        gossip: Family::default(),
    });
    for a in &cfg.listen {
        swarm.listen_on(a.clone()).map_err(|e| NetError::Listen(a.clone(), error_chain(&e)))?;
    }
    for a in &cfg.bootstrap {
        swarm.dial(a.clone()).map_err(|e| NetError::Dial(a.clone(), e.to_string()))?;
    }
    let (tx, rx) = mpsc::channel(COMMAND_QUEUE);
    let (etx, erx) = mpsc::channel(EVENT_QUEUE);
    let peer_id = *swarm.local_peer_id();
    tokio::spawn(event_loop(swarm, rx, etx, cfg.hello_grace, cfg.discovery_interval, recorder, metrics));
    Ok((NetHandle { tx, peer_id }, erx))
}

struct Loop {
    /// The peers allowed to stay connected. Empty until the node says otherwise: gating
    /// starts closed.
    allowed: HashSet<PeerId>,
    /// Connected peers that are not allowed, and when their hello grace ends.
    probation: HashMap<PeerId, Instant>,
    grace: Duration,
    pending: HashMap<OutboundRequestId, oneshot::Sender<Result<Response, NetError>>>,
    events: mpsc::Sender<NetEvent>,
    /// Events that must reach the node (listening addresses, connections opened and
    /// closed, hellos) waiting for room in `events`, oldest first. While any wait, new
    /// gossip is shed rather than queued ahead of them.
    backlog: VecDeque<NetEvent>,
    /// The addresses connected peers announced over identify (bounded), kept to fill the
    /// routing table if the peer is allowed later.
    /// (Each with whether the peer speaks our Kademlia: only those go in the table.)
    identified: HashMap<PeerId, (Vec<Multiaddr>, bool)>,
    /// When each allowed peer was last looked up with Kademlia.
    looked_up: HashMap<PeerId, Instant>,
    discovery_interval: Duration,
    next_discovery: Instant,
    metrics: NetMetrics,
}

/// Hellos held in the backlog at most: each may carry a genesis of up to 1 MiB. Beyond it
/// a hello goes unanswered (its stream closes, and the peer says it again on its next
/// connection); connections opened and closed are never dropped.
const MAX_BACKLOG_HELLOS: usize = 64;

impl Loop {
    fn allowed(&self, p: &PeerId) -> bool {
        self.allowed.contains(p)
    }

    /// Hands the node an event it must get: at once if there is room, else after those
    /// already waiting.
    fn deliver(&mut self, ev: NetEvent) {
        if self.backlog.is_empty() {
            if let Err(mpsc::error::TrySendError::Full(ev)) = self.events.try_send(ev) {
                self.backlog.push_back(ev);
            }
        } else {
            if matches!(ev, NetEvent::Hello { .. }) {
                let hellos = self.backlog.iter().filter(|e| matches!(e, NetEvent::Hello { .. })).count();
                if hellos >= MAX_BACKLOG_HELLOS {
                    tracing::debug!("the node is behind: a hello goes unanswered");
                    return;
                }
            }
            self.backlog.push_back(ev);
        }
    }

    /// Hands the node remote work it may do without (gossip, sync requests): only if
    /// nothing it must get is waiting and there is room; `false` if shed.
    fn offer(&mut self, ev: NetEvent) -> bool {
        self.backlog.is_empty() && self.events.try_send(ev).is_ok()
    }
}

async fn event_loop(
    mut swarm: Swarm<Behaviour>,
    mut commands: mpsc::Receiver<Command>,
    events: mpsc::Sender<NetEvent>,
    grace: Duration,
    discovery_interval: Duration,
    recorder: Metrics,
    metrics: NetMetrics,
) {
    let mut st = Loop {
        allowed: HashSet::new(),
        probation: HashMap::new(),
        grace,
        pending: HashMap::new(),
        events: events.clone(),
        backlog: VecDeque::new(),
        identified: HashMap::new(),
        looked_up: HashMap::new(),
        discovery_interval,
        next_discovery: Instant::now() + discovery_interval,
        metrics,
    };
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            cmd = commands.recv() => match cmd {
                Some(c) => command(&mut swarm, &mut st, c),
                None => break,
            },
            // What the node must get goes before new remote work is read.
            Ok(permit) = events.reserve(), if !st.backlog.is_empty() => {
                if let Some(ev) = st.backlog.pop_front() {
                    permit.send(ev);
                }
            }
            ev = swarm.select_next_some() => {
                record(&recorder, &ev);
                swarm_event(&mut swarm, &mut st, ev)
            }
            _ = tick.tick() => {
                end_probation(&mut swarm, &mut st);
                if Instant::now() >= st.next_discovery {
                    st.next_discovery = Instant::now() + st.discovery_interval;
                    discover(&mut swarm, &mut st);
                }
            }
        }
    }
}

/// Counts a swarm event, and the protocol event inside it, in libp2p's metrics.
fn record(metrics: &Metrics, ev: &SwarmEvent<BehaviourEvent>) {
    metrics.record(ev);
    match ev {
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Identify(e)) => metrics.record(e),
        SwarmEvent::Behaviour(BehaviourEvent::Kad(e)) => metrics.record(e),
        _ => {}
    }
}

/// Lets Kademlia serve only the peers that may use every federation topic this node is on:
/// its routing table holds the member nodes of all its federations, so a member of one
/// federation asking a node that is also in another would otherwise learn where that
/// other federation's nodes are.
fn gate_kad(swarm: &mut Swarm<Behaviour>) {
    let served = swarm.behaviour_mut().gossipsub.in_all_topics();
    if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
        kad.set_allowed(&served);
    }
}

/// Adds what an allowed peer announced over identify to the routing table.
fn learn_addresses(swarm: &mut Swarm<Behaviour>, st: &Loop, peer: &PeerId) {
    let (Some((addrs, true)), Some(kad)) = (st.identified.get(peer), swarm.behaviour_mut().kad.as_mut()) else {
        return;
    };
    if st.allowed(peer) {
        for a in addrs {
            kad.kad().add_address(peer, a.clone());
        }
    }
}

/// How many more allowed peers discovery should connect to.
fn member_deficit(swarm: &Swarm<Behaviour>, st: &Loop) -> usize {
    let connected = st.allowed.iter().filter(|p| swarm.is_connected(p)).count();
    TARGET_MEMBER_PEERS.saturating_sub(connected)
}

/// While fewer than [`TARGET_MEMBER_PEERS`] allowed peers are connected, looks for more:
/// dials those whose address the routing table knows, and looks the others up among the
/// connected members.
fn discover(swarm: &mut Swarm<Behaviour>, st: &mut Loop) {
    let allowed = &st.allowed;
    let me = *swarm.local_peer_id();
    let now = Instant::now();
    st.looked_up.retain(|p, at| allowed.contains(p) && now.duration_since(*at) < st.discovery_interval * 4);
    let missing: Vec<PeerId> = allowed.iter().filter(|p| **p != me && !swarm.is_connected(p)).copied().collect();
    let wanted = member_deficit(swarm, st);
    let mut started = 0;
    for p in missing {
        if started >= wanted {
            break;
        }
        let Some(kad) = swarm.behaviour_mut().kad.as_mut() else { return };
        let known = kad.kad().kbucket(p).is_some_and(|b| b.iter().any(|e| *e.node.key.preimage() == p));
        if known {
            // The routing table supplies the addresses.
            started += 1;
            let _ = swarm.dial(DialOpts::peer_id(p).condition(PeerCondition::DisconnectedAndNotDialing).build());
        } else if let std::collections::hash_map::Entry::Vacant(v) = st.looked_up.entry(p) {
            started += 1;
            v.insert(now);
            tracing::debug!(peer = %p, "looking for a member node with Kademlia");
            kad.kad().get_closest_peers(p);
        }
    }
}

/// Disconnects the peers whose hello grace is over.
fn end_probation(swarm: &mut Swarm<Behaviour>, st: &mut Loop) {
    let now = Instant::now();
    let over: Vec<PeerId> = st.probation.iter().filter(|(_, until)| **until <= now).map(|(p, _)| *p).collect();
    for p in over {
        st.probation.remove(&p);
        if !st.allowed(&p) {
            tracing::debug!(peer = %p, "no welcome hello in time: disconnecting");
            let _ = swarm.disconnect_peer_id(p);
        }
    }
}

fn command(swarm: &mut Swarm<Behaviour>, st: &mut Loop, c: Command) {
    let b = swarm.behaviour_mut();
    match c {
        Command::Subscribe(t, r) => {
            let topic = IdentTopic::new(t);
            b.gossipsub.gossipsub().set_topic_params(topic.clone(), topic_params()).ok();
            let res =
                b.gossipsub.gossipsub().subscribe(&topic).map(|_| ()).map_err(|e| NetError::Gossip(e.to_string()));
            gate_kad(swarm);
            let _ = r.send(res);
        }
        Command::Publish(t, data, r) => {
            let res = match b.gossipsub.gossipsub().publish(IdentTopic::new(t), data) {
                Ok(_) | Err(gossipsub::PublishError::Duplicate) => Ok(()),
                Err(e) => Err(NetError::Gossip(e.to_string())),
            };
            let _ = r.send(res);
        }
        Command::Validate(id, from, v) => {
            let acceptance = match v {
                Verdict::Accept => MessageAcceptance::Accept,
                Verdict::Ignore => MessageAcceptance::Ignore,
                Verdict::Reject => MessageAcceptance::Reject,
            };
            b.gossipsub.gossipsub().report_message_validation_result(&id, &from, acceptance);
        }
        Command::Listen(a, r) => {
            let res = swarm.listen_on(a.clone()).map(|_| ()).map_err(|e| NetError::Listen(a, error_chain(&e)));
            let _ = r.send(res);
        }
        Command::Dial(a, r) => {
            let res = swarm.dial(a.clone()).map_err(|e| NetError::Dial(a, e.to_string()));
            let _ = r.send(res);
        }
        Command::Request(peer, req, r) => {
            let id = b.sync.send_request(&peer, req);
            st.pending.insert(id, r);
        }
        Command::Respond(ch, resp) => {
            let _ = b.sync.send_response(ch, resp);
        }
        Command::Allow(standing) => {
            let peers: HashSet<PeerId> = standing.keys().copied().collect();
            let topics = standing
                .into_iter()
                .map(|(p, t)| (p, t.into_iter().map(|t| IdentTopic::new(t).hash()).collect()))
                .collect();
            let lost = swarm.behaviour_mut().gossipsub.set_allowed(topics);
            for p in lost {
                if peers.contains(&p) && swarm.is_connected(&p) {
                    tracing::debug!(peer = %p, "a peer lost a federation topic: closing its connections");
                    let _ = swarm.disconnect_peer_id(p);
                }
            }
            let connected: Vec<PeerId> = swarm.connected_peers().copied().collect();
            for p in connected {
                let g = &mut swarm.behaviour_mut().gossipsub.gossipsub();
                if peers.contains(&p) {
                    g.set_application_score(&p, 0.0);
                    st.probation.remove(&p);
                } else {
                    g.set_application_score(&p, OUTSIDER_SCORE);
                    let was_allowed = st.allowed.contains(&p);
                    if was_allowed && !st.probation.contains_key(&p) {
                        // No longer a member: out now.
                        let _ = swarm.disconnect_peer_id(p);
                    } else {
                        // Connected but not yet reported to this loop (the swarm event
                        // may still be queued): it gets its hello grace like anyone.
                        st.probation.entry(p).or_insert_with(|| Instant::now() + st.grace);
                    }
                }
            }
            gate_kad(swarm);
            if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                kad.forget(st.allowed.difference(&peers));
            }
            let newly: Vec<PeerId> =
                peers.iter().filter(|p| !st.allowed.contains(*p) && st.identified.contains_key(*p)).copied().collect();
            st.allowed = peers;
            for p in newly {
                learn_addresses(swarm, st, &p);
            }
            // Look for members not connected soon, not a whole interval later.
            st.next_discovery = st.next_discovery.min(Instant::now() + Duration::from_secs(1));
        }
        Command::Score(p, r) => {
            let _ = r.send(b.gossipsub.gossipsub().peer_score(&p));
        }
        Command::Peers(r) => {
            let _ = r.send(swarm.connected_peers().copied().collect());
        }
        Command::Addresses(p, r) => {
            let _ = r.send(st.identified.get(&p).map(|(a, _)| a.clone()).unwrap_or_default());
        }
        Command::MeshPeers(t, r) => {
            let hash = IdentTopic::new(t).hash();
            let _ = r.send(b.gossipsub.gossipsub().mesh_peers(&hash).copied().collect());
        }
        Command::Disconnect(p) => {
            let _ = swarm.disconnect_peer_id(p);
            st.next_discovery = st.next_discovery.min(Instant::now() + Duration::from_secs(1));
        }
    }
}

fn swarm_event(swarm: &mut Swarm<Behaviour>, st: &mut Loop, ev: SwarmEvent<BehaviourEvent>) {
    match ev {
        SwarmEvent::NewListenAddr { address, .. } => {
            st.deliver(NetEvent::Listening(address));
        }
        SwarmEvent::ConnectionEstablished { peer_id, num_established, endpoint, .. } => {
            if num_established.get() > 1 {
                return;
            }
            // Gossipsub already knows the peer (behaviours hear of a connection before the
            // swarm reports it), and may remember its score from an earlier connection:
            // set it either way.
            let g = &mut swarm.behaviour_mut().gossipsub.gossipsub();
            if st.allowed(&peer_id) {
                g.set_application_score(&peer_id, 0.0);
            } else {
                // Below every threshold at once: nothing is sent to it or read from it.
                g.set_application_score(&peer_id, OUTSIDER_SCORE);
                st.probation.entry(peer_id).or_insert_with(|| Instant::now() + st.grace);
                tracing::debug!(%peer_id, "not a member (yet): waiting for its hello");
            }
            st.deliver(NetEvent::Connected { peer: peer_id, dialed: endpoint.is_dialer() });
        }
        SwarmEvent::ConnectionClosed { peer_id, num_established: 0, .. } => {
            st.probation.remove(&peer_id);
            st.identified.remove(&peer_id);
            st.deliver(NetEvent::Disconnected(peer_id));
        }
        SwarmEvent::Behaviour(BehaviourEvent::Gossipsub(gossipsub::Event::Message {
            propagation_source,
            message_id,
            message,
        })) => {
            let g = &mut swarm.behaviour_mut().gossipsub.gossipsub();
            if !st.allowed(&propagation_source) {
                st.metrics.judged(Verdict::Reject, "not-allowed");
                g.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Reject);
                return;
            }
            if message.data.len() > MAX_MESSAGE_BYTES {
                tracing::info!(peer = %propagation_source, bytes = message.data.len(), "rejected gossip: oversized");
                st.metrics.judged(Verdict::Reject, "oversized");
                g.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Reject);
                return;
            }
            let ev = NetEvent::Gossip {
                id: message_id.clone(),
                from: propagation_source,
                topic: message.topic,
                data: message.data,
            };
            // Local work first: if the node is behind, drop new remote work unjudged.
            if !st.offer(ev) {
                st.metrics.judged(Verdict::Ignore, "node-behind");
                g.report_message_validation_result(&message_id, &propagation_source, MessageAcceptance::Ignore);
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::Message { peer, message, .. })) => {
            match message {
                // Anyone connected may say hello; only allowed peers may sync. Dropping the
                // channel closes the stream unanswered.
                request_response::Message::Request { request: Request::Hello(hello), channel, .. } => {
                    st.deliver(NetEvent::Hello { from: peer, hello, channel });
                }
                request_response::Message::Request { request: Request::Sync(request), channel, .. } => {
                    if st.allowed(&peer) {
                        st.offer(NetEvent::SyncRequest { from: peer, request, channel });
                    }
                }
                request_response::Message::Request { request: Request::Heads(request), channel, .. } => {
                    if st.allowed(&peer) {
                        st.offer(NetEvent::HeadsRequest { from: peer, request, channel });
                    }
                }
                request_response::Message::Response { request_id, response } => {
                    if let Some(r) = st.pending.remove(&request_id) {
                        let _ = r.send(Ok(response));
                    }
                }
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Identify(identify::Event::Received { peer_id, info, .. })) => {
            // Loopback addresses are only of use to a peer on this machine, which the
            // peer's view of our address (loopback or not) tells.
            // Only peers that speak our Kademlia go in the routing table: a node that
            // opted out of it is not handed to others.
            let local = is_loopback(&info.observed_addr);
            let speaks_kad = info.protocols.contains(&crate::discovery::KAD_PROTOCOL);
            let addrs: Vec<Multiaddr> =
                info.listen_addrs.into_iter().filter(|a| local || !is_loopback(a)).take(MAX_PEER_ADDRS).collect();
            st.identified.insert(peer_id, (addrs, speaks_kad));
            learn_addresses(swarm, st, &peer_id);
        }
        SwarmEvent::Behaviour(BehaviourEvent::Kad(kad::Event::OutboundQueryProgressed {
            result: kad::QueryResult::GetClosestPeers(Ok(found)),
            ..
        })) => {
            let wanted = member_deficit(swarm, st);
            for info in found.peers.into_iter().take(wanted) {
                if info.peer_id != *swarm.local_peer_id()
                    && st.allowed.contains(&info.peer_id)
                    && !swarm.is_connected(&info.peer_id)
                    && !info.addrs.is_empty()
                {
                    tracing::debug!(peer = %info.peer_id, "found a member node with Kademlia: dialing");
                    let addrs = info.addrs.into_iter().take(MAX_PEER_ADDRS).collect();
                    let opts = DialOpts::peer_id(info.peer_id)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .addresses(addrs)
                        .build();
                    let _ = swarm.dial(opts);
                }
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
            for (peer, addr) in found {
                if !swarm.is_connected(&peer) {
                    tracing::debug!(%peer, %addr, "found on the local network");
                    let _ = swarm.dial(addr.with(libp2p::multiaddr::Protocol::P2p(peer)));
                }
            }
        }
        SwarmEvent::Behaviour(BehaviourEvent::Sync(request_response::Event::OutboundFailure {
            peer,
            request_id,
            error,
            ..
        })) => {
            if let Some(r) = st.pending.remove(&request_id) {
                let _ = r.send(Err(NetError::Sync(peer, error.to_string())));
            }
        }
        _ => {}
    }
}

/// An error and its sources, one after another (libp2p's transport errors often say
/// nothing themselves and keep the reason in their source).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let t = s.to_string();
        if !t.is_empty() && !out.ends_with(&t) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&t);
        }
        next = s.source();
    }
    if out.is_empty() {
        format!("{e:?}")
    } else {
        out
    }
}

fn is_loopback(a: &Multiaddr) -> bool {
    use libp2p::multiaddr::Protocol;
    a.iter().any(|p| match p {
        Protocol::Ip4(ip) => ip.is_loopback(),
        Protocol::Ip6(ip) => ip.is_loopback(),
        _ => false,
    })
}
