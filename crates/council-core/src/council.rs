//! A council's log, replayed entry by entry: the single set of validation rules that the
//! daemon and `council verify` both use.
//!
//! [`CouncilState::new`] accepts a verified genesis and [`CouncilState::apply`] accepts
//! verified entries in log order. Each entry is checked against the state the log had
//! reached just before it (the roster at that point, the open motions, the mandates in
//! force) and either changes that state or is rejected with a [`RecordError`] that says
//! why. A rejected entry changes nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use thiserror::Error;

use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::records::{
    limits, Action, Charter, CouncilId, CouncilRules, DelegateVoteBody, DeviceBody, DeviceChange, Entry, FederationAct,
    FederationId, FederationMotion, Genesis, GenesisBody, InviteBody, InviteProof, Mandate, MemberId, MotionBody,
    MotionForm, MotionId, NameBody, Openers, Outcome, Payload, PetitionBody, RankingBody, Rule, Signed, VoteBody,
    Weighting,
};
use crate::tally::{self, Counts, Form};
use crate::verify::Verified;

mod snapshot;
pub use snapshot::SnapshotError;

/// Why a record was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum RecordError {
    #[error("invalid genesis: {0}")]
    Genesis(&'static str),
    #[error("entry belongs to council {found}, not {expected}")]
    WrongCouncil { expected: CouncilId, found: CouncilId },
    #[error("expected sequence number {expected}, found {found}")]
    OutOfSequence { expected: u64, found: u64 },
    #[error("hash link broken: previous entry is {expected}, entry names {found}")]
    BrokenLink { expected: Hash, found: Hash },
    #[error("time {time} is before the previous entry's time {previous}")]
    TimeWentBack { time: u64, previous: u64 },
    #[error("signed by {found}, but the council's node key is {expected}")]
    WrongNodeKey { expected: String, found: String },
    #[error("the {kind} names council {found}, not this council")]
    ForeignRecord { kind: &'static str, found: CouncilId },
    #[error("{key} is not on the roster at this point")]
    NotAMember { key: String },
    #[error("{key} may not open motions under the council's rules")]
    MayNotOpen { key: String },
    #[error("invalid motion: {0}")]
    InvalidMotion(&'static str),
    #[error("motion {0} was already opened")]
    DuplicateMotion(MotionId),
    #[error("unknown motion {0}")]
    UnknownMotion(MotionId),
    #[error("motion {motion} is closed")]
    MotionClosed { motion: MotionId },
    #[error("motion {motion} closed at {closes_at}; entry time is {time}")]
    PastClosingTime { motion: MotionId, closes_at: u64, time: u64 },
    #[error("{key} was not on the roster when motion {motion} opened")]
    NotInElectorate { key: String, motion: MotionId },
    #[error("choice {choice} is out of range (options: {options}, abstain: {options})")]
    BadChoice { choice: u32, options: u32 },
    #[error("counter {found} does not exceed the member's previous counter {previous} (a replayed or stale ballot)")]
    StaleCounter { previous: u64, found: u64 },
    #[error("the member's ballot on motion {motion} is final and cannot be changed")]
    BallotFinal { motion: MotionId },
    #[error("motion {motion} takes a ranking of its options, not a single choice")]
    RankingExpected { motion: MotionId },
    #[error("motion {motion} takes a single choice, not a ranking")]
    ChoiceExpected { motion: MotionId },
    #[error("the ranking lists option {option} twice")]
    RankingRepeats { option: u32 },
    #[error("the ranking leaves out option {option}: rank every option, or none to abstain")]
    RankingOmits { option: u32 },
    #[error("motion {motion} closed early at {time} before {closes_at}, but its outcome was not yet settled")]
    ClosedTooEarly { motion: MotionId, time: u64, closes_at: u64 },
    #[error("close states {stated:?}, but the ballots give {computed:?}")]
    WrongOutcome { stated: Outcome, computed: Outcome },
    #[error("unknown mandate {0}")]
    UnknownMandate(MotionId),
    #[error("federation {0} would take part in itself: a federation of federations has no loops")]
    FederationLoop(FederationId),
    #[error("mandate {mandate} is not in force at time {time}")]
    MandateNotInForce { mandate: MotionId, time: u64 },
    #[error("{key} already signed the petition against mandate {mandate}")]
    AlreadySigned { key: String, mandate: MotionId },
    #[error("signed by {found}, but the delegate of mandate {mandate} is {expected}")]
    NotTheDelegate { mandate: MotionId, expected: String, found: String },
    #[error("mandate {mandate} is for federation {expected}, not {found}")]
    WrongFederation { mandate: MotionId, expected: FederationId, found: FederationId },
    #[error("invalid invite: {0}")]
    InvalidInvite(&'static str),
    #[error("a member's name may not be blank")]
    BlankName,
    #[error("invalid amendment of the rules: {0}")]
    InvalidAmendment(&'static str),
    #[error("a split vote's parts must add up to 10000")]
    BadSplit,
    #[error("{key} is, or was, a key of this council: a device key must be new")]
    DeviceKeyTaken { key: String },
    #[error("a member may hold at most {limit} device keys under the council's rules")]
    TooManyDevices { limit: u32 },
    #[error("the council's rules add devices by council act only (`add-device`)")]
    DevicesByAct,
    #[error("{key} is not a device key of the member")]
    NotOwnDevice { key: String },
    #[error("a member's last device key cannot be removed (a council act can replace it: `rotate-key`)")]
    LastDevice,
    #[error("signed by a key of member {signer_member}, but the record is for member {member}")]
    WrongMember { member: String, signer_member: String },
    #[error("a federation-level copy of a log holds no {kind} (PROTOCOL.md §12.9)")]
    NotFederationLevel { kind: &'static str },
    #[error("a close may state {stated:?} only on a motion of another form")]
    ImpossibleOutcome { stated: Outcome },
}

/// What a passed act did. An act that was valid when its motion opened can become void by
/// the time it passes (the key was taken meanwhile, the mandate was already recalled…).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "effect", content = "reason", rename_all = "kebab-case")]
pub enum Effect {
    None,
    Applied,
    Void(String),
}

/// A motion's status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MotionStatus {
    Open,
    Closed { outcome: Outcome, at: u64, early: bool, effect: Effect },
}

/// What the council knows about one open motion.
#[derive(Debug, Clone)]
pub struct MotionState {
    pub id: MotionId,
    pub body: MotionBody,
    pub opener: MemberId,
    /// The key that signed the motion (one of the opener's keys then).
    pub opened_by: PublicKey,
    pub opened_at: u64,
    pub opened_seq: u64,
    /// Its place among the council's motions, counted from 0 in log order.
    pub position: u64,
    pub counts: Counts,
    /// The counts of final ballots alone: the part of `counts` that can no longer change.
    pub fixed: Counts,
    /// Ballots received, including changed ones.
    pub ballots_received: u64,
    /// Ballots that replaced an earlier ballot by the same member.
    pub ballots_changed: u64,
    latest: BallotBox,
    /// On a ranked motion, each member's latest ranking (by voter number, as `latest`);
    /// `latest` holds its first preference.
    rankings: HashMap<u32, Vec<u32>>,
}

/// A closed motion: what its report and the rules still need once it has closed, without
/// its ballots or its act (which took effect, or not, at the close). A council's closed
/// motions only ever grow in number, so this is kept small (docs/BENCHMARKS.md, B7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedMotion {
    pub id: MotionId,
    pub title: String,
    /// `choice`, `ranked`, or the kind of its act ([`Action::kind`]).
    pub kind: &'static str,
    /// The options of a choice or ranked motion; empty on a yes/no motion.
    options: Vec<String>,
    pub rule: Rule,
    pub opened_at: u64,
    pub opened_seq: u64,
    /// Its place among the council's motions, counted from 0 in log order.
    pub position: u64,
    pub closes_at: u64,
    pub outcome: Outcome,
    /// The time of the entry that closed it.
    pub at: u64,
    pub early: bool,
    pub effect: Effect,
    /// The latest ballots per option at the close, abstain last (on a ranked motion, first
    /// preferences).
    pub counts: Counts,
    /// On a ranked motion, the pairwise preferences it was decided on; else empty.
    pub pairwise: Vec<Vec<u64>>,
    pub ballots_received: u64,
    pub ballots_changed: u64,
}

impl ClosedMotion {
    pub fn form(&self) -> Form {
        match self.kind {
            "choice" => Form::Choice,
            "ranked" => Form::Ranked,
            _ => Form::YesNo,
        }
    }
    /// The options, without the trailing implicit "abstain".
    pub fn options(&self) -> Vec<String> {
        match self.form() {
            Form::YesNo => vec!["yes".into(), "no".into()],
            Form::Choice | Form::Ranked => self.options.clone(),
        }
    }
    pub fn option_count(&self) -> u32 {
        self.counts.options() as u32
    }
}

/// A motion, open or closed.
#[derive(Debug, Clone, Copy)]
pub enum MotionRef<'a> {
    Open(&'a MotionState),
    Closed(&'a ClosedMotion),
}

impl MotionRef<'_> {
    pub fn id(&self) -> MotionId {
        match self {
            MotionRef::Open(m) => m.id,
            MotionRef::Closed(m) => m.id,
        }
    }
    pub fn is_open(&self) -> bool {
        matches!(self, MotionRef::Open(_))
    }
    pub fn position(&self) -> u64 {
        match self {
            MotionRef::Open(m) => m.position,
            MotionRef::Closed(m) => m.position,
        }
    }
    /// The latest ballots per option, abstain last (at the close, once closed).
    pub fn counts(&self) -> &Counts {
        match self {
            MotionRef::Open(m) => &m.counts,
            MotionRef::Closed(m) => &m.counts,
        }
    }
    pub fn status(&self) -> MotionStatus {
        match self {
            MotionRef::Open(_) => MotionStatus::Open,
            MotionRef::Closed(m) => {
                MotionStatus::Closed { outcome: m.outcome, at: m.at, early: m.early, effect: m.effect.clone() }
            }
        }
    }
}

/// A member's latest ballot on one motion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Ballot {
    pub choice: u32,
    pub counter: u64,
    #[serde(rename = "final")]
    pub is_final: bool,
}

/// The members whose ballots a box has held, each by a small number: a box holds that
/// number instead of the 32-byte member id. Numbers are given in the order of members'
/// first counted ballots in the log, so the same log gives the same numbers, and they
/// are never reused.
#[derive(Debug, Clone, Default)]
pub(crate) struct Voters {
    /// Member ids' bytes, by number.
    ids: Vec<[u8; 32]>,
    index: HashMap<[u8; 32], u32>,
}

impl Voters {
    /// The number of the member whose id's bytes are `member`, given now if they have none.
    pub(crate) fn intern(&mut self, member: &[u8; 32]) -> u32 {
        if let Some(&i) = self.index.get(member) {
            return i;
        }
        let i = self.next();
        self.ids.push(*member);
        self.index.insert(*member, i);
        i
    }
    pub(crate) fn get(&self, member: &MemberId) -> Option<u32> {
        self.index.get(member.as_bytes()).copied()
    }
    /// The member's number, or the one [`Voters::intern`] would give them next.
    pub(crate) fn number_for(&self, member: &MemberId) -> u32 {
        self.get(member).unwrap_or_else(|| self.next())
    }
    fn next(&self) -> u32 {
        u32::try_from(self.ids.len()).expect("fewer than 2^32 members")
    }
    /// Every member's id bytes, by number.
    pub(crate) fn ids(&self) -> &[[u8; 32]] {
        &self.ids
    }
}

/// One member's latest ballot in a box: 16 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slot {
    voter: u32,
    /// The choice, with the top bit set for a final ballot (choices are below 2^31).
    choice: u32,
    counter: u64,
}

const FINAL: u32 = 1 << 31;

impl Slot {
    fn new(voter: u32, ballot: Ballot) -> Slot {
        debug_assert!(ballot.choice < FINAL, "choices are below 2^31 (limits::MAX_OPTIONS)");
        Slot { voter, choice: ballot.choice | if ballot.is_final { FINAL } else { 0 }, counter: ballot.counter }
    }
    fn ballot(&self) -> Ballot {
        Ballot { choice: self.choice & !FINAL, counter: self.counter, is_final: self.choice & FINAL != 0 }
    }
}

/// Each member's latest ballot on one open motion, by voter number ([`Voters`]), sorted.
/// There is one for each open motion, with a slot for each member who voted on it, so it
/// is kept dense: 16 bytes a member, where a hash map by member id took about 100
/// (docs/BENCHMARKS.md, B5). Finding a member's slot is a binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BallotBox(Vec<Slot>);

impl BallotBox {
    pub(crate) fn get(&self, voter: u32) -> Option<Ballot> {
        self.0.binary_search_by_key(&voter, |s| s.voter).ok().map(|i| self.0[i].ballot())
    }
    /// Puts `ballot` in `voter`'s slot, replacing what was there.
    pub(crate) fn insert(&mut self, voter: u32, ballot: Ballot) {
        let slot = Slot::new(voter, ballot);
        match self.0.binary_search_by_key(&voter, |s| s.voter) {
            Ok(i) => self.0[i] = slot,
            Err(i) => self.0.insert(i, slot),
        }
    }
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    /// The slots, by voter number in ascending order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (u32, Ballot)> + '_ {
        self.0.iter().map(|s| (s.voter, s.ballot()))
    }
    pub(crate) fn values(&self) -> impl Iterator<Item = Ballot> + '_ {
        self.0.iter().map(Slot::ballot)
    }
}

/// Slots in any order; of two for one voter, the later one stands (as a map's insert).
impl FromIterator<(u32, Ballot)> for BallotBox {
    fn from_iter<I: IntoIterator<Item = (u32, Ballot)>>(iter: I) -> Self {
        let mut v: Vec<(u32, Ballot)> = iter.into_iter().collect();
        // A stable sort keeps each voter's slots in the order given; the last one stays.
        v.sort_by_key(|(voter, _)| *voter);
        let mut slots: Vec<Slot> = Vec::with_capacity(v.len());
        for (voter, ballot) in v {
            if slots.last().is_some_and(|last| last.voter == voter) {
                slots.pop();
            }
            slots.push(Slot::new(voter, ballot));
        }
        slots.shrink_to_fit();
        BallotBox(slots)
    }
}

impl MotionState {
    pub fn form(&self) -> Form {
        match self.body.form {
            MotionForm::YesNo(_) => Form::YesNo,
            MotionForm::Choice(_) => Form::Choice,
            MotionForm::Ranked(_) => Form::Ranked,
        }
    }
    pub fn voters(&self) -> u64 {
        self.latest.len() as u64
    }
    /// The ballots that can still come or change (§7 of PROTOCOL.md), while the motion
    /// is open.
    pub fn open_ballots(&self) -> tally::Open {
        let finals = self.fixed.cast();
        tally::Open {
            at_least: self.voters().saturating_sub(finals),
            at_most: self.counts.electorate.saturating_sub(finals),
        }
    }
    /// The outcome if the motion may close now, before its closing time.
    pub fn settled(&self) -> Option<Outcome> {
        if self.form() != Form::Ranked {
            return tally::settled(self.form(), &self.body.rule, &self.fixed, self.open_ballots());
        }
        let finals = self.latest.iter().filter(|(_, b)| b.is_final).filter_map(|(v, _)| self.rankings.get(&v));
        let d = tally::pairwise(self.body.form.option_count() as usize, finals.map(Vec::as_slice));
        tally::ranked_settled(&self.body.rule, &self.fixed, &d, self.open_ballots(), &self.id)
    }
    /// The outcome of the latest ballots, as the motion closes at its closing time.
    pub fn outcome(&self) -> Outcome {
        if self.form() != Form::Ranked {
            return tally::outcome(self.form(), &self.body.rule, &self.counts);
        }
        tally::ranked_outcome(&self.body.rule, &self.counts, &self.pairwise(), &self.id)
    }
    /// On a ranked motion, the pairwise preferences of the latest rankings (`d[i][j]`:
    /// how many rank option `i` above `j`).
    pub fn pairwise(&self) -> Vec<Vec<u64>> {
        tally::pairwise(self.body.form.option_count() as usize, self.rankings.values().map(Vec::as_slice))
    }
}

/// How a mandate ended, if it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RecallKind {
    Motion,
    Petition,
}

/// A mandate the council issued.
#[derive(Debug, Clone)]
pub struct MandateState {
    pub id: MotionId,
    pub mandate: Mandate,
    pub issued_at: u64,
    pub recalled: Option<(u64, RecallKind, MotionId)>,
    pub superseded_at: Option<u64>,
    pub petition: BTreeSet<MemberId>,
}

impl MandateState {
    /// In force at `t`: issued, not expired, not recalled, not superseded.
    pub fn in_force_at(&self, t: u64) -> bool {
        self.issued_at <= t
            && t < self.mandate.expires_at
            && self.recalled.is_none_or(|(at, _, _)| t < at)
            && self.superseded_at.is_none_or(|at| t < at)
    }
    /// Recalled at or before `t`.
    pub fn recalled_by(&self, t: u64) -> bool {
        self.recalled.is_some_and(|(at, _, _)| at <= t)
    }
}

/// A federation-level event from this council's log, for [`crate::federation`].
#[derive(Debug, Clone)]
pub struct FedEvent {
    pub time: u64,
    pub council: CouncilId,
    pub seq: u64,
    pub kind: FedEventKind,
}

#[derive(Debug, Clone)]
pub enum FedEventKind {
    /// `id` is the charter's id ([`Charter::id`]), computed once when the event is applied.
    SignCharter {
        id: FederationId,
        charter: Box<Charter>,
        invite: Option<InviteProof>,
    },
    Admit {
        federation: FederationId,
        council: CouncilId,
    },
    Leave {
        federation: FederationId,
    },
    OpenMotion {
        id: MotionId,
        motion: Box<FederationMotion>,
    },
    Ratify {
        federation: FederationId,
        motion: MotionId,
        accept: bool,
    },
    Invite {
        federation: FederationId,
        key: PublicKey,
        max_uses: u32,
        expires_at: u64,
    },
    DelegateVote {
        vote: DelegateVoteBody,
        delegate: MemberId,
        /// The council's roster size at this entry: the vote's weight where the charter
        /// weighs councils by members.
        members: u64,
    },
}

/// An amendment of the council's rules: the entry that enacted it and the rules since.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RuleChange {
    /// The `close` entry that passed the amendment: its rules apply from the next entry.
    pub seq: u64,
    pub time: u64,
    /// The motion that carried it.
    pub motion: MotionId,
    pub rules: CouncilRules,
}

/// Counts of what was checked.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Stats {
    pub entries: u64,
    pub motions: u64,
    pub ballots: u64,
    pub ballots_changed: u64,
    pub petition_signatures: u64,
    pub delegate_votes: u64,
    pub roster_changes: u64,
    /// Device keys added or removed, by members' records or by `add-device` acts.
    pub device_changes: u64,
    /// Amendments of the council's rules.
    pub rule_changes: u64,
}

/// The state of one council's log after some prefix of it.
#[derive(Debug, Clone)]
pub struct CouncilState {
    id: CouncilId,
    genesis: GenesisBody,
    node_key: PublicKey,
    /// `(first seq, key)`: which key signs which part of the log.
    node_keys: Vec<(u64, PublicKey)>,
    seq: u64,
    head: Hash,
    time: u64,
    /// Each member's current device keys, oldest first (never empty).
    roster: BTreeMap<MemberId, Vec<PublicKey>>,
    /// The sequence number of the entry that added each member (0 for founders). A
    /// motion's electorate is the members on the roster that joined before it opened.
    joined: HashMap<MemberId, u64>,
    by_key: HashMap<PublicKey, MemberId>,
    used_keys: HashSet<PublicKey>,
    /// The open motions.
    motions: HashMap<MotionId, MotionState>,
    /// The numbers their ballot boxes know members by.
    voters: Voters,
    /// The closed motions, by id (ordered, for lookups by a prefix of the id).
    closed: BTreeMap<MotionId, ClosedMotion>,
    /// Every motion's id, in log order.
    motion_order: Vec<MotionId>,
    mandates: HashMap<MotionId, MandateState>,
    mandate_order: Vec<MotionId>,
    current_mandate: HashMap<FederationId, MotionId>,
    delegate_counters: HashMap<MotionId, u64>,
    /// The latest counter of ballots cast from this log for a member federation (§6.8),
    /// by SHA-256(federation motion ‖ federation ‖ member id).
    federation_vote_counters: HashMap<Hash, u64>,
    fed_events: Vec<FedEvent>,
    /// The name each member goes by (their latest `name` record), by member id.
    names: BTreeMap<MemberId, String>,
    /// The rules in force now: the genesis rules, as amended since.
    rules: CouncilRules,
    /// Each amendment of the rules, in log order.
    rule_changes: Vec<RuleChange>,
    stats: Stats,
    /// `(seq, id)` of the latest entries, newest last.
    recent: std::collections::VecDeque<(u64, Hash)>,
    /// A federation-level copy (PROTOCOL.md §12.9): the log's federation-level entries
    /// only, each checked by its node signature; closes are taken as the node states
    /// them, since the ballots are not here.
    partial: bool,
}

/// How many recent entry ids a council state remembers (see [`CouncilState::holds`]).
pub const RECENT_IDS: usize = 1024;

/// Checks the parts of a genesis that signatures do not cover.
pub fn check_genesis(g: &GenesisBody) -> Result<(), RecordError> {
    if g.name.trim().is_empty() {
        return Err(RecordError::Genesis("the council has no name"));
    }
    if g.founders.is_empty() {
        return Err(RecordError::Genesis("no founding members"));
    }
    let unique: HashSet<_> = g.founders.iter().collect();
    if unique.len() != g.founders.len() {
        return Err(RecordError::Genesis("a founding member is listed twice"));
    }
    if !g.rules.is_valid() {
        return Err(RecordError::Genesis("the rules hold an invalid share"));
    }
    if let Openers::Listed(l) = &g.rules.openers {
        if l.is_empty() || l.iter().any(|k| !unique.contains(k)) {
            return Err(RecordError::Genesis("listed openers must be founding members"));
        }
    }
    Ok(())
}

/// Whether a motion of this form enacts something (PROTOCOL.md §12.9): a yes/no motion
/// whose action is not a resolution.
fn enacts(form: &MotionForm) -> bool {
    matches!(form, MotionForm::YesNo(a) if !matches!(a, Action::Resolution))
}

/// Whether an entry with this payload is never federation-level, whatever the log
/// (PROTOCOL.md §12.9): a ballot, a name, or a motion that enacts nothing. (A close is
/// federation-level when its motion is, which only the log can tell:
/// [`CouncilState::is_federation_level`].)
pub fn never_federation_level(payload: &Payload) -> bool {
    match payload {
        Payload::Vote(_) | Payload::Ranking(_) | Payload::Name(_) => true,
        Payload::Motion(m) => !enacts(&m.body.form),
        _ => false,
    }
}

impl CouncilState {
    /// Starts a council from its genesis.
    pub fn new(genesis: Verified<Genesis>) -> Result<Self, RecordError> {
        let g = genesis.into_inner();
        check_genesis(&g.body)?;
        let id = g.council_id();
        let roster: BTreeMap<_, _> = g.body.founders.iter().map(|k| (*k, vec![*k])).collect();
        Ok(CouncilState {
            id,
            node_key: g.body.node_key,
            node_keys: vec![(1, g.body.node_key)],
            seq: 0,
            head: id,
            time: g.body.created_at,
            by_key: roster.keys().map(|m| (*m, *m)).collect(),
            joined: roster.keys().map(|m| (*m, 0)).collect(),
            used_keys: roster.keys().copied().collect(),
            roster,
            rules: g.body.rules.clone(),
            rule_changes: Vec::new(),
            genesis: g.body,
            motions: HashMap::new(),
            voters: Voters::default(),
            closed: BTreeMap::new(),
            motion_order: Vec::new(),
            mandates: HashMap::new(),
            mandate_order: Vec::new(),
            current_mandate: HashMap::new(),
            delegate_counters: HashMap::new(),
            federation_vote_counters: HashMap::new(),
            fed_events: Vec::new(),
            names: BTreeMap::new(),
            stats: Stats::default(),
            recent: std::collections::VecDeque::new(),
            partial: false,
        })
    }

    /// Starts a federation-level copy of a council's log (PROTOCOL.md §12.9): it takes the
    /// log's federation-level entries alone, with gaps between them, and refuses ballots
    /// and names.
    pub fn new_partial(genesis: Verified<Genesis>) -> Result<Self, RecordError> {
        let mut s = Self::new(genesis)?;
        s.partial = true;
        Ok(s)
    }

    /// Whether this is a federation-level copy ([`CouncilState::new_partial`]).
    pub fn is_partial(&self) -> bool {
        self.partial
    }

    /// Whether an entry of this log is federation-level (PROTOCOL.md §12.9): anything but
    /// a ballot, a name, and a motion that enacts nothing (a resolution, a choice, a
    /// ranking) with its close. Judged against this state, which must hold the entry's
    /// motion if it is a close (a close of a motion it does not hold is not).
    pub fn is_federation_level(&self, payload: &Payload) -> bool {
        match payload {
            Payload::Close { motion, .. } => match self.motion(motion) {
                Some(MotionRef::Open(m)) => enacts(&m.body.form),
                Some(MotionRef::Closed(m)) => !matches!(m.kind, "choice" | "ranked" | "resolution"),
                None => false,
            },
            other => !never_federation_level(other),
        }
    }

    pub fn id(&self) -> CouncilId {
        self.id
    }
    pub fn genesis(&self) -> &GenesisBody {
        &self.genesis
    }
    pub fn rules(&self) -> &CouncilRules {
        &self.rules
    }
    pub fn node_key(&self) -> PublicKey {
        self.node_key
    }
    /// The node key that was to sign the entry at `seq`, as far as the log is known.
    pub fn node_key_at(&self, seq: u64) -> Option<PublicKey> {
        // A federation-level copy holds every act that changes the node key, so the key in
        // force at its end signs every later place.
        if seq == 0 || (seq > self.seq + 1 && !self.partial) {
            return None;
        }
        self.node_keys.iter().rev().find(|(from, _)| *from <= seq).map(|(_, k)| *k)
    }
    /// Whether the entry at `seq` has this id. The state remembers the ids of its most
    /// recent entries only ([`RECENT_IDS`]); for older places it answers `true`, so an
    /// old conflicting entry is treated as a duplicate (the network's sync and the
    /// verifier still catch forks by their hash links).
    pub fn holds(&self, seq: u64, id: &Hash) -> bool {
        match self.recent.iter().find(|(s, _)| *s == seq) {
            Some((_, h)) => h == id,
            None => true,
        }
    }

    /// The sequence number of the last accepted entry (0 before the first).
    pub fn seq(&self) -> u64 {
        self.seq
    }
    /// The id of the last accepted entry (the council id before the first).
    pub fn head(&self) -> Hash {
        self.head
    }
    pub fn time(&self) -> u64 {
        self.time
    }
    /// Current members and their current device keys (oldest first, never empty).
    pub fn roster(&self) -> &BTreeMap<MemberId, Vec<PublicKey>> {
        &self.roster
    }
    pub fn member_of_key(&self, key: &PublicKey) -> Option<MemberId> {
        self.by_key.get(key).copied()
    }
    /// A motion, open or closed.
    pub fn motion(&self, id: &MotionId) -> Option<MotionRef<'_>> {
        match self.motions.get(id) {
            Some(m) => Some(MotionRef::Open(m)),
            None => self.closed.get(id).map(MotionRef::Closed),
        }
    }
    /// An open motion.
    pub fn open_motion(&self, id: &MotionId) -> Option<&MotionState> {
        self.motions.get(id)
    }
    /// A closed motion.
    pub fn closed_motion(&self, id: &MotionId) -> Option<&ClosedMotion> {
        self.closed.get(id)
    }
    /// Every motion, in log order. This walks the council's whole history; a node's
    /// answers use [`CouncilState::open_motions`] and [`CouncilState::motion_at`].
    pub fn motions(&self) -> impl Iterator<Item = MotionRef<'_>> {
        self.motion_order.iter().filter_map(|id| self.motion(id))
    }
    /// The open motions, in log order.
    pub fn open_motions(&self) -> Vec<&MotionState> {
        let mut open: Vec<&MotionState> = self.motions.values().collect();
        open.sort_unstable_by_key(|m| m.position);
        open
    }
    /// How many motions the council has had, open and closed.
    pub fn motion_count(&self) -> u64 {
        self.motion_order.len() as u64
    }
    /// The motion at `position` in log order (see [`MotionState::position`]).
    pub fn motion_at(&self, position: u64) -> Option<MotionRef<'_>> {
        let id = self.motion_order.get(usize::try_from(position).ok()?)?;
        self.motion(id)
    }
    /// The motions whose id starts with `bytes` (and, where `odd_nibble` is given, that
    /// half byte next), open or closed, up to `limit` of them: a lookup by a short id.
    pub fn motions_with_prefix(&self, bytes: &[u8], odd_nibble: Option<u8>, limit: usize) -> Vec<MotionRef<'_>> {
        let matches = |id: &MotionId| {
            id.0.starts_with(bytes)
                && odd_nibble.is_none_or(|n| id.0.get(bytes.len()).is_some_and(|b| b >> 4 == n & 0x0f))
        };
        let mut lo = [0u8; 32];
        let n = bytes.len().min(32);
        lo[..n].copy_from_slice(&bytes[..n]);
        if let (Some(nib), true) = (odd_nibble, n < 32) {
            lo[n] = (nib & 0x0f) << 4;
        }
        let mut found: Vec<MotionRef<'_>> =
            self.motions.values().filter(|m| matches(&m.id)).map(MotionRef::Open).collect();
        found.extend(
            self.closed.range(Hash(lo)..).map(|(_, m)| m).take_while(|m| matches(&m.id)).map(MotionRef::Closed),
        );
        found.truncate(limit);
        found
    }
    pub fn mandate(&self, id: &MotionId) -> Option<&MandateState> {
        self.mandates.get(id)
    }
    pub fn mandates(&self) -> impl Iterator<Item = &MandateState> {
        self.mandate_order.iter().filter_map(|id| self.mandates.get(id))
    }
    pub fn fed_events(&self) -> &[FedEvent] {
        &self.fed_events
    }
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Builds and signs the next entry of this log around a verified payload. The result
    /// still has to pass [`CouncilState::apply`]. `time` is raised to the log's last time
    /// if the clock went back.
    pub fn seal(&self, node: &crate::keys::SecretKey, time: u64, payload: Verified<Payload>) -> Verified<Entry> {
        let body = crate::records::EntryBody {
            council: self.id,
            seq: self.seq + 1,
            prev: self.head,
            time: time.max(self.time),
            payload: payload.into_inner(),
        };
        Verified::own_signature(Signed::sign(body, node))
    }

    /// Validates `entry` against the log so far and, if it is valid, appends it.
    pub fn apply(&mut self, entry: Verified<Entry>) -> Result<(), RecordError> {
        let e = entry.get();
        let b = &e.body;
        if b.council != self.id {
            return Err(RecordError::WrongCouncil { expected: self.id, found: b.council });
        }
        // A federation-level copy skips the entries that are not (ballots, names…): its
        // entries follow each other in order, and only adjacent ones show their link.
        let in_order = if self.partial { b.seq > self.seq } else { b.seq == self.seq + 1 };
        if !in_order {
            return Err(RecordError::OutOfSequence { expected: self.seq + 1, found: b.seq });
        }
        if b.prev != self.head && b.seq == self.seq + 1 {
            return Err(RecordError::BrokenLink { expected: self.head, found: b.prev });
        }
        if b.time < self.time {
            return Err(RecordError::TimeWentBack { time: b.time, previous: self.time });
        }
        if e.signer != self.node_key {
            return Err(RecordError::WrongNodeKey { expected: self.node_key.to_did(), found: e.signer.to_did() });
        }
        let (time, seq) = (b.time, b.seq);
        if self.partial && never_federation_level(&b.payload) {
            let kind = match b.payload {
                Payload::Motion(_) => "motion that enacts nothing",
                Payload::Vote(_) => "vote",
                Payload::Ranking(_) => "ranking",
                _ => "name",
            };
            return Err(RecordError::NotFederationLevel { kind });
        }
        match &b.payload {
            Payload::Motion(m) => self.open_new_motion(m, time, seq)?,
            Payload::Vote(v) => self.cast(v, time)?,
            Payload::Ranking(r) => self.rank(r, time)?,
            Payload::Close { motion, outcome } => self.close(motion, *outcome, time, seq)?,
            Payload::Petition(p) => self.petition(p, time)?,
            Payload::DelegateVote(v) => self.delegate_vote(v, time, seq)?,
            Payload::Invite(i) => self.invite(i, time, seq)?,
            Payload::Name(n) => self.name(n)?,
            Payload::Device(d) => self.device(d)?,
        }
        self.seq = seq;
        self.head = e.id();
        if self.recent.len() == RECENT_IDS {
            self.recent.pop_front();
        }
        self.recent.push_back((seq, self.head));
        self.time = time;
        self.stats.entries += 1;
        Ok(())
    }

    fn member(&self, key: &PublicKey) -> Result<MemberId, RecordError> {
        self.by_key.get(key).copied().ok_or_else(|| RecordError::NotAMember { key: key.to_did() })
    }

    fn own(&self, kind: &'static str, council: &CouncilId) -> Result<(), RecordError> {
        if *council != self.id {
            return Err(RecordError::ForeignRecord { kind, found: *council });
        }
        Ok(())
    }

    /// The member whose current key this is, if the council's rules let them open motions
    /// (and so issue invites).
    fn opener(&self, key: &PublicKey) -> Result<MemberId, RecordError> {
        let member = self.member(key)?;
        if let Openers::Listed(l) = &self.rules.openers {
            if !l.contains(&member) {
                return Err(RecordError::MayNotOpen { key: key.to_did() });
            }
        }
        Ok(member)
    }

    fn open_new_motion(&mut self, m: &Signed<MotionBody>, time: u64, seq: u64) -> Result<(), RecordError> {
        let body = &m.body;
        self.own("motion", &body.council)?;
        let opener = self.opener(&m.signer)?;
        let id = m.id();
        if self.motions.contains_key(&id) || self.closed.contains_key(&id) {
            return Err(RecordError::DuplicateMotion(id));
        }
        check_motion(body, &self.rules, time)?;
        if let MotionForm::YesNo(action) = &body.form {
            // A device is added for the member who moves it, never for another: the
            // council passes it, and the member asked for it with one of their own keys.
            if let Action::AddDevice { member, .. } = action {
                if *member != opener {
                    return Err(RecordError::WrongMember { member: member.to_did(), signer_member: opener.to_did() });
                }
            }
            self.check_action(action, time)?;
        }
        let counts = Counts::new(body.form.option_count(), self.roster.len() as u64);
        self.motions.insert(
            id,
            MotionState {
                id,
                body: body.clone(),
                opener,
                opened_by: m.signer,
                opened_at: time,
                opened_seq: seq,
                position: self.motion_order.len() as u64,
                fixed: counts.clone(),
                counts,
                rankings: HashMap::new(),
                ballots_received: 0,
                ballots_changed: 0,
                latest: BallotBox::default(),
            },
        );
        self.motion_order.push(id);
        self.stats.motions += 1;
        Ok(())
    }

    /// Checks that an act could pass as things stand when its motion opens.
    fn check_action(&self, action: &Action, time: u64) -> Result<(), RecordError> {
        let bad = |s| Err(RecordError::InvalidMotion(s));
        match action {
            Action::Resolution | Action::Leave(_) | Action::Ratify { .. } => {}
            Action::AmendRules(r) => self.check_amendment(r)?,
            Action::AddMember(k) => {
                if self.used_keys.contains(k) {
                    return bad("the key to add is, or was, on the roster");
                }
            }
            Action::RemoveMember(m) => {
                if !self.roster.contains_key(m) {
                    return bad("the member to remove is not on the roster");
                }
            }
            Action::RotateKey { member, new_key } => {
                if !self.roster.contains_key(member) {
                    return bad("the member whose key rotates is not on the roster");
                }
                if self.used_keys.contains(new_key) {
                    return bad("the new key is, or was, on the roster");
                }
            }
            Action::AddDevice { member, device, .. } => {
                if !self.roster.contains_key(member) {
                    return bad("the member who would get the device is not on the roster");
                }
                if self.used_keys.contains(device) {
                    return Err(RecordError::DeviceKeyTaken { key: device.to_did() });
                }
            }
            Action::SetNodeKey(k) => {
                if *k == self.node_key {
                    return bad("the new node key is the current one");
                }
            }
            Action::Mandate(m) => check_mandate(m, time, |d| self.roster.contains_key(d))?,
            Action::Recall(id) => {
                let st = self.mandates.get(id).ok_or(RecordError::UnknownMandate(*id))?;
                if !st.in_force_at(time) {
                    return Err(RecordError::MandateNotInForce { mandate: *id, time });
                }
            }
            Action::SignCharter { charter, invite } => check_signing(charter, invite.as_ref(), self.id, false)?,
            Action::Admit { council, .. } => {
                if *council == self.id {
                    return bad("a council cannot admit itself");
                }
            }
            Action::OpenFederationMotion(f) => check_federation_motion(f, time)?,
        }
        Ok(())
    }

    fn cast(&mut self, v: &Signed<VoteBody>, time: u64) -> Result<(), RecordError> {
        self.own("vote", &v.body.council)?;
        let (member, options) = self.ballot_on(&v.signer, v.body.motion, time, false)?;
        if v.body.choice > options {
            return Err(RecordError::BadChoice { choice: v.body.choice, options });
        }
        let voter = self.voters.number_for(&member);
        let ballot =
            VerifiedBallot { voter, choice: v.body.choice, counter: v.body.counter, is_final: v.body.is_final };
        self.count_ballot(v.body.motion, &member, ballot, None)
    }

    /// A ranked ballot: the same rules as a vote (§6.4), and the ranking lists every
    /// option once, or none.
    fn rank(&mut self, r: &Signed<RankingBody>, time: u64) -> Result<(), RecordError> {
        self.own("ranking", &r.body.council)?;
        let (member, options) = self.ballot_on(&r.signer, r.body.motion, time, true)?;
        check_ranking(&r.body.ranking, options)?;
        let first = r.body.ranking.first().copied().unwrap_or(options);
        let voter = self.voters.number_for(&member);
        let ballot = VerifiedBallot { voter, choice: first, counter: r.body.counter, is_final: r.body.is_final };
        self.count_ballot(r.body.motion, &member, ballot, Some(r.body.ranking.clone()))
    }

    /// The member's latest ballot on `motion`, an open motion of this council.
    pub fn ballot_of(&self, motion: &MotionState, member: &MemberId) -> Option<Ballot> {
        motion.latest.get(self.voters.get(member)?)
    }

    /// On a ranked open motion, the member's latest ranking.
    pub fn ranking_of<'a>(&self, motion: &'a MotionState, member: &MemberId) -> Option<&'a [u32]> {
        motion.rankings.get(&self.voters.get(member)?).map(Vec::as_slice)
    }

    /// The checks a vote and a ranking share (§6.4): signed by a member's current key, on
    /// an open motion of the right form, before its closing time, by a member of its
    /// electorate. Returns the member and the motion's number of options.
    fn ballot_on(
        &self,
        key: &PublicKey,
        mid: MotionId,
        time: u64,
        ranked: bool,
    ) -> Result<(MemberId, u32), RecordError> {
        let member = self.member(key)?;
        let m = self.open(mid)?;
        if time > m.body.closes_at {
            return Err(RecordError::PastClosingTime { motion: mid, closes_at: m.body.closes_at, time });
        }
        if !self.may_vote(m, &member) {
            return Err(RecordError::NotInElectorate { key: key.to_did(), motion: mid });
        }
        match (m.body.form.is_ranked(), ranked) {
            (true, false) => Err(RecordError::RankingExpected { motion: mid }),
            (false, true) => Err(RecordError::ChoiceExpected { motion: mid }),
            _ => Ok((member, m.body.form.option_count())),
        }
    }

    /// Puts a checked ballot (and, on a ranked motion, its ranking) in the motion's box.
    /// `ballot.voter` is `member`'s number, or the number the member gets if the ballot is
    /// counted ([`Voters::number_for`]).
    fn count_ballot(
        &mut self,
        mid: MotionId,
        member: &MemberId,
        ballot: VerifiedBallot,
        ranking: Option<Vec<u32>>,
    ) -> Result<(), RecordError> {
        let m = self.motions.get_mut(&mid).ok_or(RecordError::UnknownMotion(mid))?;
        let changed = cast_ballot(&mut m.latest, &mut m.counts, &mut m.fixed, ballot).map_err(|e| match e {
            BallotError::Final => RecordError::BallotFinal { motion: mid },
            BallotError::Stale { previous, found } => RecordError::StaleCounter { previous, found },
        })?;
        // Numbered only once a ballot of theirs counts: the numbers follow the log alone.
        let numbered = self.voters.intern(member.as_bytes());
        debug_assert_eq!(numbered, ballot.voter);
        if let Some(r) = ranking {
            m.rankings.insert(ballot.voter, r);
        }
        m.ballots_received += 1;
        self.stats.ballots += 1;
        if changed {
            m.ballots_changed += 1;
            self.stats.ballots_changed += 1;
        }
        Ok(())
    }

    /// An open motion, or why there is none.
    fn open(&self, id: MotionId) -> Result<&MotionState, RecordError> {
        match self.motions.get(&id) {
            Some(m) => Ok(m),
            None if self.closed.contains_key(&id) => Err(RecordError::MotionClosed { motion: id }),
            None => Err(RecordError::UnknownMotion(id)),
        }
    }

    fn close(&mut self, id: &MotionId, stated: Outcome, time: u64, seq: u64) -> Result<(), RecordError> {
        let m = self.open(*id)?;
        let early = time < m.body.closes_at;
        let computed = if self.partial {
            // The ballots are not in a federation-level copy: the close is taken as the
            // node signed it, if the motion's form allows it.
            let fits = match (&m.body.form, stated) {
                (MotionForm::YesNo(_), Outcome::Chosen(_)) => false,
                (MotionForm::YesNo(_), _) => true,
                (_, Outcome::Passed | Outcome::Rejected) => false,
                (f, Outcome::Chosen(o)) => o < f.option_count(),
                _ => true,
            };
            if !fits {
                return Err(RecordError::ImpossibleOutcome { stated });
            }
            stated
        } else if early {
            m.settled().ok_or(RecordError::ClosedTooEarly { motion: *id, time, closes_at: m.body.closes_at })?
        } else {
            m.outcome()
        };
        if computed != stated {
            return Err(RecordError::WrongOutcome { stated, computed });
        }
        let action = match (&m.body.form, computed) {
            (MotionForm::YesNo(a), Outcome::Passed) => Some(a.clone()),
            _ => None,
        };
        let effect = match action {
            Some(a) => self.enact(*id, a, time, seq),
            None => Effect::None,
        };
        if let Some(m) = self.motions.remove(id) {
            // A closed motion keeps its counts (and a ranked one its pairwise
            // preferences); the per-member detail and the act are no longer needed.
            let closed = ClosedMotion {
                id: m.id,
                kind: match &m.body.form {
                    MotionForm::YesNo(a) => a.kind(),
                    MotionForm::Choice(_) => "choice",
                    MotionForm::Ranked(_) => "ranked",
                },
                pairwise: if m.body.form.is_ranked() { m.pairwise() } else { Vec::new() },
                options: match m.body.form {
                    MotionForm::YesNo(_) => Vec::new(),
                    MotionForm::Choice(o) | MotionForm::Ranked(o) => o,
                },
                title: m.body.title,
                rule: m.body.rule,
                opened_at: m.opened_at,
                opened_seq: m.opened_seq,
                position: m.position,
                closes_at: m.body.closes_at,
                outcome: computed,
                at: time,
                early,
                effect,
                counts: m.counts,
                ballots_received: m.ballots_received,
                ballots_changed: m.ballots_changed,
            };
            self.closed.insert(*id, closed);
        }
        Ok(())
    }

    /// Carries out a passed act.
    fn enact(&mut self, motion: MotionId, action: Action, time: u64, seq: u64) -> Effect {
        let void = |reason: &str| Effect::Void(reason.to_owned());
        let fed = |kind| FedEvent { time, council: self.id, seq, kind };
        match action {
            Action::Resolution => return Effect::None,
            Action::AddMember(k) => {
                if self.used_keys.contains(&k) {
                    return void("the key was added to the roster meanwhile");
                }
                self.roster.insert(k, vec![k]);
                self.joined.insert(k, seq);
                self.by_key.insert(k, k);
                self.used_keys.insert(k);
                self.stats.roster_changes += 1;
            }
            Action::RemoveMember(m) => {
                if !self.roster.contains_key(&m) {
                    return void("the member had already left the roster");
                }
                if self.roster.len() == 1 {
                    return void("it would leave the council without members");
                }
                for k in self.roster.remove(&m).unwrap_or_default() {
                    self.by_key.remove(&k);
                }
                self.stats.roster_changes += 1;
            }
            Action::RotateKey { member, new_key } => {
                if !self.roster.contains_key(&member) {
                    return void("the member had left the roster");
                }
                if self.used_keys.contains(&new_key) {
                    return void("the new key was added to the roster meanwhile");
                }
                // Every device key the member held gives way to the new one.
                for old in self.roster.insert(member, vec![new_key]).unwrap_or_default() {
                    self.by_key.remove(&old);
                }
                self.by_key.insert(new_key, member);
                self.used_keys.insert(new_key);
                self.stats.roster_changes += 1;
            }
            Action::AddDevice { member, device, .. } => {
                // A key that was replaced or removed meanwhile (a lost or stolen device)
                // cannot bring a device in through an act it moved before.
                let opened_by = self.motions.get(&motion).map(|m| m.opened_by);
                if opened_by.is_none_or(|k| self.by_key.get(&k) != Some(&member)) {
                    return void("the key that moved it is no longer one of the member's keys");
                }
                if let Err(e) = self.may_add_device(&member, &device) {
                    return void(&e.to_string());
                }
                self.add_device(member, device);
            }
            Action::SetNodeKey(k) => {
                self.node_key = k;
                self.node_keys.push((seq + 1, k));
            }
            Action::Mandate(m) => {
                if !self.roster.contains_key(&m.delegate) {
                    return void("the delegate left the roster before the mandate passed");
                }
                if m.expires_at <= time {
                    return void("the mandate expired before it passed");
                }
                if let Some(prev) = self.current_mandate.insert(m.federation, motion) {
                    if let Some(p) = self.mandates.get_mut(&prev) {
                        if p.in_force_at(time) {
                            p.superseded_at = Some(time);
                        }
                    }
                }
                self.mandates.insert(
                    motion,
                    MandateState {
                        id: motion,
                        mandate: m,
                        issued_at: time,
                        recalled: None,
                        superseded_at: None,
                        petition: BTreeSet::new(),
                    },
                );
                self.mandate_order.push(motion);
            }
            Action::Recall(id) => match self.mandates.get_mut(&id) {
                Some(st) if st.in_force_at(time) => st.recalled = Some((time, RecallKind::Motion, motion)),
                _ => return void("the mandate was no longer in force"),
            },
            Action::SignCharter { charter, invite } => self.fed_events.push(fed(FedEventKind::SignCharter {
                id: charter.id(),
                charter: Box::new(charter),
                invite,
            })),
            Action::Admit { federation, council } => {
                self.fed_events.push(fed(FedEventKind::Admit { federation, council }))
            }
            Action::Leave(federation) => self.fed_events.push(fed(FedEventKind::Leave { federation })),
            Action::OpenFederationMotion(m) => {
                if m.closes_at <= time {
                    return void("its closing time passed before the council passed it");
                }
                self.fed_events.push(fed(FedEventKind::OpenMotion { id: motion, motion: Box::new(m) }))
            }
            Action::AmendRules(r) => {
                // An amendment replaces the rules whole: one moved before a later amendment
                // passed would undo what it never saw (a stricter amendment rule, say).
                let opened = self.motions.get(&motion).map_or(0, |m| m.opened_seq);
                if self.rule_changes.last().is_some_and(|c| c.seq > opened) {
                    return void("the rules were amended after it was moved; move it again under the rules in force");
                }
                if let Err(e) = self.check_amendment(&r) {
                    return void(&e.to_string());
                }
                self.rules = r.clone();
                self.rule_changes.push(RuleChange { seq, time, motion, rules: r });
                self.stats.rule_changes += 1;
            }
            Action::Ratify { federation, motion, accept } => {
                self.fed_events.push(fed(FedEventKind::Ratify { federation, motion, accept }))
            }
        }
        Effect::Applied
    }

    /// §6.10: a member names themself.
    fn name(&mut self, n: &Signed<NameBody>) -> Result<(), RecordError> {
        self.own("name", &n.body.council)?;
        let member = self.member(&n.signer)?;
        if n.body.name.trim().is_empty() {
            return Err(RecordError::BlankName);
        }
        self.names.insert(member, n.body.name.clone());
        Ok(())
    }

    /// A member adds or removes one of their device keys (§6.11). The proof that the new
    /// key is held was checked with the signatures ([`crate::verify`]).
    fn device(&mut self, d: &Signed<DeviceBody>) -> Result<(), RecordError> {
        self.own("device", &d.body.council)?;
        let member = self.member(&d.signer)?;
        if member != d.body.member {
            return Err(RecordError::WrongMember { member: d.body.member.to_did(), signer_member: member.to_did() });
        }
        match &d.body.change {
            DeviceChange::Add { device, .. } => {
                if self.rules.devices.by_act {
                    return Err(RecordError::DevicesByAct);
                }
                self.may_add_device(&member, device)?;
                self.add_device(member, *device);
            }
            DeviceChange::Remove { device } => {
                let keys = self.roster.get_mut(&member).expect("a member found by key is on the roster");
                let at =
                    keys.iter().position(|k| k == device).ok_or(RecordError::NotOwnDevice { key: device.to_did() })?;
                if keys.len() == 1 {
                    return Err(RecordError::LastDevice);
                }
                keys.remove(at);
                // The key stays in `used_keys`: it never comes back, for anyone.
                self.by_key.remove(device);
                self.stats.device_changes += 1;
            }
        }
        Ok(())
    }

    /// Whether `r` may replace the rules now: valid shares and limits, a listed opener
    /// who is on the roster, and a change at all.
    fn check_amendment(&self, r: &CouncilRules) -> Result<(), RecordError> {
        let bad = |s| Err(RecordError::InvalidAmendment(s));
        if !r.is_valid() {
            return bad("the new rules hold an invalid share or a device limit of 0");
        }
        if let Openers::Listed(l) = &r.openers {
            if l.is_empty() || l.iter().any(|m| !self.roster.contains_key(m)) {
                return bad("listed openers must be members on the roster");
            }
        }
        if *r == self.rules {
            return bad("the new rules are the rules in force");
        }
        Ok(())
    }

    /// Each amendment of the council's rules so far, in log order.
    pub fn rule_changes(&self) -> &[RuleChange] {
        &self.rule_changes
    }

    /// Whether `device` may become a key of `member` now.
    fn may_add_device(&self, member: &MemberId, device: &PublicKey) -> Result<(), RecordError> {
        let keys = self.roster.get(member).ok_or_else(|| RecordError::NotAMember { key: member.to_did() })?;
        if self.used_keys.contains(device) {
            return Err(RecordError::DeviceKeyTaken { key: device.to_did() });
        }
        let limit = self.rules.devices.limit;
        if keys.len() as u64 >= u64::from(limit) {
            return Err(RecordError::TooManyDevices { limit });
        }
        Ok(())
    }

    fn add_device(&mut self, member: MemberId, device: PublicKey) {
        self.roster.entry(member).or_default().push(device);
        self.by_key.insert(device, member);
        self.used_keys.insert(device);
        self.stats.device_changes += 1;
    }

    /// Whether `member` may vote on `motion` now: on the roster, and already on it when
    /// the motion opened (§6.3).
    pub fn may_vote(&self, motion: &MotionState, member: &MemberId) -> bool {
        self.roster.contains_key(member) && self.joined.get(member).is_some_and(|&j| j < motion.opened_seq)
    }

    /// The name a member goes by, if they gave one.
    pub fn name_of(&self, member: &MemberId) -> Option<&str> {
        self.names.get(member).map(String::as_str)
    }

    /// §6.9: a member who may open motions issues an invite for the council.
    fn invite(&mut self, i: &Signed<InviteBody>, time: u64, seq: u64) -> Result<(), RecordError> {
        let b = &i.body;
        self.own("invite", &b.council)?;
        self.opener(&i.signer)?;
        if b.max_uses == 0 {
            return Err(RecordError::InvalidInvite("it allows no uses"));
        }
        if b.expires_at <= time {
            return Err(RecordError::InvalidInvite("it expired before it was issued"));
        }
        self.fed_events.push(FedEvent {
            time,
            council: self.id,
            seq,
            kind: FedEventKind::Invite {
                federation: b.federation,
                key: b.invite_key,
                max_uses: b.max_uses,
                expires_at: b.expires_at,
            },
        });
        Ok(())
    }

    fn petition(&mut self, p: &Signed<PetitionBody>, time: u64) -> Result<(), RecordError> {
        self.own("petition", &p.body.council)?;
        let member = self.member(&p.signer)?;
        let id = p.body.mandate;
        let roster_size = self.roster.len() as u64;
        let threshold = self.rules.petition;
        let roster = &self.roster;
        let st = self.mandates.get_mut(&id).ok_or(RecordError::UnknownMandate(id))?;
        if !st.in_force_at(time) {
            return Err(RecordError::MandateNotInForce { mandate: id, time });
        }
        if !st.petition.insert(member) {
            return Err(RecordError::AlreadySigned { key: p.signer.to_did(), mandate: id });
        }
        self.stats.petition_signatures += 1;
        let signed = st.petition.iter().filter(|m| roster.contains_key(m)).count() as u64;
        if threshold.met(signed, roster_size) {
            st.recalled = Some((time, RecallKind::Petition, p.id()));
        }
        Ok(())
    }

    fn delegate_vote(&mut self, v: &Signed<DelegateVoteBody>, time: u64, seq: u64) -> Result<(), RecordError> {
        let b = &v.body;
        if b.split.as_deref().is_some_and(|p| !crate::records::is_split(p)) {
            return Err(RecordError::BadSplit);
        }
        if b.council != self.id {
            return self.federation_vote(v, time, seq);
        }
        let st = self.mandates.get(&b.mandate).ok_or(RecordError::UnknownMandate(b.mandate))?;
        if st.mandate.federation != b.federation {
            return Err(RecordError::WrongFederation {
                mandate: b.mandate,
                expected: st.mandate.federation,
                found: b.federation,
            });
        }
        let delegate_keys = self.roster.get(&st.mandate.delegate);
        if !delegate_keys.is_some_and(|keys| keys.contains(&v.signer)) {
            return Err(RecordError::NotTheDelegate {
                mandate: b.mandate,
                expected: delegate_keys.map_or_else(|| "a former member".into(), |_| st.mandate.delegate.to_did()),
                found: v.signer.to_did(),
            });
        }
        if !st.in_force_at(time) {
            return Err(RecordError::MandateNotInForce { mandate: b.mandate, time });
        }
        let delegate = st.mandate.delegate;
        self.log_delegate_vote(false, b.motion, b, delegate, (time, seq))
    }

    /// Takes a delegate vote's `counter`, which must exceed the last one kept under `key`
    /// (among ballots for a member federation if `for_federation`, else among the
    /// council's own), and hands the vote to the federation replay.
    fn log_delegate_vote(
        &mut self,
        for_federation: bool,
        key: Hash,
        b: &DelegateVoteBody,
        delegate: MemberId,
        (time, seq): (u64, u64),
    ) -> Result<(), RecordError> {
        let counters = if for_federation { &mut self.federation_vote_counters } else { &mut self.delegate_counters };
        if let Some(&previous) = counters.get(&key) {
            if b.counter <= previous {
                return Err(RecordError::StaleCounter { previous, found: b.counter });
            }
        }
        counters.insert(key, b.counter);
        self.stats.delegate_votes += 1;
        self.fed_events.push(FedEvent {
            time,
            council: self.id,
            seq,
            kind: FedEventKind::DelegateVote { vote: b.clone(), delegate, members: self.roster.len() as u64 },
        });
        Ok(())
    }
}

impl CouncilState {
    /// §6.8: a member's ballot for a member federation (`council` names the federation),
    /// under a mandate of that federation. The council's log vouches only that a member
    /// cast it, in order; whether the member holds the federation's mandate, and whether
    /// the ballot counts, is the federation's rule (§8.1).
    fn federation_vote(&mut self, v: &Signed<DelegateVoteBody>, time: u64, seq: u64) -> Result<(), RecordError> {
        let b = &v.body;
        let delegate = self.member(&v.signer)?;
        // One counter per federation motion, federation and member: a member who is not
        // the federation's delegate cannot use up the delegate's counter.
        let key = Hash::of(&[b.motion.0, b.council.0, *delegate.as_bytes()].concat());
        self.log_delegate_vote(true, key, b, delegate, (time, seq))
    }
}

/// A member's ballot whose signature has been verified and whose signer is known to be
/// in the electorate. Only this module makes them.
#[derive(Debug, Clone, Copy)]
pub(crate) struct VerifiedBallot {
    /// The member's number ([`Voters`]).
    pub(crate) voter: u32,
    pub(crate) choice: u32,
    pub(crate) counter: u64,
    pub(crate) is_final: bool,
}

/// Why the ballot box refused a ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BallotError {
    /// The member's latest ballot is final.
    Final,
    /// The counter does not exceed the latest ballot's.
    Stale { previous: u64, found: u64 },
}

/// Counts a ballot: the member's latest ballot replaces their earlier one, unless that
/// one is final. `fixed` counts the final ballots alone. Returns whether it replaced one.
pub(crate) fn cast_ballot(
    latest: &mut BallotBox,
    counts: &mut Counts,
    fixed: &mut Counts,
    b: VerifiedBallot,
) -> Result<bool, BallotError> {
    let previous = latest.get(b.voter);
    match previous {
        Some(p) if p.is_final => return Err(BallotError::Final),
        Some(p) if b.counter <= p.counter => return Err(BallotError::Stale { previous: p.counter, found: b.counter }),
        Some(p) => counts.counts[p.choice as usize] -= 1,
        None => {}
    }
    counts.counts[b.choice as usize] += 1;
    if b.is_final {
        fixed.counts[b.choice as usize] += 1;
    }
    latest.insert(b.voter, Ballot { choice: b.choice, counter: b.counter, is_final: b.is_final });
    Ok(previous.is_some())
}

fn check_text_list(v: &[String], what: &'static str) -> Result<(), RecordError> {
    let unique: HashSet<_> = v.iter().collect();
    if v.iter().any(|s| s.trim().is_empty()) || unique.len() != v.len() {
        return Err(RecordError::InvalidMotion(what));
    }
    Ok(())
}

/// Checks the parts of a motion that do not depend on the log.
pub fn check_motion(b: &MotionBody, rules: &CouncilRules, time: u64) -> Result<(), RecordError> {
    let bad = |s| Err(RecordError::InvalidMotion(s));
    if b.title.trim().is_empty() {
        return bad("the motion has no title");
    }
    if !b.rule.is_valid() {
        return bad("the rule holds an invalid share");
    }
    if b.closes_at <= time {
        return bad("the closing time has already passed");
    }
    match &b.form {
        MotionForm::YesNo(Action::Resolution) => {}
        MotionForm::YesNo(a) => {
            if b.rule != rules.rule_for(a) {
                return bad(match a {
                    Action::AmendRules(_) => {
                        "an amendment of the rules must use the council's amendment rule (else its act rule)"
                    }
                    _ => "a council act must use the council's act rule",
                });
            }
        }
        MotionForm::Choice(o) => {
            if o.len() < 2 {
                return bad("a choice needs at least two options");
            }
            check_text_list(o, "options must be distinct and not blank")?;
        }
        MotionForm::Ranked(o) => {
            if o.len() < 2 {
                return bad("a ranking needs at least two options");
            }
            check_text_list(o, "options must be distinct and not blank")?;
            if b.rule.threshold != tally::RANKED_THRESHOLD {
                return bad("a ranked motion's threshold must be a simple majority (the Schulze method decides)");
            }
        }
    }
    Ok(())
}

/// A ranking lists each of the `options` exactly once, or nothing at all (abstains).
pub fn check_ranking(ranking: &[u32], options: u32) -> Result<(), RecordError> {
    if ranking.is_empty() {
        return Ok(());
    }
    let mut seen = vec![false; options as usize];
    for &o in ranking {
        let slot = seen.get_mut(o as usize).ok_or(RecordError::BadChoice { choice: o, options })?;
        if std::mem::replace(slot, true) {
            return Err(RecordError::RankingRepeats { option: o });
        }
    }
    match seen.iter().position(|s| !s) {
        Some(o) => Err(RecordError::RankingOmits { option: o as u32 }),
        None => Ok(()),
    }
}

fn check_mandate(m: &Mandate, time: u64, is_member: impl Fn(&MemberId) -> bool) -> Result<(), RecordError> {
    let bad = |s| Err(RecordError::InvalidMotion(s));
    if !is_member(&m.delegate) {
        return bad("the delegate is not on the roster");
    }
    if m.expires_at <= time {
        return bad("the mandate's expiry has already passed");
    }
    if let crate::records::Scope::Matters(v) = &m.scope {
        if v.is_empty() {
            return bad("the mandate's scope names no matter");
        }
        check_text_list(v, "the scope's matters must be distinct and not blank")?;
    }
    let matters: Vec<String> = m.instructions.iter().map(|(s, _)| s.clone()).collect();
    check_text_list(&matters, "each matter may have one instruction")?;
    if m.instructions.iter().any(|(s, _)| !m.scope.covers(s)) {
        return bad("an instruction names a matter outside the mandate's scope");
    }
    let stated = m.instructions.iter().filter_map(|(_, i)| match i {
        crate::records::Instruction::Split(crate::records::SplitSource::Stated(p)) => Some(p),
        _ => None,
    });
    for parts in stated {
        if parts.len() < 2 || !crate::records::is_split(parts) {
            return bad("a stated split has a part for each of two or more options, 10000 in all");
        }
    }
    Ok(())
}

/// Checks that `signer` (a council, or a federation if `federation`) may sign `charter` as
/// it proposes: a founder without an invite, anyone else with one, never its own.
fn check_signing(
    charter: &Charter,
    invite: Option<&InviteProof>,
    signer: Hash,
    federation: bool,
) -> Result<(), RecordError> {
    check_charter(charter)?;
    let founder = charter.founders.contains(&signer);
    let why = match (invite, federation) {
        (Some(p), false) if founder || p.issuer == signer => {
            "a founding council signs without an invite, and no council invites itself"
        }
        (Some(p), true) if founder || p.issuer == signer => {
            "a founding federation signs without an invite, and no federation invites itself"
        }
        (None, false) if !founder => "a council that is not a founder needs an invite to sign",
        (None, true) if !founder => "a federation that is not a founder needs an invite to sign",
        _ => return Ok(()),
    };
    Err(RecordError::InvalidMotion(why))
}

/// Checks a charter's own consistency.
pub fn check_charter(c: &Charter) -> Result<(), RecordError> {
    let bad = |s| Err(RecordError::InvalidMotion(s));
    if c.name.trim().is_empty() {
        return bad("the charter has no name");
    }
    if c.founders.len() < 2 {
        return bad("a federation needs at least two founding councils");
    }
    let unique: HashSet<_> = c.founders.iter().collect();
    if unique.len() != c.founders.len() {
        return bad("a founding council is listed twice");
    }
    if !c.rules.admission.is_valid() || !c.rules.motion_rule.is_valid() {
        return bad("the charter's rules hold an invalid share");
    }
    Ok(())
}

fn check_federation_motion(f: &FederationMotion, time: u64) -> Result<(), RecordError> {
    let bad = |s| Err(RecordError::InvalidMotion(s));
    if f.matter.trim().is_empty() || f.title.trim().is_empty() {
        return bad("a federation motion needs a matter and a title");
    }
    if f.options.len() < 2 || f.options.len() > limits::MAX_OPTIONS {
        return bad("a federation motion needs between 2 and 32 options");
    }
    check_text_list(&f.options, "options must be distinct and not blank")?;
    if f.closes_at <= time {
        return bad("the closing time has already passed");
    }
    if let Some(act) = &f.act {
        check_federation_act(f, act, time)?;
    }
    Ok(())
}

/// §8.1: what can be told of a federation's act from the motion that carries it alone.
fn check_federation_act(f: &FederationMotion, act: &FederationAct, time: u64) -> Result<(), RecordError> {
    let bad = |s| Err(RecordError::InvalidMotion(s));
    if f.options != ["yes", "no"] {
        return bad("a federation motion that carries an act has the options yes and no");
    }
    if act.target() == Some(f.federation) {
        return Err(RecordError::FederationLoop(f.federation));
    }
    match act {
        FederationAct::SignCharter { charter, invite } => {
            check_signing(charter, invite.as_ref(), f.federation, true)?;
            if charter.rules.weighting == Weighting::ByMembers {
                return bad("a federation joins only federations of one vote per member, not by members");
            }
        }
        FederationAct::Admit { member, .. } => {
            if *member == f.federation {
                return bad("a federation cannot admit itself");
            }
        }
        FederationAct::Leave(_) | FederationAct::Recall(_) => {}
        FederationAct::Mandate { mandate, .. } => check_mandate(mandate, time, |_| true)?,
        FederationAct::OpenMotion(inner) => {
            if inner.closes_at <= f.closes_at {
                return bad("a motion opened in a higher federation must close after the motion that opens it");
            }
            check_federation_motion(inner, time)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod props {
    //! Property tests of the ballot box and the tally.
    use super::*;
    use crate::records::{Rule, Share, Threshold};
    use proptest::prelude::*;

    fn threshold() -> impl Strategy<Value = Threshold> {
        (1u32..=6, any::<bool>()).prop_flat_map(|(den, strict)| {
            (0..=den).prop_filter_map("strict needs num < den", move |num| {
                let t = Threshold { num, den, strict };
                t.is_valid().then_some(t)
            })
        })
    }

    fn rule() -> impl Strategy<Value = Rule> {
        ((1u32..=4).prop_flat_map(|d| (0..=d, Just(d))), threshold())
            .prop_map(|((num, den), threshold)| Rule { quorum: Share::new(num, den), threshold })
    }

    /// Tallies ballots `(member, choice, counter)` in the given order, skipping the ones
    /// the ballot box refuses as stale.
    fn tally_in_order(options: u32, electorate: usize, ballots: &[(usize, u32, u64)]) -> (Counts, BallotBox) {
        let mut latest = BallotBox::default();
        let mut counts = Counts::new(options, electorate as u64);
        let mut fixed = counts.clone();
        for &(m, choice, counter) in ballots {
            let b = VerifiedBallot { voter: m as u32, choice, counter, is_final: false };
            let _ = cast_ballot(&mut latest, &mut counts, &mut fixed, b);
        }
        (counts, latest)
    }

    fn ballots(electorate: usize, options: u32) -> impl Strategy<Value = Vec<(usize, u32, u64)>> {
        // Unique (member, counter) pairs: a member never signs two ballots with one counter.
        proptest::collection::btree_set((0..electorate, 1u64..20), 0..40).prop_flat_map(move |set| {
            let v: Vec<_> = set.into_iter().collect();
            let n = v.len();
            (Just(v), proptest::collection::vec(0..=options, n))
                .prop_map(|(v, choices)| v.into_iter().zip(choices).map(|((m, c), ch)| (m, ch, c)).collect())
        })
    }

    proptest! {
        #[test]
        fn the_ballot_box_behaves_as_a_map_from_voter_to_latest_ballot(
            ops in proptest::collection::vec((0u32..24, 0u32..=32, any::<u64>(), any::<bool>()), 0..200),
        ) {
            let mut model: HashMap<u32, Ballot> = HashMap::new();
            let mut bx = BallotBox::default();
            let slots: Vec<(u32, Ballot)> = ops
                .iter()
                .map(|&(voter, choice, counter, is_final)| (voter, Ballot { choice, counter, is_final }))
                .collect();
            for &(voter, b) in &slots {
                prop_assert_eq!(bx.get(voter), model.get(&voter).copied());
                bx.insert(voter, b);
                model.insert(voter, b);
                prop_assert_eq!(bx.len(), model.len());
            }
            for voter in 0u32..24 {
                prop_assert_eq!(bx.get(voter), model.get(&voter).copied());
            }
            let voters: Vec<u32> = bx.iter().map(|(v, _)| v).collect();
            prop_assert!(voters.windows(2).all(|w| w[0] < w[1]), "slots sorted by voter, one each");
            // Built at once from the same slots (a snapshot), the later slot of a voter stands.
            prop_assert_eq!(slots.into_iter().collect::<BallotBox>(), bx);
        }

        #[test]
        fn the_tally_does_not_depend_on_arrival_order_and_the_latest_ballot_wins(
            (electorate, options, mut bs, seed) in (1usize..12, 2u32..5).prop_flat_map(|(e, o)| (Just(e), Just(o), ballots(e, o), any::<u64>())),
        ) {
            let (in_order, _) = tally_in_order(options, electorate, &{ let mut s = bs.clone(); s.sort_by_key(|b| b.2); s });
            // Shuffle deterministically from the seed.
            let mut x = seed | 1;
            for i in (1..bs.len()).rev() {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                bs.swap(i, (x % (i as u64 + 1)) as usize);
            }
            let (shuffled, latest) = tally_in_order(options, electorate, &bs);
            // Whatever the order, each member's ballot with the highest counter is the one
            // counted... when it arrives last among theirs; a lower counter arriving later
            // is refused as stale, so the highest always stands.
            let mut expected = Counts::new(options, electorate as u64);
            for i in 0..electorate {
                if let Some(&(_, choice, counter)) = bs.iter().filter(|b| b.0 == i).max_by_key(|b| b.2) {
                    expected.counts[choice as usize] += 1;
                    prop_assert_eq!(latest.get(i as u32), Some(Ballot { choice, counter, is_final: false }));
                }
            }
            prop_assert_eq!(&shuffled, &expected);
            prop_assert_eq!(&in_order, &expected);
        }

        /// Early close is exact: a motion is settled exactly when every completion gives
        /// the same outcome. A completion changes any ballot that is not final to any
        /// option or abstention, and adds a ballot, or none, for each member who has not
        /// voted. Checked against every completion.
        #[test]
        fn an_early_close_agrees_with_every_completion_changes_of_mind_included(
            (electorate, options, ballots, rule, yes_no) in (1usize..7, 2u32..4).prop_flat_map(|(e, o)| (
                Just(e), Just(o),
                proptest::collection::vec(proptest::option::of((0..=o, any::<bool>())), e),
                rule(),
                any::<bool>(),
            )),
        ) {
            let options = if yes_no { 2 } else { options };
            let form = if yes_no { Form::YesNo } else { Form::Choice };
            let (mut latest, mut counts) = (BallotBox::default(), Counts::new(options, electorate as u64));
            let mut fixed = counts.clone();
            for (i, b) in ballots.iter().enumerate() {
                if let Some((choice, is_final)) = *b {
                    let b = VerifiedBallot { voter: i as u32, choice: choice.min(options), counter: 1, is_final };
                    cast_ballot(&mut latest, &mut counts, &mut fixed, b).expect("a first ballot");
                }
            }
            let finals = fixed.cast();
            let open = tally::Open { at_least: latest.len() as u64 - finals, at_most: electorate as u64 - finals };
            let mut reachable = BTreeSet::new();
            for m in open.at_least..=open.at_most {
                for_each_spread(m, options as usize + 1, &mut |spread| {
                    let mut c = fixed.clone();
                    c.counts.iter_mut().zip(spread).for_each(|(n, k)| *n += k);
                    reachable.insert(format!("{:?}", tally::outcome(form, &rule, &c)));
                });
            }
            let settled = tally::settled(form, &rule, &fixed, open);
            match settled {
                Some(o) => prop_assert_eq!(reachable.into_iter().collect::<Vec<_>>(), vec![format!("{o:?}")]),
                None => prop_assert!(reachable.len() > 1, "not settled, but every completion gives {reachable:?}"),
            }
            // Every ballot cast and final: the count itself.
            if finals == electorate as u64 {
                prop_assert_eq!(settled, Some(tally::outcome(form, &rule, &counts)));
            }
        }

        /// A final ballot cannot be replaced, whatever its counter.
        #[test]
        fn a_final_ballot_stands(choice in 0u32..3, later in 0u32..3, counter in 1u64..5, bump in 0u64..5) {
            let (mut latest, mut counts) = (BallotBox::default(), Counts::new(2, 1));
            let mut fixed = counts.clone();
            cast_ballot(&mut latest, &mut counts, &mut fixed, VerifiedBallot { voter: 0, choice, counter, is_final: true }).expect("first");
            let again = VerifiedBallot { voter: 0, choice: later, counter: counter + bump, is_final: bump % 2 == 0 };
            prop_assert_eq!(cast_ballot(&mut latest, &mut counts, &mut fixed, again), Err(BallotError::Final));
            prop_assert_eq!(&counts, &fixed);
            prop_assert_eq!(counts.counts[choice as usize], 1);
        }
    }

    /// Calls `f` with every way to spread `n` ballots over `slots` slots.
    fn for_each_spread(n: u64, slots: usize, f: &mut dyn FnMut(&[u64])) {
        fn go(n: u64, at: usize, spread: &mut Vec<u64>, f: &mut dyn FnMut(&[u64])) {
            if at + 1 == spread.len() {
                spread[at] = n;
                f(spread);
                return;
            }
            for k in 0..=n {
                spread[at] = k;
                go(n - k, at + 1, spread, f);
            }
        }
        go(n, 0, &mut vec![0; slots], f);
    }
}
