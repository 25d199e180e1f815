//! The council rules, one test per rule, each through the same `CouncilState::apply`
//! that the daemon and the verifier use.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Council, T0};
use council_core::cbor::Cbor;
use council_core::council::{Effect, MotionStatus, RecallKind, RecordError};
use council_core::records::{
    Action, CouncilRules, Entry, MotionForm, Outcome, Payload, Rule, Share, Signed, Threshold, VoteBody,
};
use council_core::sample::{key_from_label, Clock};
use council_core::verify::{verify_entry, SignatureError};

fn majority() -> Rule {
    Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY }
}

fn resolution() -> MotionForm {
    MotionForm::YesNo(Action::Resolution)
}

#[test]
fn a_vote_by_a_non_member_is_rejected() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 5, &mut clock);
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 1000).unwrap();
    let outsider = key_from_label("outsider");
    let ballot = c.b.ballot(&outsider, m, 0);
    let err = c.try_append(clock.tick(), Payload::Vote(ballot)).unwrap_err();
    assert!(matches!(err, RecordError::NotAMember { .. }), "{err}");
}

#[test]
fn a_vote_with_a_bad_signature_never_becomes_verified() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 5, &mut clock);
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 1000).unwrap();
    let mut ballot = c.b.ballot(&c.keys[1], m, 0);
    ballot.signature.0[5] ^= 1;
    let st = c.b.state();
    let e = c.b.forge_conflicting(st.seq() + 1, st.head(), clock.tick(), Payload::Vote(ballot));
    assert!(matches!(verify_entry(e), Err(SignatureError::Inner { kind: "vote", .. })));
}

#[test]
fn a_signature_for_another_motion_or_council_is_worthless() {
    let mut clock = Clock(T0);
    let mut a = Council::new("a", 3, &mut clock);
    let mut b = Council::new("b", 3, &mut clock);
    let m1 = a.b.open(clock.tick(), &a.keys[0], "Q1", resolution(), majority(), T0 + 1000).unwrap();
    let m2 = a.b.open(clock.tick(), &a.keys[0], "Q2", resolution(), majority(), T0 + 1000).unwrap();
    // Moving a signed ballot to another motion changes the signed bytes.
    let ballot = a.b.ballot(&a.keys[1], m1, 0);
    let moved = Signed {
        body: VoteBody { motion: m2, ..ballot.body.clone() },
        body_bytes: VoteBody { motion: m2, ..ballot.body.clone() }.to_cbor(),
        ..ballot.clone()
    };
    let st = a.b.state();
    let e = a.b.forge_conflicting(st.seq() + 1, st.head(), clock.tick(), Payload::Vote(moved));
    assert!(verify_entry(e).is_err());
    // A ballot validly signed for council a is refused by council b.
    let bm = b.b.open(clock.tick(), &b.keys[0], "Q", resolution(), majority(), T0 + 1000).unwrap();
    let foreign = a.b.ballot(&a.keys[1], bm, 0);
    let err = b.try_append(clock.tick(), Payload::Vote(foreign)).unwrap_err();
    assert!(matches!(err, RecordError::ForeignRecord { kind: "vote", .. }), "{err}");
}

#[test]
fn votes_on_closed_motions_and_after_closing_time_are_rejected() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 5, &mut clock);
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 100).unwrap();
    let late = c.b.ballot(&c.keys[1], m, 0);
    let err = c.try_append(T0 + 101, Payload::Vote(late)).unwrap_err();
    assert!(matches!(err, RecordError::PastClosingTime { .. }), "{err}");
    for k in 0..3 {
        let key = &c.keys[k];
        c.b.vote_final(clock.tick(), key, m, 0).unwrap();
    }
    assert_eq!(c.b.close(clock.tick(), m).unwrap(), Outcome::Passed);
    let after = c.b.ballot(&c.keys[4], m, 1);
    let err = c.try_append(clock.tick(), Payload::Vote(after)).unwrap_err();
    assert!(matches!(err, RecordError::MotionClosed { .. }), "{err}");
}

#[test]
fn a_closed_motion_sent_again_is_a_duplicate_and_is_found_by_any_prefix_of_its_id() {
    use council_core::council::MotionRef;
    use council_core::records::MotionBody;
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let body = MotionBody {
        council: c.b.id(),
        title: "Q".into(),
        form: resolution(),
        rule: majority(),
        closes_at: T0 + 1000,
        nonce: 1 << 40,
    };
    let first = Signed::sign(body, &c.keys[0]);
    c.b.append(clock.tick(), Payload::Motion(Box::new(first.clone()))).unwrap();
    for k in 0..2 {
        c.b.vote_final(clock.tick(), &c.keys[k], first.id(), 0).unwrap();
    }
    assert_eq!(c.b.close(clock.tick(), first.id()).unwrap(), Outcome::Passed);
    // Closed motions are kept apart from open ones (small, without their ballots), but a
    // closed motion replayed is still the same motion, never a second one.
    assert!(c.b.state().open_motion(&first.id()).is_none());
    let err = c.try_append(clock.tick(), Payload::Motion(Box::new(first.clone()))).unwrap_err();
    assert!(matches!(err, RecordError::DuplicateMotion(_)), "{err}");

    // Lookups by a prefix find what a walk over every motion finds, open and closed alike.
    let mut ids = vec![first.id()];
    for i in 0..40 {
        let m = c.b.open(clock.tick(), &c.keys[0], &format!("M{i}"), resolution(), majority(), T0 + 1000).unwrap();
        if i % 2 == 0 {
            for k in 0..2 {
                c.b.vote_final(clock.tick(), &c.keys[k], m, 1).unwrap();
            }
            c.b.close(clock.tick(), m).unwrap();
        }
        ids.push(m);
    }
    let st = c.b.state();
    assert_eq!(st.motion_count(), 41);
    for id in &ids {
        let hex = id.to_hex();
        for digits in [1, 2, 3, 64] {
            let prefix = &hex[..digits];
            let nibbles: Vec<u8> = prefix.bytes().map(|b| (b as char).to_digit(16).unwrap() as u8).collect();
            let bytes: Vec<u8> = nibbles.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect();
            let odd = (digits % 2 == 1).then(|| nibbles[digits - 1]);
            let mut found: Vec<_> = st.motions_with_prefix(&bytes, odd, 100).iter().map(MotionRef::id).collect();
            found.sort();
            let mut want: Vec<_> = ids.iter().filter(|m| m.to_hex().starts_with(prefix)).copied().collect();
            want.sort();
            assert_eq!(found, want, "prefix {prefix}");
        }
        assert_eq!(st.motion(id).map(|m| m.id()), Some(*id));
    }
    // Positions follow the log, and the open motions are listed in that order.
    assert!(ids.iter().enumerate().all(|(i, id)| st.motion(id).unwrap().position() == i as u64));
    let open: Vec<_> = st.open_motions().iter().map(|m| m.id).collect();
    let want: Vec<_> = ids.iter().copied().filter(|id| st.motion(id).unwrap().is_open()).collect();
    assert_eq!((open.len(), &open), (20, &want));
}

#[test]
fn a_replayed_or_stale_vote_is_rejected_and_the_latest_counts() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 5, &mut clock);
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 1000).unwrap();
    let first = c.b.ballot(&c.keys[1], m, 0);
    c.b.append(clock.tick(), Payload::Vote(first.clone())).unwrap();
    let err = c.try_append(clock.tick(), Payload::Vote(first.clone())).unwrap_err();
    assert!(matches!(err, RecordError::StaleCounter { previous: 1, found: 1 }), "{err}");
    c.b.vote(clock.tick(), &c.keys[1], m, 1).unwrap(); // counter 2: changes to "no"
    let st = c.b.state().open_motion(&m).unwrap();
    assert_eq!(st.counts.counts, vec![0, 1, 0]);
    assert_eq!(st.ballots_changed, 1);
    // The first ballot, replayed after the change, is stale.
    let err = c.try_append(clock.tick(), Payload::Vote(first)).unwrap_err();
    assert!(matches!(err, RecordError::StaleCounter { previous: 2, found: 1 }), "{err}");
}

#[test]
fn only_the_roster_at_that_point_may_vote() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 4, &mut clock);
    let all = c.all().into_iter().cloned_keys();
    let m = c.b.open(clock.tick(), &c.keys[0], "Before", resolution(), majority(), T0 + 100_000).unwrap();
    // A member added after the motion opened is on the roster but not in its electorate.
    let newcomer = key_from_label("newcomer");
    c.b.pass(&mut clock, &all.iter().collect::<Vec<_>>(), "add", Action::AddMember(newcomer.public())).unwrap();
    let b = c.b.ballot(&newcomer, m, 0);
    let err = c.try_append(clock.tick(), Payload::Vote(b)).unwrap_err();
    assert!(matches!(err, RecordError::NotInElectorate { .. }), "{err}");
    // A removed member may vote no more.
    let gone = c.keys[3].public();
    c.b.pass(&mut clock, &all.iter().collect::<Vec<_>>(), "remove", Action::RemoveMember(gone)).unwrap();
    let b = c.b.ballot(&c.keys[3], m, 0);
    let err = c.try_append(clock.tick(), Payload::Vote(b)).unwrap_err();
    assert!(matches!(err, RecordError::NotAMember { .. }), "{err}");
}

trait ClonedKeys {
    fn cloned_keys(self) -> Vec<council_core::SecretKey>;
}
impl<'a, I: Iterator<Item = &'a council_core::SecretKey>> ClonedKeys for I {
    fn cloned_keys(self) -> Vec<council_core::SecretKey> {
        self.map(|k| council_core::SecretKey::from_seed(&k.seed())).collect()
    }
}

#[test]
fn a_rotated_key_keeps_earlier_votes_and_replaces_the_old_key() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let keys = c.all().into_iter().cloned_keys();
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 100_000).unwrap();
    c.b.vote(clock.tick(), &c.keys[2], m, 1).unwrap();
    let new = key_from_label("new device");
    c.b.pass(
        &mut clock,
        &keys.iter().collect::<Vec<_>>()[..2],
        "rotate",
        Action::RotateKey { member: keys[2].public(), new_key: new.public() },
    )
    .unwrap();
    // The earlier ballot still counts.
    assert_eq!(c.b.state().motion(&m).unwrap().counts().counts, vec![0, 1, 0]);
    // The old key is no longer on the roster.
    let old = c.b.ballot(&keys[2], m, 0);
    assert!(matches!(c.try_append(clock.tick(), Payload::Vote(old)).unwrap_err(), RecordError::NotAMember { .. }));
    // The new key votes as the same member: it replaces the earlier ballot if its counter
    // is higher.
    let b = Signed::sign(VoteBody { council: c.b.id(), motion: m, choice: 0, counter: 5, is_final: false }, &new);
    c.b.append(clock.tick(), Payload::Vote(b)).unwrap();
    assert_eq!(c.b.state().motion(&m).unwrap().counts().counts, vec![1, 0, 0]);
}

/// Issue 15's case: a unanimity choice in a council of three. One member votes July and
/// one August, neither for good. The motion stays open (the second may switch to July and
/// the third make it unanimous), the switch is taken, and it closes once every ballot
/// is final and unanimous.
#[test]
fn a_changed_ballot_can_still_make_a_unanimous_choice() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let unanimity = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let form = MotionForm::Choice(vec!["July".into(), "August".into()]);
    let m = c.b.open(clock.tick(), &c.keys[0], "Closing fortnight", form, unanimity, T0 + 1000).unwrap();
    c.b.vote(clock.tick(), &c.keys[0], m, 0).unwrap();
    c.b.vote(clock.tick(), &c.keys[1], m, 1).unwrap();
    assert_eq!(c.b.settled(&m), None);
    let err = c.try_append(clock.tick(), Payload::Close { motion: m, outcome: Outcome::NoDecision }).unwrap_err();
    assert!(matches!(err, RecordError::ClosedTooEarly { .. }), "{err}");
    c.b.vote_final(clock.tick(), &c.keys[1], m, 0).unwrap();
    c.b.vote_final(clock.tick(), &c.keys[2], m, 0).unwrap();
    // The first member's July may still change: not settled until it is final too.
    assert_eq!(c.b.settled(&m), None);
    c.b.vote_final(clock.tick(), &c.keys[0], m, 0).unwrap();
    assert_eq!(c.b.close(clock.tick(), m).unwrap(), Outcome::Chosen(0));
}

#[test]
fn a_final_ballot_cannot_be_changed() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 1000).unwrap();
    c.b.vote_final(clock.tick(), &c.keys[1], m, 1).unwrap();
    for is_final in [false, true] {
        let again = c.b.ballot_as(&c.keys[1], m, 0, is_final);
        let err = c.try_append(clock.tick(), Payload::Vote(again)).unwrap_err();
        assert!(matches!(err, RecordError::BallotFinal { .. }), "{err}");
    }
    assert_eq!(c.b.state().motion(&m).unwrap().counts().counts, vec![0, 1, 0]);
}

#[test]
fn a_motion_closes_early_only_when_settled_and_with_the_right_outcome() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 5, &mut clock);
    let m = c.b.open(clock.tick(), &c.keys[0], "Q", resolution(), majority(), T0 + 1000).unwrap();
    c.b.vote_final(clock.tick(), &c.keys[0], m, 0).unwrap();
    c.b.vote_final(clock.tick(), &c.keys[1], m, 0).unwrap();
    let err = c.try_append(clock.tick(), Payload::Close { motion: m, outcome: Outcome::Passed }).unwrap_err();
    assert!(matches!(err, RecordError::ClosedTooEarly { .. }), "{err}");
    // A third yes that may still change settles nothing: it could turn to "no".
    c.b.vote(clock.tick(), &c.keys[2], m, 0).unwrap();
    let err = c.try_append(clock.tick(), Payload::Close { motion: m, outcome: Outcome::Passed }).unwrap_err();
    assert!(matches!(err, RecordError::ClosedTooEarly { .. }), "{err}");
    // The member makes it final.
    c.b.vote_final(clock.tick(), &c.keys[2], m, 0).unwrap();
    // 3 of 5 said yes for good: settled. A close claiming another outcome is refused.
    let err = c.try_append(clock.tick(), Payload::Close { motion: m, outcome: Outcome::Rejected }).unwrap_err();
    assert!(matches!(err, RecordError::WrongOutcome { stated: Outcome::Rejected, computed: Outcome::Passed }), "{err}");
    assert_eq!(c.b.close(clock.tick(), m).unwrap(), Outcome::Passed);
    assert!(matches!(c.b.state().motion(&m).unwrap().status(), MotionStatus::Closed { early: true, .. }));
}

#[test]
fn the_log_must_be_linked_in_order_in_time_and_signed_by_the_node_key() {
    let mut clock = Clock(T0);
    let c = Council::new("a", 3, &mut clock);
    let st = c.b.state();
    let p = || Payload::Close { motion: council_core::Hash::ZERO, outcome: Outcome::Passed };
    let e = c.b.forge_conflicting(st.seq() + 2, st.head(), T0 + 10, p());
    assert!(matches!(common::try_apply(st, e).unwrap_err(), RecordError::OutOfSequence { .. }));
    let e = c.b.forge_conflicting(st.seq() + 1, council_core::Hash::ZERO, T0 + 10, p());
    assert!(matches!(common::try_apply(st, e).unwrap_err(), RecordError::BrokenLink { .. }));
    let e = c.b.forge_conflicting(st.seq() + 1, st.head(), T0 - 10, p());
    assert!(matches!(common::try_apply(st, e).unwrap_err(), RecordError::TimeWentBack { .. }));
    let body =
        council_core::records::EntryBody { council: c.b.id(), seq: 1, prev: st.head(), time: T0 + 10, payload: p() };
    let forged: Entry = Signed::sign(body, &key_from_label("not the node"));
    assert!(matches!(common::try_apply(st, forged).unwrap_err(), RecordError::WrongNodeKey { .. }));
}

#[test]
fn after_a_node_key_change_only_the_new_key_signs() {
    let mut clock = Clock(T0);
    let mut c = Council::new("a", 3, &mut clock);
    let keys = c.all().into_iter().cloned_keys();
    let old_node = key_from_label("a/node");
    c.b.rotate_node_key(&mut clock, &keys.iter().collect::<Vec<_>>(), key_from_label("a/node2")).unwrap();
    let st = c.b.state();
    let body = council_core::records::EntryBody {
        council: c.b.id(),
        seq: st.seq() + 1,
        prev: st.head(),
        time: clock.tick(),
        payload: Payload::Close { motion: council_core::Hash::ZERO, outcome: Outcome::Passed },
    };
    let by_old: Entry = Signed::sign(body, &old_node);
    assert!(matches!(common::try_apply(st, by_old).unwrap_err(), RecordError::WrongNodeKey { .. }));
    assert_eq!(st.node_key_at(1), Some(old_node.public()));
    assert_eq!(st.node_key_at(st.seq() + 1), Some(key_from_label("a/node2").public()));
}

#[test]
fn a_council_act_needs_the_act_rule() {
    let mut clock = Clock(T0);
    let c = Council::new("a", 3, &mut clock);
    let weak = Rule { quorum: Share::new(0, 1), threshold: Threshold { num: 0, den: 1, strict: false } };
    let body = council_core::records::MotionBody {
        council: c.b.id(),
        title: "Quietly add my friend".into(),
        form: MotionForm::YesNo(Action::AddMember(key_from_label("friend").public())),
        rule: weak,
        closes_at: T0 + 1000,
        nonce: 1,
    };
    let err = c.try_append(clock.tick(), Payload::Motion(Box::new(Signed::sign(body, &c.keys[0])))).unwrap_err();
    assert!(matches!(err, RecordError::InvalidMotion("a council act must use the council's act rule")), "{err}");
}

#[test]
fn a_petition_recalls_the_moment_the_share_is_reached() {
    let mut clock = Clock(T0);
    let rules = CouncilRules { petition: Threshold::SIMPLE_MAJORITY, ..CouncilRules::default() };
    let mut c = Council::with_rules("a", 5, rules, &mut clock);
    let keys = c.all().into_iter().cloned_keys();
    let refs: Vec<_> = keys.iter().collect();
    let fed = council_core::Hash::of(b"some federation");
    let mandate = council_core::records::Mandate {
        delegate: keys[4].public(),
        federation: fed,
        scope: council_core::records::Scope::All,
        instructions: vec![],
        expires_at: T0 + 1_000_000,
    };
    let (mid, effect) = c.b.pass(&mut clock, &refs, "mandate", Action::Mandate(mandate)).unwrap();
    assert_eq!(effect, Effect::Applied);
    c.b.petition(clock.tick(), &keys[0], mid).unwrap();
    c.b.petition(clock.tick(), &keys[1], mid).unwrap();
    assert!(c.b.state().mandate(&mid).unwrap().recalled.is_none(), "2 of 5 is not a majority");
    let twice = Signed::sign(council_core::records::PetitionBody { council: c.b.id(), mandate: mid }, &keys[1]);
    assert!(matches!(
        c.try_append(clock.tick(), Payload::Petition(twice)).unwrap_err(),
        RecordError::AlreadySigned { .. }
    ));
    let t = clock.tick();
    c.b.petition(t, &keys[2], mid).unwrap();
    let st = c.b.state().mandate(&mid).unwrap();
    assert_eq!(st.recalled.map(|(at, by, _)| (at, by)), Some((t, RecallKind::Petition)));
    // The delegate can no longer act, and the petition is closed.
    let late = Signed::sign(council_core::records::PetitionBody { council: c.b.id(), mandate: mid }, &keys[3]);
    assert!(matches!(
        c.try_append(clock.tick(), Payload::Petition(late)).unwrap_err(),
        RecordError::MandateNotInForce { .. }
    ));
    let vote = council_core::records::DelegateVoteBody {
        federation: fed,
        motion: council_core::Hash::ZERO,
        council: c.b.id(),
        mandate: mid,
        choice: 0,
        counter: 1,
        split: None,
    };
    let err = c.try_append(clock.tick(), Payload::DelegateVote(Signed::sign(vote, &keys[4]))).unwrap_err();
    assert!(matches!(err, RecordError::MandateNotInForce { .. }), "{err}");
}

#[test]
fn an_invalid_genesis_is_refused() {
    use council_core::records::{Genesis, GenesisBody};
    use council_core::verify::verify_genesis;
    let founders: Vec<_> = (0..3).map(|i| key_from_label(&format!("g{i}"))).collect();
    let body = GenesisBody {
        name: "G".into(),
        founders: founders.iter().map(|k| k.public()).collect(),
        rules: CouncilRules::default(),
        node_key: key_from_label("node").public(),
        created_at: T0,
    };
    let mut g = Genesis::draft(body);
    g.signatures = founders[..2].iter().map(|k| k.sign(&g.body_bytes)).collect();
    assert!(matches!(verify_genesis(g.clone()), Err(SignatureError::GenesisSignatureCount { expected: 3, found: 2 })));
    g.signatures.push(founders[0].sign(&g.body_bytes));
    assert!(matches!(verify_genesis(g), Err(SignatureError::GenesisSignature { index: 2, .. })));
}

#[test]
fn members_name_themselves_and_only_themselves() {
    use council_core::records::{Action, NameBody, Payload, Signed};
    let mut clock = council_core::sample::Clock(T0);
    let mut c = Council::new("names", 3, &mut clock);
    let name = |c: &Council, who: &council_core::SecretKey, n: &str| {
        Payload::Name(Signed::sign(NameBody { council: c.b.id(), name: n.into() }, who))
    };
    let t = clock.tick();
    let st = c.try_append(t, name(&c, &c.keys[0], "Maria")).unwrap();
    let m0 = c.keys[0].public();
    assert_eq!(st.name_of(&m0), Some("Maria"));
    // Blank names, outsiders, the node key, and another council's record are refused.
    assert!(c.try_append(t, name(&c, &c.keys[0], " \u{a0}")).is_err());
    let outsider = council_core::sample::key_from_label("names/outsider");
    assert!(c.try_append(t, name(&c, &outsider, "Mallory")).is_err());
    assert!(c.try_append(t, name(&c, &council_core::sample::key_from_label("names/node"), "Node")).is_err());
    let other = Council::new("other-names", 1, &mut clock);
    assert!(c.try_append(t, name(&other, &c.keys[0], "Maria")).is_err());
    // The latest name counts, and it belongs to the member, not the key: it survives a
    // rotation, and the new key renames the same member.
    c.b.append(t, name(&c, &c.keys[0], "Maria")).unwrap();
    c.b.append(t, name(&c, &c.keys[0], "Maria L.")).unwrap();
    let new_key = council_core::sample::key_from_label("names/m0/new");
    let all: Vec<council_core::SecretKey> =
        c.keys.iter().map(|k| council_core::SecretKey::from_seed(&k.seed())).collect();
    let refs: Vec<&council_core::SecretKey> = all.iter().collect();
    c.b.pass(&mut clock, &refs[1..], "rotate", Action::RotateKey { member: m0, new_key: new_key.public() }).unwrap();
    assert_eq!(c.b.state().name_of(&m0), Some("Maria L."));
    let t = clock.tick();
    c.b.append(t, name(&c, &new_key, "Maria López")).unwrap();
    assert_eq!(c.b.state().name_of(&m0), Some("Maria López"));
    // And the snapshot keeps names.
    let snap = c.b.state().snapshot();
    let g = council_core::verify::verify_genesis(c.b.genesis().clone()).unwrap();
    let back = council_core::council::CouncilState::restore(g, &snap).unwrap();
    assert_eq!(back.name_of(&m0), Some("Maria López"));
}
