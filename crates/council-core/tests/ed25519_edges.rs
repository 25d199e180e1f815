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
use curve25519_dalek::traits::IsIdentity;
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
    /// Key accepted; signature rule 2: `R` not a point.
    SigRBad,
    /// Key accepted; signature rule 3: the (cofactored) equation fails.
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
    let Some(r_point) = CompressedEdwardsY(r).decompress() else { return Verdict::SigRBad };
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new().chain_update(r).chain_update(a).chain_update(msg).finalize().into(),
    );
    // [8]([S]B − [k]A − R) = 0.
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &point, &s) - r_point;
    if check.mul_by_cofactor().is_identity() {
        Verdict::Valid
    } else {
        Verdict::SigEquation
    }
}

/// RFC 8032's stricter reading, as ed25519-dalek's `verify_strict` has it: what the
/// protocol used before ZIP-215. The tests below show where the two differ.
fn strict(msg: &[u8], a: &[u8; 32], sig: &[u8; 64]) -> bool {
    let key = ed25519_dalek::VerifyingKey::from_bytes(a).unwrap();
    key.verify_strict(msg, &ed25519_dalek::Signature::from_bytes(sig)).is_ok()
}

/// A signature by the secret scalar `a` (of the key `a_bytes`) whose nonce point is
/// `[r]B + t`: valid by ZIP-215 whatever the small-order point `t`, and by the strict
/// rules only when `t` is the identity. `r_bytes` overrides the encoding of the nonce
/// point (a non-canonical encoding of the same point).
fn sign_with_nonce(
    a: &Scalar,
    a_bytes: &[u8; 32],
    msg: &[u8],
    r: &Scalar,
    t: &EdwardsPoint,
    r_bytes: Option<[u8; 32]>,
) -> [u8; 64] {
    let big_r = EdwardsPoint::mul_base(r) + t;
    let r_enc = r_bytes.unwrap_or_else(|| big_r.compress().to_bytes());
    assert_eq!(CompressedEdwardsY(r_enc).decompress(), Some(big_r), "the encoding names the nonce point");
    let k = Scalar::from_bytes_mod_order_wide(
        &Sha512::new().chain_update(r_enc).chain_update(a_bytes).chain_update(msg).finalize().into(),
    );
    let s = r + k * a;
    let mut sig = [0u8; 64];
    sig[..32].copy_from_slice(&r_enc);
    sig[32..].copy_from_slice(s.as_bytes());
    sig
}

#[test]
fn zip215_accepts_small_order_and_mixed_order_nonces_and_the_record_stays_the_same_record() {
    let seed = [7u8; 32];
    let key = council_core::SecretKey::from_seed(&seed);
    let a_bytes = *key.public().as_bytes();
    // RFC 8032: the secret scalar is the clamped first half of SHA-512(seed).
    let h = Sha512::digest(seed);
    let mut lo = [0u8; 32];
    lo.copy_from_slice(&h[..32]);
    lo[0] &= 248;
    lo[31] &= 127;
    lo[31] |= 64;
    let a = Scalar::from_bytes_mod_order(lo);
    let body =
        VoteBody { council: Hash::of(b"edge"), motion: Hash::of(b"motion"), choice: 0, counter: 3, is_final: false };
    let honest = Signed::sign(body.clone(), &key);
    let msg = honest.body_bytes.clone();
    let r = Scalar::from_bytes_mod_order(Hash::of(b"nonce").0);
    let mut seen = 0;
    // The small-order points: the identity, and points of order 2, 4 and 8.
    for (i, t) in curve25519_dalek::constants::EIGHT_TORSION.iter().enumerate() {
        for zero_r in [false, true] {
            // With r = 0 the nonce point is `t` itself: a small-order R.
            let r = if zero_r { Scalar::ZERO } else { r };
            let sig = sign_with_nonce(&a, &a_bytes, &msg, &r, t, None);
            assert_eq!(by_the_rules(&msg, &a_bytes, &sig), Verdict::Valid, "torsion {i}, r = 0: {zero_r}");
            assert!(key.public().verify(&msg, &Signature(sig)), "council_core, torsion {i}, r = 0: {zero_r}");
            // The strict rules accept only the plain case: no torsion, and R not the identity.
            assert_eq!(strict(&msg, &a_bytes, &sig), i == 0 && !zero_r, "verify_strict, torsion {i}, r = 0: {zero_r}");
            // Under other signature bytes the vote is the same record: same id, and a log
            // that holds one refuses the other as a replay of its counter (rules.rs,
            // a_replayed_or_stale_vote_is_rejected_and_the_latest_counts).
            let mut other = honest.clone();
            other.signature = Signature(sig);
            assert_eq!(other.id(), honest.id());
            assert!(council_core::verify::verify_payload(council_core::records::Payload::Vote(other)).is_ok());
            seen += 1;
        }
    }
    assert_eq!(seen, 16);
    // A non-canonical encoding of R: y = 1 + p names the identity, as y = 1 does.
    let mut y1p = [0xffu8; 32];
    y1p[0] = 0xee;
    y1p[31] = 0x7f;
    let sig = sign_with_nonce(&a, &a_bytes, &msg, &Scalar::ZERO, &EdwardsPoint::default(), Some(y1p));
    assert_eq!(by_the_rules(&msg, &a_bytes, &sig), Verdict::Valid);
    assert!(key.public().verify(&msg, &Signature(sig)));
    assert!(!strict(&msg, &a_bytes, &sig));
}

#[test]
fn batch_verification_reaches_the_verdicts_of_single_verification_and_names_the_same_errors() {
    use council_core::records::{Entry, Payload};
    use council_core::verify::{verify_many, Unverified};
    let node = key_from_label("edge/node");
    let voters: Vec<_> = (0..5).map(|i| key_from_label(&format!("edge/voter/{i}"))).collect();
    let council = Hash::of(b"edge");
    let entry = |seq: u64, voter: &council_core::SecretKey| {
        let body = VoteBody { council, motion: Hash::of(b"motion"), choice: 0, counter: seq, is_final: false };
        let payload = Payload::Vote(Signed::sign(body, voter));
        Signed::sign(council_core::records::EntryBody { council, seq, prev: Hash::ZERO, time: seq, payload }, &node)
    };
    // Sets of 40 entries; in some, one signature (the node's or a voter's) is bent.
    for bent in [None, Some((3, 0)), Some((17, 1)), Some((39, 1))] {
        let mut entries: Vec<Entry> = (1..=40).map(|seq| entry(seq, &voters[seq as usize % 5])).collect();
        if let Some((at, which)) = bent {
            let e = &mut entries[at];
            if which == 0 {
                e.signature.0[40] ^= 4;
            } else if let Payload::Vote(v) = &mut e.body.payload {
                v.signature.0[40] ^= 4;
                // The entry's body holds the vote: re-sign it so that only the vote is bent.
                let body = e.body.clone();
                *e = Signed::sign(body, &node);
            }
        }
        let one_by_one: Vec<String> = entries
            .iter()
            .map(|e| match council_core::verify::verify_entry(e.clone()) {
                Ok(_) => "ok".to_owned(),
                Err(err) => err.to_string(),
            })
            .collect();
        let batched: Vec<String> = verify_many(entries.into_iter().map(Unverified::Entry).collect())
            .into_iter()
            .map(|r| r.map_or_else(|e| e.to_string(), |_| "ok".to_owned()))
            .collect();
        assert_eq!(batched, one_by_one, "bent: {bent:?}");
        assert_eq!(one_by_one.iter().filter(|v| *v != "ok").count(), usize::from(bent.is_some()));
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

/// `verify_payloads` (the node's batch endpoint) gives each payload the verdict and the
/// error of `verify_payload` alone, however many are bent and wherever they sit: bad
/// member signatures, and a device record whose proof the new device did not sign.
#[test]
fn batched_payloads_get_the_verdicts_and_errors_of_single_checks() {
    use council_core::records::{DeviceBody, DeviceChange, DeviceProof, Payload};
    use council_core::verify::{verify_payload, verify_payloads};
    let council = Hash::of(b"edge/payloads");
    let voters: Vec<_> = (0..7).map(|i| key_from_label(&format!("edge/payload-voter/{i}"))).collect();
    let vote = |i: usize, counter: u64| {
        let body = VoteBody { council, motion: Hash::of(b"motion"), choice: 0, counter, is_final: false };
        Payload::Vote(Signed::sign(body, &voters[i % voters.len()]))
    };
    let device = |honest: bool| {
        let (member, phone) = (&voters[0], key_from_label("edge/phone"));
        let prover = if honest { key_from_label("edge/phone") } else { key_from_label("edge/not-the-phone") };
        let proof = DeviceProof { council, member: member.public() }.sign(&prover);
        let change = DeviceChange::Add { device: phone.public(), proof };
        Payload::Device(Box::new(Signed::sign(DeviceBody { council, member: member.public(), change }, member)))
    };
    for bent in [vec![], vec![0], vec![63], vec![5, 6, 40], (0..64).step_by(3).collect::<Vec<usize>>()] {
        let payloads: Vec<Payload> = (0..64)
            .map(|i| {
                let honest = !bent.contains(&i);
                match i % 9 {
                    4 => device(honest),
                    _ => {
                        let mut p = vote(i, i as u64 + 1);
                        if let (false, Payload::Vote(v)) = (honest, &mut p) {
                            v.signature.0[40] ^= 4;
                        }
                        p
                    }
                }
            })
            .collect();
        let verdict =
            |r: Result<_, council_core::verify::SignatureError>| r.map_or_else(|e| e.to_string(), |_| "ok".into());
        let one_by_one: Vec<String> = payloads.iter().cloned().map(|p| verdict(verify_payload(p))).collect();
        let batched: Vec<String> = verify_payloads(payloads).into_iter().map(verdict).collect();
        assert_eq!(batched, one_by_one, "bent: {bent:?}");
        assert_eq!(one_by_one.iter().filter(|v| *v != "ok").count(), bent.len(), "bent: {bent:?}");
        assert!(one_by_one.iter().any(|v| v.contains("did not sign its proof")) == bent.iter().any(|i| i % 9 == 4));
    }
}
