//! The invite string: what a council hands to a council it invites, pasted or shown as
//! a QR code. It carries the invite key's *secret*, so whoever holds the string can use
//! the invite (up to its use limit, until it expires): pass it on privately.
//!
//! `councilnet-invite:` followed by the Base58Check (Bitcoin's alphabet and checksum) of
//! `["councilnet/1/invite-string", federation: hash, issuer: hash, seed: bytes(32),
//! expires_at: uint, [address: text…]]` in canonical CBOR (PROTOCOL.md §12.5). The
//! checksum names a mistyped or cut string as such, rather than as undecodable bytes.

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::DecodeError;
use crate::keys::SecretKey;
use crate::records::{CouncilId, FederationId, InviteProof, JoinStatement};

pub const PREFIX: &str = "councilnet-invite:";
const TAG: &str = "councilnet/1/invite-string";
/// The most addresses an invite string carries, and the longest address.
pub const MAX_ADDRS: usize = 16;
pub const MAX_ADDR_LEN: usize = 256;

pub struct InviteString {
    pub federation: FederationId,
    /// The council whose log holds the invite.
    pub issuer: CouncilId,
    pub key: SecretKey,
    pub expires_at: u64,
    /// Where the issuer's node listens (libp2p multiaddrs, as text).
    pub addrs: Vec<String>,
}

impl std::fmt::Debug for InviteString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InviteString")
            .field("federation", &self.federation)
            .field("issuer", &self.issuer)
            .field("key", &"(secret)")
            .field("expires_at", &self.expires_at)
            .field("addrs", &self.addrs)
            .finish()
    }
}

impl Cbor for InviteString {
    fn encode(&self, e: &mut Encoder) {
        e.array(6)
            .text(TAG)
            .value(&self.federation)
            .value(&self.issuer)
            .bytes(&self.key.seed()[..])
            .u64(self.expires_at);
        e.array(self.addrs.len());
        for a in &self.addrs {
            e.text(a);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(6)?;
        d.tag(TAG)?;
        let federation = d.value()?;
        let issuer = d.value()?;
        let seed: [u8; 32] = d.bytes_fixed()?;
        let expires_at = d.u64()?;
        let n = d.array(MAX_ADDRS)?;
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            let at = d.position();
            let a = d.text()?;
            if a.len() > MAX_ADDR_LEN {
                return Err(DecodeError::TooLong { at, max: MAX_ADDR_LEN });
            }
            addrs.push(a.to_owned());
        }
        Ok(InviteString { federation, issuer, key: SecretKey::from_seed(&seed), expires_at, addrs })
    }
}

/// Why a pasted invite string cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InviteStringError {
    #[error("an invite string starts with {PREFIX:?}")]
    Prefix,
    #[error("the invite string has {0:?} at character {1}, which no invite string has (base58 leaves out 0, O, I and l): was it mistyped?")]
    Character(char, usize),
    #[error("the invite string has a typo, or was cut short: its checksum does not match. Copy it again, whole")]
    Checksum,
    #[error("the invite string is not base58 (was it cut short or changed?)")]
    Base58,
    #[error("the invite string does not decode: {0}")]
    Decode(DecodeError),
}

impl std::fmt::Display for InviteString {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{PREFIX}{}", bs58::encode(self.to_cbor()).with_check().into_string())
    }
}

impl std::str::FromStr for InviteString {
    type Err = InviteStringError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let body = s.trim().strip_prefix(PREFIX).ok_or(InviteStringError::Prefix)?;
        // Generous for 16 addresses; anything longer is not an invite string.
        if body.len() > 8192 {
            return Err(InviteStringError::Base58);
        }
        let bytes = bs58::decode(body).with_check(None).into_vec().map_err(|e| match e {
            bs58::decode::Error::InvalidCharacter { character, index } => {
                InviteStringError::Character(character, PREFIX.len() + index + 1)
            }
            bs58::decode::Error::InvalidChecksum { .. } | bs58::decode::Error::NoChecksum => {
                InviteStringError::Checksum
            }
            _ => InviteStringError::Base58,
        })?;
        InviteString::from_cbor(&bytes).map_err(InviteStringError::Decode)
    }
}

impl InviteString {
    /// The proof, for a joining council, that it holds the invite key.
    pub fn proof_for(&self, council: CouncilId) -> InviteProof {
        let stmt = JoinStatement { federation: self.federation, council };
        InviteProof { issuer: self.issuer, invite_key: self.key.public(), signature: self.key.sign(&stmt.to_cbor()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Hash;

    fn sample() -> InviteString {
        InviteString {
            federation: Hash([1; 32]),
            issuer: Hash([2; 32]),
            key: SecretKey::from_seed(&[3; 32]),
            expires_at: 1_800_000_000,
            addrs: vec!["/ip4/127.0.0.1/tcp/7421".into()],
        }
    }

    #[test]
    fn round_trips_and_refuses_damage() {
        let s = sample().to_string();
        assert!(s.starts_with(PREFIX));
        let back: InviteString = s.parse().unwrap();
        assert_eq!(back.to_cbor(), sample().to_cbor());
        assert_eq!(back.key.public(), sample().key.public());
        assert_eq!(back.to_string(), s);
        assert_eq!("invite:abc".parse::<InviteString>().unwrap_err(), InviteStringError::Prefix);
        assert_eq!(
            format!("{PREFIX}ab0c").parse::<InviteString>().unwrap_err(),
            InviteStringError::Character('0', PREFIX.len() + 3)
        );
        // Cut short, or one character changed: named as a typo, every time.
        let cut = &s[..s.len() - 5];
        assert_eq!(cut.parse::<InviteString>().unwrap_err(), InviteStringError::Checksum);
        let body = &s[PREFIX.len()..];
        for i in 0..body.len() {
            let mut typo = body.as_bytes().to_vec();
            typo[i] = if typo[i] == b'x' { b'y' } else { b'x' };
            let typo = format!("{PREFIX}{}", String::from_utf8(typo).unwrap());
            assert_eq!(typo.parse::<InviteString>().unwrap_err(), InviteStringError::Checksum, "a typo at {i}");
        }
        assert!(!format!("{:?}", sample()).contains("0303"), "the secret never shows in Debug");
    }

    #[test]
    fn the_proof_verifies_under_the_invite_key() {
        let i = sample();
        let council = Hash([9; 32]);
        let p = i.proof_for(council);
        let stmt = JoinStatement { federation: i.federation, council };
        assert!(p.invite_key.verify(&stmt.to_cbor(), &p.signature));
        let other = JoinStatement { federation: i.federation, council: Hash([8; 32]) };
        assert!(!p.invite_key.verify(&other.to_cbor(), &p.signature));
    }
}
