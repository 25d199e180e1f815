//! The single writer: it owns the council's state and store, and is the only code that
//! signs log entries. Everything else talks to it through [`WriterHandle`] over a
//! bounded channel, each command carrying a oneshot for its answer.
//!
//! Commands that arrive together are applied one by one (the same
//! [`CouncilState::apply`] as `council verify`), then written to disk in one batch with
//! one flush, and only then acknowledged: a client never hears "accepted" for a record
//! that is not yet on disk.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use council_core::cbor::Cbor;
use council_core::council::{Ballot, CouncilState, Effect, MotionRef, RecordError};
use council_core::export::{council_report_of, entry_item_bytes, CouncilReport};
use council_core::records::{limits, Action, Entry, MemberId, MotionForm, MotionId, Payload};
use council_core::verify::Verified;
use council_core::{Hash, PublicKey, SecretKey};
use council_store::{Append, Index, RosterChange, Store, StoreError};

use crate::metrics::{KindLabel, Metrics};
use tokio::sync::{mpsc, oneshot, watch};

/// The answer to an accepted submission.
#[derive(Debug, Clone)]
pub struct Submitted {
    /// SHA-256 of the whole signed record: the same record submitted twice is stored once.
    pub record: Hash,
    pub seq: u64,
    /// The same record had been accepted before; nothing new was stored.
    pub duplicate: bool,
    /// The id of the node-signed entry that holds the record.
    pub entry_id: Hash,
    /// That entry's canonical encoding, as stored and gossiped: the member's receipt holds
    /// it (PROTOCOL.md §4.6).
    pub entry_bytes: Arc<[u8]>,
}

/// The current device keys of the members on the roster, each with its member id. The writer
/// publishes a new one whenever a closed motion may have changed the roster; the member
/// endpoint checks every session against the latest.
pub type MemberKeys = HashMap<PublicKey, MemberId>;

fn member_keys(state: &CouncilState) -> Arc<MemberKeys> {
    Arc::new(state.roster().iter().flat_map(|(m, keys)| keys.iter().map(move |k| (*k, *m))).collect())
}

#[derive(Debug, thiserror::Error)]
pub enum NodeError {
    #[error("{0}")]
    Rejected(#[from] RecordError),
    #[error("the node could not write to its store: {0}")]
    Storage(String),
    #[error("the node is shutting down")]
    ShuttingDown,
    #[error("the record would make a log entry of {bytes} bytes; the limit is {max}")]
    TooLarge { bytes: usize, max: usize },
    #[error("a council act gave the council a new node key, and this node does not hold it: put the new key in node.key.next in the data directory (`councild key new` makes it, before the act)")]
    NodeKeyReplaced,
    #[error("this node has stopped signing: {0}")]
    SigningHalted(String),
    #[error("the node's disk is full: it takes no new records until space is freed on it (it keeps serving reads and the network, and takes records again by itself)")]
    StorageFull,
    #[error("the node's disk filled up and a write failed: it reopens its store once space is freed on it, and answers again then")]
    StoreReopening,
    #[error("this node was restored from a backup and is fetching its own log's newer entries from its federation peers; it signs again once a peer shows it has them all (`councild run --sign-without-catching-up` skips this)")]
    CatchingUp,
}

/// Set while the node must fetch its own log's newer entries from its federation peers
/// before it signs (after a restore): shared by the writer, which signs nothing meanwhile,
/// and the network task, which fetches and clears it.
#[derive(Debug, Clone, Default)]
pub struct CatchUp(Arc<AtomicBool>);

impl CatchUp {
    pub fn new(on: bool) -> Self {
        CatchUp(Arc::new(AtomicBool::new(on)))
    }
    pub fn on(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
    pub fn done(&self) {
        self.0.store(false, Ordering::Release);
    }
}

/// Set when this node's key is seen signing elsewhere (another copy of the node running,
/// or a log restored from an old backup that the key had already gone past): the writer
/// then signs nothing more, so that the council's log is not forked further. It lasts
/// until the node restarts. Cheap to clone: shared.
#[derive(Debug, Clone, Default)]
pub struct Halt(Arc<std::sync::Mutex<Option<String>>>);

impl Halt {
    /// Stops signing, for `why`; only the first reason is kept.
    pub fn halt(&self, why: String) {
        let mut h = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if h.is_none() {
            tracing::error!(reason = %why, "SIGNING STOPPED: this node signs nothing more until it is restarted");
            *h = Some(why);
        }
    }

    pub fn reason(&self) -> Option<String> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// A node key replaced by a council act, on its way to the network: the writer signs with
/// the new key from the entry after the act, and starts the handover once that is on
/// disk; the network confirms it once a federation peer holds the log through the act
/// (so that peers know the new key before the node presents it); then the node restarts
/// its network as the new key. Cheap to clone: shared.
#[derive(Debug, Clone, Default)]
pub struct Handover(Arc<HandoverState>);

#[derive(Debug, Default)]
struct HandoverState {
    /// The last entry signed by the old key (the act's close), once the new key is installed.
    pending: std::sync::Mutex<Option<u64>>,
    confirmed: AtomicBool,
    changed: tokio::sync::Notify,
}

impl Handover {
    fn start(&self, through: u64) {
        *self.0.pending.lock().unwrap_or_else(|p| p.into_inner()) = Some(through);
        self.0.changed.notify_waiters();
    }

    /// The entry peers must hold before the node presents its new key, while a handover
    /// waits for them.
    pub fn pending(&self) -> Option<u64> {
        if self.0.confirmed.load(Ordering::Acquire) {
            return None;
        }
        *self.0.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A federation peer holds the log through the act (or there is none to wait for).
    pub fn confirm(&self) {
        if self.pending().is_some() {
            self.0.confirmed.store(true, Ordering::Release);
            self.0.changed.notify_waiters();
        }
    }

    /// Resolves once the node should restart as its new key: a peer confirmed, or
    /// `patience` passed since the new key was installed (peers that missed the act then
    /// learn it from other councils' nodes, or by syncing once this node dials them).
    pub async fn ready(&self, patience: Duration) {
        loop {
            let changed = self.0.changed.notified();
            if self.0.pending.lock().unwrap_or_else(|p| p.into_inner()).is_some() {
                break;
            }
            changed.await;
        }
        let confirmed = async {
            loop {
                let changed = self.0.changed.notified();
                if self.0.confirmed.load(Ordering::Acquire) {
                    return;
                }
                changed.await;
            }
        };
        if tokio::time::timeout(patience, confirmed).await.is_err() {
            tracing::warn!(
                secs = patience.as_secs(),
                "no federation peer confirmed that it holds the act that replaced the node key; presenting the new key anyway"
            );
        }
    }
}

/// Whether the writer can write: shared with whoever reports on the node (the metrics, the
/// handle's errors).
#[derive(Debug, Clone, Default)]
pub struct Health(Arc<std::sync::atomic::AtomicU8>);

impl Health {
    const OK: u8 = 0;
    /// Below the configured free space (or a write failed for want of it): no new
    /// records; reads are answered.
    const FULL: u8 = 1;
    /// A write failed and the store could not yet be reopened: reads wait too.
    const CLOSED: u8 = 2;

    fn set(&self, v: u8) -> u8 {
        self.0.swap(v, Ordering::AcqRel)
    }

    /// The disk is (or was, at the last write) too full to take records.
    pub fn full(&self) -> bool {
        self.0.load(Ordering::Acquire) != Health::OK
    }

    fn closed(&self) -> bool {
        self.0.load(Ordering::Acquire) == Health::CLOSED
    }
}

/// Free bytes on the file system that holds `path`, for an unprivileged user.
fn free_bytes(path: &std::path::Path) -> Option<u64> {
    let s = rustix::fs::statvfs(path).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// What the API can ask of the writer.
#[derive(Debug)]
pub enum Command {
    Submit {
        payload: Box<Verified<Payload>>,
        record: Hash,
        reply: oneshot::Sender<Result<Submitted, NodeError>>,
    },
    Report {
        reply: oneshot::Sender<CouncilView>,
    },
    Ballot {
        motion: MotionId,
        key: Box<PublicKey>,
        reply: oneshot::Sender<Option<Ballot>>,
    },
    Motion {
        motion: String,
        member: Option<Box<MemberId>>,
        reply: oneshot::Sender<Result<MotionView, Lookup>>,
    },
    Motions {
        open: bool,
        before: Option<u64>,
        limit: usize,
        reply: oneshot::Sender<MotionPage>,
    },
    /// Entries of the council's own log, signed by its node key, fetched from peers.
    Adopt {
        entries: Vec<Entry>,
        reply: oneshot::Sender<Result<u64, String>>,
    },
}

/// Why a motion asked for by id or prefix was not found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No motion has this id, or an id starting so.
    Unknown,
    /// Several motions have ids starting so.
    Ambiguous(usize),
}

/// One page of motions, newest first.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MotionPage {
    pub motions: Vec<council_core::export::MotionReport>,
    /// The `before` of the next page, if there is one.
    pub next: Option<u64>,
}

/// The council as `GET /v1/council` shows it: its report with the open motions only
/// (closed ones are paged: `GET /v1/motions?status=closed`), so that it does not grow with
/// the council's history of motions.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CouncilView {
    #[serde(flatten)]
    pub report: CouncilReport,
    pub closed_motions: u64,
}

/// One motion, and the asking member's own latest ballot on it, if any.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MotionView {
    #[serde(flatten)]
    pub motion: council_core::export::MotionReport,
    pub my_ballot: Option<Ballot>,
    /// On a ranked motion, the asking member's latest ranking (most preferred first).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub my_ranking: Option<Vec<u32>>,
    /// While the motion is open: each member who may vote on it, and whether they have
    /// (ballots are signed records in the log, so who voted is no secret; how is shown
    /// only in the tally).
    pub voters: Vec<Voter>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Voter {
    pub member: MemberId,
    pub voted: bool,
}

/// How far the council's own log is on disk, and the entries of the batch that got it
/// there: the network takes them from here instead of reading them back from the store
/// (and reads the store only for what it missed, if it fell more than a batch behind).
#[derive(Debug, Clone, Default)]
pub struct Sealed {
    /// The last sequence number on disk.
    pub seq: u64,
    /// The entries of the last batch written, in order, ending at `seq` (empty at start),
    /// each with the bytes that were stored.
    pub batch: Arc<Vec<Append>>,
}

/// A cloneable handle to the writer.
#[derive(Debug, Clone)]
pub struct WriterHandle {
    tx: mpsc::Sender<Command>,
    durable: watch::Receiver<Sealed>,
    members: watch::Receiver<Arc<MemberKeys>>,
    council: Hash,
    health: Health,
}

impl WriterHandle {
    /// Why the writer did not answer: it is stopping, or its store is closed while it
    /// recovers from a full disk.
    fn gone(&self) -> NodeError {
        if self.health.closed() {
            NodeError::StoreReopening
        } else {
            NodeError::ShuttingDown
        }
    }

    /// The disk is too full to take records (reads are still answered).
    pub fn storage_full(&self) -> bool {
        self.health.full()
    }

    pub fn council(&self) -> Hash {
        self.council
    }

    /// The last sequence number that is on disk.
    /// Requests waiting for the writer.
    pub fn queued(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn durable_seq(&self) -> u64 {
        self.durable.borrow().seq
    }

    /// The roster's current keys, as of the last durable batch.
    pub fn members(&self) -> Arc<MemberKeys> {
        self.members.borrow().clone()
    }

    /// Changes whenever more of the log is on disk (the network publishes from it).
    pub fn watch_durable(&self) -> watch::Receiver<Sealed> {
        self.durable.clone()
    }

    pub async fn submit(&self, payload: Verified<Payload>, record: Hash) -> Result<Submitted, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Submit { payload: Box::new(payload), record, reply })
            .await
            .map_err(|_| NodeError::ShuttingDown)?;
        rx.await.map_err(|_| NodeError::ShuttingDown)?
    }

    /// Hands the writer many records, in order; each is judged on its own, and the answers
    /// come back in the same order. They enter the writer's queue back to back, so they
    /// mostly share its batches and their flushes.
    pub async fn submit_many(&self, items: Vec<(Verified<Payload>, Hash)>) -> Vec<Result<Submitted, NodeError>> {
        let mut waiting = Vec::with_capacity(items.len());
        for (payload, record) in items {
            let (reply, rx) = oneshot::channel();
            let sent = self.tx.send(Command::Submit { payload: Box::new(payload), record, reply }).await;
            waiting.push(sent.ok().map(|()| rx));
        }
        let mut answers = Vec::with_capacity(waiting.len());
        for w in waiting {
            answers.push(match w {
                Some(rx) => rx.await.unwrap_or(Err(NodeError::ShuttingDown)),
                None => Err(NodeError::ShuttingDown),
            });
        }
        answers
    }

    pub async fn report(&self) -> Result<CouncilView, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Report { reply }).await.map_err(|_| NodeError::ShuttingDown)?;
        rx.await.map_err(|_| self.gone())
    }

    /// Motions, newest first: open or closed, `limit` of them, from position `before`.
    pub async fn motions(&self, open: bool, before: Option<u64>, limit: usize) -> Result<MotionPage, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Motions { open, before, limit, reply }).await.map_err(|_| NodeError::ShuttingDown)?;
        rx.await.map_err(|_| self.gone())
    }

    /// One motion, by its id or a unique prefix of it (hex), with `member`'s ballot on it.
    pub async fn motion(
        &self,
        motion: String,
        member: Option<MemberId>,
    ) -> Result<Result<MotionView, Lookup>, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Motion { motion, member: member.map(Box::new), reply })
            .await
            .map_err(|_| NodeError::ShuttingDown)?;
        rx.await.map_err(|_| self.gone())
    }

    /// Hands the writer entries of the council's own log fetched from peers (see
    /// `Writer::adopt`); answers the log's length once they are on disk.
    pub async fn adopt(&self, entries: Vec<Entry>) -> Result<u64, String> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(Command::Adopt { entries, reply }).await.map_err(|_| "the writer has stopped".to_owned())?;
        rx.await.map_err(|_| "the writer has stopped".to_owned())?
    }

    pub async fn ballot(&self, motion: MotionId, key: PublicKey) -> Result<Option<Ballot>, NodeError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Ballot { motion, key: Box::new(key), reply })
            .await
            .map_err(|_| NodeError::ShuttingDown)?;
        rx.await.map_err(|_| self.gone())
    }
}

pub struct Writer {
    state: CouncilState,
    store: Store,
    node: SecretKey,
    rx: mpsc::Receiver<Command>,
    durable: watch::Sender<Sealed>,
    members: watch::Sender<Arc<MemberKeys>>,
    max_batch: usize,
    check_interval: Duration,
    clock: CausalClock,
    metrics: Metrics,
    halt: Halt,
    catch_up: CatchUp,
    /// Free bytes to keep on the store's disk; 0 writes until a write fails.
    min_free: u64,
    health: Health,
    /// The data directory, where a replacing node key waits (`node.key.next`).
    data_dir: Option<std::path::PathBuf>,
    /// The key that signed before a switch to the next key that is not yet on disk (if
    /// the batch fails, the state is rebuilt without the act, and this key signs again).
    retired: Option<SecretKey>,
    /// The last entry the old key signed, while the switch to the new key is not on disk.
    switched: Option<u64>,
    /// Why node.key.next could not be used, as last logged.
    next_key_refused: Option<String>,
    /// The open motions by closing time: what [`Writer::close_due`] looks at, instead of
    /// walking every motion the council ever had at every batch (docs/BENCHMARKS.md,
    /// B7). A motion closed early stays until its time comes, and is passed over then.
    due: std::collections::BTreeSet<(u64, MotionId)>,
    handover: Handover,
}

impl std::fmt::Debug for Writer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Writer").field("council", &self.state.id()).field("seq", &self.state.seq()).finish()
    }
}

/// Seconds since the epoch, from the system clock.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// How far ahead of its own clock the node will stamp an entry to keep it after a
/// foreign one (see [`CausalClock`]).
pub const MAX_AHEAD_SECS: u64 = 5;

/// The latest time of a federation event seen in any followed council's log.
/// Federation events from all councils are ordered by (time, council id, seq)
/// (PROTOCOL.md §8), so an entry that answers a foreign one (a join answering an invite,
/// an admit answering a join, a delegate vote answering a federation motion) must carry
/// a later time, not merely the same second. The writer stamps entries after this
/// floor, but never more than [`MAX_AHEAD_SECS`] ahead of its own clock (a wild foreign
/// clock is not followed further). Only federation events move the floor: ordinary
/// entries do not need it, and counting them would let busy nodes push each other's
/// clocks forward.
#[derive(Debug, Clone, Default)]
pub struct CausalClock(Arc<AtomicU64>);

impl CausalClock {
    /// A foreign entry with this time was applied.
    pub fn saw(&self, time: u64) {
        self.0.fetch_max(time, Ordering::AcqRel);
    }

    /// The time to stamp on the next entry.
    pub fn stamp(&self) -> u64 {
        let n = now();
        let floor = self.0.load(Ordering::Acquire);
        let t = if floor >= n { (floor + 1).min(n + MAX_AHEAD_SECS) } else { n };
        tracing::trace!(now = n, floor, stamp = t, "stamped");
        t
    }
}

/// The log's length after entries were adopted, or why they did not fit.
type Adopted = Result<u64, String>;

struct Pending {
    appends: Vec<Append>,
    acks: Vec<(oneshot::Sender<Result<Submitted, NodeError>>, Submitted)>,
    records: std::collections::HashMap<Hash, u64>,
    /// Answers to adopted entries, sent once they are on disk.
    adopts: Vec<(oneshot::Sender<Adopted>, Adopted)>,
}

impl Writer {
    /// Creates the writer for a replayed state. `queue` bounds the command channel.
    pub fn new(
        state: CouncilState,
        store: Store,
        node: SecretKey,
        queue: usize,
        max_batch: usize,
        check_interval: Duration,
        clock: CausalClock,
    ) -> (Writer, WriterHandle) {
        let (tx, rx) = mpsc::channel(queue);
        let (durable, durable_rx) = watch::channel(Sealed { seq: state.seq(), batch: Arc::default() });
        let (members, members_rx) = watch::channel(member_keys(&state));
        let health = Health::default();
        let due = due_of(&state);
        let handle =
            WriterHandle { tx, durable: durable_rx, members: members_rx, council: state.id(), health: health.clone() };
        let (metrics, halt, catch_up) = (Metrics::default(), Halt::default(), CatchUp::default());
        let w = Writer {
            state,
            store,
            node,
            rx,
            durable,
            members,
            max_batch,
            check_interval,
            clock,
            metrics,
            halt,
            catch_up,
            min_free: 0,
            health,
            data_dir: None,
            retired: None,
            switched: None,
            next_key_refused: None,
            due,
            handover: Handover::default(),
        };
        (w, handle)
    }

    /// Signs with `node.key.next` in `dir` once a council act makes it the node key, and
    /// installs it (see [`Handover`]).
    pub fn with_key_replacement(mut self, dir: std::path::PathBuf, handover: Handover) -> Self {
        self.data_dir = Some(dir);
        self.handover = handover;
        self
    }

    /// Whether this node holds the key that signs at the log's end now: its key; the key
    /// it signed with before a switch that a failed write undid; or the next key, once a
    /// council act made it the node key (then it switches to it).
    fn signing_key(&mut self) -> bool {
        let wanted = self.state.node_key();
        if self.node.public() == wanted {
            return true;
        }
        if self.retired.as_ref().is_some_and(|k| k.public() == wanted) {
            if let Some(old) = self.retired.take() {
                self.node = old;
            }
            self.switched = None;
            return true;
        }
        let Some(dir) = &self.data_dir else { return false };
        let path = dir.join(crate::datadir::NEXT_NODE_KEY);
        let why = match crate::datadir::load_key(&path) {
            Ok(k) if k.public() == wanted => {
                self.next_key_refused = None;
                tracing::warn!(new_key = %wanted.to_did(), from = self.state.seq() + 1, "a council act replaced the node key: signing with the new key");
                self.retired = Some(std::mem::replace(&mut self.node, k));
                self.switched = Some(self.state.seq());
                return true;
            }
            Ok(k) => format!("it holds {}, not the key the act chose", k.public().to_did()),
            Err(e) => e.to_string(),
        };
        // Said once for each reason, not at every batch.
        if self.next_key_refused.as_deref() != Some(why.as_str()) {
            tracing::error!(
                act_chose = %wanted.to_did(),
                file = %path.display(),
                reason = %why,
                "a council act replaced the node key, and node.key.next cannot be used: this node signs nothing until it holds the key the act chose"
            );
            self.next_key_refused = Some(why);
        }
        false
    }

    /// Takes no new records while the store's disk has less than `bytes` free.
    pub fn with_min_free(mut self, bytes: u64) -> Self {
        self.min_free = bytes;
        self
    }

    /// Signs nothing while `catch_up` is on.
    pub fn with_catch_up(mut self, catch_up: CatchUp) -> Self {
        self.catch_up = catch_up;
        self
    }

    /// Signs nothing once `halt` is set.
    pub fn with_halt(mut self, halt: Halt) -> Self {
        self.halt = halt;
        self
    }

    /// Counts into `metrics` (entries written, write times) instead of a set nobody reads.
    pub fn with_metrics(mut self, metrics: Metrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Runs until `shutdown` turns true (then finishes the batch in hand) or the store
    /// fails (then returns the error: the node must stop rather than diverge from disk).
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) -> Result<(), StoreError> {
        let mut tick = tokio::time::interval(self.check_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let mut batch = Vec::new();
            tokio::select! {
                biased;
                _ = shutdown.changed() => break,
                cmd = self.rx.recv() => match cmd {
                    Some(c) => batch.push(c),
                    None => break,
                },
                _ = tick.tick() => {}
            }
            while batch.len() < self.max_batch {
                match self.rx.try_recv() {
                    Ok(c) => batch.push(c),
                    Err(_) => break,
                }
            }
            self.process(batch).await?;
        }
        // Everything applied is on disk: a snapshot of the state spares the next start
        // replaying the log (council_node::open checks it against the log). It is only a
        // cache: on a full disk the next start replays instead.
        if self.health.closed() {
            return Ok(());
        }
        match tokio::task::block_in_place(|| self.store.put_state(self.state.seq(), &self.state.snapshot())) {
            Err(e) if e.is_full() => {
                tracing::warn!(error = %e, "no room to save the council's state; the next start replays the log");
                Ok(())
            }
            r => r,
        }
    }

    /// The act that replaced the node key is on disk: the new key becomes `node.key`, and
    /// the handover to the network begins.
    fn install_key(&mut self, through: u64) {
        let Some(dir) = &self.data_dir else { return };
        let installed = match tokio::task::block_in_place(|| crate::datadir::install_next_key(dir, &self.node.public()))
        {
            Ok(Some(_)) => Ok(()),
            // node.key.next changed or went since it was loaded: the key that signs is the
            // one in memory, written as node.key itself.
            Ok(None) => {
                let key = crate::datadir::encode_key(&self.node);
                let path = dir.join(crate::datadir::NODE_KEY);
                tokio::task::block_in_place(|| crate::datadir::write_private(&path, key.as_bytes()))
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        };
        match installed {
            Ok(()) => {
                self.retired = None;
                tracing::warn!(through, "the new node key is installed (node.key); the old one is gone");
                self.handover.start(through);
            }
            // The node signs on with the key in memory; node.key.next, still there, is
            // installed at the next start.
            Err(e) => {
                tracing::error!(error = %e, "cannot install the new node key as node.key; it is installed at the next start")
            }
        }
    }

    /// Whether the store can take records now. Below the free space kept, no; after a
    /// failed write, only once the store is reopened and the state rebuilt from what is on
    /// disk. Logs each change.
    fn room(&mut self) -> bool {
        // A write elsewhere (the network's copies of other logs, notifications) found the
        // disk full: sled takes no more writes through any handle until it is reopened.
        if self.store.failed_full() && !self.health.closed() {
            tracing::error!("THE DISK IS FULL: a write of the network or of notifications failed; reopening the store once space is freed");
            self.health.set(Health::CLOSED);
        }
        if self.health.closed() && !self.recover() {
            return false;
        }
        let low = self.min_free > 0 && free_bytes(self.store.path()).is_some_and(|free| free < self.min_free);
        let was = self.health.set(if low { Health::FULL } else { Health::OK });
        match (was, low) {
            (Health::OK, true) => tracing::error!(
                path = %self.store.path().display(),
                kept_free_mb = self.min_free / (1024 * 1024),
                "THE DISK IS FULL: taking no new records until space is freed (reads and the network go on)"
            ),
            (Health::FULL | Health::CLOSED, false) => tracing::warn!("the disk has room again: taking records"),
            _ => {}
        }
        !low
    }

    /// After a write failed for want of space: reopens the store and rebuilds the state
    /// from what is on disk (sled's memory, and the writer's state, may hold the batch that
    /// failed). True once done; until then the store stays closed and reads wait.
    fn recover(&mut self) -> bool {
        let store = self.store.clone();
        let rebuilt = tokio::task::block_in_place(|| {
            store.reopen().map_err(|e| e.to_string())?;
            crate::state_of(&store).map_err(|e| e.to_string())
        });
        let state = match rebuilt {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(error = %e, "the store cannot be reopened yet; trying again");
                return false;
            }
        };
        let seq = state.seq();
        let durable = self.durable.borrow().seq;
        self.state = state;
        self.due = due_of(&self.state);
        // Whatever of the failed batch did reach the disk is part of the log now: the
        // network publishes it like any other batch.
        if seq > durable {
            let batch: Vec<Append> =
                self.store.entries(durable + 1).filter_map(Result::ok).map(|e| Append::new(e, vec![])).collect();
            self.durable.send_replace(Sealed { seq, batch: Arc::new(batch) });
        }
        self.members.send_replace(member_keys(&self.state));
        self.health.set(Health::FULL);
        tracing::warn!(entries = seq, "the store is reopened; the council's state is rebuilt from the disk");
        true
    }

    async fn process(&mut self, batch: Vec<Command>) -> Result<(), StoreError> {
        let mut p = Pending { appends: Vec::new(), acks: Vec::new(), records: Default::default(), adopts: Vec::new() };
        // Reads are answered after the batch is on disk, so nobody is shown a record that
        // a failing disk could still lose.
        let mut reads = Vec::new();
        let full = !self.room();
        let replaced = !self.signing_key();
        let halted = self.halt.reason();
        let catching_up = self.catch_up.on();
        for cmd in batch {
            match cmd {
                Command::Submit { reply, .. } if full => {
                    let _ = reply.send(Err(NodeError::StorageFull));
                }
                Command::Adopt { reply, .. } if full => {
                    let _ = reply.send(Err("the disk is full".to_owned()));
                }
                // The state may hold what never reached the disk: nothing is read from it.
                read if self.health.closed() => drop(read),
                Command::Submit { reply, .. } if replaced => {
                    let _ = reply.send(Err(NodeError::NodeKeyReplaced));
                }
                Command::Submit { reply, .. } if halted.is_some() => {
                    let _ = reply.send(Err(NodeError::SigningHalted(halted.clone().unwrap_or_default())));
                }
                Command::Submit { reply, .. } if catching_up => {
                    let _ = reply.send(Err(NodeError::CatchingUp));
                }
                Command::Adopt { entries, reply } => {
                    let r = self.adopt(entries, &mut p);
                    p.adopts.push((reply, r));
                }
                Command::Submit { payload, record, reply } => {
                    let known = match p.records.get(&record) {
                        Some(s) => Some(*s),
                        None => self.stored_seq(payload.get(), &record)?,
                    };
                    if let Some(seq) = known {
                        // Already logged: earlier in this batch, or on disk.
                        let entry = match p.appends.iter().find(|a| a.entry.body.seq == seq) {
                            Some(a) => Some((a.entry.id(), a.bytes().clone())),
                            None => self.store.entry(seq)?.map(|e| (e.id(), e.to_cbor().into())),
                        };
                        let Some((entry_id, entry_bytes)) = entry else {
                            let _ = reply.send(Err(NodeError::Storage(format!("entry {seq} is not in the store"))));
                            continue;
                        };
                        let s = Submitted { record, seq, duplicate: true, entry_id, entry_bytes };
                        if p.records.contains_key(&record) {
                            p.acks.push((reply, s));
                        } else {
                            let _ = reply.send(Ok(s));
                        }
                        continue;
                    }
                    match self.append(*payload, &mut p) {
                        Ok((seq, entry_id, entry_bytes)) => {
                            p.records.insert(record, seq);
                            p.acks.push((reply, Submitted { record, seq, duplicate: false, entry_id, entry_bytes }));
                        }
                        Err(e) => {
                            let _ = reply.send(Err(e));
                        }
                    }
                }
                read => reads.push(read),
            }
        }
        if !full && !replaced && halted.is_none() && !catching_up {
            self.close_due(&mut p);
        }
        let result = if p.appends.is_empty() {
            Ok(())
        } else {
            let last = p.appends.last().map(|a| a.entry.body.seq).unwrap_or(0);
            #[cfg(feature = "failpoints")]
            crate::failpoint::signed_not_stored(&p.appends.iter().map(|a| &a.entry).collect::<Vec<_>>());
            // On this task's thread, not the blocking pool: however busy the pool is (a
            // slow export download, say), the writer always gets to the disk.
            let started = std::time::Instant::now();
            let written = tokio::task::block_in_place(|| self.store.append(&p.appends));
            if written.is_ok() {
                self.metrics.write_seconds.observe(started.elapsed().as_secs_f64());
                for a in &p.appends {
                    self.metrics.entries_written.get_or_create(&KindLabel { kind: a.entry.body.payload.kind() }).inc();
                }
                // Only a closed motion (an act passed) or a device record changes whose keys
                // are members'.
                let roster_may_change = p
                    .appends
                    .iter()
                    .any(|a| matches!(a.entry.body.payload, Payload::Close { .. } | Payload::Device(_)));
                // The same entries and bytes go to the network, to be published as they are.
                self.durable.send_replace(Sealed { seq: last, batch: Arc::new(std::mem::take(&mut p.appends)) });
                if let Some(through) = self.switched.take() {
                    self.install_key(through);
                }
                if roster_may_change {
                    self.members.send_replace(member_keys(&self.state));
                }
            }
            written
        };
        match &result {
            Ok(()) => {
                for (reply, s) in p.acks {
                    let _ = reply.send(Ok(s));
                }
                for (reply, r) in p.adopts {
                    let _ = reply.send(r);
                }
                for r in reads {
                    self.answer(r);
                }
            }
            Err(e) if e.is_full() => {
                tracing::error!(error = %e, "THE DISK IS FULL: a write failed; nothing of it was acknowledged. Taking no new records until space is freed");
                for (reply, _) in p.acks {
                    let _ = reply.send(Err(NodeError::StorageFull));
                }
                for (reply, _) in p.adopts {
                    let _ = reply.send(Err(e.to_string()));
                }
                // The state holds the batch that failed: rebuild it from the disk (the
                // store must be reopened first) before anything is read from it.
                self.health.set(Health::CLOSED);
                if self.recover() {
                    for r in reads {
                        self.answer(r);
                    }
                }
                return Ok(());
            }
            Err(e) => {
                tracing::error!(error = %e, "writing to the store failed; stopping");
                for (reply, _) in p.acks {
                    let _ = reply.send(Err(NodeError::Storage(e.to_string())));
                }
                for (reply, _) in p.adopts {
                    let _ = reply.send(Err(e.to_string()));
                }
            }
        }
        result
    }

    fn answer(&self, read: Command) {
        match read {
            Command::Report { reply } => {
                let st = &self.state;
                let report = council_report_of(st, true, false, st.time(), true);
                let closed_motions = st.motion_count() - report.motions.len() as u64;
                let _ = reply.send(CouncilView { report, closed_motions });
            }
            Command::Motions { open, before, limit, reply } => {
                let _ = reply.send(motion_page(&self.state, open, before, limit));
            }
            Command::Ballot { motion, key, reply } => {
                let b = self
                    .state
                    .member_of_key(&key)
                    .and_then(|m| self.state.ballot_of(self.state.open_motion(&motion)?, &m));
                let _ = reply.send(b);
            }
            Command::Motion { motion, member, reply } => {
                let st = &self.state;
                let found = find_motion(st, &motion);
                let v = found.map(|m| {
                    let open = match m {
                        MotionRef::Open(o) => Some(o),
                        MotionRef::Closed(_) => None,
                    };
                    MotionView {
                        motion: council_core::export::motion_report(m),
                        my_ballot: open.zip(member.as_deref()).and_then(|(o, who)| st.ballot_of(o, who)),
                        my_ranking: open
                            .zip(member.as_deref())
                            .and_then(|(o, who)| st.ranking_of(o, who))
                            .map(<[u32]>::to_vec),
                        voters: open.map_or_else(Vec::new, |o| {
                            st.roster()
                                .keys()
                                .filter(|who| st.may_vote(o, who))
                                .map(|who| Voter { member: *who, voted: st.ballot_of(o, who).is_some() })
                                .collect()
                        }),
                    }
                });
                let _ = reply.send(v);
            }
            Command::Submit { .. } | Command::Adopt { .. } => {}
        }
    }

    /// Signs, applies and queues one entry; closes its motion at once if a ballot settled it.
    /// Returns the entry's place, its id and its encoding: made here once, and the same
    /// bytes are stored, acknowledged and gossiped.
    fn append(&mut self, payload: Verified<Payload>, p: &mut Pending) -> Result<(u64, Hash, Arc<[u8]>), NodeError> {
        if self.state.node_key() != self.node.public() {
            return Err(NodeError::NodeKeyReplaced);
        }
        let entry = self.state.seal(&self.node, self.clock.stamp(), payload);
        let bytes: Arc<[u8]> = entry.get().to_cbor().into();
        // The verifier reads no export item over the limit: never log one.
        let size = entry_item_bytes(&bytes).len();
        if size > limits::MAX_RECORD_BYTES {
            return Err(NodeError::TooLarge { bytes: size, max: limits::MAX_RECORD_BYTES });
        }
        let stored = entry.get().clone();
        let act = closing_act(&self.state, &stored.body.payload);
        self.state.apply(entry)?;
        let (seq, id) = (stored.body.seq, stored.id());
        let motion = match &stored.body.payload {
            Payload::Vote(v) => Some(v.body.motion),
            Payload::Ranking(r) => Some(r.body.motion),
            Payload::Motion(m) => {
                self.due.insert((m.body.closes_at, m.id()));
                None
            }
            _ => None,
        };
        let index = index_of(&self.state, &stored, act.as_ref());
        p.appends.push(Append::encoded(stored, index, bytes.clone()));
        if let Some(m) = motion {
            self.close_if_settled(m, p);
        }
        Ok((seq, id, bytes))
    }

    /// Takes entries of this council's own log that its node key signed elsewhere (before
    /// a restore): each must be the next place, checked through the council rules like
    /// any entry. Returns the log's new length; stops at the first that does not fit.
    fn adopt(&mut self, entries: Vec<Entry>, p: &mut Pending) -> Result<u64, String> {
        for e in entries {
            let seq = e.body.seq;
            let next = self.state.seq() + 1;
            if seq < next {
                continue;
            }
            if seq != next || e.body.council != self.state.id() {
                return Err(format!("entry {seq} does not follow the log's end at {}", next - 1));
            }
            let v = council_core::verify::verify_entry(e).map_err(|e| e.to_string())?;
            if v.get().signer != self.state.node_key() {
                return Err(format!("entry {seq} is not signed by this council's node key"));
            }
            let stored = v.get().clone();
            let act = closing_act(&self.state, &stored.body.payload);
            self.state.apply(v).map_err(|e| format!("entry {seq}: {e}"))?;
            if let Payload::Motion(m) = &stored.body.payload {
                self.due.insert((m.body.closes_at, m.id()));
            }
            let index = index_of(&self.state, &stored, act.as_ref());
            p.appends.push(Append::new(stored, index));
        }
        Ok(self.state.seq())
    }

    fn close_if_settled(&mut self, id: MotionId, p: &mut Pending) {
        if self.state.node_key() != self.node.public() {
            return;
        }
        let t = self.clock.stamp();
        let Some(m) = self.state.open_motion(&id) else {
            return;
        };
        let outcome = if t >= m.body.closes_at { Some(m.outcome()) } else { m.settled() };
        let Some(outcome) = outcome else { return };
        // A close carries no member signature: verifying it cannot fail.
        let Ok(close) = council_core::verify::verify_payload(Payload::Close { motion: id, outcome }) else {
            return;
        };
        let entry = self.state.seal(&self.node, t, close);
        let stored = entry.get().clone();
        let act = closing_act(&self.state, &stored.body.payload);
        match self.state.apply(entry) {
            Ok(()) => {
                tracing::info!(motion = %id.short(), ?outcome, "motion closed");
                let index = index_of(&self.state, &stored, act.as_ref());
                p.appends.push(Append::new(stored, index));
                // An act that replaced the node key: what follows is signed with the new
                // key, if this node holds it.
                if self.state.node_key() != self.node.public() && !self.signing_key() {
                    tracing::error!(new_key = %self.state.node_key().to_did(), "a council act replaced the node key, and this node does not hold the new key: it signs nothing more until node.key.next holds it (`councild key new` makes it before the act)");
                }
            }
            Err(e) => tracing::error!(motion = %id.short(), error = %e, "could not close a motion"),
        }
    }

    /// Closes the motions whose closing time has come.
    fn close_due(&mut self, p: &mut Pending) {
        let t = self.clock.stamp();
        let mut failed = Vec::new();
        while let Some(&(at, id)) = self.due.first() {
            if at > t {
                break;
            }
            self.due.pop_first();
            self.close_if_settled(id, p);
            // Still open: its close failed (and said why); tried again at the next batch.
            if self.state.motion(&id).is_some_and(|m| m.is_open()) {
                failed.push((at, id));
            }
        }
        self.due.extend(failed);
    }

    /// Where `record` already is in the log, if it is. A ballot is looked for as the
    /// member's latest ballot on its motion: ballots have no record index (see
    /// [`Writer::index`]), so a ballot that a later one by the same member replaced is
    /// refused as stale when it comes again, rather than reported as a duplicate.
    fn stored_seq(&self, payload: &Payload, record: &Hash) -> Result<Option<u64>, StoreError> {
        let Payload::Vote(v) = payload else {
            return self.store.record_seq(record);
        };
        let Some(member) = self.state.member_of_key(&v.signer) else {
            return Ok(None);
        };
        // While the motion is open the state knows the member's latest ballot: unless this
        // one has its counter, it is not stored (and the disk need not be asked).
        if let Some(m) = self.state.open_motion(&v.body.motion) {
            if self.state.ballot_of(m, &member).is_none_or(|b| b.counter != v.body.counter) {
                return Ok(None);
            }
        }
        let Some(seq) = self.store.vote_seq(&v.body.motion, &member)? else {
            return Ok(None);
        };
        Ok(match self.store.entry(seq)?.map(|e| e.body.payload) {
            Some(Payload::Vote(stored)) if Hash::of(&stored.to_cbor()) == *record => Some(seq),
            _ => None,
        })
    }
}

/// The council's open motions by closing time.
fn due_of(st: &CouncilState) -> std::collections::BTreeSet<(u64, MotionId)> {
    st.open_motions().into_iter().map(|m| (m.body.closes_at, m.id)).collect()
}

/// The act of the motion that `payload` closes, taken before the close is applied (a
/// closed motion no longer holds its act), for [`index_of`].
pub(crate) fn closing_act(st: &CouncilState, payload: &Payload) -> Option<Action> {
    let Payload::Close { motion, .. } = payload else { return None };
    match &st.open_motion(motion)?.body.form {
        MotionForm::YesNo(a) if !matches!(a, Action::Resolution) => Some(a.clone()),
        _ => None,
    }
}

/// The store's indexes for an entry just applied to `st`; `act` is what [`closing_act`]
/// gave before it was applied (restoring a store from an export computes them the same
/// way). Ballots, by far the most numerous records, get only the (motion, member) index:
/// a record index keyed by their hashes would scatter writes over the whole store (it
/// doubled sled's bytes on disk and its write time: docs/BENCHMARKS.md, B5).
pub(crate) fn index_of(st: &CouncilState, e: &Entry, act: Option<&Action>) -> Vec<Index> {
    {
        match &e.body.payload {
            Payload::Motion(m) => {
                vec![Index::Record(Hash::of(&m.to_cbor())), Index::Motion(m.id())]
            }
            Payload::Vote(v) => match st.member_of_key(&v.signer) {
                Some(member) => vec![Index::Vote { motion: v.body.motion, member }],
                None => vec![],
            },
            Payload::Petition(pt) => {
                let mut i = vec![Index::Record(Hash::of(&pt.to_cbor()))];
                if let Some(member) = st.member_of_key(&pt.signer) {
                    i.push(Index::Petition { mandate: pt.body.mandate, member });
                }
                if st
                    .mandate(&pt.body.mandate)
                    .and_then(|m| m.recalled)
                    .is_some_and(|(at, _, rec)| at == e.body.time && rec == pt.id())
                {
                    i.push(Index::Recall(pt.body.mandate));
                }
                i
            }
            Payload::DelegateVote(v) => vec![Index::Record(Hash::of(&v.to_cbor()))],
            Payload::Name(n) => vec![Index::Record(Hash::of(&n.to_cbor()))],
            Payload::Device(d) => vec![Index::Record(Hash::of(&d.to_cbor()))],
            Payload::Ranking(r) => vec![Index::Record(Hash::of(&r.to_cbor()))],
            Payload::Close { motion, .. } => {
                let applied = st.closed_motion(motion).is_some_and(|m| m.effect == Effect::Applied);
                match act.filter(|_| applied) {
                    Some(Action::AddMember(k)) => {
                        vec![Index::Roster { member: *k, change: RosterChange::Added }]
                    }
                    Some(Action::RemoveMember(k)) => {
                        vec![Index::Roster { member: *k, change: RosterChange::Removed }]
                    }
                    Some(Action::RotateKey { member, new_key }) => {
                        vec![Index::Roster { member: *member, change: RosterChange::Rotated(Box::new(*new_key)) }]
                    }
                    Some(Action::Mandate(_)) => vec![Index::Mandate(*motion)],
                    Some(Action::Recall(id)) => vec![Index::Recall(*id)],
                    _ => vec![],
                }
            }
            Payload::Invite(i) => vec![Index::Record(Hash::of(&i.to_cbor()))],
        }
    }
}

/// A page of motions, newest first: open or closed, `limit` of them, from position
/// `before` (exclusive) down. Costs what the page holds, not what the history holds: the
/// open motions are few, and the closed ones are found by position.
fn motion_page(st: &CouncilState, open: bool, before: Option<u64>, limit: usize) -> MotionPage {
    let end = before.map_or(st.motion_count(), |b| b.min(st.motion_count()));
    let mut motions = Vec::new();
    let mut next = None;
    if open {
        for m in st.open_motions().into_iter().rev().filter(|m| m.position < end) {
            if motions.len() == limit {
                next = Some(m.position + 1);
                break;
            }
            motions.push(council_core::export::motion_report(MotionRef::Open(m)));
        }
    } else {
        let mut at = end;
        // Open motions are skipped; there are few of them.
        while at > 0 {
            at -= 1;
            let Some(MotionRef::Closed(m)) = st.motion_at(at) else { continue };
            if motions.len() == limit {
                next = Some(at + 1);
                break;
            }
            motions.push(council_core::export::motion_report(MotionRef::Closed(m)));
        }
    }
    MotionPage { motions, next }
}

/// A motion by its id, or by a unique prefix of its id in hex (lower case).
fn find_motion<'a>(st: &'a CouncilState, hex_id: &str) -> Result<MotionRef<'a>, Lookup> {
    if let Some(id) = Hash::from_hex(hex_id) {
        return st.motion(&id).ok_or(Lookup::Unknown);
    }
    let nibbles: Vec<u8> = hex_id
        .bytes()
        .map(|b| (b as char).to_digit(16).map(|d| d as u8))
        .collect::<Option<_>>()
        .ok_or(Lookup::Unknown)?;
    let bytes: Vec<u8> = nibbles.chunks_exact(2).map(|p| p[0] << 4 | p[1]).collect();
    let odd = (nibbles.len() % 2 == 1).then(|| nibbles[nibbles.len() - 1]);
    match st.motions_with_prefix(&bytes, odd, 8).as_slice() {
        [one] => Ok(*one),
        [] => Err(Lookup::Unknown),
        many => Err(Lookup::Ambiguous(many.len())),
    }
}
