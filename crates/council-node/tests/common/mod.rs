//! Real nodes (`council_node::run`) in one process, on 127.0.0.1, driven through their
//! HTTP API as the `council` command would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use council_core::cbor::Cbor;
use council_core::records::{Action, MotionBody, MotionForm, MotionId, Rule, Share, Signed, Threshold, VoteBody};
use council_core::sample::key_from_label;
use council_core::{Hash, SecretKey};
use council_node::config::Config;
use council_node::datadir;
use serde_json::Value;

pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

pub struct Node {
    pub label: String,
    pub dir: PathBuf,
    pub council: Hash,
    pub members: Vec<SecretKey>,
    pub api: String,
    pub token: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), council_node::RunError>>>,
}

fn config(dir: &Path, peers: &[String]) -> Config {
    let mut c = Config::local(dir).unwrap();
    c.log.level = "warn".into();
    c.motions.check_interval_ms = 200;
    let n = &mut c.network;
    n.peers = peers.to_vec();
    n.sync_interval_ms = 300;
    n.hello_grace_ms = 3000;
    n.heartbeat_ms = 100;
    n.discovery_interval_ms = 500;
    n.max_connections = 64;
    c
}

/// What [`Node::create`] made: the data directory, the council id, the members' keys.
pub type Made = (PathBuf, Hash, Vec<SecretKey>);

impl Node {
    /// Creates a council of three members (all founders) in `root/label`.
    pub fn create(root: &Path, label: &str) -> Made {
        let dir = root.join(label);
        let members: Vec<SecretKey> = (0..3).map(|i| key_from_label(&format!("{label}/member{i}"))).collect();
        let council = datadir::init_signed(&dir, &format!("{label} council"), &members, now()).unwrap();
        (dir, council, members)
    }

    /// Starts (or restarts) the node of a council created with [`Node::create`].
    pub fn start(
        rt: &tokio::runtime::Runtime,
        label: &str,
        made: &(PathBuf, Hash, Vec<SecretKey>),
        peers: &[String],
    ) -> Node {
        Node::start_with(rt, label, made, peers, |_| {})
    }

    /// [`Node::start`], with the test's own changes to the configuration.
    pub fn start_with(
        rt: &tokio::runtime::Runtime,
        label: &str,
        made: &(PathBuf, Hash, Vec<SecretKey>),
        peers: &[String],
        change: impl FnOnce(&mut Config),
    ) -> Node {
        let (dir, council, members) = made;
        let mut cfg = config(dir, peers);
        change(&mut cfg);
        let _ = std::fs::remove_file(dir.join(datadir::P2P_ADDR));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let task = rt.spawn(council_node::run(
            cfg,
            async {
                let _ = stop_rx.await;
            },
            move |a| {
                let _ = addr_tx.send(a);
            },
        ));
        let addr = addr_rx.recv_timeout(Duration::from_secs(60)).expect("the node starts");
        let token = std::fs::read_to_string(dir.join(datadir::API_TOKEN)).unwrap().trim().to_owned();
        let n = Node {
            label: label.to_owned(),
            dir: dir.clone(),
            council: *council,
            members: members.iter().map(|k| SecretKey::from_seed(&k.seed())).collect(),
            api: format!("http://{addr}"),
            token,
            stop: Some(stop_tx),
            task: Some(task),
        };
        wait(&format!("{label} listens for peers"), || n.p2p_addr().is_some());
        n
    }

    /// The node's libp2p peer id (from its p2p address).
    pub fn peer_id(&self) -> council_net::PeerId {
        self.p2p_addr().unwrap().rsplit('/').next().unwrap().parse().unwrap()
    }

    pub fn p2p_addr(&self) -> Option<String> {
        let t = std::fs::read_to_string(self.dir.join(datadir::P2P_ADDR)).ok()?;
        t.lines().next().map(str::to_owned)
    }

    pub fn stop(&mut self, rt: &tokio::runtime::Runtime) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            rt.block_on(t).unwrap().unwrap();
        }
    }

    pub fn get(&self, path: &str) -> Value {
        ureq::get(&format!("{}{path}", self.api))
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.label))
            .into_json()
            .unwrap()
    }

    /// GET, or `None` if the node does not answer (it is starting again, say).
    pub fn try_get(&self, path: &str) -> Option<Value> {
        ureq::get(&format!("{}{path}", self.api))
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    /// GET, as text.
    pub fn get_text(&self, path: &str) -> String {
        ureq::get(&format!("{}{path}", self.api))
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap_or_else(|e| panic!("GET {path} on {}: {e}", self.label))
            .into_string()
            .unwrap()
    }

    /// Gossip messages this node rejected since it started, by its metrics.
    pub fn gossip_rejected(&self) -> u64 {
        let text = self.get_text("/metrics");
        text.lines()
            .filter(|l| l.starts_with("council_gossip_messages_total{verdict=\"reject\""))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    }

    /// POST; the status and the JSON answer (errors included).
    pub fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let r = ureq::post(&format!("{}{path}", self.api))
            .set("Authorization", &format!("Bearer {}", self.token))
            .send_json(body);
        match r {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("POST {path} on {}: {e}", self.label),
        }
    }

    pub fn post_record(&self, path: &str, record: &[u8]) -> (u16, Value) {
        self.post(path, serde_json::json!({ "record": hex::encode(record) }))
    }

    /// A member (the first) issues an invite to `federation`.
    pub fn invite(&self, federation: Hash, invite_key: &SecretKey, max_uses: u32, expires_at: u64) -> (u16, Value) {
        let body = council_core::records::InviteBody {
            council: self.council,
            federation,
            invite_key: invite_key.public(),
            max_uses,
            expires_at,
        };
        self.post_record("/v1/invites", &Signed::sign(body, &self.members[0]).to_cbor())
    }

    /// Opens a council act and has two of the three members pass it. Returns the motion id.
    pub fn pass(&self, action: Action) -> MotionId {
        let body = MotionBody {
            council: self.council,
            title: format!("act {}", action.kind()),
            form: MotionForm::YesNo(action),
            rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            closes_at: now() + 3600,
            nonce: rand_nonce(),
        };
        let m = Signed::sign(body, &self.members[0]);
        let (s, r) = self.post_record("/v1/motions", &m.to_cbor());
        assert_eq!(s, 201, "{}: motion refused: {r}", self.label);
        let id = m.id();
        for k in &self.members[..2] {
            let v =
                Signed::sign(VoteBody { council: self.council, motion: id, choice: 0, counter: 1, is_final: true }, k);
            let (s, r) = self.post_record("/v1/votes", &v.to_cbor());
            assert_eq!(s, 201, "{}: ballot refused: {r}", self.label);
        }
        let m = self.get(&format!("/v1/motions/{id}"));
        assert_eq!(m["status"], "closed", "{}: {m}", self.label);
        id
    }

    pub fn federations(&self) -> Value {
        self.get("/v1/federations")
    }
}

fn rand_nonce() -> u64 {
    let mut b = [0u8; 8];
    getrandom::getrandom(&mut b).unwrap();
    u64::from_le_bytes(b)
}

/// Logs to the test's output when `RUST_LOG` is set (e.g. `RUST_LOG=council_node=debug`).
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// Waits (up to two minutes) until `f` holds.
pub fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The federation motion `m` in a node's federation view.
pub fn fed_motion(v: &Value, m: &MotionId) -> Option<Value> {
    v["federations"]
        .as_array()?
        .iter()
        .flat_map(|f| f["motions"].as_array().cloned().unwrap_or_default())
        .find(|x| x["id"] == m.to_hex())
}

/// A council's node played by the test itself, on council-net directly: it serves the
/// log it is given (which the test may fill with anything), answers hellos with its
/// genesis, says hello with the invites it is given, and records the gossip it receives.
pub struct Peer {
    pub net: council_net::NetHandle,
    pub genesis: council_core::records::Genesis,
    pub log: std::sync::Arc<std::sync::Mutex<Vec<council_core::records::Entry>>>,
    pub received: std::sync::Arc<std::sync::Mutex<Vec<Vec<u8>>>>,
    /// What the peers answered to this peer's hellos.
    pub answers: std::sync::Arc<std::sync::Mutex<Vec<council_net::Response>>>,
    /// The topics this peer subscribed to, and the peers that welcomed it: it lets them
    /// use every topic it is on (as a member node would).
    standing: std::sync::Arc<std::sync::Mutex<(Vec<String>, Vec<council_net::PeerId>)>>,
    /// The peers that said hello to this one.
    pub heard: std::sync::Arc<std::sync::Mutex<Vec<council_net::PeerId>>>,
}

impl Peer {
    pub fn start(
        rt: &tokio::runtime::Runtime,
        node_key: &SecretKey,
        genesis: council_core::records::Genesis,
        invites: Vec<(Hash, council_core::records::InviteProof)>,
    ) -> Peer {
        use council_net::{NetEvent, Response, SyncResponse, Verdict};
        use std::sync::{Arc, Mutex};
        let mut cfg = council_net::NetConfig::new(
            council_net::keypair_from_seed(&node_key.seed()),
            vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        );
        cfg.heartbeat = Duration::from_millis(100);
        cfg.hello_grace = Duration::from_secs(3);
        // Out of the DHT: the honest nodes cannot find this one there, so they reach it
        // only through the peers the test connects it to.
        cfg.kademlia = false;
        let _guard = rt.enter();
        let (net, mut events) = council_net::run(cfg).unwrap();
        let log: Arc<Mutex<Vec<council_core::records::Entry>>> = Arc::default();
        let received: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let answers: Arc<Mutex<Vec<Response>>> = Arc::default();
        let standing: Arc<Mutex<(Vec<String>, Vec<council_net::PeerId>)>> = Arc::default();
        let (n, g, l, r, a) = (net.clone(), genesis.clone(), log.clone(), received.clone(), answers.clone());
        let st = standing.clone();
        let heard: Arc<Mutex<Vec<council_net::PeerId>>> = Arc::default();
        let h = heard.clone();
        rt.spawn(async move {
            while let Some(ev) = events.recv().await {
                match ev {
                    NetEvent::Gossip { id, from, data, .. } => {
                        r.lock().unwrap().push(data);
                        let _ = n.validate(id, from, Verdict::Ignore).await;
                    }
                    NetEvent::Hello { channel, from, .. } => {
                        h.lock().unwrap().push(from);
                        let _ = n.respond(channel, Response::Welcome(Box::new(g.clone()))).await;
                    }
                    // Where its own log stands (all this peer holds), as a node answers.
                    NetEvent::HeadsRequest { request, channel, .. } => {
                        let head = {
                            let log = l.lock().unwrap();
                            council_net::Head {
                                council: g.council_id(),
                                seq: log.last().map_or(0, |e| e.body.seq),
                                head: log.last().map_or(g.council_id(), |e| e.id()),
                            }
                        };
                        let heads = vec![head];
                        let differ = council_net::heads_digest(&heads) != request.digest;
                        let _ = n.respond(channel, Response::Heads(differ.then_some(heads))).await;
                    }
                    NetEvent::SyncRequest { request, channel, .. } => {
                        let mut resp = SyncResponse::default();
                        if request.council == g.council_id() {
                            if request.from_seq == 0 {
                                resp.genesis = Some(Box::new(g.clone()));
                            }
                            resp.entries = l
                                .lock()
                                .unwrap()
                                .iter()
                                .filter(|e| e.body.seq >= request.from_seq)
                                .take(request.max_entries as usize)
                                .map(|e| e.to_cbor())
                                .collect();
                        }
                        let _ = n.respond(channel, Response::Sync(resp)).await;
                    }
                    // The dialer speaks first (PROTOCOL.md §12.2).
                    NetEvent::Connected { peer, dialed: true } => {
                        let hello = council_net::Hello { genesis: g.clone(), invites: invites.clone() };
                        let (n, a, st) = (n.clone(), a.clone(), st.clone());
                        tokio::spawn(async move {
                            if let Ok(resp) = n.hello(peer, hello).await {
                                if matches!(resp, Response::Welcome(_)) {
                                    st.lock().unwrap().1.push(peer);
                                    Peer::allow(&n, &st).await;
                                }
                                a.lock().unwrap().push(resp);
                            }
                        });
                    }
                    _ => {}
                }
            }
        });
        Peer { net, genesis, log, received, answers, standing, heard }
    }

    async fn allow(net: &council_net::NetHandle, standing: &std::sync::Mutex<(Vec<String>, Vec<council_net::PeerId>)>) {
        let map = {
            let (topics, peers) = &*standing.lock().unwrap();
            peers.iter().map(|p| (*p, topics.iter().cloned().collect())).collect()
        };
        net.allow(map).await.unwrap();
    }

    pub fn dial(&self, rt: &tokio::runtime::Runtime, addr: &str) {
        rt.block_on(self.net.dial(addr.parse().unwrap())).unwrap();
    }

    pub fn subscribe(&self, rt: &tokio::runtime::Runtime, federation: &Hash) {
        let topic = council_net::federation_topic(federation);
        self.standing.lock().unwrap().0.push(topic.clone());
        rt.block_on(async {
            self.net.subscribe(&topic).await.unwrap();
            Peer::allow(&self.net, &self.standing).await;
        });
    }

    /// Subscribes to any topic (a federation-level one, say), and lets the peers that
    /// welcomed this one use it.
    pub fn subscribe_topic(&self, rt: &tokio::runtime::Runtime, topic: &str) {
        self.standing.lock().unwrap().0.push(topic.to_owned());
        rt.block_on(async {
            self.net.subscribe(topic).await.unwrap();
            Peer::allow(&self.net, &self.standing).await;
        });
    }

    /// Gossips any bytes on any topic.
    pub fn publish_on(&self, rt: &tokio::runtime::Runtime, topic: &str, data: Vec<u8>) {
        if let Err(e) = rt.block_on(self.net.publish(topic, data)) {
            eprintln!("not published: {e}");
        }
    }

    /// Gossips an entry on the federation's topic (as an export item).
    pub fn publish(&self, rt: &tokio::runtime::Runtime, federation: &Hash, entry: &council_core::records::Entry) {
        self.publish_raw(rt, federation, council_core::export::ExportItem::Entry(entry.clone()).to_cbor());
    }

    /// Gossips any bytes on the federation's topic.
    pub fn publish_raw(&self, rt: &tokio::runtime::Runtime, federation: &Hash, data: Vec<u8>) {
        // No peers in the mesh yet is not an error for the test: sync carries the log too.
        if let Err(e) = rt.block_on(self.net.publish(&council_net::federation_topic(federation), data)) {
            eprintln!("not published: {e}");
        }
    }
}

/// The score a node gives to a connected peer, if connected.
pub fn score_of(n: &Node, peer: &council_net::PeerId) -> Option<f64> {
    n.get("/v1/network")["connected"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["peer"] == peer.to_string())
        .and_then(|p| p["score"].as_f64())
}

/// How many councils are members of the federation (and have not left), as `n` sees it.
pub fn member_count(n: &Node, fed: &Hash) -> usize {
    n.federations()["federations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["id"] == fed.to_hex())
        .map(|f| f["members"].as_array().unwrap().iter().filter(|m| m["left_at"].is_null()).count())
        .unwrap_or(0)
}

/// How many entries of `council`'s log `n` holds (0 if it does not follow it).
pub fn followed_seq(n: &Node, council: &Hash) -> u64 {
    n.get("/v1/network")["followed"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["council"] == council.to_hex())
        .and_then(|f| f["entries"].as_u64())
        .unwrap_or(0)
}

/// A charter of `founders` under the tests' usual rules: admission and motions by simple
/// majority, half the member councils voting.
pub fn charter(name: &str, founders: Vec<Hash>) -> council_core::records::Charter {
    use council_core::records::{Charter, FederationRules};
    Charter {
        name: name.into(),
        principles: vec!["Mandates bind; delegates can be recalled at any time.".into()],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders,
        created_at: now(),
    }
}
