//! `POST /v1/batch` (PROTOCOL.md §12.8): many member-signed records in one request, each
//! judged on its own with the verdict its single endpoint gives, and the whole batch
//! refused only when it is not a batch or is too large, before its body is read.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{now, Node};
use council_core::cbor::Cbor;
use council_core::receipt::Receipt;
use council_core::records::{
    Action, MotionBody, MotionForm, Payload, RankingBody, Rule, Share, Signed, Threshold, VoteBody,
};
use council_core::sample::key_from_label;
use council_core::SecretKey;
use serde_json::{json, Value};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

fn motion(n: &Node, nonce: u64) -> Signed<MotionBody> {
    Signed::sign(
        MotionBody {
            council: n.council,
            title: format!("Batch motion {nonce}"),
            form: MotionForm::YesNo(Action::Resolution),
            // Every member must vote before it can settle: it stays open through the test.
            rule: Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY },
            closes_at: now() + 3600,
            nonce,
        },
        &n.members[0],
    )
}

fn ballot(n: &Node, m: &Signed<MotionBody>, key: &SecretKey, choice: u32, counter: u64) -> Signed<VoteBody> {
    Signed::sign(VoteBody { council: n.council, motion: m.id(), choice, counter, is_final: false }, key)
}

fn item(kind: &str, record: &[u8]) -> Value {
    json!({ "kind": kind, "record": hex::encode(record) })
}

/// The log's length, as the council view gives it.
fn log_len(n: &Node) -> u64 {
    n.get("/v1/log?at=1")["head"].as_u64().unwrap()
}

#[test]
fn each_record_of_a_batch_gets_the_verdict_of_its_single_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let made = Node::create(dir.path(), "batch");
    let n = Node::start(&rt, "batch", &made, &[]);
    let m = motion(&n, 1);
    let before = log_len(&n);

    let good = ballot(&n, &m, &n.members[0], 0, 1);
    let mut forged = ballot(&n, &m, &n.members[1], 0, 1);
    forged.signature.0[5] ^= 1;
    let stranger = ballot(&n, &m, &key_from_label("batch/stranger"), 0, 1);
    let newer = ballot(&n, &m, &n.members[2], 1, 2);
    let older = ballot(&n, &m, &n.members[2], 0, 1);
    let ranking = Signed::sign(
        RankingBody { council: n.council, motion: m.id(), ranking: vec![0, 1], counter: 1, is_final: false },
        &n.members[1],
    );
    let items = vec![
        // The motion first: the ballots after it, in the same batch, find it open.
        item("motion", &m.to_cbor()),
        item("vote", &good.to_cbor()),
        item("vote", &forged.to_cbor()),
        item("vote", &stranger.to_cbor()),
        item("vote", &good.to_cbor()),
        item("vote", &newer.to_cbor()),
        item("vote", &older.to_cbor()),
        item("ranking", &ranking.to_cbor()),
        item("banana", &good.to_cbor()),
        json!({ "kind": "vote", "record": "not hex" }),
        item("vote", &m.to_cbor()),
    ];
    let (status, answer) = n.post("/v1/batch", json!({ "records": items }));
    assert_eq!(status, 200, "{answer}");
    let results = answer["results"].as_array().unwrap();
    let verdicts: Vec<(u64, &str)> =
        results.iter().map(|r| (r["status"].as_u64().unwrap(), r["error"]["code"].as_str().unwrap_or(""))).collect();
    assert_eq!(
        verdicts,
        vec![
            (201, ""),
            (201, ""),
            (400, "bad-signature"),
            (403, "not-a-member"),
            (200, ""),
            (201, ""),
            (409, "stale-ballot"),
            (422, "choice-expected"),
            (400, "unknown-kind"),
            (400, "malformed-record"),
            (400, "malformed-record"),
        ],
        "{answer:#}"
    );
    // The duplicate is acknowledged with the same entry as the first copy.
    assert_eq!(results[4]["accepted"]["duplicate"], true);
    assert_eq!(results[4]["accepted"]["entry"], results[1]["accepted"]["entry"]);
    // Each receipt is a node-signed entry holding exactly the record it acknowledges.
    for (i, record) in [(0, Payload::Motion(Box::new(m.clone()))), (1, Payload::Vote(good)), (5, Payload::Vote(newer))]
    {
        let hex = results[i]["accepted"]["receipt"].as_str().unwrap();
        let receipt = Receipt::from_cbor(&hex::decode(hex).unwrap()).unwrap();
        assert_eq!(receipt.entry.body.council, n.council);
        assert_eq!(receipt.entry.body.payload, record, "result {i}");
        assert!(receipt.entry.signature_valid(), "result {i}");
    }
    // Three new entries, and nothing else.
    assert_eq!(log_len(&n), before + 3);

    // The same records one by one, to the single endpoints, get the same verdicts (the
    // accepted ones now as duplicates).
    let singles = [
        ("/v1/votes", forged.to_cbor(), 400, "bad-signature"),
        ("/v1/votes", stranger.to_cbor(), 403, "not-a-member"),
        ("/v1/votes", older.to_cbor(), 409, "stale-ballot"),
        ("/v1/rankings", ranking.to_cbor(), 422, "choice-expected"),
    ];
    for (path, record, want, code) in singles {
        let (s, r) = n.post_record(path, &record);
        assert_eq!((s, r["error"]["code"].as_str().unwrap()), (want, code), "{path}: {r}");
    }
    assert_eq!(log_len(&n), before + 3);
}

#[test]
fn a_body_that_is_not_a_batch_or_is_too_large_is_refused_whole() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let made = Node::create(dir.path(), "framing");
    let n = Node::start(&rt, "framing", &made, &[]);
    let m = motion(&n, 2);
    let (s, r) = n.post_record("/v1/motions", &m.to_cbor());
    assert_eq!(s, 201, "{r}");
    let before = log_len(&n);
    let good = item("vote", &ballot(&n, &m, &n.members[0], 0, 1).to_cbor());

    for body in [
        json!({ "records": "all of them" }),
        json!({ "record": good["record"] }),
        json!({ "records": [good, { "kind": "vote" }] }),
        json!({ "records": [good], "also": 1 }),
        json!([good]),
    ] {
        let (s, r) = n.post("/v1/batch", body.clone());
        assert_eq!((s, r["error"]["code"].as_str()), (400, Some("malformed-body")), "{body}: {r}");
    }
    let too_many: Vec<Value> = (0..=1024).map(|_| good.clone()).collect();
    let (s, r) = n.post("/v1/batch", json!({ "records": too_many }));
    assert_eq!((s, r["error"]["code"].as_str()), (413, Some("batch-too-large")), "{r}");
    // Nothing of a refused batch is logged, not even its one good record.
    assert_eq!(log_len(&n), before);

    // A body declared larger than the limit is refused before a byte of it is sent: the
    // answer comes while the client still withholds the body.
    let addr = n.api.trim_start_matches("http://");
    let mut c = TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        c,
        "POST /v1/batch HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: 100000000\r\n\r\n",
        n.token
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        let k = c.read(&mut buf).expect("the node answers without reading the body");
        assert!(k > 0, "the node closed the connection without an answer");
        answer.extend_from_slice(&buf[..k]);
    }
    let head = String::from_utf8_lossy(&answer);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // Without the token, nothing is judged at all.
    let r = ureq::post(&format!("{}/v1/batch", n.api)).send_json(json!({ "records": [good] }));
    assert!(matches!(r, Err(ureq::Error::Status(401, _))), "{r:?}");
    assert_eq!(log_len(&n), before);
    // The node still takes records.
    let (s, r) = n.post("/v1/batch", json!({ "records": [good] }));
    assert_eq!((s, r["results"][0]["status"].as_u64()), (200, Some(201)), "{r}");
    assert_eq!(log_len(&n), before + 1);
}

#[test]
fn a_record_gets_in_a_batch_what_its_own_endpoint_gives_it_size_and_kind_included() {
    let dir = tempfile::tempdir().unwrap();
    let rt = rt();
    let made = Node::create(dir.path(), "limits");
    // Single requests of at most 2 KiB: a motion with a long title is too large for one.
    let n = Node::start_with(&rt, "limits", &made, &[], |c| c.api.max_body_bytes = 2048);
    let mut long = motion(&n, 3).body;
    long.title = "a long title ".repeat(100);
    let long = Signed::sign(long, &n.members[0]);
    let (s, r) = n.post_record("/v1/motions", &long.to_cbor());
    assert_eq!((s, r["error"]["code"].as_str()), (413, Some("malformed-body")), "{r}");
    // Invites, by their own endpoint and in a batch: the same verdicts (one expired, one
    // good), and each is logged once.
    let invite = |max_uses: u32, expires_at: u64| {
        let body = council_core::records::InviteBody {
            council: n.council,
            federation: council_core::Hash::of(b"some federation"),
            invite_key: key_from_label("limits/invite").public(),
            max_uses,
            expires_at,
        };
        Signed::sign(body, &n.members[0])
    };
    let single: Vec<(u16, Option<String>)> = [invite(1, now() + 600), invite(1, 1)]
        .iter()
        .map(|i| {
            let (s, r) = n.post_record("/v1/invites", &i.to_cbor());
            (s, r["error"]["code"].as_str().map(str::to_owned))
        })
        .collect();
    assert_eq!(single, vec![(201, None), (422, Some("invalid-invite".into()))]);
    let before = log_len(&n);
    let items = vec![
        item("motion", &long.to_cbor()),
        item("invite", &invite(2, now() + 600).to_cbor()),
        item("invite", &invite(2, 1).to_cbor()),
    ];
    let (status, answer) = n.post("/v1/batch", json!({ "records": items }));
    assert_eq!(status, 200, "{answer}");
    let verdicts: Vec<(u64, Option<&str>)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["status"].as_u64().unwrap(), r["error"]["code"].as_str()))
        .collect();
    assert_eq!(verdicts, vec![(413, Some("malformed-body")), (201, None), (422, Some("invalid-invite"))], "{answer:#}");
    assert_eq!(log_len(&n), before + 1);

    // Not JSON, as every endpoint: 415, and nothing judged.
    let r = ureq::post(&format!("{}/v1/batch", n.api))
        .set("Authorization", &format!("Bearer {}", n.token))
        .set("Content-Type", "text/plain")
        .send_string(&json!({ "records": [] }).to_string());
    match r {
        Err(ureq::Error::Status(415, r)) => {
            assert_eq!(r.into_json::<Value>().unwrap()["error"]["code"], "malformed-body");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(log_len(&n), before + 1);
}
