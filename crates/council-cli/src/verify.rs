//! `council verify` and `council sample`.
//!
//! Verification reads the export as a stream, in batches of a bounded size. Each batch is
//! decoded and signature-checked on all cores ([`check_item`] is stateless), then applied
//! in file order by [`ExportVerifier`], the same rules the daemon runs. Memory stays
//! bounded by the batch size plus the councils' state, whatever the file size.

use std::io::{BufWriter, Read};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use council_core::export::{check_items, ExportVerifier, ItemOutcome, ItemPos, ItemReader, ReadError, Report};
use council_core::receipt::Receipt;
use council_core::sample::{write_sample, SampleParams};
use council_core::verify::Verified;
use rayon::prelude::*;

use crate::report;

/// Items decoded and checked per parallel batch, and the most bytes one batch may hold
/// (items are up to 1 MiB each, so a count alone would not bound memory).
const BATCH: usize = 4096;
const BATCH_BYTES: usize = 16 << 20;
/// Items whose signatures are checked as one batch.
const SIGNATURE_BATCH: usize = 256;

/// Verifies an export read from `input`. The flag is set if reading failed (as opposed
/// to the bytes read being invalid).
///
/// A reading thread reads the next batch and checks its signatures on all cores while
/// this thread applies the rules to the batch before it, in file order. At most three
/// batches are held: one being read, one waiting, one being applied.
pub fn verify_stream<R: Read + Send + 'static>(input: R, receipts: Vec<(String, Verified<Receipt>)>) -> (Report, bool) {
    let mut verifier = ExportVerifier::with_receipts(receipts);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    let reading = std::thread::spawn(move || read_and_check(input, &tx));
    for checked in &rx {
        for (pos, c) in checked {
            verifier.push(pos, c);
        }
        // Not an export, or items past its end: nothing more can be judged. The verdict
        // is given now, as if reading had stopped here: the reading thread is not waited
        // for (standard input may be a device that never ends, or a pipe that goes
        // quiet), and whatever it read or failed to read after this point is not judged.
        // It stops when it finds nobody to hand its next batch to.
        if verifier.halted() {
            return (verifier.finish(None), false);
        }
    }
    let (read_error, io_failed) =
        reading.join().unwrap_or_else(|_| (Some("the reading thread failed".to_owned()), false));
    (verifier.finish(read_error), io_failed)
}

/// What one batch of items came to.
type CheckedBatch = Vec<(ItemPos, ItemOutcome)>;

/// Reads batches of items and checks them, until the input ends, reading fails, or `tx`
/// has no receiver. Returns the reading error, and whether it was the input's.
fn read_and_check<R: Read>(input: R, tx: &std::sync::mpsc::SyncSender<CheckedBatch>) -> (Option<String>, bool) {
    let mut reader = ItemReader::new(input);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        batch.clear();
        let mut bytes = 0;
        let mut end = None;
        while batch.len() < BATCH && bytes < BATCH_BYTES {
            match reader.next_item() {
                Ok(Some(item)) => {
                    bytes += item.1.len();
                    batch.push(item);
                }
                Ok(None) => {
                    end = Some((None, false));
                    break;
                }
                Err(e) => {
                    end = Some((Some(e.to_string()), matches!(e, ReadError::Io(_))));
                    break;
                }
            }
        }
        // Signatures are checked in batches of a few hundred items per core: a batch costs
        // a third of checking its signatures one by one, with the same verdicts (§2).
        let refs: Vec<(ItemPos, &[u8])> = batch.iter().map(|(pos, bytes)| (*pos, bytes.as_slice())).collect();
        let checked: CheckedBatch = refs.par_chunks(SIGNATURE_BATCH).flat_map_iter(check_items).collect();
        if tx.send(checked).is_err() {
            return (None, false);
        }
        if let Some(end) = end {
            return end;
        }
    }
}

pub fn run(path: &Path, receipts: Option<&Path>, json: bool) -> anyhow::Result<ExitCode> {
    // Receipts are read first: they are small, and a bad one is reported, never judged.
    let mut unusable = Vec::new();
    let mut usable = Vec::new();
    if let Some(p) = receipts {
        let loaded = crate::receipts::load(p)?;
        if loaded.is_empty() {
            anyhow::bail!("{} holds no receipts (*.receipt files)", p.display());
        }
        for l in loaded {
            match l.receipt {
                Ok(r) => usable.push((l.source, r)),
                Err(e) => unusable.push(serde_json::json!({ "source": l.source, "error": e })),
            }
        }
    }
    let (report, io_failed) = if path.as_os_str() == "-" {
        verify_stream(std::io::stdin(), usable)
    } else {
        let f = council_files::open_regular(path)?;
        let len = f.metadata().ok().map(|m| m.len());
        let bar = crate::progress::bytes(len, "verifying", json);
        let out = verify_stream(bar.wrap_read(f), usable);
        bar.finish_and_clear();
        out
    };
    // A file whose first item is not a readable export header is not an export at all:
    // unreadable (2) rather than invalid (1).
    let not_an_export = report.primary.is_none() || io_failed;
    if json {
        let mut v = serde_json::to_value(&report)?;
        v["unusable_receipts"] = serde_json::Value::Array(unusable);
        say!("{}", serde_json::to_string_pretty(&v)?);
    } else {
        report::print(&report, path);
        for u in &unusable {
            say!(
                "  ? receipt {} is not a valid receipt ({}): it proves nothing and was not used",
                u["source"].as_str().unwrap_or("?"),
                u["error"].as_str().unwrap_or("?")
            );
        }
    }
    Ok(if report.valid {
        ExitCode::SUCCESS
    } else if not_an_export {
        ExitCode::from(2)
    } else {
        ExitCode::from(1)
    })
}

/// `council sample --nested`: federations of federations (PROTOCOL.md §8.1).
pub fn nested_sample(out: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let (bytes, summary) = council_core::sample::nested::federations_of_federations(council_core::sample::SAMPLE_EPOCH)
        .context("cannot build the sample")?;
    let mut file = council_files::AtomicFile::create(out, false)?;
    std::io::Write::write_all(file.file(), &bytes).with_context(|| format!("cannot write {}", out.display()))?;
    file.commit()?;
    if json {
        say!("{}", serde_json::json!({ "file": out, "summary": summary }));
    } else {
        say!(
            "wrote {}: {} councils in four federations, two regions of two of those, and the federation of the \
             regions {}\ncheck it with: council verify {}",
            out.display(),
            summary.councils,
            summary.top,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn sample(out: &Path, p: &SampleParams, json: bool) -> anyhow::Result<ExitCode> {
    let mut file = council_files::AtomicFile::create(out, false)?;
    let bar = crate::progress::bytes(None, "writing the sample", json);
    let mut w = BufWriter::with_capacity(1 << 20, bar.wrap_write(file.file()));
    let summary = write_sample(p, &mut w).with_context(|| format!("cannot write the sample to {}", out.display()))?;
    std::io::Write::flush(&mut w).context("cannot flush the sample")?;
    drop(w);
    bar.finish_and_clear();
    file.commit()?;
    if json {
        say!("{}", serde_json::json!({ "file": out, "summary": summary }));
    } else {
        say!(
            "wrote {}: {} councils, {} log entries, {} ballots\nprimary council {}\nfederation {}\ncheck it with: council verify {}",
            out.display(),
            summary.councils,
            summary.entries,
            summary.ballots,
            summary.primary,
            summary.federation,
            out.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
