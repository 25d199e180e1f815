//! Federations of federations (PROTOCOL.md §8.1): two federations found a higher one by
//! passed acts that their councils ratify, give delegates mandates there, open motions
//! there and vote through them; and the attacks on it: a member who is not the
//! federation's delegate, a council of another federation, an outsider, a recalled
//! delegate, a federation that left, and loops.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{charter, errors, export, verify, voids, Council, T0};
use council_core::council::RecordError;
use council_core::export::Report;
use council_core::federation::{ActStatus, BallotStatus, FederationReport};
use council_core::records::{
    Action, Charter, DelegateVoteBody, FederationAct, FederationId, FederationMotion, Mandate, MotionId, Outcome,
    Payload, Scope, Signed,
};
use council_core::sample::{invite_proof, key_from_label, Clock};
use council_core::SecretKey;

/// Councils a0 and a1 form F, b0 and b1 form G; x belongs to neither.
const A0: usize = 0;
const A1: usize = 1;
const B0: usize = 2;
const B1: usize = 3;
const X: usize = 4;

struct World {
    clock: Clock,
    c: Vec<Council>,
    f: FederationId,
    g: FederationId,
    f_charter: Charter,
    /// Each council's mandate in its own federation (for a0 and a1 in F, b0 and b1 in G).
    own_mandate: Vec<Option<MotionId>>,
}

fn key(w: &World, i: usize, m: usize) -> SecretKey {
    SecretKey::from_seed(&w.c[i].keys[m].seed())
}

fn pass(w: &mut World, i: usize, action: Action) -> MotionId {
    let ks: Vec<SecretKey> = (0..w.c[i].keys.len()).map(|m| key(w, i, m)).collect();
    let refs: Vec<&SecretKey> = ks.iter().collect();
    w.c[i].b.pass(&mut w.clock, &refs, "act", action).unwrap().0
}

fn councils_of(w: &World, fed: FederationId) -> [usize; 2] {
    if fed == w.f {
        [A0, A1]
    } else {
        [B0, B1]
    }
}

fn named(name: &str, founders: Vec<council_core::records::CouncilId>) -> Charter {
    Charter { name: name.into(), ..charter(founders) }
}

/// F and G are founded, and each of their councils has a delegate (member 0) in them.
fn world() -> World {
    let mut clock = Clock(T0);
    let c: Vec<Council> = ["a0", "a1", "b0", "b1", "x"].iter().map(|n| Council::new(n, 3, &mut clock)).collect();
    let f_charter = named("F", vec![c[A0].b.id(), c[A1].b.id()]);
    let g_charter = named("G", vec![c[B0].b.id(), c[B1].b.id()]);
    let (f, g) = (f_charter.id(), g_charter.id());
    let mut w = World { clock, c, f, g, f_charter: f_charter.clone(), own_mandate: vec![None; 5] };
    for (i, ch) in [(A0, &f_charter), (A1, &f_charter), (B0, &g_charter), (B1, &g_charter)] {
        pass(&mut w, i, Action::SignCharter { charter: ch.clone(), invite: None });
    }
    for (i, fed) in [(A0, f), (A1, f), (B0, g), (B1, g)] {
        let delegate = w.c[i].keys[0].public();
        let m =
            Mandate { delegate, federation: fed, scope: Scope::All, instructions: vec![], expires_at: T0 + 10_000_000 };
        w.own_mandate[i] = Some(pass(&mut w, i, Action::Mandate(m)));
    }
    w
}

/// A yes/no motion of `fed` carrying `act`, open for 100 s.
fn act_motion(w: &World, fed: FederationId, act: FederationAct) -> FederationMotion {
    FederationMotion {
        federation: fed,
        matter: "federation".into(),
        title: format!("{} as one body", act.kind()),
        options: vec!["yes".into(), "no".into()],
        closes_at: w.clock.0 + 100,
        act: Some(Box::new(act)),
    }
}

/// Opens `fm` in its federation (F or G) by an act of its first council, has both
/// councils' delegates vote `choice`, and moves both councils' clocks past its close.
fn decide(w: &mut World, fm: FederationMotion, choice: u32) -> MotionId {
    let fed = fm.federation;
    let closes_at = fm.closes_at;
    let [first, second] = councils_of(w, fed);
    let id = pass(w, first, Action::OpenFederationMotion(fm));
    for i in [first, second] {
        let t = w.clock.tick();
        let d = key(w, i, 0);
        let mandate = w.own_mandate[i].unwrap();
        w.c[i].b.delegate_vote(t, &d, fed, id, mandate, choice).unwrap();
    }
    w.clock.advance_to(closes_at + 1);
    id
}

/// `fed` decides a motion carrying `act`.
fn decide_act(w: &mut World, fed: FederationId, act: FederationAct, choice: u32) -> MotionId {
    let fm = act_motion(w, fed, act);
    decide(w, fm, choice)
}

fn ratify(w: &mut World, i: usize, fed: FederationId, motion: MotionId, accept: bool) {
    pass(w, i, Action::Ratify { federation: fed, motion, accept });
}

/// F and G found H: each passes a sign-charter act and both its councils ratify it.
fn found_h(w: &mut World) -> (FederationId, Charter) {
    let h = named("H", vec![w.f, w.g]);
    for fed in [w.f, w.g] {
        let m = decide_act(w, fed, FederationAct::SignCharter { charter: h.clone(), invite: None }, 0);
        for i in councils_of(w, fed) {
            ratify(w, i, fed, m, true);
        }
    }
    (h.id(), h)
}

/// `fed` gives a member (member 1) of its council `council` a mandate in `higher`.
fn give_mandate(w: &mut World, fed: FederationId, council: usize, higher: FederationId) -> MotionId {
    let mandate = Mandate {
        delegate: w.c[council].keys[1].public(),
        federation: higher,
        scope: Scope::All,
        instructions: vec![],
        expires_at: T0 + 10_000_000,
    };
    let act = FederationAct::Mandate { council: w.c[council].b.id(), mandate };
    decide_act(w, fed, act, 0)
}

/// F opens a motion in `higher` (closing 1000 s after F decides): returns its id.
fn open_above(w: &mut World, higher: FederationId, act: Option<FederationAct>) -> (MotionId, u64) {
    let inner = FederationMotion {
        federation: higher,
        matter: "pay".into(),
        title: "A common pay claim?".into(),
        options: vec!["yes".into(), "no".into()],
        closes_at: w.clock.0 + 1000,
        act: act.map(Box::new),
    };
    let closes_at = inner.closes_at;
    let f = w.f;
    let carrier = decide_act(w, f, FederationAct::OpenMotion(inner), 0);
    (FederationMotion::opened_by_act(carrier, higher), closes_at)
}

/// H founded by F and G, each with a delegate there, and a motion open in H.
struct Above {
    h: FederationId,
    /// F's and G's mandates in H.
    fm: MotionId,
    gm: MotionId,
    hm: MotionId,
    closes_at: u64,
}

fn above(w: &mut World) -> Above {
    let (h, _) = found_h(w);
    let (f, g) = (w.f, w.g);
    let fm = give_mandate(w, f, A0, h);
    let gm = give_mandate(w, g, B0, h);
    let (hm, closes_at) = open_above(w, h, None);
    Above { h, fm, gm, hm, closes_at }
}

fn export_all(w: &mut World) -> Vec<u8> {
    let [a0, a1, b0, b1, x] = &mut w.c[..] else { unreachable!() };
    export(&mut [&mut a0.b, &mut a1.b, &mut b0.b, &mut b1.b, &mut x.b])
}

fn fed(r: &Report, id: FederationId) -> &FederationReport {
    r.federations.iter().find(|f| f.id == id).expect("the federation is in the report")
}

/// Every council logs something at `t`, so that every federation's clock passes it.
fn everyone_at(w: &mut World, t: u64) {
    w.clock.advance_to(t);
    for i in 0..w.c.len() {
        pass(w, i, Action::Resolution);
    }
}

#[test]
fn two_federations_found_a_third_and_vote_in_it_through_their_delegates() {
    let mut w = world();
    let Above { h, fm, gm, hm, closes_at } = above(&mut w);
    let (f, g) = (w.f, w.g);
    let t = w.clock.tick();
    let (fd, gd) = (key(&w, A0, 1), key(&w, B0, 1));
    w.c[A0].b.delegate_vote_for(t, &fd, h, hm, f, fm, 0).unwrap();
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 1).unwrap();
    // G's delegate changes its mind: its latest ballot counts.
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 0).unwrap();
    everyone_at(&mut w, closes_at + 1);
    // A council of F ratifies H's decision; x, bound by nothing, cannot.
    ratify(&mut w, A1, h, hm, true);
    ratify(&mut w, X, h, hm, true);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    let v = voids(&r);
    assert_eq!(r.void_federation_events.len(), 1, "{v}");
    assert!(v.contains("only a council that was a member"), "{v}");

    let hr = fed(&r, h);
    assert!(hr.founded_at.is_some());
    let members: Vec<_> = hr.members.iter().map(|m| (m.council, m.federation, m.founder)).collect();
    assert_eq!(members.len(), 2);
    assert!(members.contains(&(f, true, true)) && members.contains(&(g, true, true)), "{members:?}");
    // F's sign-charter act is done; H's motion was opened by F, and decided.
    let fr = fed(&r, f);
    let join = fr.motions.iter().find(|m| m.act.as_ref().is_some_and(|a| a.kind == "sign-charter")).unwrap();
    assert_eq!(join.act.as_ref().unwrap().status, ActStatus::Done);
    assert_eq!(join.ratifications.len(), 2);
    let mot = &hr.motions[0];
    assert_eq!(mot.id, hm);
    assert_eq!(mot.opened_by, f);
    assert_eq!(mot.outcome, Some(Outcome::Chosen(0)));
    assert_eq!(mot.counts.as_deref(), Some(&[2, 0, 0][..]));
    assert_eq!(mot.electorate, Some(2));
    let statuses: Vec<_> = mot.votes.iter().map(|v| (v.federation, v.status)).collect();
    assert_eq!(
        statuses,
        vec![(Some(f), BallotStatus::Counted), (Some(g), BallotStatus::Replaced), (Some(g), BallotStatus::Counted)]
    );
    assert_eq!(mot.ratifications, vec![(w.c[A1].b.id(), true)]);
    // F's mandate is reported with its delegate's council.
    assert_eq!(fr.mandates.len(), 1);
    assert_eq!(fr.mandates[0].council, w.c[A0].b.id());
}

#[test]
fn joining_waits_for_the_councils_ratification() {
    let mut w = world();
    let h = named("H", vec![w.f, w.g]);
    let f = w.f;
    let m = decide_act(&mut w, f, FederationAct::SignCharter { charter: h.clone(), invite: None }, 0);
    // One council of two accepts, the other refuses: a strict majority is not met.
    ratify(&mut w, A0, f, m, true);
    ratify(&mut w, A1, f, m, false);
    // G decides not to sign at all.
    let g = w.g;
    let gm = decide_act(&mut w, g, FederationAct::SignCharter { charter: h.clone(), invite: None }, 1);
    let later = w.clock.0 + 1;
    everyone_at(&mut w, later);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    let act = fed(&r, f).motions.iter().find(|x| x.id == m).unwrap().act.clone().unwrap();
    assert_eq!(act.status, ActStatus::AwaitingRatification);
    assert_eq!(act.needed, Some(2));
    let gact = fed(&r, g).motions.iter().find(|x| x.id == gm).unwrap().act.clone().unwrap();
    assert_eq!(gact.status, ActStatus::NotPassed);
    // H has no signature at all, so it does not exist.
    assert!(r.federations.iter().all(|x| x.id != h.id()));
}

#[test]
fn only_the_federations_delegate_votes_for_it() {
    let mut w = world();
    let (h, _) = found_h(&mut w);
    let f = w.f;
    let fm = give_mandate(&mut w, f, A0, h);
    let (hm, closes_at) = open_above(&mut w, h, None);
    // A member of a0 that is not the delegate, a member of b0 (a council of G) and the
    // outsider x each cast a ballot for F under F's mandate.
    let t = w.clock.tick();
    let (not_delegate, other_fed, outsider) = (key(&w, A0, 2), key(&w, B0, 1), key(&w, X, 0));
    w.c[A0].b.delegate_vote_for(t, &not_delegate, h, hm, f, fm, 1).unwrap();
    w.c[B0].b.delegate_vote_for(t, &other_fed, h, hm, f, fm, 1).unwrap();
    w.c[X].b.delegate_vote_for(t, &outsider, h, hm, f, fm, 1).unwrap();
    // A member of x cannot even get a ballot for F into a0's log.
    let forged = Signed::sign(
        DelegateVoteBody { federation: h, motion: hm, council: f, mandate: fm, choice: 1, counter: 99, split: None },
        &outsider,
    );
    let refused = w.c[A0].try_append(w.clock.tick(), Payload::DelegateVote(forged));
    assert!(matches!(refused, Err(RecordError::NotAMember { .. })), "{refused:?}");
    everyone_at(&mut w, closes_at + 1);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    let v = voids(&r);
    assert_eq!(v.matches("not-the-delegate").count(), 3, "{v}");
    let mot = &fed(&r, h).motions[0];
    assert!(mot.votes.is_empty(), "no ballot counts for F: {:?}", mot.votes);
    assert_eq!(mot.outcome, Some(Outcome::NoQuorum));
}

#[test]
fn a_federation_recalls_its_delegate_and_the_ballot_is_struck() {
    let mut w = world();
    let Above { h, fm, gm, hm, closes_at } = above(&mut w);
    let (f, g) = (w.f, w.g);
    let t = w.clock.tick();
    let (fd, gd) = (key(&w, A0, 1), key(&w, B0, 1));
    w.c[A0].b.delegate_vote_for(t, &fd, h, hm, f, fm, 0).unwrap();
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 1).unwrap();
    // F recalls its delegate while H's motion is open: F's ballot is struck, and the
    // recalled delegate's later ballot is void.
    let recall = decide_act(&mut w, f, FederationAct::Recall(fm), 0);
    w.c[A0].b.delegate_vote_for(w.clock.tick(), &fd, h, hm, f, fm, 0).unwrap();
    everyone_at(&mut w, closes_at + 1);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    let v = voids(&r);
    assert!(v.contains("is not in force"), "{v}");
    let fr = fed(&r, f);
    assert!(fr.mandates[0].recalled_at.is_some());
    let recall_act = fr.motions.iter().find(|m| m.id == recall).unwrap().act.clone().unwrap();
    assert_eq!(recall_act.status, ActStatus::Done);
    let mot = &fed(&r, h).motions[0];
    let statuses: Vec<_> = mot.votes.iter().map(|v| (v.federation, v.status)).collect();
    assert_eq!(statuses, vec![(Some(f), BallotStatus::Struck), (Some(g), BallotStatus::Counted)]);
    assert_eq!(mot.outcome, Some(Outcome::Chosen(1)));
}

#[test]
fn a_federation_that_leaves_no_longer_counts_and_binds_none_of_its_councils() {
    let mut w = world();
    let Above { h, fm, gm, hm, closes_at } = above(&mut w);
    let (f, g) = (w.f, w.g);
    let t = w.clock.tick();
    let (fd, gd) = (key(&w, A0, 1), key(&w, B0, 1));
    w.c[A0].b.delegate_vote_for(t, &fd, h, hm, f, fm, 0).unwrap();
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 0).unwrap();
    decide_act(&mut w, f, FederationAct::Leave(h), 0);
    everyone_at(&mut w, closes_at + 1);
    // a0 is no longer bound by H: its ratification is void.
    ratify(&mut w, A0, h, hm, true);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    assert!(voids(&r).contains("only a council that was a member"), "{}", voids(&r));
    let hr = fed(&r, h);
    assert!(hr.members.iter().find(|m| m.council == f).unwrap().left_at.is_some());
    let mot = &hr.motions[0];
    assert_eq!(mot.electorate, Some(1));
    let statuses: Vec<_> = mot.votes.iter().map(|v| v.status).collect();
    assert_eq!(statuses, vec![BallotStatus::CouncilLeft, BallotStatus::Counted]);
}

#[test]
fn a_federation_cannot_take_part_in_itself() {
    let mut w = world();
    let f = w.f;
    // Directly: F signing its own charter is refused when the motion opens.
    let own = act_motion(&w, f, FederationAct::SignCharter { charter: w.f_charter.clone(), invite: None });
    let ks: Vec<SecretKey> = (0..3).map(|m| key(&w, A0, m)).collect();
    let refs: Vec<&SecretKey> = ks.iter().collect();
    let refused = w.c[A0].b.pass(&mut w.clock, &refs, "loop", Action::OpenFederationMotion(own));
    assert!(matches!(refused, Err(RecordError::FederationLoop(id)) if id == f), "{refused:?}");

    // Through H: F is in H, and H tries to join F with a valid invite of F. The act
    // passes in H and its councils ratify it, but it is void: H would contain itself.
    let (h, _) = found_h(&mut w);
    let g = w.g;
    let fm = give_mandate(&mut w, f, A0, h);
    let gm = give_mandate(&mut w, g, B0, h);
    let invite = key_from_label("f-invite");
    let t = w.clock.tick();
    let issuer = key(&w, A0, 0);
    w.c[A0].b.invite(t, &issuer, f, &invite, 1, t + 100_000).unwrap();
    let proof = invite_proof(&invite, w.c[A0].b.id(), f, h);
    let act = FederationAct::SignCharter { charter: w.f_charter.clone(), invite: Some(proof) };
    let (hm, closes_at) = open_above(&mut w, h, Some(act));
    let t = w.clock.tick();
    let (fd, gd) = (key(&w, A0, 1), key(&w, B0, 1));
    w.c[A0].b.delegate_vote_for(t, &fd, h, hm, f, fm, 0).unwrap();
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 0).unwrap();
    everyone_at(&mut w, closes_at + 1);
    for i in [A0, A1, B0, B1] {
        ratify(&mut w, i, h, hm, true);
    }
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    let mot = &fed(&r, h).motions[0];
    assert_eq!(mot.outcome, Some(Outcome::Chosen(0)));
    let act = mot.act.clone().unwrap();
    assert_eq!(act.status, ActStatus::Void, "{act:?}");
    assert!(act.reason.as_deref().unwrap_or("").contains("federation-loop"), "{act:?}");
    let fr = fed(&r, f);
    assert!(fr.pending.is_empty() && fr.members.iter().all(|m| m.council != h));
}

mod loops {
    //! Random joins among four federations: the replay refuses exactly the joins that
    //! would close a loop, and its membership graph is the model's.
    use super::*;
    use council_core::sample::nested::{Part, World};
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]
        #[test]
        fn joins_never_make_a_loop(attempts in proptest::collection::vec((0usize..4, 0usize..4), 1..7)) {
            let mut w = World::new(T0);
            let mut feds = Vec::new();
            for k in 0..4 {
                let a = w.council(&format!("p{k}/a"), 3).unwrap();
                let b = w.council(&format!("p{k}/b"), 3).unwrap();
                feds.push(w.found(&format!("F{k}"), &[Part::Council(a), Part::Council(b)]).unwrap());
            }
            let mut tried = BTreeSet::new();
            let mut direct: std::collections::BTreeMap<FederationId, BTreeSet<FederationId>> = Default::default();
            let mut expected_loop = Vec::new();
            for (a, b) in attempts {
                if !tried.insert((a, b)) {
                    continue;
                }
                if a == b {
                    let refused = w.join(feds[a], feds[b]);
                    prop_assert!(matches!(refused, Err(RecordError::FederationLoop(_))), "{:?}", refused);
                    continue;
                }
                let loops = w.contains(feds[a], feds[b]);
                let joined = w.join(feds[a], feds[b]).unwrap();
                prop_assert_eq!(joined, !loops);
                if joined {
                    direct.entry(feds[b]).or_default().insert(feds[a]);
                }
                expected_loop.push((feds[a], feds[b], loops));
            }
            w.settle_at(w.clock.0 + 1).unwrap();
            let r = verify(&w.export().unwrap());
            prop_assert!(r.valid, "{}", errors(&r));
            for (joiner, host, loops) in expected_loop {
                let acts: Vec<_> = fed(&r, joiner)
                    .motions
                    .iter()
                    .filter_map(|m| m.act.clone())
                    .filter(|a| a.kind == "sign-charter" && a.target == Some(host))
                    .collect();
                prop_assert_eq!(acts.len(), 1);
                let want = if loops { ActStatus::Void } else { ActStatus::Done };
                prop_assert_eq!(acts[0].status, want, "{:?}", acts[0]);
                if loops {
                    prop_assert!(acts[0].reason.as_deref().unwrap_or("").starts_with("federation-loop"));
                }
                let member = fed(&r, host).members.iter().any(|m| m.council == joiner && m.federation);
                prop_assert_eq!(member, !loops);
            }
            // The replay's graph is the model's.
            for f in &feds {
                let replayed: BTreeSet<_> = fed(&r, *f)
                    .members
                    .iter()
                    .filter(|m| m.federation && m.left_at.is_none())
                    .map(|m| m.council)
                    .collect();
                prop_assert_eq!(&replayed, &direct.get(f).cloned().unwrap_or_default());
            }
        }
    }
}

#[test]
fn three_levels_of_federations_decide_through_nested_acts() {
    use council_core::sample::nested::{Part, World};
    let mut w = World::new(T0);
    let mut lowest = Vec::new();
    for k in 0..4 {
        let a = w.council(&format!("l{k}/a"), 3).unwrap();
        let b = w.council(&format!("l{k}/b"), 3).unwrap();
        lowest.push(w.found(&format!("F{k}"), &[Part::Council(a), Part::Council(b)]).unwrap());
    }
    let h1 = w.found("H1", &[Part::Federation(lowest[0]), Part::Federation(lowest[1])]).unwrap();
    let h2 = w.found("H2", &[Part::Federation(lowest[2]), Part::Federation(lowest[3])]).unwrap();
    let top = w.found("K", &[Part::Federation(h1), Part::Federation(h2)]).unwrap();
    // A motion in K is opened by H1's act, itself opened by F0's act: a council act of
    // F0's first council carries three nested federation motions.
    let motion = w.act_motion(top, None);
    let closes_at = motion.closes_at;
    let id = w.open(motion).unwrap();
    w.vote_all(top, id, 1).unwrap();
    w.settle_at(closes_at + 1).unwrap();
    for i in w.bound(top) {
        w.pass(i, Action::Ratify { federation: top, motion: id, accept: i % 2 == 0 }).unwrap();
    }
    let r = verify(&w.export().unwrap());
    assert!(r.valid, "{}", errors(&r));
    assert_eq!(r.void_federation_events.len(), 0, "{}", voids(&r));
    let k = fed(&r, top);
    assert_eq!(k.members.iter().filter(|m| m.federation).count(), 2);
    let mot = &k.motions[0];
    assert_eq!((mot.id, mot.opened_by), (id, h1));
    assert_eq!(mot.outcome, Some(Outcome::Chosen(1)));
    assert_eq!(mot.counts.as_deref(), Some(&[0, 2, 0][..]));
    // Every one of the eight councils is bound by K, and each recorded its own answer.
    assert_eq!(mot.ratifications.len(), 8);
    assert_eq!(mot.ratifications.iter().filter(|(_, a)| *a).count(), 4);
}

#[test]
fn a_chain_of_more_than_four_federation_motions_does_not_decode() {
    use council_core::cbor::Cbor;
    let chain = |n: usize| {
        let mut m: Option<FederationMotion> = None;
        for i in 0..n {
            let act = m.take().map(|inner| Box::new(FederationAct::OpenMotion(inner)));
            m = Some(FederationMotion {
                federation: council_core::Hash::of(format!("level {i}").as_bytes()),
                matter: "m".into(),
                title: "t".into(),
                options: vec!["yes".into(), "no".into()],
                closes_at: T0 + 1000 * (n - i) as u64,
                act,
            });
        }
        m.unwrap().to_cbor()
    };
    assert!(FederationMotion::from_cbor(&chain(4)).is_ok());
    let deep = FederationMotion::from_cbor(&chain(5));
    assert!(matches!(deep, Err(council_core::DecodeError::TooDeep { .. })), "{deep:?}");
}

#[test]
fn a_later_record_below_does_not_change_an_outcome_above() {
    // H's motion closes before F's motion to leave H does. A ballot of F in H counts, and
    // a later event of F (a ratification of its leaving) must not change that.
    let mut w = world();
    let Above { h, fm, gm, hm, closes_at: h_closes } = above(&mut w);
    let (f, g) = (w.f, w.g);
    let (fd, gd) = (key(&w, A0, 1), key(&w, B0, 1));
    w.c[A0].b.delegate_vote_for(w.clock.tick(), &fd, h, hm, f, fm, 0).unwrap();
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 1).unwrap();
    // F's motion to leave closes 50 s after H's motion.
    w.clock.advance_to(h_closes - 50);
    let leave = decide_act(&mut w, f, FederationAct::Leave(h), 0);
    let later = w.clock.0 + 10;
    everyone_at(&mut w, later);
    ratify(&mut w, A0, f, leave, true);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    let hr = fed(&r, h);
    assert!(hr.members.iter().find(|m| m.council == f).unwrap().left_at.unwrap() > h_closes);
    let mot = &hr.motions[0];
    assert_eq!(mot.electorate, Some(2));
    let statuses: Vec<_> = mot.votes.iter().map(|v| v.status).collect();
    assert_eq!(statuses, vec![BallotStatus::Counted, BallotStatus::Counted]);
    assert_eq!(mot.outcome, Some(Outcome::NoDecision));
}

#[test]
fn a_council_that_leaves_the_federation_no_longer_votes_for_it() {
    let mut w = world();
    let Above { h, fm, gm, hm, closes_at } = above(&mut w);
    let (f, g) = (w.f, w.g);
    let (fd, gd) = (key(&w, A0, 1), key(&w, B0, 1));
    w.c[A0].b.delegate_vote_for(w.clock.tick(), &fd, h, hm, f, fm, 0).unwrap();
    w.c[B0].b.delegate_vote_for(w.clock.tick(), &gd, h, hm, g, gm, 1).unwrap();
    // a0, whose member carries F's mandate, leaves F by its own act; F has not recalled
    // the mandate, but a0's member no longer speaks for F.
    pass(&mut w, A0, Action::Leave(f));
    w.c[A0].b.delegate_vote_for(w.clock.tick(), &fd, h, hm, f, fm, 0).unwrap();
    everyone_at(&mut w, closes_at + 1);
    let r = verify(&export_all(&mut w));
    assert!(r.valid, "{}", errors(&r));
    assert!(voids(&r).contains("is no longer bound by federation"), "{}", voids(&r));
    let mot = &fed(&r, h).motions[0];
    let statuses: Vec<_> = mot.votes.iter().map(|v| (v.federation, v.status)).collect();
    assert_eq!(statuses, vec![(Some(f), BallotStatus::CouncilLeft), (Some(g), BallotStatus::Counted)]);
    assert_eq!(mot.outcome, Some(Outcome::Chosen(1)));
}

#[test]
fn a_member_who_is_not_the_delegate_cannot_use_up_the_delegates_counter() {
    let mut w = world();
    let (h, _) = found_h(&mut w);
    let f = w.f;
    let fm = give_mandate(&mut w, f, A0, h);
    let (hm, _) = open_above(&mut w, h, None);
    // Member 2 of a0 (not F's delegate) logs a ballot for F with the largest counter.
    let body = DelegateVoteBody {
        federation: h,
        motion: hm,
        council: f,
        mandate: fm,
        choice: 1,
        counter: u64::MAX,
        split: None,
    };
    let (t, other) = (w.clock.tick(), key(&w, A0, 2));
    w.c[A0].b.append(t, Payload::DelegateVote(Signed::sign(body, &other))).unwrap();
    // The delegate's own first ballot is still taken.
    let fd = key(&w, A0, 1);
    w.c[A0].b.delegate_vote_for(w.clock.tick(), &fd, h, hm, f, fm, 0).unwrap();
}
