//! Who may read a federation's traffic, against a real node on loopback (PROTOCOL.md
//! §12.1): an outsider, a member of another federation, a council that left, and an
//! invitee whose invite expired each read nothing, while member traffic keeps flowing.
//!
//! H is a real node in two federations: F1 with A (a real node) and M, and F2 with C. M,
//! C and the others are played by the test (`Peer`), so it can ask H for anything.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{charter, followed_seq, member_count, now, wait, Node, Peer};
use council_core::cbor::Cbor;
use council_core::records::{Action, CouncilRules};
use council_core::sample::{invite_proof, key_from_label, Clock, CouncilBuilder};
use council_core::{Hash, SecretKey};
use council_net::{peer_id_of, PeerId, Response, SyncRequest};

/// A council played by the test: its members, its log, and its node.
struct Played {
    keys: Vec<SecretKey>,
    b: CouncilBuilder,
    node: SecretKey,
}

impl Played {
    fn found(label: &str, clock: &mut Clock) -> Played {
        let keys: Vec<SecretKey> = (0..2).map(|i| key_from_label(&format!("{label}/m{i}"))).collect();
        let refs: Vec<&SecretKey> = keys.iter().collect();
        let node = key_from_label(&format!("{label}/node"));
        let b = CouncilBuilder::found(
            label,
            &refs,
            CouncilRules::default(),
            key_from_label(&format!("{label}/node")),
            clock.tick(),
        )
        .unwrap();
        Played { keys, b, node }
    }
    fn pass(&mut self, clock: &mut Clock, action: Action) {
        let refs: Vec<&SecretKey> = self.keys.iter().collect();
        self.b.pass(clock, &refs, "act", action).unwrap();
    }
    fn peer(&mut self, rt: &tokio::runtime::Runtime, invites: Vec<(Hash, council_core::records::InviteProof)>) -> Peer {
        let p = Peer::start(rt, &self.node, self.b.genesis().clone(), invites);
        p.log.lock().unwrap().extend(self.b.take_entries());
        p
    }
    fn peer_id(&self) -> PeerId {
        peer_id_of(&self.node.public())
    }
}

/// Asks `h` for `council`'s log from the start: the entries served, or `None` if refused.
fn read(rt: &tokio::runtime::Runtime, p: &Peer, h: &Node, council: Hash) -> Option<usize> {
    let req = SyncRequest { council, from_seq: 0, max_entries: 100 };
    let asked =
        rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), p.net.sync(h.peer_id(), req)).await });
    asked.ok()?.ok().map(|r| r.entries.len())
}

/// Whether `p` holds any gossip carrying an entry of `council`.
fn heard_of(p: &Peer, council: &Hash) -> bool {
    p.received.lock().unwrap().iter().any(|d| match council_core::export::ExportItem::from_cbor(d) {
        Ok(council_core::export::ExportItem::Entry(e)) => e.body.council == *council,
        _ => false,
    })
}

fn refused(p: &Peer) -> bool {
    p.answers.lock().unwrap().iter().any(|r| matches!(r, Response::Refused(_)))
}

fn welcomed(p: &Peer) -> bool {
    p.answers.lock().unwrap().iter().any(|r| matches!(r, Response::Welcome(_)))
}

/// H logs a resolution; A must follow H to it (gossip or sync): member traffic flows.
fn member_traffic_flows(h: &Node, a: &Node) {
    h.pass(Action::Resolution);
    let seq = h.get("/v1/council")["entries"].as_u64().unwrap();
    wait("A follows H's new entry", || followed_seq(a, &h.council) >= seq);
}

#[test]
fn outsiders_other_federations_former_members_and_expired_invitees_read_nothing() {
    common::init_logs();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let made_h = Node::create(tmp.path(), "access-h");
    let made_a = Node::create(tmp.path(), "access-a");
    let h = Node::start(&rt, "access-h", &made_h, &[]);
    let a = Node::start(&rt, "access-a", &made_a, &[h.p2p_addr().unwrap()]);
    let mut clock = Clock(now() - 60);
    let mut m = Played::found("access-m", &mut clock);
    let mut c = Played::found("access-c", &mut clock);

    let f1 = charter("F1", vec![h.council, a.council, m.b.id()]);
    let f2 = charter("F2", vec![h.council, c.b.id()]);
    h.pass(Action::SignCharter { charter: f1.clone(), invite: None });
    h.pass(Action::SignCharter { charter: f2.clone(), invite: None });
    a.pass(Action::SignCharter { charter: f1.clone(), invite: None });
    m.pass(&mut clock, Action::SignCharter { charter: f1.clone(), invite: None });
    c.pass(&mut clock, Action::SignCharter { charter: f2.clone(), invite: None });
    let (f1, f2) = (f1.id(), f2.id());

    // M is in F1 only, but subscribes to F2's topic too, as a curious member would.
    let mp = m.peer(&rt, vec![]);
    mp.subscribe(&rt, &f1);
    mp.subscribe(&rt, &f2);
    mp.dial(&rt, &h.p2p_addr().unwrap());
    let cp = c.peer(&rt, vec![]);
    cp.subscribe(&rt, &f2);
    cp.dial(&rt, &h.p2p_addr().unwrap());
    wait("H counts three councils in F1 and two in F2", || member_count(&h, &f1) == 3 && member_count(&h, &f2) == 2);
    wait("A counts three councils in F1", || member_count(&a, &f1) == 3);
    assert!(welcomed(&mp) && welcomed(&cp));

    // The member of F1 reads F1's logs from H, and not C's (F2 only): not by sync, and
    // not by gossip, though it subscribed to F2's topic.
    assert!(read(&rt, &mp, &h, h.council).is_some_and(|n| n > 0), "a member cannot read H's own log");
    assert!(read(&rt, &mp, &h, a.council).is_some_and(|n| n > 0), "a member cannot read another member's log");
    assert_eq!(read(&rt, &mp, &h, c.b.id()), None, "a member of F1 read the log of a council in F2 only");
    c.pass(&mut clock, Action::Resolution);
    let news = c.b.take_entries();
    for e in &news {
        cp.log.lock().unwrap().push(e.clone());
        cp.publish(&rt, &f2, e);
    }
    let c_seq = c.b.state().seq();
    wait("H follows C's new entries", || followed_seq(&h, &c.b.id()) == c_seq);
    member_traffic_flows(&h, &a);
    wait("M hears H's traffic on F1", || heard_of(&mp, &h.council));
    assert!(!heard_of(&mp, &c.b.id()), "a member of F1 heard F2's traffic");
    assert_eq!(followed_seq(&a, &c.b.id()), 0, "A (F1) follows a council of F2");

    // An outsider: refused, never sent H's genesis (H does not speak first), reads nothing.
    let mut s = Played::found("access-stranger", &mut clock);
    let sp = s.peer(&rt, vec![]);
    sp.subscribe(&rt, &f1);
    sp.dial(&rt, &h.p2p_addr().unwrap());
    wait("the outsider's hello is refused", || refused(&sp));
    assert!(!welcomed(&sp), "H welcomed an outsider");
    assert!(sp.heard.lock().unwrap().is_empty(), "H said hello (its genesis) to an outsider");
    assert_eq!(read(&rt, &sp, &h, h.council), None, "an outsider read H's log");
    member_traffic_flows(&h, &a);
    assert!(sp.received.lock().unwrap().is_empty(), "an outsider read federation traffic");

    // An invitee reads F1 while its invite holds, and nothing once it expires.
    let invite = key_from_label("access/invite");
    // The node may stamp its entries a few seconds ahead (its causal clock): leave room.
    let expires = now() + 10;
    let (st, r) = h.invite(f1, &invite, 5, expires);
    assert_eq!(st, 201, "{r}");
    let mut j = Played::found("access-joiner", &mut clock);
    let proof = invite_proof(&invite, h.council, f1, j.b.id());
    let jp = j.peer(&rt, vec![(f1, proof)]);
    jp.subscribe(&rt, &f1);
    jp.dial(&rt, &h.p2p_addr().unwrap());
    wait("the invitee is welcome", || welcomed(&jp));
    assert!(read(&rt, &jp, &h, h.council).is_some_and(|n| n > 0), "an invitee with a valid invite cannot read");
    assert_eq!(read(&rt, &jp, &h, c.b.id()), None, "an invitee to F1 read a council of F2");
    while now() <= expires {
        std::thread::sleep(Duration::from_millis(200));
    }
    let j_peer = j.peer_id();
    wait("the invitee is let go when its invite expires", || !connected(&h).contains(&j_peer));
    assert_eq!(read(&rt, &jp, &h, h.council), None, "an invitee whose invite expired still reads");
    member_traffic_flows(&h, &a);

    // M leaves F1: it has no standing left anywhere here. (Its log's clock moves past the
    // founding, or the federation would order the leave before it.)
    clock.advance_to(now() + 1);
    m.pass(&mut clock, Action::Leave(f1));
    let left = m.b.take_entries();
    for e in &left {
        mp.log.lock().unwrap().push(e.clone());
        mp.publish(&rt, &f1, e);
    }
    let m_seq = m.b.state().seq();
    wait("H sees M leave", || member_count(&h, &f1) == 2);
    assert!(followed_seq(&h, &m.b.id()) >= m_seq - 1);
    let before = mp.received.lock().unwrap().len();
    wait("H closes the former member's connections", || !connected(&h).contains(&m.peer_id()));
    assert_eq!(read(&rt, &mp, &h, h.council), None, "a council that left still reads H's log");
    member_traffic_flows(&h, &a);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(mp.received.lock().unwrap().len(), before, "a council that left still hears the federation");
}

/// The peers connected to `h`, as it sees them.
fn connected(h: &Node) -> Vec<PeerId> {
    let v = h.get("/v1/network");
    v["connected"].as_array().unwrap().iter().filter_map(|p| p["peer"].as_str()?.parse().ok()).collect()
}

/// The flood of the issue: strangers say hello over and over, each carrying the genesis of
/// a council of 1,000 founders (a thousand signatures to check, if the node checked them),
/// sixteen at a time. Each gets at most four answers a minute, reconnecting or not; none
/// is followed (its genesis is never taken in); and a member's entries keep reaching the
/// next node meanwhile.
#[test]
fn a_flood_of_hellos_carrying_a_thousand_founders_is_cut_off_while_members_are_served() {
    common::init_logs();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let made_h = Node::create(tmp.path(), "flood-h");
    let made_a = Node::create(tmp.path(), "flood-a");
    let h = Node::start(&rt, "flood-h", &made_h, &[]);
    let a = Node::start(&rt, "flood-a", &made_a, &[h.p2p_addr().unwrap()]);
    let f1 = charter("F1", vec![h.council, a.council]);
    h.pass(Action::SignCharter { charter: f1.clone(), invite: None });
    a.pass(Action::SignCharter { charter: f1.clone(), invite: None });
    let f1 = f1.id();
    wait("H and A found F1", || member_count(&h, &f1) == 2 && member_count(&a, &f1) == 2);

    let founders: Vec<SecretKey> = (0..1000).map(|i| key_from_label(&format!("flood/founder{i}"))).collect();
    let refs: Vec<&SecretKey> = founders.iter().collect();
    let strangers: Vec<(Peer, council_core::records::Genesis)> = (0..16)
        .map(|k| {
            let node = key_from_label(&format!("flood/node{k}"));
            let b = CouncilBuilder::found(
                &format!("flood {k}"),
                &refs,
                CouncilRules::default(),
                key_from_label(&format!("flood/node{k}")),
                now(),
            )
            .unwrap();
            (Peer::start(&rt, &node, b.genesis().clone(), vec![]), b.genesis().clone())
        })
        .collect();
    for (p, _) in &strangers {
        p.dial(&rt, &h.p2p_addr().unwrap());
    }
    // Ten more hellos each, all sixteen at once, while a member's traffic has to get through.
    let hid = h.peer_id();
    let flood: Vec<_> = strangers
        .iter()
        .map(|(p, g)| {
            let (net, g) = (p.net.clone(), g.clone());
            rt.spawn(async move {
                let mut refused = 0;
                for _ in 0..10 {
                    let hello = council_net::Hello { genesis: g.clone(), invites: vec![] };
                    match tokio::time::timeout(Duration::from_secs(10), net.hello(hid, hello)).await {
                        Ok(Ok(Response::Refused(_))) => refused += 1,
                        Ok(Ok(other)) => panic!("a stranger was answered {other:?}"),
                        _ => {}
                    }
                }
                refused
            })
        })
        .collect();
    member_traffic_flows(&h, &a);
    let refused: Vec<usize> = flood.into_iter().map(|t| rt.block_on(t).unwrap()).collect();
    member_traffic_flows(&h, &a);
    for ((p, g), n) in strangers.iter().zip(&refused) {
        let on_connect = p.answers.lock().unwrap().iter().filter(|r| matches!(r, Response::Refused(_))).count();
        assert!(!welcomed(p), "a stranger was welcomed");
        assert!(
            n + on_connect <= council_node::proto::MAX_HELLOS as usize,
            "a stranger got {} answers to its hellos within the minute",
            n + on_connect
        );
        assert_eq!(followed_seq(&h, &g.council_id()), 0);
    }
    let followed = h.get("/v1/network")["followed"].as_array().unwrap().len();
    assert_eq!(followed, 1, "H took in a stranger's genesis: it follows {followed} councils");
}
