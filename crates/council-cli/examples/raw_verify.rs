//! The raw ed25519 rate for exactly the signatures an export holds, on all cores:
//! `verify_strict` one at a time, and ed25519-dalek's batch verification. Used by
//! `scripts/bench.sh` (row B1) to put `council verify`'s time beside the physical limit.
//!
//! Usage: `cargo run --release -p council-cli --example raw_verify -- FILE`

use std::time::Instant;

use council_core::cbor::Cbor;
use council_core::export::{ExportItem, ItemReader};
use council_core::records::{Action, DeviceChange, DeviceProof, JoinStatement, Payload};
use ed25519_dalek::{Signature, VerifyingKey};
use rayon::prelude::*;

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

fn main() {
    let path = std::env::args().nth(1).expect("usage: raw_verify FILE");
    let file = std::fs::File::open(&path).expect("the export opens");
    let mut reader = ItemReader::new(std::io::BufReader::new(file));
    let mut all = Vec::new();
    while let Some((_, bytes)) = reader.next_item().expect("the export reads") {
        match ExportItem::from_cbor(&bytes).expect("a valid export decodes") {
            ExportItem::Header { .. } | ExportItem::End { .. } => {}
            ExportItem::Genesis(g) => {
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
    println!(
        "{}",
        serde_json::json!({
            "signatures": all.len(),
            "threads": rayon::current_num_threads(),
            "strict_seconds": strict,
            "strict_all_valid": strict_ok,
            "batch_seconds": batch,
            "batch_all_valid": batch_ok,
        })
    );
}
