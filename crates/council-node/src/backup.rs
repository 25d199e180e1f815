//! Backups of a council's node, and restoring one on new hardware.
//!
//! A backup is a tar archive (`tar tf` lists it) of:
//!
//! | file | what |
//! |---|---|
//! | `BACKUP.json` | what it holds: the council, its name, the last entry, when it was taken |
//! | `node.key`, `api-token` | the node's secrets (the archive is written mode 0600) |
//! | `members-cert.pem`, `members-key.pem` | the member endpoint's TLS certificate, if the node made one |
//! | `council.cnx` | the council's export (PROTOCOL.md §5): its whole log, and the logs it follows |
//!
//! The log is carried as an export, so a backup is checked by the same rules as every
//! export (`council verify` reads the `council.cnx` inside it), both when it is taken and
//! when it is restored. [`restore`] rebuilds the store from it: the council's log entry by
//! entry through the council rules, and the followed logs and equivocation proofs as they
//! were. Nothing is restored unless the whole export is valid and the node key in the
//! backup is the one that signs the council's log now.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use council_core::cbor::Cbor;
use council_core::council::CouncilState;
use council_core::export::{verify_reader, ExportItem, ItemReader, Report};
use council_core::records::Entry;
use council_core::verify::{verify_genesis, Verified};
use council_core::Hash;
use council_store::{Append, Store};

use crate::{datadir, tls, writer};

/// The export inside a backup.
pub const EXPORT: &str = "council.cnx";
/// What the backup holds, as JSON.
pub const MANIFEST: &str = "BACKUP.json";
/// The files copied from the data directory as they are, with the most bytes each may
/// hold in a backup being restored, and whether it must be there.
const FILES: [(&str, u64, bool); 4] = [
    (datadir::NODE_KEY, 4096, true),
    (datadir::API_TOKEN, 4096, true),
    (tls::CERT, 64 << 10, false),
    (tls::KEY, 64 << 10, false),
];
/// Own entries written to the store per batch while restoring.
const RESTORE_BATCH: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    DataDir(#[from] datadir::DataDirError),
    #[error(transparent)]
    File(#[from] council_files::FileError),
    #[error(transparent)]
    Store(#[from] council_store::StoreError),
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{0} is not a councilnet backup: {1}")]
    NotABackup(PathBuf, String),
    #[error("the council's log in the backup is not valid, so nothing was restored: {0}")]
    InvalidLog(String),
    #[error("the node's export does not verify, so no backup was written: {0}")]
    UnverifiedExport(String),
    #[error("nothing recovered: {0}")]
    NotRecovered(String),
    #[error("the node key in the backup does not sign the council's log now (a council act replaced it with {0}): restore a newer backup")]
    NotTheNodeKey(String),
}

fn io_err(path: &Path) -> impl Fn(std::io::Error) -> BackupError + '_ {
    move |e| BackupError::Io { path: path.to_owned(), reason: e.to_string() }
}

/// Writes the council's export from `store` in chunks, up to own entry `upto`: the header,
/// the genesis and entries of the council's log, then every council this node follows
/// (so that the file carries every foreign record its federation events depend on), and
/// last the equivocation proofs against them. `send` takes each chunk and says whether to
/// go on. Foreign logs are stored only as applied, in order, so whatever is read is a
/// valid prefix of each log.
pub fn write_export(
    store: &Store,
    council: Hash,
    upto: u64,
    mut send: impl FnMut(Vec<u8>) -> bool,
) -> Result<(), String> {
    let genesis = match store.genesis() {
        Ok(Some(g)) => g,
        Ok(None) => return Err("the store has no genesis".into()),
        Err(e) => return Err(e.to_string()),
    };
    let mut buf = ExportItem::Header { primary: council }.to_cbor();
    buf.extend(ExportItem::Genesis(genesis).to_cbor());
    let mut items = 2u64;
    for e in store.entries(1) {
        match e {
            Ok(e) if e.body.seq > upto => break,
            Ok(e) => buf.extend(ExportItem::Entry(e).to_cbor()),
            Err(e) => return Err(e.to_string()),
        }
        items += 1;
        if buf.len() >= 1 << 16 && !send(std::mem::take(&mut buf)) {
            return Ok(());
        }
    }
    // Followed logs, then federation-level copies (PROTOCOL.md §12.9), marked as such.
    let mut followed = std::collections::BTreeSet::new();
    let stored = store.foreign_geneses().map(|g| (g, false)).chain(store.copy_geneses().map(|g| (g, true)));
    for (g, copy) in stored {
        let g = g.map_err(|e| e.to_string())?;
        let id = g.council_id();
        if id == council || !followed.insert(id) {
            continue;
        }
        buf.extend(if copy { ExportItem::PartialGenesis(g) } else { ExportItem::Genesis(g) }.to_cbor());
        items += 1;
        for e in store.foreign_entries(&id, 1) {
            buf.extend(ExportItem::Entry(e.map_err(|e| e.to_string())?).to_cbor());
            items += 1;
            if buf.len() >= 1 << 16 && !send(std::mem::take(&mut buf)) {
                return Ok(());
            }
        }
    }
    for p in store.equivocations() {
        let p = p.map_err(|e| e.to_string())?;
        if followed.contains(&p.a.body.council) {
            buf.extend(ExportItem::Equivocation(p).to_cbor());
            items += 1;
        }
    }
    buf.extend(ExportItem::End { items }.to_cbor());
    send(buf);
    Ok(())
}

/// Why an export is not valid, in one line.
fn invalid(report: &Report) -> String {
    match report.errors.first() {
        Some(e) => format!("{} ({} error(s) in all)", e, report.errors.len()),
        None => "it is not a complete export".into(),
    }
}

/// What a backup holds.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Manifest {
    pub format: String,
    /// The council's id, 64 hex digits.
    pub council: String,
    pub name: String,
    /// The last entry of the council's log in the backup.
    pub entries: u64,
    /// Councils whose logs came along.
    pub followed: usize,
    /// When it was taken (seconds since the epoch).
    pub taken_at: u64,
}

const FORMAT: &str = "councilnet-backup/1";

/// Writes a backup of the node in `dir` to `out` (mode 0600, through a fresh temporary
/// file), with `export` (a complete export of the council, read from its start) as its
/// log. The export is checked first: a backup of an invalid log is refused.
pub fn write_backup(dir: &Path, export: &mut std::fs::File, out: &Path) -> Result<Manifest, BackupError> {
    let tmp_path = out.with_extension("export");
    export.rewind().map_err(io_err(&tmp_path))?;
    let report = verify_reader(std::io::BufReader::new(&mut *export));
    if !report.valid {
        return Err(BackupError::UnverifiedExport(invalid(&report)));
    }
    let primary = report.primary.and_then(|p| report.councils.iter().find(|c| c.id == p));
    let Some(council) = primary else {
        return Err(BackupError::UnverifiedExport("the export names no council of its own".into()));
    };
    let manifest = Manifest {
        format: FORMAT.into(),
        council: council.id.to_hex(),
        name: council.name.clone(),
        entries: council.entries,
        followed: report.councils.len().saturating_sub(1),
        taken_at: writer::now(),
    };
    let mut file = council_files::AtomicFile::create(out, true)?;
    {
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file.file()));
        let add = |tar: &mut tar::Builder<_>, name: &str, len: u64, data: &mut dyn Read| {
            let mut h = tar::Header::new_gnu();
            h.set_size(len);
            h.set_mode(0o600);
            h.set_mtime(manifest.taken_at);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, name, data).map_err(io_err(out))
        };
        let json = serde_json::to_vec_pretty(&manifest).map_err(|e| io_err(out)(e.into()))?;
        add(&mut tar, MANIFEST, json.len() as u64, &mut json.as_slice())?;
        for (name, max, required) in FILES {
            let path = dir.join(name);
            if !required && !path.exists() {
                continue;
            }
            let bytes = council_files::read_small(&path, max)?;
            add(&mut tar, name, bytes.len() as u64, &mut bytes.as_slice())?;
        }
        export.rewind().map_err(io_err(&tmp_path))?;
        let len = export.metadata().map_err(io_err(&tmp_path))?.len();
        add(&mut tar, EXPORT, len, export)?;
        let mut w = tar.into_inner().map_err(io_err(out))?;
        w.flush().map_err(io_err(out))?;
    }
    file.commit()?;
    Ok(manifest)
}

/// What [`restore`] rebuilt.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Restored {
    pub council: Hash,
    pub name: String,
    pub entries: u64,
    pub followed: usize,
    pub equivocations: usize,
}

/// Restores the backup `from` into `dir`, which must not hold a council. On any error,
/// what was made in `dir` is removed again.
pub fn restore(from: &Path, dir: &Path) -> Result<Restored, BackupError> {
    if dir.join(datadir::NODE_KEY).exists() || dir.join(datadir::STORE).exists() {
        return Err(datadir::DataDirError::Exists(dir.to_owned()).into());
    }
    std::fs::create_dir_all(dir).map_err(io_err(dir))?;
    let export_path = dir.join(".restoring.cnx");
    let result = unpack_and_rebuild(from, dir, &export_path);
    let _ = std::fs::remove_file(&export_path);
    if result.is_err() {
        let _ = std::fs::remove_dir_all(dir.join(datadir::STORE));
        for (name, _, _) in FILES {
            let _ = std::fs::remove_file(dir.join(name));
        }
    }
    result
}

fn unpack_and_rebuild(from: &Path, dir: &Path, export_path: &Path) -> Result<Restored, BackupError> {
    let not_a_backup = |why: String| BackupError::NotABackup(from.to_owned(), why);
    let file = council_files::open_regular(from)?;
    let mut archive = tar::Archive::new(std::io::BufReader::new(file));
    let mut files: Vec<(&'static str, Vec<u8>)> = Vec::new();
    let mut manifest: Option<Manifest> = None;
    let mut have_export = false;
    for entry in archive.entries().map_err(|e| not_a_backup(e.to_string()))? {
        let mut entry = entry.map_err(|e| not_a_backup(e.to_string()))?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            return Err(not_a_backup("it holds something other than plain files".into()));
        }
        let path = entry.path().map_err(|e| not_a_backup(e.to_string()))?;
        let name = path.to_str().unwrap_or("").to_owned();
        let size = entry.header().size().map_err(|e| not_a_backup(e.to_string()))?;
        if name == EXPORT {
            // Written beside the data, never held in memory: a log may be large.
            let mut out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(export_path)
                .map_err(io_err(export_path))?;
            std::io::copy(&mut entry, &mut out).map_err(io_err(export_path))?;
            out.sync_all().map_err(io_err(export_path))?;
            have_export = true;
        } else if name == MANIFEST {
            if size > 64 << 10 {
                return Err(not_a_backup(format!("{MANIFEST} is {size} bytes")));
            }
            let mut json = Vec::new();
            entry.read_to_end(&mut json).map_err(|e| not_a_backup(e.to_string()))?;
            let m: Manifest = serde_json::from_slice(&json).map_err(|e| not_a_backup(format!("{MANIFEST}: {e}")))?;
            if m.format != FORMAT {
                return Err(not_a_backup(format!("its format is {:?}, not {FORMAT:?}", m.format)));
            }
            manifest = Some(m);
        } else if let Some((known, max, _)) = FILES.iter().find(|(n, _, _)| *n == name) {
            if size > *max {
                return Err(not_a_backup(format!("{name} is {size} bytes, more than {max}")));
            }
            let mut bytes = Vec::new();
            entry.take(*max).read_to_end(&mut bytes).map_err(|e| not_a_backup(e.to_string()))?;
            files.push((known, bytes));
        } else {
            return Err(not_a_backup(format!("it holds {name:?}, which no backup holds")));
        }
    }
    let Some(manifest) = manifest else { return Err(not_a_backup(format!("it has no {MANIFEST}"))) };
    if !have_export {
        return Err(not_a_backup(format!("it has no {EXPORT}")));
    }
    for (name, _, required) in FILES {
        if required && !files.iter().any(|(n, _)| *n == name) {
            return Err(not_a_backup(format!("it has no {name}")));
        }
    }
    let key_bytes = &files.iter().find(|(n, _)| *n == datadir::NODE_KEY).map(|(_, b)| b.clone()).unwrap_or_default();
    let node_key =
        datadir::decode_key(Path::new(datadir::NODE_KEY), key_bytes).map_err(|e| not_a_backup(e.to_string()))?.public();

    // The whole log, checked as any export is, before anything is stored.
    let report = verify_reader(std::io::BufReader::new(council_files::open_regular(export_path)?));
    if !report.valid {
        return Err(BackupError::InvalidLog(invalid(&report)));
    }
    let council = report.primary.filter(|p| Some(*p) == Hash::from_hex(&manifest.council));
    let Some(council) = council else {
        return Err(not_a_backup("its export is of another council than its manifest says".into()));
    };
    let restored = rebuild(dir, export_path, council, node_key)?;
    for (name, bytes) in &files {
        datadir::write_private(&dir.join(name), bytes)?;
    }
    Ok(restored)
}

/// Builds the store in `dir` from a valid export: the council's own log through the
/// council rules (as the writer stored it, with its indexes), the followed logs and the
/// proofs as they are.
fn rebuild(
    dir: &Path,
    export: &Path,
    council: Hash,
    node_key: council_core::PublicKey,
) -> Result<Restored, BackupError> {
    let store = Store::open(&dir.join(datadir::STORE))?;
    let mut reader = ItemReader::new(std::io::BufReader::new(council_files::open_regular(export)?));
    let mut state: Option<CouncilState> = None;
    let mut own: Vec<Append> = Vec::new();
    let mut foreign: Vec<Entry> = Vec::new();
    let mut copies = std::collections::BTreeSet::new();
    let mut restored = Restored { council, name: String::new(), entries: 0, followed: 0, equivocations: 0 };
    let broken = |e: &dyn std::fmt::Display| BackupError::InvalidLog(e.to_string());
    while let Some((_, bytes)) = reader.next_item().map_err(|e| broken(&e))? {
        match ExportItem::from_cbor(&bytes).map_err(|e| broken(&e))? {
            ExportItem::Header { .. } | ExportItem::End { .. } => {}
            ExportItem::Genesis(g) if g.council_id() == council => {
                let v = verify_genesis(g.clone()).map_err(|e| broken(&e))?;
                restored.name = g.body.name.clone();
                state = Some(CouncilState::new(v).map_err(|e| broken(&e))?);
                store.init_genesis(&g)?;
            }
            ExportItem::Genesis(g) => {
                store.append_foreign(&std::mem::take(&mut foreign))?;
                store.put_foreign_genesis(&g)?;
                restored.followed += 1;
            }
            ExportItem::Entry(e) if e.body.council == council => {
                let st = state.as_mut().ok_or_else(|| broken(&"an entry before its genesis"))?;
                let stored = e.clone();
                let act = writer::closing_act(st, &stored.body.payload);
                st.apply(Verified::from_own_store(e)).map_err(|e| broken(&e))?;
                let index = writer::index_of(st, &stored, act.as_ref());
                own.push(Append::new(stored, index));
                if own.len() >= RESTORE_BATCH {
                    store.append(&std::mem::take(&mut own))?;
                }
            }
            ExportItem::PartialGenesis(g) if g.council_id() == council => {
                return Err(broken(&"the export holds only a federation-level copy of this council's log"));
            }
            // A federation-level copy of another council's log (PROTOCOL.md §12.9) is not
            // restored: the node fetches it again from its federations' nodes.
            ExportItem::PartialGenesis(g) => {
                store.append_foreign(&std::mem::take(&mut foreign))?;
                copies.insert(g.council_id());
            }
            ExportItem::Entry(e) if copies.contains(&e.body.council) => {}
            ExportItem::Entry(e) => foreign.push(e),
            ExportItem::Equivocation(p) => {
                store.put_equivocation(&p)?;
                restored.equivocations += 1;
            }
        }
        if foreign.len() >= RESTORE_BATCH {
            store.append_foreign(&std::mem::take(&mut foreign))?;
        }
    }
    store.append(&own)?;
    store.append_foreign(&foreign)?;
    let state = state.ok_or_else(|| broken(&"no genesis of the council"))?;
    if state.node_key() != node_key {
        return Err(BackupError::NotTheNodeKey(state.node_key().to_did()));
    }
    restored.entries = state.seq();
    store.put_state(state.seq(), &state.snapshot())?;
    // Its federation peers may hold newer entries of its log than the backup: the node
    // fetches them before it signs again (see crate::peering), so that it never signs a
    // second entry at a place its key already filled.
    store.set_catching_up(restored.followed > 0)?;
    store.flush()?;
    datadir::mark_store(dir, &council)?;
    Ok(restored)
}

/// `councild recover`: a node whose store is lost (its data directory otherwise whole:
/// the node key and the genesis draft) starts its log again from the genesis, marked to
/// fetch the rest from its federation peers before it signs anything (see
/// crate::peering): the first peer that welcomes it serves its own log, every entry
/// checked through the council rules and against the node key of its place.
pub fn recover(dir: &Path) -> Result<Restored, BackupError> {
    // The key that signs the log's end must be here: nothing else can go on with it.
    datadir::load_key(&dir.join(datadir::NODE_KEY))?;
    let draft = datadir::load_draft(dir)?;
    let genesis = draft.finish().map_err(|e| BackupError::InvalidLog(format!("the genesis draft: {e}")))?;
    let checked = verify_genesis(genesis.clone()).map_err(|e| BackupError::InvalidLog(e.to_string()))?;
    let state = CouncilState::new(checked).map_err(|e| BackupError::InvalidLog(e.to_string()))?;
    if let Some(id) =
        std::fs::read_to_string(dir.join(datadir::STORE_COUNCIL)).ok().and_then(|t| Hash::from_hex(t.trim()))
    {
        if id != state.id() {
            return Err(BackupError::NotRecovered(format!(
                "the genesis draft is of council {}, but this directory's store held council {} ({}): put that council's genesis.draft here, or recover into that council's own data directory",
                state.id(),
                id,
                datadir::STORE_COUNCIL
            )));
        }
    }
    let store = Store::open(&dir.join(datadir::STORE))?;
    if store.genesis()?.is_some() {
        let n = store.last_seq()?;
        return Err(BackupError::NotRecovered(format!(
            "the store is not lost: it holds the council's genesis and {n} entries (`councild run` starts it; if it is damaged, move {} aside and run `councild recover` again)",
            dir.join(datadir::STORE).display()
        )));
    }
    store.init_genesis(&genesis)?;
    store.set_recovering(true)?;
    store.set_catching_up(true)?;
    store.flush()?;
    datadir::mark_store(dir, &state.id())?;
    Ok(Restored { council: state.id(), name: genesis.body.name.clone(), entries: 0, followed: 0, equivocations: 0 })
}
