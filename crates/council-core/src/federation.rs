//! Federations: founding, invites, admission, leaving, federation motions, delegate votes
//! and ratification, computed from the federation events of every council's log; and
//! federations of federations (PROTOCOL.md §8.1), where a federation takes part in a
//! higher one as one member, through the acts its passed motions carry.
//!
//! The result depends only on the set of records, never on the order they arrived in:
//! events are replayed in the order `(time, council id, sequence number)`, where `time`
//! is the time of the log entry that carries the event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::council::{CouncilState, FedEvent, FedEventKind};
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::records::{
    is_split, split_of, Charter, CouncilId, DelegateVoteBody, FederationAct, FederationId, FederationMotion,
    Instruction, InviteProof, Mandate, MemberId, MotionId, Outcome, SplitSource, Weighting, SPLIT_PARTS,
};
use crate::tally::{self, Counts};

/// A federation event that breaks the federation's rules, or depends on records the
/// export does not hold. It is void: it has no effect, and the report lists it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FedError {
    pub council: CouncilId,
    pub seq: u64,
    pub reason: String,
}

/// A member of a federation: a council, or a federation (§8.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberCouncil {
    /// The council's id, or the member federation's.
    pub council: CouncilId,
    pub joined_at: u64,
    pub left_at: Option<u64>,
    pub founder: bool,
    /// The member is a federation, which acts through its passed motions.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub federation: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct InviteReport {
    pub issuer: CouncilId,
    pub key: PublicKey,
    pub max_uses: u32,
    pub uses: u32,
    pub expires_at: u64,
    /// The councils that used it (signed the charter with it), in order.
    pub used_by: Vec<CouncilId>,
}

/// A council waiting for admission, and the member councils that countersigned it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Admission {
    pub council: CouncilId,
    /// The invite key it joined with.
    pub invite_key: PublicKey,
    /// Member councils whose admission counts now.
    pub countersigned_by: Vec<CouncilId>,
    /// How many countersignatures of member councils admit it, with the members now.
    pub needed: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct DelegateVoteReport {
    /// The council whose log holds the ballot.
    pub council: CouncilId,
    /// The member federation the ballot was cast for, under the federation's mandate; `None`
    /// for a council's own ballot.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federation: Option<FederationId>,
    pub seq: u64,
    pub delegate: MemberId,
    pub mandate: MotionId,
    pub choice: u32,
    /// A split vote's parts per option (10000 in all), or `None` for a single choice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub split: Option<Vec<u32>>,
    /// What the vote weighs: 1, or the council's roster size where the charter weighs
    /// councils by members.
    pub weight: u64,
    pub time: u64,
    /// What happened to the ballot at the close.
    pub status: BallotStatus,
    /// The ballot is a split of its council's tally of a motion whose ballots this replay
    /// does not hold (a federation-level copy of the log, PROTOCOL.md §12.9): the split is
    /// taken as the council's node logged it, unchecked. Never so in a full export.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub split_unchecked: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BallotStatus {
    /// Counted (the council's latest ballot, under a mandate never recalled before the close).
    Counted,
    /// Replaced by a later ballot of the same council.
    Replaced,
    /// Struck: the mandate was recalled while the motion was open.
    Struck,
    /// The council (or member federation) left the federation before the close.
    CouncilLeft,
    /// The motion has not closed yet.
    Pending,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FedMotionReport {
    pub id: MotionId,
    pub opened_by: CouncilId,
    pub opened_at: u64,
    pub matter: String,
    pub title: String,
    pub options: Vec<String>,
    pub closes_at: u64,
    /// `None` while open.
    pub outcome: Option<Outcome>,
    /// Single-choice ballots per option (abstain last) and the number of member councils
    /// at the close.
    pub counts: Option<Vec<u64>>,
    /// The tally the outcome is decided on: per option (abstain last), each counted vote's
    /// weight times 10000, split as the vote says (§8).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub weighted: Option<Vec<u64>>,
    pub electorate: Option<u64>,
    pub votes: Vec<DelegateVoteReport>,
    pub ratifications: Vec<(CouncilId, bool)>,
    /// The federation's act the motion carries, and what became of it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub act: Option<ActReport>,
}

/// What became of a federation's act (§8.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ActReport {
    /// [`FederationAct::kind`].
    pub kind: &'static str,
    /// The higher federation it is done in, where the act names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<FederationId>,
    pub status: ActStatus,
    /// When it took effect, or was found void.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<u64>,
    /// Why it is void.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// For an act that needs the councils' ratification: how many accepting councils it
    /// needs, of those bound at the close.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub needed: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActStatus {
    /// The motion is open.
    Open,
    /// The motion did not pass: nothing is done.
    NotPassed,
    /// Passed; waits for enough of the federation's councils to ratify it.
    AwaitingRatification,
    /// Done.
    Done,
    /// Passed, but breaks a rule when it would take effect.
    Void,
}

/// A mandate a federation gave a delegate in a higher federation (§8.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct FedMandateReport {
    /// The federation motion that issued it.
    pub id: MotionId,
    /// The council of the federation whose member is the delegate.
    pub council: CouncilId,
    pub delegate: MemberId,
    /// The higher federation.
    pub federation: FederationId,
    pub expires_at: u64,
    pub issued_at: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recalled_at: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub superseded_at: Option<u64>,
    /// The mandate's instructions, by matter.
    pub instructions: Vec<(String, Instruction)>,
    #[serde(skip)]
    mandate: Mandate,
}

impl FedMandateReport {
    fn in_force_at(&self, t: u64) -> bool {
        self.issued_at <= t
            && t < self.expires_at
            && self.recalled_at.is_none_or(|at| t < at)
            && self.superseded_at.is_none_or(|at| t < at)
    }
    fn recalled_by(&self, t: u64) -> bool {
        self.recalled_at.is_some_and(|at| at <= t)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FederationReport {
    pub id: FederationId,
    pub name: String,
    pub principles: Vec<String>,
    pub rules: crate::records::FederationRules,
    pub founders: Vec<CouncilId>,
    /// While the charter is signed: the founders (councils, or federations by a passed
    /// act, §8.1) whose signature counts so far. Empty once founded.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub signed: Vec<CouncilId>,
    pub founded_at: Option<u64>,
    pub members: Vec<MemberCouncil>,
    /// Councils that signed the charter with a valid invite and wait for admission.
    pub pending: Vec<CouncilId>,
    /// The same councils, with whose countersignatures they have and how many they need.
    pub admissions: Vec<Admission>,
    pub invites: Vec<InviteReport>,
    pub motions: Vec<FedMotionReport>,
    /// The mandates this federation gave its delegates in higher federations.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mandates: Vec<FedMandateReport>,
}

struct FedMotionState {
    report: FedMotionReport,
    motion: FederationMotion,
    /// Index into `report.votes` of each member's latest ballot.
    latest: BTreeMap<Hash, usize>,
    closed: bool,
    /// The members when it closed.
    electorate: BTreeSet<Hash>,
    /// The councils bound by its outcome when it closed: the member councils and the
    /// councils of member federations, at any depth. They ratify it.
    bound: BTreeSet<CouncilId>,
}

struct Fed {
    charter: Charter,
    founded_at: Option<u64>,
    founder_signed: BTreeMap<CouncilId, u64>,
    members: BTreeMap<CouncilId, MemberCouncil>,
    /// Each pending council: when it signed, and the invite key it used.
    pending: BTreeMap<CouncilId, (u64, PublicKey)>,
    admits: HashMap<CouncilId, BTreeSet<CouncilId>>,
    invites: BTreeMap<PublicKey, InviteReport>,
    motions: BTreeMap<MotionId, FedMotionState>,
    motion_order: Vec<MotionId>,
    /// Open motions by closing time.
    open: BTreeSet<(u64, MotionId)>,
    /// Mandates given in higher federations, by the motion that issued them.
    mandates: BTreeMap<MotionId, FedMandateReport>,
    /// The mandate in force for each higher federation, by the motion that issued it.
    current_mandate: BTreeMap<FederationId, MotionId>,
    /// The federations among the members and pending members.
    inner: BTreeSet<FederationId>,
    /// The federations this one is a member (not left) or a pending member of.
    outer: BTreeSet<FederationId>,
}

impl Fed {
    fn new(charter: Charter) -> Fed {
        Fed {
            charter,
            founded_at: None,
            founder_signed: BTreeMap::new(),
            members: BTreeMap::new(),
            pending: BTreeMap::new(),
            admits: HashMap::new(),
            invites: BTreeMap::new(),
            motions: BTreeMap::new(),
            motion_order: Vec::new(),
            open: BTreeSet::new(),
            mandates: BTreeMap::new(),
            current_mandate: BTreeMap::new(),
            inner: BTreeSet::new(),
            outer: BTreeSet::new(),
        }
    }
    fn is_member(&self, c: &CouncilId) -> bool {
        self.members.get(c).is_some_and(|m| m.left_at.is_none())
    }
    fn member_count(&self) -> u64 {
        self.members.values().filter(|m| m.left_at.is_none()).count() as u64
    }
}

/// The federation an event belongs to.
fn federation_of(k: &FedEventKind) -> FederationId {
    match k {
        FedEventKind::SignCharter { id, .. } => *id,
        FedEventKind::Admit { federation, .. }
        | FedEventKind::Leave { federation }
        | FedEventKind::Ratify { federation, .. }
        | FedEventKind::Invite { federation, .. } => *federation,
        FedEventKind::OpenMotion { motion, .. } => motion.federation,
        FedEventKind::DelegateVote { vote, .. } => vote.federation,
    }
}

/// Computes every federation that the councils' logs take part in, and the federation
/// events that are void.
///
/// A federation's motions close once the replay passes their closing time; at the end,
/// once the latest entry of any council that signed the federation's charter is past it
/// (councils outside the federation cannot move its clock). This is what `council verify`
/// reports: it depends on the records alone.
pub fn evaluate(councils: &BTreeMap<CouncilId, CouncilState>) -> (Vec<FederationReport>, Vec<FedError>) {
    evaluate_with(councils, &[], None)
}

/// [`evaluate`] as of `now` as well: a motion whose closing time has passed on this clock
/// is closed even if no council has logged anything since (PROTOCOL.md §8, "as of a
/// clock"). What a node shows; a later record can only add to it what a later export
/// would.
pub fn evaluate_at(councils: &BTreeMap<CouncilId, CouncilState>, now: u64) -> (Vec<FederationReport>, Vec<FedError>) {
    evaluate_with(councils, &[], Some(now))
}

/// [`evaluate`] as if the `extra` events had been logged as well, and as of `now` if
/// given: how a node tells, by the same rules, whether an event it is about to log would
/// be void.
pub fn evaluate_with(
    councils: &BTreeMap<CouncilId, CouncilState>,
    extra: &[FedEvent],
    now: Option<u64>,
) -> (Vec<FederationReport>, Vec<FedError>) {
    let mut events: Vec<&FedEvent> = councils.values().flat_map(|c| c.fed_events()).chain(extra).collect();
    events.sort_by_key(|e| (e.time, e.council, e.seq));
    let mut r = Replay { councils, feds: BTreeMap::new(), errors: Vec::new() };
    for ev in events {
        // Closing lazily, just before the next event of the federation's family, gives the
        // same electorate: only the family's events and acts change its members.
        r.close_due(federation_of(&ev.kind), ev.time);
        if let Err(reason) = r.apply(ev) {
            r.errors.push(FedError { council: ev.council, seq: ev.seq, reason });
        }
    }
    // Each federation's clock: the latest entry of any council that ever signed the
    // charter of a federation of its family, directly or through a member federation.
    let clocks: BTreeMap<FederationId, u64> = r
        .feds
        .keys()
        .map(|id| {
            let signatories: BTreeSet<CouncilId> = r.family(*id).iter().flat_map(|f| r.signatories(*f)).collect();
            let as_of = signatories.iter().filter_map(|c| councils.get(c)).map(CouncilState::time).max();
            (*id, as_of.unwrap_or(0).max(now.unwrap_or(0)))
        })
        .collect();
    // Every motion due by its federation's clock closes, in order of closing time across
    // federations: a lower federation's act takes effect before a later close above it.
    loop {
        let due = r
            .feds
            .iter()
            .filter_map(|(id, f)| f.open.first().filter(|(at, _)| *at < clocks[id]).map(|&(at, m)| (at, *id, m)))
            .min();
        let Some((_, fid, motion)) = due else { break };
        r.close(fid, motion);
    }
    let ids: Vec<FederationId> = r.feds.keys().copied().collect();
    for id in ids {
        r.settled_while_open(id, clocks[&id]);
    }
    let reports = r
        .feds
        .into_iter()
        .map(|(id, f)| {
            let admissions = f
                .pending
                .iter()
                .map(|(c, (_, key))| Admission {
                    council: *c,
                    invite_key: *key,
                    countersigned_by: f
                        .admits
                        .get(c)
                        .map(|s| s.iter().filter(|a| f.is_member(a)).copied().collect())
                        .unwrap_or_default(),
                    needed: (0..=f.member_count())
                        .find(|n| f.charter.rules.admission.met(*n, f.member_count()))
                        .unwrap_or(f.member_count()),
                })
                .collect();
            let mut motions = f.motions;
            FederationReport {
                id,
                name: f.charter.name.clone(),
                principles: f.charter.principles.clone(),
                rules: f.charter.rules.clone(),
                founders: f.charter.founders.clone(),
                signed: if f.founded_at.is_none() { f.founder_signed.keys().copied().collect() } else { Vec::new() },
                founded_at: f.founded_at,
                admissions,
                members: f.members.into_values().collect(),
                pending: f.pending.into_keys().collect(),
                invites: f.invites.into_values().collect(),
                motions: f.motion_order.iter().filter_map(|m| motions.remove(m)).map(|m| m.report).collect(),
                mandates: f.mandates.into_values().collect(),
            }
        })
        .collect();
    (reports, r.errors)
}

/// The replay's state: every federation so far, and the void events.
struct Replay<'a> {
    councils: &'a BTreeMap<CouncilId, CouncilState>,
    feds: BTreeMap<FederationId, Fed>,
    errors: Vec<FedError>,
}

/// Who signs a charter, or countersigns, leaves or opens a motion: a council by council
/// act, or a federation by a passed act (§8.1).
#[derive(Debug, Clone, Copy)]
struct Signer {
    id: Hash,
    federation: bool,
}

impl Replay<'_> {
    /// A federation as a report names it: its charter's name and its id's first digits.
    fn named(&self, id: FederationId) -> String {
        match self.feds.get(&id) {
            Some(f) => format!("{:?} ({})", f.charter.name, id.short()),
            None => id.short(),
        }
    }

    fn founded(&mut self, id: &FederationId) -> Result<&mut Fed, String> {
        match self.feds.get_mut(id) {
            Some(f) if f.founded_at.is_some() => Ok(f),
            _ => Err(format!(
                "federation {} is not founded (its founding charter signatures are not in the export)",
                id.short()
            )),
        }
    }

    /// The federations `id` holds as members or pending members, at any depth, itself
    /// excluded; `id`'s own ancestors never appear, as loops are refused.
    fn contained(&self, id: FederationId) -> BTreeSet<FederationId> {
        let mut seen = BTreeSet::new();
        let mut stack = vec![id];
        while let Some(f) = stack.pop() {
            let Some(fed) = self.feds.get(&f) else { continue };
            for x in &fed.inner {
                if seen.insert(*x) {
                    stack.push(*x);
                }
            }
        }
        seen
    }

    /// The federations connected to `id` by membership or pending membership, either way
    /// and at any depth, `id` included: its **family**, whose motions close together.
    fn family(&self, id: FederationId) -> BTreeSet<FederationId> {
        let mut seen = BTreeSet::from([id]);
        let mut stack = vec![id];
        while let Some(f) = stack.pop() {
            let Some(fed) = self.feds.get(&f) else { continue };
            for x in fed.inner.iter().chain(&fed.outer) {
                if seen.insert(*x) {
                    stack.push(*x);
                }
            }
        }
        seen
    }

    /// The councils bound by `id` now: its member councils, and those of its member
    /// federations at any depth.
    fn bound(&self, id: FederationId) -> BTreeSet<CouncilId> {
        self.councils_through(id, |f| f.members.values().filter(|m| m.left_at.is_none()).map(|m| &m.council))
    }

    /// Every council that ever signed `id`'s charter, directly or through a federation
    /// that signed it: those that move its clock.
    fn signatories(&self, id: FederationId) -> BTreeSet<CouncilId> {
        self.councils_through(id, |f| f.founder_signed.keys().chain(f.members.keys()).chain(f.pending.keys()))
    }

    /// The councils among what `next` names for `id`, and, for each federation it names,
    /// among what `next` names for that one, at any depth.
    fn councils_through<'a, I: Iterator<Item = &'a Hash>>(
        &'a self,
        id: FederationId,
        next: impl Fn(&'a Fed) -> I,
    ) -> BTreeSet<CouncilId> {
        let mut out = BTreeSet::new();
        let mut feds = vec![id];
        let mut seen = BTreeSet::from([id]);
        while let Some(f) = feds.pop() {
            let Some(fed) = self.feds.get(&f) else { continue };
            for c in next(fed) {
                if self.feds.contains_key(c) {
                    if seen.insert(*c) {
                        feds.push(*c);
                    }
                } else {
                    out.insert(*c);
                }
            }
        }
        out
    }

    /// Closes every motion of `id`'s family whose closing time is before `now`, in order
    /// of (closing time, federation id, motion id); the family is taken anew before each.
    fn close_due(&mut self, id: FederationId, now: u64) {
        if !self.feds.contains_key(&id) {
            return;
        }
        while let Some((fid, motion)) = self.first_open(&self.family(id), |at| at < now) {
            self.close(fid, motion);
        }
    }

    /// The first open motion, by (closing time, federation id, motion id), of the
    /// federations `scope` whose closing time `due` accepts.
    fn first_open(
        &self,
        scope: &BTreeSet<FederationId>,
        due: impl Fn(u64) -> bool,
    ) -> Option<(FederationId, MotionId)> {
        scope
            .iter()
            .filter_map(|f| self.feds.get(f).and_then(|fed| fed.open.first()).map(|&(at, m)| (at, *f, m)))
            .filter(|(at, _, _)| due(*at))
            .min()
            .map(|(_, f, m)| (f, m))
    }

    fn apply(&mut self, ev: &FedEvent) -> Result<(), String> {
        let (c, t) = (ev.council, ev.time);
        let council = Signer { id: c, federation: false };
        match &ev.kind {
            FedEventKind::SignCharter { id, charter, invite } => self.sign_charter(council, *id, charter, invite, t),
            FedEventKind::Invite { federation, key, max_uses, expires_at } => {
                let bound = self.bound(*federation);
                let fed = self.founded(federation)?;
                if !bound.contains(&c) {
                    return Err("only a member council, or a council of a member federation, may invite".into());
                }
                if fed.invites.contains_key(key) {
                    return Err("the invite key was already used for another invite".into());
                }
                fed.invites.insert(
                    *key,
                    InviteReport {
                        issuer: c,
                        key: *key,
                        max_uses: *max_uses,
                        uses: 0,
                        expires_at: *expires_at,
                        used_by: Vec::new(),
                    },
                );
                Ok(())
            }
            FedEventKind::Admit { federation, council: joining } => self.admit(council, *federation, *joining, t),
            FedEventKind::Leave { federation } => self.leave(council, *federation, t),
            FedEventKind::OpenMotion { id, motion } => self.open_motion(council, *id, motion, t),
            FedEventKind::DelegateVote { vote, delegate, members } if vote.council == c => {
                self.council_vote(ev, vote, *delegate, *members)
            }
            FedEventKind::DelegateVote { vote, delegate, .. } => self.federation_vote(ev, vote, *delegate),
            FedEventKind::Ratify { federation, motion, accept } => self.ratify(c, *federation, *motion, *accept, t),
        }
    }

    fn sign_charter(
        &mut self,
        signer: Signer,
        fid: FederationId,
        charter: &Charter,
        invite: &Option<InviteProof>,
        t: u64,
    ) -> Result<(), String> {
        let c = signer.id;
        if signer.federation && (fid == c || self.contained(c).contains(&fid)) {
            return Err(format!(
                "federation-loop: federation {} would take part in itself through {}",
                self.named(c),
                self.named(fid)
            ));
        }
        // A founder that is not a council is a federation: it signs by its act, so it is known.
        let founder_feds: BTreeSet<Hash> =
            charter.founders.iter().filter(|f| self.feds.contains_key(f)).copied().collect();
        let fed = self.feds.entry(fid).or_insert_with(|| Fed::new(charter.clone()));
        if fed.members.contains_key(&c) || fed.founder_signed.contains_key(&c) || fed.pending.contains_key(&c) {
            return Err("the council had already signed this charter".into());
        }
        if charter.founders.contains(&c) {
            fed.founder_signed.insert(c, t);
            if fed.founded_at.is_none() && charter.founders.iter().all(|f| fed.founder_signed.contains_key(f)) {
                fed.founded_at = Some(t);
                fed.inner.extend(founder_feds.iter().copied());
                for f in &founder_feds {
                    if let Some(x) = self.feds.get_mut(f) {
                        x.outer.insert(fid);
                    }
                }
                let Some(fed) = self.feds.get_mut(&fid) else { return Ok(()) };
                for f in &charter.founders {
                    let federation = founder_feds.contains(f);
                    fed.members.insert(
                        *f,
                        MemberCouncil { council: *f, joined_at: t, left_at: None, founder: true, federation },
                    );
                }
            }
            return Ok(());
        }
        if fed.founded_at.is_none() {
            return Err(format!("federation {} is not founded yet", fid.short()));
        }
        let Some(proof) = invite else {
            return Err("a council that is not a founder signed without an invite".into());
        };
        let inv =
            fed.invites.get_mut(&proof.invite_key).ok_or("the invite key is not a known invite of this federation")?;
        if inv.issuer != proof.issuer {
            return Err("the invite names the wrong issuing council".into());
        }
        if t > inv.expires_at {
            return Err(format!("the invite expired at {} (used at {t})", inv.expires_at));
        }
        if inv.uses >= inv.max_uses {
            return Err(format!("the invite was already used {} of {} times", inv.uses, inv.max_uses));
        }
        inv.uses += 1;
        inv.used_by.push(c);
        fed.pending.insert(c, (t, proof.invite_key));
        if signer.federation {
            fed.inner.insert(c);
            if let Some(x) = self.feds.get_mut(&c) {
                x.outer.insert(fid);
            }
        }
        Ok(())
    }

    fn admit(&mut self, by: Signer, federation: FederationId, joining: Hash, t: u64) -> Result<(), String> {
        if self.contained(joining).contains(&federation) {
            return Err(format!(
                "federation-loop: federation {} holds {} already",
                self.named(joining),
                self.named(federation)
            ));
        }
        let is_federation = self.feds.contains_key(&joining);
        let fed = self.founded(&federation)?;
        if !fed.is_member(&by.id) {
            return Err("only a member may admit".into());
        }
        if !fed.pending.contains_key(&joining) {
            return Err(format!("council {} has not signed the charter with a valid invite", joining.short()));
        }
        let set = fed.admits.entry(joining).or_default();
        set.insert(by.id);
        let set = set.clone();
        let count = set.iter().filter(|a| fed.is_member(a)).count() as u64;
        if fed.charter.rules.admission.met(count, fed.member_count()) {
            fed.pending.remove(&joining);
            fed.members.insert(
                joining,
                MemberCouncil {
                    council: joining,
                    joined_at: t,
                    left_at: None,
                    founder: false,
                    federation: is_federation,
                },
            );
        }
        Ok(())
    }

    fn leave(&mut self, by: Signer, federation: FederationId, t: u64) -> Result<(), String> {
        let fed = self.feds.get_mut(&federation).ok_or("leaving an unknown federation")?;
        match fed.members.get_mut(&by.id) {
            Some(m) if m.left_at.is_none() => m.left_at = Some(t),
            _ => return Err("not a member".into()),
        }
        fed.inner.remove(&by.id);
        if let Some(x) = self.feds.get_mut(&by.id) {
            x.outer.remove(&federation);
        }
        Ok(())
    }

    fn open_motion(&mut self, by: Signer, id: MotionId, motion: &FederationMotion, t: u64) -> Result<(), String> {
        let fed = self.founded(&motion.federation)?;
        if !fed.is_member(&by.id) {
            return Err("only a member may open a federation motion".into());
        }
        if motion.closes_at <= t {
            return Err(format!("its closing time {} had passed when it opened at {t}", motion.closes_at));
        }
        if fed.motions.contains_key(&id) {
            return Err(format!("federation motion {} was already opened", id.short()));
        }
        let act = motion.act.as_deref().map(|a| ActReport {
            kind: a.kind(),
            target: a.target(),
            status: ActStatus::Open,
            at: None,
            reason: None,
            needed: None,
        });
        fed.motions.insert(
            id,
            FedMotionState {
                report: FedMotionReport {
                    id,
                    opened_by: by.id,
                    opened_at: t,
                    matter: motion.matter.clone(),
                    title: motion.title.clone(),
                    options: motion.options.clone(),
                    closes_at: motion.closes_at,
                    outcome: None,
                    counts: None,
                    weighted: None,
                    electorate: None,
                    votes: Vec::new(),
                    ratifications: Vec::new(),
                    act,
                },
                motion: motion.clone(),
                latest: BTreeMap::new(),
                electorate: BTreeSet::new(),
                bound: BTreeSet::new(),
                closed: false,
            },
        );
        fed.motion_order.push(id);
        fed.open.insert((motion.closes_at, id));
        Ok(())
    }

    /// A council's own delegate's ballot, under the council's mandate.
    fn council_vote(
        &mut self,
        ev: &FedEvent,
        vote: &DelegateVoteBody,
        delegate: MemberId,
        members: u64,
    ) -> Result<(), String> {
        let (c, t) = (ev.council, ev.time);
        let councils = self.councils;
        let fed = self.feds.get_mut(&vote.federation).ok_or("the vote names an unknown federation")?;
        let member = fed.is_member(&c);
        let weighting = fed.charter.rules.weighting;
        let m = open_for_ballots(fed, vote, t)?;
        if !member {
            return Err("the council is not a member of the federation".into());
        }
        let mandate = councils.get(&c).and_then(|s| s.mandate(&vote.mandate)).ok_or("unknown mandate")?;
        let unchecked = check_instruction(&mandate.mandate, &m.motion, vote, |id| {
            let state = councils.get(&c);
            if state.is_some_and(CouncilState::is_partial) {
                return Ok(None);
            }
            if state.and_then(|s| s.motion(&id)).is_none() {
                return Err(format!("the council's motion {} is not in its log", id.short()));
            }
            let closed = state.and_then(|s| s.closed_motion(&id)).filter(|m| m.at <= t);
            let Some(council_motion) = closed else {
                return Err(format!("the council's motion {} had not closed when its delegate voted", id.short()));
            };
            Ok(Some((council_motion.option_count() as usize, council_motion.counts.counts.clone(), "the council's")))
        })?;
        let weight = match weighting {
            Weighting::PerCouncil => 1,
            Weighting::ByMembers => members,
        };
        record_ballot(m, c, ballot_report(ev, vote, delegate, None, weight, unchecked));
        Ok(())
    }

    /// §8.1: a ballot cast from a council's log for a member federation, by the delegate
    /// that federation's mandate names.
    fn federation_vote(&mut self, ev: &FedEvent, vote: &DelegateVoteBody, delegate: MemberId) -> Result<(), String> {
        let (c, t, member) = (ev.council, ev.time, vote.council);
        let lower = self.feds.get(&member).ok_or_else(|| {
            format!("the ballot is cast for {}, which is neither this council nor a known federation", member.short())
        })?;
        let mandate = lower
            .mandates
            .get(&vote.mandate)
            .ok_or_else(|| format!("federation {} issued no mandate {}", member.short(), vote.mandate.short()))?;
        if mandate.council != c || mandate.delegate != delegate {
            return Err(format!(
                "not-the-delegate: mandate {} names a member of council {}, not this member of {}",
                vote.mandate.short(),
                mandate.council.short(),
                c.short()
            ));
        }
        if mandate.federation != vote.federation {
            return Err(format!("mandate {} is for another federation", vote.mandate.short()));
        }
        if !mandate.in_force_at(t) {
            return Err(format!("mandate {} is not in force at {t}", vote.mandate.short()));
        }
        let mandate = mandate.mandate.clone();
        if !self.bound(member).contains(&c) {
            return Err(format!("council {} is no longer bound by federation {}", c.short(), member.short()));
        }
        // The federation's own motion a `split-of` instruction names, if the ballot's
        // motion is known and its instruction is one.
        let matter =
            self.feds.get(&vote.federation).and_then(|f| f.motions.get(&vote.motion)).map(|m| &m.motion.matter);
        let split_source = match matter.map(|m| mandate.instruction_for(m)) {
            Some(Instruction::Split(SplitSource::OfMotion(id))) => match lower.motions.get(&id) {
                Some(m) if m.closed && m.motion.closes_at < t => Ok(Some((
                    m.motion.options.len(),
                    m.report.weighted.clone().unwrap_or_default(),
                    "the federation's",
                ))),
                Some(_) => {
                    Err(format!("the federation's motion {} had not closed when its delegate voted", id.short()))
                }
                None => Err(format!("the federation's motion {} is not in the export", id.short())),
            },
            _ => Err("no split-of instruction".to_owned()),
        };
        let fed = self.feds.get_mut(&vote.federation).ok_or("the vote names an unknown federation")?;
        let is_member = fed.is_member(&member);
        let m = open_for_ballots(fed, vote, t)?;
        if !is_member {
            return Err(format!("federation {} is not a member of the federation", member.short()));
        }
        let unchecked = check_instruction(&mandate, &m.motion, vote, |_| split_source)?;
        record_ballot(m, member, ballot_report(ev, vote, delegate, Some(member), 1, unchecked));
        Ok(())
    }

    fn ratify(
        &mut self,
        c: CouncilId,
        federation: FederationId,
        motion: MotionId,
        accept: bool,
        t: u64,
    ) -> Result<(), String> {
        let fed = self.feds.get_mut(&federation).ok_or("ratifying in an unknown federation")?;
        let m = fed.motions.get_mut(&motion).ok_or("ratifying an unknown federation motion")?;
        if !m.closed {
            return Err("ratifying a federation motion that has not closed".into());
        }
        if !m.bound.contains(&c) {
            return Err(
                "only a council that was a member when the motion closed (or a council of a member federation then) \
                 records a ratification"
                    .into(),
            );
        }
        if m.report.ratifications.iter().any(|(x, _)| *x == c) {
            return Err("the council already ratified or rejected this outcome".into());
        }
        m.report.ratifications.push((c, accept));
        let awaiting = m.report.act.as_ref().is_some_and(|a| a.status == ActStatus::AwaitingRatification);
        if !(accept && awaiting) {
            return Ok(());
        }
        let accepted = m.report.ratifications.iter().filter(|(_, a)| *a).count() as u64;
        if !fed.charter.rules.admission.met(accepted, m.bound.len() as u64) {
            return Ok(());
        }
        let Some(act) = m.motion.act.clone() else { return Ok(()) };
        self.enact(federation, motion, &act, t);
        Ok(())
    }

    /// Carries out a federation's passed act at `t`, and reports it done or void.
    fn enact(&mut self, fid: FederationId, motion: MotionId, act: &FederationAct, t: u64) {
        let by = Signer { id: fid, federation: true };
        let result = match act {
            FederationAct::SignCharter { charter, invite } => self.sign_charter(by, charter.id(), charter, invite, t),
            FederationAct::Admit { federation, member } => self.admit(by, *federation, *member, t),
            FederationAct::Leave(federation) => self.leave(by, *federation, t),
            FederationAct::OpenMotion(m) => {
                self.open_motion(by, FederationMotion::opened_by_act(motion, m.federation), m, t)
            }
            FederationAct::Mandate { council, mandate } => self.give_mandate(fid, motion, *council, mandate, t),
            FederationAct::Recall(id) => match self.feds.get_mut(&fid).and_then(|f| f.mandates.get_mut(id)) {
                Some(st) if st.in_force_at(t) => {
                    st.recalled_at = Some(t);
                    Ok(())
                }
                _ => Err(format!("mandate {} was not in force", id.short())),
            },
        };
        if let Some(report) =
            self.feds.get_mut(&fid).and_then(|f| f.motions.get_mut(&motion)).and_then(|m| m.report.act.as_mut())
        {
            report.at = Some(t);
            match result {
                Ok(()) => report.status = ActStatus::Done,
                Err(reason) => {
                    report.status = ActStatus::Void;
                    report.reason = Some(reason);
                }
            }
        }
    }

    fn give_mandate(
        &mut self,
        fid: FederationId,
        motion: MotionId,
        council: CouncilId,
        mandate: &Mandate,
        t: u64,
    ) -> Result<(), String> {
        if !self.bound(fid).contains(&council) {
            return Err(format!(
                "council {} is not bound by the federation (a member council, or a council of a member federation)",
                council.short()
            ));
        }
        let fed = self.feds.get_mut(&fid).ok_or("unknown federation")?;
        if mandate.expires_at <= t {
            return Err("the mandate expired before it passed".into());
        }
        if let Some(prev) = fed.current_mandate.insert(mandate.federation, motion) {
            if let Some(p) = fed.mandates.get_mut(&prev) {
                if p.in_force_at(t) {
                    p.superseded_at = Some(t);
                }
            }
        }
        fed.mandates.insert(
            motion,
            FedMandateReport {
                id: motion,
                council,
                delegate: mandate.delegate,
                federation: mandate.federation,
                expires_at: mandate.expires_at,
                issued_at: t,
                recalled_at: None,
                superseded_at: None,
                instructions: mandate.instructions.clone(),
                mandate: mandate.clone(),
            },
        );
        Ok(())
    }

    /// Whether the mandate behind a ballot was recalled at or before `t`: the council's
    /// own mandate, or a member federation's.
    fn recalled(&self, v: &DelegateVoteReport, t: u64) -> bool {
        match v.federation {
            Some(f) => self.feds.get(&f).and_then(|f| f.mandates.get(&v.mandate)).is_some_and(|m| m.recalled_by(t)),
            None => {
                self.councils.get(&v.council).and_then(|s| s.mandate(&v.mandate)).is_some_and(|st| st.recalled_by(t))
            }
        }
    }

    /// Whether a ballot cast for a member federation comes from a council that federation
    /// no longer binds (it left): such a ballot no longer counts.
    fn delegate_gone(&self, v: &DelegateVoteReport) -> bool {
        v.federation.is_some_and(|f| !self.bound(f).contains(&v.council))
    }

    /// Marks, on motions still open at `as_of`, the latest ballots whose fate no later
    /// record can change: struck (the mandate was recalled at or before `as_of`, so before
    /// the close) or council-left (a member that left cannot rejoin). The rest stay pending.
    fn settled_while_open(&mut self, fid: FederationId, as_of: u64) {
        let Some(fed) = self.feds.get(&fid) else { return };
        let mut marks = Vec::new();
        for (id, m) in fed.motions.iter().filter(|(_, m)| !m.closed) {
            for (member, &idx) in &m.latest {
                let v = &m.report.votes[idx];
                if !fed.is_member(member) || self.delegate_gone(v) {
                    marks.push((*id, idx, BallotStatus::CouncilLeft));
                } else if self.recalled(v, as_of) {
                    marks.push((*id, idx, BallotStatus::Struck));
                }
            }
        }
        if let Some(fed) = self.feds.get_mut(&fid) {
            for (id, idx, status) in marks {
                if let Some(m) = fed.motions.get_mut(&id) {
                    m.report.votes[idx].status = status;
                }
            }
        }
    }

    /// Closes one motion: counts it, and, if it carries an act and passed, does the act
    /// (or waits for its ratification).
    fn close(&mut self, fid: FederationId, id: MotionId) {
        let open = self.feds.get(&fid).and_then(|f| f.motions.get(&id)).filter(|m| !m.closed);
        let Some(closes_at) = open.map(|m| m.motion.closes_at) else {
            // Nothing to close: drop it from the open set, so that no loop picks it again.
            if let Some(fed) = self.feds.get_mut(&fid) {
                fed.open.retain(|(_, m)| *m != id);
            }
            return;
        };
        // Lower first: every open motion of a federation it contains that closes at the
        // same second or before closes first, so that an act below (a recall, a leave)
        // done at this very second is seen here.
        let inner = self.contained(fid);
        while let Some((f, m)) = self.first_open(&inner, |at| at <= closes_at) {
            self.close(f, m);
        }
        let bound = self.bound(fid);
        let Some(fed) = self.feds.get(&fid) else { return };
        let rule = fed.charter.rules.motion_rule;
        let electorate: BTreeSet<Hash> =
            fed.members.values().filter(|m| m.left_at.is_none()).map(|m| m.council).collect();
        let Some(m) = fed.motions.get(&id) else { return };
        // Each latest ballot: struck (its mandate recalled by the close), and gone (cast
        // for a member federation by a council that federation no longer binds).
        let fates: Vec<(usize, bool, bool)> = m
            .latest
            .values()
            .map(|&idx| {
                let v = &m.report.votes[idx];
                (idx, self.recalled(v, closes_at), self.delegate_gone(v))
            })
            .collect();
        let admission = fed.charter.rules.admission;
        let Some(fed) = self.feds.get_mut(&fid) else { return };
        fed.open.remove(&(closes_at, id));
        let Some(m) = fed.motions.get_mut(&id) else { return };
        m.closed = true;
        m.electorate = electorate.clone();
        m.bound = bound;
        let options = m.motion.options.len();
        let mut counts = Counts::new(options as u32, electorate.len() as u64);
        let mut weighted = Counts::new(options as u32, electorate.len() as u64);
        let mut voters = 0u64;
        let members: Vec<Hash> = m.latest.keys().copied().collect();
        for (member, (idx, recalled, gone)) in members.iter().zip(fates) {
            let v = &mut m.report.votes[idx];
            v.status = if !electorate.contains(member) || gone {
                BallotStatus::CouncilLeft
            } else if recalled {
                BallotStatus::Struck
            } else {
                voters += 1;
                let unit = v.weight * u64::from(SPLIT_PARTS);
                match &v.split {
                    Some(parts) => {
                        for (slot, &p) in weighted.counts.iter_mut().zip(parts) {
                            *slot += v.weight * u64::from(p);
                        }
                    }
                    None => {
                        counts.counts[v.choice as usize] += 1;
                        weighted.counts[v.choice as usize] += unit;
                    }
                }
                BallotStatus::Counted
            };
        }
        // The quorum counts members; the tally weighs their votes.
        let outcome = if rule.quorum.reached(voters, electorate.len() as u64) {
            tally::choice_outcome(&rule, &weighted)
        } else {
            Outcome::NoQuorum
        };
        m.report.outcome = Some(outcome);
        m.report.counts = Some(counts.counts);
        m.report.weighted = Some(weighted.counts);
        m.report.electorate = Some(electorate.len() as u64);
        let Some(act) = m.motion.act.clone() else { return };
        let Some(report) = m.report.act.as_mut() else { return };
        if outcome != Outcome::Chosen(0) {
            report.status = ActStatus::NotPassed;
            return;
        }
        if let FederationAct::SignCharter { .. } = *act {
            // Joining binds the councils: it waits for their ratification (§8.1).
            report.status = ActStatus::AwaitingRatification;
            let total = m.bound.len() as u64;
            report.needed = Some((0..=total).find(|n| admission.met(*n, total)).unwrap_or(total));
            return;
        }
        self.enact(fid, id, &act, closes_at);
    }
}

/// The federation motion a ballot is for, if it still takes ballots at `t`.
fn open_for_ballots<'f>(fed: &'f mut Fed, vote: &DelegateVoteBody, t: u64) -> Result<&'f mut FedMotionState, String> {
    let m = fed
        .motions
        .get_mut(&vote.motion)
        .ok_or_else(|| format!("federation motion {} is not in the export", vote.motion.short()))?;
    if m.closed || t > m.motion.closes_at {
        return Err(format!("federation motion {} closed at {}", vote.motion.short(), m.motion.closes_at));
    }
    Ok(m)
}

/// Checks a ballot against the mandate it is cast under: the scope, the instruction for
/// the motion's matter, and a split's form. `split_source(m)` gives, for the motion `m` a
/// `split-of` instruction names, its option count, its tally per option (abstain last) and
/// whose tally it is.
fn check_instruction(
    mandate: &Mandate,
    motion: &FederationMotion,
    vote: &DelegateVoteBody,
    split_source: impl FnOnce(MotionId) -> Result<Option<(usize, Vec<u64>, &'static str)>, String>,
) -> Result<bool, String> {
    let mut unchecked = false;
    if !mandate.scope.covers(&motion.matter) {
        return Err(format!("the matter {:?} is outside the mandate's scope", motion.matter));
    }
    let options = motion.options.len();
    match (mandate.instruction_for(&motion.matter), &vote.split) {
        (Instruction::Vote(ins), None) if vote.choice != ins => {
            return Err(format!("the mandate instructs choice {ins}, the delegate cast {}", vote.choice));
        }
        (Instruction::Vote(ins), Some(_)) => {
            return Err(format!("the mandate instructs choice {ins}, the delegate cast a split"));
        }
        (Instruction::Split(_), None) => {
            return Err("the mandate instructs the council's split, the delegate cast a single choice".into());
        }
        (Instruction::Split(source), Some(parts)) => {
            let (expected, what) = match source {
                SplitSource::Stated(p) => (p, "the split the mandate states".to_owned()),
                SplitSource::OfMotion(id) => {
                    let Some((count, tally, whose)) = split_source(id)? else {
                        unchecked = true;
                        return check_split_shape(options, vote).map(|()| unchecked);
                    };
                    if count != options {
                        return Err(format!(
                            "motion {} has {count} options, the federation motion {options}",
                            id.short()
                        ));
                    }
                    let p = split_of(&tally[..options])
                        .ok_or_else(|| format!("motion {} closed with no ballot for any option", id.short()))?;
                    (p, format!("{whose} tally of motion {}", id.short()))
                }
            };
            if *parts != expected {
                return Err(format!("the split {parts:?} does not match {what}: {expected:?}"));
            }
        }
        _ => {}
    }
    check_split_shape(options, vote).map(|()| unchecked)
}

/// A split vote has a part for each option, 10000 in all; a single choice is in range.
fn check_split_shape(options: usize, vote: &DelegateVoteBody) -> Result<(), String> {
    if let Some(parts) = &vote.split {
        if vote.choice as usize != options || parts.len() != options || !is_split(parts) {
            return Err(format!(
                "a split vote has choice {options} and a part for each of the {options} options, 10000 in all"
            ));
        }
    } else if vote.choice as usize > options {
        return Err(format!("choice {} is out of range", vote.choice));
    }
    Ok(())
}

/// Records a ballot as its member's latest on the motion.
fn record_ballot(m: &mut FedMotionState, member: Hash, ballot: DelegateVoteReport) {
    let idx = m.report.votes.len();
    m.report.votes.push(ballot);
    if let Some(old) = m.latest.insert(member, idx) {
        m.report.votes[old].status = BallotStatus::Replaced;
    }
}

/// A ballot as the report shows it, pending until its motion closes.
fn ballot_report(
    ev: &FedEvent,
    vote: &DelegateVoteBody,
    delegate: MemberId,
    federation: Option<FederationId>,
    weight: u64,
    split_unchecked: bool,
) -> DelegateVoteReport {
    DelegateVoteReport {
        council: ev.council,
        federation,
        seq: ev.seq,
        delegate,
        mandate: vote.mandate,
        choice: vote.choice,
        split: vote.split.clone(),
        weight,
        time: ev.time,
        status: BallotStatus::Pending,
        split_unchecked,
    }
}
