//! Shared helpers for the council-core integration tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use council_core::council::{CouncilState, RecordError};
use council_core::export::{verify_reader, ExportWriter, Report};
use council_core::records::{
    Charter, CouncilId, CouncilRules, Entry, FederationRules, Payload, Rule, Share, Threshold,
};
use council_core::sample::{key_from_label, Clock, CouncilBuilder};
use council_core::verify::verify_entry;
use council_core::SecretKey;

pub const T0: u64 = 1_800_000_000;

/// A council of `n` members with default rules.
pub struct Council {
    pub b: CouncilBuilder,
    pub keys: Vec<SecretKey>,
}

impl Council {
    pub fn new(label: &str, n: usize, clock: &mut Clock) -> Self {
        Self::with_rules(label, n, CouncilRules::default(), clock)
    }
    pub fn with_rules(label: &str, n: usize, rules: CouncilRules, clock: &mut Clock) -> Self {
        let keys: Vec<SecretKey> = (0..n).map(|i| key_from_label(&format!("{label}/m{i}"))).collect();
        let refs: Vec<&SecretKey> = keys.iter().collect();
        let b =
            CouncilBuilder::found(label, &refs, rules, key_from_label(&format!("{label}/node")), clock.tick()).unwrap();
        Council { b, keys }
    }
    pub fn all(&self) -> Vec<&SecretKey> {
        self.keys.iter().collect()
    }
    /// Signs `payload` as the next entry and applies it to a copy of the state,
    /// leaving the builder untouched.
    pub fn try_append(&self, time: u64, payload: Payload) -> Result<CouncilState, RecordError> {
        let st = self.b.state();
        let e = self.b.forge_conflicting(st.seq() + 1, st.head(), time, payload);
        try_apply(st, e)
    }
}

pub fn try_apply(st: &CouncilState, e: Entry) -> Result<CouncilState, RecordError> {
    let v = verify_entry(e).expect("signatures are valid");
    let mut st = st.clone();
    st.apply(v)?;
    Ok(st)
}

/// An export of the given councils (the first is the primary).
pub fn export(councils: &mut [&mut CouncilBuilder]) -> Vec<u8> {
    let mut w = ExportWriter::new(Vec::new(), councils[0].id()).unwrap();
    for c in councils.iter_mut() {
        w.genesis(c.genesis()).unwrap();
        // Builders hand out their entries once: tests build each export once.
        for e in c.take_entries() {
            w.entry(e).unwrap();
        }
    }
    w.finish().unwrap()
}

pub fn verify(bytes: &[u8]) -> Report {
    verify_reader(bytes)
}

pub fn errors(r: &Report) -> String {
    r.errors.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

/// The void federation events of a report, one per line.
pub fn voids(r: &Report) -> String {
    r.void_federation_events.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n")
}

/// The charter the federation tests found: majority admission, half the councils voting.
pub fn charter(founders: Vec<CouncilId>) -> Charter {
    Charter {
        name: "F".into(),
        principles: vec!["no power above the councils".into()],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders,
        created_at: T0,
    }
}
