//! Five nodes on loopback follow one council's log by gossip: a recall by petition reaches
//! and is applied at every node, and a node that was away catches up by sync and agrees.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use council_core::cbor::Cbor;
use council_core::council::{RecallKind, RecordError};
use council_core::records::{Action, Entry, Mandate, Scope};
use council_core::replica::{GossipVerdict, Judgement, Replicas};
use council_core::sample::{key_from_label, Clock, CouncilBuilder};
use council_core::verify::{verify_entry, verify_genesis};
use council_core::Hash;
use council_net::{
    keypair_from_seed, run, NetConfig, NetEvent, NetHandle, Response, SyncRequest, SyncResponse, Verdict,
};

const TOPIC: &str = "councilnet/1/federation/fed-test";

struct Follower {
    net: NetHandle,
    addr: libp2p::Multiaddr,
    replicas: Arc<Mutex<Replicas>>,
}

fn verdict(v: GossipVerdict) -> Verdict {
    match v {
        GossipVerdict::Accept => Verdict::Accept,
        GossipVerdict::Ignore => Verdict::Ignore,
        GossipVerdict::Reject => Verdict::Reject,
    }
}

/// Applies entries fetched by sync, in order, stopping at the first that does not apply.
fn apply_synced(replicas: &Mutex<Replicas>, r: &SyncResponse) {
    let mut reps = replicas.lock().unwrap();
    for b in &r.entries {
        let Ok(e) = Entry::from_cbor(b) else { return };
        let Ok(v) = verify_entry(e) else { return };
        match reps.judge(v) {
            Judgement::Applied | Judgement::Duplicate => {}
            _ => return,
        }
    }
}

/// A node that follows `genesis`'s council; `log` is what it serves to sync requests
/// (the publisher's whole log, or nothing).
async fn follower(label: &str, genesis: &council_core::records::Genesis, log: Arc<Mutex<Vec<Entry>>>) -> Follower {
    let cfg = NetConfig {
        keypair: keypair_from_seed(&key_from_label(label).seed()),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: vec![],
        heartbeat: Duration::from_millis(100),
        hello_grace: Duration::from_millis(300),
        max_connections: 64,
        mdns: false,
        kademlia: true,
        discovery_interval: Duration::from_millis(300),
        guard: Default::default(),
        metrics: None,
    };
    let (net, mut events) = run(cfg).unwrap();
    let addr = loop {
        if let Some(NetEvent::Listening(a)) = events.recv().await {
            break a;
        }
    };
    let replicas = Arc::new(Mutex::new(Replicas::new()));
    let council = replicas.lock().unwrap().follow(verify_genesis(genesis.clone()).unwrap()).unwrap();
    let (n, reps) = (net.clone(), replicas.clone());
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                NetEvent::Gossip { id, from, data, .. } => {
                    let judgement = match Entry::from_cbor(&data).ok().and_then(|e| verify_entry(e).ok()) {
                        None => Judgement::Invalid(council_core::council::RecordError::InvalidMotion("undecodable")),
                        Some(v) => reps.lock().unwrap().judge(v),
                    };
                    let _ = n.validate(id, from, verdict(judgement.verdict())).await;
                    if let Judgement::Gap { council, have } = judgement {
                        let (n, reps) = (n.clone(), reps.clone());
                        tokio::spawn(async move {
                            let req = SyncRequest { council, from_seq: have + 1, max_entries: 1000 };
                            if let Ok(r) = n.sync(from, req).await {
                                apply_synced(&reps, &r);
                            }
                        });
                    }
                }
                NetEvent::Connected { peer, .. } => {
                    // Catch up with whoever we meet.
                    let have = reps.lock().unwrap().get(&council).map(|s| s.seq()).unwrap_or(0);
                    let (n, reps) = (n.clone(), reps.clone());
                    tokio::spawn(async move {
                        let req = SyncRequest { council, from_seq: have + 1, max_entries: 1000 };
                        if let Ok(r) = n.sync(peer, req).await {
                            apply_synced(&reps, &r);
                        }
                    });
                }
                NetEvent::SyncRequest { request, channel, .. } => {
                    let entries = log
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|e| e.body.council == request.council && e.body.seq >= request.from_seq)
                        .take(request.max_entries as usize)
                        .map(Cbor::to_cbor)
                        .collect();
                    let _ = n.respond(channel, Response::Sync(SyncResponse { genesis: None, entries })).await;
                }
                _ => {}
            }
        }
    });
    // Every node of the test is a member.
    let members = std::iter::once("fed/publisher".to_owned())
        .chain((0..4).map(|i| format!("fed/follower{i}")))
        .map(|l| {
            (keypair_from_seed(&key_from_label(&l).seed()).public().to_peer_id(), HashSet::from([TOPIC.to_owned()]))
        })
        .collect();
    net.allow(members).await.unwrap();
    net.subscribe(TOPIC).await.unwrap();
    Follower { net, addr, replicas }
}

async fn eventually<F: FnMut() -> bool>(what: &str, mut f: F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recall_reaches_every_node_and_a_returning_node_catches_up() {
    // The council and its log, built as its node would.
    let mut clock = Clock(1_800_000_000);
    let keys: Vec<_> = (0..5).map(|i| key_from_label(&format!("fed/m{i}"))).collect();
    let refs: Vec<_> = keys.iter().collect();
    let mut council =
        CouncilBuilder::found("Depot", &refs, Default::default(), key_from_label("fed/node"), clock.tick()).unwrap();
    let mandate = Mandate {
        delegate: keys[4].public(),
        federation: Hash::of(b"fed-test"),
        scope: Scope::All,
        instructions: vec![],
        expires_at: clock.0 + 1_000_000,
    };
    let (mid, _) = council.pass(&mut clock, &refs, "mandate", Action::Mandate(mandate)).unwrap();
    let phase1 = council.take_entries();
    for k in &keys[..3] {
        council.petition(clock.tick(), k, mid).unwrap();
    }
    let phase2 = council.take_entries();
    let genesis = council.genesis().clone();

    // The publisher serves its whole log; four followers, the last one away at first.
    let served = Arc::new(Mutex::new(phase1.clone()));
    let publisher = follower("fed/publisher", &genesis, served.clone()).await;
    let mut nodes = Vec::new();
    for i in 0..4 {
        nodes.push(follower(&format!("fed/follower{i}"), &genesis, Arc::new(Mutex::new(vec![]))).await);
    }
    for f in &nodes[..3] {
        f.net.dial(publisher.addr.clone()).await.unwrap();
    }
    nodes[1].net.dial(nodes[0].addr.clone()).await.unwrap();
    nodes[2].net.dial(nodes[1].addr.clone()).await.unwrap();
    let mesh = |n: &NetHandle| {
        let n = n.clone();
        async move { !n.mesh_peers(TOPIC).await.unwrap().is_empty() }
    };
    for n in std::iter::once(&publisher).chain(&nodes[..3]) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        while !mesh(&n.net).await {
            assert!(tokio::time::Instant::now() < deadline, "no mesh");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // Phase 1 by gossip (the followers catch up on anything they miss by sync).
    for e in &phase1 {
        publisher.net.publish(TOPIC, e.to_cbor()).await.unwrap();
    }
    let head1 = phase1.last().unwrap().id();
    for f in &nodes[..3] {
        eventually("phase 1 everywhere", || {
            f.replicas.lock().unwrap().get(&genesis.council_id()).unwrap().head() == head1
        })
        .await;
    }
    // The recall, signed by petition, gossiped.
    served.lock().unwrap().extend(phase2.iter().cloned());
    for e in &phase2 {
        publisher.net.publish(TOPIC, e.to_cbor()).await.unwrap();
    }
    let recalled = |r: &Mutex<Replicas>| {
        let reps = r.lock().unwrap();
        let st = reps.get(&genesis.council_id()).unwrap();
        st.mandate(&mid).and_then(|m| m.recalled).map(|(_, by, _)| by)
    };
    for f in &nodes[..3] {
        eventually("the recall at every node", || recalled(&f.replicas) == Some(RecallKind::Petition)).await;
    }

    // The fourth node was away for all of it; it connects and catches up by sync.
    nodes[3].net.dial(publisher.addr.clone()).await.unwrap();
    eventually("the returning node catches up", || recalled(&nodes[3].replicas) == Some(RecallKind::Petition)).await;

    // Every node holds the same log.
    let head = phase2.last().unwrap().id();
    for f in &nodes {
        let reps = f.replicas.lock().unwrap();
        assert_eq!(reps.get(&genesis.council_id()).unwrap().head(), head);
    }
}

#[test]
fn forged_and_conflicting_entries_are_judged() {
    let mut clock = Clock(1_800_000_000);
    let keys: Vec<_> = (0..3).map(|i| key_from_label(&format!("j/m{i}"))).collect();
    let refs: Vec<_> = keys.iter().collect();
    let mut c = CouncilBuilder::found("J", &refs, Default::default(), key_from_label("j/node"), clock.tick()).unwrap();
    c.pass(&mut clock, &refs, "r", Action::Resolution).unwrap();
    let entries = c.take_entries();
    let mut reps = Replicas::new();
    let id = reps.follow(verify_genesis(c.genesis().clone()).unwrap()).unwrap();
    assert!(matches!(reps.judge(verify_entry(entries[1].clone()).unwrap()), Judgement::Gap { have: 0, .. }));
    for e in &entries {
        assert_eq!(reps.judge(verify_entry(e.clone()).unwrap()), Judgement::Applied);
    }
    assert_eq!(reps.judge(verify_entry(entries[0].clone()).unwrap()), Judgement::Duplicate);
    // Another entry at seq 1, signed by the node key: a fork.
    let fork = c.forge_conflicting(1, id, entries[0].body.time, entries[1].body.payload.clone());
    let j = reps.judge(verify_entry(fork.clone()).unwrap());
    assert_eq!(j, Judgement::Conflict { seq: 1 });
    // The same entry signed by a key that is not the node key of that place: never valid
    // there, so rejected (junk, not evidence of a fork).
    let junk = council_core::records::Signed::sign(fork.body.clone(), &key_from_label("j/junk"));
    let j = reps.judge(verify_entry(junk).unwrap());
    assert!(matches!(j, Judgement::Invalid(RecordError::WrongNodeKey { .. })), "{j:?}");
    assert_eq!(j.verdict(), GossipVerdict::Reject);
    // Beyond the end, or of a council not followed: cannot be judged yet, and that is
    // known before any signature check.
    assert!(matches!(reps.beyond_reach(&id, entries.len() as u64 + 2), Some(Judgement::Gap { .. })));
    assert_eq!(reps.beyond_reach(&Hash::ZERO, 1), Some(Judgement::Unknown(Hash::ZERO)));
    assert_eq!(reps.beyond_reach(&id, entries.len() as u64 + 1), None);
    assert_eq!(reps.beyond_reach(&id, 1), None);
    // An entry the council's rules refuse (a vote by a non-member).
    let last = reps.get(&id).unwrap();
    let (seq, head) = (last.seq(), last.head());
    let outsider = key_from_label("j/outsider");
    let ballot = c.ballot(&outsider, Hash::ZERO, 0);
    let bad = c.forge_conflicting(seq + 1, head, clock.tick(), council_core::records::Payload::Vote(ballot));
    let j = reps.judge(verify_entry(bad).unwrap());
    assert!(matches!(j, Judgement::Invalid(_)));
    assert_eq!(j.verdict(), GossipVerdict::Reject);
    assert!(matches!(reps.judge(verify_entry(entries[0].clone()).unwrap()).verdict(), GossipVerdict::Ignore));
}
