//! Signature verification: the only way a record from outside becomes a [`Verified`] one.
//!
//! This step is stateless, so callers may run it on many records in parallel. The
//! contextual rules (who may sign what, at which point of the log) are applied afterwards,
//! in order, by [`crate::council::CouncilState::apply`].

use thiserror::Error;

use crate::cbor::Cbor;
use crate::keys::{PublicKey, Signature};
use crate::records::{
    Action, CouncilId, DeviceChange, DeviceProof, Entry, EquivocationProof, Genesis, JoinStatement, MemberId, Payload,
};

/// A record whose every signature has been checked with `verify_strict` semantics.
/// It can only be made by the functions in this module.
#[derive(Debug, Clone)]
pub struct Verified<T>(T);

impl<T> Verified<T> {
    /// For records this process has just signed itself (the sample and test builders):
    /// their signatures are valid by construction. Never use it for outside input.
    pub(crate) fn own_signature(t: T) -> Self {
        Verified(t)
    }
    /// For entries read back from this node's own store. Everything in the store was
    /// verified before it was written, and re-checking a million signatures on every start
    /// would make the daemon slow to come up. Never use it for anything from outside.
    pub fn from_own_store(t: T) -> Self {
        Verified(t)
    }
    /// For records whose signatures a function of this crate has just checked.
    pub(crate) fn checked(t: T) -> Self {
        Verified(t)
    }
    pub fn get(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> std::ops::Deref for Verified<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// A signature that does not verify.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SignatureError {
    #[error("genesis has {found} signatures for {expected} founders")]
    GenesisSignatureCount { expected: usize, found: usize },
    #[error("founder #{index} ({key}) did not sign the genesis")]
    GenesisSignature { index: usize, key: String },
    #[error("the entry's signature by {key} is invalid")]
    Entry { key: String },
    #[error("the {kind} signature by {key} inside the entry is invalid")]
    Inner { kind: &'static str, key: String },
    #[error("the invite key {key} did not sign this join")]
    InviteProof { key: String },
    #[error("the new device key {key} did not sign its proof (it must show it is held)")]
    DeviceProof { key: String },
    #[error("not an equivocation: {0}")]
    NotEquivocation(&'static str),
}

/// Checks that every founder signed the genesis body.
pub fn verify_genesis(g: Genesis) -> Result<Verified<Genesis>, SignatureError> {
    if g.signatures.len() != g.body.founders.len() {
        return Err(SignatureError::GenesisSignatureCount {
            expected: g.body.founders.len(),
            found: g.signatures.len(),
        });
    }
    for (index, (key, sig)) in g.body.founders.iter().zip(&g.signatures).enumerate() {
        if !key.verify(&g.body_bytes, sig) {
            return Err(SignatureError::GenesisSignature { index, key: key.to_did() });
        }
    }
    Ok(Verified(g))
}

/// How many signatures [`verify_entry`] checks for this entry.
pub fn signature_count(e: &Entry) -> u64 {
    1 + match &e.body.payload {
        Payload::Motion(m) => {
            1 + u64::from(matches!(
                m.body.form.action(),
                Some(Action::SignCharter { invite: Some(_), .. } | Action::AddDevice { .. })
            ))
        }
        Payload::Vote(_) | Payload::Petition(_) | Payload::DelegateVote(_) | Payload::Invite(_) | Payload::Name(_) => 1,
        Payload::Device(d) => 1 + u64::from(matches!(d.body.change, DeviceChange::Add { .. })),
        Payload::Ranking(_) => 1,
        Payload::Close { .. } => 0,
    }
}

/// Checks the entry's signature (by the key it names; whether that key is the council's
/// node key is a contextual rule) and every signature nested inside it.
pub fn verify_entry(e: Entry) -> Result<Verified<Entry>, SignatureError> {
    if !e.signature_valid() {
        return Err(SignatureError::Entry { key: e.signer.to_did() });
    }
    check_payload(&e.body.payload)?;
    Ok(Verified(e))
}

/// Checks the member signatures inside a payload that a client hands to its node, before
/// the node puts it in its log (the node then signs the entry itself).
pub fn verify_payload(p: Payload) -> Result<Verified<Payload>, SignatureError> {
    check_payload(&p)?;
    Ok(Verified(p))
}

fn check_payload(p: &Payload) -> Result<(), SignatureError> {
    let inner = |ok: bool, kind: &'static str, key: &PublicKey| {
        if ok {
            Ok(())
        } else {
            Err(SignatureError::Inner { kind, key: key.to_did() })
        }
    };
    match p {
        Payload::Motion(m) => {
            inner(m.signature_valid(), "motion", &m.signer)?;
            match m.body.form.action() {
                Some(Action::SignCharter { charter, invite: Some(proof) }) => {
                    let stmt = JoinStatement { federation: charter.id(), council: m.body.council };
                    if !proof.invite_key.verify(&stmt.to_cbor(), &proof.signature) {
                        return Err(SignatureError::InviteProof { key: proof.invite_key.to_did() });
                    }
                }
                Some(Action::AddDevice { member, device, proof }) => {
                    device_proof(m.body.council, *member, device, proof)?;
                }
                _ => {}
            }
        }
        Payload::Ranking(r) => inner(r.signature_valid(), "ranking", &r.signer)?,
        Payload::Device(d) => {
            inner(d.signature_valid(), "device", &d.signer)?;
            if let DeviceChange::Add { device, proof } = &d.body.change {
                device_proof(d.body.council, d.body.member, device, proof)?;
            }
        }
        Payload::Vote(v) => inner(v.signature_valid(), "vote", &v.signer)?,
        Payload::Petition(p) => inner(p.signature_valid(), "petition", &p.signer)?,
        Payload::DelegateVote(v) => inner(v.signature_valid(), "delegate-vote", &v.signer)?,
        Payload::Invite(i) => inner(i.signature_valid(), "invite", &i.signer)?,
        Payload::Name(n) => inner(n.signature_valid(), "name", &n.signer)?,
        Payload::Close { .. } => {}
    }
    Ok(())
}

/// Checks that `device` signed the statement that it is held for `member` in `council`.
fn device_proof(
    council: CouncilId,
    member: MemberId,
    device: &PublicKey,
    proof: &Signature,
) -> Result<(), SignatureError> {
    if (DeviceProof { council, member }).holds(device, proof) {
        Ok(())
    } else {
        Err(SignatureError::DeviceProof { key: device.to_did() })
    }
}

/// Checks a standalone equivocation proof: two different entries, one council, one
/// sequence number, one signing key, both signatures valid. Whether that key was the
/// council's node key at that point is checked against the council's log.
pub fn verify_equivocation(p: EquivocationProof) -> Result<Verified<EquivocationProof>, SignatureError> {
    let (a, b) = (&p.a, &p.b);
    if a.body.council != b.body.council {
        return Err(SignatureError::NotEquivocation("the entries belong to different councils"));
    }
    if a.body.seq != b.body.seq {
        return Err(SignatureError::NotEquivocation("the entries are at different places in the log"));
    }
    if a.body_bytes == b.body_bytes {
        return Err(SignatureError::NotEquivocation("the entries are the same"));
    }
    if a.signer != b.signer {
        return Err(SignatureError::NotEquivocation("the entries are signed by different keys"));
    }
    if !a.signature_valid() || !b.signature_valid() {
        return Err(SignatureError::Entry { key: a.signer.to_did() });
    }
    Ok(Verified(p))
}
