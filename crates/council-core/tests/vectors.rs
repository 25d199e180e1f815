//! The test vectors published in docs/PROTOCOL.md and docs/vectors/.
//!
//! The records are rebuilt here from fixed seeds and compared byte for byte with the
//! published files. To regenerate them after a deliberate protocol change, run
//! `COUNCILNET_BLESS=1 cargo test -p council-core --test vectors` and review the diff.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use council_core::cbor::Cbor;
use council_core::export::{verify_reader, ExportItem};
use council_core::receipt::Receipt;
use council_core::records::{
    Action, Charter, CouncilRules, DelegateVoteBody, DeviceBody, DeviceChange, DeviceProof, DeviceRules, EntryBody,
    EquivocationProof, FederationAct, FederationMotion, FederationRules, Genesis, GenesisBody, Instruction, InviteBody,
    JoinStatement, Mandate, MotionBody, MotionForm, NameBody, Outcome, Payload, PetitionBody, RankingBody, Rule, Scope,
    SessionBody, Share, Signed, Threshold, VoteBody,
};
use council_core::sample::{write_sample, SampleParams};
use council_core::{Hash, SecretKey};
use serde_json::{json, Value};

const T: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z

fn seed(i: u8) -> SecretKey {
    SecretKey::from_seed(&[i; 32])
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn signed_vector<T: Cbor>(name: &str, about: &str, s: &Signed<T>) -> Value {
    json!({
        "name": name,
        "about": about,
        "body_cbor": hex::encode(&s.body_bytes),
        "body_sha256": Hash::of(&s.body_bytes).to_hex(),
        "signer": hex::encode(s.signer.as_bytes()),
        "signature": hex::encode(s.signature.0),
        "record_cbor": hex::encode(s.to_cbor()),
    })
}

fn build() -> Value {
    let keys: Vec<Value> = (1..=5u8)
        .map(|i| {
            let k = seed(i);
            json!({ "seed": hex::encode([i; 32]), "public": hex::encode(k.public().as_bytes()), "did": k.public().to_did() })
        })
        .collect();
    let (m1, m2, node, invite) = (seed(1), seed(2), seed(3), seed(4));

    let mut g = Genesis::draft(GenesisBody {
        name: "Vector Council".into(),
        founders: vec![m1.public(), m2.public()],
        rules: CouncilRules::default(),
        node_key: node.public(),
        created_at: T,
    });
    g.signatures = vec![m1.sign(&g.body_bytes), m2.sign(&g.body_bytes)];
    let council = g.council_id();

    let motion = Signed::sign(
        MotionBody {
            council,
            title: "Adopt the rota".into(),
            form: MotionForm::YesNo(Action::Resolution),
            rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            closes_at: T + 86_400,
            nonce: 1,
        },
        &m1,
    );
    let vote = Signed::sign(VoteBody { council, motion: motion.id(), choice: 0, counter: 1, is_final: false }, &m2);
    let final_vote =
        Signed::sign(VoteBody { council, motion: motion.id(), choice: 1, counter: 2, is_final: true }, &m2);
    // Member 2 adds a phone (key 5), which then removes itself.
    let phone = seed(5);
    let device_proof = DeviceProof { council, member: m2.public() };
    let device_sig = device_proof.sign(&phone);
    let change = DeviceChange::Add { device: phone.public(), proof: device_sig };
    let device_add = Signed::sign(DeviceBody { council, member: m2.public(), change }, &m2);
    let change = DeviceChange::Remove { device: phone.public() };
    let device_remove = Signed::sign(DeviceBody { council, member: m2.public(), change }, &phone);
    let strict_devices = CouncilRules { devices: DeviceRules { limit: 2, by_act: true }, ..CouncilRules::default() };
    let entry1 = Signed::sign(
        EntryBody { council, seq: 1, prev: council, time: T + 60, payload: Payload::Motion(Box::new(motion.clone())) },
        &node,
    );
    let entry2 = Signed::sign(
        EntryBody { council, seq: 2, prev: entry1.id(), time: T + 120, payload: Payload::Vote(vote.clone()) },
        &node,
    );
    let close = Signed::sign(
        EntryBody {
            council,
            seq: 3,
            prev: entry2.id(),
            time: T + 86_401,
            payload: Payload::Close { motion: motion.id(), outcome: Outcome::Passed },
        },
        &node,
    );

    let charter = Charter {
        name: "Vector Federation".into(),
        principles: vec!["No power above the councils.".into()],
        rules: FederationRules {
            admission: Threshold::SIMPLE_MAJORITY,
            motion_rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            weighting: Default::default(),
        },
        founders: vec![council, Hash::of(b"another council")],
        created_at: T,
    };
    let fid = charter.id();
    let mandate = Signed::sign(
        MotionBody {
            council,
            title: "Mandate a delegate".into(),
            form: MotionForm::YesNo(Action::Mandate(Mandate {
                delegate: m2.public(),
                federation: fid,
                scope: Scope::Matters(vec!["wages".into()]),
                instructions: vec![("wages".into(), Instruction::Vote(0))],
                expires_at: T + 90 * 86_400,
            })),
            rule: CouncilRules::default().act_rule,
            closes_at: T + 86_400,
            nonce: 2,
        },
        &m1,
    );
    let choice = Signed::sign(
        MotionBody {
            council,
            title: "Summer closing".into(),
            form: MotionForm::Choice(vec!["July".into(), "August".into()]),
            rule: Rule { quorum: Share::new(1, 3), threshold: Threshold::TWO_THIRDS },
            closes_at: T + 86_400,
            nonce: 3,
        },
        &m1,
    );
    let ranked = Signed::sign(
        MotionBody {
            council,
            title: "Where to hold the assembly".into(),
            form: MotionForm::Ranked(vec!["canteen".into(), "yard".into(), "hall".into()]),
            rule: Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY },
            closes_at: T + 86_400,
            nonce: 6,
        },
        &m1,
    );
    let ranking = Signed::sign(
        RankingBody { council, motion: ranked.id(), ranking: vec![1, 2, 0], counter: 1, is_final: true },
        &m2,
    );
    let amended = CouncilRules {
        act_rule: Rule { quorum: Share::new(2, 3), threshold: Threshold::TWO_THIRDS },
        amend_rule: Some(Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY }),
        ..CouncilRules::default()
    };
    let amend = Signed::sign(
        MotionBody {
            council,
            title: "Acts need two thirds; amendments, everyone".into(),
            form: MotionForm::YesNo(Action::AmendRules(amended.clone())),
            rule: CouncilRules::default().act_rule,
            closes_at: T + 86_400,
            nonce: 7,
        },
        &m1,
    );
    let recall = Signed::sign(
        MotionBody {
            council,
            title: "Recall the delegate".into(),
            form: MotionForm::YesNo(Action::Recall(mandate.id())),
            rule: CouncilRules::default().act_rule,
            closes_at: T + 86_400,
            nonce: 4,
        },
        &m1,
    );
    let petition = Signed::sign(PetitionBody { council, mandate: mandate.id() }, &m1);
    let fmotion = Signed::sign(
        MotionBody {
            council,
            title: "Put the pay offer to the federation".into(),
            form: MotionForm::YesNo(Action::OpenFederationMotion(FederationMotion {
                federation: fid,
                matter: "wages".into(),
                title: "Accept the offer?".into(),
                options: vec!["accept".into(), "reject".into()],
                closes_at: T + 3 * 86_400,
                act: None,
            })),
            rule: CouncilRules::default().act_rule,
            closes_at: T + 86_400,
            nonce: 5,
        },
        &m1,
    );
    let dvote = Signed::sign(
        DelegateVoteBody {
            federation: fid,
            motion: fmotion.id(),
            council,
            mandate: mandate.id(),
            choice: 0,
            counter: 1,
            split: None,
        },
        &m2,
    );
    let split_vote = Signed::sign(
        DelegateVoteBody {
            federation: fid,
            motion: fmotion.id(),
            council,
            mandate: mandate.id(),
            choice: 2,
            counter: 2,
            split: Some(council_core::records::split_of(&[2, 1]).unwrap()),
        },
        &m2,
    );
    let split_mandate = Signed::sign(
        MotionBody {
            council,
            title: "Carry our members' split on wages".into(),
            form: MotionForm::YesNo(Action::Mandate(Mandate {
                delegate: m2.public(),
                federation: fid,
                scope: Scope::Matters(vec!["wages".into()]),
                instructions: vec![(
                    "wages".into(),
                    Instruction::Split(council_core::records::SplitSource::OfMotion(motion.id())),
                )],
                expires_at: T + 90 * 86_400,
            })),
            rule: CouncilRules::default().act_rule,
            closes_at: T + 86_400,
            nonce: 8,
        },
        &m1,
    );
    // §8.1: the federation `fid` and another found a higher federation; this council
    // moves a motion of `fid` that would give member 2 a mandate there, and member 2 then
    // casts a ballot there for `fid`.
    let higher = Charter {
        name: "Vector Federation of Federations".into(),
        principles: vec!["no power above the councils".into()],
        rules: charter.rules.clone(),
        founders: vec![fid, Hash::of(b"another federation")],
        created_at: T,
    };
    let higher_id = higher.id();
    let fed_mandate = Signed::sign(
        MotionBody {
            council,
            title: "Our federation's delegate above".into(),
            form: MotionForm::YesNo(Action::OpenFederationMotion(FederationMotion {
                federation: fid,
                matter: "federation".into(),
                title: "Send member 2 of the Vector Council to the federation above".into(),
                options: vec!["yes".into(), "no".into()],
                closes_at: T + 3 * 86_400,
                act: Some(Box::new(FederationAct::Mandate {
                    council,
                    mandate: Mandate {
                        delegate: m2.public(),
                        federation: higher_id,
                        scope: Scope::All,
                        instructions: vec![],
                        expires_at: T + 90 * 86_400,
                    },
                })),
            })),
            rule: CouncilRules::default().act_rule,
            closes_at: T + 86_400,
            nonce: 9,
        },
        &m1,
    );
    let fed_vote = Signed::sign(
        DelegateVoteBody {
            federation: higher_id,
            motion: Hash::of(b"a motion of the federation above"),
            council: fid,
            mandate: fed_mandate.id(),
            choice: 1,
            counter: 1,
            split: None,
        },
        &m2,
    );
    let join = JoinStatement { federation: fid, council };
    let join_sig = invite.sign(&join.to_cbor());
    let invite_record = Signed::sign(
        InviteBody { council, federation: fid, invite_key: invite.public(), max_uses: 3, expires_at: T + 7 * 86_400 },
        &m1,
    );
    let session = Signed::sign(SessionBody { council, challenge: Hash::of(b"a challenge from the node") }, &m2);
    let name = Signed::sign(NameBody { council, name: "María López".into() }, &m2);
    let invite_entry = Signed::sign(
        EntryBody {
            council,
            seq: 4,
            prev: close.id(),
            time: T + 86_460,
            payload: Payload::Invite(invite_record.clone()),
        },
        &node,
    );
    let fork = Signed::sign(
        EntryBody {
            council,
            seq: 3,
            prev: entry2.id(),
            time: T + 86_402,
            payload: Payload::Close { motion: motion.id(), outcome: Outcome::Rejected },
        },
        &node,
    );
    let receipt = Receipt { entry: entry2.clone() };
    let proof = EquivocationProof { a: close.clone(), b: fork };
    // A federation-level copy (§12.9) of entries 1 to 4: only the invite is federation-
    // level (entry 1 is a motion that enacts nothing, 2 a ballot, 3 that motion's close).
    let copy_item = ExportItem::PartialGenesis(g.clone());
    let copy_levels: Vec<bool> = {
        let mut st =
            council_core::council::CouncilState::new(council_core::verify::Verified::from_own_store(g.clone()))
                .unwrap();
        [&entry1, &entry2, &close, &invite_entry]
            .iter()
            .map(|e| {
                let level = st.is_federation_level(&e.body.payload);
                st.apply(council_core::verify::Verified::from_own_store((*e).clone())).unwrap();
                level
            })
            .collect()
    };
    let header = ExportItem::Header { primary: council };
    let end = ExportItem::End { items: 5 };
    let invite_string = council_core::invite::InviteString {
        federation: fid,
        issuer: council,
        key: seed(4),
        expires_at: T + 7 * 86_400,
        addrs: vec!["/ip4/192.0.2.7/tcp/7421".into()],
    };

    json!({
        "keys": keys,
        "genesis": {
            "body_cbor": hex::encode(&g.body_bytes),
            "council_id": council.to_hex(),
            "signatures": g.signatures.iter().map(|s| hex::encode(s.0)).collect::<Vec<_>>(),
            "record_cbor": hex::encode(g.to_cbor()),
        },
        "records": [
            signed_vector("motion (yes/no resolution)", "member 1 opens a motion", &motion),
            signed_vector("motion (choice)", "member 1 opens a choice between two options", &choice),
            signed_vector("motion (ranked)", "member 1 asks the members to rank three options", &ranked),
            signed_vector("ranking", "member 2 ranks yard, hall, canteen, for good", &ranking),
            signed_vector("motion (amend-rules act)", "member 1 moves new rules: acts need 2/3 quorum and two-thirds; amendments need everyone (the five-element rules encoding)", &amend),
            signed_vector("motion (mandate act)", "a mandate for member 2 in the federation", &mandate),
            signed_vector("motion (recall act)", "recall of that mandate by motion", &recall),
            signed_vector("motion (federation motion act)", "the council opens a federation motion", &fmotion),
            signed_vector("vote", "member 2 votes yes on the first motion", &vote),
            signed_vector("final vote", "member 2 changes to no on the first motion, for good (the sixth element, true)", &final_vote),
            signed_vector("device (add)", "member 2 adds key 5 as a device; the proof is key 5's signature over the device proof below", &device_add),
            signed_vector("device (remove)", "key 5, now one of member 2's keys, removes itself", &device_remove),
            signed_vector("petition", "member 1 signs a recall petition against the mandate", &petition),
            signed_vector("delegate vote", "member 2, as delegate, votes option 0", &dvote),
            signed_vector("motion (split mandate act)", "a mandate to carry the split of the council's first motion on wages", &split_mandate),
            signed_vector("delegate vote (split)", "member 2, as delegate, casts a split of 2 to 1: [6667, 3333], choice 2 (the number of options)", &split_vote),
            signed_vector("motion (federation act: a mandate above)", "the council moves that its federation give member 2 a mandate in a higher federation (§8.1); the charter of that federation is `higher_charter` below", &fed_mandate),
            signed_vector("delegate vote (for a member federation)", "member 2 casts option 1 in the higher federation for the federation (its `council` is the federation's id; its mandate, the id of the motion above), §8.1; the federation motion's id is the SHA-256 of the ASCII text `a motion of the federation above`", &fed_vote),
            signed_vector("entry 1 (motion)", "the node logs the motion", &entry1),
            signed_vector("entry 2 (vote)", "the node logs the vote", &entry2),
            signed_vector("entry 3 (close)", "the node closes the motion as passed, after its closing time; entries 1 to 3 form a valid log", &close),
            signed_vector("entry 4 (invite)", "the node logs an invite (shown for its encoding: the federation in it is not founded, so as a federation event it is void, §8; the export stays valid)", &invite_entry),
            signed_vector("invite", "member 1 invites a council to the federation: 3 uses, for 7 days", &invite_record),
            signed_vector("name", "member 2 gives the name they go by (UTF-8 text)", &name),
            signed_vector("session", "member 2 answers the node's challenge (the SHA-256 of the ASCII text `a challenge from the node`) to open a session; never logged", &session),
        ],
        "device_proof": { "cbor": hex::encode(device_proof.to_cbor()), "signature": hex::encode(device_sig.0) },
        "rules_with_devices": { "cbor": hex::encode(strict_devices.to_cbor()) },
        "receipt": { "cbor": hex::encode(receipt.to_cbor()), "entry_id": entry2.id().to_hex(), "seq": 2 },
        "charter": { "cbor": hex::encode(charter.to_cbor()), "federation_id": fid.to_hex() },
        "higher_charter": { "cbor": hex::encode(higher.to_cbor()), "federation_id": higher_id.to_hex(), "about": "founded by the federation above and one whose id is the SHA-256 of the ASCII text `another federation`" },
        "opened": { "carrier": fed_mandate.id().to_hex(), "federation": higher_id.to_hex(), "id": FederationMotion::opened_by_act(fed_mandate.id(), higher_id).to_hex() },
        "join": { "statement_cbor": hex::encode(join.to_cbor()), "invite_key": hex::encode(invite.public().as_bytes()), "signature": hex::encode(join_sig.0) },
        "equivocation": { "record_cbor": hex::encode(proof.to_cbor()) },
        "copy": { "item_cbor": hex::encode(copy_item.to_cbor()), "entry_4_cbor": hex::encode(invite_entry.to_cbor()), "federation_level_of_entries_1_to_4": copy_levels },
        "export_header": { "cbor": hex::encode(header.to_cbor()) },
        "export_end": { "cbor": hex::encode(end.to_cbor()), "items": 5 },
        "invite_string": { "cbor": hex::encode(invite_string.to_cbor()), "string": invite_string.to_string() },
    })
}

/// The vectors as they appear in PROTOCOL.md (between the vector markers).
fn markdown(v: &Value) -> String {
    let mut s = String::new();
    s.push_str("Keys (the seed is 32 bytes of the same value):\n\n| seed | public key | did:key |\n|---|---|---|\n");
    for k in v["keys"].as_array().unwrap() {
        s.push_str(&format!(
            "| `{}…` | `{}` | `{}` |\n",
            &k["seed"].as_str().unwrap()[..8],
            k["public"].as_str().unwrap(),
            k["did"].as_str().unwrap()
        ));
    }
    let g = &v["genesis"];
    s.push_str(&format!(
        "\n#### genesis\n\nFounders: keys 1 and 2; node key: key 3; default rules; created 2026-01-01T00:00:00Z.\n\n```text\nbody_cbor   {}\ncouncil_id  {}\nsig[0]      {}\nsig[1]      {}\n```\n",
        g["body_cbor"].as_str().unwrap(),
        g["council_id"].as_str().unwrap(),
        g["signatures"][0].as_str().unwrap(),
        g["signatures"][1].as_str().unwrap()
    ));
    for r in v["records"].as_array().unwrap() {
        s.push_str(&format!(
            "\n#### {}\n\n{}.\n\n```text\nbody_cbor    {}\nbody_sha256  {}\nsigner       {}\nsignature    {}\n```\n",
            r["name"].as_str().unwrap(),
            r["about"].as_str().unwrap(),
            r["body_cbor"].as_str().unwrap(),
            r["body_sha256"].as_str().unwrap(),
            r["signer"].as_str().unwrap(),
            r["signature"].as_str().unwrap()
        ));
    }
    s.push_str(&format!(
        "\n#### charter and join statement\n\n```text\ncharter_cbor     {}\nfederation_id    {}\njoin_cbor        {}\njoin_signature   {}  (by key 4, the invite key)\n```\n",
        v["charter"]["cbor"].as_str().unwrap(),
        v["charter"]["federation_id"].as_str().unwrap(),
        v["join"]["statement_cbor"].as_str().unwrap(),
        v["join"]["signature"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### a federation of federations (§8.1)\n\nThe charter of the higher federation, {}; and the id a motion opened there by a federation's act would have, if the federation motion that carried it had the id `carrier` (here, that of the mandate motion above, for the example's sake):\n\n```text\ncharter_cbor     {}\nfederation_id    {}\ncarrier          {}\nopened_id        {}\n```\n",
        v["higher_charter"]["about"].as_str().unwrap(),
        v["higher_charter"]["cbor"].as_str().unwrap(),
        v["higher_charter"]["federation_id"].as_str().unwrap(),
        v["opened"]["carrier"].as_str().unwrap(),
        v["opened"]["id"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### device proof and device rules\n\nWhat key 5 signs to be added to member 2 (the `proof` of the `device (add)` record), and council rules whose device rules are not the default (at most 2 keys per member, added by council act):\n\n```text\nproof_cbor       {}\nproof_signature  {}  (by key 5)\nrules_cbor       {}\n```\n",
        v["device_proof"]["cbor"].as_str().unwrap(),
        v["device_proof"]["signature"].as_str().unwrap(),
        v["rules_with_devices"]["cbor"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### receipt (for entry 2)\n\nThe node's acknowledgement of member 2's vote: entry 2, whole.\n\n```text\n{}\n```\n",
        v["receipt"]["cbor"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### a federation-level copy (§12.9)\n\nOf entries 1 to 4 above, which are federation-level: {:?} (entry 1 is a motion that enacts nothing, 2 a ballot, 3 that motion's close, 4 an invite). A copy of that log is its copy item (the genesis above, as `partial-genesis`) and then entry 4 alone, which a copy applies although `seq` jumps from 0 to 4:\n\n```text\ncopy_item  {}\nentry_4    {}\n```\n",
        v["copy"]["federation_level_of_entries_1_to_4"].as_array().unwrap().iter().map(|b| b.as_bool().unwrap()).collect::<Vec<_>>(),
        v["copy"]["item_cbor"].as_str().unwrap(),
        v["copy"]["entry_4_cbor"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### export header item\n\n```text\n{}\n```\n",
        v["export_header"]["cbor"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### export end item (5 items before it)\n\n```text\n{}\n```\n",
        v["export_end"]["cbor"].as_str().unwrap()
    ));
    s.push_str(&format!(
        "\n#### invite string (§12.5)\n\nFor the federation above, issued by the council above, with key 4 as the invite key, expiring 2026-01-08T00:00:00Z, one address. The CBOR, then the string (Base58Check of it):\n\n```text\n{}\n{}\n```\n",
        v["invite_string"]["cbor"].as_str().unwrap(),
        v["invite_string"]["string"].as_str().unwrap()
    ));
    s.push_str("\nThe full signed records (and an equivocation proof) are in `docs/vectors/records.json`.\n");
    s
}

const BEGIN: &str = "<!-- vectors:begin (generated by crates/council-core/tests/vectors.rs) -->\n";
const END: &str = "<!-- vectors:end -->";

fn bless() -> bool {
    std::env::var_os("COUNCILNET_BLESS").is_some()
}

#[test]
fn published_record_vectors_match() {
    let v = build();
    let text = serde_json::to_string_pretty(&v).unwrap() + "\n";
    let path = root().join("docs/vectors/records.json");
    if bless() {
        std::fs::write(&path, &text).unwrap();
    }
    let published = std::fs::read_to_string(&path).expect("docs/vectors/records.json exists");
    assert_eq!(published, text, "docs/vectors/records.json is out of date (see the module docs)");

    let md_path = root().join("docs/PROTOCOL.md");
    let md = std::fs::read_to_string(&md_path).unwrap();
    let (a, rest) = md.split_once(BEGIN).expect("PROTOCOL.md has the vectors:begin marker");
    let (_, b) = rest.split_once(END).expect("PROTOCOL.md has the vectors:end marker");
    let want = format!("{a}{BEGIN}{}{END}{b}", markdown(&v));
    if bless() {
        std::fs::write(&md_path, &want).unwrap();
        return;
    }
    assert_eq!(md, want, "the vectors in docs/PROTOCOL.md are out of date (see the module docs)");
}

#[test]
fn published_vectors_decode_and_verify() {
    let v = build();
    for r in v["records"].as_array().unwrap() {
        let body = hex::decode(r["body_cbor"].as_str().unwrap()).unwrap();
        let sig: [u8; 64] = hex::decode(r["signature"].as_str().unwrap()).unwrap().try_into().unwrap();
        let key: [u8; 32] = hex::decode(r["signer"].as_str().unwrap()).unwrap().try_into().unwrap();
        let key = council_core::PublicKey::from_bytes(&key).unwrap();
        assert!(key.verify(&body, &council_core::Signature(sig)), "{}", r["name"]);
        assert_eq!(Hash::of(&body).to_hex(), r["body_sha256"].as_str().unwrap());
    }
    let g = Genesis::from_cbor(&hex::decode(v["genesis"]["record_cbor"].as_str().unwrap()).unwrap()).unwrap();
    assert!(council_core::verify::verify_genesis(g).is_ok());
}

#[test]
fn published_sample_export_matches_and_verifies() {
    let mut bytes = Vec::new();
    write_sample(&SampleParams { members: 3, motions: 3, votes_per_motion: 4 }, &mut bytes).unwrap();
    let path = root().join("docs/vectors/small-valid.cnx");
    if bless() {
        std::fs::write(&path, &bytes).unwrap();
    }
    let published = std::fs::read(&path).expect("docs/vectors/small-valid.cnx exists");
    assert!(published == bytes, "docs/vectors/small-valid.cnx is out of date (see the module docs)");
    let r = verify_reader(&published[..]);
    assert!(r.valid);
    let summary = json!({
        "valid": r.valid,
        "councils": r.councils.iter().map(|c| json!({
            "id": c.id, "name": c.name, "entries": c.entries, "members": c.members.len(),
            "motions": c.motions.iter().map(|m| json!({"id": m.id, "outcome": m.outcome, "counts": m.counts})).collect::<Vec<_>>(),
            "mandates": c.mandates.iter().map(|m| json!({"id": m.id, "status": m.status})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "federations": r.federations.iter().map(|f| json!({
            "id": f.id,
            "members": f.members.iter().map(|m| json!({"council": m.council, "left": m.left_at.is_some()})).collect::<Vec<_>>(),
            "motions": f.motions.iter().map(|m| json!({"id": m.id, "outcome": m.outcome, "counts": m.counts,
                "votes": m.votes.iter().map(|v| json!({"council": v.council, "status": v.status})).collect::<Vec<_>>()})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "checked": { "signatures": r.checked.signatures, "entries": r.checked.entries, "ballots": r.checked.ballots },
    });
    let text = serde_json::to_string_pretty(&summary).unwrap() + "\n";
    let vpath = root().join("docs/vectors/small-valid.verdict.json");
    if bless() {
        std::fs::write(&vpath, &text).unwrap();
    }
    assert_eq!(std::fs::read_to_string(&vpath).expect("verdict file exists"), text);
}

/// The copy vector: a copy item and entry 4 alone. It applies (the copy stands at place 4,
/// its signatures checked), and, as the exported council's own log, it is refused: an
/// export holds its own council whole.
#[test]
fn the_copy_vector_holds_entry_4_alone_and_is_never_the_exported_log() {
    use council_core::cbor::Cbor;
    let v = build();
    assert_eq!(v["copy"]["federation_level_of_entries_1_to_4"], json!([false, false, false, true]));
    let copy = ExportItem::from_cbor(&hex::decode(v["copy"]["item_cbor"].as_str().unwrap()).unwrap()).unwrap();
    let ExportItem::PartialGenesis(g) = copy else { panic!("a copy item") };
    let entry4 =
        council_core::records::Entry::from_cbor(&hex::decode(v["copy"]["entry_4_cbor"].as_str().unwrap()).unwrap())
            .unwrap();
    let mut w = council_core::export::ExportWriter::new(Vec::new(), g.council_id()).unwrap();
    w.partial_genesis(&g).unwrap();
    w.entry(entry4).unwrap();
    let r = verify_reader(&w.finish().unwrap()[..]);
    assert!(!r.valid, "the exported council's own log is never a copy");
    assert!(r.errors.iter().any(|e| e.reason.contains("federation-level copy")), "{:?}", r.errors);
    assert_eq!(r.councils[0].entries, 4, "the copy stands at place 4");
    assert!(r.councils[0].partial);
}

#[test]
fn the_vector_entries_1_to_3_form_a_valid_log() {
    use council_core::cbor::Cbor;
    let v = build();
    let council = Hash::from_hex(v["genesis"]["council_id"].as_str().unwrap()).unwrap();
    let mut w = council_core::export::ExportWriter::new(Vec::new(), council).unwrap();
    w.genesis(&Genesis::from_cbor(&hex::decode(v["genesis"]["record_cbor"].as_str().unwrap()).unwrap()).unwrap())
        .unwrap();
    let entries = v["records"].as_array().unwrap().iter().filter(|r| r["name"].as_str().unwrap().starts_with("entry "));
    for r in entries.take(3) {
        let e =
            council_core::records::Entry::from_cbor(&hex::decode(r["record_cbor"].as_str().unwrap()).unwrap()).unwrap();
        w.entry(e).unwrap();
    }
    let bytes = w.finish().unwrap();
    let r = verify_reader(&bytes[..]);
    assert!(r.valid, "{:?}", r.errors);
    assert_eq!(r.councils[0].motions[0].outcome, Some(Outcome::Passed));
}
