//! Member and node keys: ed25519, shown as `did:key`, restricted to prime-order points,
//! and signatures verified by the ZIP-215 rules, one by one or in batches with the same
//! verdicts (PROTOCOL.md §2).

use std::fmt;

use curve25519_dalek::edwards::CompressedEdwardsY;
use ed25519_dalek::{Signer, SigningKey};

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::{DecodeError, KeyError};

/// The multicodec prefix of an ed25519 public key (`0xed`, varint-encoded).
const ED25519_MULTICODEC: [u8; 2] = [0xed, 0x01];

/// An ed25519 public key that the protocol accepts: a canonical encoding of a point in
/// the prime-order subgroup other than the identity. Weak (small-order) and mixed-order
/// keys cannot be constructed.
#[derive(Clone, Copy)]
pub struct PublicKey {
    bytes: [u8; 32],
    key: ed25519_consensus::VerificationKey,
}

impl PartialEq for PublicKey {
    fn eq(&self, other: &Self) -> bool {
        self.bytes == other.bytes
    }
}

impl Eq for PublicKey {}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, KeyError> {
        let point = CompressedEdwardsY(*bytes).decompress().ok_or(KeyError::NotAPoint)?;
        if point.compress().to_bytes() != *bytes {
            return Err(KeyError::NonCanonical);
        }
        if point.is_small_order() {
            return Err(KeyError::SmallOrder);
        }
        if !point.is_torsion_free() {
            return Err(KeyError::MixedOrder);
        }
        let key = ed25519_consensus::VerificationKey::try_from(*bytes).map_err(|_| KeyError::NotAPoint)?;
        Ok(Self { bytes: *bytes, key })
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Verifies by the ZIP-215 rules (PROTOCOL.md §2): canonical `s`, `R` any encoding of
    /// a curve point, and the cofactored equation `[8][s]B = [8]R + [8][k]A`.
    pub fn verify(&self, msg: &[u8], sig: &Signature) -> bool {
        self.key.verify(&ed25519_consensus::Signature::from(sig.0), msg).is_ok()
    }

    /// `did:key:z…` (multibase base58btc of the multicodec-prefixed key).
    pub fn to_did(&self) -> String {
        let mut b = Vec::with_capacity(34);
        b.extend_from_slice(&ED25519_MULTICODEC);
        b.extend_from_slice(&self.bytes);
        format!("did:key:z{}", bs58::encode(b).into_string())
    }

    pub fn from_did(s: &str) -> Result<Self, KeyError> {
        // An ed25519 did:key is 56 characters; refuse long input before decoding it.
        if s.len() > 64 {
            return Err(KeyError::BadDidKey);
        }
        let rest = s.strip_prefix("did:key:z").ok_or(KeyError::BadDidKey)?;
        let raw = bs58::decode(rest).into_vec().map_err(|_| KeyError::BadDidKey)?;
        if raw.len() != 34 || raw[..2] != ED25519_MULTICODEC {
            return Err(KeyError::BadDidKey);
        }
        let mut b = [0u8; 32];
        b.copy_from_slice(&raw[2..]);
        Self::from_bytes(&b)
    }

    /// A short form for people: the last 8 characters of the did:key.
    pub fn short(&self) -> String {
        let d = self.to_did();
        format!("…{}", &d[d.len() - 8..])
    }
}

impl std::hash::Hash for PublicKey {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.bytes.hash(state);
    }
}

impl PartialOrd for PublicKey {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for PublicKey {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.bytes.cmp(&other.bytes)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_did())
    }
}

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_did())
    }
}

impl serde::Serialize for PublicKey {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_did())
    }
}

impl Cbor for PublicKey {
    fn encode(&self, e: &mut Encoder) {
        e.bytes(&self.bytes);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        let b = d.bytes_fixed::<32>()?;
        cached_key(&b).map_err(|source| DecodeError::Key { at, source })
    }
}

/// Checking a key costs a point decompression and a scalar multiplication, and a log
/// names the same few keys (members, the node) over and over. Keys that passed are
/// remembered per thread; the check is deterministic, so the verdict is the same.
fn cached_key(bytes: &[u8; 32]) -> Result<PublicKey, KeyError> {
    use std::cell::RefCell;
    use std::collections::HashMap;
    const CAPACITY: usize = 4096;
    thread_local! {
        static CACHE: RefCell<HashMap<[u8; 32], PublicKey>> = RefCell::new(HashMap::new());
    }
    if let Some(k) = CACHE.with(|c| c.borrow().get(bytes).copied()) {
        return Ok(k);
    }
    let k = PublicKey::from_bytes(bytes)?;
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.len() >= CAPACITY {
            c.clear();
        }
        c.insert(*bytes, k);
    });
    Ok(k)
}

/// Checks many signatures at once: `true` exactly when [`PublicKey::verify`] holds for
/// every one of them (ZIP-215 batch and single verification agree; a false `true` has
/// probability below 2^-128, from the random coefficients). An empty batch holds. When a
/// batch fails, callers check its signatures one by one to find which.
pub fn verify_batch<'a>(items: impl IntoIterator<Item = (&'a PublicKey, &'a [u8], &'a Signature)>) -> bool {
    let mut batch = ed25519_consensus::batch::Verifier::new();
    for (key, msg, sig) in items {
        batch.queue((
            ed25519_consensus::VerificationKeyBytes::from(key.bytes),
            ed25519_consensus::Signature::from(sig.0),
            msg,
        ));
    }
    // The coefficients come from a ChaCha stream seeded by the operating system: one
    // system call per batch, not one per signature.
    use rand_core::SeedableRng;
    match rand_chacha::ChaCha20Rng::from_rng(rand_core::OsRng) {
        Ok(rng) => batch.verify(rng).is_ok(),
        // No randomness, no batch: the caller checks the signatures one by one.
        Err(_) => false,
    }
}

/// A 64-byte ed25519 signature (`R || s`), not yet checked.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(pub [u8; 64]);

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signature({}…)", hex::encode(&self.0[..8]))
    }
}

impl Cbor for Signature {
    fn encode(&self, e: &mut Encoder) {
        e.bytes(&self.0);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.bytes_fixed::<64>().map(Signature)
    }
}

/// An ed25519 secret key. Its `Debug` output never shows the secret.
pub struct SecretKey(SigningKey, PublicKey);

impl SecretKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        let mut seed = zeroize::Zeroizing::new([0u8; 32]);
        // The OS random source failing is not recoverable for a key generator.
        #[allow(clippy::expect_used)]
        getrandom::getrandom(seed.as_mut()).expect("the operating system's random source failed");
        Self::from_seed(&seed)
    }

    /// The key whose RFC 8032 seed is `seed`.
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let sk = SigningKey::from_bytes(seed);
        let bytes = sk.verifying_key().to_bytes();
        // A key derived from a seed is [a]B with B the base point: prime order.
        #[allow(clippy::expect_used)]
        let public = PublicKey::from_bytes(&bytes).expect("derived keys are in the prime-order subgroup");
        SecretKey(sk, public)
    }

    pub fn seed(&self) -> zeroize::Zeroizing<[u8; 32]> {
        zeroize::Zeroizing::new(self.0.to_bytes())
    }

    pub fn public(&self) -> PublicKey {
        self.1
    }

    pub fn sign(&self, msg: &[u8]) -> Signature {
        Signature(self.0.sign(msg).to_bytes())
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKey(<secret>, public: {})", self.public())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn did_round_trip() {
        let k = SecretKey::from_seed(&[7; 32]).public();
        let did = k.to_did();
        assert!(did.starts_with("did:key:z6Mk"), "{did}");
        assert_eq!(PublicKey::from_did(&did).unwrap(), k);
        assert_eq!(PublicKey::from_did("did:key:zFoo"), Err(KeyError::BadDidKey));
        assert_eq!(PublicKey::from_did(&did.replace("did:key:z", "did:web:z")), Err(KeyError::BadDidKey));
        // Long input is refused before any decoding (base58 is quadratic).
        assert_eq!(PublicKey::from_did(&format!("{did}{}", "1".repeat(100_000))), Err(KeyError::BadDidKey));
    }

    #[test]
    fn secret_debug_hides_the_seed() {
        let sk = SecretKey::from_seed(&[0x42; 32]);
        let s = format!("{sk:?}");
        assert!(!s.contains("42, 42") && !s.contains("4242"), "{s}");
        assert!(s.contains("<secret>"));
    }

    #[test]
    fn rejects_weak_and_mixed_order_keys() {
        // The identity point (small order).
        let mut id = [0u8; 32];
        id[0] = 1;
        assert_eq!(PublicKey::from_bytes(&id), Err(KeyError::SmallOrder));
        // A point of order 2: (0, -1).
        let mut neg1 = [0xffu8; 32];
        neg1[0] = 0xec;
        neg1[31] = 0x7f;
        assert_eq!(PublicKey::from_bytes(&neg1), Err(KeyError::SmallOrder));
        // A valid key plus a torsion point is mixed-order.
        let good = SecretKey::from_seed(&[1; 32]).public();
        let p = CompressedEdwardsY(*good.as_bytes()).decompress().unwrap();
        let t = CompressedEdwardsY(neg1).decompress().unwrap();
        let mixed = (p + t).compress().to_bytes();
        assert_eq!(PublicKey::from_bytes(&mixed), Err(KeyError::MixedOrder));
        // Non-canonical encoding of y = 1 (y + p).
        let mut nc = [0xffu8; 32];
        nc[0] = 0xee;
        nc[31] = 0x7f;
        assert!(PublicKey::from_bytes(&nc).is_err());
    }

    #[test]
    fn verify_is_strict() {
        let sk = SecretKey::from_seed(&[3; 32]);
        let pk = sk.public();
        let sig = sk.sign(b"msg");
        assert!(pk.verify(b"msg", &sig));
        assert!(!pk.verify(b"msh", &sig));
        // s + l is the same signature under the lax equation but non-canonical.
        let mut s = [0u8; 32];
        s.copy_from_slice(&sig.0[32..]);
        let l: [u8; 32] = [
            0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
        ];
        let mut carry = 0u16;
        let mut sum = [0u8; 32];
        for i in 0..32 {
            let v = u16::from(s[i]) + u16::from(l[i]) + carry;
            sum[i] = v as u8;
            carry = v >> 8;
        }
        let mut bad = sig;
        bad.0[32..].copy_from_slice(&sum);
        assert!(!pk.verify(b"msg", &bad));
    }
}
