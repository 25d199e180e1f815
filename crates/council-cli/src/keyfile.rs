//! Member key files: one line, `councilnet-ed25519-seed:` and the 32-byte seed in hex,
//! readable by the owner only.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use council_core::SecretKey;

const PREFIX: &str = "councilnet-ed25519-seed:";

pub fn new(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let key = SecretKey::generate();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .with_context(|| format!("cannot create key file {} (it must not exist yet)", path.display()))?;
    writeln!(f, "{PREFIX}{}", hex::encode(key.seed().as_ref()))
        .and_then(|_| f.sync_all())
        .with_context(|| format!("cannot write key file {}", path.display()))?;
    print_key(&key, path, json);
    Ok(ExitCode::SUCCESS)
}

pub fn show(path: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let key = load(path)?;
    print_key(&key, path, json);
    Ok(ExitCode::SUCCESS)
}

fn print_key(key: &SecretKey, path: &Path, json: bool) {
    if json {
        say!("{}", serde_json::json!({ "did": key.public().to_did(), "file": path }));
    } else {
        say!("{}", key.public());
    }
}

/// The most bytes a key file holds (its one line is 89).
const MAX_KEY_BYTES: u64 = 4096;
/// The most bytes a genesis draft holds (a genesis is one record of at most 1 MiB).
const MAX_DRAFT_BYTES: u64 = 2 << 20;

/// Reads a key file, refusing one that others can read, and a fifo, a device or a large
/// file unread.
pub fn load(path: &Path) -> anyhow::Result<SecretKey> {
    let bytes = council_files::read_private(path, MAX_KEY_BYTES).context("cannot read the key file")?;
    let text =
        std::str::from_utf8(&bytes).map_err(|_| anyhow::anyhow!("{} is not a councilnet key file", path.display()))?;
    let hexseed =
        text.trim().strip_prefix(PREFIX).with_context(|| format!("{} is not a councilnet key file", path.display()))?;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    hex::decode_to_slice(hexseed, seed.as_mut()).with_context(|| format!("{} holds a damaged key", path.display()))?;
    Ok(SecretKey::from_seed(&seed))
}

/// `council genesis sign`: adds the member's signature to a genesis draft.
pub fn sign_draft(draft: &Path, key: &Path, json: bool) -> anyhow::Result<ExitCode> {
    use council_core::cbor::Cbor;
    let k = load(key)?;
    let mut d = read_draft(draft)?;
    d.sign(&k)?;
    council_files::write_atomic(draft, &d.to_cbor(), false)?;
    still_to_sign(&d, serde_json::json!({ "signed_by": k.public().to_did() }), "signed.", json);
    Ok(ExitCode::SUCCESS)
}

fn read_draft(path: &Path) -> anyhow::Result<council_core::draft::GenesisDraft> {
    use council_core::cbor::Cbor;
    let bytes = council_files::read_small(path, MAX_DRAFT_BYTES)?;
    council_core::draft::GenesisDraft::from_cbor(&bytes)
        .with_context(|| format!("{} is not a genesis draft", path.display()))
}

/// Says who is still to sign `d` (counting only signatures that verify).
fn still_to_sign(d: &council_core::draft::GenesisDraft, mut v: serde_json::Value, done: &str, json: bool) {
    let missing = d.missing();
    if json {
        v["missing"] = missing.iter().map(|m| m.to_did()).collect::<Vec<_>>().into();
        say!("{v}");
    } else if missing.is_empty() {
        say!("{done} Every founder has signed: the council can start (councild run).");
    } else {
        say!("{done} Still to sign: {}", missing.len());
        for m in missing {
            say!("  {m}");
        }
    }
}

/// `council genesis merge`: adds the signatures of copies signed at the same time.
/// Nothing is written unless every copy merges.
pub fn merge_drafts(draft: &Path, copies: &[std::path::PathBuf], json: bool) -> anyhow::Result<ExitCode> {
    use council_core::cbor::Cbor;
    let mut d = read_draft(draft)?;
    let mut added = 0;
    for c in copies {
        let copy = read_draft(c)?;
        added += d.merge(&copy).with_context(|| format!("{} cannot be merged", c.display()))?;
    }
    council_files::write_atomic(draft, &d.to_cbor(), false)?;
    let done = format!("{added} signature(s) added to {}.", draft.display());
    still_to_sign(&d, serde_json::json!({ "added": added }), &done, json);
    Ok(ExitCode::SUCCESS)
}

/// `council genesis show`.
pub fn show_draft(draft: &Path, json: bool) -> anyhow::Result<ExitCode> {
    let d = read_draft(draft)?;
    let missing = d.missing();
    let founders: Vec<_> = d.body.founders.iter().map(|f| (f.to_did(), !missing.contains(f))).collect();
    if json {
        say!(
            "{}",
            serde_json::json!({ "name": d.body.name, "founders": founders.iter().map(|(f, s)| serde_json::json!({"did": f, "signed": s})).collect::<Vec<_>>() })
        );
    } else {
        say!("council {:?}", d.body.name);
        for (f, s) in founders {
            say!("  {} {f}", if s { "signed " } else { "waiting" });
        }
    }
    Ok(ExitCode::SUCCESS)
}
