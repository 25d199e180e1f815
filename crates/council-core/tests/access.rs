//! Who may read which council's log (PROTOCOL.md §12.1), attacked by a member of another
//! federation, a council that left, a council whose admission is void, and invitees whose
//! invite expired or was used up. Pure: logs and a time in, standing out.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{Council, T0};
use council_core::access::{Access, AccessInputs, InviteClaim};
use council_core::federation;
use council_core::records::{Action, Charter, CouncilId, FederationId, InviteProof};
use council_core::sample::{invite_proof, key_from_label, Clock};
use council_core::SecretKey;

/// Councils by name, each with its log, and the clock they share.
struct World {
    clock: Clock,
    c: BTreeMap<&'static str, Council>,
}

impl World {
    fn new(names: &[&'static str]) -> Self {
        let mut clock = Clock(T0);
        let c = names.iter().map(|n| (*n, Council::new(n, 3, &mut clock))).collect();
        World { clock, c }
    }
    fn id(&self, n: &str) -> CouncilId {
        self.c[n].b.id()
    }
    fn pass(&mut self, n: &str, action: Action) {
        let c = self.c.get_mut(n).unwrap();
        let ks: Vec<SecretKey> = c.keys.iter().map(|k| SecretKey::from_seed(&k.seed())).collect();
        let refs: Vec<&SecretKey> = ks.iter().collect();
        c.b.pass(&mut self.clock, &refs, "act", action).unwrap();
    }
    fn found(&mut self, founders: &[&'static str]) -> Charter {
        let charter = common::charter(founders.iter().map(|n| self.id(n)).collect());
        for n in founders {
            self.pass(n, Action::SignCharter { charter: charter.clone(), invite: None });
        }
        charter
    }
    /// `issuer` invites with a fresh key; returns the key.
    fn invite(&mut self, issuer: &str, fid: FederationId, uses: u32, expires_at: u64) -> SecretKey {
        let key = key_from_label(&format!("invite/{issuer}/{}", self.clock.0));
        let t = self.clock.tick();
        let c = self.c.get_mut(issuer).unwrap();
        let member = SecretKey::from_seed(&c.keys[0].seed());
        c.b.invite(t, &member, fid, &key, uses, expires_at).unwrap();
        key
    }
    fn proof(&self, key: &SecretKey, issuer: &str, fid: FederationId, joiner: &str) -> InviteProof {
        invite_proof(key, self.id(issuer), fid, self.id(joiner))
    }
    /// The access as council `own` sees it at `now`, holding every log.
    fn access(
        &self,
        own: &str,
        charters: &[&Charter],
        joining: &[(FederationId, InviteProof)],
        claims: &[InviteClaim],
        now: u64,
    ) -> Access {
        let states: BTreeMap<CouncilId, _> = self.c.values().map(|c| (c.b.id(), c.b.state().clone())).collect();
        let (reports, _) = federation::evaluate(&states);
        let charters = charters.iter().map(|c| (c.id(), (*c).clone())).collect();
        let joining = joining.iter().cloned().collect();
        Access::compute(AccessInputs {
            own: self.id(own),
            reports: &reports,
            charters: &charters,
            joining: &joining,
            claims,
            now,
        })
    }
}

#[test]
fn a_member_of_one_federation_reads_nothing_of_another() {
    let mut w = World::new(&["hub", "a", "b", "c"]);
    let f1 = w.found(&["hub", "a", "b"]);
    let f2 = w.found(&["hub", "c"]);
    let now = w.clock.0;
    let x = w.access("hub", &[&f1, &f2], &[], &[], now);
    let (hub, a, b, c) = (w.id("hub"), w.id("a"), w.id("b"), w.id("c"));
    assert!(x.may_read(&a, &b) && x.may_read(&a, &hub) && x.may_read(&c, &hub));
    assert!(!x.may_read(&a, &c), "a member of the first federation reads the second's council");
    assert!(!x.may_read(&c, &a), "a member of the second federation reads the first's council");
    assert_eq!(x.standing_of(&a).copied().collect::<Vec<_>>(), vec![f1.id()]);
    assert_eq!(x.standing_of(&c).copied().collect::<Vec<_>>(), vec![f2.id()]);
    assert_eq!(x.councils().len(), 3);
    // A council that is in neither reads nothing, not even its own membership.
    let stranger = common::Council::new("stranger", 1, &mut w.clock).b.id();
    assert!(!x.may_read(&stranger, &hub) && x.standing_of(&stranger).next().is_none());
    assert!(x.may_read(&stranger, &stranger), "a council may always read its own log back");
}

#[test]
fn a_council_that_left_has_no_standing() {
    let mut w = World::new(&["a", "b", "c"]);
    let f = w.found(&["a", "b", "c"]);
    let (a, c) = (w.id("a"), w.id("c"));
    assert!(w.access("a", &[&f], &[], &[], w.clock.0).may_read(&c, &a));
    w.pass("c", Action::Leave(f.id()));
    let x = w.access("a", &[&f], &[], &[], w.clock.0);
    assert!(!x.may_read(&c, &a), "a council that left still reads the federation");
    assert!(!x.councils().contains(&c));
    // Its log, which ends with the leave, stays part of the federation's record: the
    // members still read it (one that missed the leave learns it from another), and it
    // is listed with the federation's logs; it is no longer in the circle.
    let b = w.id("b");
    assert!(x.may_read(&b, &c), "a member cannot read the log of a council that left");
    assert!(x.logs(&f.id()).contains(&c));
    assert!(!x.circle(&f.id()).is_some_and(|circle| circle.contains(&c)));
    // And from its own side, the federation is no longer one it takes part in, though it
    // signed the charter.
    let from_c = w.access("c", &[&f], &[], &[], w.clock.0);
    assert!(from_c.federations().next().is_none(), "the council that left still counts itself in");
    // It still lets the members read its own log (which holds the leave), and nothing else.
    assert!(from_c.may_read(&a, &c));
    assert!(!from_c.may_read(&a, &b));
    assert_eq!(from_c.audience(), &BTreeSet::from([a, b]));
}

#[test]
fn a_void_admission_and_a_used_up_invite_grant_nothing() {
    let mut w = World::new(&["a", "b", "j1", "j2"]);
    let f = w.found(&["a", "b"]);
    let fid = f.id();
    let key = w.invite("a", fid, 1, T0 + 10_000);
    let (p1, p2) = (w.proof(&key, "a", fid, "j1"), w.proof(&key, "a", fid, "j2"));
    let claim2 = InviteClaim::check(w.id("j2"), fid, p2.clone()).unwrap();
    // Before anyone uses it, j2's claim stands.
    assert!(w.access("a", &[&f], &[], std::slice::from_ref(&claim2), w.clock.0).may_read(&w.id("j2"), &w.id("a")));
    // j1 uses the one-use invite, then j2 signs with the same invite: void.
    w.pass("j1", Action::SignCharter { charter: f.clone(), invite: Some(p1) });
    w.pass("j2", Action::SignCharter { charter: f.clone(), invite: Some(p2) });
    let x = w.access("a", &[&f], &[], std::slice::from_ref(&claim2), w.clock.0);
    let (a, j1, j2) = (w.id("a"), w.id("j1"), w.id("j2"));
    assert!(x.may_read(&j1, &a), "the council that used the invite waits for admission, with standing");
    assert!(!x.may_read(&j2, &a), "a void signature (the invite was used up) grants standing");
    // Its own view agrees: j2 is not in the federation.
    let from_j2 = w.access("j2", &[&f], &[], &[], w.clock.0);
    assert!(from_j2.federations().next().is_none());
}

#[test]
fn an_invitee_loses_standing_the_moment_its_invite_expires() {
    let mut w = World::new(&["a", "b", "j"]);
    let f = w.found(&["a", "b"]);
    let fid = f.id();
    let expires = w.clock.0 + 100;
    let key = w.invite("a", fid, 5, expires);
    let claim = InviteClaim::check(w.id("j"), fid, w.proof(&key, "a", fid, "j")).unwrap();
    let (a, b, j) = (w.id("a"), w.id("b"), w.id("j"));
    let at = |t: u64| w.access("b", &[&f], &[], std::slice::from_ref(&claim), t);
    assert!(at(expires).may_read(&j, &a) && at(expires).may_read(&j, &b));
    assert_eq!(at(expires).next_change(), Some(expires + 1), "the node must look again when it lapses");
    assert!(!at(expires + 1).may_read(&j, &a), "an expired invite still grants standing");
    assert_eq!(at(expires + 1).next_change(), None);
    // A claim for another council, or with a bad signature, does not check.
    assert!(InviteClaim::check(a, fid, w.proof(&key, "a", fid, "j")).is_none());
    let wrong = key_from_label("not the invite key");
    let forged = invite_proof(&wrong, a, fid, j);
    let c = InviteClaim::check(j, fid, forged).unwrap();
    assert!(!w.access("b", &[&f], &[], &[c], expires).may_read(&j, &a), "an invite key no log records grants standing");
}

#[test]
fn founders_read_each_other_while_the_charter_is_signed_and_a_joiner_reads_its_issuer() {
    let mut w = World::new(&["a", "b", "c", "j"]);
    // Nobody has signed yet; a has a motion to sign (passed to `charters`).
    let charter = common::charter(vec![w.id("a"), w.id("b")]);
    let x = w.access("a", &[&charter], &[], &[], w.clock.0);
    assert!(x.may_read(&w.id("b"), &w.id("a")));
    assert!(!x.may_read(&w.id("c"), &w.id("a")));
    // Founded; j holds an invite and has read no log yet.
    let f = w.found(&["a", "b"]);
    let key = w.invite("a", f.id(), 1, w.clock.0 + 1000);
    let proof = w.proof(&key, "a", f.id(), "j");
    let empty = World { clock: Clock(w.clock.0), c: BTreeMap::from([("j", w.c.remove("j").unwrap())]) };
    let x = empty.access("j", &[], &[(f.id(), proof.clone())], &[], w.clock.0);
    assert_eq!(x.councils().into_iter().collect::<Vec<_>>(), vec![w.id("a")]);
    assert!(x.may_read(&w.id("a"), &empty.id("j")));
    // j holds a's log as far as the founding, but not (yet) the entry recording its
    // invite: from its own side it keeps taking part in F, as with a recorded open
    // invite, until the log says more (a used-up or expired one ends it, above).
    let mut empty = empty;
    w.c.insert("j", empty.c.remove("j").unwrap());
    let not_yet = key_from_label("access/invite not logged yet");
    let unlogged = w.proof(&not_yet, "a", f.id(), "j");
    let from_j = w.access("j", &[], &[(f.id(), unlogged)], &[], w.clock.0);
    assert_eq!(from_j.councils(), BTreeSet::from([w.id("a"), w.id("b")]));
    // Without it, j would refuse the issuer's node while it is still syncing the log.
    let known = w.access("j", &[], &[], &[], w.clock.0);
    assert!(known.councils().is_empty());
}

/// Every federation in a nested sample world's logs, and the void events.
fn nested_reports(
    w: &council_core::sample::nested::World,
) -> (Vec<federation::FederationReport>, Vec<federation::FedError>) {
    let states: BTreeMap<CouncilId, council_core::council::CouncilState> =
        w.councils.iter().map(|c| (c.b.id(), c.b.state().clone())).collect();
    federation::evaluate(&states)
}

/// A council's standing computed from those reports alone: no charter of its own being
/// signed, no join, no invite shown.
fn standing(reports: &[federation::FederationReport], own: CouncilId, now: u64) -> Access {
    Access::compute(AccessInputs {
        own,
        reports,
        charters: &BTreeMap::new(),
        joining: &BTreeMap::new(),
        claims: &[],
        now,
    })
}

/// A federation of federations (PROTOCOL.md §8.1): H's members are the federation F and
/// the council `north`. F's other council reads nothing of H's circle through F, and no
/// circle names F as if it were a council.
#[test]
fn a_member_federation_gives_its_councils_no_standing_above() {
    use council_core::sample::nested::{Part, World};
    let mut w = World::new(T0);
    let (a, b) = (w.council("a", 3).unwrap(), w.council("b", 3).unwrap());
    let f = w.found("F", &[Part::Council(a), Part::Council(b)]).unwrap();
    let north = w.council("north", 3).unwrap();
    let h = w.found("H", &[Part::Federation(f), Part::Council(north)]).unwrap();
    let (reports, void) = nested_reports(&w);
    assert!(void.is_empty(), "{void:?}");
    let hr = reports.iter().find(|r| r.id == h).unwrap();
    assert!(hr.founded_at.is_some() && hr.members.iter().any(|m| m.council == f && m.federation));
    let access = |own: CouncilId| standing(&reports, own, w.clock.0);
    let (a_id, b_id, north_id) = (w.council_id(a), w.council_id(b), w.council_id(north));
    let for_b = access(b_id);
    assert!(for_b.circle(&h).is_none(), "b stands in no circle of H");
    assert!(!for_b.may_read(&b_id, &north_id), "b reads nothing of north, a council of H only");
    assert_eq!(for_b.circle(&f), Some(&BTreeSet::from([a_id, b_id])));
    let for_north = access(north_id);
    assert_eq!(for_north.circle(&h), Some(&BTreeSet::from([north_id])), "H's circle holds councils only");
    assert!(!for_north.councils().contains(&f));
}

/// PROTOCOL.md §12.9: the councils a federation of federations binds read each other's
/// federation-level entries, and nothing more; a council of another federation, an
/// outsider and the member federation's id itself get nothing, and councils that share a
/// circle keep their whole logs.
#[test]
fn a_federation_of_federations_gives_its_councils_each_others_federation_level_entries_only() {
    use council_core::sample::nested::{Part, World};
    let mut w = World::new(T0);
    let (a, b) = (w.council("a", 3).unwrap(), w.council("b", 3).unwrap());
    let f = w.found("F", &[Part::Council(a), Part::Council(b)]).unwrap();
    let north = w.council("north", 3).unwrap();
    let h = w.found("H", &[Part::Federation(f), Part::Council(north)]).unwrap();
    let (x, y) = (w.council("x", 3).unwrap(), w.council("y", 3).unwrap());
    let g = w.found("G", &[Part::Council(x), Part::Council(y)]).unwrap();
    let (reports, void) = nested_reports(&w);
    assert!(void.is_empty(), "{void:?}");
    let access = |own: CouncilId| standing(&reports, own, w.clock.0);
    let [a_id, b_id, north_id, x_id] = [a, b, north, x].map(|i| w.council_id(i));
    let outsider = council_core::Hash::of(b"an outsider");
    let for_north = access(north_id);
    assert_eq!(for_north.wide().get(&h), Some(&BTreeSet::from([a_id, b_id, north_id])));
    assert_eq!(for_north.copies(), BTreeSet::from([a_id, b_id]), "north holds a's and b's federation-level entries");
    assert!(for_north.may_copy(&a_id, &b_id) && for_north.may_copy(&a_id, &north_id));
    assert!(!for_north.may_read(&a_id, &north_id), "a reads north's federation-level entries, not its ballots");
    assert!(for_north.admitted().contains(&a_id) && !for_north.councils().contains(&a_id));
    for stranger in [x_id, outsider, f, g] {
        assert!(!for_north.may_copy(&stranger, &north_id), "{}", stranger.short());
        assert!(!for_north.admitted().contains(&stranger), "{}", stranger.short());
        assert_eq!(for_north.wide_standing_of(&stranger).count(), 0);
    }
    let for_a = access(a_id);
    assert_eq!(for_a.copies(), BTreeSet::from([north_id]), "a holds b's whole log, north's copy");
    assert_eq!(for_a.wide_standing_of(&north_id).collect::<Vec<_>>(), vec![&h]);
    assert!(access(x_id).wide().is_empty(), "G binds no member federation: no wide standing");
    // A plain federation has no wide circle, and nothing here reads G's councils.
    assert!(!for_a.may_copy(&north_id, &x_id));
}

/// The attack on PROTOCOL.md §12.4 and §12.9 through a log held here: council d signs a
/// charter that names y (and another that names y's federation F) as a co-founder. Neither
/// y nor F ever signs. d's log, held here whole or as a copy, shows the signature; it
/// gives d no circle and no wide standing with y, and y reads nothing of d either.
#[test]
fn a_charter_that_only_names_a_council_or_its_federation_gives_no_standing() {
    use council_core::sample::nested::{Part, World};
    let mut w = World::new(T0);
    let (y, y2, d) = (w.council("y", 3).unwrap(), w.council("y2", 3).unwrap(), w.council("d", 3).unwrap());
    let f = w.found("F", &[Part::Council(y), Part::Council(y2)]).unwrap();
    let [y_id, d_id] = [y, d].map(|i| w.council_id(i));
    let named = w.charter("G", &[Part::Council(d), Part::Council(y)]);
    w.pass(d, Action::SignCharter { charter: named, invite: None }).unwrap();
    let above = w.charter("H", &[Part::Council(d), Part::Federation(f)]);
    w.pass(d, Action::SignCharter { charter: above, invite: None }).unwrap();
    let (reports, _) = nested_reports(&w);
    assert_eq!(reports.iter().filter(|r| r.founded_at.is_none()).count(), 2, "G and H wait for signatures");
    let for_y = standing(&reports, y_id, w.clock.0);
    assert!(!for_y.may_read(&d_id, &y_id), "d reads nothing of y's log");
    assert!(!for_y.may_copy(&d_id, &y_id), "nor its federation-level entries");
    assert!(!for_y.admitted().contains(&d_id), "d's node is not let in");
    assert!(for_y.wide().is_empty(), "no federation-level topic for a charter y's federation never signed");
    assert_eq!(for_y.federations().collect::<Vec<_>>(), vec![&f], "y takes part in F alone");
}
