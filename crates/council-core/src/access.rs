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
//! both. Nothing else: no standing carries over from one federation to another, a
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
        report.invites.iter().any(|i| {
            i.issuer == proof.issuer && i.key == proof.invite_key && i.uses < i.max_uses && now <= i.expires_at
        })
    }

    pub fn compute(i: AccessInputs<'_>) -> Access {
        let mut circles: BTreeMap<FederationId, BTreeSet<CouncilId>> = BTreeMap::new();
        let mut next_change: Option<u64> = None;
        let reports: BTreeMap<FederationId, &FederationReport> = i.reports.iter().map(|r| (r.id, r)).collect();
        let open_claim = |r: &FederationReport, proof: &InviteProof| Access::invite_is_open(r, proof, i.now);
        for (f, report) in &reports {
            let mut circle = BTreeSet::new();
            if report.founded_at.is_some() {
                circle.extend(report.members.iter().filter(|m| m.left_at.is_none()).map(|m| m.council));
                circle.extend(report.pending.iter().copied());
            } else {
                circle.extend(report.founders.iter().copied());
            }
            // A charter this council signed counts only while it is being signed: once
            // founded, what counts is membership (a council that left, or whose
            // signature was void, is out).
            let mine = circle.contains(&i.own)
                || (report.founded_at.is_none() && i.charters.contains_key(f))
                || i.joining.get(f).is_some_and(|p| open_claim(report, p));
            if !mine {
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
                if open_claim(report, p) {
                    circle.insert(p.issuer);
                }
            }
            circle.insert(i.own);
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
        Access { own: i.own, circles, next_change }
    }

    /// The federations this council takes part in (or is founding, or joining).
    pub fn federations(&self) -> impl Iterator<Item = &FederationId> {
        self.circles.keys()
    }

    pub fn circle(&self, federation: &FederationId) -> Option<&BTreeSet<CouncilId>> {
        self.circles.get(federation)
    }

    /// Whether `reader`'s node may read `council`'s log here.
    pub fn may_read(&self, reader: &CouncilId, council: &CouncilId) -> bool {
        reader == council || self.circles.values().any(|c| c.contains(reader) && c.contains(council))
    }

    /// The federations in which `council` has standing here: the gossip topics its node
    /// may use.
    pub fn standing_of<'a>(&'a self, council: &'a CouncilId) -> impl Iterator<Item = &'a FederationId> + 'a {
        self.circles.iter().filter(move |(_, c)| c.contains(council)).map(|(f, _)| f)
    }

    /// Every council with standing in one of this council's federations (not itself):
    /// the logs this node follows, and the nodes it lets in.
    pub fn councils(&self) -> BTreeSet<CouncilId> {
        let mut all: BTreeSet<CouncilId> = self.circles.values().flatten().copied().collect();
        all.remove(&self.own);
        all
    }

    /// When the earliest invite standing lapses (unix seconds): compute again then.
    pub fn next_change(&self) -> Option<u64> {
        self.next_change
    }
}
