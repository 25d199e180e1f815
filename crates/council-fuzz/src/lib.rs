//! # council-fuzz
//!
//! The properties that every decoder of outside bytes must have, written once and used
//! twice:
//!
//! - by the `cargo fuzz` targets in `fuzz/fuzz_targets/` (one per function below; each
//!   target is a single line that calls it), run for a set time by `scripts/fuzz.sh`;
//! - by this crate's test `tests/corpus.rs`, which replays the committed seed corpus
//!   (`fuzz/corpus/<target>/`) and every input that ever crashed a target
//!   (`fuzz/regressions/<target>/`) through the same functions on every `cargo test`,
//!   with no nightly toolchain and no cargo-fuzz.
//!
//! Every function takes arbitrary bytes and panics if, and only if, a property fails:
//!
//! 1. nothing panics, whatever the input (decoders return errors);
//! 2. anything that decodes re-encodes to exactly the bytes it was decoded from (PROTOCOL.md
//!    §3: a record has one encoding), wherever a decoder has an encoder;
//! 3. what a decoded record is fed to next in the real code path (signature checks, the
//!    council's rules, the verdict on an export, the API handlers' checks) does not panic.
//!
//! | function | the outside bytes | the code path it follows |
//! |---|---|---|
//! | [`record`] | any record | every `Cbor` record type of council-core, then the signature checks and the checks that need no log |
//! | [`export`] | an export file | `export::verify_reader` (what `council verify` runs), framing and `check_item` per item |
//! | [`rules`] | an export file, signatures not checked | the council's rules and the federation's, as a node that holds signing keys could drive them |
//! | [`gossip`] | a gossip message's data | what a node does with it: decode, signature checks |
//! | [`sync`] | a `/councilnet/sync/1` request or response | `council_net::{Request, Response}`, then the genesis, invite proofs and entries they carry |
//! | [`invite`] | an invite string (text or its CBOR) | `invite::InviteString` |
//! | [`config`] | the node's TOML config file | `council_node::config::load` |
//! | [`api`] | a JSON body of the local API (and path parameters) | the bodies' types in `council_node::api` and what the handlers do with them |

use std::collections::BTreeMap;
use std::fmt::Debug;

use council_core::cbor::Cbor;
use council_core::council::{check_charter, check_genesis, check_motion, CouncilState};
use council_core::draft::GenesisDraft;
use council_core::export::{self, CheckedItem, ExportItem, ExportVerifier, ItemReader, Report};
use council_core::invite::InviteString;
use council_core::records::{
    Action, Charter, CouncilRules, DelegateVoteBody, DeviceBody, DeviceChange, DeviceProof, DeviceRules, Entry,
    EntryBody, EquivocationProof, FederationAct, FederationMotion, FederationRules, Genesis, GenesisBody, Instruction,
    InviteBody, InviteProof, JoinStatement, Mandate, MotionBody, MotionForm, NameBody, Openers, Outcome, Payload,
    PetitionBody, RankingBody, Rule, Scope, SessionBody, Share, Signed, Threshold, VoteBody,
};
use council_core::verify::{self, Verified};
use council_core::{Hash, PublicKey, Signature};

/// A property: panics if, and only if, the input breaks it.
pub type Property = fn(&[u8]);

/// Every fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs` and the corpus
/// directory `fuzz/corpus/<name>/`) and its property function.
pub const TARGETS: &[(&str, Property)] = &[
    ("record", record),
    ("export", export),
    ("rules", rules),
    ("gossip", gossip),
    ("sync", sync),
    ("invite", invite),
    ("config", config),
    ("api", api),
];

/// Decodes `data` as one `T`. If it decodes, its canonical encoding must be `data` itself.
pub fn round_trip<T: Cbor + Debug>(data: &[u8]) -> Option<T> {
    let v = T::from_cbor(data).ok()?;
    let again = v.to_cbor();
    if again != data {
        let at = data.iter().zip(&again).position(|(a, b)| a != b).unwrap_or(data.len().min(again.len()));
        panic!(
            "{} decoded, then re-encoded to different bytes (first difference at byte {at}; {} bytes in, {} out)\n   \
             input {}\n encoded {}\n   value {}",
            std::any::type_name::<T>(),
            data.len(),
            again.len(),
            clip(&hex::encode(data)),
            clip(&hex::encode(&again)),
            clip(&format!("{v:?}")),
        );
    }
    Some(v)
}

/// At most 600 characters of `s`, for panic messages.
fn clip(s: &str) -> String {
    match s.char_indices().nth(600) {
        Some((i, _)) => format!("{}… ({} characters)", &s[..i], s.chars().count()),
        None => s.to_string(),
    }
}

/// A signed record keeps the bytes its signature covers: they must be the body's encoding.
fn signed_consistent<T: Cbor + Debug>(s: &Signed<T>) {
    assert!(s.body.to_cbor() == s.body_bytes, "the kept body bytes of a signed record are not its body's encoding");
}

fn genesis_consistent(g: &Genesis) {
    assert!(g.body.to_cbor() == g.body_bytes, "the kept body bytes of a genesis are not its body's encoding");
}

fn entry_consistent(e: &Entry) {
    signed_consistent(e);
    match &e.body.payload {
        Payload::Motion(m) => signed_consistent(m.as_ref()),
        Payload::Vote(v) => signed_consistent(v),
        Payload::Petition(p) => signed_consistent(p),
        Payload::DelegateVote(v) => signed_consistent(v),
        Payload::Invite(i) => signed_consistent(i),
        Payload::Name(n) => signed_consistent(n),
        Payload::Device(d) => signed_consistent(d),
        Payload::Ranking(r) => signed_consistent(r),
        Payload::Close { .. } => {}
    }
}

/// A genesis as [`verify::verify_genesis`] and then [`CouncilState::new`] take it.
fn genesis_checks(g: &Genesis) {
    genesis_consistent(g);
    let _ = g.council_id();
    let _ = check_genesis(&g.body);
    if let Ok(v) = verify::verify_genesis(g.clone()) {
        let _ = CouncilState::new(v);
    }
}

/// An entry as [`verify::verify_entry`] takes it.
fn entry_checks(e: &Entry) {
    entry_consistent(e);
    let _ = verify::signature_count(e);
    let _ = e.body.payload.kind();
    let _ = verify::verify_entry(e.clone());
}

/// Every record type of the protocol (PROTOCOL.md §4, §5, and the genesis draft file),
/// and what can be checked about one record without a log.
pub fn record(data: &[u8]) {
    // The pieces: each must round-trip on its own too.
    let _ = round_trip::<Hash>(data);
    let _ = round_trip::<PublicKey>(data);
    let _ = round_trip::<Signature>(data);
    let _ = round_trip::<Share>(data);
    let _ = round_trip::<Threshold>(data);
    if let Some(r) = round_trip::<Rule>(data) {
        let _ = r.is_valid();
    }
    let _ = round_trip::<Openers>(data);
    if let Some(r) = round_trip::<CouncilRules>(data) {
        let _ = r.is_valid();
    }
    let _ = round_trip::<FederationRules>(data);
    if let Some(s) = round_trip::<Scope>(data) {
        let _ = s.covers("wages");
    }
    let _ = round_trip::<Instruction>(data);
    if let Some(m) = round_trip::<Mandate>(data) {
        let _ = m.instruction_for("wages");
    }
    if let Some(c) = round_trip::<Charter>(data) {
        let _ = c.id();
        let _ = check_charter(&c);
    }
    let _ = round_trip::<JoinStatement>(data);
    let _ = round_trip::<InviteProof>(data);
    if let Some(m) = round_trip::<FederationMotion>(data) {
        let _ = m.chain().count();
    }
    if let Some(a) = round_trip::<FederationAct>(data) {
        let _ = (a.kind(), a.target());
    }
    if let Some(a) = round_trip::<Action>(data) {
        let _ = a.kind();
    }
    let _ = round_trip::<Outcome>(data);
    if let Some(f) = round_trip::<MotionForm>(data) {
        let _ = (f.options(), f.option_count(), f.action());
    }

    // Bodies.
    if let Some(g) = round_trip::<GenesisBody>(data) {
        let _ = check_genesis(&g);
    }
    if let Some(m) = round_trip::<MotionBody>(data) {
        for rules in
            [CouncilRules::default(), CouncilRules { openers: Openers::Listed(Vec::new()), ..CouncilRules::default() }]
        {
            let _ = check_motion(&m, &rules, 0);
            let _ = check_motion(&m, &rules, m.closes_at);
            let _ = check_motion(&m, &rules, u64::MAX);
        }
    }
    let _ = round_trip::<VoteBody>(data);
    let _ = round_trip::<PetitionBody>(data);
    let _ = round_trip::<DelegateVoteBody>(data);
    let _ = round_trip::<DeviceRules>(data);
    let _ = round_trip::<RankingBody>(data);
    if let Some(r) = round_trip::<Signed<RankingBody>>(data) {
        signed_consistent(&r);
        let _ = council_core::council::check_ranking(&r.body.ranking, 32);
        let _ = verify::verify_payload(Payload::Ranking(Box::new(r)));
    }
    let _ = round_trip::<DeviceChange>(data);
    let _ = round_trip::<DeviceBody>(data);
    let _ = round_trip::<DeviceProof>(data);
    if let Some(d) = round_trip::<Signed<DeviceBody>>(data) {
        signed_consistent(&d);
        let _ = verify::verify_payload(Payload::Device(Box::new(d)));
    }
    let _ = round_trip::<EntryBody>(data);

    // Signed records and what the signature checks do with them.
    if let Some(p) = round_trip::<Payload>(data) {
        let _ = p.kind();
        let _ = verify::verify_payload(p);
    }
    if let Some(m) = round_trip::<Signed<MotionBody>>(data) {
        signed_consistent(&m);
        let _ = m.id();
        let _ = verify::verify_payload(Payload::Motion(Box::new(m)));
    }
    if let Some(v) = round_trip::<Signed<VoteBody>>(data) {
        signed_consistent(&v);
        let _ = verify::verify_payload(Payload::Vote(v));
    }
    if let Some(p) = round_trip::<Signed<PetitionBody>>(data) {
        signed_consistent(&p);
        let _ = verify::verify_payload(Payload::Petition(p));
    }
    if let Some(v) = round_trip::<Signed<DelegateVoteBody>>(data) {
        signed_consistent(&v);
        let _ = verify::verify_payload(Payload::DelegateVote(v));
    }
    if let Some(e) = round_trip::<Entry>(data) {
        entry_checks(&e);
    }
    if let Some(g) = round_trip::<Genesis>(data) {
        genesis_checks(&g);
    }
    if let Some(p) = round_trip::<EquivocationProof>(data) {
        entry_consistent(&p.a);
        entry_consistent(&p.b);
        let _ = verify::verify_equivocation(p);
    }
    if let Some(d) = round_trip::<GenesisDraft>(data) {
        assert!(d.body.to_cbor() == d.body_bytes, "the kept body bytes of a genesis draft are not its body's encoding");
        let _ = d.missing();
        let _ = d.finish();
    }
    if round_trip::<ExportItem>(data).is_some() {
        let _ = export::check_item(export::ItemPos::START, data);
    }
}

/// An export file (PROTOCOL.md §5), as `council verify` reads it: the verdict, and each
/// item framed, round-tripped and checked on its own.
pub fn export(data: &[u8]) {
    let report = export::verify_reader(data);
    report_checks(&report);
    let mut reader = ItemReader::new(data);
    let mut framed = 0usize;
    while let Ok(Some((pos, bytes))) = reader.next_item() {
        assert_eq!(pos.offset as usize, framed, "items are framed one after another");
        framed += bytes.len();
        if round_trip::<ExportItem>(&bytes).is_some() {
            let _ = export::check_item(pos, &bytes);
        }
    }
    if report.valid {
        assert_eq!(framed, data.len(), "a valid export is nothing but its items");
    }
}

/// What is true of every verdict, and what `council verify --json` prints of it.
fn report_checks(report: &Report) {
    assert_eq!(report.valid, report.errors.is_empty(), "an export is valid exactly when there is no error");
    for e in report.errors.iter().chain(&report.void_federation_events) {
        let _ = e.to_string();
    }
    if let Err(e) = serde_json::to_string(report) {
        panic!("the report does not serialize: {e}");
    }
}

/// An export file whose signatures are taken as valid: every decoded item goes straight
/// to the council's rules ([`ExportVerifier`], hence [`CouncilState::apply`] and the
/// federation rules), so that the fuzzer reaches them without forging signatures.
///
/// Each entry is also relinked (its council and `prev` set to those of the log it sits
/// in, as a node with the node key could sign it), so that a mutated entry does not just
/// break the hash chain. Anyone holding a council's node key, or a member's, can sign
/// whatever this feeds the rules; nothing else is skipped: a genesis must still carry a
/// signature per founder, and an equivocation proof must still be two different entries
/// at one place of one log by one key.
pub fn rules(data: &[u8]) {
    let mut reader = ItemReader::new(data);
    let mut v = ExportVerifier::new();
    // The council whose section of the file this is, and the id of its last entry.
    let mut log: Option<(Hash, Hash)> = None;
    let read_error = loop {
        let (pos, bytes) = match reader.next_item() {
            Ok(Some(x)) => x,
            Ok(None) => break None,
            Err(e) => break Some(e.to_string()),
        };
        let err = |record, reason: String| Err(pos.error(record, None, None, reason));
        let checked = match ExportItem::from_cbor(&bytes) {
            Err(e) => err("item", format!("cannot decode: {e}")),
            Ok(ExportItem::Header { primary }) => Ok((CheckedItem::Header { primary }, 0)),
            Ok(ExportItem::End { items }) => Ok((CheckedItem::End { items }, 0)),
            Ok(ExportItem::Genesis(g)) => {
                if g.signatures.len() == g.body.founders.len() {
                    log = Some((g.council_id(), g.council_id()));
                    Ok((CheckedItem::Genesis(Verified::from_own_store(g)), 0))
                } else {
                    log = None;
                    err("genesis", "one signature per founder".into())
                }
            }
            Ok(ExportItem::PartialGenesis(g)) => {
                if g.signatures.len() == g.body.founders.len() {
                    log = Some((g.council_id(), g.council_id()));
                    Ok((CheckedItem::PartialGenesis(Verified::from_own_store(g)), 0))
                } else {
                    log = None;
                    err("partial-genesis", "one signature per founder".into())
                }
            }
            Ok(ExportItem::Entry(mut e)) => {
                if let Some((council, head)) = log {
                    e.body.council = council;
                    e.body.prev = head;
                    e.body_bytes = e.body.to_cbor();
                    log = Some((council, e.id()));
                }
                Ok((CheckedItem::Entry(Verified::from_own_store(e)), 0))
            }
            Ok(ExportItem::Equivocation(p)) => {
                log = None;
                let (a, b) = (&p.a, &p.b);
                if a.body.council == b.body.council
                    && a.body.seq == b.body.seq
                    && a.body_bytes != b.body_bytes
                    && a.signer == b.signer
                {
                    Ok((CheckedItem::Equivocation(Verified::from_own_store(p)), 0))
                } else {
                    err("equivocation", "not an equivocation".into())
                }
            }
        };
        v.push(pos, checked);
    };
    report_checks(&v.finish(read_error));
}

/// A gossip message's data (PROTOCOL.md §12.3): one export item, an entry or an
/// equivocation proof; the node decodes it and checks its signatures before judging it.
pub fn gossip(data: &[u8]) {
    match round_trip::<ExportItem>(data) {
        Some(ExportItem::Entry(e)) => entry_checks(&e),
        Some(ExportItem::Equivocation(p)) => {
            entry_consistent(&p.a);
            entry_consistent(&p.b);
            let _ = verify::verify_equivocation(p);
        }
        _ => {}
    }
}

/// A request or a response on `/councilnet/sync/1` (PROTOCOL.md §12.2), and the records
/// they carry: the hello's genesis and invite proofs, the entries of a sync response.
pub fn sync(data: &[u8]) {
    let _ = round_trip::<council_net::SyncRequest>(data);
    match round_trip::<council_net::Request>(data) {
        Some(council_net::Request::Hello(h)) => {
            genesis_checks(&h.genesis);
            let council = h.genesis.council_id();
            for (federation, proof) in &h.invites {
                let stmt = JoinStatement { federation: *federation, council };
                let _ = proof.invite_key.verify(&stmt.to_cbor(), &proof.signature);
            }
        }
        Some(council_net::Request::Sync(_) | council_net::Request::Heads(_)) | None => {}
    }
    match round_trip::<council_net::Response>(data) {
        Some(council_net::Response::Sync(r)) => {
            if let Some(g) = &r.genesis {
                genesis_checks(g);
            }
            for b in &r.entries {
                if let Some(e) = round_trip::<Entry>(b) {
                    entry_checks(&e);
                }
            }
        }
        Some(council_net::Response::Welcome(g)) => genesis_checks(&g),
        Some(council_net::Response::Refused(why)) => {
            let _ = why.len();
        }
        Some(council_net::Response::Heads(heads)) => {
            let _ = council_net::heads_digest(heads.as_deref().unwrap_or_default());
        }
        None => {}
    }
}

/// An invite string (PROTOCOL.md §12.5), pasted as text, and the CBOR inside it. Text that
/// parses prints back as the same text (less surrounding whitespace).
pub fn invite(data: &[u8]) {
    if let Some(i) = round_trip::<InviteString>(data) {
        let s = i.to_string();
        match s.parse::<InviteString>() {
            Ok(back) => assert!(back.to_cbor() == data, "an invite string does not read back as itself: {s}"),
            Err(e) => panic!("an invite string made from a decoded invite does not parse ({e}): {s}"),
        }
        let p = i.proof_for(Hash::ZERO);
        assert!(p
            .invite_key
            .verify(&JoinStatement { federation: i.federation, council: Hash::ZERO }.to_cbor(), &p.signature));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(i) = text.parse::<InviteString>() {
            assert_eq!(i.to_string(), text.trim(), "an invite string does not print back as itself");
            let _ = round_trip::<InviteString>(&i.to_cbor());
        }
    }
}

static CONFIG_FILES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

thread_local! {
    static CONFIG_FILE: std::path::PathBuf = std::env::temp_dir().join(format!(
        "council-fuzz-config-{}-{}.toml",
        std::process::id(),
        CONFIG_FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
}

/// The node's TOML configuration file, through the loader the daemon uses (built-in
/// defaults, then the file, then validation). Errors are fine; a panic is not, and
/// whatever loads keeps the loader's own promises.
pub fn config(data: &[u8]) {
    use council_node::config::{load, Overrides};
    // The loader reads a file: the text goes to a file of this thread's own.
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = CONFIG_FILE.with(Clone::clone);
    if std::fs::write(&path, text).is_err() {
        return;
    }
    let env: BTreeMap<String, String> = [("HOME".to_string(), "/nonexistent-home".to_string())].into();
    let loaded = load(&Overrides { config_file: Some(path.clone()), ..Overrides::default() }, &env);
    let _ = std::fs::remove_file(&path);
    match loaded {
        Ok(c) => {
            assert!(c.api.listen.ip().is_loopback(), "a loaded config's API listens on loopback only");
            assert!(!c.data_dir.as_os_str().is_empty(), "a loaded config has a data directory");
            assert_eq!(c.network.listen_addrs().len(), c.network.listen.len(), "every listen address parses");
            assert_eq!(c.network.peer_addrs().len(), c.network.peers.len(), "every peer address parses");
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// A JSON body of the local API, tried as each body type the handlers take, and each
/// segment of the text as a path parameter (`/v1/motions/{id}/ballot/{did}`). What a
/// handler does with a body before it reaches the node's writer or network is done here
/// too.
pub fn api(data: &[u8]) {
    use council_node::api::{JoinBody, PeerBody, RecordBody};
    if let Ok(b) = serde_json::from_slice::<RecordBody>(data) {
        if let Ok(bytes) = hex::decode(b.record.trim()) {
            api_record(&bytes);
        }
    }
    if let Ok(b) = serde_json::from_slice::<JoinBody>(data) {
        let federation = Hash::from_hex(b.federation.trim());
        let proof = hex::decode(b.proof.trim()).ok().and_then(|bytes| round_trip::<InviteProof>(&bytes));
        // The handler takes 1 to 16 addresses.
        let addrs = b
            .addrs
            .iter()
            .map(|a| a.parse::<council_net::Multiaddr>().ok())
            .collect::<Option<Vec<_>>>()
            .filter(|a| (1..=16).contains(&a.len()));
        if let (Some(federation), Some(proof)) = (federation, proof) {
            let stmt = JoinStatement { federation, council: Hash::ZERO };
            let _ = proof.invite_key.verify(&stmt.to_cbor(), &proof.signature);
            if let Some(addrs) = addrs {
                for a in &addrs {
                    multiaddr_reads_back(a);
                }
                // A join is kept in the store and read back at every start.
                let j = council_node::peering::Join { federation, proof, addrs };
                match council_node::peering::Join::from_cbor(&j.to_cbor()) {
                    Ok(back) => assert_eq!(back, j, "a stored join reads back as something else"),
                    Err(e) => panic!("a stored join does not read back ({e}): {j:?}"),
                }
            }
        }
    }
    if let Ok(b) = serde_json::from_slice::<PeerBody>(data) {
        if let Ok(a) = b.addr.trim().parse::<council_net::Multiaddr>() {
            multiaddr_reads_back(&a);
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        for segment in text.split('/') {
            if let Some(h) = Hash::from_hex(segment) {
                assert_eq!(h.to_hex(), segment.to_ascii_lowercase(), "a hash reads back as itself");
            }
            if let Ok(k) = PublicKey::from_did(segment) {
                assert_eq!(k.to_did(), segment, "a did:key reads back as itself");
            }
        }
    }
}

/// The records the API takes as `{"record": hex}`, as its handlers decode them (and the
/// member endpoint's signed session answer).
fn api_record(bytes: &[u8]) {
    if let Some(m) = round_trip::<Signed<MotionBody>>(bytes) {
        let _ = Hash::of(&m.to_cbor());
        let _ = verify::verify_payload(Payload::Motion(Box::new(m)));
    }
    if let Some(v) = round_trip::<Signed<VoteBody>>(bytes) {
        let _ = verify::verify_payload(Payload::Vote(v));
    }
    if let Some(p) = round_trip::<Signed<PetitionBody>>(bytes) {
        let _ = verify::verify_payload(Payload::Petition(p));
    }
    if let Some(v) = round_trip::<Signed<DelegateVoteBody>>(bytes) {
        let _ = verify::verify_payload(Payload::DelegateVote(v));
    }
    if let Some(i) = round_trip::<Signed<InviteBody>>(bytes) {
        let _ = verify::verify_payload(Payload::Invite(i));
    }
    if let Some(n) = round_trip::<Signed<NameBody>>(bytes) {
        let _ = verify::verify_payload(Payload::Name(n));
    }
    if let Some(d) = round_trip::<Signed<DeviceBody>>(bytes) {
        let _ = verify::verify_payload(Payload::Device(Box::new(d)));
    }
    if let Some(r) = round_trip::<Signed<RankingBody>>(bytes) {
        let _ = verify::verify_payload(Payload::Ranking(Box::new(r)));
    }
    if let Some(s) = round_trip::<Signed<SessionBody>>(bytes) {
        let _ = s.signature_valid();
    }
}

/// A multiaddr is stored and shown as text: that text must read back as the same address.
fn multiaddr_reads_back(a: &council_net::Multiaddr) {
    let s = a.to_string();
    match s.parse::<council_net::Multiaddr>() {
        Ok(back) => assert_eq!(&back, a, "a multiaddr's text reads back as another address: {s}"),
        Err(e) => panic!("a multiaddr's text does not read back ({e}): {s}"),
    }
}
