//! The export file and its offline verification.
//!
//! An export is a CBOR sequence (RFC 8742): a header item, then for each council its
//! genesis followed by its log entries in order, then any equivocation proofs. Items are
//! verified in two steps so that callers can spread the expensive one over all cores:
//!
//! 1. [`check_item`] decodes one item and verifies every signature in it. It needs no
//!    state, so items can be checked in parallel, in any order.
//! 2. [`ExportVerifier::push`] takes the checked items back *in file order* and applies
//!    the contextual rules through [`CouncilState`], the same code the daemon runs.

use std::collections::BTreeMap;
use std::io::Read;

use crate::cbor::{self, Cbor, Decoder, Encoder};
use crate::council::{CouncilState, Effect, RecallKind, Stats};
use crate::error::DecodeError;
use crate::federation::{self, FederationReport};
use crate::hash::Hash;
use crate::keys::PublicKey;
use crate::receipt::{judge, Receipt, ReceiptVerdict};
use crate::records::{
    limits, tag, CouncilId, CouncilRules, Entry, EquivocationProof, Genesis, Instruction, MemberId, MotionForm,
    MotionId, Outcome, Rule, Scope,
};
use crate::verify::{self, Verified};

/// One item of an export file. (Items are short-lived: decoded, checked, applied.)
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)]
pub enum ExportItem {
    Header {
        primary: CouncilId,
    },
    /// The last item: the number of items before it. A file without it was cut short.
    End {
        items: u64,
    },
    Genesis(Genesis),
    /// The genesis of a council whose entries that follow are a federation-level copy of
    /// its log (PROTOCOL.md §5, §12.9): what a node of a higher federation holds.
    PartialGenesis(Genesis),
    Entry(Entry),
    Equivocation(EquivocationProof),
}

/// The encoding of `ExportItem::Entry(entry)` from the entry's own canonical encoding,
/// without decoding or encoding the entry again: what the node stores is what it gossips.
pub fn entry_item_bytes(entry_cbor: &[u8]) -> Vec<u8> {
    let mut e = Encoder::default();
    e.array(2).text("entry").raw(entry_cbor);
    e.into_bytes()
}

impl Cbor for ExportItem {
    fn encode(&self, e: &mut Encoder) {
        match self {
            ExportItem::Header { primary } => {
                e.array(2).text(tag::EXPORT).value(primary);
            }
            ExportItem::End { items } => {
                e.array(2).text(tag::EXPORT_END).u64(*items);
            }
            ExportItem::Genesis(g) => {
                e.array(2).text("genesis").value(g);
            }
            ExportItem::PartialGenesis(g) => {
                e.array(2).text("partial-genesis").value(g);
            }
            ExportItem::Entry(x) => {
                e.array(2).text("entry").value(x);
            }
            ExportItem::Equivocation(p) => {
                e.array(2).text("equivocation").value(p);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        d.array_exact(2)?;
        let name = d.text()?;
        Ok(match name {
            tag::EXPORT => ExportItem::Header { primary: d.value()? },
            tag::EXPORT_END => ExportItem::End { items: d.u64()? },
            "genesis" => ExportItem::Genesis(d.value()?),
            "partial-genesis" => ExportItem::PartialGenesis(d.value()?),
            "entry" => ExportItem::Entry(d.value()?),
            "equivocation" => ExportItem::Equivocation(d.value()?),
            other => return Err(DecodeError::UnknownVariant { at, found: other.chars().take(64).collect() }),
        })
    }
}

/// Where a bad item sits and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ItemError {
    /// 0-based index of the item in the file (the header is item 0).
    pub item: u64,
    /// Byte offset of the item in the file.
    pub offset: u64,
    pub record: &'static str,
    pub council: Option<CouncilId>,
    pub seq: Option<u64>,
    pub reason: String,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "item {} (byte {}), {}", self.item, self.offset, self.record)?;
        if let Some(c) = &self.council {
            write!(f, " of council {}", c.short())?;
        }
        if let Some(s) = self.seq {
            write!(f, " at seq {s}")?;
        }
        write!(f, ": {}", self.reason)
    }
}

/// An item whose signatures have all been verified.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub enum CheckedItem {
    Header { primary: CouncilId },
    End { items: u64 },
    Genesis(Verified<Genesis>),
    PartialGenesis(Verified<Genesis>),
    Entry(Verified<Entry>),
    Equivocation(Verified<EquivocationProof>),
}

/// The position of an item in the file.
#[derive(Debug, Clone, Copy)]
pub struct ItemPos {
    pub item: u64,
    pub offset: u64,
}

impl ItemPos {
    /// The start of the file (for problems with no item of their own).
    pub const START: ItemPos = ItemPos { item: 0, offset: 0 };

    /// An error about the item at this position.
    pub fn error(
        self,
        record: &'static str,
        council: Option<CouncilId>,
        seq: Option<u64>,
        reason: impl Into<String>,
    ) -> ItemError {
        ItemError { item: self.item, offset: self.offset, record, council, seq, reason: reason.into() }
    }
}

/// An item checked, and how many signatures it holds; or why it is refused.
pub type ItemOutcome = Result<(CheckedItem, u64), ItemError>;

/// Decodes one item and checks its signatures. Stateless: safe to run in parallel.
pub fn check_item(pos: ItemPos, bytes: &[u8]) -> ItemOutcome {
    check_items(&[(pos, bytes)])
        .pop()
        .map_or_else(|| Err(pos.error("item", None, None, "nothing to check")), |(_, r)| r)
}

/// Decodes items and checks their signatures in one batch ([`verify::verify_many`]: the
/// verdicts, and the errors, of checking each alone). Stateless: safe to run in parallel
/// on separate slices.
pub fn check_items(items: &[(ItemPos, &[u8])]) -> Vec<(ItemPos, ItemOutcome)> {
    /// What an error about the item names.
    struct Label {
        record: &'static str,
        council: Option<CouncilId>,
        seq: Option<u64>,
    }
    // Each item's outcome, in order; those with signatures are filled in after the batch.
    let mut out: Vec<(ItemPos, Option<ItemOutcome>)> = Vec::with_capacity(items.len());
    let mut pending: Vec<(usize, Label)> = Vec::new();
    let mut records = Vec::new();
    for (pos, bytes) in items {
        let item = match ExportItem::from_cbor(bytes) {
            Ok(i) => i,
            Err(e) => {
                out.push((*pos, Some(Err(pos.error("item", None, None, format!("cannot decode: {e}"))))));
                continue;
            }
        };
        let (label, record) = match item {
            ExportItem::Header { primary } => {
                out.push((*pos, Some(Ok((CheckedItem::Header { primary }, 0)))));
                continue;
            }
            ExportItem::End { items } => {
                out.push((*pos, Some(Ok((CheckedItem::End { items }, 0)))));
                continue;
            }
            ExportItem::Genesis(g) => {
                let label = Label { record: "genesis", council: Some(g.council_id()), seq: None };
                (label, verify::Unverified::Genesis(g))
            }
            ExportItem::PartialGenesis(g) => {
                let label = Label { record: "partial-genesis", council: Some(g.council_id()), seq: None };
                (label, verify::Unverified::Genesis(g))
            }
            ExportItem::Entry(x) => {
                let label =
                    Label { record: x.body.payload.kind(), council: Some(x.body.council), seq: Some(x.body.seq) };
                (label, verify::Unverified::Entry(x))
            }
            ExportItem::Equivocation(p) => {
                let label = Label { record: "equivocation", council: Some(p.a.body.council), seq: Some(p.a.body.seq) };
                (label, verify::Unverified::Equivocation(p))
            }
        };
        out.push((*pos, None));
        pending.push((out.len() - 1, label));
        records.push(record);
    }
    for ((at, label), checked) in pending.into_iter().zip(verify::verify_many(records)) {
        let pos = out[at].0;
        out[at].1 = Some(match checked {
            Ok((verify::Checked::Genesis(v), n)) if label.record == "partial-genesis" => {
                Ok((CheckedItem::PartialGenesis(v), n))
            }
            Ok((verify::Checked::Genesis(v), n)) => Ok((CheckedItem::Genesis(v), n)),
            Ok((verify::Checked::Entry(v), n)) => Ok((CheckedItem::Entry(v), n)),
            Ok((verify::Checked::Equivocation(v), n)) => Ok((CheckedItem::Equivocation(v), n)),
            Err(e) => Err(pos.error(label.record, label.council, label.seq, e.to_string())),
        });
    }
    out.into_iter()
        .map(|(pos, r)| {
            (pos, r.unwrap_or_else(|| Err(pos.error("item", None, None, "its signatures were not checked"))))
        })
        .collect()
}

/// Splits a byte stream into items without holding more than one item (plus a read
/// buffer) in memory.
#[derive(Debug)]
pub struct ItemReader<R> {
    inner: R,
    buf: Vec<u8>,
    start: usize,
    offset: u64,
    index: u64,
    eof: bool,
}

/// The file could not be read as a sequence of items at all.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("reading failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("item {item} (byte {offset}): {source}")]
    Framing { item: u64, offset: u64, source: DecodeError },
    #[error("item {item} (byte {offset}) is larger than the limit of {max} bytes")]
    TooLarge { item: u64, offset: u64, max: usize },
    #[error("the file ends in the middle of item {item} (byte {offset})")]
    Truncated { item: u64, offset: u64 },
}

impl<R: Read> ItemReader<R> {
    pub fn new(inner: R) -> Self {
        ItemReader { inner, buf: Vec::with_capacity(1 << 16), start: 0, offset: 0, index: 0, eof: false }
    }

    /// The next item's position and bytes, or `None` at the end of the file.
    pub fn next_item(&mut self) -> Result<Option<(ItemPos, Vec<u8>)>, ReadError> {
        loop {
            let avail = &self.buf[self.start..];
            let framed = cbor::item_len(avail).map_err(|source| ReadError::Framing {
                item: self.index,
                offset: self.offset,
                source,
            })?;
            if let Some(n) = framed {
                if n > limits::MAX_RECORD_BYTES {
                    return Err(ReadError::TooLarge {
                        item: self.index,
                        offset: self.offset,
                        max: limits::MAX_RECORD_BYTES,
                    });
                }
                let bytes = avail[..n].to_vec();
                let pos = ItemPos { item: self.index, offset: self.offset };
                self.start += n;
                self.offset += n as u64;
                self.index += 1;
                return Ok(Some((pos, bytes)));
            }
            if avail.len() > limits::MAX_RECORD_BYTES {
                return Err(ReadError::TooLarge {
                    item: self.index,
                    offset: self.offset,
                    max: limits::MAX_RECORD_BYTES,
                });
            }
            if self.eof {
                if avail.is_empty() {
                    return Ok(None);
                }
                return Err(ReadError::Truncated { item: self.index, offset: self.offset });
            }
            // Compact, then read more.
            self.buf.drain(..self.start);
            self.start = 0;
            let old = self.buf.len();
            self.buf.resize(old + (1 << 16), 0);
            let n = loop {
                match self.inner.read(&mut self.buf[old..]) {
                    Ok(n) => break n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e.into()),
                }
            };
            self.buf.truncate(old + n);
            if n == 0 {
                self.eof = true;
            }
        }
    }
}

/// Writes an export: the header, then items (whole council logs, then any equivocation
/// proofs), then the end marker with the count.
#[derive(Debug)]
pub struct ExportWriter<W: std::io::Write> {
    w: W,
    items: u64,
}

impl<W: std::io::Write> ExportWriter<W> {
    /// Starts an export of `primary` (writes the header).
    pub fn new(mut w: W, primary: CouncilId) -> std::io::Result<Self> {
        w.write_all(&ExportItem::Header { primary }.to_cbor())?;
        Ok(ExportWriter { w, items: 1 })
    }

    pub fn item(&mut self, item: &ExportItem) -> std::io::Result<()> {
        self.w.write_all(&item.to_cbor())?;
        self.items += 1;
        Ok(())
    }

    pub fn genesis(&mut self, g: &Genesis) -> std::io::Result<()> {
        self.item(&ExportItem::Genesis(g.clone()))
    }

    /// Starts a federation-level copy of a council's log (its entries follow).
    pub fn partial_genesis(&mut self, g: &Genesis) -> std::io::Result<()> {
        self.item(&ExportItem::PartialGenesis(g.clone()))
    }

    pub fn entry(&mut self, e: Entry) -> std::io::Result<()> {
        self.item(&ExportItem::Entry(e))
    }

    /// Writes the end marker and returns the sink.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.w.write_all(&ExportItem::End { items: self.items }.to_cbor())?;
        self.w.flush()?;
        Ok(self.w)
    }
}

// ---------------------------------------------------------------------------------------
// The report

#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberReport {
    pub member: MemberId,
    /// The member's current device keys, oldest first (§6.11).
    pub keys: Vec<PublicKey>,
    /// The name the member gave (§6.10), if any.
    pub name: Option<String>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MotionReport {
    pub id: MotionId,
    pub title: String,
    pub kind: &'static str,
    pub options: Vec<String>,
    pub rule: Rule,
    pub opened_at: u64,
    pub closes_at: u64,
    pub status: &'static str,
    pub outcome: Option<Outcome>,
    pub closed_early: bool,
    pub effect: Option<Effect>,
    /// Latest ballots per option, abstain last (on a ranked motion: first preferences).
    pub counts: Vec<u64>,
    /// On a ranked motion: `pairwise[i][j]` is how many latest rankings put option `i`
    /// above option `j` (PROTOCOL.md §7.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pairwise: Option<Vec<Vec<u64>>>,
    pub electorate: u64,
    pub ballots_received: u64,
    pub ballots_changed: u64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RecallReport {
    pub at: u64,
    pub by: RecallKind,
    pub record: Hash,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct MandateReport {
    pub id: MotionId,
    pub delegate: MemberId,
    pub federation: Hash,
    pub scope: Scope,
    pub instructions: Vec<(String, Instruction)>,
    pub issued_at: u64,
    pub expires_at: u64,
    pub status: &'static str,
    pub recall: Option<RecallReport>,
    pub petition_signatures: usize,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct CouncilReport {
    pub id: CouncilId,
    pub name: String,
    pub primary: bool,
    pub forked: bool,
    /// The export holds only a federation-level copy of this council's log (PROTOCOL.md
    /// §12.9): no ballots, no names, and closes taken as its node signed them.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub partial: bool,
    pub founders: Vec<PublicKey>,
    /// The rules in force at the council's latest entry.
    pub rules: CouncilRules,
    /// Each amendment of the rules, in log order (the genesis rules before the first).
    pub rule_changes: Vec<crate::council::RuleChange>,
    pub node_key: PublicKey,
    pub members: Vec<MemberReport>,
    pub entries: u64,
    pub head: Hash,
    pub last_time: u64,
    pub motions: Vec<MotionReport>,
    pub mandates: Vec<MandateReport>,
    pub stats: Stats,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EquivocationReport {
    pub council: CouncilId,
    pub seq: u64,
    pub a: Hash,
    pub b: Hash,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckedCounts {
    pub items: u64,
    pub signatures: u64,
    pub councils: u64,
    pub entries: u64,
    pub motions: u64,
    pub ballots: u64,
    pub delegate_votes: u64,
    pub petition_signatures: u64,
    /// Items not checked because an earlier entry of the same council was invalid.
    pub skipped: u64,
}

/// What one receipt says about the export (PROTOCOL.md §10.1).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReceiptReport {
    /// Where the receipt came from (a file name), as the caller gave it.
    pub source: String,
    pub council: CouncilId,
    pub seq: u64,
    /// The acknowledged entry's id.
    pub entry: Hash,
    /// held, equivocation, missing, not-by-node-key, unknown-council, partial-copy.
    pub verdict: &'static str,
    /// The export's entry at that place, when it differs.
    pub export_entry: Option<Hash>,
    pub reason: String,
}

/// The verdict on an export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Report {
    pub valid: bool,
    pub primary: Option<CouncilId>,
    pub councils: Vec<CouncilReport>,
    pub federations: Vec<FederationReport>,
    pub equivocations: Vec<EquivocationReport>,
    pub errors: Vec<ItemError>,
    /// Federation events that break the federation's rules or depend on records that are
    /// not in the export: they have no effect (see PROTOCOL.md §8). They do not make the
    /// export invalid: a council cannot always know, when it acts, what other councils
    /// did at the same moment.
    pub void_federation_events: Vec<ItemError>,
    /// The member receipts it was checked against, if any (`council verify --receipts`).
    /// An equivocation or a missing entry among them makes the export invalid.
    pub receipts: Vec<ReceiptReport>,
    pub checked: CheckedCounts,
}

/// Applies checked items in file order. See the module docs.
#[derive(Debug, Default)]
pub struct ExportVerifier {
    primary: Option<CouncilId>,
    councils: BTreeMap<CouncilId, CouncilState>,
    order: Vec<CouncilId>,
    current: Option<CouncilId>,
    broken: std::collections::BTreeSet<CouncilId>,
    forked: std::collections::BTreeSet<CouncilId>,
    proofs: Vec<(ItemPos, Verified<EquivocationProof>)>,
    equivocations: Vec<EquivocationReport>,
    errors: Vec<ItemError>,
    counts: CheckedCounts,
    /// Set once an error makes the rest of the file meaningless.
    halted: bool,
    /// Set by the end marker.
    ended: bool,
    /// Where the last item pushed starts.
    last_offset: u64,
    /// Where each entry that carries a federation event sits in the file.
    fed_pos: BTreeMap<(CouncilId, u64), ItemPos>,
    /// Receipts to judge, and the places they name: each place's entry is kept as the
    /// file goes by (only those places: the verifier does not keep the log).
    receipts: Vec<(String, Verified<Receipt>)>,
    wanted: BTreeMap<(CouncilId, u64), Option<Entry>>,
}

/// Stop collecting errors after this many; the file is invalid anyway.
const MAX_ERRORS: usize = 1000;

impl ExportVerifier {
    pub fn new() -> Self {
        Self::default()
    }

    /// A verifier that also judges these member receipts against the export's logs.
    pub fn with_receipts(receipts: Vec<(String, Verified<Receipt>)>) -> Self {
        let wanted = receipts.iter().map(|(_, r)| ((r.council(), r.seq()), None)).collect();
        ExportVerifier { receipts, wanted, ..Self::default() }
    }

    fn error(&mut self, e: ItemError) {
        if self.errors.len() < MAX_ERRORS {
            self.errors.push(e);
        }
    }

    /// Whether nothing more can be judged (the file is not an export, or it goes on past
    /// its end marker): a reader may stop reading.
    pub fn halted(&self) -> bool {
        self.halted
    }

    /// Takes the next item in file order, with its signature count or the error
    /// [`check_item`] found.
    pub fn push(&mut self, pos: ItemPos, checked: Result<(CheckedItem, u64), ItemError>) {
        self.counts.items += 1;
        self.last_offset = pos.offset;
        let err = |record, council, seq, reason: String| pos.error(record, council, seq, reason);
        if self.halted {
            self.counts.skipped += 1;
            return;
        }
        if self.ended {
            self.error(err("item", None, None, "an item after the end of the export".into()));
            self.halted = true;
            return;
        }
        let (item, sigs) = match checked {
            Ok(x) => x,
            Err(e) => {
                // An entry that fails here breaks its council's log from this point.
                if let (Some(c), Some(_)) = (e.council, e.seq) {
                    if self.current == Some(c) {
                        self.broken.insert(c);
                    }
                } else if pos.item == 0 {
                    // Not even a readable first item: not an export. Nothing after it
                    // can be judged, and the reader may stop (a device handed over as
                    // a file never ends).
                    self.halted = true;
                } else if matches!(e.record, "genesis" | "partial-genesis" | "item") {
                    // Without knowing what the item was, the following entries cannot be
                    // attributed safely.
                    if let Some(c) = self.current {
                        self.broken.insert(c);
                    }
                }
                self.error(e);
                return;
            }
        };
        self.counts.signatures += sigs;
        if pos.item == 0 {
            match item {
                CheckedItem::Header { primary } => self.primary = Some(primary),
                _ => {
                    self.error(err("header", None, None, "the file does not start with an export header".into()));
                    self.halted = true;
                }
            }
            return;
        }
        match item {
            CheckedItem::Header { .. } => self.error(err("header", None, None, "a second export header".into())),
            CheckedItem::End { items } => {
                self.ended = true;
                if items != pos.item {
                    self.error(err(
                        "end",
                        None,
                        None,
                        format!("the end marker counts {items} items before it, but there are {}", pos.item),
                    ));
                }
            }
            CheckedItem::Genesis(g) => self.start_log(pos, g, false),
            CheckedItem::PartialGenesis(g) => self.start_log(pos, g, true),
            CheckedItem::Entry(x) => {
                let (c, s, kind) = (x.body.council, x.body.seq, x.body.payload.kind());
                if self.current != Some(c) {
                    self.error(err(
                        kind,
                        Some(c),
                        Some(s),
                        "the entry is not in its council's section of the file".into(),
                    ));
                    return;
                }
                if self.broken.contains(&c) {
                    self.counts.skipped += 1;
                    return;
                }
                let Some(st) = self.councils.get_mut(&c) else {
                    return;
                };
                let events = st.fed_events().len();
                let keep = self.wanted.contains_key(&(c, s)).then(|| x.get().clone());
                match st.apply(x) {
                    Ok(()) => {
                        if st.fed_events().len() > events {
                            self.fed_pos.insert((c, s), pos);
                        }
                        if let Some(e) = keep {
                            self.wanted.insert((c, s), Some(e));
                        }
                    }
                    Err(e) => {
                        self.broken.insert(c);
                        self.error(err(kind, Some(c), Some(s), e.to_string()));
                    }
                }
            }
            CheckedItem::Equivocation(p) => {
                self.current = None;
                self.proofs.push((pos, p));
            }
        }
    }

    /// A council's section of the file starts: its genesis, or, with `partial`, the genesis
    /// of a federation-level copy of its log.
    fn start_log(&mut self, pos: ItemPos, g: Verified<Genesis>, partial: bool) {
        let err = |record, council, seq, reason: String| pos.error(record, council, seq, reason);
        let record = if partial { "partial-genesis" } else { "genesis" };
        let id = g.council_id();
        if !self.proofs.is_empty() {
            self.error(err(record, Some(id), None, "council logs must come before equivocation proofs".into()));
            return;
        }
        if self.councils.contains_key(&id) || self.broken.contains(&id) {
            self.error(err(record, Some(id), None, "the council appears twice in the export".into()));
            self.current = None;
            return;
        }
        self.current = Some(id);
        let started = if partial { CouncilState::new_partial(g) } else { CouncilState::new(g) };
        match started {
            Ok(st) => {
                self.councils.insert(id, st);
                self.order.push(id);
            }
            Err(e) => {
                self.broken.insert(id);
                self.error(err(record, Some(id), None, e.to_string()));
            }
        }
    }

    /// The verdict, once every item has been pushed. `read_error` is set if the file
    /// could not be read to its end.
    pub fn finish(mut self, read_error: Option<String>) -> Report {
        if let Some(r) = read_error {
            self.error(ItemPos { item: self.counts.items, offset: 0 }.error("file", None, None, r));
        }
        if self.counts.items > 0 && !self.ended && !self.halted {
            let at = ItemPos { item: self.counts.items, offset: self.last_offset };
            self.error(at.error(
                "file",
                None,
                None,
                "the file ends (after the item at this offset) without its end marker: it was cut short",
            ));
        }
        if self.counts.items == 0 {
            self.error(ItemPos::START.error("file", None, None, "the file is empty"));
        }
        match self.primary {
            Some(p) if !self.councils.contains_key(&p) && !self.broken.contains(&p) => self
                .error(ItemPos::START.error("header", Some(p), None, "the exported council's log is not in the file")),
            Some(p) if self.councils.get(&p).is_some_and(CouncilState::is_partial) => self.error(ItemPos::START.error(
                "header",
                Some(p),
                None,
                "the exported council's own log is only a federation-level copy: an export holds its council's whole log",
            )),
            _ => {}
        }
        for (pos, p) in std::mem::take(&mut self.proofs) {
            let (c, s) = (p.a.body.council, p.a.body.seq);
            let e = |reason: &str| pos.error("equivocation", Some(c), Some(s), reason);
            match self.councils.get(&c) {
                None => self.error(e("the forked council's log is not in the export")),
                Some(st) if st.node_key_at(s) != Some(p.a.signer) => {
                    self.error(e("the entries are not signed by the council's node key for that place in the log"))
                }
                Some(_) => {
                    self.forked.insert(c);
                    self.equivocations.push(EquivocationReport { council: c, seq: s, a: p.a.id(), b: p.b.id() });
                }
            }
        }
        let receipts = self.judge_receipts();
        let (federations, void_events) = federation::evaluate(&self.councils);
        let mut void_federation_events = Vec::new();
        for fe in void_events {
            let pos = self.fed_pos.get(&(fe.council, fe.seq)).copied().unwrap_or(ItemPos::START);
            void_federation_events.push(pos.error("federation event", Some(fe.council), Some(fe.seq), fe.reason));
        }
        let mut councils = Vec::new();
        for id in &self.order {
            let Some(st) = self.councils.get(id) else {
                continue;
            };
            let s = st.stats();
            self.counts.councils += 1;
            self.counts.entries += s.entries;
            self.counts.motions += s.motions;
            self.counts.ballots += s.ballots;
            self.counts.delegate_votes += s.delegate_votes;
            self.counts.petition_signatures += s.petition_signatures;
            // Each council's mandates are judged as of its own latest entry: no other log in
            // the file can age them.
            councils.push(council_report(st, Some(*id) == self.primary, self.forked.contains(id), st.time()));
        }
        let betrayed = receipts.iter().any(|r| matches!(r.verdict, "equivocation" | "missing" | "other-signer"));
        Report {
            valid: self.errors.is_empty() && !betrayed,
            primary: self.primary,
            councils,
            federations,
            equivocations: self.equivocations,
            errors: self.errors,
            void_federation_events,
            receipts,
            checked: self.counts,
        }
    }

    /// Judges each receipt against its council's log in the file (§10.1). A receipt that
    /// proves a fork marks the council forked, as an equivocation item would.
    fn judge_receipts(&mut self) -> Vec<ReceiptReport> {
        let mut out = Vec::new();
        for (source, r) in std::mem::take(&mut self.receipts) {
            let (c, seq) = (r.council(), r.seq());
            let report = |verdict: &'static str, export_entry: Option<Hash>, reason: String| ReceiptReport {
                source: source.clone(),
                council: c,
                seq,
                entry: r.entry_id(),
                verdict,
                export_entry,
                reason,
            };
            let Some(st) = self.councils.get(&c) else {
                out.push(report("unknown-council", None, "the receipt's council is not in the export".into()));
                continue;
            };
            if st.is_partial() {
                out.push(report(
                    "partial-copy",
                    None,
                    "the export holds only a federation-level copy of the receipt's council's log, which need not hold a member's ballot: judge the receipt against that council's own export".into(),
                ));
                continue;
            }
            let at = self.wanted.get(&(c, seq)).and_then(Option::as_ref);
            // The key that signs that place by this log: for a place past its end, the key
            // that would sign the next entry.
            let key = st.node_key_at(seq.min(st.seq() + 1));
            let verdict = judge(&r, at, st.seq(), key);
            let export_entry = at.map(Entry::id).filter(|id| *id != r.entry_id());
            let reason = match &verdict {
                ReceiptVerdict::Held => "the export holds the acknowledged entry".to_string(),
                ReceiptVerdict::Equivocation(p) => {
                    self.forked.insert(c);
                    self.equivocations.push(EquivocationReport { council: c, seq, a: p.a.id(), b: p.b.id() });
                    format!(
                        "the node acknowledged entry {} at seq {seq}, but the export has {} there: the node signed two histories",
                        r.entry_id(),
                        p.b.id()
                    )
                }
                ReceiptVerdict::Missing { log_seq } => format!(
                    "the node acknowledged entry {} at seq {seq}, but the export's log ends at seq {log_seq}: the entry was dropped (or the export is older than the receipt)",
                    r.entry_id()
                ),
                ReceiptVerdict::NotByNodeKey { node_key } => format!(
                    "the receipt is signed by {}, not by the council's node key for that place ({}): it proves nothing",
                    r.entry.signer.to_did(),
                    node_key.to_did()
                ),
                ReceiptVerdict::OtherSigner { found } => {
                    format!("the export's entry at seq {seq} is signed by {}, the receipt by another key", found.to_did())
                }
            };
            out.push(report(verdict.kind(), export_entry, reason));
        }
        out
    }
}

/// One motion, as reports show it.
pub fn motion_report(m: crate::council::MotionRef<'_>) -> MotionReport {
    use crate::council::MotionRef;
    match m {
        MotionRef::Open(m) => MotionReport {
            id: m.id,
            title: m.body.title.clone(),
            kind: match &m.body.form {
                MotionForm::YesNo(a) => a.kind(),
                MotionForm::Choice(_) => "choice",
                MotionForm::Ranked(_) => "ranked",
            },
            options: m.body.form.options(),
            rule: m.body.rule,
            opened_at: m.opened_at,
            closes_at: m.body.closes_at,
            status: "open",
            outcome: None,
            closed_early: false,
            effect: None,
            counts: m.counts.counts.clone(),
            pairwise: m.body.form.is_ranked().then(|| m.pairwise()),
            electorate: m.counts.electorate,
            ballots_received: m.ballots_received,
            ballots_changed: m.ballots_changed,
        },
        MotionRef::Closed(m) => MotionReport {
            id: m.id,
            title: m.title.clone(),
            kind: m.kind,
            options: m.options(),
            rule: m.rule,
            opened_at: m.opened_at,
            closes_at: m.closes_at,
            status: "closed",
            outcome: Some(m.outcome),
            closed_early: m.early,
            effect: Some(m.effect.clone()),
            counts: m.counts.counts.clone(),
            pairwise: (m.form() == crate::tally::Form::Ranked).then(|| m.pairwise.clone()),
            electorate: m.counts.electorate,
            ballots_received: m.ballots_received,
            ballots_changed: m.ballots_changed,
        },
    }
}

/// The report on one council's log, as `council verify` prints it (the daemon's API shows
/// the same view).
pub fn council_report(st: &CouncilState, primary: bool, forked: bool, as_of: u64) -> CouncilReport {
    council_report_of(st, primary, forked, as_of, false)
}

/// [`council_report`], with only the open motions where `open_only` (a node's view, which
/// must not grow with the council's history).
pub fn council_report_of(st: &CouncilState, primary: bool, forked: bool, as_of: u64, open_only: bool) -> CouncilReport {
    use crate::council::MotionRef;
    let motions = if open_only {
        st.open_motions().into_iter().map(|m| motion_report(MotionRef::Open(m))).collect()
    } else {
        st.motions().map(motion_report).collect()
    };
    let mandates = st
        .mandates()
        .map(|m| {
            let status = if m.recalled.is_some() {
                "recalled"
            } else if m.superseded_at.is_some() {
                "superseded"
            } else if m.mandate.expires_at <= as_of {
                "expired"
            } else {
                "in force"
            };
            MandateReport {
                id: m.id,
                delegate: m.mandate.delegate,
                federation: m.mandate.federation,
                scope: m.mandate.scope.clone(),
                instructions: m.mandate.instructions.clone(),
                issued_at: m.issued_at,
                expires_at: m.mandate.expires_at,
                status,
                recall: m.recalled.map(|(at, by, record)| RecallReport { at, by, record }),
                petition_signatures: m.petition.len(),
            }
        })
        .collect();
    CouncilReport {
        id: st.id(),
        name: st.genesis().name.clone(),
        primary,
        forked,
        partial: st.is_partial(),
        founders: st.genesis().founders.clone(),
        rules: st.rules().clone(),
        rule_changes: st.rule_changes().to_vec(),
        node_key: st.node_key(),
        members: st
            .roster()
            .iter()
            .map(|(m, keys)| MemberReport { member: *m, keys: keys.clone(), name: st.name_of(m).map(str::to_owned) })
            .collect(),
        entries: st.seq(),
        head: st.head(),
        last_time: st.time(),
        motions,
        mandates,
        stats: st.stats().clone(),
    }
}

/// Verifies a whole export on the calling thread. `council verify` spreads the
/// signature checks over all cores instead; both reach the same verdict, because both
/// feed the same [`check_item`] results to the same [`ExportVerifier`] in file order.
pub fn verify_reader<R: Read>(input: R) -> Report {
    let mut reader = ItemReader::new(input);
    let mut v = ExportVerifier::new();
    loop {
        match reader.next_item() {
            Ok(Some((pos, bytes))) => v.push(pos, check_item(pos, &bytes)),
            Ok(None) => return v.finish(None),
            Err(e) => return v.finish(Some(e.to_string())),
        }
    }
}

/// Rewrites an export so that each council `keep_whole` refuses is a federation-level copy
/// of its log (PROTOCOL.md §12.9): its `partial-genesis`, then only its federation-level
/// entries. What a node of a higher federation holds of the councils it is bound with
/// only through member federations; the tests and the benchmarks compare the two. Every
/// signature is checked and every log replayed, so a bad export is refused, not copied.
pub fn federation_level_copy(export: &[u8], keep_whole: impl Fn(&CouncilId) -> bool) -> Result<Vec<u8>, String> {
    let mut reader = ItemReader::new(export);
    let mut header = None;
    let mut logs: Vec<(Genesis, Vec<Entry>)> = Vec::new();
    let mut proofs = Vec::new();
    while let Some((pos, bytes)) = reader.next_item().map_err(|e| e.to_string())? {
        let bad = |e: &dyn std::fmt::Display| format!("item {}: {e}", pos.item);
        match ExportItem::from_cbor(&bytes).map_err(|e| bad(&e))? {
            ExportItem::Header { primary } => header = Some(primary),
            ExportItem::End { .. } => break,
            ExportItem::Genesis(g) => logs.push((g, Vec::new())),
            ExportItem::PartialGenesis(_) => return Err(bad(&"the export already holds a federation-level copy")),
            ExportItem::Entry(e) => logs.last_mut().ok_or_else(|| bad(&"an entry before any genesis"))?.1.push(e),
            ExportItem::Equivocation(p) => proofs.push(p),
        }
    }
    let primary = header.ok_or("the export has no header")?;
    let mut w = ExportWriter::new(Vec::new(), primary).map_err(|e| e.to_string())?;
    for (g, entries) in logs {
        let id = g.council_id();
        if keep_whole(&id) {
            w.genesis(&g).map_err(|e| e.to_string())?;
            for e in entries {
                w.entry(e).map_err(|e| e.to_string())?;
            }
            continue;
        }
        let mut st = CouncilState::new(verify::verify_genesis(g.clone()).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        for e in &entries {
            st.apply(verify::verify_entry(e.clone()).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        }
        w.partial_genesis(&g).map_err(|e| e.to_string())?;
        for e in entries.into_iter().filter(|e| st.is_federation_level(&e.body.payload)) {
            w.entry(e).map_err(|e| e.to_string())?;
        }
    }
    for p in proofs {
        w.item(&ExportItem::Equivocation(p)).map_err(|e| e.to_string())?;
    }
    w.finish().map_err(|e| e.to_string())
}
