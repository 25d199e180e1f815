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
    let bytes = council_files::read_small(draft, MAX_DRAFT_BYTES)?;
    let mut d = council_core::draft::GenesisDraft::from_cbor(&bytes)
        .with_context(|| format!("{} is not a genesis draft", draft.display()))?;
    d.sign(&k)?;
    council_files::write_atomic(draft, &d.to_cbor(), false)?;
    let missing = d.missing();
    if json {
        say!(
            "{}",
            serde_json::json!({ "signed_by": k.public().to_did(), "missing": missing.iter().map(|m| m.to_did()).collect::<Vec<_>>() })
        );
    } else if missing.is_empty() {
        say!("signed. Every founder has signed: the council can start (councild run).");
    } else {
        say!("signed. Still to sign: {}", missing.len());
        for m in missing {
            say!("  {m}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `council genesis show`.
pub fn show_draft(draft: &Path, json: bool) -> anyhow::Result<ExitCode> {
    use council_core::cbor::Cbor;
    let bytes = council_files::read_small(draft, MAX_DRAFT_BYTES)?;
    let d = council_core::draft::GenesisDraft::from_cbor(&bytes)
        .with_context(|| format!("{} is not a genesis draft", draft.display()))?;
    let founders: Vec<_> = d.body.founders.iter().zip(&d.signatures).map(|(f, s)| (f.to_did(), s.is_some())).collect();
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
