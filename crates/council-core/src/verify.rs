//! Signature verification: the only way a record from outside becomes a [`Verified`] one.
//!
//! This step is stateless, so callers may run it on many records in parallel. The
//! contextual rules (who may sign what, at which point of the log) are applied afterwards,
//! in order, by [`crate::council::CouncilState::apply`].

use thiserror::Error;

use crate::cbor::Cbor;
use crate::keys::{PublicKey, Signature};
use crate::records::{
    Action, CouncilId, DeviceChange, DeviceProof, Entry, EquivocationProof, FederationAct, Genesis, JoinStatement,
    MemberId, Payload,
};

/// A record whose every signature has been checked (PROTOCOL.md §2).
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

/// One signature a record holds: the key, the signed bytes, the signature, and what its
/// failure is called. Every check of this module is a list of claims ([`claims_of`]), so
/// checking them one by one ([`check_claims`]) or in a batch ([`crate::keys::verify_batch`])
/// applies the same rules to the same signatures.
#[derive(Debug)]
struct Claim<'a> {
    key: &'a PublicKey,
    msg: std::borrow::Cow<'a, [u8]>,
    sig: &'a Signature,
    kind: ClaimKind,
}

#[derive(Debug, Clone, Copy)]
enum ClaimKind {
    Genesis(usize),
    Entry,
    Inner(&'static str),
    InviteProof,
    DeviceProof,
}

impl Claim<'_> {
    fn error(&self) -> SignatureError {
        let key = self.key.to_did();
        match self.kind {
            ClaimKind::Genesis(index) => SignatureError::GenesisSignature { index, key },
            ClaimKind::Entry => SignatureError::Entry { key },
            ClaimKind::Inner(kind) => SignatureError::Inner { kind, key },
            ClaimKind::InviteProof => SignatureError::InviteProof { key },
            ClaimKind::DeviceProof => SignatureError::DeviceProof { key },
        }
    }
}

/// Checks claims one by one, in order; the first that fails names the error.
fn check_claims(claims: &[Claim<'_>]) -> Result<(), SignatureError> {
    match claims.iter().find(|c| !c.key.verify(&c.msg, c.sig)) {
        Some(c) => Err(c.error()),
        None => Ok(()),
    }
}

/// Whether every claim holds, checked as one batch: the same verdict as checking them one
/// by one (PROTOCOL.md §2), at a fraction of the cost. A batch that fails does not say
/// which claim failed: check the records one by one for that.
fn batch_holds<'a>(claims: impl IntoIterator<Item = &'a Claim<'a>>) -> bool {
    crate::keys::verify_batch(claims.into_iter().map(|c| (c.key, c.msg.as_ref(), c.sig)))
}

/// A record whose signatures are to be checked: a genesis, an entry, or an equivocation
/// proof, borrowed.
#[derive(Debug, Clone, Copy)]
enum Signs<'a> {
    Genesis(&'a Genesis),
    Entry(&'a Entry),
    Equivocation(&'a EquivocationProof),
}

/// Every signature the record holds, in the order the single checks take them.
fn claims_of(r: Signs<'_>) -> Vec<Claim<'_>> {
    let mut out = Vec::new();
    match r {
        Signs::Genesis(g) => {
            for (index, (key, sig)) in g.body.founders.iter().zip(&g.signatures).enumerate() {
                out.push(Claim { key, msg: (&g.body_bytes[..]).into(), sig, kind: ClaimKind::Genesis(index) });
            }
        }
        Signs::Entry(e) => {
            out.push(Claim {
                key: &e.signer,
                msg: (&e.body_bytes[..]).into(),
                sig: &e.signature,
                kind: ClaimKind::Entry,
            });
            payload_claims(&e.body.payload, &mut out);
        }
        Signs::Equivocation(p) => {
            for e in [&p.a, &p.b] {
                out.push(Claim {
                    key: &e.signer,
                    msg: (&e.body_bytes[..]).into(),
                    sig: &e.signature,
                    kind: ClaimKind::Entry,
                });
            }
        }
    }
    out
}

/// Checks what a record must be apart from its signatures: a signature for every founder
/// of a genesis, and an equivocation proof's two entries being a real conflict.
fn check_structure(r: Signs<'_>) -> Result<(), SignatureError> {
    match r {
        Signs::Genesis(g) if g.signatures.len() != g.body.founders.len() => {
            Err(SignatureError::GenesisSignatureCount { expected: g.body.founders.len(), found: g.signatures.len() })
        }
        Signs::Equivocation(p) => {
            let (a, b) = (&p.a, &p.b);
            if a.body.council != b.body.council {
                return Err(SignatureError::NotEquivocation("the entries belong to different councils"));
            }
            if a.body.seq != b.body.seq {
                return Err(SignatureError::NotEquivocation("the entries are at different places in the log"));
            }
            // Compared on the signed bodies: the same body under other signature bytes is
            // the same entry (§2: signatures are not unique), never a conflict.
            if a.body_bytes == b.body_bytes {
                return Err(SignatureError::NotEquivocation("the entries are the same"));
            }
            if a.signer != b.signer {
                return Err(SignatureError::NotEquivocation("the entries are signed by different keys"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Checks that every founder signed the genesis body: the founders' signatures as one
/// batch (a genesis may have hundreds), and if that fails, one by one for the error.
pub fn verify_genesis(g: Genesis) -> Result<Verified<Genesis>, SignatureError> {
    check_structure(Signs::Genesis(&g))?;
    let claims = claims_of(Signs::Genesis(&g));
    if !batch_holds(&claims) {
        check_claims(&claims)?;
    }
    Ok(Verified(g))
}

/// How many signatures [`verify_entry`] checks for this entry.
pub fn signature_count(e: &Entry) -> u64 {
    claims_of(Signs::Entry(e)).len() as u64
}

/// Checks the entry's signature (by the key it names; whether that key is the council's
/// node key is a contextual rule) and every signature nested inside it.
pub fn verify_entry(e: Entry) -> Result<Verified<Entry>, SignatureError> {
    check_claims(&claims_of(Signs::Entry(&e)))?;
    Ok(Verified(e))
}

/// Checks the member signatures inside a payload that a client hands to its node, before
/// the node puts it in its log (the node then signs the entry itself).
pub fn verify_payload(p: Payload) -> Result<Verified<Payload>, SignatureError> {
    let mut claims = Vec::new();
    payload_claims(&p, &mut claims);
    check_claims(&claims)?;
    Ok(Verified(p))
}

/// The member signatures inside a payload, and the proofs that come with them.
fn payload_claims<'a>(p: &'a Payload, out: &mut Vec<Claim<'a>>) {
    let mut inner = |kind: &'static str, key, msg: &'a [u8], sig| {
        out.push(Claim { key, msg: msg.into(), sig, kind: ClaimKind::Inner(kind) });
    };
    match p {
        Payload::Motion(m) => inner("motion", &m.signer, &m.body_bytes, &m.signature),
        Payload::Ranking(r) => inner("ranking", &r.signer, &r.body_bytes, &r.signature),
        Payload::Device(d) => inner("device", &d.signer, &d.body_bytes, &d.signature),
        Payload::Vote(v) => inner("vote", &v.signer, &v.body_bytes, &v.signature),
        Payload::Petition(p) => inner("petition", &p.signer, &p.body_bytes, &p.signature),
        Payload::DelegateVote(v) => inner("delegate-vote", &v.signer, &v.body_bytes, &v.signature),
        Payload::Invite(i) => inner("invite", &i.signer, &i.body_bytes, &i.signature),
        Payload::Name(n) => inner("name", &n.signer, &n.body_bytes, &n.signature),
        Payload::Close { .. } => {}
    }
    match p {
        Payload::Motion(m) => match m.body.form.action() {
            Some(Action::SignCharter { charter, invite: Some(proof) }) => {
                let stmt = JoinStatement { federation: charter.id(), council: m.body.council };
                out.push(Claim {
                    key: &proof.invite_key,
                    msg: stmt.to_cbor().into(),
                    sig: &proof.signature,
                    kind: ClaimKind::InviteProof,
                });
            }
            Some(Action::AddDevice { member, device, proof }) => {
                out.push(device_claim(m.body.council, *member, device, proof))
            }
            // A federation joins a higher one with an invite proof for the federation
            // (§8.1), at any depth of the motions that carry the act.
            Some(Action::OpenFederationMotion(fm)) => {
                for m in fm.chain() {
                    if let Some(FederationAct::SignCharter { charter, invite: Some(proof) }) = m.act.as_deref() {
                        let stmt = JoinStatement { federation: charter.id(), council: m.federation };
                        out.push(Claim {
                            key: &proof.invite_key,
                            msg: stmt.to_cbor().into(),
                            sig: &proof.signature,
                            kind: ClaimKind::InviteProof,
                        });
                    }
                }
            }
            _ => {}
        },
        Payload::Device(d) => {
            if let DeviceChange::Add { device, proof } = &d.body.change {
                out.push(device_claim(d.body.council, d.body.member, device, proof));
            }
        }
        _ => {}
    }
}

/// That `device` signed the statement that it is held for `member` in `council`.
fn device_claim<'a>(council: CouncilId, member: MemberId, device: &'a PublicKey, proof: &'a Signature) -> Claim<'a> {
    Claim {
        key: device,
        msg: DeviceProof { council, member }.to_cbor().into(),
        sig: proof,
        kind: ClaimKind::DeviceProof,
    }
}

/// Checks the member signatures of many payloads at once, with the verdicts (and errors)
/// of [`verify_payload`] on each: their signatures in one batch; where a batch does not
/// hold, each half again, down to single payloads, which are checked alone so that the
/// errors are exact. One forged signature among a thousand costs about twice one batch,
/// not a thousand single checks. The node's batch endpoint uses it.
pub fn verify_payloads(payloads: Vec<Payload>) -> Vec<Result<Verified<Payload>, SignatureError>> {
    let claims: Vec<Vec<Claim<'_>>> = payloads
        .iter()
        .map(|p| {
            let mut c = Vec::new();
            payload_claims(p, &mut c);
            c
        })
        .collect();
    let mut sound = vec![false; payloads.len()];
    sound_halves(&claims, &mut sound);
    payloads.into_iter().zip(sound).map(|(p, ok)| if ok { Ok(Verified(p)) } else { verify_payload(p) }).collect()
}

/// Marks in `sound` the payloads whose claims hold by a batch check of a range that holds
/// as a whole, halving the ranges that do not; a single payload whose claims do not hold
/// as a batch is left for the single check.
fn sound_halves(claims: &[Vec<Claim<'_>>], sound: &mut [bool]) {
    if claims.is_empty() {
        return;
    }
    if batch_holds(claims.iter().flatten()) {
        sound.iter_mut().for_each(|s| *s = true);
        return;
    }
    if claims.len() == 1 {
        return;
    }
    let mid = claims.len() / 2;
    let (left, right) = sound.split_at_mut(mid);
    sound_halves(&claims[..mid], left);
    sound_halves(&claims[mid..], right);
}

/// Checks a standalone equivocation proof: two different entries, one council, one
/// sequence number, one signing key, both signatures valid. Whether that key was the
/// council's node key at that point is checked against the council's log.
pub fn verify_equivocation(p: EquivocationProof) -> Result<Verified<EquivocationProof>, SignatureError> {
    check_structure(Signs::Equivocation(&p))?;
    check_claims(&claims_of(Signs::Equivocation(&p)))?;
    Ok(Verified(p))
}

/// A record from outside whose signatures are still to be checked. Entries, by far the
/// most numerous, are not boxed.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Unverified {
    Genesis(Genesis),
    Entry(Entry),
    Equivocation(EquivocationProof),
}

/// An [`Unverified`] record, checked.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum Checked {
    Genesis(Verified<Genesis>),
    Entry(Verified<Entry>),
    Equivocation(Verified<EquivocationProof>),
}

impl Unverified {
    fn signs(&self) -> Signs<'_> {
        match self {
            Unverified::Genesis(g) => Signs::Genesis(g),
            Unverified::Entry(e) => Signs::Entry(e),
            Unverified::Equivocation(p) => Signs::Equivocation(p),
        }
    }
    /// The single check: [`verify_genesis`], [`verify_entry`] or [`verify_equivocation`].
    pub fn verify(self) -> Result<Checked, SignatureError> {
        Ok(match self {
            Unverified::Genesis(g) => Checked::Genesis(verify_genesis(g)?),
            Unverified::Entry(e) => Checked::Entry(verify_entry(e)?),
            Unverified::Equivocation(p) => Checked::Equivocation(verify_equivocation(p)?),
        })
    }
}

/// Checks many records at once, with the verdicts (and errors) of checking each alone:
/// their structure one by one, then every signature of those that pass in one batch. If
/// the batch fails, each record is checked alone, so the errors are exact. Each record
/// that passes comes with the number of signatures it held.
pub fn verify_many(records: Vec<Unverified>) -> Vec<Result<(Checked, u64), SignatureError>> {
    let sound: Vec<bool> = records.iter().map(|r| check_structure(r.signs()).is_ok()).collect();
    let mut counts = vec![0u64; records.len()];
    let holds = {
        let mut claims: Vec<Claim<'_>> = Vec::new();
        for ((r, ok), n) in records.iter().zip(&sound).zip(&mut counts) {
            if *ok {
                let mine = claims_of(r.signs());
                *n = mine.len() as u64;
                claims.extend(mine);
            }
        }
        batch_holds(&claims)
    };
    records
        .into_iter()
        .zip(sound)
        .zip(counts)
        .map(|((r, ok), n)| {
            let checked = match (ok && holds, r) {
                (true, Unverified::Genesis(g)) => Checked::Genesis(Verified(g)),
                (true, Unverified::Entry(e)) => Checked::Entry(Verified(e)),
                (true, Unverified::Equivocation(p)) => Checked::Equivocation(Verified(p)),
                (false, r) => r.verify()?,
            };
            Ok((checked, n))
        })
        .collect()
}
