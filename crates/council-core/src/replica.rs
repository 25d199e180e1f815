//! Copies of other councils' logs, kept by a node that follows them (its federations'
//! member councils), and the judgement of each entry that arrives by gossip or sync.
//!
//! An entry is applied only through [`CouncilState::apply`], in log order, exactly as
//! `council verify` would; an entry beyond a gap waits for sync.

use std::collections::BTreeMap;

use crate::council::{CouncilState, RecordError};
use crate::records::{CouncilId, Entry, Genesis};
use crate::verify::Verified;

/// What became of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Judgement {
    /// The next entry of a followed log: valid, applied, worth forwarding.
    Applied,
    /// Already applied (the same entry at the same place).
    Duplicate,
    /// An entry at a place already taken by a different entry, signed by the council's
    /// node key: the log forked.
    Conflict { seq: u64 },
    /// Beyond the end of the followed log: entries `have + 1 ..` are missing.
    Gap { council: CouncilId, have: u64 },
    /// A council this node does not follow (no genesis yet).
    Unknown(CouncilId),
    /// Breaks the council's rules.
    Invalid(RecordError),
}

impl Judgement {
    /// Whether gossip carrying this entry should be forwarded (accept), dropped quietly
    /// (ignore), or dropped with the sender penalised (reject). Exhaustive on purpose.
    pub fn verdict(&self) -> GossipVerdict {
        match self {
            Judgement::Applied => GossipVerdict::Accept,
            Judgement::Duplicate | Judgement::Gap { .. } | Judgement::Unknown(_) => GossipVerdict::Ignore,
            // A conflicting entry with a valid node signature is evidence, not noise: the
            // node keeps the pair as an equivocation proof (see PROTOCOL.md §9) and
            // forwards the proof, not the entry.
            Judgement::Conflict { .. } => GossipVerdict::Ignore,
            Judgement::Invalid(_) => GossipVerdict::Reject,
        }
    }
}

/// The three gossip verdicts, independent of the network library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GossipVerdict {
    Accept,
    Ignore,
    Reject,
}

/// The logs a node follows.
#[derive(Debug, Default)]
pub struct Replicas {
    logs: BTreeMap<CouncilId, CouncilState>,
}

impl Replicas {
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts following a council from its genesis (idempotent).
    pub fn follow(&mut self, genesis: Verified<Genesis>) -> Result<CouncilId, RecordError> {
        let id = genesis.council_id();
        if let std::collections::btree_map::Entry::Vacant(v) = self.logs.entry(id) {
            v.insert(CouncilState::new(genesis)?);
        }
        Ok(id)
    }

    /// Starts a federation-level copy of a council's log (PROTOCOL.md §12.9), unless it is
    /// followed already (whole or as a copy). A copy's entries skip places; by gossip it
    /// takes only the next place (anything further is a [`Judgement::Gap`], which a sync
    /// fills), by sync any later place ([`Replicas::judge_synced`]).
    pub fn follow_copy(&mut self, genesis: Verified<Genesis>) -> Result<CouncilId, RecordError> {
        let id = genesis.council_id();
        if let std::collections::btree_map::Entry::Vacant(v) = self.logs.entry(id) {
            v.insert(CouncilState::new_partial(genesis)?);
        }
        Ok(id)
    }

    /// Stops following a council (a copy about to be replaced by the whole log).
    pub fn forget(&mut self, council: &CouncilId) -> Option<CouncilState> {
        self.logs.remove(council)
    }

    /// Follows a council from a state already replayed (the node's own council, at start).
    pub fn insert(&mut self, state: CouncilState) {
        self.logs.insert(state.id(), state);
    }

    pub fn get(&self, council: &CouncilId) -> Option<&CouncilState> {
        self.logs.get(council)
    }

    pub fn councils(&self) -> &BTreeMap<CouncilId, CouncilState> {
        &self.logs
    }

    /// Where an entry at `seq` of `council` stands when this node cannot judge it yet:
    /// [`Judgement::Unknown`] (no genesis) or [`Judgement::Gap`] (beyond the next
    /// place). Needs no signature check, so the network can answer such entries cheaply.
    pub fn beyond_reach(&self, council: &CouncilId, seq: u64) -> Option<Judgement> {
        match self.logs.get(council) {
            None => Some(Judgement::Unknown(*council)),
            Some(st) if seq > st.seq() + 1 => Some(Judgement::Gap { council: *council, have: st.seq() }),
            Some(_) => None,
        }
    }

    /// Judges (and, if it is the next one, applies) an entry whose signatures are checked.
    pub fn judge(&mut self, entry: Verified<Entry>) -> Judgement {
        self.judge_inner(entry, false)
    }

    /// [`Replicas::judge`], for the entries of a sync answer (or a store) in order: a
    /// federation-level copy takes them although they skip places, since the answer holds
    /// every federation-level entry from where the copy stood (PROTOCOL.md §12.9).
    pub fn judge_synced(&mut self, entry: Verified<Entry>) -> Judgement {
        self.judge_inner(entry, true)
    }

    fn judge_inner(&mut self, entry: Verified<Entry>, synced: bool) -> Judgement {
        let council = entry.body.council;
        let seq = entry.body.seq;
        let skips = synced && self.logs.get(&council).is_some_and(CouncilState::is_partial);
        if let Some(j) = self.beyond_reach(&council, seq).filter(|j| !(skips && matches!(j, Judgement::Gap { .. }))) {
            return j;
        }
        let Some(st) = self.logs.get_mut(&council) else {
            return Judgement::Unknown(council);
        };
        if seq <= st.seq() {
            // Already past this place, whose node key is known: an entry signed by any
            // other key can never be valid there. The same entry again is a duplicate;
            // another entry signed by the node key for that place is a fork.
            return match st.node_key_at(seq) {
                // Place 0 is the genesis, never an entry.
                None => Judgement::Invalid(RecordError::OutOfSequence { expected: st.seq() + 1, found: seq }),
                Some(k) if k != entry.signer => {
                    Judgement::Invalid(RecordError::WrongNodeKey { expected: k.to_did(), found: entry.signer.to_did() })
                }
                Some(_) if st.holds(seq, &entry.id()) => Judgement::Duplicate,
                Some(_) => Judgement::Conflict { seq },
            };
        }
        match st.apply(entry) {
            Ok(()) => Judgement::Applied,
            Err(e) => Judgement::Invalid(e),
        }
    }
}
