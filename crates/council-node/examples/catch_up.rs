//! B4: a node that missed N events catches up by sync after reconnecting, beside the raw
//! ingest of the same records in the same run (checks, rules, sled append and flush).
//!
//! `cargo run --release -p council-node --example catch_up -- [EVENTS]` prints one JSON
//! object. The log to catch up on is another council's (a federation founder): motions
//! and ballots, served over the network by a peer that plays that council's node.

use std::sync::Arc;
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::council::CouncilState;
use council_core::records::{
    Action, Charter, CouncilRules, Entry, FederationRules, MotionForm, MotionId, Rule, Share, Signed, Threshold,
    VoteBody,
};
use council_core::sample::{key_from_label, Clock, CouncilBuilder};
use council_core::verify::{verify_entry, verify_genesis};
use council_net::{heads_digest, Head, NetEvent, Response, SyncResponse, Verdict};
use council_node::config::Config;
use council_node::datadir;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn main() {
    let events: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    if std::env::var_os("RUST_LOG").is_some() {
        tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    }
    let tmp = tempfile::tempdir().expect("temp dir");

    // The node that will catch up: a council of three, founder of a charter with the
    // council it follows.
    let mine: Vec<_> = (0..3).map(|i| key_from_label(&format!("b4/mine/{i}"))).collect();
    let dir = tmp.path().join("node");
    let my_id = datadir::init_signed(&dir, "Catching up", &mine, now() - 7200).expect("init");

    // The council it missed: 30 members, motions of 29 ballots each (never settled).
    let members: Vec<_> = (0..30).map(|i| key_from_label(&format!("b4/other/{i}"))).collect();
    let refs: Vec<_> = members.iter().collect();
    let mut clock = Clock(now() - 3600);
    let mut other = CouncilBuilder::found(
        "Busy council",
        &refs,
        CouncilRules::default(),
        key_from_label("b4/other/node"),
        clock.tick(),
    )
    .expect("found");
    let charter = Charter {
        name: "B4".into(),
        principles: vec!["Catch up.".into()],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders: vec![my_id, other.id()],
        created_at: now() - 7000,
    };
    // A majority of the 30 members passes the charter.
    let voters: Vec<_> = members.iter().take(16).collect();
    other
        .pass(&mut clock, &voters, "found", Action::SignCharter { charter: charter.clone(), invite: None })
        .expect("sign");
    let rule = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let mut motion: Option<MotionId> = None;
    let mut voter = 0usize;
    while other.state().seq() < events as u64 {
        let t = clock.0;
        let m = match motion {
            Some(m) if voter < members.len() - 1 => m,
            _ => {
                voter = 0;
                let id = other
                    .open(t, &members[0], "Motion", MotionForm::YesNo(Action::Resolution), rule, u64::MAX / 2)
                    .expect("open");
                motion = Some(id);
                id
            }
        };
        let b = Signed::sign(
            VoteBody { council: other.id(), motion: m, choice: 0, counter: 1, is_final: false },
            &members[voter],
        );
        other.append(t, council_core::records::Payload::Vote(b)).expect("vote");
        voter += 1;
    }
    let log: Arc<Vec<Entry>> = Arc::new(other.take_entries());
    let genesis = other.genesis().clone();
    let n = log.len();
    let bytes: usize = log.iter().map(|e| e.to_cbor().len()).sum();

    // Raw ingest of the same records: decode, verify, apply, append to sled and flush, in
    // batches of 1000 (what a sync response carries), on one thread.
    let raw_dir = tmp.path().join("raw");
    let store = council_store::Store::open(&raw_dir).expect("store");
    let encoded: Vec<Vec<u8>> = log.iter().map(Cbor::to_cbor).collect();
    let started = Instant::now();
    let mut st = CouncilState::new(verify_genesis(genesis.clone()).expect("genesis")).expect("state");
    for chunk in encoded.chunks(1000) {
        let mut batch = Vec::with_capacity(chunk.len());
        for b in chunk {
            let e = verify_entry(Entry::from_cbor(b).expect("decode")).expect("signatures");
            let plain = e.get().clone();
            st.apply(e).expect("rules");
            batch.push(plain);
        }
        store.append_foreign(&batch).expect("append");
    }
    let raw = started.elapsed().as_secs_f64();
    drop(store);

    // The node: it signs the charter, then meets the busy council's node and syncs.
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let mut config = Config::local(&dir).expect("config");
    config.log.level = "warn".into();
    config.network.sync_interval_ms = 1000;
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let node = rt.spawn(council_node::run(
        config,
        async {
            let _ = stop_rx.await;
        },
        move |a| {
            let _ = addr_tx.send(a);
        },
    ));
    let api = format!("http://{}", addr_rx.recv_timeout(Duration::from_secs(60)).expect("the node starts"));
    let token = std::fs::read_to_string(dir.join(datadir::API_TOKEN)).expect("token").trim().to_owned();
    let post = |path: &str, rec: Vec<u8>| {
        ureq::post(&format!("{api}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({ "record": hex::encode(rec) }))
            .expect("accepted");
    };
    let act = council_core::records::MotionBody {
        council: my_id,
        title: "Found B4".into(),
        form: MotionForm::YesNo(Action::SignCharter { charter, invite: None }),
        rule: CouncilRules::default().act_rule,
        closes_at: now() + 3600,
        nonce: 1,
    };
    let m = Signed::sign(act, &mine[0]);
    post("/v1/motions", m.to_cbor());
    for k in &mine[..2] {
        post(
            "/v1/votes",
            Signed::sign(VoteBody { council: my_id, motion: m.id(), choice: 0, counter: 1, is_final: true }, k)
                .to_cbor(),
        );
    }
    let addr = loop {
        if let Ok(t) = std::fs::read_to_string(dir.join(datadir::P2P_ADDR)) {
            if let Some(l) = t.lines().next() {
                break l.to_owned();
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };

    // The busy council's node: answers hellos and serves its log from memory.
    let node_key = key_from_label("b4/other/node");
    let mut cfg = council_net::NetConfig::new(
        council_net::keypair_from_seed(&node_key.seed()),
        vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
    );
    cfg.hello_grace = Duration::from_secs(30);
    let _guard = rt.enter();
    let (net, mut evs) = council_net::run(cfg).expect("peer");
    let (n2, g2, l2) = (net.clone(), genesis.clone(), log.clone());
    rt.spawn(async move {
        while let Some(ev) = evs.recv().await {
            match ev {
                NetEvent::Hello { channel, .. } => {
                    let _ = n2.respond(channel, Response::Welcome(Box::new(g2.clone()))).await;
                }
                NetEvent::SyncRequest { request, channel, .. } => {
                    let mut r = SyncResponse::default();
                    if request.from_seq == 0 {
                        r.genesis = Some(Box::new(g2.clone()));
                    }
                    let from = request.from_seq.max(1) as usize;
                    r.entries =
                        l2.iter().skip(from - 1).take(request.max_entries as usize).map(Cbor::to_cbor).collect();
                    let _ = n2.respond(channel, Response::Sync(r)).await;
                }
                // Where its log stands (PROTOCOL.md §12.2): the node syncs what it is behind on.
                NetEvent::HeadsRequest { request, channel, .. } => {
                    let head = l2.last().map_or(g2.council_id(), Entry::id);
                    let heads = vec![Head { council: g2.council_id(), seq: l2.len() as u64, head }];
                    let answer = (request.digest != heads_digest(&heads)).then_some(heads);
                    let _ = n2.respond(channel, Response::Heads(answer)).await;
                }
                NetEvent::Gossip { id, from, .. } => {
                    let _ = n2.validate(id, from, Verdict::Ignore).await;
                }
                _ => {}
            }
        }
    });
    let started = Instant::now();
    let addr: council_net::Multiaddr = addr.parse().expect("multiaddr");
    rt.block_on(net.dial(addr.clone())).expect("dial");
    // The dialer says hello first (PROTOCOL.md §12.4); the node's answer welcomes it, and
    // then the node asks where the federation's logs stand, and syncs.
    let peer = addr
        .iter()
        .find_map(|p| match p {
            council_net::multiaddr::Protocol::P2p(id) => Some(id),
            _ => None,
        })
        .expect("the node's address names its peer id");
    rt.block_on(net.allow([(peer, Default::default())].into_iter().collect())).expect("allow");
    let hello = council_net::Hello { genesis: genesis.clone(), invites: Vec::new() };
    rt.block_on(net.hello(peer, hello)).expect("the node answers the hello");
    let other_hex = genesis.council_id().to_hex();
    let followed = || -> u64 {
        let v: serde_json::Value = ureq::get(&format!("{api}/v1/network"))
            .set("Authorization", &format!("Bearer {token}"))
            .call()
            .expect("network")
            .into_json()
            .expect("json");
        v["followed"]
            .as_array()
            .and_then(|a| a.iter().find(|f| f["council"] == other_hex.as_str()))
            .and_then(|f| f["entries"].as_u64())
            .unwrap_or(0)
    };
    while followed() < n as u64 {
        assert!(started.elapsed() < Duration::from_secs(3600), "catch-up did not finish");
        std::thread::sleep(Duration::from_millis(20));
    }
    let synced = started.elapsed().as_secs_f64();
    let _ = stop_tx.send(());
    let _ = rt.block_on(node);
    println!(
        "{}",
        serde_json::json!({
            "events": n,
            "bytes": bytes,
            "catch_up_seconds": synced,
            "raw_ingest_seconds": raw,
            "ratio": synced / raw,
        })
    );
}
