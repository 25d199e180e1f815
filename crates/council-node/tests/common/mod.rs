//! Real nodes (`council_node::run`) in one process, on 127.0.0.1, driven through their
//! HTTP API as the `council` command would.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use council_core::cbor::Cbor;
use council_core::records::{Action, MotionBody, MotionForm, MotionId, Rule, Share, Signed, Threshold, VoteBody};
use council_core::sample::key_from_label;
use council_core::{Hash, SecretKey};
use council_node::config::{ApiConfig, Config, LogConfig, MotionsConfig, NetworkConfig, StoreConfig};
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
    Config {
        data_dir: dir.to_owned(),
        api: ApiConfig { listen: "127.0.0.1:0".parse().unwrap(), max_body_bytes: 262_144 },
        log: LogConfig { level: "warn".into() },
        motions: MotionsConfig { check_interval_ms: 200 },
        store: StoreConfig { max_batch: 1024 },
        network: NetworkConfig {
            enabled: true,
            listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            peers: peers.to_vec(),
            sync_interval_ms: 300,
            hello_grace_ms: 3000,
            heartbeat_ms: 100,
            max_connections: 64,
        },
    }
}

impl Node {
    /// Creates a council of three members (all founders) in `root/label`.
    pub fn create(root: &Path, label: &str) -> (PathBuf, Hash, Vec<SecretKey>) {
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
        let (dir, council, members) = made;
        let _ = std::fs::remove_file(dir.join(datadir::P2P_ADDR));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let task = rt.spawn(council_node::run(
            config(dir, peers),
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
            let v = Signed::sign(VoteBody { council: self.council, motion: id, choice: 0, counter: 1 }, k);
            let (s, r) = self.post_record("/v1/votes", &v.to_cbor());
            assert_eq!(s, 201, "{}: ballot refused: {r}", self.label);
        }
        let report = self.get("/v1/council");
        let m = report["motions"].as_array().unwrap().iter().find(|x| x["id"] == id.to_hex()).unwrap().clone();
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
