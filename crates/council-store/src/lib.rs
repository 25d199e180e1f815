//! # council-store
//!
//! A council's log and its indexes, on disk. The store is sled, kept private behind this
//! small interface (sled is in maintenance mode and its on-disk format is not stable, so
//! nothing outside this crate may depend on it).
//!
//! Everything lives in one sled tree under prefixed keys, and each [`Store::append`] is
//! one atomic batch followed by one flush: a batch of entries is either wholly on disk or
//! not at all, and `append` returns only once it is durable. Callers group many entries
//! into one append to share the flush (group commit).
//!
//! | key | value |
//! |---|---|
//! | `meta/format` | the format marker, [`FORMAT`] |
//! | `meta/genesis` | the council's genesis record |
//! | `meta/state` | seq (u64 BE), then a snapshot of the council's state after that entry (a cache: see [`Store::put_state`]) |
//! | `log/` seq (u64 BE) | the entry record |
//! | `rec/` SHA-256 of a member-signed record other than a ballot | seq of the entry holding it |
//! | `mot/` motion id | seq of the entry that opened it |
//! | `vote/` motion id, member | seq of the member's latest ballot |
//! | `ros/` seq, member | roster change at that entry (CBOR `[kind, key]`) |
//! | `man/` mandate id | seq of the entry that issued it |
//! | `rcl/` mandate id | seq of the entry that recalled it |
//! | `pet/` mandate id, member | seq of the member's petition signature |
//! | `fgen/` council id | the genesis of a followed (foreign) council |
//! | `flog/` council id, seq (u64 BE) | an entry of a followed council's log |
//! | `eqv/` council id, seq (u64 BE) | an equivocation proof against that council |
//! | `join/` federation id | a join this council started with an invite (CBOR, see council-node) |
//! | `catching-up`, `recovering` | marks: fetch the council's own newer entries from peers before signing (after a restore; after `councild recover`) |

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use council_core::cbor::Cbor;
use council_core::records::{Entry, EquivocationProof, Genesis};
use council_core::{Hash, PublicKey};

/// The on-disk format this build reads and writes.
pub const FORMAT: &str = "councilnet-store/1";

const K_FORMAT: &[u8] = b"meta/format";
const K_GENESIS: &[u8] = b"meta/genesis";
const K_STATE: &[u8] = b"meta/state";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the store at {path} could not be opened: {reason}")]
    Open { path: String, reason: String },
    #[error("the store at {path} could not be opened: another process holds it (is a councild already running on this data directory?)")]
    Locked { path: String },
    #[error("the store holds format {found:?}, but this build understands only {FORMAT:?}; use a councild that matches the store, or export with the old one")]
    Format { found: String },
    #[error("disk error: {0}")]
    Io(String),
    /// The disk (or the user's quota) is full. The store takes no writes until it is
    /// reopened ([`Store::reopen`]): sled refuses every write after one has failed.
    #[error("the disk is full: {0}")]
    Full(String),
    /// The store is closed while it is reopened after a failed write.
    #[error("the store is closed while it recovers from a failed write")]
    Closed,
    #[error("the store is damaged: {0}")]
    Corrupt(String),
    #[error("the store already belongs to council {0}")]
    OtherCouncil(Hash),
    #[error("entry {seq} is already stored with different content")]
    Conflict { seq: u64 },
}

fn io(e: sled::Error) -> StoreError {
    match &e {
        sled::Error::Io(io) if is_full(io) => StoreError::Full(io.to_string()),
        _ => StoreError::Io(e.to_string()),
    }
}

/// Whether an I/O error says the disk or the quota is full (ENOSPC, EDQUOT). sled passes
/// on a copy of the error that keeps its text but not its OS code. (`ErrorKind::StorageFull`
/// is newer than the toolchain this workspace supports.)
fn is_full(e: &std::io::Error) -> bool {
    let text = e.to_string();
    matches!(e.raw_os_error(), Some(28 | 122))
        || text.contains("No space left on device")
        || text.contains("Disk quota exceeded")
}

impl StoreError {
    /// The disk is full: the write may succeed once space is freed and the store reopened.
    pub fn is_full(&self) -> bool {
        matches!(self, StoreError::Full(_))
    }
}

/// A secondary index entry written with a log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Index {
    /// A member-signed record (motion, petition signature, delegate vote; a ballot is
    /// found through [`Index::Vote`] instead), by the SHA-256 of its whole encoding.
    Record(Hash),
    Motion(Hash),
    Vote {
        motion: Hash,
        member: PublicKey,
    },
    Roster {
        member: PublicKey,
        change: RosterChange,
    },
    Mandate(Hash),
    Recall(Hash),
    Petition {
        mandate: Hash,
        member: PublicKey,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RosterChange {
    Added,
    Removed,
    /// The member's key changed to this one.
    Rotated(Box<PublicKey>),
}

/// One entry to append, with its index entries and its encoding: the bytes that are
/// stored are the ones the writer made once, and that it acknowledges and gossips.
#[derive(Debug, Clone)]
pub struct Append {
    pub entry: Entry,
    pub index: Vec<Index>,
    bytes: Arc<[u8]>,
}

impl Append {
    pub fn new(entry: Entry, index: Vec<Index>) -> Append {
        let bytes = entry.to_cbor().into();
        Append { entry, index, bytes }
    }
    /// [`Append::new`] with the entry's canonical encoding made already (`entry.to_cbor()`).
    pub fn encoded(entry: Entry, index: Vec<Index>, bytes: Arc<[u8]>) -> Append {
        debug_assert!(bytes[..] == entry.to_cbor()[..], "the bytes are the entry's encoding");
        Append { entry, index, bytes }
    }
    /// The entry's canonical encoding.
    pub fn bytes(&self) -> &Arc<[u8]> {
        &self.bytes
    }
}

/// The council's store. Cheap to clone: every clone is a handle on the same open store,
/// and [`Store::reopen`] reopens it for all of them.
#[derive(Debug, Clone)]
pub struct Store {
    open: Arc<RwLock<Option<Open>>>,
    path: Arc<PathBuf>,
    /// A write failed for want of space, through any handle: sled takes no more writes
    /// until the store is reopened.
    full: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, Clone)]
struct Open {
    db: sled::Db,
    tree: sled::Tree,
}

fn seq_key(prefix: &[u8], seq: u64) -> Vec<u8> {
    let mut k = prefix.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

fn key(prefix: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut k = prefix.to_vec();
    for p in parts {
        k.extend_from_slice(p);
    }
    k
}

fn foreign_key(prefix: &[u8], council: &Hash, seq: u64) -> Vec<u8> {
    key(prefix, &[&council.0, &seq.to_be_bytes()])
}

fn read_seq(v: &[u8]) -> Result<u64, StoreError> {
    let b: [u8; 8] = v.try_into().map_err(|_| StoreError::Corrupt("an index value is not a sequence number".into()))?;
    Ok(u64::from_be_bytes(b))
}

/// sled's background flush interval, in milliseconds.
pub const FLUSH_EVERY_MS: u64 = 500;

impl Store {
    /// Opens (or creates) the store in `path`. Refuses a store of another format.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let open = Store::open_db(path)?;
        Ok(Store { open: Arc::new(RwLock::new(Some(open))), path: Arc::new(path.to_owned()), full: Arc::default() })
    }

    /// [`Store::open`], waiting up to `wait` while another handle in this process lets go
    /// of the store (sled frees its lock file only once its flusher thread notices the
    /// last handle went, within its flush interval, or once a reader lets go of a tree).
    pub fn open_waiting(path: &Path, wait: std::time::Duration) -> Result<Store, StoreError> {
        let open = Store::open_db_waiting(path, wait)?;
        Ok(Store { open: Arc::new(RwLock::new(Some(open))), path: Arc::new(path.to_owned()), full: Arc::default() })
    }

    fn open_db_waiting(path: &Path, wait: std::time::Duration) -> Result<Open, StoreError> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match Store::open_db(path) {
                Err(StoreError::Locked { .. }) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                r => return r,
            }
        }
    }

    /// Where the store is on disk.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write through some handle failed for want of space since the store was opened:
    /// it takes no more writes until [`Store::reopen`].
    pub fn failed_full(&self) -> bool {
        self.full.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Closes the store and opens it again from disk, for every handle. After a write
    /// failed (a full disk), sled takes no more writes and its memory may hold what never
    /// reached the disk: reopened, it holds exactly what is on disk. Handles get
    /// [`StoreError::Closed`] meanwhile (no lock is held while it waits, so a reader still
    /// walking the old store finishes); if it cannot be opened yet (the disk is still too
    /// full even to open it), the store stays closed and this may be called again.
    pub fn reopen(&self) -> Result<(), StoreError> {
        self.reopen_waiting(std::time::Duration::from_secs(10))
    }

    /// [`Store::reopen`], waiting up to `wait` for sled to let go of the store's lock.
    fn reopen_waiting(&self, wait: std::time::Duration) -> Result<(), StoreError> {
        let old = self.open.write().unwrap_or_else(|p| p.into_inner()).take();
        drop(old);
        let o = Store::open_db_waiting(&self.path, wait)?;
        self.full.store(false, std::sync::atomic::Ordering::Release);
        *self.open.write().unwrap_or_else(|p| p.into_inner()) = Some(o);
        Ok(())
    }

    /// Closes the store, after sled has recorded where its pages are. sled 0.34 writes that
    /// record (its snapshot) only when it opens a store, so the first open after a long
    /// run would scan everything the run wrote (seconds, at a million entries): a node
    /// that stops cleanly opens the store once more here, paying that scan now, so that
    /// it starts at once the next time (docs/BENCHMARKS.md, B5). A node that crashed
    /// still scans at its next start. Done only through the last handle: while another
    /// is alive (a task that did not stop) the store is simply let go. Returns whether the
    /// record was written.
    pub fn close_with_checkpoint(self) -> Result<bool, StoreError> {
        if Arc::strong_count(&self.open) > 1 {
            return Ok(false);
        }
        self.reopen_waiting(std::time::Duration::from_secs(2))?;
        Ok(true)
    }

    /// The error of a sled call, noting a full disk.
    fn io(&self, e: sled::Error) -> StoreError {
        let e = io(e);
        if e.is_full() {
            self.full.store(true, std::sync::atomic::Ordering::Release);
        }
        e
    }

    fn handle(&self) -> Result<Open, StoreError> {
        self.open.read().unwrap_or_else(|p| p.into_inner()).clone().ok_or(StoreError::Closed)
    }

    fn tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.handle()?.tree)
    }

    fn db(&self) -> Result<sled::Db, StoreError> {
        Ok(self.handle()?.db)
    }

    /// Items read from `f(tree)`, or the one error that the store is closed.
    fn scan<T, I, F>(&self, f: F) -> impl Iterator<Item = Result<T, StoreError>> + use<T, I, F>
    where
        I: Iterator<Item = Result<T, StoreError>>,
        F: FnOnce(&sled::Tree) -> I,
    {
        let (closed, items) = match self.tree() {
            Ok(t) => (None, Some(f(&t))),
            Err(e) => (Some(Err(e)), None),
        };
        closed.into_iter().chain(items.into_iter().flatten())
    }

    fn open_db(path: &Path) -> Result<Open, StoreError> {
        let db = sled::Config::new()
            .path(path)
            .mode(sled::Mode::HighThroughput)
            // sled's default page cache is 1 GiB; a council node needs far less (with 64 MiB a
            // relay under 500 ballots/s settled at 215 MB resident: scripts/frozen-peer.sh).
            .cache_capacity(32 * 1024 * 1024)
            // What is not flushed at once (relayed gossip) is on disk within this.
            .flush_every_ms(Some(FLUSH_EVERY_MS))
            .open()
            .map_err(|e| match &e {
                sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => {
                    StoreError::Locked { path: path.display().to_string() }
                }
                _ => StoreError::Open { path: path.display().to_string(), reason: e.to_string() },
            })?;
        let tree = db.open_tree("council").map_err(io)?;
        match tree.get(K_FORMAT).map_err(io)? {
            Some(v) if v.as_ref() == FORMAT.as_bytes() => {}
            Some(v) => return Err(StoreError::Format { found: String::from_utf8_lossy(&v).into_owned() }),
            None => {
                if tree.iter().next().is_some() {
                    return Err(StoreError::Format { found: "(unmarked)".into() });
                }
                tree.insert(K_FORMAT, FORMAT.as_bytes()).map_err(io)?;
                db.flush().map_err(io)?;
            }
        }
        Ok(Open { db, tree })
    }

    /// The council's genesis, if the store has one.
    pub fn genesis(&self) -> Result<Option<Genesis>, StoreError> {
        match self.tree()?.get(K_GENESIS).map_err(|e| self.io(e))? {
            None => Ok(None),
            Some(v) => Genesis::from_cbor(&v).map(Some).map_err(|e| StoreError::Corrupt(format!("genesis: {e}"))),
        }
    }

    /// Records the genesis. Idempotent; refuses a different council's genesis.
    pub fn init_genesis(&self, g: &Genesis) -> Result<(), StoreError> {
        if let Some(existing) = self.genesis()? {
            if existing.council_id() != g.council_id() {
                return Err(StoreError::OtherCouncil(existing.council_id()));
            }
            return Ok(());
        }
        self.tree()?.insert(K_GENESIS, g.to_cbor()).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Saves a snapshot of the council's state after entry `seq` (replacing any earlier
    /// one), durably. The store does not read it: it is council-core's
    /// `CouncilState::snapshot`, a cache that spares replaying the log at start-up, and is
    /// only of use while the entry at `seq` is the one it was taken after (the caller checks).
    pub fn put_state(&self, seq: u64, snapshot: &[u8]) -> Result<(), StoreError> {
        let mut v = Vec::with_capacity(8 + snapshot.len());
        v.extend_from_slice(&seq.to_be_bytes());
        v.extend_from_slice(snapshot);
        self.tree()?.insert(K_STATE, v).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// The saved state snapshot and the seq it was taken after, if there is one.
    pub fn state(&self) -> Result<Option<(u64, Vec<u8>)>, StoreError> {
        match self.tree()?.get(K_STATE).map_err(|e| self.io(e))? {
            None => Ok(None),
            Some(v) if v.len() < 8 => Err(StoreError::Corrupt("the state snapshot is shorter than its header".into())),
            Some(v) => Ok(Some((read_seq(&v[..8])?, v[8..].to_vec()))),
        }
    }

    /// The sequence number of the last stored entry (0 if none).
    pub fn last_seq(&self) -> Result<u64, StoreError> {
        match self.tree()?.scan_prefix(b"log/").next_back() {
            None => Ok(0),
            Some(kv) => {
                let (k, _) = kv.map_err(|e| self.io(e))?;
                read_seq(&k[4..])
            }
        }
    }

    /// Appends entries (in order) with their indexes, atomically, and waits until they
    /// are on disk. An entry already stored with the same bytes is skipped; with other
    /// bytes it is a conflict and nothing is written.
    pub fn append(&self, batch: &[Append]) -> Result<(), StoreError> {
        let o = self.handle()?;
        let mut b = sled::Batch::default();
        for a in batch {
            let seq = a.entry.body.seq;
            let bytes: &[u8] = &a.bytes;
            let k = seq_key(b"log/", seq);
            if let Some(existing) = o.tree.get(&k).map_err(|e| self.io(e))? {
                if existing.as_ref() != bytes {
                    return Err(StoreError::Conflict { seq });
                }
                continue;
            }
            b.insert(k, bytes);
            let s = seq.to_be_bytes();
            for i in &a.index {
                match i {
                    Index::Record(h) => b.insert(key(b"rec/", &[&h.0]), &s),
                    Index::Motion(h) => b.insert(key(b"mot/", &[&h.0]), &s),
                    Index::Vote { motion, member } => b.insert(key(b"vote/", &[&motion.0, member.as_bytes()]), &s),
                    Index::Roster { member, change } => {
                        let mut e = council_core::cbor::Encoder::default();
                        match change {
                            RosterChange::Added => e.array(1).text("added"),
                            RosterChange::Removed => e.array(1).text("removed"),
                            RosterChange::Rotated(k) => e.array(2).text("rotated").bytes(k.as_bytes()),
                        };
                        b.insert(key(b"ros/", &[&s, member.as_bytes()]), e.into_bytes())
                    }
                    Index::Mandate(h) => b.insert(key(b"man/", &[&h.0]), &s),
                    Index::Recall(h) => b.insert(key(b"rcl/", &[&h.0]), &s),
                    Index::Petition { mandate, member } => b.insert(key(b"pet/", &[&mandate.0, member.as_bytes()]), &s),
                }
            }
        }
        o.tree.apply_batch(b).map_err(|e| self.io(e))?;
        o.db.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// The entry at `seq`.
    pub fn entry(&self, seq: u64) -> Result<Option<Entry>, StoreError> {
        match self.tree()?.get(seq_key(b"log/", seq)).map_err(|e| self.io(e))? {
            None => Ok(None),
            Some(v) => Entry::from_cbor(&v).map(Some).map_err(|e| StoreError::Corrupt(format!("entry {seq}: {e}"))),
        }
    }

    /// Every entry from `from` on, in order.
    pub fn entries(&self, from: u64) -> impl Iterator<Item = Result<Entry, StoreError>> + use<> {
        self.scan(move |t| {
            t.range(seq_key(b"log/", from)..seq_key(b"log/", u64::MAX)).map(|kv| {
                let (k, v) = kv.map_err(io)?;
                let seq = read_seq(&k[4..])?;
                Entry::from_cbor(&v).map_err(|e| StoreError::Corrupt(format!("entry {seq}: {e}")))
            })
        })
    }

    fn seq_of(&self, k: Vec<u8>) -> Result<Option<u64>, StoreError> {
        self.tree()?.get(k).map_err(|e| self.io(e))?.map(|v| read_seq(&v)).transpose()
    }

    /// The entry holding a member-signed record with this id, if stored.
    pub fn record_seq(&self, id: &Hash) -> Result<Option<u64>, StoreError> {
        self.seq_of(key(b"rec/", &[&id.0]))
    }
    pub fn motion_seq(&self, id: &Hash) -> Result<Option<u64>, StoreError> {
        self.seq_of(key(b"mot/", &[&id.0]))
    }
    /// The entry holding the member's latest ballot on a motion.
    pub fn vote_seq(&self, motion: &Hash, member: &PublicKey) -> Result<Option<u64>, StoreError> {
        self.seq_of(key(b"vote/", &[&motion.0, member.as_bytes()]))
    }
    /// The members with a ballot on a motion, with the entry of their latest ballot.
    pub fn votes_on(&self, motion: &Hash) -> Result<Vec<(PublicKey, u64)>, StoreError> {
        let prefix = key(b"vote/", &[&motion.0]);
        self.tree()?
            .scan_prefix(&prefix)
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.io(e))?;
                let b: [u8; 32] =
                    k[prefix.len()..].try_into().map_err(|_| StoreError::Corrupt("vote index key".into()))?;
                let member =
                    PublicKey::from_bytes(&b).map_err(|e| StoreError::Corrupt(format!("vote index key: {e}")))?;
                Ok((member, read_seq(&v)?))
            })
            .collect()
    }
    pub fn mandate_seq(&self, id: &Hash) -> Result<Option<u64>, StoreError> {
        self.seq_of(key(b"man/", &[&id.0]))
    }
    pub fn recall_seq(&self, mandate: &Hash) -> Result<Option<u64>, StoreError> {
        self.seq_of(key(b"rcl/", &[&mandate.0]))
    }
    /// Members who signed the petition against a mandate.
    pub fn petition_signers(&self, mandate: &Hash) -> Result<usize, StoreError> {
        Ok(self.tree()?.scan_prefix(key(b"pet/", &[&mandate.0])).count())
    }
    /// Roster changes in log order: (seq, member, change).
    pub fn roster_history(&self) -> Result<Vec<(u64, PublicKey, RosterChange)>, StoreError> {
        self.tree()?
            .scan_prefix(b"ros/")
            .map(|kv| {
                let (k, v) = kv.map_err(|e| self.io(e))?;
                let bad = || StoreError::Corrupt("roster index".into());
                let seq = read_seq(k.get(4..12).ok_or_else(bad)?)?;
                let m: [u8; 32] = k.get(12..44).ok_or_else(bad)?.try_into().map_err(|_| bad())?;
                let member = PublicKey::from_bytes(&m).map_err(|_| bad())?;
                let mut d = council_core::cbor::Decoder::new(&v);
                let n = d.array(2).map_err(|_| bad())?;
                let change = match (d.text().map_err(|_| bad())?, n) {
                    ("added", 1) => RosterChange::Added,
                    ("removed", 1) => RosterChange::Removed,
                    ("rotated", 2) => RosterChange::Rotated(Box::new(d.value().map_err(|_| bad())?)),
                    _ => return Err(bad()),
                };
                Ok((seq, member, change))
            })
            .collect()
    }

    /// Waits until everything written so far is on disk.
    /// Starts keeping a followed council's log (idempotent).
    pub fn put_foreign_genesis(&self, g: &Genesis) -> Result<(), StoreError> {
        let k = key(b"fgen/", &[&g.council_id().0]);
        self.tree()?.insert(k, g.to_cbor()).map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Starts keeping a federation-level copy of a council's log (PROTOCOL.md §12.9): its
    /// genesis, marked as a copy's; its entries go with the followed councils' (idempotent).
    pub fn put_copy_genesis(&self, g: &Genesis) -> Result<(), StoreError> {
        let k = key(b"cgen/", &[&g.council_id().0]);
        self.tree()?.insert(k, g.to_cbor()).map_err(|e| self.io(e))?;
        Ok(())
    }

    /// The geneses of the councils held as federation-level copies.
    pub fn copy_geneses(&self) -> impl Iterator<Item = Result<Genesis, StoreError>> + use<> {
        self.scan(move |t| {
            t.scan_prefix(b"cgen/").map(|kv| {
                let (_, v) = kv.map_err(io)?;
                Genesis::from_cbor(&v).map_err(|e| StoreError::Corrupt(format!("copy genesis: {e}")))
            })
        })
    }

    /// Drops a federation-level copy, genesis and entries, durably: the node is about to
    /// follow the whole log instead.
    pub fn drop_copy(&self, council: &Hash) -> Result<(), StoreError> {
        let t = self.tree()?;
        let mut b = sled::Batch::default();
        b.remove(key(b"cgen/", &[&council.0]));
        let (start, end) = (foreign_key(b"flog/", council, 0), foreign_key(b"flog/", council, u64::MAX));
        for kv in t.range(start..=end) {
            let (k, _) = kv.map_err(|e| self.io(e))?;
            b.remove(k);
        }
        t.apply_batch(b).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// The followed councils' geneses.
    pub fn foreign_geneses(&self) -> impl Iterator<Item = Result<Genesis, StoreError>> + use<> {
        self.scan(move |t| {
            t.scan_prefix(b"fgen/").map(|kv| {
                let (_, v) = kv.map_err(io)?;
                Genesis::from_cbor(&v).map_err(|e| StoreError::Corrupt(format!("foreign genesis: {e}")))
            })
        })
    }

    /// Appends entries of followed councils (each already applied by the caller, in log
    /// order), atomically and durably. Existing entries with the same bytes are skipped.
    pub fn append_foreign(&self, entries: &[Entry]) -> Result<(), StoreError> {
        self.insert_foreign(entries)?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Like [`Store::append_foreign`], but durable only by sled's background flush (every
    /// [`FLUSH_EVERY_MS`]) or the next flush of anything else. For relayed gossip: a copy of another
    /// council's entry is nobody's acknowledgement, and one lost in a crash is synced again;
    /// sled keeps writes in order, so a crash loses a suffix, never a middle entry.
    pub fn insert_foreign(&self, entries: &[Entry]) -> Result<(), StoreError> {
        let mut b = sled::Batch::default();
        for e in entries {
            let k = foreign_key(b"flog/", &e.body.council, e.body.seq);
            let bytes = e.to_cbor();
            if let Some(existing) = self.tree()?.get(&k).map_err(|e| self.io(e))? {
                if existing.as_ref() != bytes.as_slice() {
                    return Err(StoreError::Conflict { seq: e.body.seq });
                }
                continue;
            }
            b.insert(k, bytes);
        }
        self.tree()?.apply_batch(b).map_err(|e| self.io(e))
    }

    /// A followed council's entries from `from` on, in order.
    pub fn foreign_entries(
        &self,
        council: &Hash,
        from: u64,
    ) -> impl Iterator<Item = Result<Entry, StoreError>> + use<> {
        let start = foreign_key(b"flog/", council, from);
        let end = foreign_key(b"flog/", council, u64::MAX);
        self.scan(move |t| {
            t.range(start..end).map(|kv| {
                let (_, v) = kv.map_err(io)?;
                Entry::from_cbor(&v).map_err(|e| StoreError::Corrupt(format!("foreign entry: {e}")))
            })
        })
    }

    /// Keeps an equivocation proof (the first one per council and seq), durably.
    pub fn put_equivocation(&self, proof: &EquivocationProof) -> Result<bool, StoreError> {
        let k = foreign_key(b"eqv/", &proof.a.body.council, proof.a.body.seq);
        let fresh = self
            .tree()?
            .compare_and_swap(k, None as Option<&[u8]>, Some(proof.to_cbor()))
            .map_err(|e| self.io(e))?
            .is_ok();
        if fresh {
            self.db()?.flush().map_err(|e| self.io(e))?;
        }
        Ok(fresh)
    }

    /// Every equivocation proof kept.
    pub fn equivocations(&self) -> impl Iterator<Item = Result<EquivocationProof, StoreError>> + use<> {
        self.scan(move |t| {
            t.scan_prefix(b"eqv/").map(|kv| {
                let (_, v) = kv.map_err(io)?;
                EquivocationProof::from_cbor(&v).map_err(|e| StoreError::Corrupt(format!("equivocation proof: {e}")))
            })
        })
    }

    /// Records (or replaces) the join this council started for a federation.
    pub fn put_join(&self, federation: &Hash, value: &[u8]) -> Result<(), StoreError> {
        self.tree()?.insert(key(b"join/", &[&federation.0]), value).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// The notifications waiting to be delivered (the outbox), oldest first, at most `max`:
    /// (id, value).
    pub fn outbox(&self, max: usize) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree()?.scan_prefix(b"outbox/").take(max) {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            out.push((read_seq(&k[7..])?, v.to_vec()));
        }
        Ok(out)
    }

    /// How many notifications wait.
    pub fn outbox_len(&self) -> usize {
        self.tree().map(|t| t.scan_prefix(b"outbox/").count()).unwrap_or(0)
    }

    /// Queues a notification (durably); returns its id. Ids grow.
    pub fn outbox_push(&self, value: &[u8]) -> Result<u64, StoreError> {
        let id = self.db()?.generate_id().map_err(|e| self.io(e))?;
        self.tree()?.insert(seq_key(b"outbox/", id), value).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(id)
    }

    /// Replaces a waiting notification's value (its delivery attempts).
    pub fn outbox_update(&self, id: u64, value: &[u8]) -> Result<(), StoreError> {
        self.tree()?.insert(seq_key(b"outbox/", id), value).map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Drops a notification (delivered, or given up on).
    pub fn outbox_remove(&self, id: u64) -> Result<(), StoreError> {
        self.tree()?.remove(seq_key(b"outbox/", id)).map_err(|e| self.io(e))?;
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Marks `what` as notified: true the first time. Marks survive restarts (so that a
    /// motion closing soon, or a federation motion, is announced once).
    pub fn notified(&self, what: &[u8]) -> Result<bool, StoreError> {
        let k = key(b"notified/", &[what]);
        Ok(self.tree()?.insert(k, &[][..]).map_err(|e| self.io(e))?.is_none())
    }

    /// The last entry of the council's own log that notifications were made for.
    pub fn notify_cursor(&self) -> Result<Option<u64>, StoreError> {
        self.tree()?.get(b"notify-cursor").map_err(|e| self.io(e))?.map(|v| read_seq(&v)).transpose()
    }

    pub fn set_notify_cursor(&self, seq: u64) -> Result<(), StoreError> {
        self.tree()?.insert(b"notify-cursor", &seq.to_be_bytes()).map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Whether this node must fetch its own log's newer entries from its federation
    /// peers before it signs again (set when it is restored from a backup).
    pub fn catching_up(&self) -> Result<bool, StoreError> {
        self.mark(b"catching-up")
    }

    pub fn set_catching_up(&self, on: bool) -> Result<(), StoreError> {
        self.set_mark(b"catching-up", on)
    }

    /// Whether this store was started again from the genesis (`councild recover`) and has
    /// not yet been shown by a federation peer to hold the council's whole log: until then
    /// the node must not sign, even when told to skip catching up.
    pub fn recovering(&self) -> Result<bool, StoreError> {
        self.mark(b"recovering")
    }

    pub fn set_recovering(&self, on: bool) -> Result<(), StoreError> {
        self.set_mark(b"recovering", on)
    }

    /// Whether the mark `key` (an empty value) is set.
    fn mark(&self, key: &[u8]) -> Result<bool, StoreError> {
        Ok(self.tree()?.get(key).map_err(|e| self.io(e))?.is_some())
    }

    /// Sets or clears the mark `key`, durably.
    fn set_mark(&self, key: &[u8], on: bool) -> Result<(), StoreError> {
        let tree = self.tree()?;
        if on {
            tree.insert(key, &[][..]).map_err(|e| self.io(e))?;
        } else {
            tree.remove(key).map_err(|e| self.io(e))?;
        }
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(())
    }

    /// Forgets a join (cancelled). Whether there was one.
    pub fn remove_join(&self, federation: &Hash) -> Result<bool, StoreError> {
        let had = self.tree()?.remove(key(b"join/", &[&federation.0])).map_err(|e| self.io(e))?.is_some();
        self.db()?.flush().map_err(|e| self.io(e))?;
        Ok(had)
    }

    /// The joins this council started: (federation, value).
    pub fn joins(&self) -> Result<Vec<(Hash, Vec<u8>)>, StoreError> {
        let mut out = Vec::new();
        for kv in self.tree()?.scan_prefix(b"join/") {
            let (k, v) = kv.map_err(|e| self.io(e))?;
            let id: [u8; 32] =
                k[5..].try_into().map_err(|_| StoreError::Corrupt("a join key is not a federation id".into()))?;
            out.push((Hash(id), v.to_vec()));
        }
        Ok(out)
    }

    pub fn flush(&self) -> Result<(), StoreError> {
        self.db()?.flush().map(|_| ()).map_err(|e| self.io(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use council_core::records::{Action, MotionForm, Outcome, Rule, Share, Threshold};
    use council_core::sample::{key_from_label, Clock, CouncilBuilder};

    fn council(clock: &mut Clock) -> (CouncilBuilder, Vec<council_core::SecretKey>) {
        let keys: Vec<_> = (0..3).map(|i| key_from_label(&format!("store/{i}"))).collect();
        let refs: Vec<_> = keys.iter().collect();
        let b =
            CouncilBuilder::found("S", &refs, Default::default(), key_from_label("store/node"), clock.tick()).unwrap();
        (b, keys)
    }

    #[test]
    fn entries_and_indexes_survive_a_reopen_and_inserts_are_idempotent() {
        let dir = tempfile::tempdir().unwrap();
        let mut clock = Clock(1_800_000_000);
        let (mut b, keys) = council(&mut clock);
        let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
        let m =
            b.open(clock.tick(), &keys[0], "Q", MotionForm::YesNo(Action::Resolution), rule, clock.0 + 100).unwrap();
        b.vote_final(clock.tick(), &keys[1], m, 0).unwrap();
        b.vote_final(clock.tick(), &keys[2], m, 0).unwrap();
        assert_eq!(b.close(clock.tick(), m).unwrap(), Outcome::Passed);
        let entries = b.take_entries();
        {
            let s = Store::open(dir.path()).unwrap();
            s.init_genesis(b.genesis()).unwrap();
            let batch: Vec<Append> = entries.iter().map(|e| Append::new(e.clone(), vec![Index::Motion(m)])).collect();
            s.append(&batch).unwrap();
            // The same entries again: stored once.
            s.append(&batch).unwrap();
            assert_eq!(s.last_seq().unwrap(), 4);
        }
        let s = reopen(dir.path());
        assert_eq!(s.genesis().unwrap().unwrap().council_id(), b.id());
        let back: Vec<Entry> = s.entries(1).collect::<Result<_, _>>().unwrap();
        assert_eq!(back, entries);
        assert_eq!(s.motion_seq(&m).unwrap(), Some(4));
        // A different entry at a stored place is refused and nothing changes.
        let mut other = entries[1].clone();
        other.body.time += 1;
        other = council_core::records::Signed::sign(other.body, &key_from_label("store/node"));
        assert!(matches!(s.append(&[Append::new(other, vec![])]), Err(StoreError::Conflict { seq: 2 })));
        assert_eq!(s.entry(2).unwrap().unwrap(), entries[1]);
        // Another council's genesis is refused.
        let mut clock2 = Clock(1_900_000_000);
        let (b2, _) = council(&mut clock2);
        assert!(matches!(s.init_genesis(b2.genesis()), Err(StoreError::OtherCouncil(_))));
    }

    /// sled lets go of its lock a moment after the last handle is dropped.
    fn reopen(path: &std::path::Path) -> Store {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            match Store::open(path) {
                Ok(s) => return s,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                Err(e) => panic!("{e}"),
            }
        }
    }

    #[test]
    fn a_second_opener_is_told_who_holds_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let _first = Store::open(dir.path()).unwrap();
        let err = Store::open(dir.path()).unwrap_err();
        assert!(err.to_string().contains("already running"), "{err}");
    }

    #[test]
    fn a_store_of_another_format_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        {
            let db = sled::open(dir.path()).unwrap();
            let t = db.open_tree("council").unwrap();
            t.insert(K_FORMAT, b"councilnet-store/99".as_slice()).unwrap();
            db.flush().unwrap();
        }
        let err = Store::open(dir.path()).unwrap_err();
        assert!(matches!(err, StoreError::Format { ref found } if found == "councilnet-store/99"), "{err}");
        assert!(err.to_string().contains("understands only"));
    }
}
