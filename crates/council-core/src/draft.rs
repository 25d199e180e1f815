//! A genesis that its founders are still signing: a local file format, not a protocol
//! record. Each founder adds their signature with their own key; once every founder has
//! signed, the draft becomes the council's [`Genesis`].

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::DecodeError;
use crate::keys::{PublicKey, SecretKey, Signature};
use crate::records::{limits, Genesis, GenesisBody};

const TAG: &str = "councilnet/1/genesis-draft";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GenesisDraft {
    pub body: GenesisBody,
    pub body_bytes: Vec<u8>,
    /// One slot per founder, in founder order.
    pub signatures: Vec<Option<Signature>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DraftError {
    #[error("{0} is not a founding member of this council")]
    NotAFounder(String),
    #[error("the signature for founder {0} does not verify")]
    BadSignature(String),
    #[error("{} founder(s) have not signed yet: {}", .0.len(), .0.join(", "))]
    Unsigned(Vec<String>),
    #[error("the copies are drafts of different geneses (another council's, or one changed after it was shared)")]
    DifferentDraft,
}

impl GenesisDraft {
    pub fn new(body: GenesisBody) -> Self {
        let body_bytes = body.to_cbor();
        let n = body.founders.len();
        GenesisDraft { body, body_bytes, signatures: vec![None; n] }
    }

    /// Adds `key`'s signature. Returns the founder's index.
    pub fn sign(&mut self, key: &SecretKey) -> Result<usize, DraftError> {
        let public = key.public();
        let i = self
            .body
            .founders
            .iter()
            .position(|f| *f == public)
            .ok_or_else(|| DraftError::NotAFounder(public.to_did()))?;
        self.signatures[i] = Some(key.sign(&self.body_bytes));
        Ok(i)
    }

    /// The founders whose signature is not in the draft, or is there but does not verify
    /// (a draft file is outside input): the count people are told is always true.
    pub fn missing(&self) -> Vec<PublicKey> {
        self.body
            .founders
            .iter()
            .zip(&self.signatures)
            .filter(|(f, s)| !s.is_some_and(|s| f.verify(&self.body_bytes, &s)))
            .map(|(f, _)| *f)
            .collect()
    }

    /// Takes the signatures `other` holds that this draft lacks, so that founders can
    /// sign copies of one draft at the same time and the copies be combined. Both must be
    /// drafts of the same genesis (the same body, byte for byte). Every signature taken
    /// is checked first; a bad one is refused, with nothing taken. Returns how many were
    /// added.
    pub fn merge(&mut self, other: &GenesisDraft) -> Result<usize, DraftError> {
        if other.body_bytes != self.body_bytes || other.signatures.len() != self.signatures.len() {
            return Err(DraftError::DifferentDraft);
        }
        let mut taken = Vec::new();
        for (i, (f, s)) in self.body.founders.iter().zip(&other.signatures).enumerate() {
            let Some(s) = s else { continue };
            if !f.verify(&self.body_bytes, s) {
                return Err(DraftError::BadSignature(f.to_did()));
            }
            // A slot already holding a valid signature keeps it (ed25519 signatures are
            // deterministic: an honest second one is the same).
            let ours = self.signatures[i].is_some_and(|o| f.verify(&self.body_bytes, &o));
            if !ours {
                taken.push((i, *s));
            }
        }
        for (i, s) in &taken {
            self.signatures[*i] = Some(*s);
        }
        Ok(taken.len())
    }

    /// The finished genesis, once every founder has signed and every signature verifies.
    pub fn finish(&self) -> Result<Genesis, DraftError> {
        let mut sigs = Vec::with_capacity(self.signatures.len());
        for (f, s) in self.body.founders.iter().zip(&self.signatures) {
            let Some(s) = s else { continue };
            if !f.verify(&self.body_bytes, s) {
                return Err(DraftError::BadSignature(f.to_did()));
            }
            sigs.push(*s);
        }
        let missing = self.missing();
        if !missing.is_empty() {
            return Err(DraftError::Unsigned(missing.iter().map(|k| k.to_did()).collect()));
        }
        Ok(Genesis { body: self.body.clone(), body_bytes: self.body_bytes.clone(), signatures: sigs })
    }
}

impl Cbor for GenesisDraft {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).text(TAG).raw(&self.body_bytes).array(self.signatures.len());
        for s in &self.signatures {
            e.option(s);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        d.tag(TAG)?;
        let start = d.position();
        let body = GenesisBody::decode(d)?;
        let body_bytes = d.slice_from(start).to_vec();
        let at = d.position();
        let n = d.array(limits::MAX_FOUNDERS)?;
        if n != body.founders.len() {
            return Err(DecodeError::WrongArity { at, expected: body.founders.len(), found: n as u64 });
        }
        let signatures = (0..n).map(|_| d.option()).collect::<Result<_, _>>()?;
        Ok(GenesisDraft { body, body_bytes, signatures })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::CouncilRules;

    /// Three founders' keys, and a genesis body naming them.
    fn three_founders() -> (Vec<SecretKey>, GenesisBody) {
        let f: Vec<SecretKey> = (1..=3u8).map(|i| SecretKey::from_seed(&[i; 32])).collect();
        let body = GenesisBody {
            name: "D".into(),
            founders: f.iter().map(|k| k.public()).collect(),
            rules: CouncilRules::default(),
            node_key: SecretKey::from_seed(&[9; 32]).public(),
            created_at: 1,
        };
        (f, body)
    }

    #[test]
    fn founders_sign_one_by_one() {
        let (f, body) = three_founders();
        let mut d = GenesisDraft::new(body);
        assert!(matches!(d.sign(&SecretKey::from_seed(&[7; 32])), Err(DraftError::NotAFounder(_))));
        assert_eq!(d.sign(&f[1]).unwrap(), 1);
        let d2 = GenesisDraft::from_cbor(&d.to_cbor()).unwrap();
        assert_eq!(d2, d);
        assert!(matches!(d.finish(), Err(DraftError::Unsigned(v)) if v.len() == 2));
        d.sign(&f[0]).unwrap();
        d.sign(&f[2]).unwrap();
        let g = d.finish().unwrap();
        assert!(crate::verify::verify_genesis(g).is_ok());
    }

    #[test]
    fn copies_signed_at_once_merge_and_the_count_stays_true() {
        let (f, body) = three_founders();
        let blank = GenesisDraft::new(body.clone());
        // Each founder signs a copy of their own.
        let copies: Vec<GenesisDraft> = f
            .iter()
            .map(|k| {
                let mut c = blank.clone();
                c.sign(k).unwrap();
                c
            })
            .collect();
        let mut d = copies[0].clone();
        assert_eq!(d.missing().len(), 2);
        assert_eq!(d.merge(&copies[1]).unwrap(), 1);
        assert_eq!(d.merge(&copies[1]).unwrap(), 0, "merging twice adds nothing");
        assert_eq!(d.missing(), vec![f[2].public()]);

        // A forged signature in a copy: refused, nothing taken.
        let mut forged = copies[2].clone();
        forged.signatures[2].as_mut().unwrap().0[5] ^= 1;
        assert!(matches!(d.merge(&forged), Err(DraftError::BadSignature(_))));
        assert_eq!(d.missing().len(), 1);
        // One planted in the draft itself is not counted as signed, and a good copy
        // replaces it.
        let mut tampered = d.clone();
        tampered.signatures[2] = forged.signatures[2];
        assert_eq!(tampered.missing(), vec![f[2].public()]);
        assert!(matches!(tampered.finish(), Err(DraftError::BadSignature(_))));
        assert_eq!(tampered.merge(&copies[2]).unwrap(), 1);
        assert!(tampered.finish().is_ok());

        // A draft of another genesis (one byte of the body changed) does not merge.
        let other = GenesisDraft::new(GenesisBody { name: "E".into(), ..body });
        assert!(matches!(d.merge(&other), Err(DraftError::DifferentDraft)));

        d.merge(&copies[2]).unwrap();
        assert!(d.missing().is_empty());
        assert!(crate::verify::verify_genesis(d.finish().unwrap()).is_ok());
    }
}
