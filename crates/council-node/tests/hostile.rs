//! A member council whose node is hostile, outsiders, and spent invites, against real
//! nodes on loopback. Every hostile message must be rejected (the sender's score falls
//! below the graylist threshold) and never reach the node behind; what is valid in its
//! council's log but breaks the mandate is void everywhere and not forwarded; honest
//! traffic keeps flowing.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{fed_motion, followed_seq, member_count, now, score_of, wait, Node, Peer};
use council_core::cbor::Cbor;
use council_core::records::{
    Action, Charter, CouncilRules, DelegateVoteBody, EquivocationProof, FederationMotion, Instruction, Mandate,
    MotionForm, Outcome, Payload, PetitionBody, Rule, Scope, Signed,
};
use council_core::sample::{invite_proof, key_from_label, Clock, CouncilBuilder};
use council_core::{Hash, SecretKey};
use council_net::{peer_id_of, PeerId, Response, DUPLICATE_CACHE, GRAYLIST_THRESHOLD, MAX_MESSAGE_BYTES};
use council_node::peering::{GOSSIP_FRESH_SECS, REPLAY_AGE_SECS};
use serde_json::Value;

fn void_at(n: &Node, council: &Hash, seq: u64) -> Option<String> {
    n.federations()["void_events"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["council"] == council.to_hex() && v["seq"] == seq)
        .map(|v| v["reason"].as_str().unwrap().to_owned())
}

/// Two honest nodes, A and B, and the hostile council's node, played by the test (`peer`):
/// it reaches only A, so whatever reaches B went through A.
struct Honest {
    rt: tokio::runtime::Runtime,
    /// Holds the nodes' data directories.
    _tmp: tempfile::TempDir,
    made_a: (std::path::PathBuf, Hash, Vec<SecretKey>),
    a: Node,
    b: Node,
    fed: Hash,
    peer: Peer,
    m_peer: PeerId,
    m_id: Hash,
}

/// [`Honest`] federated with a member council whose node is hostile: its members, its
/// log as the test builds it, and its clock.
struct Hostile {
    w: Honest,
    mk: Vec<SecretKey>,
    m: CouncilBuilder,
    clock: Clock,
    charter: Charter,
}

/// Sets up [`Hostile`]; the hostile council's log starts at `log_start` (unix seconds).
fn hostile_federation(log_start: u64) -> Hostile {
    common::init_logs();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let made_a = Node::create(tmp.path(), "honest-a");
    let made_b = Node::create(tmp.path(), "honest-b");
    let a = Node::start(&rt, "honest-a", &made_a, &[]);
    let b = Node::start(&rt, "honest-b", &made_b, &[a.p2p_addr().unwrap()]);

    // The hostile council: valid members and genesis, a node the test controls.
    let mk: Vec<_> = (0..3).map(|i| key_from_label(&format!("hostile/member{i}"))).collect();
    let m_node = key_from_label("hostile/node");
    let mut clock = Clock(log_start);
    let refs: Vec<_> = mk.iter().collect();
    let mut m = CouncilBuilder::found(
        "Hostile council",
        &refs,
        CouncilRules::default(),
        key_from_label("hostile/node"),
        clock.tick(),
    )
    .unwrap();
    let charter = common::charter("Tested Federation", vec![a.council, b.council, m.id()]);
    let fed = charter.id();
    a.pass(Action::SignCharter { charter: charter.clone(), invite: None });
    b.pass(Action::SignCharter { charter: charter.clone(), invite: None });
    m.pass(&mut clock, &[&mk[0], &mk[1]], "found", Action::SignCharter { charter: charter.clone(), invite: None })
        .unwrap();
    let peer = Peer::start(&rt, &m_node, m.genesis().clone(), vec![]);
    peer.log.lock().unwrap().extend(m.take_entries());
    peer.subscribe(&rt, &fed);
    peer.dial(&rt, &a.p2p_addr().unwrap());
    for n in [&a, &b] {
        wait(&format!("{} counts three member councils", n.label), || member_count(n, &fed) == 3);
    }
    let (m_peer, m_id) = (peer_id_of(&m_node.public()), m.id());
    Hostile { w: Honest { rt, _tmp: tmp, made_a, a, b, fed, peer, m_peer, m_id }, mk, m, clock, charter }
}

impl Hostile {
    /// Logs the hostile council's new entries and gossips them; waits until A and B
    /// follow them.
    fn publish_new(&mut self) -> Vec<council_core::records::Entry> {
        let w = &self.w;
        let entries = self.m.take_entries();
        for e in &entries {
            w.peer.log.lock().unwrap().push(e.clone());
            w.peer.publish(&w.rt, &w.fed, e);
        }
        let seq = self.m.state().seq();
        for n in [&w.a, &w.b] {
            wait(&format!("{} follows the hostile log to {seq}", n.label), || followed_seq(n, &w.m_id) == seq);
        }
        entries
    }
}

impl Honest {
    /// Waits until the hostile node's score at A has recovered from any earlier penalty,
    /// has it `send` something, and checks that A rejects it: the score falls below the
    /// graylist threshold, neither A nor B stores anything, and B never hears from the
    /// hostile node directly.
    fn expect_rejected(&self, what: &str, send: impl FnOnce()) {
        let (a, b, m_peer, m_id) = (&self.a, &self.b, &self.m_peer, self.m_id);
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        while !score_of(a, m_peer).is_some_and(|s| s > GRAYLIST_THRESHOLD) {
            assert!(
                std::time::Instant::now() < deadline,
                "the hostile node's score did not recover: {}",
                a.get("/v1/network")
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (head_a, head_b) = (followed_seq(a, &m_id), followed_seq(b, &m_id));
        let rejected = a.gossip_rejected();
        send();
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !score_of(a, m_peer).is_some_and(|s| s < GRAYLIST_THRESHOLD) {
            assert!(
                std::time::Instant::now() < deadline,
                "A did not reject {what}: {}\nmesh at the hostile node: {:?}",
                a.get("/v1/network"),
                self.rt.block_on(self.peer.net.mesh_peers(&council_net::federation_topic(&self.fed)))
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(a.gossip_rejected() > rejected, "A's metrics do not count the rejection of {what}");
        assert_eq!(followed_seq(a, &m_id), head_a, "A kept {what}");
        assert_eq!(followed_seq(b, &m_id), head_b, "B got {what}");
        assert!(score_of(b, m_peer).is_none(), "the hostile node reached B directly, not through A");
    }

    /// B logs a resolution; A must have it within `within` (gossip, or sync every 300 ms).
    fn honest_traffic_flows(&self, within: Duration) {
        let before = std::time::Instant::now();
        self.b.pass(Action::Resolution);
        let head = self.b.get("/v1/council")["head"].clone();
        while !self.a.get("/v1/network")["followed"].as_array().unwrap().iter().any(|f| f["head"] == head) {
            assert!(before.elapsed() < within, "B's new entry did not reach A within {within:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

#[test]
fn hostile_members_outsiders_and_spent_invites_are_turned_away() {
    // The hostile council's log starts in the past, so that its entries (one second
    // apart) do not run ahead of the honest nodes' clocks and reorder the federation.
    let mut h = hostile_federation(now() - 120);
    let expires = h.clock.0 + 86_400;
    let mandate = {
        let Hostile { w, m, clock, mk, .. } = &mut h;
        m.pass(
            clock,
            &[&mk[0], &mk[1]],
            "mandate",
            Action::Mandate(Mandate {
                delegate: mk[0].public(),
                federation: w.fed,
                scope: Scope::Matters(vec!["wages".into()]),
                instructions: vec![("wages".into(), Instruction::Vote(0))],
                expires_at: expires,
            }),
        )
        .unwrap()
        .0
    };
    h.publish_new();
    let Hostile { w, mk, mut m, mut clock, charter } = h;
    let Honest { rt, a, b, fed, peer, m_peer, .. } = &w;
    let fed = *fed;
    let voters = [&mk[0], &mk[1]];

    // Two federation motions from A: one on the mandate's matter, one outside it.
    let motion = |matter: &str| FederationMotion {
        federation: fed,
        matter: matter.into(),
        title: format!("About {matter}"),
        options: vec!["yes".into(), "no".into()],
        closes_at: now() + 600,
        act: None,
    };
    let wages = a.pass(Action::OpenFederationMotion(motion("wages")));
    let pensions = a.pass(Action::OpenFederationMotion(motion("pensions")));
    for n in [&a, &b] {
        wait(&format!("{} sees both federation motions", n.label), || {
            let v = n.federations();
            fed_motion(&v, &wages).is_some() && fed_motion(&v, &pensions).is_some()
        });
    }
    clock.advance_to(now() + 1);

    // Valid in the hostile council's log, void in the federation: outside the scope, and
    // against the instruction. Kept (the log needs them), void everywhere, not counted.
    m.delegate_vote(clock.tick(), &mk[0], fed, pensions, mandate, 0).unwrap();
    m.delegate_vote(clock.tick(), &mk[0], fed, wages, mandate, 1).unwrap();
    let voids = m.take_entries();
    for e in &voids {
        peer.log.lock().unwrap().push(e.clone());
        peer.publish(rt, &fed, e);
    }
    for n in [&a, &b] {
        for e in &voids {
            wait(&format!("{} holds entry {} as void", n.label, e.body.seq), || {
                void_at(n, &m.id(), e.body.seq).is_some()
            });
        }
        let scope = void_at(n, &m.id(), voids[0].body.seq).unwrap();
        let instr = void_at(n, &m.id(), voids[1].body.seq).unwrap();
        assert!(scope.contains("scope") || scope.contains("matter"), "{}: {scope}", n.label);
        assert!(instr.contains("instruct"), "{}: {instr}", n.label);
        let v = n.federations();
        assert!(fed_motion(&v, &pensions).unwrap()["votes"].as_array().unwrap().is_empty());
        assert!(fed_motion(&v, &wages).unwrap()["votes"].as_array().unwrap().is_empty());
    }

    // Each invalid message: rejected at A (the hostile node drops below the graylist
    // threshold), never stored, never passed on to B.
    let m_id = m.id();
    let reject = |what: &str, entry: council_core::records::Entry| {
        w.expect_rejected(what, || peer.publish(rt, &fed, &entry));
        assert!(void_at(b, &m_id, entry.body.seq).is_none());
    };
    let st = m.state();
    let (next, prev, t) = (st.seq() + 1, st.head(), clock.tick());

    // A forged recall: a petition "signed" by someone who is not a member.
    let outsider_key = key_from_label("not a member");
    let forged = Signed::sign(PetitionBody { council: m.id(), mandate }, &outsider_key);
    reject("a forged recall petition", m.forge_conflicting(next, prev, t, Payload::Petition(forged)));

    // An entry whose node signature does not verify.
    let mut tampered = m.forge_conflicting(next, prev, t, Payload::Close { motion: mandate, outcome: Outcome::Passed });
    tampered.signature.0[5] ^= 1;
    reject("an entry with a broken signature", tampered);

    // A recall "passed" with too few ballots: one yes of three members.
    let recall = m
        .open(
            clock.tick(),
            &mk[0],
            "recall",
            MotionForm::YesNo(Action::Recall(mandate)),
            st_act_rule(),
            clock.0 + 86_400,
        )
        .unwrap();
    m.vote_final(clock.tick(), &mk[0], recall, 0).unwrap();
    for e in m.take_entries() {
        peer.log.lock().unwrap().push(e.clone());
        peer.publish(rt, &fed, &e);
    }
    wait("A follows the recall motion", || followed_seq(a, &m.id()) == m.state().seq());
    let st = m.state();
    let too_few = m.forge_conflicting(
        st.seq() + 1,
        st.head(),
        clock.tick(),
        Payload::Close { motion: recall, outcome: Outcome::Passed },
    );
    reject("a recall passed by too few members", too_few);

    // The real recall passes; then a vote by the recalled delegate.
    m.vote_final(clock.tick(), &mk[1], recall, 0).unwrap();
    m.close(clock.tick(), recall).unwrap();
    for e in m.take_entries() {
        peer.log.lock().unwrap().push(e.clone());
        peer.publish(rt, &fed, &e);
    }
    for n in [&a, &b] {
        wait(&format!("{} applies the recall", n.label), || followed_seq(n, &m.id()) == m.state().seq());
    }
    let st = m.state();
    let late = Signed::sign(
        DelegateVoteBody {
            federation: fed,
            motion: wages,
            council: m.id(),
            mandate,
            choice: 0,
            counter: 10,
            split: None,
        },
        &mk[0],
    );
    reject(
        "a delegate vote after recall",
        m.forge_conflicting(st.seq() + 1, st.head(), clock.tick(), Payload::DelegateVote(late)),
    );

    // A short mandate, then a vote after it expired (by the log's own clock).
    let short_expiry = clock.0 + 10;
    let short = m
        .pass(
            &mut clock,
            &voters,
            "short mandate",
            Action::Mandate(Mandate {
                delegate: mk[2].public(),
                federation: fed,
                scope: Scope::All,
                instructions: vec![],
                expires_at: short_expiry,
            }),
        )
        .unwrap()
        .0;
    for e in m.take_entries() {
        peer.log.lock().unwrap().push(e.clone());
        peer.publish(rt, &fed, &e);
    }
    wait("A follows the short mandate", || followed_seq(a, &m.id()) == m.state().seq());
    let st = m.state();
    let expired = Signed::sign(
        DelegateVoteBody {
            federation: fed,
            motion: wages,
            council: m.id(),
            mandate: short,
            choice: 0,
            counter: 11,
            split: None,
        },
        &mk[2],
    );
    reject(
        "a delegate vote after its mandate expired",
        m.forge_conflicting(st.seq() + 1, st.head(), clock.0 + 60, Payload::DelegateVote(expired)),
    );

    // A node that is not a member's: it can connect, but reads nothing and its messages
    // go nowhere; it is dropped when its hello grace ends.
    let stranger_key = key_from_label("stranger/node");
    let mut s = CouncilBuilder::found(
        "Stranger",
        &[&outsider_key],
        CouncilRules::default(),
        key_from_label("stranger/node"),
        now(),
    )
    .unwrap();
    let s_first = {
        s.open(now(), &outsider_key, "hello", MotionForm::YesNo(Action::Resolution), st_act_rule(), now() + 600)
            .unwrap();
        s.take_entries().remove(0)
    };
    let stranger = Peer::start(rt, &stranger_key, s.genesis().clone(), vec![]);
    stranger.subscribe(rt, &fed);
    stranger.dial(rt, &a.p2p_addr().unwrap());
    wait("the stranger's hello is refused", || {
        stranger.answers.lock().unwrap().iter().any(|r| matches!(r, Response::Refused(_)))
    });
    stranger.publish(rt, &fed, &s_first);
    // Honest traffic flows meanwhile, and the stranger sees none of it.
    b.pass(Action::Resolution);
    let b_head = b.get("/v1/council")["head"].clone();
    wait("A gets B's new entries", || {
        a.get("/v1/network")["followed"].as_array().unwrap().iter().any(|f| f["head"] == b_head)
    });
    let s_peer = peer_id_of(&stranger_key.public());
    wait("the stranger is dropped", || score_of(a, &s_peer).is_none());
    assert!(stranger.received.lock().unwrap().is_empty(), "the stranger read federation traffic");
    assert_eq!(followed_seq(a, &s.id()), 0, "A followed the stranger");

    // Invites: one use only, and an expired one.
    let invite_key = key_from_label("invite/one-use");
    // Attack: the operator invites a council with the token alone. The old unsigned form
    // is not a record; signed by the node key, it is not a member's.
    let (st, r) = a.post(
        "/v1/invites",
        serde_json::json!({ "federation": fed.to_hex(), "invite_key": invite_key.public().to_did(), "max_uses": 1, "expires_at": now() + 3600 }),
    );
    assert_eq!(st, 400, "{r}");
    let by_node = council_core::records::InviteBody {
        council: a.council,
        federation: fed,
        invite_key: invite_key.public(),
        max_uses: 1,
        expires_at: now() + 3600,
    };
    let node_key = council_node::datadir::load_key(&a.dir.join(council_node::datadir::NODE_KEY)).unwrap();
    let (st, r) = a.post_record("/v1/invites", &council_core::records::Signed::sign(by_node, &node_key).to_cbor());
    assert_eq!((st, r["error"]["code"].as_str()), (403, Some("not-a-member")), "{r}");
    let (st, r) = a.invite(fed, &invite_key, 1, now() + 3600);
    assert_eq!(st, 201, "{r}");
    let joiner = |label: &str, key: &council_core::SecretKey, clock: &mut Clock| {
        let jk = key_from_label(&format!("{label}/member"));
        let mut j = CouncilBuilder::found(
            label,
            &[&jk],
            CouncilRules::default(),
            key_from_label(&format!("{label}/node")),
            clock.tick(),
        )
        .unwrap();
        let proof = invite_proof(key, a.council, fed, j.id());
        (jk, j.id(), proof, {
            let g = j.genesis().clone();
            let _ = j.take_entries();
            (j, g)
        })
    };
    let mut jclock = Clock(now());
    let (jk1, j1_id, proof1, (mut j1, g1)) = joiner("joiner-one", &invite_key, &mut jclock);
    let p1 = Peer::start(rt, &key_from_label("joiner-one/node"), g1, vec![(fed, proof1.clone())]);
    p1.subscribe(rt, &fed);
    p1.dial(rt, &a.p2p_addr().unwrap());
    wait("the first joiner is welcome", || {
        p1.answers.lock().unwrap().iter().any(|r| matches!(r, Response::Welcome(_)))
    });
    jclock.advance_to(now() + 1);
    j1.pass(&mut jclock, &[&jk1], "join", Action::SignCharter { charter: charter.clone(), invite: Some(proof1) })
        .unwrap();
    for e in j1.take_entries() {
        p1.log.lock().unwrap().push(e.clone());
        p1.publish(rt, &fed, &e);
    }
    let uses = |n: &Node| -> u64 {
        let v = n.federations();
        v["federations"].as_array().unwrap().iter().find(|f| f["id"] == fed.to_hex()).unwrap()["invites"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                i["key"] == Value::String(invite_key.public().to_did())
                    || i["key"] == Value::String(hex::encode(invite_key.public().as_bytes()))
            })
            .map(|i| i["uses"].as_u64().unwrap())
            .unwrap_or(0)
    };
    wait("the invite is used once", || uses(a) == 1);
    assert!(followed_seq(a, &j1_id) > 0);
    let (_, _, proof2, (_, g2)) = joiner("joiner-two", &invite_key, &mut jclock);
    let p2 = Peer::start(rt, &key_from_label("joiner-two/node"), g2, vec![(fed, proof2)]);
    p2.dial(rt, &a.p2p_addr().unwrap());
    wait("a second use of a one-use invite is refused", || {
        p2.answers.lock().unwrap().iter().any(|r| matches!(r, Response::Refused(_)))
    });
    // The refusal says why, for the joining council to read.
    let refusals = |p: &Peer| -> Vec<String> {
        p.answers
            .lock()
            .unwrap()
            .iter()
            .filter_map(|r| match r {
                Response::Refused(why) => Some(why.clone()),
                _ => None,
            })
            .collect()
    };
    assert!(refusals(&p2).iter().all(|w| w.contains("used up (1 of 1 uses)")), "{:?}", refusals(&p2));

    let short_key = key_from_label("invite/short");
    // The node may stamp entries a few seconds ahead (its causal clock): leave room.
    let short_expiry = now() + 8;
    let (st, r) = a.invite(fed, &short_key, 5, short_expiry);
    assert_eq!(st, 201, "{r}");
    while now() <= short_expiry {
        std::thread::sleep(Duration::from_millis(200));
    }
    let (_, _, proof3, (_, g3)) = joiner("joiner-three", &short_key, &mut jclock);
    let p3 = Peer::start(rt, &key_from_label("joiner-three/node"), g3, vec![(fed, proof3)]);
    p3.dial(rt, &a.p2p_addr().unwrap());
    wait("an expired invite is refused", || {
        p3.answers.lock().unwrap().iter().any(|r| matches!(r, Response::Refused(_)))
    });
    assert!(refusals(&p3).iter().all(|w| w.contains("the invite expired")), "{:?}", refusals(&p3));
    assert!(p2.received.lock().unwrap().is_empty() && p3.received.lock().unwrap().is_empty());

    // Equivocation: the hostile node signs a second, different entry at a place it has
    // already filled. A keeps the pair as a proof and passes the proof on; both honest
    // nodes mark the council as forked.
    wait("the hostile node's score recovers", || score_of(a, m_peer).is_some_and(|s| s > GRAYLIST_THRESHOLD));
    let (last, before_last) = {
        let log = peer.log.lock().unwrap();
        (log[log.len() - 1].clone(), log[log.len() - 2].id())
    };
    let other = Signed::sign(PetitionBody { council: m_id, mandate: short }, &mk[1]);
    let fork = m.forge_conflicting(last.body.seq, before_last, last.body.time, Payload::Petition(other));
    assert_ne!(fork.id(), last.id());
    peer.publish(rt, &fed, &fork);
    let forked =
        |n: &Node| n.federations()["forked"].as_array().unwrap().iter().any(|c| c == &Value::String(m_id.to_hex()));
    for n in [&a, &b] {
        wait(&format!("{} marks the hostile council as forked", n.label), || forked(n));
    }

    // A member's device hands a proof in at a member address (PROTOCOL.md §12.7): a new
    // proof is kept and passed on (202); a known one is known (200); a pair that proves
    // nothing is refused (422), and so is a proof about a council the node does not follow (404).
    let hand_in = |n: &Node, p: &EquivocationProof| -> (u16, Value) {
        let addr = std::fs::read_to_string(n.dir.join(council_node::datadir::MEMBERS_ADDR)).unwrap();
        let body = serde_json::json!({ "record": hex::encode(p.to_cbor()) });
        match ureq::post(&format!("http://{}/v1/equivocations", addr.trim())).send_json(body) {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("{e}"),
        }
    };
    assert_eq!(hand_in(b, &EquivocationProof { a: last.clone(), b: fork.clone() }).0, 200);
    let (earlier, prev) = {
        let log = peer.log.lock().unwrap();
        (log[log.len() - 2].clone(), log[log.len() - 3].id())
    };
    let other = Signed::sign(PetitionBody { council: m_id, mandate: short }, &mk[0]);
    let fork2 = m.forge_conflicting(earlier.body.seq, prev, earlier.body.time, Payload::Petition(other));
    let (s, v) = hand_in(b, &EquivocationProof { a: earlier.clone(), b: fork2 });
    assert_eq!(s, 202, "{v}");
    let (s, v) = hand_in(b, &EquivocationProof { a: earlier.clone(), b: earlier.clone() });
    assert_eq!((s, v["error"]["code"].as_str()), (422, Some("not-a-proof")), "the same entry twice: {v}");
    let mut stranger =
        CouncilBuilder::found("stranger", &[&mk[0]], CouncilRules::default(), key_from_label("stranger/node"), now())
            .unwrap();
    let t = now();
    stranger.invite(t, &mk[0], fed, &key_from_label("x"), 1, t + 60).unwrap();
    stranger.invite(t, &mk[0], fed, &key_from_label("y"), 1, t + 60).unwrap();
    let e = stranger.take_entries();
    let alt = stranger.forge_conflicting(2, e[0].id(), t, e[0].body.payload.clone());
    let (s, v) = hand_in(b, &EquivocationProof { a: e[1].clone(), b: alt });
    assert_eq!((s, v["error"]["code"].as_str()), (404, Some("unknown-council")), "{v}");
}

/// Replays (after the duplicate cache forgot them, and after the receiver restarted),
/// oversized messages and a flood of valid-looking junk, from a member council's node:
/// each rejected at A with the sender graylisted, nothing stored or passed on, and B's
/// traffic still reaching A in time.
#[test]
fn replays_oversized_messages_and_junk_floods_are_rejected() {
    // The hostile log is an hour old: its entries are too old for gossip, so arriving by
    // gossip a second time they are replays.
    let mut h = hostile_federation(now() - 3600);
    assert!(h.clock.0 + REPLAY_AGE_SECS < now(), "the premise: the hostile log is old enough to be replayed");
    let in_time = Duration::from_secs(15);

    // Old entries, new to A: stored (and passed to B by sync), not forwarded.
    let old = {
        let Hostile { m, clock, mk, .. } = &mut h;
        m.pass(clock, &[&mk[0], &mk[1]], "old news", Action::Resolution).unwrap();
        h.publish_new()
    };
    assert!(old.iter().all(|e| e.body.time + GOSSIP_FRESH_SECS < now()));
    let published = std::time::Instant::now();
    // gossipsub drops expired ids only when it next records a message. An entry beyond
    // the end of the hostile log is such a message: ignored, and never penalised.
    let beyond = h.m.forge_conflicting(
        h.m.state().seq() + 100,
        Hash::ZERO,
        h.clock.0,
        Payload::Close { motion: Hash::ZERO, outcome: Outcome::Passed },
    );
    let w = &mut h.w;
    w.honest_traffic_flows(in_time);

    // An oversized message: more data than any export item may have, in a frame that
    // gossipsub still reads.
    let mut big = vec![0x82, 0x65, b'e', b'n', b't', b'r', b'y', 0x5a];
    let len = MAX_MESSAGE_BYTES + 1000;
    big.extend_from_slice(&(len as u32).to_be_bytes());
    big.resize(big.len() + len, 0);
    w.expect_rejected("an oversized message", || w.peer.publish_raw(&w.rt, &w.fed, big));
    w.honest_traffic_flows(in_time);

    // A replay once gossipsub's duplicate cache (at A and at the sender) has forgotten
    // the message.
    while published.elapsed() < DUPLICATE_CACHE + Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
    }
    w.honest_traffic_flows(in_time);
    w.expect_rejected("a replay after the duplicate cache expired", || {
        // At the hostile node, then at A (the same connection keeps the order).
        w.peer.publish(&w.rt, &w.fed, &beyond);
        w.peer.publish(&w.rt, &w.fed, &old[0]);
    });
    w.honest_traffic_flows(in_time);

    // A replay after A restarts (its duplicate cache is empty).
    w.a.stop(&w.rt);
    w.a = Node::start(&w.rt, "honest-a", &w.made_a, &[w.b.p2p_addr().unwrap()]);
    w.peer.dial(&w.rt, &w.a.p2p_addr().unwrap());
    wait("A lets the hostile node in again", || score_of(&w.a, &w.m_peer).is_some_and(|s| s > GRAYLIST_THRESHOLD));
    wait("A and B are connected again", || score_of(&w.a, &w.b.peer_id()).is_some());
    w.expect_rejected("a replay after a restart", || w.peer.publish(&w.rt, &w.fed, &old[1]));
    w.honest_traffic_flows(in_time);

    // A flood of valid-looking junk: entries at places already held but signed by other
    // keys, entries whose signature is broken, undecodable bytes; and entries beyond the
    // end of the log (which A cannot judge yet: ignored, and cheap).
    let (st, w) = (h.m.state(), &h.w);
    let (seq, head, time) = (st.seq(), st.head(), st.time());
    let junk: Vec<Vec<u8>> = (0..3000u64)
        .map(|i| {
            let key = key_from_label(&format!("junk/{i}"));
            let payload = Payload::Close { motion: Hash::ZERO, outcome: Outcome::Passed };
            let body = council_core::records::EntryBody {
                council: w.m_id,
                seq: match i % 4 {
                    0 => 1 + i % seq,
                    1 => seq + 1,
                    _ => seq + 2 + i,
                },
                prev: head,
                time,
                payload,
            };
            let mut e = Signed::sign(body, &key);
            match i % 4 {
                1 => e.signature.0[7] ^= 1,
                3 => return i.to_le_bytes().repeat(16),
                _ => {}
            }
            council_core::export::ExportItem::Entry(e).to_cbor()
        })
        .collect();
    w.expect_rejected("a flood of junk", || {
        for j in junk {
            w.peer.publish_raw(&w.rt, &w.fed, j);
        }
    });
    w.honest_traffic_flows(in_time);
    assert_eq!(followed_seq(&w.a, &w.m_id), seq);
    assert_eq!(followed_seq(&w.b, &w.m_id), seq);
}

/// The peer id of a node (from the address it listens on).
fn st_act_rule() -> Rule {
    CouncilRules::default().act_rule
}
