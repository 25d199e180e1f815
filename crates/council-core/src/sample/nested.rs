//! Federations of federations built by their own records (PROTOCOL.md §8.1), for tests,
//! the fuzz corpus and benchmarks.
//!
//! A [`World`] holds councils, each acted for by a [`CouncilBuilder`], and the federations
//! they form. Every federation step is done the way a federation does it: a council act,
//! or a federation motion carrying an act that the members' delegates pass (and, to join,
//! that every bound council ratifies). So the logs are exactly what real councils would
//! log, and every rule of the replay applies to them.

use std::collections::BTreeMap;

use super::{invite_proof, key_from_label, Clock, CouncilBuilder, SampleError};
use crate::council::RecordError;
use crate::export::ExportWriter;
use crate::hash::Hash;
use crate::keys::SecretKey;
use crate::records::{
    Action, Charter, CouncilId, CouncilRules, FederationAct, FederationId, FederationMotion, FederationRules, Mandate,
    MotionId, Rule, Scope, Share, Threshold,
};

/// A member of a federation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Part {
    /// A council, by its index in [`World::councils`].
    Council(usize),
    Federation(FederationId),
}

/// One council of the world, and its members' keys.
#[derive(Debug)]
pub struct SampleCouncil {
    pub b: CouncilBuilder,
    pub keys: Vec<SecretKey>,
}

/// Who casts a member's ballots in a federation: a member of a council, under a mandate.
#[derive(Debug, Clone, Copy)]
struct Delegate {
    council: usize,
    key: usize,
    mandate: MotionId,
}

#[derive(Debug)]
struct Fed {
    charter: Charter,
    /// Members in the order they joined.
    members: Vec<Part>,
    delegates: BTreeMap<Part, Delegate>,
    /// 1 for a federation of councils, one more than its highest member federation above.
    height: u64,
}

/// Councils and federations of federations, with one shared clock.
#[derive(Debug)]
pub struct World {
    pub clock: Clock,
    pub councils: Vec<SampleCouncil>,
    feds: BTreeMap<FederationId, Fed>,
}

/// How long each federation motion at `height` stays open: a motion carried up from below
/// must close after the motion that carries it, with time for the ballots in between.
fn window(height: u64) -> u64 {
    1000 * height
}

impl World {
    pub fn new(start: u64) -> World {
        World { clock: Clock(start), councils: Vec::new(), feds: BTreeMap::new() }
    }

    /// Founds a council of `members` members with default rules; returns its index.
    pub fn council(&mut self, label: &str, members: usize) -> Result<usize, RecordError> {
        let keys: Vec<SecretKey> = (0..members).map(|i| key_from_label(&format!("{label}/member/{i}"))).collect();
        let refs: Vec<&SecretKey> = keys.iter().collect();
        let node = key_from_label(&format!("{label}/node"));
        let b = CouncilBuilder::found(label, &refs, CouncilRules::default(), node, self.clock.tick())?;
        self.councils.push(SampleCouncil { b, keys });
        Ok(self.councils.len() - 1)
    }

    pub fn council_id(&self, i: usize) -> CouncilId {
        self.councils[i].b.id()
    }

    fn id_of(&self, p: Part) -> Hash {
        match p {
            Part::Council(i) => self.council_id(i),
            Part::Federation(f) => f,
        }
    }

    /// The councils bound by `fed`: its member councils and those of its member
    /// federations, at any depth, each once.
    pub fn bound(&self, fed: FederationId) -> Vec<usize> {
        let mut out = Vec::new();
        let mut stack = vec![fed];
        while let Some(f) = stack.pop() {
            for p in self.feds.get(&f).map(|f| f.members.as_slice()).unwrap_or_default() {
                match *p {
                    Part::Council(i) if !out.contains(&i) => out.push(i),
                    Part::Council(_) => {}
                    Part::Federation(inner) => stack.push(inner),
                }
            }
        }
        out
    }

    /// Council `i` passes `action` by its members' unanimous final ballots.
    pub fn pass(&mut self, i: usize, action: Action) -> Result<MotionId, RecordError> {
        let title = match &action {
            Action::OpenFederationMotion(m) => format!("Move in our federation: {}", m.title),
            Action::SignCharter { charter, .. } => format!("Sign the charter of {:?}", charter.name),
            Action::Mandate(_) => "Give our delegate a mandate".into(),
            Action::Ratify { accept: true, .. } => "Ratify the federation's decision".into(),
            Action::Ratify { accept: false, .. } => "Refuse the federation's decision".into(),
            Action::Admit { .. } => "Countersign a newcomer's admission".into(),
            Action::Resolution => "Minutes of the meeting".into(),
            other => other.kind().into(),
        };
        let c = &mut self.councils[i];
        let refs: Vec<&SecretKey> = c.keys.iter().collect();
        Ok(c.b.pass(&mut self.clock, &refs, &title, action)?.0)
    }

    /// A charter for `founders`: strict-majority admission, half the members voting.
    pub fn charter(&self, name: &str, founders: &[Part]) -> Charter {
        Charter {
            name: name.into(),
            principles: vec!["no power above the councils".into()],
            rules: FederationRules {
                admission: Threshold::SIMPLE_MAJORITY,
                motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
                weighting: Default::default(),
            },
            founders: founders.iter().map(|p| self.id_of(*p)).collect(),
            created_at: self.clock.0,
        }
    }

    /// Founds a federation of `founders` (councils and federations), and gives each a
    /// delegate in it.
    pub fn found(&mut self, name: &str, founders: &[Part]) -> Result<FederationId, RecordError> {
        let charter = self.charter(name, founders);
        let id = charter.id();
        for p in founders {
            let sign = FederationAct::SignCharter { charter: charter.clone(), invite: None };
            match *p {
                Part::Council(i) => {
                    self.pass(i, Action::SignCharter { charter: charter.clone(), invite: None })?;
                }
                Part::Federation(f) => {
                    let m = self.decide(f, sign, 0)?;
                    self.ratify_all(f, m)?;
                }
            }
        }
        let height = founders.iter().map(|p| self.height(*p)).max().unwrap_or(0) + 1;
        self.feds.insert(id, Fed { charter, members: founders.to_vec(), delegates: BTreeMap::new(), height });
        for p in founders {
            self.send_delegate(id, *p)?;
        }
        Ok(id)
    }

    fn height(&self, p: Part) -> u64 {
        match p {
            Part::Council(_) => 0,
            Part::Federation(f) => self.feds.get(&f).map_or(0, |f| f.height),
        }
    }

    /// Gives member `p` of `fed` a delegate there, scope all: a council's member 0, or, for
    /// a federation, member 1 of its first bound council, by the federation's mandate act.
    fn send_delegate(&mut self, fed: FederationId, p: Part) -> Result<(), RecordError> {
        let expires_at = self.clock.0 + 100 * 365 * 86_400;
        let delegate = match p {
            Part::Council(i) => {
                let delegate = self.councils[i].keys[0].public();
                let m = Mandate { delegate, federation: fed, scope: Scope::All, instructions: vec![], expires_at };
                Delegate { council: i, key: 0, mandate: self.pass(i, Action::Mandate(m))? }
            }
            Part::Federation(f) => {
                let council = self.bound(f).first().copied().ok_or(RecordError::InvalidMotion("no council"))?;
                let key = 1 % self.councils[council].keys.len();
                let delegate = self.councils[council].keys[key].public();
                let m = Mandate { delegate, federation: fed, scope: Scope::All, instructions: vec![], expires_at };
                let act = FederationAct::Mandate { council: self.council_id(council), mandate: m };
                Delegate { council, key, mandate: self.decide(f, act, 0)? }
            }
        };
        if let Some(f) = self.feds.get_mut(&fed) {
            f.delegates.insert(p, delegate);
        }
        Ok(())
    }

    /// Opens `motion` in its federation by the act of the federation's first member: a
    /// council's act, or the first member federation's passed act (recursively). Returns
    /// the motion's id.
    pub fn open(&mut self, motion: FederationMotion) -> Result<MotionId, RecordError> {
        let first = self.feds.get(&motion.federation).and_then(|f| f.members.first().copied());
        match first.ok_or(RecordError::InvalidMotion("an unknown federation"))? {
            Part::Council(i) => self.pass(i, Action::OpenFederationMotion(motion)),
            Part::Federation(f) => {
                let federation = motion.federation;
                let carrier = self.decide(f, FederationAct::OpenMotion(motion), 0)?;
                Ok(FederationMotion::opened_by_act(carrier, federation))
            }
        }
    }

    /// A yes/no motion of `fed` that carries `act`, closing after a window of its height.
    pub fn act_motion(&self, fed: FederationId, act: Option<FederationAct>) -> FederationMotion {
        let height = self.feds.get(&fed).map_or(1, |f| f.height);
        FederationMotion {
            federation: fed,
            matter: "federation".into(),
            title: match act.as_ref() {
                None => "A question for the federation".into(),
                Some(FederationAct::SignCharter { charter, .. }) => format!("Join {:?}", charter.name),
                Some(FederationAct::Mandate { .. }) => "Send our delegate".into(),
                Some(FederationAct::OpenMotion(m)) => format!("Move above: {}", m.title),
                Some(FederationAct::Admit { .. }) => "Countersign a newcomer's admission above".into(),
                Some(FederationAct::Leave(_)) => "Leave the federation above".into(),
                Some(FederationAct::Recall(_)) => "Recall our delegate".into(),
            },
            options: vec!["yes".into(), "no".into()],
            closes_at: self.clock.0 + window(height),
            act: act.map(Box::new),
        }
    }

    /// `fed` decides a motion carrying `act`: opens it, every member's delegate votes
    /// `choice`, and the clock moves past its close. Returns the motion's id.
    pub fn decide(&mut self, fed: FederationId, act: FederationAct, choice: u32) -> Result<MotionId, RecordError> {
        let motion = self.act_motion(fed, Some(act));
        let closes_at = motion.closes_at;
        let id = self.open(motion)?;
        self.vote_all(fed, id, choice)?;
        self.clock.advance_to(closes_at + 1);
        Ok(id)
    }

    /// Every member of `fed` votes `choice` on its motion `motion`, through its delegate.
    pub fn vote_all(&mut self, fed: FederationId, motion: MotionId, choice: u32) -> Result<(), RecordError> {
        let ballots: Vec<(Part, Delegate)> =
            self.feds.get(&fed).map(|f| f.delegates.iter().map(|(p, d)| (*p, *d)).collect()).unwrap_or_default();
        for (p, d) in ballots {
            let t = self.clock.tick();
            let c = &mut self.councils[d.council];
            let key = &c.keys[d.key];
            match p {
                Part::Council(_) => c.b.delegate_vote(t, key, fed, motion, d.mandate, choice)?,
                Part::Federation(f) => c.b.delegate_vote_for(t, key, fed, motion, f, d.mandate, choice)?,
            }
        }
        Ok(())
    }

    /// Every council bound by `fed` ratifies its motion `motion`.
    pub fn ratify_all(&mut self, fed: FederationId, motion: MotionId) -> Result<(), RecordError> {
        for i in self.bound(fed) {
            self.pass(i, Action::Ratify { federation: fed, motion, accept: true })?;
        }
        Ok(())
    }

    /// Federation `joiner` joins `host` by an invite from `host`'s first bound council;
    /// `host`'s members admit it, and it gets a delegate there. If the joining act turns
    /// out void (a loop), nothing more is done. Returns whether `joiner` became a member.
    pub fn join(&mut self, joiner: FederationId, host: FederationId) -> Result<bool, RecordError> {
        let issuer = self.bound(host).first().copied().ok_or(RecordError::InvalidMotion("no council"))?;
        let invite = key_from_label(&format!("invite/{}/{}", joiner.to_hex(), host.to_hex()));
        let t = self.clock.tick();
        let c = &mut self.councils[issuer];
        c.b.invite(t, &c.keys[0], host, &invite, 1, t + 100 * 365 * 86_400)?;
        let proof = invite_proof(&invite, self.council_id(issuer), host, joiner);
        let charter = self.feds.get(&host).map(|f| f.charter.clone()).ok_or(RecordError::InvalidMotion("no host"))?;
        let m = self.decide(joiner, FederationAct::SignCharter { charter, invite: Some(proof) }, 0)?;
        self.ratify_all(joiner, m)?;
        if self.contains(joiner, host) {
            return Ok(false);
        }
        let admitters: Vec<Part> = self.feds.get(&host).map(|f| f.members.clone()).unwrap_or_default();
        for p in admitters {
            match p {
                Part::Council(i) => {
                    self.pass(i, Action::Admit { federation: host, council: joiner })?;
                }
                Part::Federation(f) => {
                    self.decide(f, FederationAct::Admit { federation: host, member: joiner }, 0)?;
                }
            }
        }
        let height = self.height(Part::Federation(joiner)) + 1;
        if let Some(f) = self.feds.get_mut(&host) {
            f.members.push(Part::Federation(joiner));
            f.height = f.height.max(height);
        }
        self.send_delegate(host, Part::Federation(joiner))?;
        Ok(true)
    }

    /// Whether `outer` contains `inner` as a member, at any depth (or is it).
    pub fn contains(&self, outer: FederationId, inner: FederationId) -> bool {
        let mut stack = vec![outer];
        while let Some(f) = stack.pop() {
            if f == inner {
                return true;
            }
            for p in self.feds.get(&f).map(|f| f.members.as_slice()).unwrap_or_default() {
                if let Part::Federation(x) = p {
                    stack.push(*x);
                }
            }
        }
        false
    }

    /// Every council logs an entry at `t`, so that every federation's clock reaches it.
    pub fn settle_at(&mut self, t: u64) -> Result<(), RecordError> {
        self.clock.advance_to(t);
        for i in 0..self.councils.len() {
            self.pass(i, Action::Resolution)?;
        }
        Ok(())
    }

    /// An export of every council's log (the first council is the primary).
    pub fn export(&mut self) -> std::io::Result<Vec<u8>> {
        let primary = self.councils.first().map(|c| c.b.id()).unwrap_or(Hash([0; 32]));
        let mut w = ExportWriter::new(Vec::new(), primary)?;
        for c in &mut self.councils {
            w.genesis(c.b.genesis())?;
            for e in c.b.take_entries() {
                w.entry(e)?;
            }
        }
        w.finish()
    }
}

/// What [`federations_of_federations`] built.
#[derive(Debug, Clone, serde::Serialize)]
pub struct NestedSummary {
    pub councils: usize,
    /// The four federations of two councils each.
    pub lowest: Vec<FederationId>,
    /// The two federations of two of those.
    pub middle: Vec<FederationId>,
    /// The federation above those two.
    pub top: FederationId,
    /// The motion decided at the top.
    pub motion: MotionId,
}

/// Federations of federations in one export (`council sample --nested`, and the fuzz
/// corpus): eight councils in four federations, two federations of two of those, and one
/// above those two; a motion decided at the top through three nested acts and ratified
/// by every council below (the odd ones refuse); then the top federation tries to join
/// one it contains, and that act is void (a loop). Deterministic.
pub fn federations_of_federations(start: u64) -> Result<(Vec<u8>, NestedSummary), SampleError> {
    let mut w = World::new(start);
    let mut lowest = Vec::new();
    for k in 0..4 {
        let a = w.council(&format!("Council {}A", k + 1), 3)?;
        let b = w.council(&format!("Council {}B", k + 1), 3)?;
        lowest.push(w.found(&format!("Local federation {}", k + 1), &[Part::Council(a), Part::Council(b)])?);
    }
    let north = w.found("Northern region", &[Part::Federation(lowest[0]), Part::Federation(lowest[1])])?;
    let south = w.found("Southern region", &[Part::Federation(lowest[2]), Part::Federation(lowest[3])])?;
    let top = w.found("Federation of the regions", &[Part::Federation(north), Part::Federation(south)])?;
    let mut motion = w.act_motion(top, None);
    motion.matter = "pay".into();
    motion.title = "A common pay claim for the spring?".into();
    let closes_at = motion.closes_at;
    let id = w.open(motion)?;
    w.vote_all(top, id, 0)?;
    w.settle_at(closes_at + 1)?;
    for i in w.bound(top) {
        w.pass(i, Action::Ratify { federation: top, motion: id, accept: i % 2 == 0 })?;
    }
    w.join(top, lowest[0])?;
    let t = w.clock.0 + 1;
    w.settle_at(t)?;
    let summary = NestedSummary { councils: w.councils.len(), lowest, middle: vec![north, south], top, motion: id };
    Ok((w.export()?, summary))
}
