//! State snapshots: a state restored from a snapshot taken after any prefix of a log, and
//! then given the rest of the log, ends exactly where replaying the whole log ends; a
//! damaged snapshot, or one of another council, is refused without a panic.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Council, T0};
use council_core::council::{CouncilState, Effect, SnapshotError};
use council_core::records::{
    Action, Entry, FederationMotion, Genesis, Mandate, MotionForm, Rule, Scope, Share, Threshold,
};
use council_core::sample::{key_from_label, Clock};
use council_core::verify::{verify_entry, verify_genesis};
use council_core::SecretKey;

/// A log that uses every part of the state: roster and device changes, a node key change, open and
/// closed motions with changed ballots, a void act, mandates (superseded, recalled by
/// motion, petitioned), and every federation event.
fn rich_log() -> (Genesis, Vec<Entry>) {
    let mut clock = Clock(T0);
    let mut c = Council::new("snap", 5, &mut clock);
    let other = Council::new("other", 3, &mut clock);
    let keys: Vec<SecretKey> = c.keys.iter().map(|k| SecretKey::from_seed(&k.seed())).collect();
    let all: Vec<&SecretKey> = keys.iter().collect();
    let b = &mut c.b;

    let charter = common::charter(vec![b.id(), other.b.id()]);
    let fid = charter.id();
    b.pass(&mut clock, &all, "sign", Action::SignCharter { charter, invite: None }).unwrap();
    let t = clock.tick();
    let invite = key_from_label("invite");
    b.invite(t, all[0], fid, &invite, 2, t + 1000).unwrap();
    let third = Council::new("third", 1, &mut clock).b.id();
    b.pass(&mut clock, &all, "admit", Action::Admit { federation: fid, council: third }).unwrap();

    // Roster: one member in, one out, one key rotated; then a new node key.
    let newcomer = key_from_label("newcomer");
    b.pass(&mut clock, &all, "add", Action::AddMember(newcomer.public())).unwrap();
    b.pass(&mut clock, &all, "remove", Action::RemoveMember(keys[4].public())).unwrap();
    let rotated = key_from_label("rotated");
    b.pass(&mut clock, &all[..4], "rotate", Action::RotateKey { member: keys[3].public(), new_key: rotated.public() })
        .unwrap();
    let voters: Vec<&SecretKey> = vec![&keys[0], &keys[1], &keys[2], &rotated, &newcomer];
    b.rotate_node_key(&mut clock, &voters, key_from_label("node2")).unwrap();

    // Devices: member 0 adds two and removes one; the newcomer gets one by act.
    let (phone, tablet) = (key_from_label("phone"), key_from_label("tablet"));
    for d in [&phone, &tablet] {
        let added = b.device_added(&keys[0], keys[0].public(), d);
        b.append(clock.tick(), council_core::records::Payload::Device(added)).unwrap();
    }
    let removed = b.device_removed(&phone, keys[0].public(), tablet.public());
    b.append(clock.tick(), council_core::records::Payload::Device(removed)).unwrap();
    let laptop = key_from_label("laptop");
    let proof = council_core::records::DeviceProof { council: b.id(), member: newcomer.public() }.sign(&laptop);
    let act = Action::AddDevice { member: newcomer.public(), device: laptop.public(), proof };
    // The member moves it themself, with a key of their own.
    b.pass(&mut clock, &[&newcomer, &keys[0], &keys[1], &keys[2]], "add a device", act).unwrap();

    // An act made void: two motions to add the same key, both passed.
    let twice = key_from_label("twice");
    let rule = b.state().rules().act_rule;
    let t = clock.tick();
    let first = b
        .open(t, &keys[0], "add twice", MotionForm::YesNo(Action::AddMember(twice.public())), rule, t + 86_400)
        .unwrap();
    let t = clock.tick();
    let second = b
        .open(t, &keys[1], "add twice again", MotionForm::YesNo(Action::AddMember(twice.public())), rule, t + 86_400)
        .unwrap();
    for m in [first, second] {
        for v in &voters {
            if b.settled(&m).is_none() {
                b.vote_final(clock.tick(), v, m, 0).unwrap();
            }
        }
        b.close(clock.tick(), m).unwrap();
    }
    let void = b.state().motion(&second).unwrap();
    assert!(matches!(&void.status(), council_core::council::MotionStatus::Closed { effect: Effect::Void(_), .. }));

    // Mandates: one superseded, one recalled by motion, one petitioned against.
    let mandate = |delegate: &SecretKey| Mandate {
        delegate: delegate.public(),
        federation: fid,
        scope: Scope::All,
        instructions: vec![],
        expires_at: T0 + 1_000_000,
    };
    let (m1, _) = b.pass(&mut clock, &voters, "m1", Action::Mandate(mandate(&keys[0]))).unwrap();
    let (m2, _) = b.pass(&mut clock, &voters, "m2", Action::Mandate(mandate(&keys[1]))).unwrap();
    assert!(b.state().mandate(&m1).unwrap().superseded_at.is_some());
    let fm = FederationMotion {
        federation: fid,
        matter: "wages".into(),
        title: "Strike?".into(),
        options: vec!["yes".into(), "no".into()],
        closes_at: clock.0 + 100_000,
        act: None,
    };
    let (fmid, _) = b.pass(&mut clock, &voters, "fed motion", Action::OpenFederationMotion(fm)).unwrap();
    b.delegate_vote(clock.tick(), &keys[1], fid, fmid, m2, 0).unwrap();
    b.delegate_vote(clock.tick(), &keys[1], fid, fmid, m2, 1).unwrap();
    b.petition(clock.tick(), &keys[2], m2).unwrap();
    b.pass(&mut clock, &voters, "recall", Action::Recall(m2)).unwrap();
    let (m3, _) = b.pass(&mut clock, &voters, "m3", Action::Mandate(mandate(&keys[2]))).unwrap();
    b.petition(clock.tick(), &keys[0], m3).unwrap();
    b.pass(&mut clock, &voters, "ratify", Action::Ratify { federation: fid, motion: fmid, accept: true }).unwrap();

    // Motions left open, with ballots changed; a closed choice motion.
    let simple = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let t = clock.tick();
    let open = b.open(t, &keys[0], "open", MotionForm::YesNo(Action::Resolution), simple, t + 500_000).unwrap();
    let t = clock.tick();
    let choice = b
        .open(t, &keys[1], "choose", MotionForm::Choice(vec!["a".into(), "b".into(), "c".into()]), simple, t + 10)
        .unwrap();
    for (i, v) in voters.iter().enumerate() {
        b.vote(clock.tick(), v, open, (i % 3) as u32).unwrap();
        b.vote(clock.tick(), v, choice, (i % 4) as u32).unwrap();
    }
    b.vote(clock.tick(), &keys[0], open, 1).unwrap();
    // Ranked motions: one left open with rankings (one final), one closed.
    let ranked_rule = Rule { quorum: Share::new(1, 2), threshold: council_core::tally::RANKED_THRESHOLD };
    let ranked = |n: &str| MotionForm::Ranked(vec![format!("{n}1"), format!("{n}2"), format!("{n}3")]);
    let t2 = clock.tick();
    let rank_open = b.open(t2, &keys[0], "rank open", ranked("o"), ranked_rule, t2 + 500_000).unwrap();
    let t3 = clock.tick();
    let rank_closed = b.open(t3, &keys[1], "rank closed", ranked("c"), ranked_rule, t3 + 60).unwrap();
    for (i, v) in voters.iter().enumerate() {
        let r: Vec<u32> = [[0, 1, 2], [2, 1, 0], [1, 0, 2]][i % 3].to_vec();
        b.rank(clock.tick(), v, rank_open, &r, i == 0).unwrap();
        b.rank(clock.tick(), v, rank_closed, &r, false).unwrap();
    }
    clock.advance_to(t3 + 60);
    b.close(clock.tick(), choice).unwrap();
    b.close(clock.tick(), rank_closed).unwrap();
    b.pass(&mut clock, &voters, "leave", Action::Leave(fid)).unwrap();
    (b.genesis().clone(), b.take_entries())
}

fn replay(genesis: &Genesis, entries: &[Entry]) -> CouncilState {
    let mut s = CouncilState::new(verify_genesis(genesis.clone()).unwrap()).unwrap();
    for e in entries {
        s.apply(verify_entry(e.clone()).unwrap()).unwrap();
    }
    s
}

#[test]
fn a_restored_state_continues_exactly_like_the_replayed_one() {
    let (genesis, entries) = rich_log();
    assert!(entries.len() > 80, "the log has {} entries", entries.len());
    let whole = replay(&genesis, &entries);
    let end = whole.snapshot();
    // Every kind of entry is in the log.
    let s = whole.stats();
    assert!(
        s.ballots_changed > 0 && s.petition_signatures == 2 && s.delegate_votes == 2 && s.roster_changes == 4,
        "{s:?}"
    );
    assert_eq!(whole.fed_events().len(), 8, "{:?}", whole.fed_events().iter().map(|e| &e.kind).collect::<Vec<_>>());

    for k in 0..=entries.len() {
        let prefix = replay(&genesis, &entries[..k]);
        let snap = prefix.snapshot();
        // One well-formed CBOR item, whatever reads it: every array holds what it declares.
        let mut d = council_core::cbor::Decoder::new(&snap);
        assert_eq!(d.raw_item().map(<[u8]>::len).ok(), Some(snap.len()), "after {k} entries");
        d.finish().unwrap();
        let mut restored = CouncilState::restore(verify_genesis(genesis.clone()).unwrap(), &snap).unwrap();
        assert_eq!(restored.snapshot(), snap, "restoring after {k} entries changed the state");
        assert_eq!((restored.seq(), restored.head()), (prefix.seq(), prefix.head()));
        for e in &entries[k..] {
            restored.apply(verify_entry(e.clone()).unwrap()).unwrap();
        }
        assert_eq!(restored.snapshot(), end, "restored after {k} entries, then the rest: a different state");
    }
}

#[test]
fn a_restored_state_refuses_what_the_replayed_one_refuses() {
    let (genesis, entries) = rich_log();
    let k = entries.len() - 10;
    let prefix = replay(&genesis, &entries[..k]);
    let restored = CouncilState::restore(verify_genesis(genesis.clone()).unwrap(), &prefix.snapshot()).unwrap();
    // Every earlier entry again (out of sequence, stale ballots, duplicate motions once
    // renumbered): both states give the same verdict for each.
    for e in &entries[..k] {
        let mut again = e.clone();
        again.body.seq = k as u64 + 1;
        again.body.prev = prefix.head();
        again.body.time = prefix.time().max(again.body.time);
        let v = council_core::verify::Verified::from_own_store(again);
        let (mut a, mut b) = (prefix.clone(), restored.clone());
        let (ra, rb) = (a.apply(v.clone()), b.apply(v));
        assert_eq!(ra, rb, "entry {} renumbered", e.body.seq);
        assert_eq!(a.snapshot(), b.snapshot());
    }
}

#[test]
fn a_damaged_or_foreign_snapshot_is_refused() {
    let (genesis, entries) = rich_log();
    let snap = replay(&genesis, &entries).snapshot();
    let g = || verify_genesis(genesis.clone()).unwrap();
    for n in 0..snap.len() {
        assert!(CouncilState::restore(g(), &snap[..n]).is_err(), "truncated to {n} bytes");
    }
    let mut longer = snap.clone();
    longer.push(0);
    assert!(CouncilState::restore(g(), &longer).is_err());
    // Any single flipped byte: refused, or restored (a flip inside a number or key can still
    // decode) — but never a panic.
    for i in 0..snap.len() {
        let mut bad = snap.clone();
        bad[i] ^= 0x5a;
        let _ = CouncilState::restore(g(), &bad);
    }
    let mut clock = Clock(T0);
    let stranger = Council::new("stranger", 3, &mut clock);
    let foreign = verify_genesis(stranger.b.genesis().clone()).unwrap();
    assert!(matches!(CouncilState::restore(foreign, &snap), Err(SnapshotError::OtherCouncil(_))));
    let version = env!("CARGO_PKG_VERSION");
    let at = snap.windows(version.len()).position(|w| w == version.as_bytes()).unwrap();
    let mut old = snap.clone();
    old[at + version.len() - 1] ^= 1;
    assert!(matches!(CouncilState::restore(g(), &old), Err(SnapshotError::OtherBuild(_))));
}
