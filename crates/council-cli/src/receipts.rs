//! The member's receipts: kept on this device, checked against the node's log.
//!
//! Every record the CLI submits comes back with a receipt, the node-signed log entry
//! that holds it (PROTOCOL.md §4.6). Receipts live under
//! `$XDG_DATA_HOME/councilnet/receipts/<council id>/` (`~/.local/share/…` when unset),
//! one file each. Each time the CLI signs in to a member endpoint it asks the node for
//! the entries at its receipts' places and judges each receipt by the same rule as
//! `council verify --receipts` (§10.1). A node that dropped or rewrote an acknowledged
//! record is caught there, and the proof is saved beside the receipts.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use council_core::cbor::Cbor;
use council_core::receipt::{judge, Receipt, ReceiptVerdict};
use council_core::records::{Entry, Payload};
use council_core::verify::{verify_entry, Verified};
use council_core::Hash;
use serde_json::Value;

use crate::client::Node;

/// No receipt file is larger than this (an entry is at most 1 MiB).
const MAX_RECEIPT_BYTES: u64 = (1 << 20) + 64;

/// Where receipts are kept.
pub fn dir() -> anyhow::Result<PathBuf> {
    let base = match std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME").context("neither XDG_DATA_HOME nor HOME is set")?)
            .join(".local/share"),
    };
    Ok(base.join("councilnet/receipts"))
}

/// The record inside an entry's payload, as the member signed it.
fn record_of(p: &Payload) -> Option<Vec<u8>> {
    Some(match p {
        Payload::Motion(m) => m.to_cbor(),
        Payload::Vote(v) => v.to_cbor(),
        Payload::Petition(x) => x.to_cbor(),
        Payload::DelegateVote(v) => v.to_cbor(),
        Payload::Invite(i) => i.to_cbor(),
        Payload::Name(n) => n.to_cbor(),
        Payload::Device(d) => d.to_cbor(),
        Payload::Ranking(r) => r.to_cbor(),
        Payload::Close { .. } => return None,
    })
}

/// Checks the receipt in a node's answer to `record` and keeps it. A receipt that does
/// not verify, or does not hold the record, is an error: the node's acknowledgement
/// cannot be trusted.
pub fn keep(answer: &Value, record: &[u8]) -> anyhow::Result<()> {
    let Some(hex_receipt) = answer["receipt"].as_str() else {
        bail!("the node acknowledged the record without a receipt: nothing proves it was logged");
    };
    let bytes = hex::decode(hex_receipt).context("the node's receipt is not hex")?;
    let r = Receipt::from_cbor(&bytes).context("the node's receipt cannot be read")?;
    let r = r.verify().map_err(|e| anyhow::anyhow!("the node's receipt does not verify: {e}"))?;
    if record_of(&r.entry.body.payload).as_deref() != Some(record) {
        bail!("the node's receipt is for another record than the one submitted");
    }
    let d = dir()?.join(r.council().to_hex());
    std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    let name = format!("{:012}-{}.receipt", r.seq(), r.entry_id().short());
    write_new(&d.join(name), &bytes)
}

/// Writes a file that must not exist yet (a receipt is never overwritten), through a
/// fresh temporary file, so that no planted link is followed.
fn write_new(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    if path.exists() {
        return Ok(());
    }
    Ok(council_files::write_atomic(path, bytes, true)?)
}

/// A receipt file, read and checked, or why it could not be.
pub struct Loaded {
    pub source: String,
    pub receipt: Result<Verified<Receipt>, String>,
}

/// Reads a receipt file, or every `*.receipt` file under a folder (one level of
/// sub-folders: the per-council folders).
pub fn load(path: &Path) -> anyhow::Result<Vec<Loaded>> {
    let meta = std::fs::symlink_metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut files = Vec::new();
    if meta.is_dir() {
        for e in std::fs::read_dir(path).with_context(|| format!("cannot read {}", path.display()))? {
            let p = e?.path();
            if p.is_dir() {
                for e in std::fs::read_dir(&p).with_context(|| format!("cannot read {}", p.display()))? {
                    files.push(e?.path());
                }
            } else {
                files.push(p);
            }
        }
        files.retain(|p| p.extension().is_some_and(|x| x == "receipt"));
        files.sort();
    } else {
        files.push(path.to_path_buf());
    }
    Ok(files
        .into_iter()
        .map(|f| {
            let receipt = council_files::read_small(&f, MAX_RECEIPT_BYTES)
                .map_err(|e| format!("{e:#}"))
                .and_then(|b| Receipt::from_cbor(&b).map_err(|e| format!("not a receipt: {e}")))
                .and_then(|r| r.verify().map_err(|e| format!("does not verify: {e}")));
            Loaded { source: f.display().to_string(), receipt }
        })
        .collect())
}

/// Checks every receipt held for `council` against the node's log now. Prints a loud
/// warning for each betrayal, saves the proofs, and returns how many there were.
pub fn check_against_node(node: &Node, council: Hash) -> anyhow::Result<usize> {
    let d = dir()?.join(council.to_hex());
    if !d.is_dir() {
        return Ok(0);
    }
    let held: Vec<(String, Verified<Receipt>)> = load(&d)?
        .into_iter()
        .filter_map(|l| match l.receipt {
            Ok(r) if r.council() == council => Some((l.source, r)),
            Ok(_) => None,
            Err(e) => {
                eprintln!("warning: a receipt on this device cannot be used: {}: {e}", l.source);
                None
            }
        })
        .collect();
    let mut betrayals = 0;
    for chunk in held.chunks(64) {
        let at: Vec<String> = chunk.iter().map(|(_, r)| r.seq().to_string()).collect();
        let answer = node.get(&format!("/v1/log?at={}", at.join(",")))?;
        let head = answer["head"].as_u64().context("the node's log answer has no head")?;
        let entries = answer["entries"].as_array().context("the node's log answer has no entries")?;
        if entries.len() != chunk.len() {
            bail!("the node answered {} entries for {} places", entries.len(), chunk.len());
        }
        for ((source, r), e) in chunk.iter().zip(entries) {
            let found: Option<Entry> = match e["record"].as_str() {
                None => None,
                Some(h) => {
                    let e = hex::decode(h)
                        .ok()
                        .and_then(|b| Entry::from_cbor(&b).ok())
                        .and_then(|e| verify_entry(e).ok())
                        .map(Verified::into_inner);
                    match e {
                        Some(e) if e.body.council == council && e.body.seq == r.seq() => Some(e),
                        _ => {
                            betrayals += 1;
                            warn(
                                source,
                                r,
                                "the node served an entry at that place that is not a valid entry of this council",
                            );
                            continue;
                        }
                    }
                }
            };
            let verdict = judge(r, found.as_ref(), head, None);
            match &verdict {
                ReceiptVerdict::Held => {}
                ReceiptVerdict::Equivocation(proof) => {
                    betrayals += 1;
                    let p = d.join(format!("EQUIVOCATION-{:012}.cbor", r.seq()));
                    let saved = write_new(&p, &proof.to_cbor()).map(|_| p.display().to_string());
                    warn(
                        source,
                        r,
                        &format!(
                            "the node now has another entry ({}) at that place, signed by the same node key: it signed two histories. The proof is saved in {}; hand it to your council, and to a node of its federation with `council --node URL receipts send-proof FILE`",
                            proof.b.id(),
                            saved.unwrap_or_else(|e| format!("(could not be saved: {e:#})"))
                        ),
                    );
                }
                ReceiptVerdict::Missing { log_seq } => {
                    betrayals += 1;
                    warn(
                        source,
                        r,
                        &format!("the node's log now ends at entry {log_seq}: an entry it acknowledged is gone"),
                    );
                }
                ReceiptVerdict::OtherSigner { found } => {
                    betrayals += 1;
                    warn(source, r, &format!("the node serves an entry there signed by another key ({found})"));
                }
                ReceiptVerdict::NotByNodeKey { .. } => {}
            }
        }
    }
    Ok(betrayals)
}

fn warn(source: &str, r: &Verified<Receipt>, what: &str) {
    eprintln!();
    eprintln!("!!! WARNING: THE NODE BROKE ITS WORD !!!");
    eprintln!("!!! Your receipt {source}");
    eprintln!("!!! says entry {} is at place {} of the council's log.", r.entry_id(), r.seq());
    eprintln!("!!! {what}.");
    eprintln!("!!! Keep the receipt. `council verify --receipts` checks any export against it.");
    eprintln!();
}
