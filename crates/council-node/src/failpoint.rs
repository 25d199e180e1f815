//! Crash points for the reliability suites (cargo feature `failpoints`; councild is never
//! built with it). A crash point kills the whole process with SIGKILL at an exact place,
//! which a kill from outside could hit only by chance.
//!
//! `COUNCILD_CRASH_AFTER_SIGNING=<n>:<file>`: at the writer's `n`-th batch (from 1), after
//! it signed the batch's log entries and before it stored any of them, the entries are
//! written to `<file>` (export items, one after another as in an export file) and the
//! process is killed. Used by the `signing_crash` example.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

use council_core::cbor::Cbor;
use council_core::export::ExportItem;
use council_core::records::Entry;

/// The environment variable that arms the crash point after signing.
pub const CRASH_AFTER_SIGNING: &str = "COUNCILD_CRASH_AFTER_SIGNING";

static BATCHES: AtomicU64 = AtomicU64::new(0);

/// The writer signed `entries` and is about to store them.
pub(crate) fn signed_not_stored(entries: &[&Entry]) {
    let Ok(spec) = std::env::var(CRASH_AFTER_SIGNING) else { return };
    let Some((n, file)) = spec.split_once(':') else { return };
    let Ok(n) = n.parse::<u64>() else { return };
    if BATCHES.fetch_add(1, Ordering::SeqCst) + 1 != n {
        return;
    }
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&ExportItem::Entry((*e).clone()).to_cbor());
    }
    if let Ok(mut f) = std::fs::File::create(file) {
        let _ = f.write_all(&out);
        let _ = f.sync_all();
    }
    let _ = std::process::Command::new("kill").args(["-KILL", &std::process::id().to_string()]).status();
    // SIGKILL is not immediate; nothing more may happen meanwhile.
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
