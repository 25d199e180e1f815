//! Writes the seed corpus of every fuzz target, `fuzz/corpus/<target>/`, from real valid
//! inputs: the published test vectors (docs/vectors/), the sample export, records built
//! with `council_core::sample`, the default config, and API bodies as `council` sends
//! them. Deterministic; run it again after a protocol change and commit the result:
//!
//! ```sh
//! cargo run -p council-fuzz --example seed_corpus
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use council_core::cbor::Cbor;
use council_core::draft::GenesisDraft;
use council_core::export::{ExportItem, ExportWriter, ItemReader};
use council_core::invite::InviteString;
use council_core::records::{Action, CouncilRules, DeviceChange, Entry, MotionForm, Payload, Rule, Share, Threshold};
use council_core::sample::nested::federations_of_federations;
use council_core::sample::{invite_proof, key_from_label, write_sample, Clock, CouncilBuilder, SampleParams};
use council_core::Hash;
use council_net::{Hello, Request, Response, SyncRequest, SyncResponse};
use serde_json::{json, Value};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The corpus being built: target -> file name -> bytes.
#[derive(Default)]
struct Corpus(BTreeMap<&'static str, BTreeMap<String, Vec<u8>>>);

impl Corpus {
    fn add(&mut self, target: &'static str, name: impl Into<String>, bytes: impl Into<Vec<u8>>) {
        let bytes = bytes.into();
        let files = self.0.entry(target).or_default();
        // The first seed of a name stays: later ones of the same name add nothing.
        if !files.values().any(|b| *b == bytes) {
            files.entry(name.into()).or_insert(bytes);
        }
    }
    fn write(&self, dir: &Path) {
        for (target, files) in &self.0 {
            let d = dir.join(target);
            if d.exists() {
                std::fs::remove_dir_all(&d).unwrap();
            }
            std::fs::create_dir_all(&d).unwrap();
            for (name, bytes) in files {
                std::fs::write(d.join(name), bytes).unwrap();
            }
            println!(
                "fuzz/corpus/{target}: {} files, {} bytes",
                files.len(),
                files.values().map(Vec::len).sum::<usize>()
            );
        }
    }
}

fn unhex(v: &Value) -> Vec<u8> {
    hex::decode(v.as_str().expect("a hex string")).unwrap()
}

/// A short name for what an entry carries.
fn entry_kind(e: &Entry) -> String {
    match &e.body.payload {
        Payload::Motion(m) => match &m.body.form {
            MotionForm::YesNo(a) => format!("motion-{}", a.kind()),
            MotionForm::Choice(_) => "motion-choice".into(),
            MotionForm::Ranked(_) => "motion-ranked".into(),
        },
        p => p.kind().to_string(),
    }
}

fn change_kind(c: &DeviceChange) -> &'static str {
    match c {
        DeviceChange::Add { .. } => "add",
        DeviceChange::Remove { .. } => "remove",
    }
}

/// Every record nested in an entry, as the `record` target's seeds.
fn nested_records(c: &mut Corpus, kind: &str, e: &Entry) {
    c.add("record", format!("entry-{kind}"), e.to_cbor());
    c.add("record", format!("entry-body-{kind}"), e.body.to_cbor());
    c.add("record", format!("payload-{kind}"), e.body.payload.to_cbor());
    match &e.body.payload {
        Payload::Motion(m) => {
            c.add("record", format!("signed-{kind}"), m.to_cbor());
            c.add("record", format!("body-{kind}"), m.body_bytes.clone());
            c.add("record", format!("form-{kind}"), m.body.form.to_cbor());
            c.add("record", "rule", m.body.rule.to_cbor());
            if let Some(a) = m.body.form.action() {
                c.add("record", format!("action-{}", a.kind()), a.to_cbor());
                match a {
                    Action::Mandate(m) => {
                        c.add("record", "mandate", m.to_cbor());
                        c.add("record", "scope", m.scope.to_cbor());
                        if let Some((_, i)) = m.instructions.first() {
                            c.add("record", "instruction", i.to_cbor());
                        }
                    }
                    Action::SignCharter { charter, invite } => {
                        c.add("record", "charter-signed", charter.to_cbor());
                        c.add("record", "federation-rules", charter.rules.to_cbor());
                        if let Some(p) = invite {
                            c.add("record", "invite-proof", p.to_cbor());
                        }
                    }
                    Action::OpenFederationMotion(f) => {
                        c.add("record", "federation-motion", f.to_cbor());
                        for (depth, m) in f.chain().enumerate() {
                            if let Some(act) = &m.act {
                                c.add("record", format!("federation-act-{}-{depth}", act.kind()), act.to_cbor());
                            }
                        }
                    }
                    _ => {}
                }
            }
        }
        Payload::Vote(v) => c.add("record", format!("signed-{kind}"), v.to_cbor()),
        Payload::Petition(p) => c.add("record", format!("signed-{kind}"), p.to_cbor()),
        Payload::DelegateVote(v) => c.add("record", format!("signed-{kind}"), v.to_cbor()),
        Payload::Close { outcome, .. } => c.add("record", "outcome", outcome.to_cbor()),
        Payload::Invite(i) => c.add("record", format!("signed-{kind}"), i.to_cbor()),
        Payload::Name(n) => c.add("record", format!("signed-{kind}"), n.to_cbor()),
        Payload::Ranking(r) => c.add("record", format!("signed-{kind}"), r.to_cbor()),
        Payload::Device(d) => {
            c.add("record", format!("signed-{kind}-{}", change_kind(&d.body.change)), d.to_cbor());
            c.add("record", format!("change-{}", change_kind(&d.body.change)), d.body.change.to_cbor());
        }
    }
}

/// A small council's export: a genesis, a motion, three ballots (one final), a close.
fn small_export() -> Vec<u8> {
    let mut clock = Clock(1_800_000_000);
    let keys: Vec<_> = (0..3).map(|i| key_from_label(&format!("fuzz/m{i}"))).collect();
    let refs: Vec<_> = keys.iter().collect();
    let mut b = CouncilBuilder::found(
        "Fuzz Council",
        &refs,
        CouncilRules::default(),
        key_from_label("fuzz/node"),
        clock.tick(),
    )
    .unwrap();
    let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let t = clock.tick();
    let m = b.open(t, &keys[0], "Adopt the rota", MotionForm::YesNo(Action::Resolution), rule, t + 100).unwrap();
    // The first ballot is final (the vote body's sixth element); the others may change.
    b.vote_final(clock.tick(), &keys[0], m, 0).unwrap();
    for (i, k) in keys.iter().enumerate().skip(1) {
        b.vote(clock.tick(), k, m, u32::from(i == 2)).unwrap();
    }
    // A ranked motion: every member ranks, one abstains with an empty ranking.
    let t2 = clock.tick();
    let ranked = MotionForm::Ranked(vec!["spring".into(), "summer".into(), "autumn".into()]);
    let rule = Rule { quorum: Share::new(1, 2), threshold: council_core::tally::RANKED_THRESHOLD };
    let rm = b.open(t2, &keys[1], "When to hold the assembly", ranked, rule, t + 100).unwrap();
    b.rank(clock.tick(), &keys[0], rm, &[1, 0, 2], true).unwrap();
    b.rank(clock.tick(), &keys[1], rm, &[2, 1, 0], false).unwrap();
    b.rank(clock.tick(), &keys[2], rm, &[], false).unwrap();
    // Member 0 adds a phone, which then removes the first device.
    let phone = key_from_label("fuzz/m0/phone");
    let added = b.device_added(&keys[0], keys[0].public(), &phone);
    b.append(clock.tick(), Payload::Device(added)).unwrap();
    let removed = b.device_removed(&phone, keys[0].public(), keys[0].public());
    b.append(clock.tick(), Payload::Device(removed)).unwrap();
    clock.advance_to(t + 100);
    b.close(clock.tick(), m).unwrap();
    b.close(clock.tick(), rm).unwrap();
    let mut w = ExportWriter::new(Vec::new(), b.id()).unwrap();
    w.genesis(b.genesis()).unwrap();
    for e in b.take_entries() {
        w.entry(e).unwrap();
    }
    w.finish().unwrap()
}

fn main() {
    let mut c = Corpus::default();
    // A real peer id: the node key's.
    let peer = council_net::peer_id_of(&key_from_label("fuzz/node").public());
    let p2p = format!("/ip4/192.168.1.20/tcp/7421/p2p/{peer}");
    let vectors: Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("docs/vectors/records.json")).unwrap()).unwrap();
    let sample = std::fs::read(root().join("docs/vectors/small-valid.cnx")).unwrap();

    // --- record: the published vectors, then one of each kind of item of the sample.
    for r in vectors["records"].as_array().unwrap() {
        let name = r["name"].as_str().unwrap().replace([' ', '/', '(', ')'], "-").replace("--", "-");
        let name = name.trim_matches('-');
        c.add("record", format!("vector-{name}"), unhex(&r["record_cbor"]));
        c.add("record", format!("vector-{name}-body"), unhex(&r["body_cbor"]));
    }
    c.add("record", "vector-genesis", unhex(&vectors["genesis"]["record_cbor"]));
    c.add("record", "vector-genesis-body", unhex(&vectors["genesis"]["body_cbor"]));
    c.add("record", "vector-charter", unhex(&vectors["charter"]["cbor"]));
    c.add("record", "vector-equivocation", unhex(&vectors["equivocation"]["record_cbor"]));
    c.add("record", "vector-export-header", unhex(&vectors["export_header"]["cbor"]));
    c.add("record", "vector-export-end", unhex(&vectors["export_end"]["cbor"]));
    c.add("record", "vector-join", unhex(&vectors["join"]["statement_cbor"]));
    c.add("record", "vector-higher-charter", unhex(&vectors["higher_charter"]["cbor"]));

    let mut items = Vec::new();
    let mut reader = ItemReader::new(&sample[..]);
    while let Some((_, bytes)) = reader.next_item().unwrap() {
        items.push(bytes);
    }
    let mut seen = BTreeMap::new();
    let mut genesis = None;
    let mut first_entries = Vec::new();
    for bytes in &items {
        match ExportItem::from_cbor(bytes).unwrap() {
            ExportItem::Genesis(g) => {
                if genesis.is_none() {
                    genesis = Some(g.clone());
                    let mut draft = GenesisDraft::new(g.body.clone());
                    draft.signatures[0] = Some(g.signatures[0]);
                    c.add("record", "genesis-draft", draft.to_cbor());
                    c.add("record", "genesis", g.to_cbor());
                    c.add("record", "genesis-body", g.body_bytes.clone());
                    c.add("record", "council-rules", g.body.rules.to_cbor());
                    c.add("record", "item-genesis", bytes.clone());
                }
            }
            ExportItem::Entry(e) => {
                if first_entries.len() < 5 && Some(e.body.council) == genesis.as_ref().map(|g| g.council_id()) {
                    first_entries.push(e.to_cbor());
                }
                let kind = entry_kind(&e);
                if seen.insert(kind.clone(), ()).is_none() {
                    c.add("record", format!("item-entry-{kind}"), bytes.clone());
                    c.add("gossip", format!("entry-{kind}"), bytes.clone());
                    nested_records(&mut c, &kind, &e);
                }
            }
            ExportItem::Header { .. }
            | ExportItem::End { .. }
            | ExportItem::PartialGenesis(_)
            | ExportItem::Equivocation(_) => {}
        }
    }
    let equivocation = unhex(&vectors["equivocation"]["record_cbor"]);
    let proof = council_core::records::EquivocationProof::from_cbor(&equivocation).unwrap();
    c.add("gossip", "equivocation", ExportItem::Equivocation(proof).to_cbor());

    // --- export and rules: whole files.
    let (nested, _) = federations_of_federations(1_800_000_000).unwrap();
    let mut reader = ItemReader::new(&nested[..]);
    let mut nested_seen = BTreeMap::new();
    while let Some((_, bytes)) = reader.next_item().unwrap() {
        if let ExportItem::Entry(e) = ExportItem::from_cbor(&bytes).unwrap() {
            let kind = format!("nested-{}", entry_kind(&e));
            if nested_seen.insert(kind.clone(), ()).is_none() {
                nested_records(&mut c, &kind, &e);
            }
        }
    }
    // The same, with every council but the first two as a federation-level copy
    // (PROTOCOL.md §12.9): what a node of the first council holds.
    let first_two: Vec<_> = {
        let mut r = ItemReader::new(&nested[..]);
        let mut ids = Vec::new();
        while let Some((_, bytes)) = r.next_item().unwrap() {
            if let ExportItem::Genesis(g) = ExportItem::from_cbor(&bytes).unwrap() {
                ids.push(g.council_id());
            }
        }
        ids.into_iter().take(2).collect()
    };
    let copy = council_core::export::federation_level_copy(&nested, |c| first_two.contains(c)).unwrap();
    for target in ["export", "rules"] {
        c.add(target, "federations-of-federations.cnx", nested.clone());
        c.add(target, "federation-level-copy.cnx", copy.clone());
    }
    let mut tiny = Vec::new();
    write_sample(&SampleParams { members: 3, motions: 1, votes_per_motion: 2 }, &mut tiny).unwrap();
    let small = small_export();
    for target in ["export", "rules"] {
        c.add(target, "small-valid.cnx", sample.clone());
        c.add(target, "tiny-sample.cnx", tiny.clone());
        c.add(target, "one-council.cnx", small.clone());
        // Cut short: the end marker is missing.
        let end = ExportItem::End { items: 0 }.to_cbor().len();
        c.add(target, "one-council-cut-short.cnx", small[..small.len() - end].to_vec());
    }

    // --- sync: each message of /councilnet/sync/1.
    let genesis = genesis.unwrap();
    let council = genesis.council_id();
    let federation = Hash::of(b"fuzz/federation");
    let invite_key = key_from_label("fuzz/invite");
    let proof = invite_proof(&invite_key, Hash::of(b"fuzz/issuer"), federation, council);
    c.add("sync", "sync-request", Request::Sync(SyncRequest { council, from_seq: 0, max_entries: 1000 }).to_cbor());
    c.add("sync", "sync-request-from-7", SyncRequest { council, from_seq: 7, max_entries: 1 }.to_cbor());
    let hello = Hello { genesis: genesis.clone(), invites: vec![(federation, proof.clone())] };
    c.add("sync", "hello-with-invite", Request::Hello(Box::new(hello)).to_cbor());
    let hello = Hello { genesis: genesis.clone(), invites: Vec::new() };
    c.add("sync", "hello", Request::Hello(Box::new(hello)).to_cbor());
    let r = SyncResponse { genesis: Some(Box::new(genesis.clone())), entries: first_entries.clone() };
    c.add("sync", "sync-response-from-0", Response::Sync(r).to_cbor());
    let r = SyncResponse { genesis: None, entries: first_entries[2..].to_vec() };
    c.add("sync", "sync-response-from-3", Response::Sync(r).to_cbor());
    c.add("sync", "sync-response-empty", Response::Sync(SyncResponse::default()).to_cbor());
    c.add("sync", "welcome", Response::Welcome(Box::new(genesis.clone())).to_cbor());
    c.add(
        "sync",
        "refused",
        Response::Refused("this council is not a member of any federation of ours".into()).to_cbor(),
    );

    // --- invite: the string, and the CBOR inside it.
    for (i, addrs) in [
        vec![],
        vec![p2p.clone()],
        vec![
            "/ip4/127.0.0.1/tcp/7421".to_string(),
            "/ip6/::1/tcp/7421".to_string(),
            "/dns4/council.example/tcp/7421".into(),
        ],
    ]
    .into_iter()
    .enumerate()
    {
        let inv = InviteString {
            federation,
            issuer: Hash::of(b"fuzz/issuer"),
            key: key_from_label("fuzz/invite"),
            expires_at: 1_800_604_800,
            addrs,
        };
        c.add("invite", format!("invite-{i}.txt"), inv.to_string());
        c.add("invite", format!("invite-{i}.cbor"), inv.to_cbor());
    }

    // --- config: the defaults, and files as operators write them.
    let default_toml = std::fs::read_to_string(root().join("config/default.toml")).unwrap();
    c.add("config", "default.toml", default_toml);
    c.add("config", "small.toml", "data_dir = \"/var/lib/council\"\n[api]\nlisten = \"127.0.0.1:9000\"\n");
    c.add(
        "config",
        "network.toml",
        format!(
            "[network]\nlisten = [\"/ip4/0.0.0.0/tcp/7421\", \"/ip6/::/tcp/7421\"]\npeers = [\"{p2p}\"]\n\
             mdns = true\nkademlia = false\nsync_interval_ms = 1000\n"
        ),
    );
    c.add(
        "config",
        "offline.toml",
        "[network]\nenabled = false\nlisten = []\n[log]\nlevel = \"info,council_node=debug\"\n",
    );
    c.add("config", "bad-key.toml", "[api]\nlisen = \"127.0.0.1:1\"\n");
    c.add("config", "not-loopback.toml", "[api]\nlisten = \"0.0.0.0:7420\"\nmax_body_bytes = 1024\n");
    c.add("config", "inline.toml", "store = { max_batch = 16 }\nmotions.check_interval_ms = 250\n");

    // --- api: the bodies `council` sends, and path parameters.
    for (kind, bytes) in c.0["record"].clone() {
        if let Some(k) = kind.strip_prefix("signed-") {
            c.add("api", format!("record-{k}.json"), json!({ "record": hex::encode(&bytes) }).to_string());
        }
    }
    c.add(
        "api",
        "invite.json",
        json!({ "federation": federation.to_hex(), "invite_key": invite_key.public().to_did(), "max_uses": 1, "expires_at": 1_800_604_800u64 })
            .to_string(),
    );
    c.add(
        "api",
        "join.json",
        json!({
            "federation": federation.to_hex(),
            "proof": hex::encode(proof.to_cbor()),
            "addrs": [p2p, "/dns4/council.example/tcp/7421"],
        })
        .to_string(),
    );
    c.add("api", "peer.json", json!({ "addr": format!("/ip4/127.0.0.1/tcp/7421/p2p/{peer}") }).to_string());
    c.add(
        "api",
        "ballot-path.txt",
        format!("/v1/motions/{}/ballot/{}", Hash::of(b"fuzz/motion").to_hex(), invite_key.public().to_did()),
    );

    c.write(&root().join("fuzz/corpus"));
}
