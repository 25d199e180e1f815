//! The raw ed25519 rate for exactly the signatures an export holds, on all cores (or as
//! many as `RAYON_NUM_THREADS` allows): `verify_strict` one at a time, and ed25519-dalek's
//! batch verification. Used by `scripts/bench.sh` (row B1) to put `council verify`'s time
//! beside the physical limit.
//!
//! It also measures the two ways issue 16 names to make `council verify` cheaper, on the
//! same signatures (docs/BENCHMARKS.md, "B1: choosing how to verify"):
//!
//! - the same strict check with a precomputed table per key: each key's `[k]A` comes from
//!   a radix-16 table built once per key, as `[s]B` comes from the basepoint's table;
//! - ZIP-215 (cofactored) verification with the `ed25519-consensus` crate, one by one and
//!   in batches, where batch and single verification agree exactly.
//!
//! Usage: `cargo run --release -p council-cli --example raw_verify -- FILE [zip215-batch]`;
//! with `zip215-batch`, only the ZIP-215 batch rate is measured.

use std::time::Instant;

use council_core::cbor::Cbor;
use council_core::export::{ExportItem, ItemReader};
use council_core::records::{Action, DeviceChange, DeviceProof, JoinStatement, Payload};
use curve25519_dalek::constants::ED25519_BASEPOINT_TABLE;
use curve25519_dalek::edwards::{CompressedEdwardsY, EdwardsBasepointTable, EdwardsPoint};
use curve25519_dalek::scalar::Scalar;
use curve25519_dalek::traits::BasepointTable;
use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;
use sha2::{Digest, Sha512};
use std::collections::HashMap;

/// `verify_strict`'s verdict, with `[k](-A)` from a table built once for the key: canonical
/// `s`, `R` a point that is not of small order, and `[s]B + [k](-A) = R`.
fn strict_with_table(neg_a: &EdwardsBasepointTable, a: &[u8; 32], msg: &[u8], sig: &[u8; 64]) -> bool {
    let mut r_bytes = [0u8; 32];
    r_bytes.copy_from_slice(&sig[..32]);
    let mut s_bytes = [0u8; 32];
    s_bytes.copy_from_slice(&sig[32..]);
    let Some(s) = Option::<Scalar>::from(Scalar::from_canonical_bytes(s_bytes)) else { return false };
    let Some(r) = CompressedEdwardsY(r_bytes).decompress() else { return false };
    if r.is_small_order() {
        return false;
    }
    let k = Scalar::from_hash(Sha512::new().chain_update(r_bytes).chain_update(a).chain_update(msg));
    let expected: EdwardsPoint = ED25519_BASEPOINT_TABLE * &s + neg_a * &k;
    expected == r
}

struct Triple {
    key: VerifyingKey,
    msg: Vec<u8>,
    sig: Signature,
}

fn triple(key: &council_core::PublicKey, msg: &[u8], sig: &council_core::Signature) -> Triple {
    Triple {
        key: VerifyingKey::from_bytes(key.as_bytes()).expect("keys in a valid export decode"),
        msg: msg.to_vec(),
        sig: Signature::from_bytes(&sig.0),
    }
}

/// ZIP-215 batch verification of every signature, in batches of 512 on all cores: the
/// limit `council verify` is measured against (it verifies by these rules).
fn zip215_batch(all: &[Triple]) -> (f64, bool) {
    let t = Instant::now();
    let ok = all.par_chunks(512).all(|c| {
        let mut v = ed25519_consensus::batch::Verifier::new();
        for tr in c {
            let key: ed25519_consensus::VerificationKeyBytes = tr.key.to_bytes().into();
            let sig: ed25519_consensus::Signature = tr.sig.to_bytes().into();
            v.queue((key, sig, tr.msg.as_slice()));
        }
        v.verify(rand::thread_rng()).is_ok()
    });
    (t.elapsed().as_secs_f64(), ok)
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: raw_verify FILE [zip215-batch]");
    let only_batch = std::env::args().nth(2).is_some_and(|a| a == "zip215-batch");
    let file = std::fs::File::open(&path).expect("the export opens");
    let mut reader = ItemReader::new(std::io::BufReader::new(file));
    let mut all = Vec::new();
    while let Some((_, bytes)) = reader.next_item().expect("the export reads") {
        match ExportItem::from_cbor(&bytes).expect("a valid export decodes") {
            ExportItem::Header { .. } | ExportItem::End { .. } => {}
            ExportItem::Genesis(g) | ExportItem::PartialGenesis(g) => {
                for (k, s) in g.body.founders.iter().zip(&g.signatures) {
                    all.push(triple(k, &g.body_bytes, s));
                }
            }
            ExportItem::Entry(e) => {
                all.push(triple(&e.signer, &e.body_bytes, &e.signature));
                match &e.body.payload {
                    Payload::Motion(m) => {
                        all.push(triple(&m.signer, &m.body_bytes, &m.signature));
                        match m.body.form.action() {
                            Some(Action::SignCharter { charter, invite: Some(p) }) => {
                                let stmt = JoinStatement { federation: charter.id(), council: m.body.council };
                                all.push(triple(&p.invite_key, &stmt.to_cbor(), &p.signature));
                            }
                            Some(Action::AddDevice { member, device, proof }) => {
                                let stmt = DeviceProof { council: m.body.council, member: *member };
                                all.push(triple(device, &stmt.to_cbor(), proof));
                            }
                            _ => {}
                        }
                    }
                    Payload::Vote(v) => all.push(triple(&v.signer, &v.body_bytes, &v.signature)),
                    Payload::Petition(v) => all.push(triple(&v.signer, &v.body_bytes, &v.signature)),
                    Payload::DelegateVote(v) => all.push(triple(&v.signer, &v.body_bytes, &v.signature)),
                    Payload::Invite(v) => all.push(triple(&v.signer, &v.body_bytes, &v.signature)),
                    Payload::Name(v) => all.push(triple(&v.signer, &v.body_bytes, &v.signature)),
                    Payload::Ranking(v) => all.push(triple(&v.signer, &v.body_bytes, &v.signature)),
                    Payload::Device(v) => {
                        all.push(triple(&v.signer, &v.body_bytes, &v.signature));
                        if let DeviceChange::Add { device, proof } = &v.body.change {
                            let stmt = DeviceProof { council: v.body.council, member: v.body.member };
                            all.push(triple(device, &stmt.to_cbor(), proof));
                        }
                    }
                    Payload::Close { .. } => {}
                }
            }
            ExportItem::Equivocation(p) => {
                all.push(triple(&p.a.signer, &p.a.body_bytes, &p.a.signature));
                all.push(triple(&p.b.signer, &p.b.body_bytes, &p.b.signature));
            }
        }
    }
    if only_batch {
        let (secs, ok) = zip215_batch(&all);
        println!(
            "{}",
            serde_json::json!({
                "signatures": all.len(),
                "threads": rayon::current_num_threads(),
                "zip215_batch_seconds": secs,
                "zip215_batch_all_valid": ok,
            })
        );
        return;
    }
    let t = Instant::now();
    let strict_ok = all.par_iter().all(|t| t.key.verify_strict(&t.msg, &t.sig).is_ok());
    let strict = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let batch_ok = all.par_chunks(512).all(|c| {
        let msgs: Vec<&[u8]> = c.iter().map(|t| t.msg.as_slice()).collect();
        let sigs: Vec<Signature> = c.iter().map(|t| t.sig).collect();
        let keys: Vec<VerifyingKey> = c.iter().map(|t| t.key).collect();
        ed25519_dalek::verify_batch(&msgs, &sigs, &keys).is_ok()
    });
    let batch = t.elapsed().as_secs_f64();

    // Strict, with a table per key (built inside the timing: it is part of the cost).
    let t = Instant::now();
    let mut tables: HashMap<[u8; 32], EdwardsBasepointTable> = HashMap::new();
    for tr in &all {
        tables.entry(tr.key.to_bytes()).or_insert_with(|| {
            let a = CompressedEdwardsY(tr.key.to_bytes()).decompress().expect("a valid key");
            EdwardsBasepointTable::create(&-a)
        });
    }
    let tables_ok = all
        .par_iter()
        .all(|tr| strict_with_table(&tables[tr.key.as_bytes()], tr.key.as_bytes(), &tr.msg, &tr.sig.to_bytes()));
    let tabled = t.elapsed().as_secs_f64();
    // The same verdicts as verify_strict, signature by signature, on a tampered copy too.
    let agree = all.par_iter().enumerate().all(|(i, tr)| {
        let mut sig = tr.sig.to_bytes();
        if i % 3 == 0 {
            sig[i % 64] ^= 1 << (i % 8);
        }
        let dalek = tr.key.verify_strict(&tr.msg, &Signature::from_bytes(&sig)).is_ok();
        dalek == strict_with_table(&tables[tr.key.as_bytes()], tr.key.as_bytes(), &tr.msg, &sig)
    });

    // ZIP-215, one by one and in batches.
    let zip: Vec<(ed25519_consensus::VerificationKeyBytes, ed25519_consensus::Signature, &[u8])> =
        all.iter().map(|tr| (tr.key.to_bytes().into(), tr.sig.to_bytes().into(), tr.msg.as_slice())).collect();
    let t = Instant::now();
    let zip_single_ok = zip.par_iter().all(|(k, sig, msg)| {
        ed25519_consensus::VerificationKey::try_from(*k).is_ok_and(|vk| vk.verify(sig, msg).is_ok())
    });
    let zip_single = t.elapsed().as_secs_f64();
    let (zip_batch, zip_batch_ok) = zip215_batch(&all);

    println!(
        "{}",
        serde_json::json!({
            "signatures": all.len(),
            "threads": rayon::current_num_threads(),
            "strict_seconds": strict,
            "strict_all_valid": strict_ok,
            "batch_seconds": batch,
            "batch_all_valid": batch_ok,
            "tables_seconds": tabled,
            "tables_all_valid": tables_ok,
            "tables_keys": tables.len(),
            "tables_agree_with_strict": agree,
            "zip215_single_seconds": zip_single,
            "zip215_single_all_valid": zip_single_ok,
            "zip215_batch_seconds": zip_batch,
            "zip215_batch_all_valid": zip_batch_ok,
        })
    );
}
