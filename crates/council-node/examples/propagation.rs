//! B3: how long a recall takes to be validated and stored at every node of a federation,
//! beside raw gossipsub time-to-all for a message of the same size on the same topology,
//! measured in the same run.
//!
//! `cargo run --release -p council-node --example propagation -- [NODES] [RECALLS]`
//! prints one JSON object. Every node runs the node's real network task
//! (`council_node::peering`: the same judging, storing and forwarding as `councild`) over its
//! own sled store, all in this process, on 127.0.0.1. Node 0's council passes a mandate
//! and then recalls it by petition, once per round; the clock runs from the moment the
//! recalling entry is on node 0's disk until it is stored at every other node.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::export::ExportItem;
use council_core::records::{
    Action, Charter, CouncilRules, Entry, FederationRules, Mandate, Rule, Scope, Share, Threshold,
};
use council_core::sample::{key_from_label, Clock, CouncilBuilder};
use council_core::Hash;
use council_net::{NetEvent, Verdict};
use council_node::peering::NetNode;
use council_node::writer::CausalClock;
use council_store::{Append, Store};

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// A small deterministic generator for the topology.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 % n as u64) as usize
    }
}

/// Node `i` dials up to three distinct earlier nodes: a connected graph.
fn topology(n: usize) -> Vec<Vec<usize>> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    (0..n)
        .map(|i| {
            let mut to = BTreeSet::new();
            while i > 0 && to.len() < i.min(3) {
                to.insert(rng.below(i));
            }
            to.into_iter().collect()
        })
        .collect()
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 * p) as usize).min(v.len() - 1)]
}

fn wait_file(p: &std::path::Path) -> String {
    loop {
        if let Ok(t) = std::fs::read_to_string(p) {
            if let Some(l) = t.lines().next() {
                return l.to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn main() {
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100);
    let rounds: usize = std::env::args().nth(2).and_then(|s| s.parse().ok()).unwrap_or(20);
    let tmp = tempfile::tempdir().expect("temp dir");
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let links = topology(n);

    // n councils of three members; all found one federation.
    let mut clock = Clock(now() - 3600);
    let keys: Vec<Vec<_>> =
        (0..n).map(|i| (0..3).map(|j| key_from_label(&format!("b3/{i}/member{j}"))).collect()).collect();
    let mut builders: Vec<CouncilBuilder> = (0..n)
        .map(|i| {
            let refs: Vec<_> = keys[i].iter().collect();
            CouncilBuilder::found(
                &format!("Council {i}"),
                &refs,
                CouncilRules::default(),
                key_from_label(&format!("b3/{i}/node")),
                clock.0,
            )
            .expect("found")
        })
        .collect();
    let charter = Charter {
        name: "B3".into(),
        principles: vec!["Recall at any time.".into()],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders: builders.iter().map(CouncilBuilder::id).collect(),
        created_at: clock.0,
    };
    let fed = charter.id();
    for (i, b) in builders.iter_mut().enumerate() {
        let voters = [&keys[i][0], &keys[i][1]];
        b.pass(&mut clock, &voters, "found", Action::SignCharter { charter: charter.clone(), invite: None })
            .expect("sign");
    }
    let founding: Vec<Entry> = builders[0].take_entries();

    // The nodes.
    let mut stores = Vec::new();
    let mut durable0 = None;
    let mut keep = Vec::new();
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let mut addrs: Vec<String> = Vec::new();
    let mut nets = Vec::new();
    for (i, b) in builders.iter_mut().enumerate() {
        let dir: PathBuf = tmp.path().join(format!("node{i}"));
        let store = Store::open(&dir.join("store")).expect("store");
        store.init_genesis(b.genesis()).expect("genesis");
        let own = if i == 0 { founding.clone() } else { b.take_entries() };
        let appends: Vec<Append> = own.iter().map(|e| Append::new(e.clone(), vec![])).collect();
        store.append(&appends).expect("append");
        // The state as of what is stored (node 0's rounds are still to come).
        let mut st = council_core::council::CouncilState::new(
            council_core::verify::verify_genesis(b.genesis().clone()).expect("genesis"),
        )
        .expect("state");
        for e in own {
            st.apply(council_core::verify::Verified::from_own_store(e)).expect("replay");
        }
        let seed = key_from_label(&format!("b3/{i}/node")).seed();
        let mut cfg = council_net::NetConfig::new(
            council_net::keypair_from_seed(&seed),
            vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        );
        cfg.hello_grace = Duration::from_secs(60);
        // The topology is the one drawn above, the same as the raw gossipsub run's:
        // no connections found by Kademlia.
        cfg.kademlia = false;
        let _g = rt.enter();
        let (handle, events) = council_net::run(cfg).expect("net");
        let dial: Vec<_> = links[i].iter().map(|&j| addrs[j].parse().expect("multiaddr")).collect();
        let (dtx, drx) =
            tokio::sync::watch::channel(council_node::writer::Sealed { seq: st.seq(), batch: Default::default() });
        let p2p = dir.join("p2p-addr");
        let (node, _control) =
            NetNode::new(st, store.clone(), handle.clone(), dial, p2p.clone(), CausalClock::default())
                .expect("net node");
        // A longer sync interval than the default: this measures gossip, and a hundred
        // nodes asking each other for a hundred logs every second would load two cores.
        rt.spawn(node.run(events, drx, Duration::from_secs(5), stop_rx.clone()));
        addrs.push(wait_file(&p2p));
        eprintln!("node {i} listening");
        if i == 0 {
            durable0 = Some(dtx);
        } else {
            // The network task stops when its durable-seq sender goes: keep them all.
            keep.push(dtx);
        }
        stores.push(store);
        nets.push(handle);
    }
    let durable0 = durable0.expect("node 0");
    let council0 = builders[0].id();
    let has = |s: &Store, c: &Hash, seq: u64| {
        s.foreign_entries(c, seq).next().and_then(Result::ok).is_some_and(|e| e.body.seq == seq)
    };

    // Everyone follows everyone (by hello and sync), and gossip meshes have formed.
    let started = Instant::now();
    let ids: Vec<Hash> = builders.iter().map(CouncilBuilder::id).collect();
    let heads: Vec<u64> =
        builders.iter().map(|b| if b.id() == council0 { founding.len() as u64 } else { b.state().seq() }).collect();
    loop {
        let missing = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .filter(|&(i, j)| !has(&stores[i], &ids[j], heads[j]))
            .count();
        if missing == 0 {
            break;
        }
        let which: Vec<(usize, usize)> = (0..n)
            .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
            .filter(|&(i, j)| !has(&stores[i], &ids[j], heads[j]))
            .take(8)
            .collect();
        eprintln!("{missing} logs still missing, e.g. (node, council) {which:?}; links {:?}", &links[..n.min(6)]);
        assert!(
            started.elapsed() < Duration::from_secs(1800),
            "the federation did not converge: {missing} logs missing"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let converged = started.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(3));

    // Node 0's rounds: a mandate passed (prepared), then the petition signature that recalls it.
    // Signed now, dated within the last few minutes: only entries younger than
    // GOSSIP_FRESH_SECS travel by gossip (older ones by sync alone).
    clock.advance_to(now() - 150);
    let mut prepared: Vec<(Vec<Entry>, Entry)> = Vec::new();
    for _ in 0..rounds {
        let b = &mut builders[0];
        let voters = [&keys[0][0], &keys[0][1]];
        let m = Mandate {
            delegate: keys[0][2].public(),
            federation: fed,
            scope: Scope::All,
            instructions: vec![],
            expires_at: clock.0 + 86_400,
        };
        let (mandate, _) = b.pass(&mut clock, &voters, "mandate", Action::Mandate(m)).expect("mandate");
        b.petition(clock.tick(), &keys[0][0], mandate).expect("petition");
        let mut pre = b.take_entries();
        b.petition(clock.tick(), &keys[0][1], mandate).expect("recall");
        let recall = b.take_entries().remove(0);
        assert!(b.state().mandate(&mandate).is_some_and(|m| m.recalled.is_some()), "the petition recalls");
        pre.shrink_to_fit();
        prepared.push((pre, recall));
    }
    let size = ExportItem::Entry(prepared[0].1.clone()).to_cbor().len();

    // The rounds.
    let mut times = Vec::new();
    // Stores the entries at node 0 (with its flush), then tells its network task they are
    // durable, which publishes them; returns the moment of telling.
    let publish = |entries: &[Entry]| {
        let age = now().saturating_sub(entries[0].body.time);
        assert!(age < council_node::peering::GOSSIP_FRESH_SECS, "an entry {age} s old would not be gossiped");
        let appends: Vec<Append> = entries.iter().map(|e| Append::new(e.clone(), vec![])).collect();
        stores[0].append(&appends).expect("append");
        let t = Instant::now();
        // As the writer does: the entries, with the news that they are on disk.
        let seq = entries.last().expect("entries").body.seq;
        durable0.send_replace(council_node::writer::Sealed { seq, batch: std::sync::Arc::new(appends) });
        t
    };
    eprintln!("converged in {converged:.1} s");
    for (pre, recall) in &prepared {
        publish(pre);
        let last = pre.last().expect("pre").body.seq;
        let t = Instant::now();
        while !(1..n).all(|i| has(&stores[i], &council0, last)) {
            assert!(t.elapsed() < Duration::from_secs(600), "the mandate did not reach every node");
            std::thread::sleep(Duration::from_millis(5));
        }
        let seq = recall.body.seq;
        let t = publish(std::slice::from_ref(recall));
        // Polled every millisecond, as the raw run below is: a busy loop here would take
        // one of the machine's cores from the nodes it measures.
        let mut pending: Vec<usize> = (1..n).collect();
        let mut last = t;
        while !pending.is_empty() {
            std::thread::sleep(Duration::from_millis(1));
            let now = Instant::now();
            pending.retain(|&i| !has(&stores[i], &council0, seq));
            if pending.is_empty() {
                last = now;
            }
            assert!(t.elapsed() < Duration::from_secs(600), "the recall did not reach every node");
        }
        times.push(last.duration_since(t).as_secs_f64() * 1000.0);
    }
    let _ = stop_tx.send(true);
    drop(nets);
    // The nodes' stores and sockets go before the raw run opens as many again.
    drop(stores);
    drop(keep);
    std::thread::sleep(Duration::from_secs(3));

    // Raw gossipsub on the same topology: accept on arrival, no checks, no store.
    let topic = "b3/raw";
    let arrived: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; n]));
    let mut raw_nets = Vec::new();
    let mut raw_addrs: Vec<council_net::Multiaddr> = Vec::new();
    for (i, link) in links.iter().enumerate() {
        let kp = council_net::keypair_from_seed(&key_from_label(&format!("b3/raw/{i}")).seed());
        let mut cfg = council_net::NetConfig::new(kp, vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")]);
        // The same topology as the nodes': no connections found by Kademlia.
        cfg.kademlia = false;
        let _g = rt.enter();
        let (h, mut ev) = council_net::run(cfg).expect("net");
        let addr = rt.block_on(async {
            loop {
                if let Some(NetEvent::Listening(a)) = ev.recv().await {
                    break a;
                }
            }
        });
        let (h2, arr) = (h.clone(), arrived.clone());
        rt.spawn(async move {
            while let Some(e) = ev.recv().await {
                if let NetEvent::Gossip { id, from, .. } = e {
                    arr.lock().expect("lock")[i].get_or_insert_with(Instant::now);
                    let _ = h2.validate(id, from, Verdict::Accept).await;
                }
            }
        });
        rt.block_on(h.subscribe(topic)).expect("subscribe");
        // Gating starts closed: every raw node lets every other in, on the one topic.
        let everyone = (0..n)
            .map(|k| {
                let kp = council_net::keypair_from_seed(&key_from_label(&format!("b3/raw/{k}")).seed());
                (kp.public().to_peer_id(), std::collections::HashSet::from([topic.to_owned()]))
            })
            .collect();
        rt.block_on(h.allow(everyone)).expect("allow");
        for &j in link {
            rt.block_on(h.dial(raw_addrs[j].clone())).expect("dial");
        }
        raw_addrs.push(addr);
        raw_nets.push(h);
    }
    std::thread::sleep(Duration::from_secs(5));
    let mut raw = Vec::new();
    for r in 0..rounds {
        *arrived.lock().expect("lock") = vec![None; n];
        let mut data = vec![0u8; size];
        data[..8].copy_from_slice(&(r as u64).to_le_bytes());
        let t = Instant::now();
        rt.block_on(raw_nets[0].publish(topic, data)).expect("publish");
        loop {
            let done = arrived.lock().expect("lock")[1..].iter().all(Option::is_some);
            if done {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(600), "raw gossip did not reach every node");
            std::thread::sleep(Duration::from_millis(1));
        }
        let last = arrived.lock().expect("lock")[1..].iter().flatten().max().copied().expect("arrivals");
        raw.push(last.duration_since(t).as_secs_f64() * 1000.0);
        std::thread::sleep(Duration::from_millis(300));
    }
    let (med, p99) = (pct(&mut times, 0.5), pct(&mut times, 0.99));
    let (rmed, rp99) = (pct(&mut raw, 0.5), pct(&mut raw, 0.99));
    println!(
        "{}",
        serde_json::json!({
            "nodes": n, "recalls": rounds, "message_bytes": size, "converged_seconds": converged,
            "median_ms": med, "p99_ms": p99, "raw_median_ms": rmed, "raw_p99_ms": rp99, "ratio": med / rmed,
        })
    );
}
