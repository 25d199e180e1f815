//! The ed25519 edge cases of "Taming the many EdDSAs" (Chalkias, Garillot, Nikolaenko;
//! the 12 vectors of github.com/novifinancial/ed25519-speccheck, `cases.txt`): small-order
//! and mixed-order keys and `R`s, `S ≥ ℓ`, non-canonical `R` and `A`.
//!
//! Each is judged three ways, which must agree: by the rules exactly as PROTOCOL.md §2
//! writes them (computed here, independently, with curve25519-dalek), by `council_core`
//! (the code the daemon and `council verify` share: key decoding inside a record, and
//! `PublicKey::verify`), and by the verdict table printed in PROTOCOL.md §2.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use council_core::cbor::Cbor;
use council_core::keys::Signature;
use council_core::records::{Signed, VoteBody};
use council_core::sample::key_from_label;
use council_core::{Hash, PublicKey};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use sha2::{Digest, Sha512};

include!("common/speccheck.rs");

/// Why a key is refused, by the numbered key rules of PROTOCOL.md §2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Key rule 1: not a point.
    KeyNotAPoint,
    /// Key rule 2: non-canonical encoding.
    KeyNonCanonical,
    /// Key rule 3: small order.
    KeySmallOrder,
    /// Key rule 4: mixed order.
    KeyMixedOrder,
    /// Key accepted; signature rule 1: `S ≥ ℓ`.
    SigSNotReduced,
    /// Key accepted; signature rule 2: `R` not a point, or of small order.
    SigRBad,
    /// Key accepted; signature rule 3: the equation fails.
    SigEquation,
    Valid,
}

/// The verdicts as printed in PROTOCOL.md §2 (the table there must say the same).
const DOCUMENTED: [Verdict; 12] = [
    Verdict::KeySmallOrder,
    Verdict::KeySmallOrder,
    Verdict::KeyMixedOrder,
    Verdict::KeyMixedOrder,
    Verdict::KeyMixedOrder,
    Verdict::KeyMixedOrder,
    Verdict::SigSNotReduced,
    Verdict::SigSNotReduced,
    Verdict::KeyMixedOrder,
    Verdict::KeyMixedOrder,
    Verdict::KeyNonCanonical,
    Verdict::KeyNonCanonical,
];

fn bytes<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

/// PROTOCOL.md §2, computed from its text with curve25519-dalek, not with council_core.
fn by_the_rules(msg: &[u8], a: &[u8; 32], sig: &[u8; 64]) -> Verdict {
    let Some(point) = CompressedEdwardsY(*a).decompress() else { return Verdict::KeyNotAPoint };
    if point.compress().to_bytes() != *a {
        return Verdict::KeyNonCanonical;
    }
    if point.is_small_order() {
        return Verdict::KeySmallOrder;
    }
    if !point.is_torsion_free() {
        return Verdict::KeyMixedOrder;
    }
    let r: [u8; 32] = sig[..32].try_into().unwrap();
    let s: [u8; 32] = sig[32..].try_into().unwrap();
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else { return Verdict::SigSNotReduced };
    match CompressedEdwardsY(r).decompress() {
        Some(p) if !p.is_small_order() => {}
        _ => return Verdict::SigRBad,
    }
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new().chain_update(r).chain_update(a).chain_update(msg).finalize().into(),
    );
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &point, &s);
    if check.compress().to_bytes() == r {
        Verdict::Valid
    } else {
        Verdict::SigEquation
    }
}

/// A member-signed record as the API and `council verify` receive it, with its signer's
/// 32 bytes replaced by `key`.
fn vote_signed_by(key: &[u8; 32], sig: &[u8; 64]) -> Vec<u8> {
    let real = key_from_label("edge/voter");
    let body =
        VoteBody { council: Hash::of(b"edge"), motion: Hash::of(b"motion"), choice: 0, counter: 1, is_final: false };
    let mut bytes = Signed::sign(body, &real).to_cbor();
    let at = bytes.windows(32).position(|w| w == real.public().as_bytes()).unwrap();
    bytes[at..at + 32].copy_from_slice(key);
    let at = bytes.len() - 64;
    bytes[at..].copy_from_slice(sig);
    bytes
}

#[test]
fn the_speccheck_vectors_get_the_documented_verdicts_from_the_rules_and_from_the_code() {
    for (i, [m, a, s]) in speccheck().into_iter().enumerate() {
        let (msg, a, sig) = (hex::decode(m).unwrap(), bytes::<32>(a), bytes::<64>(s));
        let rules = by_the_rules(&msg, &a, &sig);
        assert_eq!(rules, DOCUMENTED[i], "case {i}: the rules and PROTOCOL.md's table disagree");
        let key = PublicKey::from_bytes(&a);
        let key_refused = matches!(
            rules,
            Verdict::KeyNotAPoint | Verdict::KeyNonCanonical | Verdict::KeySmallOrder | Verdict::KeyMixedOrder
        );
        assert_eq!(key.is_err(), key_refused, "case {i}: council_core's key decoding disagrees with the rules");
        // Inside a record, a refused key makes the record undecodable: the API answers
        // 400 and `council verify` reports the item, before any signature is looked at.
        let record = Signed::<VoteBody>::from_cbor(&vote_signed_by(&a, &sig));
        assert_eq!(record.is_err(), key_refused, "case {i}: a record with this key");
        if let Ok(key) = key {
            let valid = key.verify(&msg, &Signature(sig));
            assert_eq!(valid, rules == Verdict::Valid, "case {i}: council_core's signature check disagrees");
        }
    }
}

#[test]
fn a_signature_with_s_plus_l_is_refused_where_the_original_is_valid() {
    // Malleability: S and S + ℓ satisfy the same equation; only S < ℓ is accepted.
    let key = key_from_label("edge/malleable");
    let body =
        VoteBody { council: Hash::of(b"edge"), motion: Hash::of(b"motion"), choice: 1, counter: 7, is_final: false };
    let signed = Signed::sign(body, &key);
    assert!(signed.signature_valid());
    assert_eq!(by_the_rules(&signed.body_bytes, key.public().as_bytes(), &signed.signature.0), Verdict::Valid);
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut sig = signed.signature.0;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = sig[32 + i] as u16 + L[i] as u16 + carry;
        sig[32 + i] = v as u8;
        carry = v >> 8;
    }
    // S < ℓ < 2^253, so S + ℓ < 2^254 fits in 32 bytes.
    assert_eq!(carry, 0);
    let mut bent = signed.clone();
    bent.signature = Signature(sig);
    assert_eq!(
        by_the_rules(&bent.body_bytes, bent.signer.as_bytes(), &sig),
        Verdict::SigSNotReduced,
        "the bent signature should break exactly rule 1"
    );
    assert!(!bent.signature_valid(), "S + ℓ was accepted");
    let decoded = Signed::<VoteBody>::from_cbor(&bent.to_cbor()).unwrap();
    assert!(council_core::verify::verify_payload(council_core::records::Payload::Vote(decoded)).is_err());
}
