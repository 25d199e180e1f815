//! The member endpoint under attack: strangers, replays, removed members, other web
//! sites, floods of requests and of idle connections. Each test names its attack.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::{init_logs, now, Node};
use council_core::cbor::Cbor;
use council_core::receipt::Receipt;
use council_core::records::{Action, Payload, SessionBody, Signed, VoteBody};
use council_core::sample::key_from_label;
use council_core::{Hash, SecretKey};
use council_node::datadir;
use serde_json::Value;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The member endpoint of a running node.
struct Members {
    base: String,
    addr: SocketAddr,
}

impl Members {
    fn of(n: &Node) -> Members {
        let a = std::fs::read_to_string(n.dir.join(datadir::MEMBERS_ADDR)).unwrap();
        let addr: SocketAddr = a.trim().parse().unwrap();
        Members { base: format!("http://{addr}"), addr }
    }

    fn call(&self, r: Result<ureq::Response, ureq::Error>) -> (u16, Value) {
        match r {
            Ok(r) => (r.status(), r.into_json().unwrap_or(Value::Null)),
            Err(ureq::Error::Status(s, r)) => (s, r.into_json().unwrap_or(Value::Null)),
            Err(e) => panic!("{e}"),
        }
    }

    fn challenge(&self) -> (Hash, Hash) {
        let (s, v) = self.call(ureq::post(&format!("{}/v1/session/challenge", self.base)).call());
        assert_eq!(s, 200, "{v}");
        (
            Hash::from_hex(v["council"].as_str().unwrap()).unwrap(),
            Hash::from_hex(v["challenge"].as_str().unwrap()).unwrap(),
        )
    }

    fn answer(&self, signed: &Signed<SessionBody>) -> (u16, Value) {
        let body = serde_json::json!({ "record": hex::encode(signed.to_cbor()) });
        self.call(ureq::post(&format!("{}/v1/session", self.base)).send_json(body))
    }

    /// Signs in: the session token.
    fn sign_in(&self, key: &SecretKey) -> String {
        let (council, challenge) = self.challenge();
        let (s, v) = self.answer(&Signed::sign(SessionBody { council, challenge }, key));
        assert_eq!(s, 201, "{v}");
        v["session"].as_str().unwrap().to_owned()
    }

    fn get(&self, session: Option<&str>, path: &str) -> (u16, Value) {
        let mut r = ureq::get(&format!("{}{path}", self.base));
        if let Some(s) = session {
            r = r.set("Authorization", &format!("Session {s}"));
        }
        self.call(r.call())
    }

    fn post_record(&self, path: &str, record: &[u8]) -> (u16, Value) {
        let body = serde_json::json!({ "record": hex::encode(record) });
        self.call(ureq::post(&format!("{}{path}", self.base)).send_json(body))
    }
}

fn open_motion(n: &Node, m: &Members, key: &SecretKey) -> Hash {
    use council_core::records::{MotionBody, MotionForm, Rule, Share, Threshold};
    let body = MotionBody {
        council: n.council,
        title: "Adopt the rota".into(),
        form: MotionForm::YesNo(Action::Resolution),
        rule: Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY },
        closes_at: now() + 3600,
        nonce: 7,
    };
    let s = Signed::sign(body, key);
    let (st, v) = m.post_record("/v1/motions", &s.to_cbor());
    assert_eq!(st, 201, "{v}");
    s.id()
}

#[test]
fn a_member_signs_in_votes_and_gets_a_receipt_with_no_token() {
    init_logs();
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let made = Node::create(tmp.path(), "m1");
    let mut n = Node::start(&rt, "m1", &made, &[]);
    let m = Members::of(&n);
    let a = &n.members[0];

    // Writes need no session: the member's signature is the authority.
    let motion = open_motion(&n, &m, a);
    let vote = Signed::sign(VoteBody { council: n.council, motion, choice: 0, counter: 1, is_final: false }, a);
    let (s, v) = m.post_record("/v1/votes", &vote.to_cbor());
    assert_eq!(s, 201, "{v}");
    // The receipt is the node-signed entry holding the ballot, and verifies offline.
    let r = Receipt::from_cbor(&hex::decode(v["receipt"].as_str().unwrap()).unwrap()).unwrap().verify().unwrap();
    assert_eq!(r.seq(), v["seq"].as_u64().unwrap());
    assert_eq!(r.entry_id().to_hex(), v["entry"].as_str().unwrap());
    assert_eq!(r.entry.signer, read_node_key(&n).public());
    assert!(matches!(&r.entry.body.payload, Payload::Vote(x) if x.to_cbor() == vote.to_cbor()));
    // The same record again: a duplicate, with the same receipt.
    let (s, v2) = m.post_record("/v1/votes", &vote.to_cbor());
    assert_eq!((s, v2["duplicate"].as_bool(), v2["receipt"].as_str()), (200, Some(true), v["receipt"].as_str()));

    // Reads need a session.
    let (s, v) = m.get(None, "/v1/council");
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("no-session")));
    let session = m.sign_in(a);
    let (s, report) = m.get(Some(&session), "/v1/council");
    assert_eq!(s, 200);
    assert_eq!(report["id"].as_str(), Some(n.council.to_hex().as_str()));
    // The motion, with the member's own ballot.
    let (s, mv) = m.get(Some(&session), &format!("/v1/motions/{motion}"));
    assert_eq!(s, 200, "{mv}");
    assert_eq!(mv["my_ballot"], serde_json::json!({ "choice": 0, "counter": 1, "final": false }));
    // The log at the receipt's place: the same entry.
    let (s, log) = m.get(Some(&session), &format!("/v1/log?at={},999999", r.seq()));
    assert_eq!(s, 200, "{log}");
    assert_eq!(log["entries"][0]["entry"].as_str(), Some(r.entry_id().to_hex().as_str()));
    assert!(log["entries"][1].is_null());
    // The operator's token opens nothing here, and the operator routes do not exist.
    let (s, _) = m
        .call(ureq::get(&format!("{}/v1/council", m.base)).set("Authorization", &format!("Bearer {}", n.token)).call());
    assert_eq!(s, 401);
    let (s, _) = m.call(
        ureq::post(&format!("{}/v1/peers", m.base)).send_json(serde_json::json!({"addr": "/ip4/127.0.0.1/tcp/1"})),
    );
    assert_eq!(s, 404);
    n.stop(&rt);
}

fn read_node_key(n: &Node) -> SecretKey {
    datadir::load_key(&n.dir.join(datadir::NODE_KEY)).unwrap()
}

#[test]
fn strangers_replays_and_removed_members_are_refused() {
    init_logs();
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let made = Node::create(tmp.path(), "m2");
    let mut n = Node::start(&rt, "m2", &made, &[]);
    let m = Members::of(&n);

    // Attack: an outsider signs the challenge with a key of their own.
    let stranger = key_from_label("m2/stranger");
    let (council, challenge) = m.challenge();
    let (s, v) = m.answer(&Signed::sign(SessionBody { council, challenge }, &stranger));
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("not-a-member")), "{v}");
    // ... or the operator, with the node key.
    let (council, challenge) = m.challenge();
    let (s, _) = m.answer(&Signed::sign(SessionBody { council, challenge }, &read_node_key(&n)));
    assert_eq!(s, 403);
    // ... or posts a record signed by a stranger: refused by the council's rules.
    let vote = Signed::sign(
        VoteBody { council: n.council, motion: Hash::of(b"x"), choice: 0, counter: 1, is_final: false },
        &stranger,
    );
    let (s, v) = m.post_record("/v1/votes", &vote.to_cbor());
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("not-a-member")));

    // Attack: a captured answer is replayed.
    let c = &n.members[2];
    let (council, challenge) = m.challenge();
    let answer = Signed::sign(SessionBody { council, challenge }, c);
    assert_eq!(m.answer(&answer).0, 201);
    let (s, v) = m.answer(&answer);
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("replayed-challenge")));
    // A challenge the node never made, and one for another council.
    let (s, v) = m.answer(&Signed::sign(SessionBody { council, challenge: Hash::of(b"made up") }, c));
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("stale-challenge")));
    let (_, challenge) = m.challenge();
    let (s, _) = m.answer(&Signed::sign(SessionBody { council: Hash::of(b"other"), challenge }, c));
    assert_eq!(s, 401);
    // A signature by another key than the one named.
    let (council, challenge) = m.challenge();
    let mut forged = Signed::sign(SessionBody { council, challenge }, &stranger);
    forged.signer = c.public();
    let (s, v) = m.answer(&forged);
    assert_eq!((s, v["error"]["code"].as_str()), (401, Some("bad-signature")));

    // Attack: a member keeps using a session after the council removed them.
    let session = m.sign_in(c);
    assert_eq!(m.get(Some(&session), "/v1/council").0, 200);
    n.pass(Action::RemoveMember(c.public()));
    common::wait("the removal is in force", || n.get("/v1/council")["members"].as_array().unwrap().len() == 2);
    let (s, v) = m.get(Some(&session), "/v1/council");
    assert_eq!((s, v["error"]["code"].as_str()), (403, Some("not-a-member")), "{v}");
    // And the session is gone for good.
    assert_eq!(m.get(Some(&session), "/v1/council").0, 401);

    // A member who replaces their key: the old key's session ends at once.
    let b = &n.members[1];
    let session = m.sign_in(b);
    let new_key = key_from_label("m2/member1/new");
    n.pass(Action::RotateKey { member: b.public(), new_key: new_key.public() });
    let rotated = |r: Value| {
        let did = serde_json::json!(new_key.public().to_did());
        r["members"].as_array().unwrap().iter().any(|x| x["keys"].as_array().is_some_and(|ks| ks.contains(&did)))
    };
    common::wait("the rotation is in force", || rotated(n.get("/v1/council")));
    assert_eq!(m.get(Some(&session), "/v1/council").0, 403);
    let fresh = m.sign_in(&new_key);
    assert_eq!(m.get(Some(&fresh), "/v1/council").0, 200);

    // A session that was never issued.
    assert_eq!(m.get(Some(&"ab".repeat(32)), "/v1/council").0, 401);
    assert_eq!(m.get(Some("not hex"), "/v1/council").0, 401);
    n.stop(&rt);
}

/// Sends a raw request and returns the status line.
fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.lines().next().unwrap_or("").to_owned()
}

#[test]
fn other_web_sites_cannot_drive_a_members_browser() {
    init_logs();
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let made = Node::create(tmp.path(), "m3");
    let mut n = Node::start(&rt, "m3", &made, &[]);
    let m = Members::of(&n);
    let session = m.sign_in(&n.members[0]);
    let get = |host: &str, extra: &str| {
        raw(
            m.addr,
            &format!(
                "GET /v1/council HTTP/1.1\r\nHost: {host}\r\nCookie: council_session={session}\r\n{extra}Connection: close\r\n\r\n"
            ),
        )
    };
    let own = format!("127.0.0.1:{}", m.addr.port());
    assert!(get(&own, "").contains(" 200 "), "the cookie works for the node's own page");
    assert!(get(&own, &format!("Origin: http://{own}\r\n")).contains(" 200 "));
    // Attack: a page on another site makes the member's browser call the node.
    assert!(get(&own, "Origin: http://evil.example\r\n").contains(" 403 "));
    // Attack: DNS rebinding, a host name of the attacker's that points at the node.
    assert!(get("evil.example", "").contains(" 421 "));
    n.stop(&rt);
}

#[test]
fn floods_of_requests_and_idle_connections_leave_members_served() {
    init_logs();
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let made = Node::create(tmp.path(), "m4");
    // A slow refill, so that no machine is slow enough to stay under the limit.
    let mut n = Node::start_with(&rt, "m4", &made, &[], |c| {
        c.members.requests_per_sec = 1;
        c.members.burst = 30;
    });
    let m = Members::of(&n);

    // Attack: one address holds open as many connections as it may, sending nothing.
    let cap = 32; // members.max_connections_per_ip, the default
    let idle: Vec<TcpStream> = (0..cap).map(|_| TcpStream::connect(m.addr).unwrap()).collect();
    // One more from the same address is closed at once, without an answer.
    let extra = raw(
        m.addr,
        "POST /v1/session/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(extra, "", "a connection over the cap gets no answer");
    // Another address is served meanwhile (the whole 127.0.0.0/8 is loopback).
    let other = raw_from(
        &rt,
        "127.0.0.2",
        m.addr,
        "POST /v1/session/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
    );
    assert!(other.starts_with("HTTP/1.1 200"), "{other}");
    // The idle connections are closed once the header deadline passes, freeing the slots.
    let start = Instant::now();
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap_or(0), 0, "an idle connection is closed, not answered");
    }
    let waited = start.elapsed();
    assert!(waited < Duration::from_secs(50), "idle connections were held {waited:?}");
    let (s, _) = m.call(ureq::post(&format!("{}/v1/session/challenge", m.base)).call());
    assert_eq!(s, 200, "the address is served again");

    // Attack: one session fires requests as fast as it can: it is slowed (429), and
    // other members are still served.
    let hog = m.sign_in(&n.members[0]);
    let answers: Vec<u16> = (0..100).map(|_| m.get(Some(&hog), "/v1/log?at=1").0).collect();
    let limited = answers.iter().filter(|s| **s == 429).count();
    assert!(limited >= 30, "100 requests in a row, a burst of 30 and 1 a second: only {limited} limited");
    assert!(answers.iter().all(|s| *s == 200 || *s == 429), "{answers:?}");
    let other = m.sign_in(&n.members[1]);
    assert_eq!(m.get(Some(&other), "/v1/council").0, 200);

    // Oversized bodies are refused and the node stays up.
    // The node answers 413 as soon as the length is over the limit, and may close the
    // connection before the client has sent it all: a broken pipe is the same refusal.
    let big = serde_json::json!({ "record": "00".repeat(2_000_000) });
    match ureq::post(&format!("{}/v1/votes", m.base)).send_json(big) {
        Err(ureq::Error::Status(413, _)) | Err(ureq::Error::Transport(_)) => {}
        other => panic!("an oversized body was not refused: {other:?}"),
    }
    assert_eq!(m.get(Some(&other), "/v1/council").0, 200);
    n.stop(&rt);
}

/// A blocking connection from a given loopback address (all of 127.0.0.0/8 is loopback).
fn connect_from(rt: &tokio::runtime::Runtime, source: &str, addr: SocketAddr) -> TcpStream {
    let sock = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(format!("{source}:0").parse().unwrap()).unwrap();
        sock.connect(addr).await.unwrap()
    });
    let s = sock.into_std().unwrap();
    s.set_nonblocking(false).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s
}

/// Sends a request from a given loopback address and returns the whole answer.
fn raw_from(rt: &tokio::runtime::Runtime, source: &str, addr: SocketAddr, request: &str) -> String {
    let mut s = connect_from(rt, source, addr);
    let _ = s.write_all(request.as_bytes());
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

#[test]
fn a_full_endpoint_sheds_idle_connections_for_members() {
    init_logs();
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let made = Node::create(tmp.path(), "m5");
    let mut n = Node::start_with(&rt, "m5", &made, &[], |c| {
        c.members.max_connections = 16;
        c.members.max_connections_per_ip = 4;
    });
    let m = Members::of(&n);
    // Attack: four addresses each hold four connections that never send a request: the
    // endpoint is full.
    let mut idle = Vec::new();
    for a in 2..6 {
        for _ in 0..4 {
            idle.push(connect_from(&rt, &format!("127.0.0.{a}"), m.addr));
        }
    }
    std::thread::sleep(Duration::from_millis(300));
    // A member from another address is served all the same, time after time: each time
    // the oldest idle connection is shed to make room.
    let req =
        "POST /v1/session/challenge HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    for _ in 0..5 {
        let answer = raw_from(&rt, "127.0.0.7", m.addr, req);
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    }
    drop(idle);
    n.stop(&rt);
}

#[test]
fn the_council_view_does_not_grow_with_closed_motions() {
    use council_core::records::{MotionBody, MotionForm, Rule, Share, Threshold};
    init_logs();
    let rt = rt();
    let tmp = tempfile::tempdir().unwrap();
    let made = Node::create(tmp.path(), "m6");
    let mut n = Node::start(&rt, "m6", &made, &[]);
    let m = Members::of(&n);
    let a = &n.members[0];
    // Seven motions that close within seconds, and one that stays open.
    let open_one = |title: &str, secs: u64, nonce: u64| {
        let body = MotionBody {
            council: n.council,
            title: title.into(),
            form: MotionForm::YesNo(Action::Resolution),
            rule: Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY },
            closes_at: now() + secs,
            nonce,
        };
        let s = Signed::sign(body, a);
        assert_eq!(m.post_record("/v1/motions", &s.to_cbor()).0, 201);
        s.id()
    };
    let short: Vec<Hash> = (0..7).map(|i| open_one(&format!("short {i}"), 2, i)).collect();
    let long = open_one("long", 3600, 99);
    let session = m.sign_in(a);
    common::wait("the short motions close", || {
        m.get(Some(&session), "/v1/council").1["closed_motions"].as_u64() == Some(7)
    });
    let (_, council) = m.get(Some(&session), "/v1/council");
    let listed: Vec<&str> = council["motions"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
    assert_eq!(listed, [long.to_hex()], "the council view holds the open motion only");
    // Closed motions come in pages, newest first, each page a cursor to the next.
    let mut seen = Vec::new();
    let mut before = String::new();
    loop {
        let (s, page) = m.get(Some(&session), &format!("/v1/motions?status=closed&limit=3{before}"));
        assert_eq!(s, 200, "{page}");
        let ms = page["motions"].as_array().unwrap();
        assert!(ms.len() <= 3);
        seen.extend(ms.iter().map(|x| x["id"].as_str().unwrap().to_owned()));
        match page["next"].as_u64() {
            Some(c) => before = format!("&before={c}"),
            None => break,
        }
    }
    let want: Vec<String> = short.iter().rev().map(Hash::to_hex).collect();
    assert_eq!(seen, want, "every closed motion once, newest first");
    // A motion by a unique prefix of its id, even or odd in length, closed or open.
    for (id, digits) in [(short[3], 10), (short[5], 9), (long, 7)] {
        let (s, v) = m.get(Some(&session), &format!("/v1/motions/{}", &id.to_hex()[..digits]));
        assert_eq!((s, v["id"].as_str()), (200, Some(id.to_hex().as_str())), "{digits} digits");
    }
    let (_, open) = m.get(Some(&session), "/v1/motions?status=open");
    assert_eq!(open["motions"][0]["id"].as_str(), Some(long.to_hex().as_str()));
    assert_eq!((open["motions"].as_array().unwrap().len(), open["next"].as_u64()), (1, None));
    // Bad queries are refused.
    for q in ["?status=all", "?status=closed&limit=0", "?status=closed&limit=1000", "?status=open&junk=1"] {
        assert_eq!(m.get(Some(&session), &format!("/v1/motions{q}")).0, 400, "{q}");
    }
    assert_eq!(m.get(Some(&session), "/v1/motions/abc").0, 400);
    assert_eq!(m.get(Some(&session), &format!("/v1/motions/{}", "f".repeat(64))).0, 404);
    n.stop(&rt);
}
