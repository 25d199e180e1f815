//! Receipts: what a member's device keeps when the node acknowledges one of its records
//! (PROTOCOL.md §4.6 and §10.1).
//!
//! A receipt is the node-signed log entry that holds the member's record. Later, the
//! device (or an auditor with an export) compares it with the log at the receipt's
//! place. A different entry there, signed by the same node key, is an equivocation: the
//! node signed two histories, and the pair is a proof anyone can check. [`judge`] is the
//! one rule for both: `council verify --receipts` feeds it the export's log, and the
//! member's device feeds it the entry the node serves now.

use crate::cbor::{Cbor, Decoder, Encoder};
use crate::error::DecodeError;
use crate::records::{tag, CouncilId, Entry, EquivocationProof};
use crate::verify::{verify_entry, SignatureError, Verified};
use crate::{Hash, PublicKey};

/// `["councilnet/1/receipt", entry]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub entry: Entry,
}

/// The encoding of `Receipt { entry }` from the entry's own canonical encoding.
pub fn receipt_bytes(entry_cbor: &[u8]) -> Vec<u8> {
    let mut e = Encoder::default();
    e.array(2).text(tag::RECEIPT).raw(entry_cbor);
    e.into_bytes()
}

impl Cbor for Receipt {
    fn encode(&self, e: &mut Encoder) {
        e.array(2).text(tag::RECEIPT).value(&self.entry);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(2)?;
        d.tag(tag::RECEIPT)?;
        Ok(Receipt { entry: d.value()? })
    }
}

impl Receipt {
    pub fn council(&self) -> CouncilId {
        self.entry.body.council
    }
    pub fn seq(&self) -> u64 {
        self.entry.body.seq
    }
    /// The id of the acknowledged entry.
    pub fn entry_id(&self) -> Hash {
        self.entry.id()
    }

    /// Checks the node's signature on the entry and every member signature inside it.
    /// A receipt that fails this proves nothing and is never judged.
    pub fn verify(self) -> Result<Verified<Receipt>, SignatureError> {
        let entry = verify_entry(self.entry)?.into_inner();
        Ok(Verified::checked(Receipt { entry }))
    }
}

/// What a receipt says about a log that claims to be the council's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReceiptVerdict {
    /// The log holds the acknowledged entry, byte for byte.
    Held,
    /// The log holds another entry at the receipt's place, signed by the same key: the
    /// node signed two histories. The proof is the pair (§9).
    Equivocation(Box<EquivocationProof>),
    /// The log ends before the receipt's place: an entry the node acknowledged is gone
    /// (or the log was taken before the acknowledgement).
    Missing { log_seq: u64 },
    /// The receipt is not signed by the key that, by the log, signs that place: it proves
    /// nothing about this log.
    NotByNodeKey { node_key: PublicKey },
    /// The entry at the receipt's place is signed by another key than the receipt. Only
    /// a device that cannot replay the log sees this (the node served an entry that no
    /// valid log could hold there): a contradiction, but not a portable proof.
    OtherSigner { found: PublicKey },
}

impl ReceiptVerdict {
    /// A short name for reports and JSON.
    pub fn kind(&self) -> &'static str {
        match self {
            ReceiptVerdict::Held => "held",
            ReceiptVerdict::Equivocation(_) => "equivocation",
            ReceiptVerdict::Missing { .. } => "missing",
            ReceiptVerdict::NotByNodeKey { .. } => "not-by-node-key",
            ReceiptVerdict::OtherSigner { .. } => "other-signer",
        }
    }

    /// Whether this verdict shows the node dropped or rewrote an acknowledged record.
    pub fn is_betrayal(&self) -> bool {
        matches!(
            self,
            ReceiptVerdict::Equivocation(_) | ReceiptVerdict::Missing { .. } | ReceiptVerdict::OtherSigner { .. }
        )
    }
}

/// Judges a checked receipt against a log of the same council.
///
/// - `at_place`: the log's entry at the receipt's `seq`, or `None` if the log ends before.
/// - `log_seq`: the last `seq` of that log.
/// - `node_key`: the key that, by the log, signs the receipt's place (for a place past the
///   end, the key in force after the last entry), when the caller has replayed the log;
///   `None` for a device that only sees the entries the node serves.
///
/// The caller makes sure the log is the receipt's council's.
pub fn judge(
    receipt: &Verified<Receipt>,
    at_place: Option<&Entry>,
    log_seq: u64,
    node_key: Option<PublicKey>,
) -> ReceiptVerdict {
    let r = &receipt.entry;
    if let Some(k) = node_key {
        if r.signer != k {
            return ReceiptVerdict::NotByNodeKey { node_key: k };
        }
    }
    let Some(found) = at_place else {
        return ReceiptVerdict::Missing { log_seq };
    };
    if found.body_bytes == r.body_bytes {
        return ReceiptVerdict::Held;
    }
    if found.signer != r.signer {
        return ReceiptVerdict::OtherSigner { found: found.signer };
    }
    ReceiptVerdict::Equivocation(Box::new(EquivocationProof { a: r.clone(), b: found.clone() }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;
    use crate::records::{Outcome, Payload};
    use crate::sample::{key_from_label, Clock, CouncilBuilder};
    use crate::verify::verify_equivocation;

    fn receipt(e: &Entry) -> Verified<Receipt> {
        let bytes = Receipt { entry: e.clone() }.to_cbor();
        Receipt::from_cbor(&bytes).unwrap().verify().unwrap()
    }

    /// The receipt and the export item built from an entry's encoding are the encodings of
    /// the receipt and the export item that hold the entry.
    #[test]
    fn receipts_and_export_items_built_from_the_entry_bytes_are_their_encodings() {
        let m = key_from_label("receipt/bytes");
        let mut clock = Clock(1_800_000_000);
        let mut b =
            CouncilBuilder::found("B", &[&m], Default::default(), key_from_label("receipt/node2"), clock.tick())
                .unwrap();
        let t = clock.tick();
        b.invite(t, &m, Hash::of(b"f"), &key_from_label("receipt/i2"), 1, t + 100).unwrap();
        for e in b.take_entries() {
            let bytes = e.to_cbor();
            assert_eq!(receipt_bytes(&bytes), Receipt { entry: e.clone() }.to_cbor());
            assert_eq!(crate::export::entry_item_bytes(&bytes), crate::export::ExportItem::Entry(e).to_cbor());
        }
    }

    #[test]
    fn a_receipt_is_held_missing_or_proves_a_fork() {
        let m = key_from_label("receipt/m");
        let mut clock = Clock(1_800_000_000);
        let mut b = CouncilBuilder::found("R", &[&m], Default::default(), key_from_label("receipt/node"), clock.tick())
            .unwrap();
        let t = clock.tick();
        b.invite(t, &m, Hash::of(b"f"), &key_from_label("receipt/i"), 1, t + 100).unwrap();
        let entries = b.take_entries();
        let e = &entries[0];
        let r = receipt(e);
        let node = b.state().node_key();
        assert_eq!(judge(&r, Some(e), 1, Some(node)), ReceiptVerdict::Held);
        assert_eq!(judge(&r, None, 0, Some(node)), ReceiptVerdict::Missing { log_seq: 0 });

        // The node signs another entry at the same place.
        let other = b.forge_conflicting(
            1,
            e.body.prev,
            t,
            Payload::Close { motion: Hash::of(b"x"), outcome: Outcome::Rejected },
        );
        let v = judge(&r, Some(&other), 1, Some(node));
        let ReceiptVerdict::Equivocation(proof) = &v else { panic!("{v:?}") };
        assert!(v.is_betrayal());
        // The proof is an ordinary equivocation proof: anyone can check it.
        assert!(verify_equivocation((**proof).clone()).is_ok());

        // A receipt signed by another key than the log's node key proves nothing.
        let stranger = key_from_label("receipt/stranger");
        assert_eq!(
            judge(&r, Some(&other), 1, Some(stranger.public())),
            ReceiptVerdict::NotByNodeKey { node_key: stranger.public() }
        );
        // A tampered receipt does not verify at all.
        let mut bad = Receipt { entry: e.clone() };
        bad.entry.signature.0[0] ^= 1;
        assert!(bad.verify().is_err());
    }
}
