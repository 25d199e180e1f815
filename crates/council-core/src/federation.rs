//! Federations: founding, invites, admission, leaving, federation motions, delegate votes
//! and ratification, computed from the federation events of every council's log.
//!
//! The result depends only on the set of records, never on the order they arrived in:
//! events are replayed in the order `(time, council id, sequence number)`, where `time`
//! is the time of the log entry that carries the event.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::council::{CouncilState, FedEvent, FedEventKind};
use crate::keys::PublicKey;
use crate::records::{
    is_split, split_of, Charter, CouncilId, FederationId, FederationMotion, Instruction, MemberId, MotionId, Outcome,
    SplitSource, Weighting, SPLIT_PARTS,
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

#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberCouncil {
    pub council: CouncilId,
    pub joined_at: u64,
    pub left_at: Option<u64>,
    pub founder: bool,
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
    pub council: CouncilId,
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
    /// The council left the federation before the close.
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
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct FederationReport {
    pub id: FederationId,
    pub name: String,
    pub principles: Vec<String>,
    pub rules: crate::records::FederationRules,
    pub founders: Vec<CouncilId>,
    pub founded_at: Option<u64>,
    pub members: Vec<MemberCouncil>,
    /// Councils that signed the charter with a valid invite and wait for admission.
    pub pending: Vec<CouncilId>,
    /// The same councils, with whose countersignatures they have and how many they need.
    pub admissions: Vec<Admission>,
    pub invites: Vec<InviteReport>,
    pub motions: Vec<FedMotionReport>,
}

struct FedMotionState {
    report: FedMotionReport,
    motion: FederationMotion,
    /// Index into `report.votes` of each council's latest ballot.
    latest: BTreeMap<CouncilId, usize>,
    closed: bool,
    /// The member councils when it closed.
    electorate: BTreeSet<CouncilId>,
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
}

impl Fed {
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
    let mut feds: BTreeMap<FederationId, Fed> = BTreeMap::new();
    let mut errors = Vec::new();
    for ev in events {
        // Closing lazily, just before the federation's next event, gives the same
        // electorate: only the federation's own events change its membership.
        if let Some(fed) = feds.get_mut(&federation_of(&ev.kind)) {
            close_due(fed, councils, ev.time);
        }
        if let Err(reason) = apply(&mut feds, councils, ev) {
            errors.push(FedError { council: ev.council, seq: ev.seq, reason });
        }
    }
    for fed in feds.values_mut() {
        let signatories = fed.founder_signed.keys().chain(fed.members.keys()).chain(fed.pending.keys());
        let as_of = signatories.filter_map(|c| councils.get(c)).map(CouncilState::time).max().unwrap_or(0);
        let as_of = as_of.max(now.unwrap_or(0));
        close_due(fed, councils, as_of);
        settled_while_open(fed, councils, as_of);
    }
    let reports = feds
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
                founded_at: f.founded_at,
                admissions,
                members: f.members.into_values().collect(),
                pending: f.pending.into_keys().collect(),
                invites: f.invites.into_values().collect(),
                motions: f.motion_order.iter().filter_map(|m| motions.remove(m)).map(|m| m.report).collect(),
            }
        })
        .collect();
    (reports, errors)
}

fn apply(
    feds: &mut BTreeMap<FederationId, Fed>,
    councils: &BTreeMap<CouncilId, CouncilState>,
    ev: &FedEvent,
) -> Result<(), String> {
    let (c, t) = (ev.council, ev.time);
    let founded = |feds: &mut BTreeMap<FederationId, Fed>, fid: &FederationId| -> Result<(), String> {
        match feds.get(fid) {
            Some(f) if f.founded_at.is_some() => Ok(()),
            _ => Err(format!(
                "federation {} is not founded (its founding charter signatures are not in the export)",
                fid.short()
            )),
        }
    };
    match &ev.kind {
        FedEventKind::SignCharter { id, charter, invite } => {
            let fid = *id;
            let fed = feds.entry(fid).or_insert_with(|| Fed {
                charter: (**charter).clone(),
                founded_at: None,
                founder_signed: BTreeMap::new(),
                members: BTreeMap::new(),
                pending: BTreeMap::new(),
                admits: HashMap::new(),
                invites: BTreeMap::new(),
                motions: BTreeMap::new(),
                motion_order: Vec::new(),
                open: BTreeSet::new(),
            });
            if fed.members.contains_key(&c) || fed.founder_signed.contains_key(&c) || fed.pending.contains_key(&c) {
                return Err("the council had already signed this charter".into());
            }
            if charter.founders.contains(&c) {
                fed.founder_signed.insert(c, t);
                if fed.founded_at.is_none() && charter.founders.iter().all(|f| fed.founder_signed.contains_key(f)) {
                    fed.founded_at = Some(t);
                    for f in &charter.founders {
                        fed.members
                            .insert(*f, MemberCouncil { council: *f, joined_at: t, left_at: None, founder: true });
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
            let inv = fed
                .invites
                .get_mut(&proof.invite_key)
                .ok_or("the invite key is not a known invite of this federation")?;
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
        }
        FedEventKind::Invite { federation, key, max_uses, expires_at } => {
            founded(feds, federation)?;
            let fed = feds.get_mut(federation).ok_or("unknown federation")?;
            if !fed.is_member(&c) {
                return Err("only a member council may invite".into());
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
        }
        FedEventKind::Admit { federation, council } => {
            founded(feds, federation)?;
            let fed = feds.get_mut(federation).ok_or("unknown federation")?;
            if !fed.is_member(&c) {
                return Err("only a member council may admit".into());
            }
            if !fed.pending.contains_key(council) {
                return Err(format!("council {} has not signed the charter with a valid invite", council.short()));
            }
            let set = fed.admits.entry(*council).or_default();
            set.insert(c);
            let set = set.clone();
            let count = set.iter().filter(|a| fed.is_member(a)).count() as u64;
            if fed.charter.rules.admission.met(count, fed.member_count()) {
                fed.pending.remove(council);
                fed.members
                    .insert(*council, MemberCouncil { council: *council, joined_at: t, left_at: None, founder: false });
            }
        }
        FedEventKind::Leave { federation } => {
            let fed = feds.get_mut(federation).ok_or("leaving an unknown federation")?;
            match fed.members.get_mut(&c) {
                Some(m) if m.left_at.is_none() => m.left_at = Some(t),
                _ => return Err("the council is not a member".into()),
            }
        }
        FedEventKind::OpenMotion { id, motion } => {
            founded(feds, &motion.federation)?;
            let fed = feds.get_mut(&motion.federation).ok_or("unknown federation")?;
            if !fed.is_member(&c) {
                return Err("only a member council may open a federation motion".into());
            }
            fed.motions.insert(
                *id,
                FedMotionState {
                    report: FedMotionReport {
                        id: *id,
                        opened_by: c,
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
                    },
                    motion: (**motion).clone(),
                    latest: BTreeMap::new(),
                    electorate: BTreeSet::new(),
                    closed: false,
                },
            );
            fed.motion_order.push(*id);
            fed.open.insert((motion.closes_at, *id));
        }
        FedEventKind::DelegateVote { vote, delegate, members } => {
            let fed = feds.get_mut(&vote.federation).ok_or("the vote names an unknown federation")?;
            let member = fed.is_member(&c);
            let m = fed
                .motions
                .get_mut(&vote.motion)
                .ok_or_else(|| format!("federation motion {} is not in the export", vote.motion.short()))?;
            if m.closed || t > m.motion.closes_at {
                return Err(format!("federation motion {} closed at {}", vote.motion.short(), m.motion.closes_at));
            }
            if !member {
                return Err("the council is not a member of the federation".into());
            }
            let mandate = councils.get(&c).and_then(|s| s.mandate(&vote.mandate)).ok_or("unknown mandate")?;
            if !mandate.mandate.scope.covers(&m.motion.matter) {
                return Err(format!("the matter {:?} is outside the mandate's scope", m.motion.matter));
            }
            let options = m.motion.options.len();
            match (mandate.mandate.instruction_for(&m.motion.matter), &vote.split) {
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
                            let state = councils.get(&c);
                            if state.and_then(|s| s.motion(&id)).is_none() {
                                return Err(format!("the council's motion {} is not in its log", id.short()));
                            }
                            let closed = state.and_then(|s| s.closed_motion(&id)).filter(|m| m.at <= t);
                            let Some(council_motion) = closed else {
                                return Err(format!(
                                    "the council's motion {} had not closed when its delegate voted",
                                    id.short()
                                ));
                            };
                            if council_motion.option_count() as usize != options {
                                return Err(format!(
                                    "the council's motion {} has {} options, the federation motion {options}",
                                    id.short(),
                                    council_motion.option_count()
                                ));
                            }
                            let counts = &council_motion.counts.counts[..options];
                            let p = split_of(counts).ok_or_else(|| {
                                format!("the council's motion {} closed with no ballot for any option", id.short())
                            })?;
                            (p, format!("the council's tally of motion {}", id.short()))
                        }
                    };
                    if *parts != expected {
                        return Err(format!("the split {parts:?} does not match {what}: {expected:?}"));
                    }
                }
                _ => {}
            }
            if let Some(parts) = &vote.split {
                if vote.choice as usize != options || parts.len() != options || !is_split(parts) {
                    return Err(format!(
                        "a split vote has choice {options} and a part for each of the {options} options, 10000 in all"
                    ));
                }
            } else if vote.choice as usize > options {
                return Err(format!("choice {} is out of range", vote.choice));
            }
            let weight = match fed.charter.rules.weighting {
                Weighting::PerCouncil => 1,
                Weighting::ByMembers => *members,
            };
            let idx = m.report.votes.len();
            m.report.votes.push(DelegateVoteReport {
                council: c,
                seq: ev.seq,
                delegate: *delegate,
                mandate: vote.mandate,
                choice: vote.choice,
                split: vote.split.clone(),
                weight,
                time: t,
                status: BallotStatus::Pending,
            });
            if let Some(old) = m.latest.insert(c, idx) {
                m.report.votes[old].status = BallotStatus::Replaced;
            }
        }
        FedEventKind::Ratify { federation, motion, accept } => {
            let fed = feds.get_mut(federation).ok_or("ratifying in an unknown federation")?;
            let m = fed.motions.get_mut(motion).ok_or("ratifying an unknown federation motion")?;
            if !m.closed {
                return Err("ratifying a federation motion that has not closed".into());
            }
            if !m.electorate.contains(&c) {
                return Err("only a council that was a member when the motion closed records a ratification".into());
            }
            if m.report.ratifications.iter().any(|(x, _)| *x == c) {
                return Err("the council already ratified or rejected this outcome".into());
            }
            m.report.ratifications.push((c, *accept));
        }
    }
    Ok(())
}

/// Marks, on motions still open at `as_of`, the latest ballots whose fate no later record
/// can change: struck (the mandate was recalled at or before `as_of`, so before the close)
/// or council-left (a council that left cannot rejoin). The rest stay pending.
fn settled_while_open(fed: &mut Fed, councils: &BTreeMap<CouncilId, CouncilState>, as_of: u64) {
    let members: BTreeSet<CouncilId> =
        fed.members.values().filter(|m| m.left_at.is_none()).map(|m| m.council).collect();
    for m in fed.motions.values_mut().filter(|m| !m.closed) {
        for (council, &idx) in &m.latest {
            let v = &mut m.report.votes[idx];
            let recalled =
                councils.get(council).and_then(|s| s.mandate(&v.mandate)).is_some_and(|st| st.recalled_by(as_of));
            if !members.contains(council) {
                v.status = BallotStatus::CouncilLeft;
            } else if recalled {
                v.status = BallotStatus::Struck;
            }
        }
    }
}

/// Closes every motion whose closing time is before `now`.
fn close_due(fed: &mut Fed, councils: &BTreeMap<CouncilId, CouncilState>, now: u64) {
    let rule = fed.charter.rules.motion_rule;
    while let Some(&(closes_at, id)) = fed.open.first() {
        if closes_at >= now {
            break;
        }
        fed.open.pop_first();
        let electorate: BTreeSet<CouncilId> =
            fed.members.values().filter(|m| m.left_at.is_none()).map(|m| m.council).collect();
        let Some(m) = fed.motions.get_mut(&id) else { continue };
        m.closed = true;
        m.electorate = electorate.clone();
        let options = m.motion.options.len();
        let mut counts = Counts::new(options as u32, electorate.len() as u64);
        let mut weighted = Counts::new(options as u32, electorate.len() as u64);
        let mut voters = 0u64;
        for (council, &idx) in &m.latest {
            let v = &mut m.report.votes[idx];
            let recalled = councils
                .get(council)
                .and_then(|s| s.mandate(&v.mandate))
                .is_some_and(|st| st.recalled_by(m.motion.closes_at));
            v.status = if !electorate.contains(council) {
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
        // The quorum counts councils; the tally weighs their votes.
        m.report.outcome = Some(if rule.quorum.reached(voters, electorate.len() as u64) {
            tally::choice_outcome(&rule, &weighted)
        } else {
            Outcome::NoQuorum
        });
        m.report.counts = Some(counts.counts);
        m.report.weighted = Some(weighted.counts);
        m.report.electorate = Some(electorate.len() as u64);
    }
}
