//! The ed25519 edge cases of PROTOCOL.md §2 through both entry points, end to end: a
//! running `councild` judging a record posted to its API, and `council verify` judging an
//! export file that holds the same record. Both must reach the same verdict, and it must
//! be the one PROTOCOL.md §2 documents.
//!
//! The cases are the 12 public vectors of "Taming the many EdDSAs" (Chalkias, Garillot,
//! Nikolaenko; `cases.txt` of github.com/novifinancial/ed25519-speccheck), put as the
//! signer and signature of a member's record, and signatures made here from a member's
//! real key: `S + ℓ`, small-order and non-canonical `R`s, and mixed-order keys `[a]B + T`
//! (signed with ed25519-dalek's `hazmat::raw_sign`, valid only under the cofactored
//! equation, and with a nonce chosen so that even the cofactorless equation holds).
//!
//! Each bad record is built from a valid one (its "twin": the same body, signed by a
//! member) by changing only the key or the signature. The export file is the node's own
//! export with the record appended in one more entry, signed with the node's key, so that
//! the record is the only thing wrong with it; the twin's file must verify.
//!
//! Some signatures that RFC 8032's strict reading refuses are valid under ZIP-215 (a
//! small-order, mixed-order or non-canonically encoded `R`): those "variants" of a twin
//! verify in a file, and the node, holding the twin, refuses them as replays of it.

use std::path::{Path, PathBuf};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use council_core::cbor::{Cbor, Encoder};
use council_core::export::{ExportItem, ItemReader};
use council_core::records::{tag, Action, CouncilRules, MotionBody, MotionForm, PetitionBody, VoteBody};
use council_core::{Hash, KeyError, SecretKey};
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::IsIdentity;
use ed25519_dalek::hazmat::{raw_sign, ExpandedSecretKey};
use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use sha2::{Digest, Sha512};

use crate::util::{councild, read_key, run, Daemon};

include!("../../crates/council-core/tests/common/speccheck.rs");

/// The numbered rules of PROTOCOL.md §2: the first one a case breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rule {
    /// Key rule 1: not a point.
    KeyNotAPoint,
    /// Key rule 2: non-canonical encoding.
    KeyNonCanonical,
    /// Key rule 3: small order (a weak key).
    KeySmallOrder,
    /// Key rule 4: mixed order.
    KeyMixedOrder,
    /// Signature rule 1: `S ≥ ℓ`.
    SigSNotReduced,
    /// Signature rule 2: `R` not a point.
    SigRBad,
    /// Signature rule 3: the cofactored equation.
    SigEquation,
    Valid,
}

/// PROTOCOL.md §2's edge-case table, as printed there: cases 0, 1 key rule 3; 2, 3, 4, 5,
/// 8, 9 key rule 4; 6, 7 signature rule 1; 10, 11 key rule 2.
const SPECCHECK_DOCUMENTED: [Rule; 12] = [
    Rule::KeySmallOrder,
    Rule::KeySmallOrder,
    Rule::KeyMixedOrder,
    Rule::KeyMixedOrder,
    Rule::KeyMixedOrder,
    Rule::KeyMixedOrder,
    Rule::SigSNotReduced,
    Rule::SigSNotReduced,
    Rule::KeyMixedOrder,
    Rule::KeyMixedOrder,
    Rule::KeyNonCanonical,
    Rule::KeyNonCanonical,
];

/// A verdict, reduced to what PROTOCOL.md fixes: accepted; refused because a key fails
/// §2 (the record does not decode; the reason names the key rule); or refused because a
/// signature is invalid.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Accepted,
    KeyRefused(String),
    SignatureInvalid,
    /// Anything else: never expected.
    Other(String),
}

/// What PROTOCOL.md §2 says happens to a record that breaks `rule` first: "a record
/// holding a refused key does not decode, so it is refused before any signature is looked
/// at"; a signature that breaks a signature rule is invalid. The reason for a refused key
/// is the reference code's text for that key rule (PROTOCOL.md numbers the rules but
/// leaves the wording to implementations).
fn documented(rule: Rule) -> Verdict {
    match rule {
        Rule::KeyNotAPoint => Verdict::KeyRefused(KeyError::NotAPoint.to_string()),
        Rule::KeyNonCanonical => Verdict::KeyRefused(KeyError::NonCanonical.to_string()),
        Rule::KeySmallOrder => Verdict::KeyRefused(KeyError::SmallOrder.to_string()),
        Rule::KeyMixedOrder => Verdict::KeyRefused(KeyError::MixedOrder.to_string()),
        Rule::SigSNotReduced | Rule::SigRBad | Rule::SigEquation => Verdict::SignatureInvalid,
        Rule::Valid => Verdict::Accepted,
    }
}

fn bytes<const N: usize>(h: &str) -> [u8; N] {
    hex::decode(h).unwrap().try_into().unwrap()
}

fn hash_to_scalar(parts: &[&[u8]]) -> Scalar {
    let mut h = Sha512::new();
    for p in parts {
        h.update(p);
    }
    Scalar::from_bytes_mod_order_wide(&h.finalize().into())
}

/// The key rules of PROTOCOL.md §2, computed from its text with curve25519-dalek (not
/// with council_core): the first one `a` breaks.
fn key_rule(a: &[u8; 32]) -> Option<Rule> {
    let Some(point) = CompressedEdwardsY(*a).decompress() else { return Some(Rule::KeyNotAPoint) };
    if point.compress().to_bytes() != *a {
        Some(Rule::KeyNonCanonical)
    } else if point.is_small_order() {
        Some(Rule::KeySmallOrder)
    } else if !point.is_torsion_free() {
        Some(Rule::KeyMixedOrder)
    } else {
        None
    }
}

/// Every rule of PROTOCOL.md §2 for `sig` by `a` over `msg`, in order.
fn by_the_rules(msg: &[u8], a: &[u8; 32], sig: &[u8; 64]) -> Rule {
    if let Some(r) = key_rule(a) {
        return r;
    }
    let point = CompressedEdwardsY(*a).decompress().unwrap();
    let r: [u8; 32] = sig[..32].try_into().unwrap();
    let s: [u8; 32] = sig[32..].try_into().unwrap();
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s)) else { return Rule::SigSNotReduced };
    let Some(r_point) = CompressedEdwardsY(r).decompress() else { return Rule::SigRBad };
    let k = hash_to_scalar(&[&r, a, msg]);
    // [8]([S]B − [k]A − R) is the identity.
    let check = EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &point, &s) - r_point;
    if check.mul_by_cofactor().is_identity() {
        Rule::Valid
    } else {
        Rule::SigEquation
    }
}

/// `[S]B − [k]A − R` is of small order: the cofactored equation `[8][S]B = [8]R + [8][k]A`.
fn cofactored_holds(msg: &[u8], a: &[u8; 32], sig: &[u8; 64]) -> bool {
    let point = CompressedEdwardsY(*a).decompress().unwrap();
    let r = CompressedEdwardsY(sig[..32].try_into().unwrap()).decompress().unwrap();
    let s = Scalar::from_bytes_mod_order(sig[32..].try_into().unwrap());
    let k = hash_to_scalar(&[&sig[..32], a, msg]);
    (EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &point, &s) - r).is_small_order()
}

/// `S + ℓ`, where `S` is the second half of a valid signature (`S < ℓ < 2^253`, so the
/// sum fits in 32 bytes).
fn plus_l(sig: &[u8; 64]) -> [u8; 64] {
    const L: [u8; 32] = [
        0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
    ];
    let mut out = *sig;
    let mut carry = 0u16;
    for i in 0..32 {
        let v = u16::from(sig[32 + i]) + u16::from(L[i]) + carry;
        out[32 + i] = v as u8;
        carry = v >> 8;
    }
    assert_eq!(carry, 0);
    out
}

/// `[body, signer, signature]` with any 32 bytes as the signer: council_core cannot make
/// a refused key, so the record is written by hand, exactly as §4.2 lays it out.
fn signed_raw(body: &[u8], key: &[u8; 32], sig: &[u8; 64]) -> Vec<u8> {
    let mut e = Encoder::default();
    e.array(3).raw(body).bytes(key).bytes(sig);
    e.into_bytes()
}

/// A member's key, with the scalar `a` and the RFC 8032 expansion that signs.
struct Member {
    key: SecretKey,
    esk: ExpandedSecretKey,
}

impl Member {
    fn new(key: SecretKey) -> Member {
        let h: [u8; 64] = Sha512::digest(key.seed().as_ref()).into();
        Member { esk: ExpandedSecretKey::from_bytes(&h), key }
    }
    fn public(&self) -> [u8; 32] {
        *self.key.public().as_bytes()
    }
    fn sign(&self, body: &[u8]) -> [u8; 64] {
        self.key.sign(body).0
    }
    /// Signs for the mixed-order key `A + T` with ed25519-dalek's `raw_sign`, as a signer
    /// who added a torsion point to their key would: the cofactored equation holds, the
    /// cofactorless one does not (the multiple of `T` is chosen so).
    fn sign_mixed_raw(&self, body: &[u8], t: &EdwardsPoint) -> ([u8; 32], [u8; 64]) {
        let a = CompressedEdwardsY(self.public()).decompress().unwrap();
        // Odd multiples have order 8, then orders 4 and 2: the cofactorless equation fails
        // unless k ≡ 0 modulo that order, and k changes with the key.
        for m in [1u64, 3, 5, 7, 2, 6, 4] {
            let key = (a + t * Scalar::from(m)).compress().to_bytes();
            let vk = VerifyingKey::from_bytes(&key).unwrap();
            let sig = raw_sign::<Sha512>(&self.esk, body, &vk).to_bytes();
            if equation_holds_on_encodings(body, &key, &sig) {
                continue;
            }
            assert!(cofactored_holds(body, &key, &sig), "raw_sign's signature should pass the cofactored equation");
            return (key, sig);
        }
        panic!("every multiple of T gave a signature that passes the cofactorless equation");
    }
    /// For the mixed-order key `A + T`, a signature whose nonce is chosen so that `[k]T`
    /// is the identity: it passes even the cofactorless equation, so ed25519-dalek's own
    /// `verify_strict` accepts it. Only key rule 4 stands in its way.
    fn sign_mixed_ground(&self, body: &[u8], t: &EdwardsPoint) -> ([u8; 32], [u8; 64]) {
        let key = (CompressedEdwardsY(self.public()).decompress().unwrap() + t).compress().to_bytes();
        for i in 0u64..1000 {
            let r = hash_to_scalar(&[b"edge nonce", &i.to_le_bytes(), body]);
            let big_r = EdwardsPoint::mul_base(&r).compress().to_bytes();
            let k = hash_to_scalar(&[&big_r, &key, body]);
            if (t * k).is_identity() {
                let s = r + k * self.esk.scalar;
                let mut sig = [0u8; 64];
                sig[..32].copy_from_slice(&big_r);
                sig[32..].copy_from_slice(s.as_bytes());
                let vk = VerifyingKey::from_bytes(&key).unwrap();
                let dalek = vk.verify_strict(body, &ed25519_dalek::Signature::from_bytes(&sig));
                assert!(dalek.is_ok(), "ed25519-dalek's verify_strict accepts it");
                return (key, sig);
            }
        }
        panic!("no nonce with k ≡ 0 (mod 8) in 1000 tries");
    }
    /// A signature whose nonce point is `[r]B + t` (`t` of small order), so that only the
    /// cofactored equation holds unless `t` is the identity.
    fn sign_mixed_r(&self, body: &[u8], t: &EdwardsPoint) -> [u8; 64] {
        let r = hash_to_scalar(&[b"mixed nonce", body]);
        let big_r = (EdwardsPoint::mul_base(&r) + t).compress().to_bytes();
        let k = hash_to_scalar(&[&big_r, &self.public(), body]);
        let s = r + k * self.esk.scalar;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&big_r);
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }
    /// A signature whose `R` is the given encoding of the identity and `S = k·a`: then
    /// `[S]B − [k]A` is the identity, so the equation holds as points (and, for the
    /// canonical encoding, on encodings too).
    fn sign_identity_r(&self, body: &[u8], r: [u8; 32]) -> [u8; 64] {
        let k = hash_to_scalar(&[&r, &self.public(), body]);
        let s = k * self.esk.scalar;
        let mut sig = [0u8; 64];
        sig[..32].copy_from_slice(&r);
        sig[32..].copy_from_slice(s.as_bytes());
        sig
    }
}

/// Signature rule 3's equation alone (no checks on `S` or `R`): `[S]B − [k]A` encodes to `R`.
fn equation_holds_on_encodings(msg: &[u8], a: &[u8; 32], sig: &[u8; 64]) -> bool {
    let point = CompressedEdwardsY(*a).decompress().unwrap();
    let s = Scalar::from_bytes_mod_order(sig[32..].try_into().unwrap());
    let k = hash_to_scalar(&[&sig[..32], a, msg]);
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &point, &s).compress().to_bytes() == sig[..32]
}

/// `[S]B − [k]A` equals `R` as points (after decoding `R`), which is what a verifier that
/// compares points rather than encodings checks.
fn equation_holds_as_points(msg: &[u8], a: &[u8; 32], sig: &[u8; 64]) -> bool {
    let point = CompressedEdwardsY(*a).decompress().unwrap();
    let Some(r) = CompressedEdwardsY(sig[..32].try_into().unwrap()).decompress() else { return false };
    let s = Scalar::from_bytes_mod_order(sig[32..].try_into().unwrap());
    let k = hash_to_scalar(&[&sig[..32], a, msg]);
    EdwardsPoint::vartime_double_scalar_mul_basepoint(&(-k), &point, &s) == r
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Vote,
    Motion,
    Petition,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Vote => "/v1/votes",
            Kind::Motion => "/v1/motions",
            Kind::Petition => "/v1/petitions",
        }
    }
    /// The payload's name in a log entry (§4.4).
    fn payload(self) -> &'static str {
        match self {
            Kind::Vote => "vote",
            Kind::Motion => "motion",
            Kind::Petition => "petition",
        }
    }
}

struct Case {
    name: String,
    kind: Kind,
    record: Vec<u8>,
    /// The valid record this one was made from.
    twin: Vec<u8>,
    /// The first rule of §2 it breaks. For a non-canonical `R`, which rule comes first
    /// depends on how `R` is decoded (RFC 8032 refuses `y ≥ p`, ed25519-dalek reduces it);
    /// PROTOCOL.md says this cannot change the verdict, and both are listed.
    rules: &'static [Rule],
}

/// Every edge case for one member-signed record `body` (a vote, motion or petition); the
/// ones valid under ZIP-215 (other signature bytes for the twin's body) go to `variants`.
fn signer_cases(kind: Kind, body: &[u8], m: &Member, t: &EdwardsPoint, out: &mut Vec<Case>, variants: &mut Vec<Case>) {
    let twin = signed_raw(body, &m.public(), &m.sign(body));
    let mut add = |name: String, key: [u8; 32], sig: [u8; 64], rules: &'static [Rule]| {
        let by_rules = by_the_rules(body, &key, &sig);
        assert!(rules.contains(&by_rules), "{name}: the rules give {by_rules:?}, the case was built for {rules:?}");
        let case = Case { name, kind, record: signed_raw(body, &key, &sig), twin: twin.clone(), rules };
        if rules == [Rule::Valid] {
            // Valid, yet refused by RFC 8032's strict reading: the point of the case.
            let dalek = VerifyingKey::from_bytes(&key)
                .unwrap()
                .verify_strict(body, &ed25519_dalek::Signature::from_bytes(&sig));
            assert!(dalek.is_err(), "{}: verify_strict accepts it too", case.name);
            variants.push(case);
        } else {
            out.push(case);
        }
    };
    // y + p for a small y whose point is not of small order: a non-canonical encoding (the
    // only ones are y < 19, and x = 0) of a point that is not weak.
    let (y, y_plus_p) = (2u8..19)
        .find_map(|y| {
            let mut enc = [0xffu8; 32];
            enc[0] = 0xed + y;
            enc[31] = 0x7f;
            let p = CompressedEdwardsY(enc).decompress()?;
            (!p.is_small_order() && p.compress().to_bytes() != enc).then_some((y, enc))
        })
        .expect("some y < 19 gives a point of large order");
    for (i, [_, a, s]) in speccheck().into_iter().enumerate() {
        let rules = std::slice::from_ref(&SPECCHECK_DOCUMENTED[i]);
        add(format!("speccheck {i}"), bytes(a), bytes(s), rules);
    }
    let valid = m.sign(body);
    assert_eq!(by_the_rules(body, &m.public(), &valid), Rule::Valid);
    // Speccheck's non-canonical keys (10, 11) are also weak; this one is not.
    add(format!("non-canonical key (y = {y} + p), not weak"), y_plus_p, valid, &[Rule::KeyNonCanonical]);
    add("S + ℓ of a valid signature".into(), m.public(), plus_l(&valid), &[Rule::SigSNotReduced]);
    // R = the identity, canonical: a small-order R, valid under ZIP-215 (the strict rules
    // refused it).
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let sig = m.sign_identity_r(body, identity);
    assert!(equation_holds_on_encodings(body, &m.public(), &sig));
    add("R = identity (small order), equation holds".into(), m.public(), sig, &[Rule::Valid]);
    // R = the identity with the sign bit of x = 0 set ("negative zero"): a non-canonical
    // encoding, decoded leniently; valid under ZIP-215.
    let mut negative_zero = identity;
    negative_zero[31] = 0x80;
    let sig = m.sign_identity_r(body, negative_zero);
    assert!(equation_holds_as_points(body, &m.public(), &sig) && !equation_holds_on_encodings(body, &m.public(), &sig));
    add("R = identity, non-canonical (x sign bit on x = 0)".into(), m.public(), sig, &[Rule::Valid]);
    // A mixed-order R: [r]B plus a point of order 8; only the cofactored equation holds.
    let sig = m.sign_mixed_r(body, t);
    assert!(!equation_holds_as_points(body, &m.public(), &sig));
    add("R = [r]B + T (mixed order), cofactored equation holds".into(), m.public(), sig, &[Rule::Valid]);
    // A valid signature's R re-encoded as y + p: k changes with the bytes of R, so the
    // equation fails.
    let mut sig = valid;
    sig[..32].copy_from_slice(&y_plus_p);
    add(format!("R = non-canonical encoding (y = {y} + p)"), m.public(), sig, &[Rule::SigEquation]);
    let (key, sig) = m.sign_mixed_raw(body, t);
    add("mixed-order key A+T, hazmat::raw_sign (cofactored only)".into(), key, sig, &[Rule::KeyMixedOrder]);
    let (key, sig) = m.sign_mixed_ground(body, t);
    add("mixed-order key A+T, cofactorless-valid (dalek verify_strict: ok)".into(), key, sig, &[Rule::KeyMixedOrder]);
}

/// A motion to admit a member whose key (inside the body, not a signer) is an edge case;
/// the motion itself is validly signed by a member.
fn add_member_cases(body: &MotionBody, fresh: &[u8; 32], m: &Member, t: &EdwardsPoint, out: &mut Vec<Case>) {
    let valid = body.to_cbor();
    let twin = signed_raw(&valid, &m.public(), &m.sign(&valid));
    let at = valid.windows(32).position(|w| w == fresh).unwrap();
    let mixed = (CompressedEdwardsY(*fresh).decompress().unwrap() + t).compress().to_bytes();
    let keys: [(String, [u8; 32], &'static [Rule]); 4] = [
        ("speccheck 0's key".into(), bytes(speccheck()[0][1]), &[Rule::KeySmallOrder]),
        ("speccheck 2's key".into(), bytes(speccheck()[2][1]), &[Rule::KeyMixedOrder]),
        ("speccheck 10's key".into(), bytes(speccheck()[10][1]), &[Rule::KeyNonCanonical]),
        ("A+T".into(), mixed, &[Rule::KeyMixedOrder]),
    ];
    for (name, key, rules) in keys {
        assert_eq!(key_rule(&key), Some(rules[0]), "{name}");
        let mut patched = valid.clone();
        patched[at..at + 32].copy_from_slice(&key);
        let sig = m.sign(&patched);
        out.push(Case {
            name: format!("add-member {name}, motion validly signed"),
            kind: Kind::Motion,
            record: signed_raw(&patched, &m.public(), &sig),
            twin: twin.clone(),
            rules,
        });
    }
}

/// The node's export, split into items (without the end marker), and where its log ends.
struct Base {
    items: Vec<Vec<u8>>,
    council: Hash,
    seq: u64,
    head: Hash,
    time: u64,
}

fn base(file: &[u8]) -> Base {
    let mut r = ItemReader::new(file);
    let mut b = Base { items: Vec::new(), council: Hash::ZERO, seq: 0, head: Hash::ZERO, time: 0 };
    let mut ended = false;
    while let Some((_, bytes)) = r.next_item().unwrap() {
        assert!(!ended, "items after the end marker");
        match ExportItem::from_cbor(&bytes).unwrap() {
            ExportItem::Header { primary } => b.council = primary,
            ExportItem::Genesis(g) => {
                assert_eq!(g.council_id(), b.council, "a council of its own, no federation");
                (b.head, b.time) = (g.council_id(), g.body.created_at);
            }
            ExportItem::Entry(e) => (b.seq, b.head, b.time) = (e.body.seq, e.id(), e.body.time),
            ExportItem::End { items } => {
                assert_eq!(items as usize, b.items.len());
                ended = true;
                continue;
            }
            ExportItem::Equivocation(_) | ExportItem::PartialGenesis(_) => panic!("no equivocations or copies here"),
        }
        b.items.push(bytes);
    }
    assert!(ended);
    b
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

/// The export with one more entry, holding `record` as a `kind` payload, signed by the
/// node's key exactly as the node would have signed it. Returns the file and the index of
/// the new item.
fn with_entry(b: &Base, node: &SecretKey, kind: Kind, record: &[u8]) -> (Vec<u8>, u64) {
    let mut e = Encoder::default();
    e.array(6).text(tag::ENTRY).value(&b.council).u64(b.seq + 1).value(&b.head).u64(b.time.max(now()));
    e.array(2).text(kind.payload()).raw(record);
    let body = e.into_bytes();
    let mut item = Encoder::default();
    item.array(2).text("entry").array(3).raw(&body).value(&node.public()).value(&node.sign(&body));
    let mut file: Vec<u8> = b.items.concat();
    file.extend(item.into_bytes());
    let n = b.items.len() as u64 + 1;
    file.extend(ExportItem::End { items: n }.to_cbor());
    (file, n - 1)
}

/// "invalid key at byte N: <reason>" → the reason.
fn key_refusal(msg: &str) -> Option<String> {
    let rest = &msg[msg.find("invalid key at byte ")?..];
    Some(rest[rest.find(": ")? + 2..].to_owned())
}

/// The node's verdict: the API's status and error code (and message).
fn api_verdict(status: u16, body: &Value) -> Verdict {
    let msg = body["error"]["message"].as_str().unwrap_or_default();
    match (status, body["error"]["code"].as_str()) {
        (201, _) => Verdict::Accepted,
        (400, Some("malformed-record")) if key_refusal(msg).is_some() => Verdict::KeyRefused(key_refusal(msg).unwrap()),
        (400, Some("bad-signature")) => Verdict::SignatureInvalid,
        _ => Verdict::Other(format!("{status} {body}")),
    }
}

/// `council verify`'s verdict on a file whose item `item` holds the record: exit 0 and
/// valid, or exit 1 with exactly one error, at that item.
fn verify_verdict(path: &Path, item: u64) -> (Verdict, String) {
    let p = path.to_str().unwrap();
    let human = run(&["verify", p]);
    let json = run(&["--json", "verify", p]);
    assert_eq!(human.code, json.code);
    let printed = human.stdout.lines().find(|l| l.trim_start().starts_with('✗')).unwrap_or("").trim().to_owned();
    let v = json.json();
    let verdict = match (json.code, v["valid"].as_bool()) {
        (0, Some(true)) => Verdict::Accepted,
        (1, Some(false)) => {
            let errors = v["errors"].as_array().unwrap();
            let reason = errors[0]["reason"].as_str().unwrap_or_default();
            if errors.len() != 1 || errors[0]["item"].as_u64() != Some(item) {
                Verdict::Other(format!("errors not (only) at item {item}: {}", json.stdout))
            } else if let Some(k) = key_refusal(reason) {
                Verdict::KeyRefused(k)
            } else if reason.contains(" signature by ") && reason.ends_with("inside the entry is invalid") {
                Verdict::SignatureInvalid
            } else {
                Verdict::Other(reason.to_owned())
            }
        }
        (code, _) => Verdict::Other(format!("exit {code}: {}{}", json.stdout, json.stderr)),
    };
    (verdict, printed)
}

/// Three members make keys, the operator inits, the founders sign the genesis.
fn found(root: &Path) -> (PathBuf, Vec<PathBuf>, Vec<String>) {
    let mut keys = Vec::new();
    let mut dids = Vec::new();
    for i in 0..3 {
        let k = root.join(format!("member{i}.key"));
        dids.push(run(&["key", "new", k.to_str().unwrap()]).ok().stdout.trim().to_owned());
        keys.push(k);
    }
    let data = root.join("node");
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--name", "Edge Case Council"];
    for d in &dids {
        args.extend(["--founder", d.as_str()]);
    }
    councild(&args).ok();
    let draft = data.join("genesis.draft");
    for k in &keys {
        run(&["genesis", "sign", "--draft", draft.to_str().unwrap(), "--key", k.to_str().unwrap()]).ok();
    }
    (data, keys, dids)
}

fn export(d: &Daemon, path: &Path) -> Vec<u8> {
    d.council(&["export", "--out", path.to_str().unwrap()]).ok();
    std::fs::read(path).unwrap()
}

fn verifies(path: &Path) -> Value {
    let r = run(&["--json", "verify", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "the export does not verify:\n{}", r.stdout);
    r.json()
}

#[test]
fn ed25519_edge_cases_get_the_documented_verdict_from_the_node_and_from_verify() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let (data, key_files, dids) = found(root);
    let d = Daemon::start(&data);
    let (api, token) = d.api();
    let k0 = key_files[0].to_str().unwrap();

    // A motion to vote on, and a mandate in force to petition against.
    d.council(&["motion", "open", "--key", k0, "--title", "Edge target", "--closes-in", "1h"]).ok();
    let fed = "ab".repeat(32);
    d.council(&["mandate", "--key", k0, "--delegate", &dids[1], "--federation", &fed, "--closes-in", "1h"]).ok();
    let motions = d.council(&["--json", "motion", "list"]).ok().json();
    let motion_id = |i: usize| Hash::from_hex(motions[i]["id"].as_str().unwrap()).unwrap();
    let (target, mandate_motion) = (motion_id(0), motion_id(1));
    for k in &key_files[..2] {
        d.council(&["vote", "--final", "--key", k.to_str().unwrap(), &mandate_motion.to_hex(), "yes"]).ok();
    }
    let status = d.council(&["--json", "status"]).ok().json();
    assert_eq!(status["mandates"][0]["status"], "in force", "{status}");
    let council = Hash::from_hex(status["id"].as_str().unwrap()).unwrap();
    let mandate = Hash::from_hex(status["mandates"][0]["id"].as_str().unwrap()).unwrap();

    let m = Member::new(read_key(&key_files[0]));
    let node = read_key(&data.join("node.key"));
    // A point of order 8 (speccheck's small-order key), the torsion part of A + T.
    let t = CompressedEdwardsY(bytes(speccheck()[0][1])).decompress().unwrap();
    assert!(t.is_small_order() && !(t * Scalar::from(4u64)).is_identity(), "T has order 8");

    let closes_at = now() + 3600;
    let vote = VoteBody { council, motion: target, choice: 0, counter: 1, is_final: false }.to_cbor();
    let rule = CouncilRules::default().act_rule;
    let motion = MotionBody {
        council,
        title: "Edge resolution".into(),
        form: MotionForm::YesNo(Action::Resolution),
        rule,
        closes_at,
        nonce: 7,
    }
    .to_cbor();
    let petition = PetitionBody { council, mandate }.to_cbor();
    let fresh = SecretKey::generate().public();
    let add_member = MotionBody {
        council,
        title: "Admit a member".into(),
        form: MotionForm::YesNo(Action::AddMember(fresh)),
        rule,
        closes_at,
        nonce: 8,
    };
    let (mut cases, mut variants) = (Vec::new(), Vec::new());
    signer_cases(Kind::Vote, &vote, &m, &t, &mut cases, &mut variants);
    signer_cases(Kind::Motion, &motion, &m, &t, &mut cases, &mut variants);
    signer_cases(Kind::Petition, &petition, &m, &t, &mut cases, &mut variants);
    add_member_cases(&add_member, fresh.as_bytes(), &m, &t, &mut cases);

    let before = export(&d, &root.join("before.cnx"));
    verifies(&root.join("before.cnx"));
    let b = base(&before);

    let post = |path: &str, record: &[u8]| -> (u16, Value) {
        let r = ureq::post(&format!("{api}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({ "record": hex::encode(record) }));
        match r {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
            Err(e) => panic!("the node did not answer: {e}\nits log:\n{}", d.log()),
        }
    };
    let alive = || {
        let r = ureq::get(&format!("{api}/v1/council")).set("Authorization", &format!("Bearer {token}")).call();
        assert!(r.is_ok(), "the node went down: {r:?}\nits log:\n{}", d.log());
    };

    // The twins: each file with the valid record verifies (so the file is right, and only
    // the edge case can make it invalid).
    let mut twins: Vec<(Kind, Vec<u8>)> = Vec::new();
    for c in &cases {
        if !twins.iter().any(|(_, t)| *t == c.twin) {
            let (file, item) = with_entry(&b, &node, c.kind, &c.twin);
            let path = root.join(format!("twin-{}.cnx", twins.len()));
            std::fs::write(&path, file).unwrap();
            assert_eq!(verify_verdict(&path, item).0, Verdict::Accepted, "the twin of {} ({:?})", c.name, c.kind);
            twins.push((c.kind, c.twin.clone()));
        }
    }

    let mut table = Vec::new();
    let mut wrong = Vec::new();
    for (i, c) in cases.iter().enumerate() {
        let expected = documented(c.rules[0]);
        assert!(c.rules.iter().all(|r| documented(*r) == expected));
        let (status, body) = post(c.kind.path(), &c.record);
        let from_api = api_verdict(status, &body);
        alive();
        let (file, item) = with_entry(&b, &node, c.kind, &c.record);
        let path = root.join(format!("case-{i}.cnx"));
        std::fs::write(&path, file).unwrap();
        let (from_verify, printed) = verify_verdict(&path, item);
        let api_said = format!("{status} {}", body["error"]["code"].as_str().unwrap_or("-"));
        table.push(format!(
            "{:<9} {:<62} {:<32} {:<22} {}",
            c.kind.payload(),
            c.name,
            format!("{:?}", c.rules),
            api_said,
            printed.split(": ").skip(1).collect::<Vec<_>>().join(": ")
        ));
        if from_api != from_verify || from_api != expected {
            wrong.push(format!(
                "{} ({:?}): PROTOCOL.md {:?} → {expected:?}; API {from_api:?} ({}); verify {from_verify:?} ({printed})",
                c.name, c.kind, c.rules, body
            ));
        }
    }
    println!("{}", table.join("\n"));
    assert!(wrong.is_empty(), "{} of {} cases got the wrong verdict:\n{}", wrong.len(), cases.len(), wrong.join("\n"));

    // The node is up, and its log is as it was: byte for byte the same export, and valid.
    alive();
    assert!(!d.log().contains("panicked"), "{}", d.log());
    let after = export(&d, &root.join("after.cnx"));
    verifies(&root.join("after.cnx"));
    assert!(before == after, "the node's log changed while it refused the edge cases");

    // And it still takes the valid twins, each of which differs from refused records only
    // in the key or the signature.
    for (kind, twin) in &twins {
        let (status, body) = post(kind.path(), twin);
        assert_eq!(status, 201, "the valid {kind:?}: {body}");
    }
    // The variants: other valid signature bytes for a twin's body. A file that holds one
    // verifies; the node, holding the twin, refuses it as a replay by the rules of its
    // kind (409), never as a bad signature, and logs nothing.
    let taken = export(&d, &root.join("taken.cnx"));
    for (i, c) in variants.iter().enumerate() {
        let (file, item) = with_entry(&b, &node, c.kind, &c.record);
        let path = root.join(format!("variant-{i}.cnx"));
        std::fs::write(&path, file).unwrap();
        assert_eq!(verify_verdict(&path, item).0, Verdict::Accepted, "{} ({:?}) in a file", c.name, c.kind);
        let (status, body) = post(c.kind.path(), &c.record);
        assert_eq!(status, 409, "{} ({:?}) after its twin: {body}", c.name, c.kind);
    }
    assert_eq!(variants.len(), 9, "three variants of each of the three records");
    assert!(export(&d, &root.join("still.cnx")) == taken, "a variant of a logged record changed the log");
    let last = export(&d, &root.join("last.cnx"));
    let v = verifies(&root.join("last.cnx"));
    assert!(last.starts_with(&b.items.concat()), "the entries from before were kept as they were");
    assert!(v["checked"]["entries"].as_u64().unwrap() >= b.seq + twins.len() as u64, "{}", v["checked"]);
    d.stop();
    println!("{} cases, {} valid twins, in {:.1?}", cases.len(), twins.len(), started.elapsed());
}
