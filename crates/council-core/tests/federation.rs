//! Federations: founding, invites, admission, delegates under mandate, recall striking
//! votes, leaving, and equivocation, judged from exported logs by the verifier.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{errors, export, verify, voids, Council, T0};
use council_core::export::{ExportItem, ExportWriter};
use council_core::federation::BallotStatus;
use council_core::records::{
    Action, Charter, EquivocationProof, FederationId, FederationMotion, Instruction, InviteBody, Mandate, MotionId,
    Outcome, Payload, Scope, Signed,
};
use council_core::sample::{invite_proof, key_from_label, Clock};
use council_core::verify::verify_equivocation;
use council_core::SecretKey;

struct Fed {
    clock: Clock,
    c: Vec<Council>,
    fid: FederationId,
    charter: Charter,
}

fn keys(c: &Council) -> Vec<SecretKey> {
    c.keys.iter().map(|k| SecretKey::from_seed(&k.seed())).collect()
}

fn pass(f: &mut Fed, i: usize, action: Action) -> MotionId {
    let ks = keys(&f.c[i]);
    let refs: Vec<&SecretKey> = ks.iter().collect();
    f.c[i].b.pass(&mut f.clock, &refs, "act", action).unwrap().0
}

/// Two founders (0 and 1); council 2 exists but has not joined.
fn founded() -> Fed {
    let mut clock = Clock(T0);
    let c: Vec<Council> = (0..3).map(|i| Council::new(&format!("c{i}"), 3, &mut clock)).collect();
    let charter = common::charter(vec![c[0].b.id(), c[1].b.id()]);
    let fid = charter.id();
    let mut f = Fed { clock, c, fid, charter: charter.clone() };
    pass(&mut f, 0, Action::SignCharter { charter: charter.clone(), invite: None });
    pass(&mut f, 1, Action::SignCharter { charter, invite: None });
    f
}

fn join_third(f: &mut Fed, invite: &SecretKey) {
    let t = f.clock.tick();
    {
        let c0 = &mut f.c[0];
        c0.b.invite(t, &c0.keys[0], f.fid, invite, 1, t + 1000).unwrap();
    }
    let proof = invite_proof(invite, f.c[0].b.id(), f.fid, f.c[2].b.id());
    pass(f, 2, Action::SignCharter { charter: f.charter.clone(), invite: Some(proof) });
    let (fid, joiner) = (f.fid, f.c[2].b.id());
    pass(f, 0, Action::Admit { federation: fid, council: joiner });
    pass(f, 1, Action::Admit { federation: fid, council: joiner });
}

fn mandate(f: &mut Fed, i: usize, delegate: usize, scope: Scope, instructions: Vec<(String, Instruction)>) -> MotionId {
    let m = Mandate {
        delegate: f.c[i].keys[delegate].public(),
        federation: f.fid,
        scope,
        instructions,
        expires_at: T0 + 1_000_000,
    };
    pass(f, i, Action::Mandate(m))
}

fn open_motion(f: &mut Fed, matter: &str) -> MotionId {
    let closes_at = f.clock.0 + 1000;
    let m = FederationMotion {
        federation: f.fid,
        matter: matter.into(),
        title: "Strike?".into(),
        options: vec!["yes".into(), "no".into()],
        closes_at,
        act: None,
    };
    pass(f, 1, Action::OpenFederationMotion(m))
}

fn export_all(f: &mut Fed) -> Vec<u8> {
    let [a, b, c] = &mut f.c[..] else { unreachable!() };
    export(&mut [&mut a.b, &mut b.b, &mut c.b])
}

#[test]
fn founding_invite_admission_and_a_federation_motion() {
    let mut f = founded();
    join_third(&mut f, &key_from_label("inv"));
    let m: Vec<MotionId> = (0..3).map(|i| mandate(&mut f, i, 0, Scope::All, vec![])).collect();
    let fm = open_motion(&mut f, "wages");
    for (i, choice) in [(0, 0), (1, 1), (2, 0)] {
        let t = f.clock.tick();
        let d = SecretKey::from_seed(&f.c[i].keys[0].seed());
        f.c[i].b.delegate_vote(t, &d, f.fid, fm, m[i], choice).unwrap();
    }
    f.clock.advance_to(T0 + 1_000_000 - 10);
    let (fid, fmid) = (f.fid, fm);
    pass(&mut f, 2, Action::Ratify { federation: fid, motion: fmid, accept: true });
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let fed = &r.federations[0];
    assert_eq!(fed.members.iter().filter(|m| m.left_at.is_none()).count(), 3);
    assert!(fed.pending.is_empty() && fed.admissions.is_empty(), "admitted: nobody waits");
    let mot = &fed.motions[0];
    assert_eq!(mot.outcome, Some(Outcome::Chosen(0)));
    assert_eq!(mot.counts.as_deref(), Some(&[2, 1, 0][..]));
    assert_eq!(mot.ratifications.len(), 1);
}

/// Both founders give their first member a mandate; a motion opens and each delegate
/// votes (`choices`); then council 0 recalls its delegate. Returns the motion, council 0's
/// mandate and its delegate's key.
fn votes_then_recall(f: &mut Fed, choices: [u32; 2]) -> (MotionId, MotionId, SecretKey) {
    let m0 = mandate(f, 0, 0, Scope::All, vec![]);
    let m1 = mandate(f, 1, 0, Scope::All, vec![]);
    let fm = open_motion(f, "wages");
    let d0 = SecretKey::from_seed(&f.c[0].keys[0].seed());
    let d1 = SecretKey::from_seed(&f.c[1].keys[0].seed());
    let t = f.clock.tick();
    f.c[0].b.delegate_vote(t, &d0, f.fid, fm, m0, choices[0]).unwrap();
    let t = f.clock.tick();
    f.c[1].b.delegate_vote(t, &d1, f.fid, fm, m1, choices[1]).unwrap();
    pass(f, 0, Action::Recall(m0));
    (fm, m0, d0)
}

#[test]
fn a_recall_strikes_the_delegates_vote_on_open_motions() {
    let mut f = founded();
    let (fm, m0, d0) = votes_then_recall(&mut f, [0, 1]);
    // The recalled delegate cannot vote again.
    let t = f.clock.tick();
    assert!(f.c[0].b.delegate_vote(t, &d0, f.fid, fm, m0, 0).is_err());
    f.clock.advance_to(T0 + 100_000);
    {
        let c0 = &mut f.c[0];
        c0.b.invite(f.clock.0, &c0.keys[0], f.fid, &key_from_label("late"), 1, f.clock.0 + 10).unwrap();
    } // moves time past the close
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let mot = &r.federations[0].motions[0];
    let statuses: Vec<_> = mot.votes.iter().map(|v| v.status).collect();
    assert_eq!(statuses, vec![BallotStatus::Struck, BallotStatus::Counted]);
    assert_eq!(mot.outcome, Some(Outcome::Chosen(1)));
}

#[test]
fn a_delegate_vote_outside_the_scope_or_against_instructions_is_void() {
    for (scope, instructions, choice, expect) in [
        (Scope::Matters(vec!["safety".into()]), vec![], 0, "outside the mandate's scope"),
        (Scope::All, vec![("wages".to_string(), Instruction::Vote(1))], 0, "instructs choice 1"),
    ] {
        let mut f = founded();
        let m0 = mandate(&mut f, 0, 0, scope, instructions);
        let fm = open_motion(&mut f, "wages");
        let d0 = SecretKey::from_seed(&f.c[0].keys[0].seed());
        let t = f.clock.tick();
        // The council's own log accepts it (the matter lives in another council's log);
        // the federation check rejects it.
        f.c[0].b.delegate_vote(t, &d0, f.fid, fm, m0, choice).unwrap();
        let r = verify(&export_all(&mut f));
        // The log itself is valid; the vote has no effect, and the report says why.
        assert!(r.valid, "{}", errors(&r));
        assert!(voids(&r).contains(expect), "{}", voids(&r));
        assert!(r.federations[0].motions[0].votes.is_empty(), "a void vote is never counted");
    }
}

#[test]
fn an_invite_is_limited_in_uses_and_time() {
    // Used twice with max_uses 1.
    let mut f = founded();
    let inv = key_from_label("inv");
    join_third(&mut f, &inv);
    let mut clock = f.clock.clone();
    let mut fourth = Council::new("c3", 3, &mut clock);
    f.clock = clock;
    let proof = invite_proof(&inv, f.c[0].b.id(), f.fid, fourth.b.id());
    let ks = keys(&fourth);
    let refs: Vec<&SecretKey> = ks.iter().collect();
    fourth
        .b
        .pass(&mut f.clock, &refs, "join", Action::SignCharter { charter: f.charter.clone(), invite: Some(proof) })
        .unwrap();
    let [a, b, c] = &mut f.c[..] else { unreachable!() };
    let r = verify(&export(&mut [&mut a.b, &mut b.b, &mut c.b, &mut fourth.b]));
    assert!(voids(&r).contains("already used 1 of 1 times"), "{}", voids(&r));
    assert!(!r.federations[0].members.iter().any(|m| m.council == fourth.b.id()));

    // Used after its expiry.
    let mut f = founded();
    let inv = key_from_label("inv2");
    let t = f.clock.tick();
    {
        let c0 = &mut f.c[0];
        c0.b.invite(t, &c0.keys[0], f.fid, &inv, 5, t + 10).unwrap();
    }
    f.clock.advance_to(t + 100);
    let proof = invite_proof(&inv, f.c[0].b.id(), f.fid, f.c[2].b.id());
    let charter = f.charter.clone();
    pass(&mut f, 2, Action::SignCharter { charter, invite: Some(proof) });
    let joiner = f.c[2].b.id();
    let r = verify(&export_all(&mut f));
    assert!(voids(&r).contains("the invite expired"), "{}", voids(&r));
    assert!(!r.federations[0].members.iter().any(|m| m.council == joiner));
}

#[test]
fn a_council_that_leaves_no_longer_counts() {
    let mut f = founded();
    join_third(&mut f, &key_from_label("inv"));
    let m: Vec<MotionId> = (0..3).map(|i| mandate(&mut f, i, 0, Scope::All, vec![])).collect();
    let fm = open_motion(&mut f, "wages");
    for (i, choice) in [(0, 0), (1, 1), (2, 0)] {
        let t = f.clock.tick();
        let d = SecretKey::from_seed(&f.c[i].keys[0].seed());
        f.c[i].b.delegate_vote(t, &d, f.fid, fm, m[i], choice).unwrap();
    }
    let fid = f.fid;
    pass(&mut f, 2, Action::Leave(fid));
    f.clock.advance_to(T0 + 100_000);
    {
        let c0 = &mut f.c[0];
        c0.b.invite(f.clock.0, &c0.keys[0], f.fid, &key_from_label("late"), 1, f.clock.0 + 10).unwrap();
    }
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let mot = &r.federations[0].motions[0];
    assert_eq!(mot.electorate, Some(2));
    assert_eq!(mot.votes[2].status, BallotStatus::CouncilLeft);
    // 1 : 1 among the two remaining councils: no option is alone at the top.
    assert_eq!(mot.outcome, Some(Outcome::NoDecision));
}

#[test]
fn an_equivocation_is_proved_and_marks_the_council_forked() {
    let mut f = founded();
    let seq = f.c[0].b.state().seq();
    // A second, different entry at the place of the last one, signed by the node key.
    let entries = f.c[0].b.take_entries();
    let last = entries.last().unwrap().clone();
    let other = f.c[0].b.forge_conflicting(
        seq,
        last.body.prev,
        last.body.time,
        Payload::Invite(Signed::sign(
            InviteBody {
                council: f.c[0].b.id(),
                federation: f.fid,
                invite_key: key_from_label("x").public(),
                max_uses: 1,
                expires_at: last.body.time + 5,
            },
            &f.c[0].keys[0],
        )),
    );
    let proof = EquivocationProof { a: last.clone(), b: other.clone() };
    assert!(verify_equivocation(proof.clone()).is_ok());
    assert!(verify_equivocation(EquivocationProof { a: last.clone(), b: last.clone() }).is_err());
    // Put the entries back and append the proof to the export.
    let mut w = ExportWriter::new(Vec::new(), f.c[0].b.id()).unwrap();
    w.genesis(f.c[0].b.genesis()).unwrap();
    for e in entries {
        w.entry(e).unwrap();
    }
    w.item(&ExportItem::Equivocation(proof)).unwrap();
    let bytes = w.finish().unwrap();
    let r = verify(&bytes);
    assert!(r.valid, "{}", errors(&r));
    assert!(r.councils[0].forked);
    assert_eq!(r.equivocations.len(), 1);
}

#[test]
fn only_councils_that_were_members_at_the_close_ratify() {
    let mut f = founded();
    let fm = open_motion(&mut f, "wages");
    f.clock.advance_to(T0 + 100_000);
    let fid = f.fid;
    // Council 2 never joined.
    pass(&mut f, 2, Action::Ratify { federation: fid, motion: fm, accept: true });
    pass(&mut f, 0, Action::Ratify { federation: fid, motion: fm, accept: true });
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    assert!(voids(&r).contains("only a council that was a member"), "{}", voids(&r));
    assert_eq!(r.void_federation_events.len(), 1, "{}", voids(&r));
    assert_eq!(r.federations[0].motions[0].ratifications.len(), 1);
    // The report names the item that holds the void ratification.
    assert!(r.void_federation_events[0].item > 0);
}

#[test]
fn a_federation_motion_passed_after_its_closing_time_is_void() {
    let mut f = founded();
    let ks = keys(&f.c[1]);
    let closes_at = f.clock.0 + 5;
    let m = FederationMotion {
        federation: f.fid,
        matter: "m".into(),
        title: "Late".into(),
        options: vec!["a".into(), "b".into()],
        closes_at,
        act: None,
    };
    let rule = f.c[1].b.state().rules().act_rule;
    let t = f.clock.tick();
    let id = f.c[1]
        .b
        .open(
            t,
            &ks[0],
            "late",
            council_core::records::MotionForm::YesNo(Action::OpenFederationMotion(m)),
            rule,
            t + 1000,
        )
        .unwrap();
    f.clock.advance_to(closes_at + 10);
    for k in &ks[..2] {
        let t = f.clock.tick();
        f.c[1].b.vote_final(t, k, id, 0).unwrap();
    }
    let t = f.clock.tick();
    f.c[1].b.close(t, id).unwrap();
    let st = f.c[1].b.state().motion(&id).unwrap();
    assert!(matches!(
        st.status(),
        council_core::council::MotionStatus::Closed { effect: council_core::council::Effect::Void(_), .. }
    ));
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    assert!(r.federations[0].motions.is_empty());
}

#[test]
fn an_open_motion_shows_a_struck_vote_at_once_and_closes_on_the_clock() {
    let mut f = founded();
    votes_then_recall(&mut f, [0, 0]);
    let states: std::collections::BTreeMap<_, _> = f.c.iter().map(|c| (c.b.id(), c.b.state().clone())).collect();
    let motion = |reports: &[council_core::federation::FederationReport]| reports[0].motions[0].clone();

    // Still open: the recalled delegate's vote is struck already (no later record can
    // save it), the other is pending; no outcome.
    let (open, _) = council_core::federation::evaluate(&states);
    let m = motion(&open);
    let closes_at = m.closes_at;
    assert!(m.outcome.is_none());
    let statuses: Vec<_> = m.votes.iter().map(|v| v.status).collect();
    assert_eq!(statuses, vec![BallotStatus::Struck, BallotStatus::Pending]);

    // Nothing logged since, but the clock is past the closing time: closed, counted.
    let (at_close, _) = council_core::federation::evaluate_at(&states, closes_at);
    assert!(motion(&at_close).outcome.is_none(), "closed at its closing second, not after it");
    let (after, _) = council_core::federation::evaluate_at(&states, closes_at + 1);
    let m = motion(&after);
    assert_eq!(m.outcome, Some(Outcome::Chosen(0)));
    let statuses: Vec<_> = m.votes.iter().map(|v| v.status).collect();
    assert_eq!(statuses, vec![BallotStatus::Struck, BallotStatus::Counted]);
    // The same as when a later entry carries the federation's clock past it.
    f.clock.advance_to(closes_at + 5);
    {
        let c0 = &mut f.c[0];
        c0.b.invite(f.clock.0, &c0.keys[0], f.fid, &key_from_label("later"), 1, f.clock.0 + 10).unwrap();
    }
    let r = verify(&export_all(&mut f));
    let by_record = &r.federations[0].motions[0];
    assert_eq!((by_record.outcome, by_record.counts.clone()), (m.outcome, m.counts.clone()));
}

/// A council waiting for admission shows the invite it used and whose countersignature
/// it has, and how many it needs; the invite shows who used it.
#[test]
fn who_used_an_invite_and_who_countersigned_a_waiting_council() {
    let mut f = founded();
    let invite = key_from_label("inv");
    let t = f.clock.tick();
    {
        let c0 = &mut f.c[0];
        c0.b.invite(t, &c0.keys[0], f.fid, &invite, 1, t + 1000).unwrap();
    }
    let proof = invite_proof(&invite, f.c[0].b.id(), f.fid, f.c[2].b.id());
    let charter = f.charter.clone();
    pass(&mut f, 2, Action::SignCharter { charter, invite: Some(proof) });
    let (fid, joiner, first) = (f.fid, f.c[2].b.id(), f.c[0].b.id());
    pass(&mut f, 0, Action::Admit { federation: fid, council: joiner });
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let fed = &r.federations[0];
    assert_eq!(fed.pending, vec![joiner]);
    let a = &fed.admissions[0];
    assert_eq!((a.council, a.invite_key), (joiner, invite.public()));
    assert_eq!(a.countersigned_by, vec![first]);
    assert_eq!(a.needed, 2, "a simple majority of two member councils");
    assert_eq!(fed.invites[0].used_by, vec![joiner]);
}

/// Council 2 runs its own motion on the matter (2 yes, 1 no, final) and mandates its
/// delegate to carry that split. The split counts as 2/3 yes, 1/3 no of one vote; a split
/// that does not match the council's tally is void everywhere, with the reason.
#[test]
fn a_split_mandate_carries_the_councils_own_tally() {
    use council_core::records::{split_of, MotionForm, Rule, Share, SplitSource, Threshold};
    let mut f = founded();
    join_third(&mut f, &key_from_label("inv"));
    // Council 2 asks its members first.
    let ks = keys(&f.c[2]);
    let t = f.clock.tick();
    let simple = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let own = f.c[2]
        .b
        .open(t, &ks[0], "Strike? (our members)", MotionForm::YesNo(Action::Resolution), simple, t + 100)
        .unwrap();
    for (k, choice) in ks.iter().zip([0, 0, 1]) {
        f.c[2].b.vote_final(f.clock.tick(), k, own, choice).unwrap();
    }
    f.c[2].b.close(f.clock.tick(), own).unwrap();
    let parts = split_of(&[2, 1]).unwrap();
    assert_eq!(parts, vec![6667, 3333], "largest remainder: 6666.67 → 6667, 3333.33 → 3333");

    let split = vec![("wages".to_string(), Instruction::Split(SplitSource::OfMotion(own)))];
    let m0 = mandate(&mut f, 0, 0, Scope::All, vec![]);
    let m1 = mandate(&mut f, 1, 0, Scope::All, vec![]);
    let m2 = mandate(&mut f, 2, 0, Scope::All, split);
    let fm = open_motion(&mut f, "wages");
    let d = |f: &Fed, i: usize| SecretKey::from_seed(&f.c[i].keys[0].seed());
    let (fid, t) = (f.fid, f.clock.tick());
    let (d0, d1, d2) = (d(&f, 0), d(&f, 1), d(&f, 2));
    f.c[0].b.delegate_vote(t, &d0, fid, fm, m0, 1).unwrap();
    f.c[1].b.delegate_vote(t, &d1, fid, fm, m1, 0).unwrap();
    // First a split that is not the council's tally (void), then a single choice (void:
    // the mandate instructs a split), then the true split (counted).
    f.c[2].b.delegate_split(f.clock.tick(), &d2, fid, fm, m2, 2, vec![5000, 5000]).unwrap();
    f.c[2].b.delegate_vote(f.clock.tick(), &d2, fid, fm, m2, 0).unwrap();
    f.c[2].b.delegate_split(f.clock.tick(), &d2, fid, fm, m2, 2, parts.clone()).unwrap();
    f.clock.advance_to(T0 + 1_000_000 - 10);
    // Something logged after the motion's close, so that the export shows it closed.
    pass(&mut f, 0, Action::Resolution);
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let v = voids(&r);
    assert!(v.contains("does not match the council's tally of motion"), "{v}");
    assert!(v.contains("instructs the council's split, the delegate cast a single choice"), "{v}");
    let mot = &r.federations[0].motions[0];
    // yes: council 1 whole + 2/3 of council 2; no: council 0 whole + 1/3 of council 2.
    assert_eq!(mot.weighted.as_deref(), Some(&[10_000 + 6667, 10_000 + 3333, 0][..]));
    assert_eq!(mot.counts.as_deref(), Some(&[1, 1, 0][..]), "single-choice ballots only");
    assert_eq!(mot.outcome, Some(Outcome::Chosen(0)));
    let counted: Vec<_> = mot.votes.iter().filter(|v| v.status == BallotStatus::Counted).collect();
    assert_eq!(counted.len(), 3);
    assert_eq!(counted.iter().find(|v| v.council == f.c[2].b.id()).unwrap().split, Some(parts));
}

/// A stated split (60/40), and recall striking a split vote like any other.
#[test]
fn a_stated_split_counts_and_a_recall_strikes_it() {
    use council_core::records::SplitSource;
    let mut f = founded();
    let stated = vec![("wages".to_string(), Instruction::Split(SplitSource::Stated(vec![6000, 4000])))];
    let m0 = mandate(&mut f, 0, 0, Scope::All, stated);
    let m1 = mandate(&mut f, 1, 0, Scope::All, vec![]);
    let fm = open_motion(&mut f, "wages");
    let fid = f.fid;
    let d0 = SecretKey::from_seed(&f.c[0].keys[0].seed());
    let d1 = SecretKey::from_seed(&f.c[1].keys[0].seed());
    f.c[0].b.delegate_split(f.clock.tick(), &d0, fid, fm, m0, 2, vec![6000, 4000]).unwrap();
    f.c[1].b.delegate_vote(f.clock.tick(), &d1, fid, fm, m1, 1).unwrap();
    // 6000 yes against 14000 no: rejected... unless council 1's delegate is recalled.
    pass(&mut f, 1, Action::Recall(m1));
    f.clock.advance_to(T0 + 1_000_000 - 10);
    // Something logged after the motion's close, so that the export shows it closed.
    pass(&mut f, 0, Action::Resolution);
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let mot = &r.federations[0].motions[0];
    assert_eq!(mot.weighted.as_deref(), Some(&[6000, 4000, 0][..]));
    assert_eq!(mot.outcome, Some(Outcome::Chosen(0)), "the struck vote is not counted");
    // A stated split whose parts do not add up is refused when the mandate is moved.
    let bad = Mandate {
        delegate: f.c[0].keys[0].public(),
        federation: fid,
        scope: Scope::All,
        instructions: vec![("wages".into(), Instruction::Split(SplitSource::Stated(vec![60, 40])))],
        expires_at: T0 + 2_000_000,
    };
    let ks = keys(&f.c[0]);
    let refs: Vec<&SecretKey> = ks.iter().collect();
    let err = f.c[0].b.pass(&mut f.clock, &refs, "bad split", Action::Mandate(bad)).unwrap_err();
    assert!(matches!(err, council_core::council::RecordError::InvalidMotion(m) if m.contains("10000")), "{err}");
}

/// A charter that weighs councils by members: a council of 5 outweighs two councils of 2.
#[test]
fn a_charter_weighs_council_votes_by_members() {
    use council_core::records::Weighting;
    let mut clock = Clock(T0);
    let c: Vec<Council> =
        [5, 2, 2].iter().enumerate().map(|(i, n)| Council::new(&format!("w{i}"), *n, &mut clock)).collect();
    let mut charter = common::charter(c.iter().map(|c| c.b.id()).collect());
    charter.rules.weighting = Weighting::ByMembers;
    let fid = charter.id();
    let mut f = Fed { clock, c, fid, charter: charter.clone() };
    for i in 0..3 {
        pass(&mut f, i, Action::SignCharter { charter: charter.clone(), invite: None });
    }
    let m: Vec<MotionId> = (0..3).map(|i| mandate(&mut f, i, 0, Scope::All, vec![])).collect();
    let fm = open_motion(&mut f, "wages");
    for (i, choice) in [(0, 0), (1, 1), (2, 1)] {
        let t = f.clock.tick();
        let d = SecretKey::from_seed(&f.c[i].keys[0].seed());
        f.c[i].b.delegate_vote(t, &d, fid, fm, m[i], choice).unwrap();
    }
    f.clock.advance_to(T0 + 1_000_000 - 10);
    // Something logged after the motion's close, so that the export shows it closed.
    pass(&mut f, 0, Action::Resolution);
    let r = verify(&export_all(&mut f));
    assert!(r.valid, "{}", errors(&r));
    let mot = &r.federations[0].motions[0];
    assert_eq!(mot.weighted.as_deref(), Some(&[50_000, 40_000, 0][..]));
    assert_eq!(mot.outcome, Some(Outcome::Chosen(0)), "5 members outweigh 2 + 2");
    assert_eq!(mot.counts.as_deref(), Some(&[1, 2, 0][..]), "one ballot per council");
}
