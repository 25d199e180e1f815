//! Load with a frozen peer: three councils' nodes (councild processes on 127.0.0.1) form
//! a federation; one is stopped with SIGSTOP (its sockets stay open, it reads nothing)
//! while ballots arrive at another at a steady 500 per second, each logged and gossiped.
//! Every second the driver samples the resident memory of the two running nodes; at the
//! end the frozen node is resumed and must catch up.
//!
//! Pass: neither running node goes over 200 MB, the relay (the node between the publisher
//! and the frozen one) keeps following the publisher's log throughout, and the frozen
//! node catches up after it resumes. Memory is reported per fifth of the run, so that a
//! queue growing without bound shows as a rising line even when it stays under the limit.
//!
//! Usage: `cargo run --release -p council-node --example frozen_peer -- COUNCILD [SECONDS] [RATE]`
//! (`scripts/frozen-peer.sh` runs it). Prints one JSON line; exits non-zero on failure.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use council_core::cbor::Cbor;
use council_core::records::{
    Action, Charter, FederationRules, MotionBody, MotionForm, Rule, Share, Signed, Threshold, VoteBody,
};
use council_core::sample::key_from_label;
use council_core::{Hash, SecretKey};
use council_node::datadir;
use serde_json::Value;

/// The memory limit of the suite (issue: under 200 MB).
const RSS_LIMIT_KB: u64 = 200 * 1024;

struct Daemon {
    child: Child,
    dir: PathBuf,
    base: String,
    token: String,
    council: Hash,
    keys: Vec<SecretKey>,
    agent: ureq::Agent,
}

impl Daemon {
    fn start(councild: &Path, root: &Path, label: &str, members: usize, peers: &[String]) -> Daemon {
        let dir = root.join(label);
        let keys: Vec<SecretKey> = (0..members).map(|i| key_from_label(&format!("frozen/{label}/{i}"))).collect();
        let council = datadir::init_signed(&dir, label, &keys, now()).expect("init");
        let mut cmd = Command::new(councild);
        cmd.args([
            "run",
            "--data-dir",
            dir.to_str().expect("utf-8 path"),
            "--listen",
            "127.0.0.1:0",
            "--members-listen",
            "127.0.0.1:0",
        ])
        .args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--log", "warn"]);
        for p in peers {
            cmd.args(["--peer", p]);
        }
        let log = std::fs::File::create(root.join(format!("{label}.log"))).expect("log file");
        let child = cmd.stdout(Stdio::null()).stderr(log).spawn().expect("councild starts");
        let (base, p2p) = wait_for(&format!("{label} to start"), 60, || {
            let a = std::fs::read_to_string(dir.join(datadir::API_ADDR)).ok()?;
            let p = std::fs::read_to_string(dir.join(datadir::P2P_ADDR)).ok()?;
            Some((format!("http://{}", a.trim()), p.lines().next()?.to_owned()))
        });
        let _ = p2p;
        let token = std::fs::read_to_string(dir.join(datadir::API_TOKEN)).expect("token").trim().to_owned();
        let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
        Daemon { child, dir, base, token, council, keys, agent }
    }

    fn p2p(&self) -> String {
        let t = std::fs::read_to_string(self.dir.join(datadir::P2P_ADDR)).expect("p2p address");
        t.lines().next().expect("one address").to_owned()
    }

    /// GET; `None` if the node does not answer in time (a node catching up may be busy).
    fn get(&self, path: &str) -> Option<Value> {
        self.agent
            .get(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .ok()?
            .into_json()
            .ok()
    }

    fn post(&self, path: &str, record: &[u8]) -> bool {
        self.agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .send_json(serde_json::json!({ "record": hex::encode(record) }))
            .is_ok_and(|r| r.status() == 201)
    }

    /// Opens a motion; members `voters` vote yes. Returns its id.
    fn motion(&self, form: MotionForm, rule: Rule, voters: std::ops::Range<usize>, nonce: u64) -> Hash {
        let body =
            MotionBody { council: self.council, title: "load".into(), form, rule, closes_at: now() + 86_400, nonce };
        let m = Signed::sign(body, &self.keys[0]);
        assert!(self.post("/v1/motions", &m.to_cbor()), "motion refused");
        for k in &self.keys[voters] {
            let v = Signed::sign(
                VoteBody { council: self.council, motion: m.id(), choice: 0, counter: 1, is_final: true },
                k,
            );
            assert!(self.post("/v1/votes", &v.to_cbor()), "ballot refused");
        }
        m.id()
    }

    /// Entries of this node's own council's log.
    fn own_entries(&self) -> Option<u64> {
        self.get("/v1/council")?["entries"].as_u64()
    }

    /// Entries of `council`'s log this node follows (0 if it does not follow it yet).
    fn entries_of(&self, council: &Hash) -> Option<u64> {
        let v = self.get("/v1/network")?;
        Some(
            v["followed"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["council"] == council.to_hex()))
                .and_then(|f| f["entries"].as_u64())
                .unwrap_or(0),
        )
    }

    fn rss_kb(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        s.lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// The process state letter in /proc (`T`: stopped).
    fn state(&self) -> Option<char> {
        let s = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        s.rsplit(')').next()?.split_whitespace().next()?.chars().next()
    }

    fn signal(&self, sig: &str) {
        let _ = Command::new("kill").args([sig, &self.child.id().to_string()]).status();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.signal("-CONT");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn wait_for<T>(what: &str, secs: u64, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(t) = f() {
            return t;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let councild = PathBuf::from(args.get(1).expect("usage: frozen_peer COUNCILD [SECONDS] [RATE]"));
    let seconds: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let rate: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(500);
    let tmp = tempfile::tempdir().expect("temp dir");
    let root = tmp.path();

    // The publisher, the relay, and the node that will be frozen: publisher - relay - frozen.
    let clients = 32u64;
    // Member 0 opens; each client re-votes with two members of its own (counters rise).
    let publisher = Daemon::start(&councild, root, "publisher", 1 + 2 * clients as usize, &[]);
    let relay = Daemon::start(&councild, root, "relay", 3, &[publisher.p2p()]);
    let frozen = Daemon::start(&councild, root, "frozen", 3, &[relay.p2p()]);
    let charter = Charter {
        name: "Frozen peer federation".into(),
        principles: vec!["Load does not stop us.".into()],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders: vec![publisher.council, relay.council, frozen.council],
        created_at: now(),
    };
    let act = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    for (n, d) in [&publisher, &relay, &frozen].into_iter().enumerate() {
        let sign = MotionForm::YesNo(Action::SignCharter { charter: charter.clone(), invite: None });
        d.motion(sign, act, 0..d.keys.len() / 2 + 1, n as u64);
    }
    let fed = charter.id().to_hex();
    for d in [&publisher, &relay, &frozen] {
        wait_for("every node to count three members", 120, || {
            let v = d.get("/v1/federations")?;
            let f = v["federations"].as_array()?.iter().find(|f| f["id"] == fed)?.clone();
            (f["members"].as_array()?.len() == 3).then_some(())
        });
    }

    // A motion that never settles (member 0 never votes).
    let never = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let motion = publisher.motion(MotionForm::YesNo(Action::Resolution), never, 0..0, 99);
    let head_before = publisher.own_entries().expect("the publisher answers");
    wait_for("the relay to follow the publisher", 60, || {
        (relay.entries_of(&publisher.council)? >= head_before).then_some(())
    });

    // COUNCILNET_NO_FREEZE=1: the same load with nothing frozen, for comparison.
    let freeze = std::env::var_os("COUNCILNET_NO_FREEZE").is_none();
    if freeze {
        frozen.signal("-STOP");
        wait_for("the frozen node to stop", 10, || (frozen.state() == Some('T')).then_some(()));
    }
    let stop = Arc::new(AtomicBool::new(false));
    let acked = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut samples: Vec<(f64, u64, u64, u64)> = Vec::new(); // (t, publisher kB, relay kB, relay's lag)
    std::thread::scope(|s| {
        // Each client waits for its acknowledgement (a flush) before the next ballot:
        // enough of them to keep the rate whatever the disk's latency.
        for t in 0..clients {
            let (stop, acked, publisher) = (stop.clone(), acked.clone(), &publisher);
            s.spawn(move || {
                // Each client sends rate/clients ballots per second, on a fixed schedule.
                let every = Duration::from_secs_f64(clients as f64 / rate as f64);
                let t0 = Instant::now();
                let mut c = 0u64;
                let mut i = 0u32;
                while !stop.load(Ordering::Relaxed) {
                    c += 1;
                    let k = &publisher.keys[1 + 2 * t as usize + (c % 2) as usize];
                    let body = VoteBody {
                        council: publisher.council,
                        motion,
                        choice: (c % 2) as u32,
                        counter: c,
                        is_final: false,
                    };
                    if publisher.post("/v1/votes", &Signed::sign(body, k).to_cbor()) {
                        acked.fetch_add(1, Ordering::Relaxed);
                    }
                    i += 1;
                    if let Some(wait) = (every * i).checked_sub(t0.elapsed()) {
                        std::thread::sleep(wait);
                    }
                }
            });
        }
        while started.elapsed() < Duration::from_secs(seconds) {
            std::thread::sleep(Duration::from_secs(1));
            let lag = match (publisher.own_entries(), relay.entries_of(&publisher.council)) {
                (Some(h), Some(r)) => h.saturating_sub(r),
                _ => u64::MAX, // a node did not answer within 10 s: as bad as it gets
            };
            samples.push((started.elapsed().as_secs_f64(), publisher.rss_kb(), relay.rss_kb(), lag));
        }
        stop.store(true, Ordering::Relaxed);
    });
    let elapsed = started.elapsed().as_secs_f64();
    let head = publisher.own_entries().expect("the publisher answers");
    wait_for("the relay to catch up with the publisher", 60, || {
        (relay.entries_of(&publisher.council)? >= head).then_some(())
    });
    assert!(!freeze || frozen.state() == Some('T'), "the frozen node ran during the load");
    frozen.signal("-CONT");
    let resumed = Instant::now();
    let frozen_had = wait_for("the resumed node to answer", 300, || frozen.entries_of(&publisher.council));
    wait_for("the frozen node to catch up after it resumes", 300, || {
        (frozen.entries_of(&publisher.council)? >= head).then_some(())
    });
    let catch_up = resumed.elapsed().as_secs_f64();

    // Memory per fifth of the run: (max publisher, max relay) in MB.
    let fifths: Vec<Value> = samples
        .chunks(samples.len().div_ceil(5).max(1))
        .map(|c| {
            let p = c.iter().map(|s| s.1).max().unwrap_or(0);
            let r = c.iter().map(|s| s.2).max().unwrap_or(0);
            serde_json::json!([p / 1024, r / 1024])
        })
        .collect();
    let max_p = samples.iter().map(|s| s.1).max().unwrap_or(0);
    let max_r = samples.iter().map(|s| s.2).max().unwrap_or(0);
    let max_lag = samples.iter().map(|s| s.3).max().unwrap_or(0);
    let acked = acked.load(Ordering::Relaxed);
    let ok = max_p < RSS_LIMIT_KB && max_r < RSS_LIMIT_KB;
    println!(
        "{}",
        serde_json::json!({
            "seconds": elapsed,
            "ballots_acknowledged": acked,
            "ballots_per_second": acked as f64 / elapsed,
            "max_rss_mb": { "publisher": max_p / 1024, "relay": max_r / 1024 },
            "rss_mb_per_fifth": fifths,
            "relay_max_lag_entries": max_lag,
            "frozen_catch_up_seconds": catch_up,
            "frozen_behind_at_resume": head.saturating_sub(frozen_had),
            "pass": ok,
        })
    );
    if !ok {
        eprintln!("FAILED: a running node went over {} MB", RSS_LIMIT_KB / 1024);
        std::process::exit(1);
    }
}
