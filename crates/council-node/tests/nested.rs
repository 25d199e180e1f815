//! A federation of federations over the real network (PROTOCOL.md §8.1, §12.9): councils
//! a and b form F; F, by an act its delegates decide and its councils ratify, founds H
//! with north, a council that shares no federation with a or b. North's node then holds
//! federation-level copies of a's and b's logs, and never their ballots; a and b hold
//! north's copy. H is decided the same on every node.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Read;
use std::time::Duration;

use common::{fed_motion, member_count, now, wait, Node};
use council_core::cbor::Cbor;
use council_core::records::{
    Action, DelegateVoteBody, FederationAct, FederationMotion, Mandate, MotionBody, MotionForm, Rule, Scope, Share,
    Signed, Threshold, VoteBody,
};
use serde_json::Value;

/// The node's export, as it serves it.
fn export_bytes(n: &Node) -> Vec<u8> {
    let mut body = Vec::new();
    ureq::get(&format!("{}/v1/export", n.api))
        .set("Authorization", &format!("Bearer {}", n.token))
        .call()
        .unwrap()
        .into_reader()
        .read_to_end(&mut body)
        .unwrap();
    body
}

fn export_of(n: &Node) -> council_core::export::Report {
    council_core::export::verify_reader(&export_bytes(n)[..])
}

fn followed(n: &Node, council: &council_core::Hash) -> Option<Value> {
    n.get("/v1/network")["followed"].as_array().unwrap().iter().find(|f| f["council"] == council.to_hex()).cloned()
}

#[test]
fn a_federation_of_federations_reaches_a_council_outside_every_circle_by_federation_level_copies() {
    common::init_logs();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let (ma, mb, mn) =
        (Node::create(tmp.path(), "a"), Node::create(tmp.path(), "b"), Node::create(tmp.path(), "north"));
    let a = Node::start(&rt, "a", &ma, &[]);
    let b = Node::start(&rt, "b", &mb, &[a.p2p_addr().unwrap()]);
    let f_charter = common::charter("F", vec![ma.1, mb.1]);
    let f = f_charter.id();
    for n in [&a, &b] {
        n.pass(Action::SignCharter { charter: f_charter.clone(), invite: None });
    }
    for n in [&a, &b] {
        wait(&format!("{} counts two member councils of F", n.label), || member_count(n, &f) == 2);
    }
    // A ballot in a's own council, on a matter of its own: it must never leave F.
    let own = MotionBody {
        council: a.council,
        title: "Who takes the minutes?".into(),
        form: MotionForm::Choice(vec!["Ana".into(), "Ben".into()]),
        rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
        closes_at: now() + 3600,
        nonce: 9,
    };
    let own = Signed::sign(own, &a.members[0]);
    assert_eq!(a.post_record("/v1/motions", &own.to_cbor()).0, 201);
    let ballot = VoteBody { council: a.council, motion: own.id(), choice: 1, counter: 1, is_final: false };
    assert_eq!(a.post_record("/v1/votes", &Signed::sign(ballot, &a.members[1]).to_cbor()).0, 201);

    // F founds H with north: a motion of F whose act signs H's charter.
    let north = Node::start(&rt, "north", &mn, &[a.p2p_addr().unwrap()]);
    let h_charter = common::charter("H", vec![f, mn.1]);
    let h = h_charter.id();
    north.pass(Action::SignCharter { charter: h_charter.clone(), invite: None });
    let mandates: Vec<_> = [&a, &b]
        .iter()
        .map(|n| {
            n.pass(Action::Mandate(Mandate {
                delegate: n.members[0].public(),
                federation: f,
                scope: Scope::All,
                instructions: vec![],
                expires_at: now() + 86_400,
            }))
        })
        .collect();
    let closes_at = now() + 8;
    let fm = a.pass(Action::OpenFederationMotion(FederationMotion {
        federation: f,
        matter: "federation".into(),
        title: "Found H with north".into(),
        options: vec!["yes".into(), "no".into()],
        closes_at,
        act: Some(Box::new(FederationAct::SignCharter { charter: h_charter.clone(), invite: None })),
    }));
    for n in [&a, &b] {
        wait(&format!("{} sees F's motion", n.label), || fed_motion(&n.federations(), &fm).is_some());
    }
    for (i, n) in [&a, &b].iter().enumerate() {
        let body = DelegateVoteBody {
            federation: f,
            motion: fm,
            council: n.council,
            mandate: mandates[i],
            choice: 0,
            counter: 1,
            split: None,
        };
        let (s, r) = n.post_record("/v1/delegate-votes", &Signed::sign(body, &n.members[0]).to_cbor());
        assert_eq!(s, 201, "{}: {r}", n.label);
    }
    while now() <= closes_at {
        std::thread::sleep(Duration::from_millis(200));
    }
    for n in [&a, &b] {
        wait(&format!("{} closes F's motion", n.label), || {
            fed_motion(&n.federations(), &fm).is_some_and(|m| m["outcome"].is_object())
        });
        n.pass(Action::Ratify { federation: f, motion: fm, accept: true });
    }

    // Every node sees H founded, with F as a member federation and north as a council.
    let h_members = |n: &Node| -> Vec<(String, bool)> {
        let v = n.federations();
        let Some(fed) = v["federations"].as_array().unwrap().iter().find(|x| x["id"] == h.to_hex()) else {
            return vec![];
        };
        if fed["founded_at"].is_null() {
            return vec![];
        }
        let mut m: Vec<(String, bool)> = fed["members"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["council"].as_str().unwrap().to_owned(), m["federation"].as_bool().unwrap_or(false)))
            .collect();
        m.sort();
        m
    };
    let mut expected = vec![(f.to_hex(), true), (mn.1.to_hex(), false)];
    expected.sort();
    for n in [&a, &b, &north] {
        wait(&format!("{} sees H founded by F and north", n.label), || h_members(n) == expected);
    }
    // North holds a's and b's logs as federation-level copies; a and b hold north's.
    for (holder, of) in [(&north, a.council), (&north, b.council), (&a, north.council), (&b, north.council)] {
        let v = followed(holder, &of).unwrap_or_else(|| panic!("{} follows {}", holder.label, of.short()));
        assert_eq!(v["copy"], true, "{}: {v}", holder.label);
    }
    assert_eq!(followed(&a, &b.council).unwrap()["copy"], false, "a and b share F: whole logs");
    // North's export holds no ballot of a or b, yet decides H and F as a and b do.
    let (at_north, at_a) = (export_of(&north), export_of(&a));
    assert!(at_north.valid, "{:?}", at_north.errors);
    for c in at_north.councils.iter().filter(|c| c.id != north.council) {
        assert!(c.partial, "{}", c.name);
        assert_eq!(c.stats.ballots, 0, "{}: a ballot crossed into a copy", c.name);
    }
    assert!(at_a.councils.iter().any(|c| c.id == a.council && c.stats.ballots > 0));
    let f_at = |r: &council_core::export::Report| {
        serde_json::to_value(r.federations.iter().find(|x| x.id == f).unwrap()).unwrap()["motions"].clone()
    };
    assert_eq!(f_at(&at_north), f_at(&at_a), "F's motion is decided alike");

    // The attack: b's node, bound with north only through F, publishes a ballot of its
    // council on H's federation-level topic. North rejects it unread (the sender is
    // penalised), and no ballot enters its copy of b's log.
    let mut b = b;
    let b_key = council_node::datadir::load_key(&mb.0.join(council_node::datadir::NODE_KEY)).unwrap();
    b.stop(&rt);
    let b_genesis = b_genesis_from(&north, &mb.1);
    let rogue = common::Peer::start(&rt, &b_key, b_genesis, vec![]);
    let topic = council_net::wide_topic(&h);
    rogue.subscribe_topic(&rt, &topic);
    rogue.dial(&rt, &north.p2p_addr().unwrap());
    let motion = council_core::Hash::of(b"b's own motion");
    let vote = Signed::sign(VoteBody { council: mb.1, motion, choice: 0, counter: 1, is_final: true }, &mb.2[0]);
    let body = council_core::records::EntryBody {
        council: mb.1,
        seq: 1_000,
        prev: council_core::Hash::of(b"anything"),
        time: now(),
        payload: council_core::records::Payload::Vote(vote),
    };
    let entry = Signed::sign(body, &b_key);
    let rejected_before = north.gossip_rejected();
    let rogue_id = council_net::peer_id_of(&b_key.public());
    wait("north rejects the ballot on the federation-level topic", || {
        rogue.publish_on(&rt, &topic, council_core::export::ExportItem::Entry(entry.clone()).to_cbor());
        std::thread::sleep(Duration::from_millis(300));
        north.gossip_rejected() > rejected_before
    });
    assert!(
        north.get_text("/metrics").contains("verdict=\"reject\",reason=\"not-federation-level\""),
        "rejected as not federation-level, before any judgement"
    );
    wait("north penalises b's node", || common::score_of(&north, &rogue_id).is_some_and(|s| s < 0.0));
    let after = export_of(&north);
    let b_copy = after.councils.iter().find(|c| c.id == mb.1).unwrap();
    assert!(b_copy.partial && b_copy.stats.ballots == 0, "no ballot entered north's copy of b");
    let _ = (a, north);
}

/// A council's genesis, from the copy `holder` exports.
fn b_genesis_from(holder: &Node, council: &council_core::Hash) -> council_core::records::Genesis {
    use council_core::export::{ExportItem, ItemReader};
    let body = export_bytes(holder);
    let mut r = ItemReader::new(&body[..]);
    while let Some((_, item)) = r.next_item().unwrap() {
        if let Ok(ExportItem::PartialGenesis(g) | ExportItem::Genesis(g)) = ExportItem::from_cbor(&item) {
            if g.council_id() == *council {
                return g;
            }
        }
    }
    panic!("no genesis of {}", council.short())
}
