//! The export file: decoding is strict, and any damage is caught and named.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::errors;
use council_core::cbor::Cbor;
use council_core::export::{verify_reader, ExportItem, ItemReader};
use council_core::records::{Entry, Payload, VoteBody};
use council_core::sample::{write_sample, SampleParams};
use council_core::DecodeError;
use proptest::prelude::*;
use std::sync::OnceLock;

fn small_sample() -> &'static [u8] {
    static S: OnceLock<Vec<u8>> = OnceLock::new();
    S.get_or_init(|| {
        let mut v = Vec::new();
        write_sample(&SampleParams { members: 3, motions: 3, votes_per_motion: 4 }, &mut v).unwrap();
        v
    })
}

#[test]
fn the_sample_verifies_and_the_report_is_truthful() {
    let mut v = Vec::new();
    let s = write_sample(&SampleParams::default(), &mut v).unwrap();
    let r = verify_reader(&v[..]);
    assert!(r.valid, "{}", errors(&r));
    assert_eq!(r.primary, Some(s.primary));
    assert_eq!(r.councils.len(), 3);
    assert_eq!(r.checked.entries, s.entries);
    assert_eq!(r.checked.ballots, s.ballots);
    let bakery = &r.councils[0];
    assert!(bakery.primary);
    // Every kind of motion is in the sample.
    for kind in [
        "resolution",
        "choice",
        "add-member",
        "remove-member",
        "rotate-key",
        "set-node-key",
        "mandate",
        "recall",
        "sign-charter",
        "admit",
        "ratify",
    ] {
        assert!(r.councils.iter().flat_map(|c| &c.motions).any(|m| m.kind == kind), "no {kind} motion");
    }
    assert!(r.councils.iter().flat_map(|c| &c.motions).any(|m| m.kind == "federation-motion"));
    assert!(r.councils.iter().flat_map(|c| &c.motions).any(|m| m.kind == "leave"));
    assert!(bakery.motions.iter().any(|m| m.ballots_changed > 0), "no changed votes");
    let recalls: Vec<_> = bakery.mandates.iter().filter_map(|m| m.recall.as_ref().map(|r| r.by)).collect();
    assert_eq!(recalls.len(), 2, "one recall by motion, one by petition");
    let fed = &r.federations[0];
    assert_eq!(fed.members.len(), 3);
    assert!(fed.motions[0].votes.iter().any(|v| v.status == council_core::federation::BallotStatus::Struck));
}

#[test]
fn the_sample_is_deterministic() {
    let mut a = Vec::new();
    let mut b = Vec::new();
    write_sample(&SampleParams { members: 5, motions: 2, votes_per_motion: 6 }, &mut a).unwrap();
    write_sample(&SampleParams { members: 5, motions: 2, votes_per_motion: 6 }, &mut b).unwrap();
    assert_eq!(a, b);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn flipping_any_byte_makes_the_export_invalid(pos in any::<prop::sample::Index>(), x in 1u8..=255) {
        let mut bytes = small_sample().to_vec();
        let i = pos.index(bytes.len());
        bytes[i] ^= x;
        let r = verify_reader(&bytes[..]);
        prop_assert!(!r.valid, "flipping byte {} by {:#x} went unnoticed", i, x);
        prop_assert!(!r.errors.is_empty());
    }

    #[test]
    fn truncating_anywhere_makes_the_export_invalid(pos in any::<prop::sample::Index>()) {
        let bytes = small_sample();
        let n = pos.index(bytes.len());
        let r = verify_reader(&bytes[..n]);
        prop_assert!(!r.valid, "truncating to {} bytes went unnoticed", n);
    }
}

/// The first entry item of the sample that holds a vote.
fn first_vote_entry() -> Entry {
    let mut r = ItemReader::new(small_sample());
    while let Some((_, bytes)) = r.next_item().unwrap() {
        if let Ok(ExportItem::Entry(e)) = ExportItem::from_cbor(&bytes) {
            if matches!(&e.body.payload, Payload::Vote(v) if !v.body.is_final) {
                return e;
            }
        }
    }
    panic!("the sample has votes");
}

#[test]
fn decoding_rejects_non_canonical_encodings() {
    let e = first_vote_entry();
    let Payload::Vote(v) = &e.body.payload else { unreachable!() };
    let canonical = v.body.to_cbor();
    assert_eq!(VoteBody::from_cbor(&canonical).unwrap(), v.body);
    // The counter (a small integer) written with a one-byte argument instead of inline.
    let counter = v.body.counter;
    assert!(counter < 24);
    let mut long = canonical.clone();
    let last = long.len() - 1;
    assert_eq!(long[last], counter as u8);
    long[last] = 0x18;
    long.push(counter as u8);
    assert!(matches!(VoteBody::from_cbor(&long), Err(DecodeError::NonCanonical { .. })));
    // A final ballot carries a sixth element, true; "false" there is not canonical (the
    // flag is left out instead), and the array has five or six elements.
    let fin = VoteBody { is_final: true, ..v.body.clone() }.to_cbor();
    assert_eq!((fin[0], fin[fin.len() - 1]), (0x86, 0xf5));
    assert!(VoteBody::from_cbor(&fin).unwrap().is_final);
    let mut not_final = fin.clone();
    *not_final.last_mut().unwrap() = 0xf4;
    assert!(matches!(VoteBody::from_cbor(&not_final), Err(DecodeError::NonCanonical { .. })));
    let mut seven = fin.clone();
    seven[0] = 0x87;
    seven.push(0xf5);
    assert!(matches!(VoteBody::from_cbor(&seven), Err(DecodeError::TooLong { .. })));
    // Trailing bytes.
    let mut trailing = canonical.clone();
    trailing.push(0);
    assert!(matches!(VoteBody::from_cbor(&trailing), Err(DecodeError::TrailingBytes { .. })));
    // A whole entry round-trips to the very same bytes.
    let bytes = e.to_cbor();
    assert_eq!(Entry::from_cbor(&bytes).unwrap().to_cbor(), bytes);
}

#[test]
fn decoding_rejects_a_weak_key() {
    let e = first_vote_entry();
    let Payload::Vote(v) = &e.body.payload else { unreachable!() };
    let mut bytes = v.to_cbor();
    // Replace the signer (a 32-byte string after the body) with the identity point.
    let key = v.signer.as_bytes();
    let at = bytes.windows(32).position(|w| w == key).unwrap();
    let mut identity = [0u8; 32];
    identity[0] = 1;
    bytes[at..at + 32].copy_from_slice(&identity);
    let err = council_core::records::Signed::<VoteBody>::from_cbor(&bytes).unwrap_err();
    assert!(matches!(err, DecodeError::Key { source: council_core::KeyError::SmallOrder, .. }), "{err}");
}

#[test]
fn a_tampered_vote_is_named_in_the_report() {
    let mut bytes = small_sample().to_vec();
    // Find the first vote entry and change its choice inside the signed body.
    let e = first_vote_entry();
    let item = ExportItem::Entry(e.clone()).to_cbor();
    let at = bytes.windows(item.len()).position(|w| w == &item[..]).unwrap();
    let Payload::Vote(v) = &e.body.payload else { unreachable!() };
    let body = v.body.to_cbor();
    let body_at = at + item.windows(body.len()).position(|w| w == &body[..]).unwrap();
    let choice_at = body_at + body.len() - 2; // [.., choice, counter]: both small ints
    bytes[choice_at] ^= 1;
    let r = verify_reader(&bytes[..]);
    assert!(!r.valid);
    let first = &r.errors[0];
    assert_eq!(first.record, "vote");
    assert_eq!(first.seq, Some(e.body.seq));
    assert!(first.reason.contains("the entry's signature"), "{}", first.reason);
}
