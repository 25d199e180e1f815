//! Who may read which council's log (PROTOCOL.md §12.1): the rule every node applies to
//! sync requests, gossip topics and hellos, computed from the logs and the time alone.
//!
//! Each federation this council takes part in has a *circle*: the councils that may
//! read the logs of the others in it.
//!
//! - A founded federation's circle is its current member councils (not those that left),
//!   the councils that signed its charter with a valid invite and wait for admission, and
//!   the councils that show an invite to it that is valid now: recorded in an issuer's
//!   log, unexpired, with uses left (counted from the logs, never from memory).
//! - While its charter is still being signed, the circle is the charter's founders.
//! - A federation this council is joining by invite, and of which it has not yet read a
//!   log, has the issuer and this council as its circle.
//!
//! A council `R` may read council `X`'s log when `R` is `X`, or when some circle holds
//! both. Circles hold councils only: a federation that is a member of a higher one
//! (PROTOCOL.md §8.1) gives its councils no standing in the higher federation's circle. Nothing else: no standing carries over from one federation to another, a
//! council that left or whose admission is void has none, and an invitee's lapses the
//! moment its invite expires or is used up ([`Access::next_change`] says when to look
//! again).

use std::collections::{BTreeMap, BTreeSet};

use crate::cbor::Cbor;
use crate::federation::FederationReport;
use crate::records::{Charter, CouncilId, FederationId, InviteProof, JoinStatement};

/// An invite a council showed in its hello, its signature already checked
/// ([`InviteClaim::check`]). Whether it still grants standing is judged against the
/// logs each time [`Access`] is computed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteClaim {
    pub council: CouncilId,
    pub federation: FederationId,
    pub proof: InviteProof,
}

impl InviteClaim {
    /// Checks the invite key's signature over the council's join statement (one
    /// signature check). Call it only for an invite recorded in the logs
    /// ([`Access::invite_is_open`]), so that a stranger cannot make the node check
    /// signatures at will.
    pub fn check(council: CouncilId, federation: FederationId, proof: InviteProof) -> Option<InviteClaim> {
        let statement = JoinStatement { federation, council };
        proof.invite_key.verify(&statement.to_cbor(), &proof.signature).then_some(InviteClaim {
            council,
            federation,
            proof,
        })
    }
}

/// What the logs say about this council's federations, at one time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    own: CouncilId,
    circles: BTreeMap<FederationId, BTreeSet<CouncilId>>,
    /// Per federation, the councils that were members and left (and are in no circle of
    /// it again): their logs, up to where this node holds them, stay part of the
    /// federation's record, readable by its circle; they themselves read nothing of it.
    former: BTreeMap<FederationId, BTreeSet<CouncilId>>,
    /// The members of federations this council left: they may still read this council's
    /// own log (its leave is the federation's to know, and a member that missed it must
    /// be able to fetch it from here), and nothing else.
    audience: BTreeSet<CouncilId>,
    /// Per federation of federations that binds this council (PROTOCOL.md §12.9): every
    /// council it binds, directly or through member federations. They read each other's
    /// federation-level entries, and nothing more, unless a circle holds them both.
    wide: BTreeMap<FederationId, BTreeSet<CouncilId>>,
    /// A federation of federations of this council's names a member (or founder)
    /// federation of which no log held here says anything: see [`Access::unresolved`].
    unresolved: bool,
    next_change: Option<u64>,
}

/// The inputs of [`Access::compute`].
#[derive(Debug, Clone, Copy)]
pub struct AccessInputs<'a> {
    /// This council.
    pub own: CouncilId,
    /// Every federation in the logs this node holds ([`crate::federation::evaluate`]).
    pub reports: &'a [FederationReport],
    /// Charters this council has signed or has an open motion to sign.
    pub charters: &'a BTreeMap<FederationId, Charter>,
    /// Federations this council is joining with an invite, and each invite's issuer.
    pub joining: &'a BTreeMap<FederationId, InviteProof>,
    /// Invites other councils showed (signatures checked).
    pub claims: &'a [InviteClaim],
    /// Now, in unix seconds.
    pub now: u64,
}

impl Access {
    /// Whether an invite proof names an invite recorded in the federation's logs that is
    /// unexpired and has uses left at `now`.
    pub fn invite_is_open(report: &FederationReport, proof: &InviteProof, now: u64) -> bool {
        Access::invite_closed(report, proof, now).is_none()
    }

    /// Why the invite `proof` shows is not open in this federation at `now`, in words
    /// for the joining council (the node that refuses its hello sends them); `None` if it
    /// is open. The one rule behind [`Access::invite_is_open`].
    pub fn invite_closed(report: &FederationReport, proof: &InviteProof, now: u64) -> Option<String> {
        let issued: Vec<_> =
            report.invites.iter().filter(|i| i.issuer == proof.issuer && i.key == proof.invite_key).collect();
        if issued.is_empty() {
            return Some(format!(
                "no invite with this key from council {} is in the logs of federation {:?} held here",
                proof.issuer.short(),
                report.name
            ));
        }
        if issued.iter().any(|i| i.uses < i.max_uses && now <= i.expires_at) {
            return None;
        }
        Some(match issued.iter().find(|i| i.uses < i.max_uses) {
            Some(i) => format!("the invite expired ({} s ago)", now.saturating_sub(i.expires_at)),
            None => format!("the invite is used up ({} of {} uses)", issued[0].uses, issued[0].max_uses),
        })
    }

    pub fn compute(i: AccessInputs<'_>) -> Access {
        let mut circles: BTreeMap<FederationId, BTreeSet<CouncilId>> = BTreeMap::new();
        let mut former: BTreeMap<FederationId, BTreeSet<CouncilId>> = BTreeMap::new();
        let mut audience: BTreeSet<CouncilId> = BTreeSet::new();
        let mut next_change: Option<u64> = None;
        let reports: BTreeMap<FederationId, &FederationReport> = i.reports.iter().map(|r| (r.id, r)).collect();
        let open_claim = |r: &FederationReport, proof: &InviteProof| Access::invite_is_open(r, proof, i.now);
        // This council's own invite, while the issuer's log held here does not show it yet
        // (the log is still being synced): the joiner keeps its standing with the issuer
        // until the log can say whether the invite holds. It grants nothing to anyone else.
        let own_invite_holds = |r: &FederationReport, proof: &InviteProof| {
            open_claim(r, proof) || !r.invites.iter().any(|x| x.key == proof.invite_key)
        };
        for (f, report) in &reports {
            let mut circle = BTreeSet::new();
            if report.founded_at.is_some() {
                circle.extend(report.members.iter().filter(|m| m.left_at.is_none()).map(|m| m.council));
                circle.extend(report.pending.iter().copied());
            } else {
                circle.extend(report.founders.iter().copied());
            }
            // A member federation (PROTOCOL.md §8.1) is no node: its councils read the
            // higher federation's logs only where they stand in its circle themselves.
            circle.retain(|c| !reports.contains_key(c));
            // A charter this council signed counts only while it is being signed: once
            // founded, what counts is membership (a council that left, or whose
            // signature was void, is out).
            // While a charter is signed, only this council's own signature (or motion to
            // sign) makes it take part: a charter that merely names it, in a log held here
            // (a federation-level copy's, say), gives no one standing with it.
            let mine = (report.founded_at.is_some() && circle.contains(&i.own))
                || (report.founded_at.is_none() && i.charters.contains_key(f))
                || i.joining.get(f).is_some_and(|p| own_invite_holds(report, p));
            if !mine {
                if report.members.iter().any(|m| m.council == i.own && m.left_at.is_some()) {
                    audience.extend(circle.iter().copied());
                }
                continue;
            }
            for c in i.claims.iter().filter(|c| c.federation == *f && open_claim(report, &c.proof)) {
                circle.insert(c.council);
                let lapse = report.invites.iter().find(|x| x.key == c.proof.invite_key).map(|x| x.expires_at + 1);
                next_change = match (next_change, lapse) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            if let Some(p) = i.joining.get(f) {
                if own_invite_holds(report, p) {
                    circle.insert(p.issuer);
                }
            }
            circle.insert(i.own);
            let gone: BTreeSet<CouncilId> = report
                .members
                .iter()
                .filter(|m| m.left_at.is_some() && !circle.contains(&m.council))
                .map(|m| m.council)
                .collect();
            if !gone.is_empty() {
                former.insert(*f, gone);
            }
            circles.insert(*f, circle);
        }
        // Charters being signed that no log holds a signature of yet: the founders.
        for (f, charter) in i.charters.iter().filter(|(f, _)| !reports.contains_key(f)) {
            circles.entry(*f).or_insert_with(|| {
                let mut c: BTreeSet<CouncilId> = charter.founders.iter().copied().collect();
                c.insert(i.own);
                c
            });
        }
        // Joins whose federation no log here shows yet: the issuer, whose log will.
        for (f, p) in i.joining {
            if !reports.contains_key(f) {
                circles.entry(*f).or_insert_with(|| BTreeSet::from([p.issuer, i.own]));
            }
        }
        // Councils still federated with this one need no special audience.
        let federated: BTreeSet<CouncilId> = circles.values().flatten().copied().collect();
        audience.retain(|c| *c != i.own && !federated.contains(c));
        // Federations of federations that bind this council, or whose charter it is signing:
        // every council they bind (through the founders, while the charter is signed).
        let mut wide = BTreeMap::new();
        let mut unresolved = false;
        for (f, report) in &reports {
            let walk = bound_councils(&reports, *f);
            // Consent: this council signed (or moves to sign) the charter, or it is bound
            // through a part whose signature or membership counts. A charter that only
            // names this council or its federation gives no one standing with it.
            let consented = report.founded_at.is_none() && i.charters.contains_key(f);
            if !(walk.bound.contains(&i.own) || consented) {
                continue;
            }
            // A part no log here shows may be a federation (§8.1): its councils are found
            // from the copy of a council that welcomes this one (`unresolved`). Only a
            // federation with a member federation known here is a federation of
            // federations with a federation-level topic.
            unresolved |= walk.unknown;
            if walk.nested {
                let mut bound = walk.bound;
                bound.extend(walk.named);
                bound.insert(i.own);
                wide.insert(*f, bound);
            }
        }
        Access { own: i.own, circles, former, audience, wide, unresolved, next_change }
    }

    /// Standing in nothing: a node that knows of no federation yet (gating starts closed).
    pub fn none(own: CouncilId) -> Access {
        Access::from_circles(own, BTreeMap::new())
    }

    /// Standing given as it is, circle by circle (each should hold `own`), rather than
    /// computed from the logs: for simulations and tests of the network layer, which
    /// take the standing as an input. The node computes it ([`Access::compute`]).
    pub fn from_circles(own: CouncilId, circles: BTreeMap<FederationId, BTreeSet<CouncilId>>) -> Access {
        Access {
            own,
            circles,
            former: BTreeMap::new(),
            audience: BTreeSet::new(),
            wide: BTreeMap::new(),
            unresolved: false,
            next_change: None,
        }
    }

    /// Whether a federation of federations this council takes part in names a member or
    /// founder federation that no log held here shows: its councils are unknown here
    /// until a federation-level copy of one of their logs shows them. The node then
    /// takes the federation-level copy of a council whose node welcomes it (PROTOCOL.md
    /// §12.9), and judges standing again once the copy shows that federation.
    pub fn unresolved(&self) -> bool {
        self.unresolved
    }

    /// The same, with the councils a federation of federations binds (see
    /// [`Access::wide`]).
    pub fn with_wide(mut self, federation: FederationId, bound: BTreeSet<CouncilId>) -> Access {
        self.wide.insert(federation, bound);
        self
    }

    /// Per federation of federations that binds this council, directly or through member
    /// federations: every council it binds (PROTOCOL.md §12.9). Each reads the others'
    /// federation-level entries; the node uses that federation's federation-level topic.
    pub fn wide(&self) -> &BTreeMap<FederationId, BTreeSet<CouncilId>> {
        &self.wide
    }

    /// Whether `reader`'s node may have `council`'s federation-level entries here: it may
    /// read the whole log, or one federation of federations binds them both.
    pub fn may_copy(&self, reader: &CouncilId, council: &CouncilId) -> bool {
        self.may_read(reader, council) || self.wide.values().any(|b| b.contains(reader) && b.contains(council))
    }

    /// The federations of federations whose federation-level topic `council`'s node may
    /// use here.
    pub fn wide_standing_of<'a>(&'a self, council: &'a CouncilId) -> impl Iterator<Item = &'a FederationId> + 'a {
        self.wide.iter().filter(move |(_, b)| b.contains(council)).map(|(f, _)| f)
    }

    /// The councils this node holds a federation-level copy of: bound with it by a
    /// federation of federations, and in none of its federations' records.
    pub fn copies(&self) -> BTreeSet<CouncilId> {
        let whole: BTreeSet<CouncilId> =
            self.circles.keys().flat_map(|f| self.logs(f)).chain(self.audience.iter().copied()).collect();
        self.wide.values().flatten().filter(|c| **c != self.own && !whole.contains(c)).copied().collect()
    }

    /// The same, with the members of federations this council left (see
    /// [`Access::audience`]).
    pub fn with_audience(mut self, audience: BTreeSet<CouncilId>) -> Access {
        self.audience = audience;
        self
    }

    /// The members of federations this council left, which may still read its own log
    /// (and nothing else): a leave must reach every member, also one that was cut off
    /// when it was gossiped.
    pub fn audience(&self) -> &BTreeSet<CouncilId> {
        &self.audience
    }

    /// The same, with councils that left `federation` (see [`Access::logs`]).
    pub fn with_former(mut self, federation: FederationId, former: BTreeSet<CouncilId>) -> Access {
        self.former.insert(federation, former);
        self
    }

    /// The federations this council takes part in (or is founding, or joining).
    pub fn federations(&self) -> impl Iterator<Item = &FederationId> {
        self.circles.keys()
    }

    pub fn circle(&self, federation: &FederationId) -> Option<&BTreeSet<CouncilId>> {
        self.circles.get(federation)
    }

    /// The logs of a federation's record: its circle's, and those of councils that left
    /// it (up to where this node holds them: a leave is the last word of a council's log
    /// that the federation needs, and a member that missed it by gossip learns it by sync
    /// from any other member).
    pub fn logs(&self, federation: &FederationId) -> BTreeSet<CouncilId> {
        let mut all = self.circles.get(federation).cloned().unwrap_or_default();
        if let Some(f) = self.former.get(federation) {
            all.extend(f.iter().copied());
        }
        all
    }

    /// Whether `reader`'s node may read `council`'s log here: `reader` is in a circle
    /// whose federation's record holds `council`'s log.
    pub fn may_read(&self, reader: &CouncilId, council: &CouncilId) -> bool {
        reader == council
            || (*council == self.own && self.audience.contains(reader))
            || self.circles.iter().any(|(f, c)| {
                c.contains(reader)
                    && (c.contains(council) || self.former.get(f).is_some_and(|gone| gone.contains(council)))
            })
    }

    /// The federations in which `council` has standing here: the gossip topics its node
    /// may use.
    pub fn standing_of<'a>(&'a self, council: &'a CouncilId) -> impl Iterator<Item = &'a FederationId> + 'a {
        self.circles.iter().filter(move |(_, c)| c.contains(council)).map(|(f, _)| f)
    }

    /// Every council with standing in one of this council's federations, or in the
    /// [`Access::audience`] (not itself): the nodes it lets in, and the logs it follows.
    pub fn councils(&self) -> BTreeSet<CouncilId> {
        let mut all: BTreeSet<CouncilId> = self.circles.values().flatten().copied().collect();
        all.extend(self.audience.iter().copied());
        all.remove(&self.own);
        all
    }

    /// Every council this node lets in: [`Access::councils`], and those bound with it by a
    /// federation of federations.
    pub fn admitted(&self) -> BTreeSet<CouncilId> {
        let mut all = self.councils();
        all.extend(self.wide.values().flatten().filter(|c| **c != self.own).copied());
        all
    }

    /// When the earliest invite standing lapses (unix seconds): compute again then.
    pub fn next_change(&self) -> Option<u64> {
        self.next_change
    }
}

/// What [`bound_councils`] found.
struct Walk {
    /// The councils the federation binds: through its members once founded; while its
    /// charter is signed, through the founders whose signature counts.
    bound: BTreeSet<CouncilId>,
    /// While its charter is signed, the founders that have not signed and that no log
    /// here shows (councils, or federations whose councils are unknown here), and the
    /// councils bound by founder federations that have not signed yet: those the
    /// signatories agreed to found it with.
    named: BTreeSet<CouncilId>,
    /// It has a member (or founder) federation known here.
    nested: bool,
    /// A part no log here shows may be a federation: its councils are unknown here.
    unknown: bool,
}

/// The councils a federation binds (PROTOCOL.md §8.1, §12.9): its member councils, and
/// through each member federation, the councils that one binds. While its charter is
/// signed, the founders whose signature counts stand for members, and the others are
/// `named`. A loop in the reports (none is ever valid) is walked once.
fn bound_councils(reports: &BTreeMap<FederationId, &FederationReport>, top: FederationId) -> Walk {
    let mut w = Walk { bound: BTreeSet::new(), named: BTreeSet::new(), nested: false, unknown: false };
    let mut seen = BTreeSet::from([top]);
    // (federation, whether what it binds is bound, or only named)
    let mut todo = vec![(top, true)];
    while let Some((f, binds)) = todo.pop() {
        let Some(r) = reports.get(&f) else { continue };
        let parts: Vec<(CouncilId, bool)> = if r.founded_at.is_some() {
            r.members.iter().filter(|m| m.left_at.is_none()).map(|m| (m.council, binds)).collect()
        } else {
            r.founders.iter().map(|p| (*p, binds && r.signed.contains(p))).collect()
        };
        for (p, counts) in parts {
            if reports.contains_key(&p) {
                w.nested = true;
                if seen.insert(p) {
                    todo.push((p, counts));
                }
            } else if is_federation_part(r, &p) || (r.founded_at.is_none() && !r.signed.contains(&p)) {
                // A member federation no log here shows, or a founder that has not signed
                // and may be one.
                w.unknown = true;
                w.named.insert(p);
            } else if counts {
                w.bound.insert(p);
            } else {
                w.named.insert(p);
            }
        }
    }
    w.named.retain(|c| !w.bound.contains(c));
    w
}

/// Whether a part of a federation is a federation, as far as its report shows (a member
/// or signatory marked as one, §8.1).
fn is_federation_part(report: &FederationReport, part: &CouncilId) -> bool {
    report.members.iter().any(|m| m.council == *part && m.federation)
}
