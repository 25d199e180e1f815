//! Nodes on 127.0.0.1 in one process: validated gossip, penalties, gating, and sync.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use council_core::cbor::Cbor;
use council_core::records::{Action, Entry, MotionForm, Rule, Share, Threshold};
use council_core::sample::{key_from_label, Clock, CouncilBuilder};
use council_core::verify::verify_entry;
use council_net::{keypair_from_seed, run, NetConfig, NetEvent, NetHandle, PeerId, Response, SyncResponse, Verdict};

const TOPIC: &str = "councilnet/1/federation/test";

/// Each peer allowed, on `TOPIC` only.
fn on_topic(peers: impl IntoIterator<Item = PeerId>) -> HashMap<PeerId, HashSet<String>> {
    peers.into_iter().map(|p| (p, HashSet::from([TOPIC.to_owned()]))).collect()
}

/// A message a test node accepted: its topic and its data.
type Accepted = (String, Vec<u8>);

struct Node {
    net: NetHandle,
    addr: libp2p::Multiaddr,
    /// What the node accepted, with the topic it came on.
    accepted: Arc<Mutex<Vec<Accepted>>>,
}

impl Node {
    fn has(&self, data: &[u8]) -> bool {
        self.accepted.lock().unwrap().iter().any(|(_, d)| d == data)
    }
    fn has_on(&self, topic: &str, data: &[u8]) -> bool {
        self.accepted.lock().unwrap().iter().any(|(t, d)| t == topic && d == data)
    }
    fn has_any(&self) -> bool {
        !self.accepted.lock().unwrap().is_empty()
    }
}

/// Starts a node whose validator accepts entries with valid signatures and rejects
/// anything else, and which answers sync requests with `log`.
async fn node(label: &str, log: Vec<Entry>) -> Node {
    node_with_grace(label, log, Duration::from_millis(300)).await
}

async fn node_with_grace(label: &str, log: Vec<Entry>, hello_grace: Duration) -> Node {
    node_with(label, log, hello_grace, Default::default()).await
}

async fn node_with(
    label: &str,
    log: Vec<Entry>,
    hello_grace: Duration,
    guard: council_net::guard::GuardLimits,
) -> Node {
    let seed = key_from_label(label).seed();
    let cfg = NetConfig {
        keypair: keypair_from_seed(&seed),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()],
        bootstrap: vec![],
        heartbeat: Duration::from_millis(100),
        hello_grace,
        max_connections: 64,
        mdns: false,
        kademlia: true,
        discovery_interval: Duration::from_millis(300),
        guard,
        metrics: None,
    };
    let (net, mut events) = run(cfg).unwrap();
    let addr = loop {
        match tokio::time::timeout(Duration::from_secs(30), events.recv()).await.expect("listening in time") {
            Some(NetEvent::Listening(a)) => break a,
            Some(_) => {}
            None => panic!("network stopped"),
        }
    };
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let (n, acc) = (net.clone(), accepted.clone());
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            match ev {
                NetEvent::Gossip { id, from, data, topic } => {
                    let ok = Entry::from_cbor(&data).ok().and_then(|e| verify_entry(e).ok()).is_some();
                    if ok {
                        acc.lock().unwrap().push((topic.into_string(), data));
                    }
                    let _ = n.validate(id, from, if ok { Verdict::Accept } else { Verdict::Reject }).await;
                }
                NetEvent::SyncRequest { request, channel, .. } => {
                    let entries = log
                        .iter()
                        .filter(|e| e.body.council == request.council && e.body.seq >= request.from_seq)
                        .take(request.max_entries as usize)
                        .map(|e| e.to_cbor())
                        .collect();
                    let _ = n.respond(channel, Response::Sync(SyncResponse { genesis: None, entries })).await;
                }
                _ => {}
            }
        }
    });
    net.subscribe(TOPIC).await.unwrap();
    Node { net, addr, accepted }
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A small council log to gossip.
fn log() -> Vec<Entry> {
    let mut clock = Clock(1_800_000_000);
    let keys: Vec<_> = (0..3).map(|i| key_from_label(&format!("net/m{i}"))).collect();
    let refs: Vec<_> = keys.iter().collect();
    let mut b =
        CouncilBuilder::found("Net", &refs, Default::default(), key_from_label("net/node"), clock.tick()).unwrap();
    let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    for n in 0..3 {
        let t = clock.tick();
        let m = b.open(t, &keys[0], &format!("Q{n}"), MotionForm::YesNo(Action::Resolution), rule, t + 100).unwrap();
        for k in &keys[..2] {
            b.vote(clock.tick(), k, m, 0).unwrap();
        }
    }
    b.take_entries()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_gossip_spreads_forged_gossip_is_rejected_and_penalised() {
    let entries = log();
    let a = node("net/a", entries.clone()).await;
    let b = node("net/b", vec![]).await;
    let c = node("net/c", vec![]).await;
    let m = node("net/mallory", vec![]).await;
    // Mallory is a member (allowed), whose messages are judged like anyone's.
    let members = on_topic([&a, &b, &c, &m].map(|n| n.net.peer_id()));
    for n in [&a, &b, &c, &m] {
        n.net.allow(members.clone()).await.unwrap();
    }
    for n in [&b, &c, &m] {
        n.net.dial(a.addr.clone()).await.unwrap();
    }
    b.net.dial(c.addr.clone()).await.unwrap();
    for n in [&a, &b, &c, &m] {
        eventually("a gossip mesh", || async { !n.net.mesh_peers(TOPIC).await.unwrap().is_empty() }).await;
    }

    // A valid entry reaches every honest node.
    let good = entries[0].to_cbor();
    a.net.publish(TOPIC, good.clone()).await.unwrap();
    for n in [&b, &c] {
        eventually("the valid entry", || async { n.has(&good) }).await;
    }

    // Mallory forges an entry (a flipped signature byte): rejected, and Mallory's score
    // drops below the graylist threshold at the node that judged it.
    let mut forged = entries[1].clone();
    forged.signature.0[0] ^= 1;
    let forged = forged.to_cbor();
    m.net.publish(TOPIC, forged.clone()).await.unwrap();
    let mallory = m.net.peer_id();
    eventually("Mallory's penalty", || async {
        a.net.score(mallory).await.unwrap().is_some_and(|s| s < council_net::GRAYLIST_THRESHOLD)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for n in [&a, &b, &c] {
        assert!(!n.has(&forged), "a forged entry was accepted");
    }

    // Honest traffic still flows.
    let next = entries[2].to_cbor();
    a.net.publish(TOPIC, next.clone()).await.unwrap();
    for n in [&b, &c] {
        eventually("honest traffic after the attack", || async { n.has(&next) }).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_that_is_not_allowed_is_disconnected_and_gets_nothing() {
    let entries = log();
    // A long grace: the outsider stays connected (waiting to say hello) while traffic flows.
    let a = node_with_grace("net/a2", entries.clone(), Duration::from_secs(10)).await;
    let b = node("net/b2", vec![]).await;
    let outsider = node("net/outsider", vec![]).await;
    a.net.allow(on_topic([b.net.peer_id()])).await.unwrap();
    b.net.allow(on_topic([a.net.peer_id()])).await.unwrap();
    b.net.dial(a.addr.clone()).await.unwrap();
    outsider.net.dial(a.addr.clone()).await.unwrap();
    eventually("b connected", || async { a.net.connected_peers().await.unwrap().contains(&b.net.peer_id()) }).await;
    eventually("outsider connected", || async {
        a.net.connected_peers().await.unwrap().contains(&outsider.net.peer_id())
    })
    .await;
    eventually("a mesh with b", || async { !a.net.mesh_peers(TOPIC).await.unwrap().is_empty() }).await;
    let good = entries[0].to_cbor();
    a.net.publish(TOPIC, good.clone()).await.unwrap();
    eventually("b gets the entry", || async { b.has(&good) }).await;
    // While it waits, the outsider is in nobody's mesh and is sent nothing.
    assert!(!a.net.mesh_peers(TOPIC).await.unwrap().contains(&outsider.net.peer_id()));
    assert!(!outsider.has_any(), "the outsider read federation traffic");
    // What it publishes goes nowhere.
    let junk = entries[1].to_cbor();
    outsider.net.publish(TOPIC, junk.clone()).await.ok();
    // When its grace ends without a welcome hello, it is dropped, and stays out.
    eventually("outsider dropped", || async {
        !a.net.connected_peers().await.unwrap().contains(&outsider.net.peer_id())
    })
    .await;
    assert!(!outsider.has_any(), "the outsider read federation traffic");
    assert!(!b.has(&junk), "the outsider's message was relayed");
    // And it cannot sync either.
    let r = outsider
        .net
        .sync(
            a.net.peer_id(),
            council_net::SyncRequest { council: entries[0].body.council, from_seq: 1, max_entries: 10 },
        )
        .await;
    assert!(r.is_err(), "the outsider was served a sync");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_catches_up_by_sync() {
    let entries = log();
    let a = node("net/a3", entries.clone()).await;
    let c = node("net/c3", vec![]).await;
    a.net.allow(on_topic([c.net.peer_id()])).await.unwrap();
    c.net.dial(a.addr.clone()).await.unwrap();
    eventually("connected", || async { c.net.connected_peers().await.unwrap().contains(&a.net.peer_id()) }).await;
    let council = entries[0].body.council;
    let r =
        c.net.sync(a.net.peer_id(), council_net::SyncRequest { council, from_seq: 4, max_entries: 3 }).await.unwrap();
    let got: Vec<Entry> = r.entries.iter().map(|b| Entry::from_cbor(b).unwrap()).collect();
    assert_eq!(got.iter().map(|e| e.body.seq).collect::<Vec<_>>(), vec![4, 5, 6]);
    assert_eq!(got[0], entries[3]);
    let _: PeerId = a.net.peer_id();
}

/// A bare libp2p peer speaking councilnet's Kademlia protocol and nothing else: what an
/// outsider would run to map a federation.
fn kad_probe(label: &str) -> libp2p::Swarm<libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>> {
    use libp2p::kad;
    let key = keypair_from_seed(&key_from_label(label).seed());
    libp2p::SwarmBuilder::with_existing_identity(key)
        .with_tokio()
        .with_tcp(libp2p::tcp::Config::default(), libp2p::noise::Config::new, libp2p::yamux::Config::default)
        .unwrap()
        .with_behaviour(|k| {
            let id = k.public().to_peer_id();
            let mut cfg = kad::Config::new(council_net::discovery::KAD_PROTOCOL);
            cfg.set_query_timeout(Duration::from_secs(5));
            kad::Behaviour::with_config(id, kad::store::MemoryStore::new(id), cfg)
        })
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build()
}

/// Asks `via` (and whoever it names) for the peers closest to `target`. Returns the peers
/// that answered, and every other peer the probe dialed on the way (it can dial only what
/// it was told of).
async fn kad_lookup(
    probe: &mut libp2p::Swarm<libp2p::kad::Behaviour<libp2p::kad::store::MemoryStore>>,
    via: &Node,
    target: PeerId,
) -> (Vec<PeerId>, HashSet<PeerId>) {
    use futures::StreamExt;
    use libp2p::kad;
    use libp2p::swarm::SwarmEvent;
    probe.behaviour_mut().add_address(&via.net.peer_id(), via.addr.clone());
    let id = probe.behaviour_mut().get_closest_peers(target);
    let mut dialed = HashSet::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(60), probe.select_next_some()).await.expect("query ends") {
            SwarmEvent::Dialing { peer_id: Some(p), .. } | SwarmEvent::ConnectionEstablished { peer_id: p, .. } => {
                dialed.insert(p);
            }
            SwarmEvent::Behaviour(kad::Event::OutboundQueryProgressed { id: q, result, step, .. })
                if q == id && step.last =>
            {
                let peers = match result {
                    kad::QueryResult::GetClosestPeers(Ok(ok)) => ok.peers,
                    kad::QueryResult::GetClosestPeers(Err(kad::GetClosestPeersError::Timeout { peers, .. })) => peers,
                    other => panic!("unexpected query result {other:?}"),
                };
                dialed.remove(&via.net.peer_id());
                return (peers.into_iter().map(|p| p.peer_id).collect(), dialed);
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_find_each_other_with_kademlia() {
    let a = node("net/kad-a", vec![]).await;
    let b = node("net/kad-b", vec![]).await;
    let c = node("net/kad-c", vec![]).await;
    let members = on_topic([a.net.peer_id(), b.net.peer_id(), c.net.peer_id()]);
    for n in [&a, &b, &c] {
        n.net.allow(members.clone()).await.unwrap();
    }
    // B and C know only A's address.
    b.net.dial(a.addr.clone()).await.unwrap();
    c.net.dial(a.addr.clone()).await.unwrap();
    eventually("b and c find each other through a", || async {
        b.net.connected_peers().await.unwrap().contains(&c.net.peer_id())
            || c.net.connected_peers().await.unwrap().contains(&b.net.peer_id())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outsider_learns_no_member_address_from_kademlia() {
    // A long grace: the outsider stays connected while it asks.
    let a = node_with_grace("net/kad2-a", vec![], Duration::from_secs(30)).await;
    let b = node("net/kad2-b", vec![]).await;
    let mut member = kad_probe("net/kad2-member");
    let mut outsider = kad_probe("net/kad2-outsider");
    let outsider_id = *outsider.local_peer_id();
    let members = on_topic([a.net.peer_id(), b.net.peer_id(), *member.local_peer_id()]);
    a.net.allow(members.clone()).await.unwrap();
    // B would answer the outsider: so if A told the outsider of B, the lookup would reach
    // B and show it. The gate under test is A's.
    let mut with_outsider = members.clone();
    with_outsider.insert(outsider_id, HashSet::from([TOPIC.to_owned()]));
    b.net.allow(with_outsider.clone()).await.unwrap();
    b.net.dial(a.addr.clone()).await.unwrap();
    let b_id = b.net.peer_id();
    // A member's probe learns of B from A (once A has B in its table): the outsider's
    // lookup below is a real test, not one that finds nothing because nothing is there.
    let mut tries = 0;
    while !kad_lookup(&mut member, &a, b_id).await.0.contains(&b_id) {
        tries += 1;
        assert!(tries < 30, "a member never learned of B from A");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The outsider, connected and in its hello grace, asks the same and learns nothing.
    let (peers, dialed) = kad_lookup(&mut outsider, &a, b_id).await;
    assert!(peers.is_empty(), "A answered the outsider: {peers:?}");
    assert!(dialed.is_empty(), "the outsider learned of {dialed:?}");
    assert!(
        a.net.connected_peers().await.unwrap().contains(&outsider_id),
        "the outsider should still be connected (in its grace), so the refusal is the gate's"
    );
    // Let in (say its invite was accepted), the same connection is served at once.
    a.net.allow(with_outsider).await.unwrap();
    let mut tries = 0;
    while !kad_lookup(&mut outsider, &a, b_id).await.0.contains(&b_id) {
        tries += 1;
        assert!(tries < 30, "an allowed peer was never served");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

const TOPIC_2: &str = "councilnet/1/federation/test-2";

/// Each peer allowed on the given topics.
fn standing(entries: &[(PeerId, &[&str])]) -> HashMap<PeerId, HashSet<String>> {
    entries.iter().map(|(p, t)| (*p, t.iter().map(|t| (*t).to_owned()).collect())).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_one_federation_reads_nothing_of_another() {
    let entries = log();
    // H is in both federations; B only in the first, C only in the second. B subscribes
    // to both topics, as a curious member would.
    let h = node("net/topics-h", vec![]).await;
    let b = node("net/topics-b", vec![]).await;
    let c = node("net/topics-c", vec![]).await;
    h.net.subscribe(TOPIC_2).await.unwrap();
    b.net.subscribe(TOPIC_2).await.unwrap();
    c.net.subscribe(TOPIC_2).await.unwrap();
    let (hid, bid, cid) = (h.net.peer_id(), b.net.peer_id(), c.net.peer_id());
    h.net.allow(standing(&[(bid, &[TOPIC]), (cid, &[TOPIC_2])])).await.unwrap();
    b.net.allow(standing(&[(hid, &[TOPIC, TOPIC_2])])).await.unwrap();
    c.net.allow(standing(&[(hid, &[TOPIC_2])])).await.unwrap();
    b.net.dial(h.addr.clone()).await.unwrap();
    c.net.dial(h.addr.clone()).await.unwrap();
    eventually("a mesh on each topic", || async {
        h.net.mesh_peers(TOPIC).await.unwrap().contains(&bid) && h.net.mesh_peers(TOPIC_2).await.unwrap().contains(&cid)
    })
    .await;
    assert!(!h.net.mesh_peers(TOPIC_2).await.unwrap().contains(&bid), "B is in the mesh of a federation it is not in");

    // The second federation's traffic reaches C, and not B; the first's reaches B.
    let second = entries[0].to_cbor();
    h.net.publish(TOPIC_2, second.clone()).await.unwrap();
    eventually("C gets the second federation's entry", || async { c.has_on(TOPIC_2, &second) }).await;
    let first = entries[1].to_cbor();
    h.net.publish(TOPIC, first.clone()).await.unwrap();
    eventually("B gets the first federation's entry", || async { b.has_on(TOPIC, &first) }).await;
    assert!(!b.has(&second), "B read the second federation's traffic");
    // What B publishes on the second topic goes nowhere.
    let junk = entries[2].to_cbor();
    b.net.publish(TOPIC_2, junk.clone()).await.ok();
    let marker = entries[3].to_cbor();
    h.net.publish(TOPIC_2, marker.clone()).await.unwrap();
    eventually("C gets the next entry", || async { c.has(&marker) }).await;
    assert!(!c.has(&junk) && !h.has(&junk), "B's message on the second topic was taken");

    // B's council is admitted to the second federation: its subscription, held back,
    // goes through on the same connection.
    h.net.allow(standing(&[(bid, &[TOPIC, TOPIC_2]), (cid, &[TOPIC_2])])).await.unwrap();
    eventually("B joins the second mesh", || async { h.net.mesh_peers(TOPIC_2).await.unwrap().contains(&bid) }).await;
    let after = entries[4].to_cbor();
    h.net.publish(TOPIC_2, after.clone()).await.unwrap();
    eventually("B gets the second federation's traffic now", || async { b.has_on(TOPIC_2, &after) }).await;

    // B's council leaves the first federation: its connections close at once.
    h.net.allow(standing(&[(bid, &[TOPIC_2]), (cid, &[TOPIC_2])])).await.unwrap();
    eventually("B is disconnected", || async { !h.net.connected_peers().await.unwrap().contains(&bid) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_entry_on_two_topics_is_two_messages_relayed_on_each() {
    let entries = log();
    // A (first federation) - R (both) - D (second federation only), and C (second) - R.
    let a = node("net/two-a", vec![]).await;
    let r = node("net/two-r", vec![]).await;
    let c = node("net/two-c", vec![]).await;
    let d = node("net/two-d", vec![]).await;
    for n in [&r, &c, &d] {
        n.net.subscribe(TOPIC_2).await.unwrap();
    }
    let (aid, rid, cid, did) = (a.net.peer_id(), r.net.peer_id(), c.net.peer_id(), d.net.peer_id());
    a.net.allow(standing(&[(rid, &[TOPIC])])).await.unwrap();
    r.net.allow(standing(&[(aid, &[TOPIC]), (cid, &[TOPIC_2]), (did, &[TOPIC_2])])).await.unwrap();
    c.net.allow(standing(&[(rid, &[TOPIC_2])])).await.unwrap();
    d.net.allow(standing(&[(rid, &[TOPIC_2])])).await.unwrap();
    for n in [&a, &c, &d] {
        n.net.dial(r.addr.clone()).await.unwrap();
    }
    eventually("meshes", || async {
        let m2 = r.net.mesh_peers(TOPIC_2).await.unwrap();
        r.net.mesh_peers(TOPIC).await.unwrap().contains(&aid) && m2.contains(&cid) && m2.contains(&did)
    })
    .await;
    // The same entry, first on the first topic, then on the second: R must pass the
    // second on to D, not drop it as a message it has seen.
    let e = entries[0].to_cbor();
    a.net.publish(TOPIC, e.clone()).await.unwrap();
    eventually("R gets it on the first topic", || async { r.has_on(TOPIC, &e) }).await;
    c.net.publish(TOPIC_2, e.clone()).await.unwrap();
    eventually("D gets it on the second topic, through R", || async { d.has_on(TOPIC_2, &e) }).await;
    // One node publishing one entry on both of its federations' topics reaches both.
    let both = entries[1].to_cbor();
    r.net.publish(TOPIC, both.clone()).await.unwrap();
    r.net.publish(TOPIC_2, both.clone()).await.unwrap();
    eventually("A and D each get it", || async { a.has_on(TOPIC, &both) && d.has_on(TOPIC_2, &both) }).await;
}

/// Opens a TCP connection to `to` from the loopback address `from`, and says nothing.
async fn half_open(from: std::net::Ipv4Addr, to: &libp2p::Multiaddr) -> tokio::net::TcpStream {
    let port = to
        .iter()
        .find_map(|p| match p {
            libp2p::multiaddr::Protocol::Tcp(p) => Some(p),
            _ => None,
        })
        .unwrap();
    let s = tokio::net::TcpSocket::new_v4().unwrap();
    s.bind((from, 0).into()).unwrap();
    s.connect(([127, 0, 0, 1], port).into()).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_connections_and_reconnect_loops_do_not_lock_members_out() {
    let limits = council_net::guard::GuardLimits {
        pending_per_ip: 4,
        attempts_per_ip_per_minute: 1000,
        connections_per_peer_per_minute: 5,
    };
    let entries = log();
    let a = node_with("net/guard-a", entries.clone(), Duration::from_secs(3), limits).await;
    let member = node("net/guard-member", vec![]).await;
    let cycler = node("net/guard-cycler", vec![]).await;
    a.net.allow(on_topic([member.net.peer_id(), cycler.net.peer_id()])).await.unwrap();

    // 60 connections from one address that never start the handshake.
    let mut flood = Vec::new();
    for _ in 0..60 {
        flood.push(half_open(std::net::Ipv4Addr::new(127, 0, 0, 2), &a.addr).await);
    }
    // A member (from another address) still gets in and is served.
    member.net.dial(a.addr.clone()).await.unwrap();
    let council = entries[0].body.council;
    eventually("the member is served", || async {
        member
            .net
            .sync(a.net.peer_id(), council_net::SyncRequest { council, from_seq: 1, max_entries: 1 })
            .await
            .is_ok_and(|r| r.entries.len() == 1)
    })
    .await;
    // Every half-open connection is closed: those over the limit at once, the rest when
    // their handshake times out.
    for (i, s) in flood.into_iter().enumerate() {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(council_net::HANDSHAKE_TIMEOUT * 4, async {
            loop {
                if s.readable().await.is_err() {
                    return;
                }
                match s.try_read(&mut buf) {
                    Ok(0) => return,
                    Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => return,
                    _ => {}
                }
            }
        })
        .await;
        assert!(read.is_ok(), "half-open connection {i} was never closed");
    }

    // A peer that connects and hangs up in a loop is refused once its bucket is empty.
    let cid = cycler.net.peer_id();
    let mut refused = 0;
    for _ in 0..15 {
        cycler.net.dial(a.addr.clone()).await.unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut up = false;
        while tokio::time::Instant::now() < deadline {
            if a.net.connected_peers().await.unwrap().contains(&cid) {
                up = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if !up {
            refused += 1;
        }
        a.net.disconnect(cid).await.unwrap();
        eventually("the cycler is gone", || async { !a.net.connected_peers().await.unwrap().contains(&cid) }).await;
    }
    assert!(refused >= 5, "only {refused} of 15 reconnects were refused");
    // And the member is still served.
    assert!(member
        .net
        .sync(a.net.peer_id(), council_net::SyncRequest { council, from_seq: 1, max_entries: 1 })
        .await
        .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_of_one_federation_learns_no_node_of_another_from_kademlia() {
    // A is in both federations; C only in the second, connected to A (so A's table holds
    // C). A probe for a member of the first federation only, and one for a member of both.
    let a = node("net/kad3-a", vec![]).await;
    a.net.subscribe(TOPIC_2).await.unwrap();
    let c = node("net/kad3-c", vec![]).await;
    let mut one = kad_probe("net/kad3-one");
    let mut both = kad_probe("net/kad3-both");
    let (cid, one_id, both_id) = (c.net.peer_id(), *one.local_peer_id(), *both.local_peer_id());
    a.net.allow(standing(&[(cid, &[TOPIC_2]), (one_id, &[TOPIC]), (both_id, &[TOPIC, TOPIC_2])])).await.unwrap();
    // C would answer the member of both (so a lookup that reached C would show it): the
    // gate under test is A's.
    c.net.allow(standing(&[(a.net.peer_id(), &[TOPIC, TOPIC_2]), (both_id, &[TOPIC, TOPIC_2])])).await.unwrap();
    c.net.dial(a.addr.clone()).await.unwrap();
    // The member of both learns of C from A: the lookup below is a real test.
    let mut tries = 0;
    while !kad_lookup(&mut both, &a, cid).await.0.contains(&cid) {
        tries += 1;
        assert!(tries < 30, "a member of both federations never learned of C from A");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let (peers, dialed) = kad_lookup(&mut one, &a, cid).await;
    assert!(peers.is_empty(), "A answered a member of the first federation only: {peers:?}");
    assert!(dialed.is_empty(), "a member of the first federation learned of {dialed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_never_dropped_when_gossip_is_shed() {
    // A's node does not read its events for a while (it is behind), while B floods it
    // with gossip: the queue fills, and new gossip is shed. C connecting and leaving
    // meanwhile must still reach A's node, in order, once it reads again.
    let seed = key_from_label("net/behind-a").seed();
    let mut cfg = NetConfig::new(keypair_from_seed(&seed), vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()]);
    cfg.heartbeat = Duration::from_millis(100);
    cfg.kademlia = false;
    let (a, mut events) = run(cfg).unwrap();
    let a_addr = match events.recv().await {
        Some(NetEvent::Listening(addr)) => addr,
        other => panic!("expected the listening address first, got {other:?}"),
    };
    let b = node("net/behind-b", vec![]).await;
    let c = node("net/behind-c", vec![]).await;
    let (aid, bid, cid) = (a.peer_id(), b.net.peer_id(), c.net.peer_id());
    a.subscribe(TOPIC).await.unwrap();
    a.allow(on_topic([bid, cid])).await.unwrap();
    b.net.allow(on_topic([aid])).await.unwrap();
    c.net.allow(on_topic([aid])).await.unwrap();
    b.net.dial(a_addr.clone()).await.unwrap();
    eventually("B meshes with A", || async { b.net.mesh_peers(TOPIC).await.unwrap().contains(&aid) }).await;
    // More messages than A's event queue holds (4096).
    for i in 0u32..6000 {
        b.net.publish(TOPIC, format!("flood {i}").into_bytes()).await.unwrap();
    }
    // Wait until A has stopped taking gossip: its queue is full.
    tokio::time::sleep(Duration::from_secs(2)).await;
    c.net.dial(a_addr.clone()).await.unwrap();
    eventually("C connected", || async { c.net.connected_peers().await.unwrap().contains(&aid) }).await;
    // C stops counting A as a member first: otherwise its discovery would dial A again at
    // once (from a fresh port, possibly before the first connection has closed at A), and
    // A would rightly never see C gone.
    c.net.allow(on_topic([])).await.unwrap();
    c.net.disconnect(aid).await.unwrap();
    eventually("C gone", || async { !c.net.connected_peers().await.unwrap().contains(&aid) }).await;
    // A's node reads again: C's connection and disconnection are there, in that order.
    let mut seen = Vec::new();
    let mut gossip = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !seen.iter().any(|e| matches!(e, (false, p) if *p == cid)) {
        let ev = tokio::time::timeout_at(deadline, events.recv()).await.expect("C's events arrive").unwrap();
        match ev {
            NetEvent::Connected { peer, .. } => seen.push((true, peer)),
            NetEvent::Disconnected(peer) => seen.push((false, peer)),
            NetEvent::Gossip { id, from, .. } => {
                gossip += 1;
                a.validate(id, from, Verdict::Ignore).await.unwrap();
            }
            _ => {}
        }
    }
    assert!(gossip >= 4000, "the queue never filled ({gossip} gossip events): the test tested nothing");
    let c_events: Vec<bool> = seen.iter().filter(|(_, p)| *p == cid).map(|(up, _)| *up).collect();
    assert_eq!(c_events, vec![true, false], "C's connection events, in order");
}
