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

/// `(message, public key, signature)`, hex, in the order of `cases.txt`.
const CASES: [(&str, &str, &str); 12] = [
    ("8c93255d71dcab10e8f379c26200f3c7bd5f09d9bc3068d3ef4edeb4853022b6", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a0000000000000000000000000000000000000000000000000000000000000000"),
    ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43a5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
    ("aebf3f2601a0c8c5d39cc7d8911642f740b78168218da8471772b35f9d35b9ab", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa8c4bd45aecaca5b24fb97bc10ac27ac8751a7dfe1baff8b953ec9f5833ca260e"),
    ("9bd9f44f4dcc75bd531b56b2cd280b0bb38fc1cd6d1230e14861d861de092e79", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "9046a64750444938de19f227bb80485e92b83fdb4b6506c160484c016cc1852f87909e14428a7a1d62e9f22f3d3ad7802db02eb2e688b6c52fcd6648a98bd009"),
    ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "160a1cb0dc9c0258cd0a7d23e94d8fa878bcb1925f2c64246b2dee1796bed5125ec6bc982a269b723e0668e540911a9a6a58921d6925e434ab10aa7940551a09"),
    ("e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec4011eaccd55b53f56c", "cdb267ce40c5cd45306fa5d2f29731459387dbf9eb933b7bd5aed9a765b88d4d", "21122a84e0b5fca4052f5b1235c80a537878b38f3142356b2c2384ebad4668b7e40bc836dac0f71076f9abe3a53f9c03c1ceeeddb658d0030494ace586687405"),
    ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "e96f66be976d82e60150baecff9906684aebb1ef181f67a7189ac78ea23b6c0e547f7690a0e2ddcd04d87dbc3490dc19b3b3052f7ff0538cb68afb369ba3a514"),
    ("85e241a07d148b41e47d62c63f830dc7a6851a0b1f33ae4bb2f507fb6cffec40", "442aad9f089ad9e14647b1ef9099a1ff4798d78589e66f28eca69c11f582a623", "8ce5b96c8f26d0ab6c47958c9e68b937104cd36e13c33566acd2fe8d38aa19427e71f98a473474f2f13f06f97c20d58cc3f54b8bd0d272f42b695dd7e89a8c22"),
    ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff03be9678ac102edcd92b0210bb34d7428d12ffc5df5f37e359941266a4e35f0f"),
    ("9bedc267423725d473888631ebf45988bad3db83851ee85c85e241a07d148b41", "f7badec5b8abeaf699583992219b7b223f1df3fbbea919844e3f7c554a43dd43", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffca8c5b64cd208982aa38d4936621a4775aa233aa0505711d8fdcfdaa943d4908"),
    ("e96b7021eb39c1a163b6da4e3093dcd3f21387da4cc4572be588fafae23c155b", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
    ("39a591f5321bbe07fd5a23dc2f39d025d74526615746727ceefd6e82ae65c06f", "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", "a9d55260f765261eb9b84e106f665e00b867287a761990d7135963ee0a7d59dca5bb704786be79fc476f91d3f3f89b03984d8068dcf1bb7dfc6637b45450ac04"),
];

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
    let body = VoteBody { council: Hash::of(b"edge"), motion: Hash::of(b"motion"), choice: 0, counter: 1 };
    let mut bytes = Signed::sign(body, &real).to_cbor();
    let at = bytes.windows(32).position(|w| w == real.public().as_bytes()).unwrap();
    bytes[at..at + 32].copy_from_slice(key);
    let at = bytes.len() - 64;
    bytes[at..].copy_from_slice(sig);
    bytes
}

#[test]
fn the_speccheck_vectors_get_the_documented_verdicts_from_the_rules_and_from_the_code() {
    for (i, (m, a, s)) in CASES.iter().enumerate() {
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
    let body = VoteBody { council: Hash::of(b"edge"), motion: Hash::of(b"motion"), choice: 1, counter: 7 };
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
