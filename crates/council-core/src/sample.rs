//! Builders that act as a council's node, and the realistic sample export behind
//! `council sample`.
//!
//! Every entry a builder appends goes through [`CouncilState::apply`], the same rules the
//! daemon and the verifier use, so a builder cannot produce an invalid log by accident.
//! Signatures it has just made itself are not verified again (see
//! [`Verified::own_signature`]); `council verify` checks them all.

use std::collections::HashMap;
use std::io::Write;

pub mod nested;

use crate::cbor::Cbor;
use crate::council::{CouncilState, Effect, MotionRef, RecordError};
use crate::export::ExportWriter;
use crate::hash::Hash;
use crate::keys::{PublicKey, SecretKey};
use crate::records::{
    Action, Charter, CouncilId, CouncilRules, DelegateVoteBody, DeviceBody, DeviceChange, DeviceProof, Entry,
    EntryBody, FederationId, FederationMotion, FederationRules, Genesis, GenesisBody, Instruction, InviteBody,
    InviteProof, JoinStatement, Mandate, MemberId, MotionBody, MotionForm, MotionId, Outcome, Payload, PetitionBody,
    RankingBody, Rule, Scope, Share, Signed, Threshold, VoteBody,
};
use crate::verify::{self, Verified};

/// A monotonic clock in seconds since the Unix epoch, shared by the builders of one
/// scenario so that their logs interleave consistently.
#[derive(Debug, Clone)]
pub struct Clock(pub u64);

impl Clock {
    /// Advances one second and returns the new time.
    pub fn tick(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }
    /// Jumps forward to at least `t`.
    pub fn advance_to(&mut self, t: u64) -> u64 {
        self.0 = self.0.max(t);
        self.0
    }
}

/// A deterministic key for tests and samples: the seed is SHA-256 of `label`.
pub fn key_from_label(label: &str) -> SecretKey {
    SecretKey::from_seed(&Hash::of(label.as_bytes()).0)
}

/// Acts as one council's node: appends valid, signed entries to its log.
#[derive(Debug)]
pub struct CouncilBuilder {
    node: SecretKey,
    genesis: Genesis,
    state: CouncilState,
    pending: Vec<Entry>,
    counters: HashMap<(PublicKey, MotionId), u64>,
    delegate_counters: HashMap<(Hash, MotionId), u64>,
    nonce: u64,
}

impl CouncilBuilder {
    /// Founds a council: every founder signs the genesis.
    pub fn found(
        name: &str,
        founders: &[&SecretKey],
        rules: CouncilRules,
        node: SecretKey,
        created_at: u64,
    ) -> Result<Self, RecordError> {
        let body = GenesisBody {
            name: name.into(),
            founders: founders.iter().map(|k| k.public()).collect(),
            rules,
            node_key: node.public(),
            created_at,
        };
        let mut genesis = Genesis::draft(body);
        genesis.signatures = founders.iter().map(|k| k.sign(&genesis.body_bytes)).collect();
        let verified =
            verify::verify_genesis(genesis.clone()).map_err(|_| RecordError::Genesis("founder signature"))?;
        let state = CouncilState::new(verified)?;
        Ok(CouncilBuilder {
            node,
            genesis,
            state,
            pending: Vec::new(),
            counters: HashMap::new(),
            delegate_counters: HashMap::new(),
            nonce: 0,
        })
    }

    pub fn id(&self) -> CouncilId {
        self.state.id()
    }
    pub fn genesis(&self) -> &Genesis {
        &self.genesis
    }
    pub fn state(&self) -> &CouncilState {
        &self.state
    }
    /// Takes the entries appended since the last call.
    pub fn take_entries(&mut self) -> Vec<Entry> {
        std::mem::take(&mut self.pending)
    }

    /// Signs `payload` as the next entry and applies it.
    pub fn append(&mut self, time: u64, payload: Payload) -> Result<Hash, RecordError> {
        let body =
            EntryBody { council: self.state.id(), seq: self.state.seq() + 1, prev: self.state.head(), time, payload };
        let entry = Signed::sign(body, &self.node);
        let id = entry.id();
        self.state.apply(Verified::own_signature(entry.clone()))?;
        self.pending.push(entry);
        Ok(id)
    }

    /// Builds (without appending) an entry that conflicts with the log: the same place
    /// as `seq`, different content. For equivocation tests.
    pub fn forge_conflicting(&self, seq: u64, prev: Hash, time: u64, payload: Payload) -> Entry {
        let body = EntryBody { council: self.state.id(), seq, prev, time, payload };
        Signed::sign(body, &self.node)
    }

    pub fn open(
        &mut self,
        time: u64,
        opener: &SecretKey,
        title: &str,
        form: MotionForm,
        rule: Rule,
        closes_at: u64,
    ) -> Result<MotionId, RecordError> {
        self.nonce += 1;
        let body = MotionBody { council: self.id(), title: title.into(), form, rule, closes_at, nonce: self.nonce };
        let m = Signed::sign(body, opener);
        let id = m.id();
        self.append(time, Payload::Motion(Box::new(m)))?;
        Ok(id)
    }

    /// The member's next ballot on `motion`, one they may still change (the counter
    /// increases by one each time).
    pub fn ballot(&mut self, voter: &SecretKey, motion: MotionId, choice: u32) -> Signed<VoteBody> {
        self.ballot_as(voter, motion, choice, false)
    }

    /// The member's next ballot on `motion`, final if `is_final`.
    pub fn ballot_as(&mut self, voter: &SecretKey, motion: MotionId, choice: u32, is_final: bool) -> Signed<VoteBody> {
        let council = self.id();
        let c = self.counters.entry((voter.public(), motion)).or_insert(0);
        *c += 1;
        Signed::sign(VoteBody { council, motion, choice, counter: *c, is_final }, voter)
    }

    /// Logs a ballot the member may still change.
    pub fn vote(&mut self, time: u64, voter: &SecretKey, motion: MotionId, choice: u32) -> Result<(), RecordError> {
        let b = self.ballot(voter, motion, choice);
        self.append(time, Payload::Vote(b)).map(|_| ())
    }

    /// Logs a final ballot: it counts towards an early close.
    pub fn vote_final(
        &mut self,
        time: u64,
        voter: &SecretKey,
        motion: MotionId,
        choice: u32,
    ) -> Result<(), RecordError> {
        let b = self.ballot_as(voter, motion, choice, true);
        self.append(time, Payload::Vote(b)).map(|_| ())
    }

    /// A member's record adding `device` (which signs its proof of possession), signed by
    /// `by`, one of the member's current device keys.
    pub fn device_added(&self, by: &SecretKey, member: MemberId, device: &SecretKey) -> Box<Signed<DeviceBody>> {
        let proof = DeviceProof { council: self.id(), member }.sign(device);
        let change = DeviceChange::Add { device: device.public(), proof };
        Box::new(Signed::sign(DeviceBody { council: self.id(), member, change }, by))
    }

    /// A member's record removing one of their device keys, signed by `by`.
    pub fn device_removed(&self, by: &SecretKey, member: MemberId, device: PublicKey) -> Box<Signed<DeviceBody>> {
        Box::new(Signed::sign(DeviceBody { council: self.id(), member, change: DeviceChange::Remove { device } }, by))
    }

    /// Logs the member's next ranking of a ranked motion's options (most preferred first;
    /// none to abstain), final if `is_final`.
    pub fn rank(
        &mut self,
        time: u64,
        voter: &SecretKey,
        motion: MotionId,
        ranking: &[u32],
        is_final: bool,
    ) -> Result<(), RecordError> {
        let council = self.id();
        let c = self.counters.entry((voter.public(), motion)).or_insert(0);
        *c += 1;
        let body = RankingBody { council, motion, ranking: ranking.to_vec(), counter: *c, is_final };
        self.append(time, Payload::Ranking(Box::new(Signed::sign(body, voter)))).map(|_| ())
    }

    /// Whether the motion's outcome is already settled (so it may close early).
    pub fn settled(&self, motion: &MotionId) -> Option<Outcome> {
        self.state.open_motion(motion)?.settled()
    }

    /// Closes a motion with the outcome the rules give at `time`.
    pub fn close(&mut self, time: u64, motion: MotionId) -> Result<Outcome, RecordError> {
        let m = match self.state.motion(&motion) {
            Some(MotionRef::Open(m)) => m,
            Some(MotionRef::Closed(_)) => return Err(RecordError::MotionClosed { motion }),
            None => return Err(RecordError::UnknownMotion(motion)),
        };
        let outcome = if time < m.body.closes_at {
            self.settled(&motion).ok_or(RecordError::ClosedTooEarly { motion, time, closes_at: m.body.closes_at })?
        } else {
            m.outcome()
        };
        self.append(time, Payload::Close { motion, outcome })?;
        self.counters.retain(|(_, m), _| *m != motion);
        Ok(outcome)
    }

    /// Passes a council act: opens the motion, has `voters` cast final yes ballots one by
    /// one until the outcome is settled, and closes it early. Returns the motion and the act's effect.
    pub fn pass(
        &mut self,
        clock: &mut Clock,
        voters: &[&SecretKey],
        title: &str,
        action: Action,
    ) -> Result<(MotionId, Effect), RecordError> {
        let rule = self.state.rules().rule_for(&action);
        let opener = voters.first().ok_or(RecordError::InvalidMotion("no voters"))?;
        let open_at = clock.tick();
        let id = self.open(open_at, opener, title, MotionForm::YesNo(action), rule, open_at + 86_400)?;
        for v in voters {
            if self.settled(&id).is_some() {
                break;
            }
            self.vote_final(clock.tick(), v, id, 0)?;
        }
        let outcome = self.close(clock.tick(), id)?;
        if outcome != Outcome::Passed {
            return Err(RecordError::InvalidMotion("the act did not pass"));
        }
        match self.state.closed_motion(&id) {
            Some(m) => Ok((id, m.effect.clone())),
            None => Err(RecordError::UnknownMotion(id)),
        }
    }

    /// Passes a change of node key, then signs with the new key.
    pub fn rotate_node_key(
        &mut self,
        clock: &mut Clock,
        voters: &[&SecretKey],
        new: SecretKey,
    ) -> Result<(), RecordError> {
        self.pass(clock, voters, "Move the council to its new node", Action::SetNodeKey(new.public()))?;
        self.node = new;
        Ok(())
    }

    pub fn petition(&mut self, time: u64, signer: &SecretKey, mandate: MotionId) -> Result<(), RecordError> {
        let p = Signed::sign(PetitionBody { council: self.id(), mandate }, signer);
        self.append(time, Payload::Petition(p)).map(|_| ())
    }

    pub fn delegate_vote(
        &mut self,
        time: u64,
        delegate: &SecretKey,
        federation: FederationId,
        motion: MotionId,
        mandate: MotionId,
        choice: u32,
    ) -> Result<(), RecordError> {
        self.delegate_ballot(time, delegate, (federation, motion, mandate), choice, None)
    }

    /// Logs the delegate's split vote: `parts` per option of the federation motion (which
    /// has `options` options), [`crate::records::SPLIT_PARTS`] in all.
    #[allow(clippy::too_many_arguments)]
    pub fn delegate_split(
        &mut self,
        time: u64,
        delegate: &SecretKey,
        federation: FederationId,
        motion: MotionId,
        mandate: MotionId,
        options: u32,
        parts: Vec<u32>,
    ) -> Result<(), RecordError> {
        self.delegate_ballot(time, delegate, (federation, motion, mandate), options, Some(parts))
    }

    /// Logs the ballot of `delegate`, a member of this council, for the member federation
    /// `member` (PROTOCOL.md §8.1), under that federation's mandate `mandate`.
    #[allow(clippy::too_many_arguments)]
    pub fn delegate_vote_for(
        &mut self,
        time: u64,
        delegate: &SecretKey,
        federation: FederationId,
        motion: MotionId,
        member: FederationId,
        mandate: MotionId,
        choice: u32,
    ) -> Result<(), RecordError> {
        self.ballot_for(time, delegate, (federation, motion, mandate), member, choice, None)
    }

    /// Logs a delegate vote with the council's next counter on the federation motion.
    fn delegate_ballot(
        &mut self,
        time: u64,
        delegate: &SecretKey,
        ids: (FederationId, MotionId, MotionId),
        choice: u32,
        split: Option<Vec<u32>>,
    ) -> Result<(), RecordError> {
        self.ballot_for(time, delegate, ids, self.id(), choice, split)
    }

    fn ballot_for(
        &mut self,
        time: u64,
        delegate: &SecretKey,
        (federation, motion, mandate): (FederationId, MotionId, MotionId),
        council: Hash,
        choice: u32,
        split: Option<Vec<u32>>,
    ) -> Result<(), RecordError> {
        let c = self.delegate_counters.entry((council, motion)).or_insert(0);
        *c += 1;
        let body = DelegateVoteBody { federation, motion, council, mandate, choice, counter: *c, split };
        self.append(time, Payload::DelegateVote(Signed::sign(body, delegate))).map(|_| ())
    }

    /// Logs an invite that member `issuer` signs.
    pub fn invite(
        &mut self,
        time: u64,
        issuer: &SecretKey,
        federation: FederationId,
        invite: &SecretKey,
        max_uses: u32,
        expires_at: u64,
    ) -> Result<(), RecordError> {
        let body = InviteBody { council: self.id(), federation, invite_key: invite.public(), max_uses, expires_at };
        self.append(time, Payload::Invite(Signed::sign(body, issuer))).map(|_| ())
    }
}

/// The invite key's proof that `council` may join `federation`.
pub fn invite_proof(
    invite: &SecretKey,
    issuer: CouncilId,
    federation: FederationId,
    council: CouncilId,
) -> InviteProof {
    let stmt = JoinStatement { federation, council };
    InviteProof { issuer, invite_key: invite.public(), signature: invite.sign(&stmt.to_cbor()) }
}

/// What `council sample` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleParams {
    /// Members of the main council (at least 3).
    pub members: u32,
    /// Ordinary motions (resolutions and choices), besides the council acts.
    pub motions: u32,
    /// Ballots cast on each ordinary motion; beyond the roster size they are changed votes.
    pub votes_per_motion: u32,
}

impl Default for SampleParams {
    fn default() -> Self {
        SampleParams { members: 60, motions: 24, votes_per_motion: 45 }
    }
}

/// A summary of what was written.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SampleSummary {
    pub primary: CouncilId,
    pub federation: FederationId,
    pub councils: u32,
    pub entries: u64,
    pub ballots: u64,
}

/// Why the sample could not be written.
#[derive(Debug, thiserror::Error)]
pub enum SampleError {
    #[error("writing the export failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("the sample needs at least 3 members")]
    TooFewMembers,
    #[error("the sample builder broke a rule (a bug): {0}")]
    Rule(#[from] RecordError),
}

/// 2026-01-05 09:00 UTC.
pub const SAMPLE_EPOCH: u64 = 1_767_603_600;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn write_entries<W: Write>(out: &mut ExportWriter<W>, entries: Vec<Entry>, count: &mut u64) -> std::io::Result<()> {
    for e in entries {
        out.entry(e)?;
        *count += 1;
    }
    Ok(())
}

/// Writes a realistic, valid export: a council with `members` members, ordinary motions
/// of both forms with changed votes, roster changes, a node-key change, a federation
/// founded with a second council and joined by a third through an invite, mandates, a
/// federation motion, a recall by motion and a recall by petition that strikes a
/// delegate's vote, ratifications, and a council leaving. Deterministic.
pub fn write_sample<W: Write>(p: &SampleParams, out: &mut W) -> Result<SampleSummary, SampleError> {
    if p.members < 3 {
        return Err(SampleError::TooFewMembers);
    }
    let mut clock = Clock(SAMPLE_EPOCH);
    let mut rng = Rng(0x0063_6f75_6e63_696c);
    let mut entries_written = 0u64;

    // Keys: members of the main council (plus one who joins later, and new keys).
    let members: Vec<SecretKey> =
        (0..p.members).map(|i| key_from_label(&format!("sample/bakery/member/{i}"))).collect();
    let newcomer = key_from_label("sample/bakery/newcomer");
    let rotated = key_from_label("sample/bakery/member/1/new-device");
    let a_keys: Vec<SecretKey> = (0..5).map(|i| key_from_label(&format!("sample/depot/member/{i}"))).collect();
    let b_keys: Vec<SecretKey> = (0..4).map(|i| key_from_label(&format!("sample/mill/member/{i}"))).collect();

    let founders: Vec<&SecretKey> = members.iter().collect();
    let mut bakery = CouncilBuilder::found(
        "Riverside Bakery Workers' Council",
        &founders,
        CouncilRules::default(),
        key_from_label("sample/bakery/node"),
        clock.tick(),
    )?;
    let mut depot = CouncilBuilder::found(
        "Harbour Depot Council",
        &a_keys.iter().collect::<Vec<_>>(),
        CouncilRules::default(),
        key_from_label("sample/depot/node"),
        clock.tick(),
    )?;
    let mut mill = CouncilBuilder::found(
        "North Mill Council",
        &b_keys.iter().collect::<Vec<_>>(),
        CouncilRules { petition: Threshold::TWO_THIRDS, ..CouncilRules::default() },
        key_from_label("sample/mill/node"),
        clock.tick(),
    )?;
    let mut out = ExportWriter::new(out, bakery.id())?;
    out.genesis(bakery.genesis())?;

    // The live roster of the bakery, as secret keys (changes with the roster acts).
    let mut roster: Vec<&SecretKey> = members.iter().collect();

    // Roster changes, each a council act.
    bakery.pass(&mut clock, &roster, "Welcome a new member to the council", Action::AddMember(newcomer.public()))?;
    roster.push(&newcomer);
    bakery.pass(
        &mut clock,
        &roster,
        "Member 1 moves to a new phone",
        Action::RotateKey { member: members[1].public(), new_key: rotated.public() },
    )?;
    roster[1] = &rotated;
    let leaver = roster.len() - 2;
    let leaving = roster[leaver].public();
    bakery.pass(&mut clock, &roster, "A member retires from the workplace", Action::RemoveMember(leaving))?;
    roster.remove(leaver);
    let new_node = key_from_label("sample/bakery/node/2");
    bakery.rotate_node_key(&mut clock, &roster, new_node)?;

    // Ordinary motions: the bulk of the file.
    let rules = [
        Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
        Rule { quorum: Share::new(1, 3), threshold: Threshold::TWO_THIRDS },
        Rule { quorum: Share::new(2, 3), threshold: Threshold::UNANIMITY },
        Rule { quorum: Share::new(1, 4), threshold: Threshold { num: 0, den: 1, strict: true } },
    ];
    let titles = [
        "Adopt the new shift rota",
        "Fund the hardship pot from the social budget",
        "Ask the bakery for safer flour hoists",
        "Hold general assemblies monthly",
    ];
    for m in 0..p.motions {
        let choice = m % 3 == 2;
        let form = if choice {
            MotionForm::Choice(vec![
                "first fortnight of July".into(),
                "last fortnight of July".into(),
                "first fortnight of August".into(),
            ])
        } else {
            MotionForm::YesNo(Action::Resolution)
        };
        let rule = rules[(m % 4) as usize];
        let opener = roster[(m as usize) % roster.len()];
        let open_at = clock.tick();
        let closes_at = open_at + u64::from(p.votes_per_motion) + 600;
        let title = if choice {
            format!("Choose the summer closing fortnight (#{})", m + 1)
        } else {
            format!("{} (#{})", titles[(m as usize) % titles.len()], m + 1)
        };
        let id = bakery.open(open_at, opener, &title, form, rule, closes_at)?;
        let n = roster.len();
        let options = if choice { 3 } else { 2 };
        for k in 0..p.votes_per_motion as usize {
            // Mostly first ballots; every 20th is a member changing their mind, and
            // ballots beyond the roster size are all changes.
            let idx = if k % 20 == 19 || k >= n { (k * 7 + m as usize) % n.min(k.max(1)) } else { k };
            let voter = roster[(idx + m as usize) % n];
            let r = rng.below(100);
            let pick = if r < 62 {
                0
            } else if r < 86 {
                1 + rng.below(options - 1) as u32
            } else {
                options as u32
            };
            bakery.vote(clock.tick(), voter, id, pick)?;
            if bakery.pending.len() >= 8192 {
                write_entries(&mut out, bakery.take_entries(), &mut entries_written)?;
            }
        }
        let t = clock.tick();
        let at = if bakery.settled(&id).is_some() { t } else { clock.advance_to(closes_at) };
        bakery.close(at, id)?;
    }
    write_entries(&mut out, bakery.take_entries(), &mut entries_written)?;

    // The federation: founded by the bakery and the depot.
    let charter = Charter {
        name: "Valley Federation of Workers' Councils".into(),
        principles: vec![
            "Every council is sovereign; no decision binds a council that does not ratify it.".into(),
            "Delegates carry imperative mandates and may be recalled at any time.".into(),
            "Any council may leave at once.".into(),
        ],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders: vec![bakery.id(), depot.id()],
        created_at: clock.tick(),
    };
    let fid = charter.id();
    let a_roster: Vec<&SecretKey> = a_keys.iter().collect();
    let b_roster: Vec<&SecretKey> = b_keys.iter().collect();
    bakery.pass(
        &mut clock,
        &roster,
        "Found the Valley Federation",
        Action::SignCharter { charter: charter.clone(), invite: None },
    )?;
    depot.pass(
        &mut clock,
        &a_roster,
        "Found the Valley Federation",
        Action::SignCharter { charter: charter.clone(), invite: None },
    )?;

    // The mill joins with an invite from the bakery, countersigned by both founders.
    let invite = key_from_label("sample/valley/invite/1");
    let t = clock.tick();
    bakery.invite(t, roster[0], fid, &invite, 2, t + 7 * 86_400)?;
    let proof = invite_proof(&invite, bakery.id(), fid, mill.id());
    mill.pass(
        &mut clock,
        &b_roster,
        "Join the Valley Federation",
        Action::SignCharter { charter: charter.clone(), invite: Some(proof) },
    )?;
    bakery.pass(
        &mut clock,
        &roster,
        "Admit North Mill to the federation",
        Action::Admit { federation: fid, council: mill.id() },
    )?;
    depot.pass(
        &mut clock,
        &a_roster,
        "Admit North Mill to the federation",
        Action::Admit { federation: fid, council: mill.id() },
    )?;

    // Mandates. The bakery's first delegate is recalled by motion before acting.
    let expiry = clock.0 + 90 * 86_400;
    let first = Mandate {
        delegate: roster[0].public(),
        federation: fid,
        scope: Scope::Matters(vec!["wages".into(), "safety".into()]),
        instructions: vec![("wages".into(), Instruction::Vote(0))],
        expires_at: expiry,
    };
    let (m1, _) =
        bakery.pass(&mut clock, &roster, "Mandate a delegate to the Valley Federation", Action::Mandate(first))?;
    bakery.pass(&mut clock, &roster, "Recall the delegate", Action::Recall(m1))?;
    let second = Mandate {
        delegate: roster[2].public(),
        federation: fid,
        scope: Scope::All,
        instructions: vec![("wages".into(), Instruction::Vote(0))],
        expires_at: expiry,
    };
    let (m2, _) =
        bakery.pass(&mut clock, &roster, "Mandate a new delegate to the Valley Federation", Action::Mandate(second))?;
    let judgement = |delegate: &SecretKey, scope| Mandate {
        delegate: delegate.public(),
        federation: fid,
        scope,
        instructions: vec![],
        expires_at: expiry,
    };
    let (ma, _) = depot.pass(
        &mut clock,
        &a_roster,
        "Mandate our delegate",
        Action::Mandate(judgement(&a_keys[0], Scope::All)),
    )?;
    let (mb, _) = mill.pass(
        &mut clock,
        &b_roster,
        "Mandate our delegate",
        Action::Mandate(judgement(&b_keys[0], Scope::Matters(vec!["wages".into()]))),
    )?;

    // A federation motion, opened by the depot.
    let closes = clock.0 + 3_600;
    let fm = FederationMotion {
        federation: fid,
        matter: "wages".into(),
        title: "Accept the regional pay offer?".into(),
        options: vec!["accept".into(), "reject".into()],
        closes_at: closes,
        act: None,
    };
    let (fmid, _) =
        depot.pass(&mut clock, &a_roster, "Put the pay offer to the federation", Action::OpenFederationMotion(fm))?;
    bakery.delegate_vote(clock.tick(), roster[2], fid, fmid, m2, 0)?;
    depot.delegate_vote(clock.tick(), &a_keys[0], fid, fmid, ma, 1)?;
    mill.delegate_vote(clock.tick(), &b_keys[0], fid, fmid, mb, 1)?;

    // The bakery's members recall their delegate by petition while the motion is open:
    // the delegate's vote is struck.
    for signer in roster.clone() {
        if bakery.state().mandate(&m2).is_some_and(|m| m.recalled.is_some()) {
            break;
        }
        bakery.petition(clock.tick(), signer, m2)?;
    }

    // After the close, each council records whether it ratifies the outcome.
    clock.advance_to(closes + 1);
    bakery.pass(
        &mut clock,
        &roster,
        "Ratify the federation's decision on the pay offer",
        Action::Ratify { federation: fid, motion: fmid, accept: true },
    )?;
    depot.pass(
        &mut clock,
        &a_roster,
        "Ratify the federation's decision on the pay offer",
        Action::Ratify { federation: fid, motion: fmid, accept: true },
    )?;
    mill.pass(
        &mut clock,
        &b_roster,
        "Ratify the federation's decision on the pay offer",
        Action::Ratify { federation: fid, motion: fmid, accept: false },
    )?;
    mill.pass(&mut clock, &b_roster, "Leave the Valley Federation", Action::Leave(fid))?;

    write_entries(&mut out, bakery.take_entries(), &mut entries_written)?;
    for c in [&mut depot, &mut mill] {
        out.genesis(c.genesis())?;
        let e = c.take_entries();
        write_entries(&mut out, e, &mut entries_written)?;
    }
    out.finish()?;
    let ballots = [&bakery, &depot, &mill].iter().map(|c| c.state().stats().ballots).sum();
    Ok(SampleSummary { primary: bakery.id(), federation: fid, councils: 3, entries: entries_written, ballots })
}
