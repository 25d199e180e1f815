//! Federation-level copies of logs (PROTOCOL.md §12.9): what a node of a higher federation
//! holds of the councils it is bound with only through member federations. The copy
//! decides every federation exactly as the whole logs do, and a copy that holds what it
//! must not (a ballot, a name), or an entry its node did not sign, is refused.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;

use common::{errors, verify, T0};
use council_core::cbor::Cbor;
use council_core::council::{CouncilState, RecordError};
use council_core::export::{federation_level_copy, ExportItem, ItemReader};
use council_core::records::{CouncilId, Entry, EntryBody, Genesis, Outcome, Payload, Signed};
use council_core::sample::key_from_label;
use council_core::sample::nested::federations_of_federations;
use council_core::verify::Verified;

/// The nested sample's export and the councils of its first local federation: a node of
/// council 0 holds those two logs whole and the six others as federation-level copies.
fn sample() -> (Vec<u8>, BTreeSet<CouncilId>) {
    let (bytes, summary) = federations_of_federations(T0).unwrap();
    let whole: BTreeSet<CouncilId> = verify(&bytes)
        .federations
        .iter()
        .find(|f| f.id == summary.lowest[0])
        .unwrap()
        .members
        .iter()
        .map(|m| m.council)
        .collect();
    assert_eq!(whole.len(), 2);
    (bytes, whole)
}

/// Every log of an export, genesis first, entries in order.
fn logs(bytes: &[u8]) -> Vec<(Genesis, Vec<Entry>)> {
    let mut reader = ItemReader::new(bytes);
    let mut out: Vec<(Genesis, Vec<Entry>)> = Vec::new();
    while let Some((_, item)) = reader.next_item().unwrap() {
        match ExportItem::from_cbor(&item).unwrap() {
            ExportItem::Genesis(g) | ExportItem::PartialGenesis(g) => out.push((g, Vec::new())),
            ExportItem::Entry(e) => out.last_mut().unwrap().1.push(e),
            _ => {}
        }
    }
    out
}

fn state(g: &Genesis, entries: &[Entry], partial: bool) -> Result<CouncilState, RecordError> {
    let g = Verified::from_own_store(g.clone());
    let mut st = if partial { CouncilState::new_partial(g)? } else { CouncilState::new(g)? };
    for e in entries {
        st.apply(Verified::from_own_store(e.clone()))?;
    }
    Ok(st)
}

#[test]
fn a_federation_level_copy_decides_every_federation_as_the_whole_logs_do() {
    let (bytes, whole) = sample();
    let copy = federation_level_copy(&bytes, |c| whole.contains(c)).unwrap();
    let (full, partial) = (verify(&bytes), verify(&copy));
    assert!(full.valid && partial.valid, "{}", errors(&partial));
    let copies: Vec<_> = partial.councils.iter().filter(|c| c.partial).map(|c| c.id).collect();
    assert_eq!(copies.len(), 6, "six councils are bound with council 0 only through member federations");
    assert!(partial.councils.iter().filter(|c| !c.partial).all(|c| whole.contains(&c.id)));
    // No ballot and no name crosses into a copy; every federation event does.
    assert!(
        partial.checked.ballots < full.checked.ballots / 2,
        "{} of {}",
        partial.checked.ballots,
        full.checked.ballots
    );
    assert_eq!(partial.checked.delegate_votes, full.checked.delegate_votes);
    assert_eq!(partial.checked.petition_signatures, full.checked.petition_signatures);
    // The same federations, the same acts, ballots, ratifications and void events, as of
    // the same clock (a copy's own clock stops at its last federation-level entry, §12.9).
    let now = full.councils.iter().map(|c| c.last_time).max().unwrap();
    let as_of = |b: &[u8]| {
        let states: std::collections::BTreeMap<CouncilId, CouncilState> = logs(b)
            .iter()
            .map(|(g, es)| {
                let partial = b == copy.as_slice() && !whole.contains(&g.council_id());
                (g.council_id(), state(g, es, partial).unwrap())
            })
            .collect();
        let (feds, void) = council_core::federation::evaluate_at(&states, now);
        (
            serde_json::to_string(&feds).unwrap(),
            void.iter().map(|v| (v.council, v.seq, v.reason.clone())).collect::<Vec<_>>(),
        )
    };
    let (a, b) = (as_of(&bytes), as_of(&copy));
    assert_eq!(a.0, b.0);
    assert_eq!(a.1, b.1);
    assert!(a.0.contains("\"void\"") && a.0.contains("loop"), "the sample's loop attempt is void in both");
    assert!(a.0.contains("\"counted\""), "ballots cast through nested acts count in both");
}

/// The node of a council bound only through a member federation hands over a copy that
/// holds a ballot: the copy refuses it, and what it had stays.
#[test]
fn a_copy_refuses_ballots_and_names() {
    let (bytes, whole) = sample();
    let (g, entries) = logs(&bytes).into_iter().find(|(g, _)| !whole.contains(&g.council_id())).unwrap();
    let full = state(&g, &entries, false).unwrap();
    let mut copy = state(&g, &[], true).unwrap();
    let mut refused = BTreeSet::new();
    for e in &entries {
        let fed = full.is_federation_level(&e.body.payload);
        let before = copy.seq();
        match copy.apply(Verified::from_own_store(e.clone())) {
            Ok(()) => assert!(fed, "a copy took a {} entry", e.body.payload.kind()),
            Err(RecordError::NotFederationLevel { kind }) => {
                refused.insert(kind);
                assert_eq!(copy.seq(), before);
            }
            // A close of a motion the copy does not hold (a resolution's) names an unknown
            // motion there.
            Err(RecordError::UnknownMotion(_)) => assert!(matches!(e.body.payload, Payload::Close { .. }) && !fed),
            Err(other) => panic!("{other}"),
        }
    }
    assert!(refused.contains("vote") && refused.contains("motion that enacts nothing"), "{refused:?}");
    assert_eq!(copy.fed_events().len(), full.fed_events().len());
}

/// A federation-level copy checks each entry against the node key in force, its place
/// and its time, like a whole log: an entry signed by another key, one at a place already
/// passed, or a close whose outcome cannot be its motion's, is refused.
#[test]
fn a_copy_refuses_what_its_node_did_not_sign() {
    let (bytes, whole) = sample();
    let (g, entries) = logs(&bytes).into_iter().find(|(g, _)| !whole.contains(&g.council_id())).unwrap();
    let full = state(&g, &entries, false).unwrap();
    let fed: Vec<Entry> = entries.iter().filter(|e| full.is_federation_level(&e.body.payload)).cloned().collect();
    let half = fed.len() / 2;
    let mut copy = state(&g, &fed[..half], true).unwrap();
    let next = fed[half].clone();
    // Signed by an outsider's key.
    let forger = key_from_label("forger");
    let forged = Signed::sign(next.body.clone(), &forger);
    assert!(matches!(copy.apply(Verified::from_own_store(forged)), Err(RecordError::WrongNodeKey { .. })));
    // A place already passed.
    let old = fed[half - 1].clone();
    assert!(matches!(copy.apply(Verified::from_own_store(old)), Err(RecordError::OutOfSequence { .. })));
    // A close that states a choice on a yes/no motion, signed by the node itself: the
    // copy takes a close as its node states it, but only an outcome its motion can have.
    let node = key_from_label(&format!("{}/node", g.body.name));
    assert_eq!(node.public(), copy.node_key());
    let (at, close) =
        fed.iter().enumerate().skip(half).find(|(_, e)| matches!(e.body.payload, Payload::Close { .. })).unwrap();
    let Payload::Close { motion, .. } = &close.body.payload else { unreachable!() };
    let mut tail = state(&g, &fed[..at], true).unwrap();
    let mut body: EntryBody = close.body.clone();
    body.payload = Payload::Close { motion: *motion, outcome: Outcome::Chosen(0) };
    let wrong = Signed::sign(body, &node);
    assert!(matches!(tail.apply(Verified::from_own_store(wrong)), Err(RecordError::ImpossibleOutcome { .. })));
    tail.apply(Verified::from_own_store(close.clone())).unwrap();
    // What it had is untouched, and it takes the rest in order.
    for e in &fed[half..] {
        copy.apply(Verified::from_own_store(e.clone())).unwrap();
    }
    assert_eq!(copy.fed_events().len(), full.fed_events().len());
    assert_eq!(copy.node_key(), full.node_key());
}

mod any_holding {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// Whichever councils a node holds whole and whichever as copies, it decides
        /// every federation of the nested sample as the whole logs do, as of one clock.
        #[test]
        fn copies_decide_as_whole_logs(mask in 0u8..=255) {
            let (bytes, _) = federations_of_federations(T0).unwrap();
            let ids: Vec<CouncilId> = logs(&bytes).iter().map(|(g, _)| g.council_id()).collect();
            // The primary (the first council) is always whole.
            let whole: BTreeSet<CouncilId> =
                ids.iter().enumerate().filter(|(i, _)| *i == 0 || mask & (1 << i) != 0).map(|(_, c)| *c).collect();
            let copy = federation_level_copy(&bytes, |c| whole.contains(c)).unwrap();
            let report = verify(&copy);
            prop_assert!(report.valid, "{}", errors(&report));
            let now = verify(&bytes).councils.iter().map(|c| c.last_time).max().unwrap();
            let decide = |b: &[u8], copies: bool| {
                let states: std::collections::BTreeMap<CouncilId, CouncilState> = logs(b)
                    .iter()
                    .map(|(g, es)| (g.council_id(), state(g, es, copies && !whole.contains(&g.council_id())).unwrap()))
                    .collect();
                serde_json::to_string(&council_core::federation::evaluate_at(&states, now).0).unwrap()
            };
            prop_assert_eq!(decide(&bytes, false), decide(&copy, true));
        }
    }
}
