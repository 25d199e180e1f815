//! A council on `councild`, driven through the `council` CLI as its members would.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{councild, eventually, read_key, run, Daemon};

struct Council {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    keys: Vec<PathBuf>,
    dids: Vec<String>,
}

impl Council {
    fn key(&self, i: usize) -> &str {
        self.keys[i].to_str().unwrap()
    }
    fn data(&self) -> PathBuf {
        self.root.join("node")
    }
}

/// Five members make keys, the operator inits, every founder signs the genesis.
fn found() -> Council {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_owned();
    let mut keys = Vec::new();
    let mut dids = Vec::new();
    for i in 0..5 {
        let k = root.join(format!("member{i}.key"));
        let r = run(&["key", "new", k.to_str().unwrap()]).ok();
        dids.push(r.stdout.trim().to_owned());
        keys.push(k);
    }
    let data = root.join("node");
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--name", "Print Shop Council"];
    for d in &dids {
        args.push("--founder");
        args.push(d);
    }
    councild(&args).ok();
    let draft = data.join("genesis.draft");
    for (i, k) in keys.iter().enumerate() {
        let r = run(&["genesis", "sign", "--draft", draft.to_str().unwrap(), "--key", k.to_str().unwrap()]).ok();
        if i < 4 {
            assert!(r.stdout.contains(&format!("Still to sign: {}", 4 - i)), "{}", r.stdout);
        } else {
            assert!(r.stdout.contains("Every founder has signed"), "{}", r.stdout);
        }
    }
    Council { _tmp: tmp, root, keys, dids }
}

fn motions(d: &Daemon) -> Vec<Value> {
    d.council(&["--json", "motion", "list"]).ok().json().as_array().cloned().unwrap()
}

fn mandates(d: &Daemon) -> Vec<Value> {
    d.council(&["--json", "status"]).ok().json()["mandates"].as_array().cloned().unwrap()
}

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

fn verify(path: &Path) -> Value {
    let r = run(&["--json", "verify", path.to_str().unwrap()]);
    assert_eq!(r.code, 0, "the export does not verify:\n{}", r.stdout);
    r.json()
}

#[test]
fn a_council_from_init_to_a_verified_export() {
    let c = found();
    let d = Daemon::start(&c.data());

    // A motion; ballots, one of them changed.
    d.council(&["motion", "open", "--key", c.key(0), "--title", "Buy a second press", "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--key", c.key(0), &m, "yes"]).ok();
    let r = d.council(&["vote", "--key", c.key(1), &m, "no"]).ok();
    assert!(r.stdout.contains("ballot recorded"), "{}", r.stdout);
    let r = d.council(&["vote", "--key", c.key(1), &m, "yes"]).ok();
    assert!(r.stdout.contains("ballot changed"), "{}", r.stdout);
    // Three yes of five, but each of them may still change: the motion stays open.
    d.council(&["vote", "--key", c.key(2), &m, "yes"]).ok();
    assert_eq!(motions(&d)[0]["status"], "open");
    // The three make their yes final. A final ballot cannot be changed.
    for i in 0..2 {
        let r = d.council(&["vote", "--final", "--key", c.key(i), &m, "yes"]).ok();
        assert!(r.stdout.contains("it is final"), "{}", r.stdout);
    }
    let r = d.council(&["vote", "--key", c.key(0), &m, "no"]);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("is final"), "{}", r.stderr);
    assert_eq!(motions(&d)[0]["status"], "open");
    // The third final yes of five settles it: the motion closes at once.
    d.council(&["vote", "--final", "--key", c.key(2), &m, "yes"]).ok();
    let mo = &motions(&d)[0];
    assert_eq!(mo["outcome"]["result"], "passed");
    assert_eq!(mo["closed_early"], true);
    assert_eq!(mo["counts"], serde_json::json!([3, 0, 0]));
    assert_eq!(mo["ballots_changed"], 4);
    // Too late now.
    let late = d.council(&["vote", "--key", c.key(3), &m, "no"]);
    assert_eq!(late.code, 1);
    assert!(late.stderr.contains("is closed"), "{}", late.stderr);

    // A motion that closes by itself at its closing time, without a quorum.
    d.council(&["motion", "open", "--key", c.key(0), "--title", "Paint the door", "--closes-in", "2s"]).ok();
    let m2 = id_of(&motions(&d)[1]);
    d.council(&["vote", "--key", c.key(4), &m2, "yes"]).ok();
    eventually("the motion to close at its time", || {
        let ms = motions(&d);
        (ms[1]["status"] == "closed").then_some(())
    });
    assert_eq!(motions(&d)[1]["outcome"]["result"], "no-quorum");

    // A mandate, passed by the members.
    let fed = "ab".repeat(32);
    d.council(&[
        "mandate",
        "--key",
        c.key(0),
        "--delegate",
        &c.dids[4],
        "--federation",
        &fed,
        "--matter",
        "wages",
        "--instruct",
        "wages=0",
        "--closes-in",
        "1h",
    ])
    .ok();
    let mm = id_of(&motions(&d)[2]);
    for i in 0..3 {
        d.council(&["vote", "--final", "--key", c.key(i), &mm, "yes"]).ok();
    }
    let ms = mandates(&d);
    assert_eq!(ms.len(), 1);
    assert_eq!(ms[0]["status"], "in force");
    let mandate = id_of(&ms[0]);

    // Recalled by petition: it takes effect with the third of five signatures.
    for i in 0..2 {
        let r = d.council(&["recall", "sign", "--key", c.key(i), &mandate[..10]]).ok();
        assert!(!r.stdout.contains("RECALLED"), "{}", r.stdout);
        assert_eq!(mandates(&d)[0]["status"], "in force");
    }
    // Signing twice counts once.
    let twice = d.council(&["recall", "sign", "--key", c.key(1), &mandate]).ok();
    assert!(twice.stdout.contains("already signed"), "{}", twice.stdout);
    assert_eq!(mandates(&d)[0]["petition_signatures"], 2);
    let r = d.council(&["recall", "sign", "--key", c.key(3), &mandate]).ok();
    assert!(r.stdout.contains("RECALLED"), "{}", r.stdout);
    assert_eq!(mandates(&d)[0]["status"], "recalled");
    assert_eq!(mandates(&d)[0]["recall"]["by"], "petition");

    // Export, and verify offline.
    let out = c.root.join("council.cnx");
    d.council(&["export", "--out", out.to_str().unwrap()]).ok();
    d.stop();
    let v = verify(&out);
    let council = &v["councils"][0];
    assert_eq!(council["name"], "Print Shop Council");
    assert_eq!(council["motions"].as_array().unwrap().len(), 3);
    assert_eq!(council["mandates"][0]["status"], "recalled");
    assert_eq!(council["motions"][0]["outcome"]["result"], "passed");
}

#[test]
fn everything_is_there_after_a_restart() {
    let c = found();
    let d = Daemon::start(&c.data());
    d.council(&["motion", "open", "--key", c.key(0), "--title", "Q", "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--key", c.key(0), &m, "no"]).ok();
    d.council(&["vote", "--key", c.key(1), &m, "yes"]).ok();
    let before = d.council(&["--json", "status"]).ok().json();
    d.stop();
    let d = Daemon::start(&c.data());
    let after = d.council(&["--json", "status"]).ok().json();
    assert_eq!(before["entries"], after["entries"]);
    assert_eq!(before["head"], after["head"]);
    assert_eq!(before["motions"], after["motions"]);
    // And it carries on: the member changes their ballot after the restart.
    d.council(&["vote", "--key", c.key(0), &m, "yes"]).ok();
    assert_eq!(motions(&d)[0]["counts"], serde_json::json!([2, 0, 0]));
}

#[test]
fn a_sigkill_right_after_acknowledgement_loses_nothing() {
    use council_core::cbor::Cbor;
    use council_core::records::{Action, MotionBody, MotionForm, Rule, Share, Signed, Threshold, VoteBody};

    let c = found();
    let d = Daemon::start(&c.data());
    let (base, token) = d.api();
    let status = d.council(&["--json", "status"]).ok().json();
    let council = council_core::Hash::from_hex(status["id"].as_str().unwrap()).unwrap();
    let keys: Vec<council_core::SecretKey> = c
        .keys
        .iter()
        .map(|k| {
            let t = std::fs::read_to_string(k).unwrap();
            let mut seed = [0u8; 32];
            hex::decode_to_slice(t.trim().trim_start_matches("councilnet-ed25519-seed:"), &mut seed).unwrap();
            council_core::SecretKey::from_seed(&seed)
        })
        .collect();
    let post = |path: &str, record: Vec<u8>| -> Option<Value> {
        let r = ureq::post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({ "record": hex::encode(record) }));
        match r {
            Ok(r) => Some(r.into_json().unwrap()),
            Err(ureq::Error::Status(_, _)) => None,
            Err(e) => panic!("{e}"),
        }
    };
    // Unanimity with a full quorum: nothing settles before the last ballot.
    let rule = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let closes_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() + 3600;
    let mut motion_ids = Vec::new();
    for n in 0..8u64 {
        let body = MotionBody {
            council,
            title: format!("Motion {n}"),
            form: MotionForm::YesNo(Action::Resolution),
            rule,
            closes_at,
            nonce: n,
        };
        let m = Signed::sign(body, &keys[0]);
        post("/v1/motions", m.to_cbor()).expect("motion accepted");
        motion_ids.push(m.id());
    }
    // Ballots from five threads at once (group commit), each acknowledged only when durable.
    let acked: Vec<Vec<u8>> = std::thread::scope(|s| {
        let hs: Vec<_> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                let motion_ids = &motion_ids;
                let post = &post;
                s.spawn(move || {
                    let mut mine = Vec::new();
                    for (j, m) in motion_ids.iter().enumerate() {
                        // Members 0..3 vote twice (a change), member 4 votes "no" once.
                        let rounds: &[u32] = if i == 4 { &[1] } else { &[1, 0] };
                        for (r, choice) in rounds.iter().enumerate() {
                            let v = Signed::sign(
                                VoteBody {
                                    council,
                                    motion: *m,
                                    choice: *choice,
                                    counter: (j * 10 + r + 1) as u64,
                                    is_final: false,
                                },
                                k,
                            );
                            let bytes = v.to_cbor();
                            if post("/v1/votes", bytes.clone()).is_some() {
                                mine.push(bytes);
                            }
                        }
                    }
                    mine
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(acked.len() >= 40, "only {} ballots were acknowledged", acked.len());
    d.crash();

    let d = Daemon::start(&c.data());
    let out = c.root.join("after-crash.cnx");
    d.council(&["export", "--out", out.to_str().unwrap()]).ok();
    verify(&out);
    let bytes = std::fs::read(&out).unwrap();
    for a in &acked {
        assert!(bytes.windows(a.len()).any(|w| w == &a[..]), "an acknowledged ballot is missing after the crash");
    }
}

#[test]
fn bad_requests_get_clear_errors_and_the_node_stays_up() {
    use council_core::cbor::Cbor;
    use council_core::records::{Signed, VoteBody};

    let c = found();
    let d = Daemon::start(&c.data());
    let (base, token) = d.api();
    d.council(&["motion", "open", "--key", c.key(0), "--title", "Q", "--closes-in", "1h"]).ok();
    let m = council_core::Hash::from_hex(&id_of(&motions(&d)[0])).unwrap();
    let council =
        council_core::Hash::from_hex(d.council(&["--json", "status"]).ok().json()["id"].as_str().unwrap()).unwrap();
    let call = |path: &str, auth: Option<&str>, body: Value| -> (u16, Value) {
        let mut req = ureq::post(&format!("{base}{path}"));
        if let Some(t) = auth {
            req = req.set("Authorization", &format!("Bearer {t}"));
        }
        match req.send_json(body) {
            Ok(r) => (r.status(), r.into_json().unwrap()),
            Err(ureq::Error::Status(code, r)) => (code, r.into_json().unwrap()),
            Err(e) => panic!("{e}"),
        }
    };
    let ballot_as = |k: &council_core::SecretKey, choice, counter, is_final| {
        Signed::sign(VoteBody { council, motion: m, choice, counter, is_final }, k)
    };
    let ballot = |k: &council_core::SecretKey, choice, counter| ballot_as(k, choice, counter, false);
    let rec = |s: &Signed<VoteBody>| serde_json::json!({ "record": hex::encode(s.to_cbor()) });
    let alive = || assert_eq!(d.council(&["status"]).code, 0, "the node went down");

    // No token, and a wrong one.
    let (code, body) = call("/v1/votes", None, serde_json::json!({}));
    assert_eq!((code, body["error"]["code"].as_str()), (401, Some("no-token")));
    let (code, _) = call("/v1/votes", Some("0000"), serde_json::json!({}));
    assert_eq!(code, 401);
    alive();
    // A malformed body, and a record that is not canonical CBOR.
    let (code, body) = call("/v1/votes", Some(&token), serde_json::json!({ "vote": "yes" }));
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("malformed-body")), "{body}");
    let (code, body) = call("/v1/votes", Some(&token), serde_json::json!({ "record": "deadbeef" }));
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("malformed-record")), "{body}");
    alive();
    // A vote by someone who is not a member.
    let outsider = council_core::SecretKey::generate();
    let (code, body) = call("/v1/votes", Some(&token), rec(&ballot(&outsider, 0, 1)));
    assert_eq!((code, body["error"]["code"].as_str()), (403, Some("not-a-member")), "{body}");
    // A vote with a bad signature.
    let member = {
        let t = std::fs::read_to_string(&c.keys[1]).unwrap();
        let mut seed = [0u8; 32];
        hex::decode_to_slice(t.trim().trim_start_matches("councilnet-ed25519-seed:"), &mut seed).unwrap();
        council_core::SecretKey::from_seed(&seed)
    };
    let mut forged = ballot(&member, 0, 1);
    forged.signature.0[0] ^= 1;
    let (code, body) = call("/v1/votes", Some(&token), rec(&forged));
    assert_eq!((code, body["error"]["code"].as_str()), (400, Some("bad-signature")), "{body}");
    alive();
    // A replayed vote: the same record again is stored once; an older ballot after a newer
    // one is refused.
    let first = ballot(&member, 1, 5);
    let (code, a) = call("/v1/votes", Some(&token), rec(&first));
    assert_eq!(code, 201, "{a}");
    let (code, b) = call("/v1/votes", Some(&token), rec(&first));
    assert_eq!((code, b["duplicate"].as_bool(), b["seq"].clone()), (200, Some(true), a["seq"].clone()));
    let (code, _) = call("/v1/votes", Some(&token), rec(&ballot(&member, 0, 9)));
    assert_eq!(code, 201);
    let (code, body) = call("/v1/votes", Some(&token), rec(&ballot(&member, 1, 6)));
    assert_eq!((code, body["error"]["code"].as_str()), (409, Some("stale-ballot")), "{body}");
    // The member makes it final; nothing replaces a final ballot, whatever its counter.
    let latest = ballot_as(&member, 0, 10, true);
    let (code, l) = call("/v1/votes", Some(&token), rec(&latest));
    assert_eq!(code, 201);
    for is_final in [false, true] {
        let (code, body) = call("/v1/votes", Some(&token), rec(&ballot_as(&member, 1, 11, is_final)));
        assert_eq!((code, body["error"]["code"].as_str()), (409, Some("ballot-final")), "{body}");
    }
    // A vote on a closed motion: two more final yes of five settle it.
    for i in [0, 2] {
        d.council(&["vote", "--final", "--key", c.key(i), &m.to_hex(), "yes"]).ok();
    }
    assert_eq!(motions(&d)[0]["status"], "closed");
    let (code, body) = call("/v1/votes", Some(&token), rec(&ballot(&member, 1, 20)));
    assert_eq!((code, body["error"]["code"].as_str()), (409, Some("motion-closed")), "{body}");
    // The member's latest ballot again, after the motion closed (a client retrying): the same
    // record, stored once. The ballot it replaced, again: refused (the motion is closed;
    // while it is open, as a stale ballot).
    let (code, b) = call("/v1/votes", Some(&token), rec(&latest));
    assert_eq!((code, b["duplicate"].as_bool(), b["seq"].clone()), (200, Some(true), l["seq"].clone()), "{b}");
    let (code, body) = call("/v1/votes", Some(&token), rec(&first));
    assert_eq!((code, body["error"]["code"].as_str()), (409, Some("motion-closed")), "{body}");
    alive();
    // Nothing accepted was lost or changed along the way.
    let out = c.root.join("x.cnx");
    d.council(&["export", "--out", out.to_str().unwrap()]).ok();
    let v = verify(&out);
    assert_eq!(v["councils"][0]["motions"][0]["counts"], serde_json::json!([3, 0, 0]));
}

#[test]
fn a_solo_council_admits_a_member_and_recalls_by_motion() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let me = root.join("me.key");
    let friend = root.join("friend.key");
    run(&["key", "new", me.to_str().unwrap()]).ok();
    let friend_did = run(&["key", "new", friend.to_str().unwrap()]).ok().stdout.trim().to_owned();
    let data = root.join("node");
    let r =
        councild(&["init", "--data-dir", data.to_str().unwrap(), "--name", "Solo", "--solo-key", me.to_str().unwrap()])
            .ok();
    assert!(r.stdout.contains("only founder"), "{}", r.stdout);
    let d = Daemon::start(&data);
    let me = me.to_str().unwrap();

    // Admitting a member is a council act: a motion the (one) member passes.
    d.council(&["roster", "add", "--key", me, &friend_did]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--final", "--key", me, &m, "yes"]).ok();
    assert_eq!(motions(&d)[0]["effect"]["effect"], "applied");
    let members = d.council(&["--json", "status"]).ok().json()["members"].as_array().unwrap().len();
    assert_eq!(members, 2);
    // The new member votes on motions opened after they joined.
    d.council(&[
        "motion",
        "open",
        "--key",
        friend.to_str().unwrap(),
        "--title",
        "Tea",
        "--option",
        "green",
        "--option",
        "black",
        "--closes-in",
        "1h",
    ])
    .ok();
    let tea = id_of(&motions(&d)[1]);
    d.council(&["vote", "--key", friend.to_str().unwrap(), &tea, "black"]).ok();

    // A mandate, then a recall by motion.
    let fed = "cd".repeat(32);
    d.council(&["mandate", "--key", me, "--delegate", &friend_did, "--federation", &fed, "--closes-in", "1h"]).ok();
    let mm = id_of(&motions(&d)[2]);
    d.council(&["vote", "--final", "--key", me, &mm, "yes"]).ok();
    d.council(&["vote", "--final", "--key", friend.to_str().unwrap(), &mm, "yes"]).ok();
    let mandate = id_of(&mandates(&d)[0]);
    d.council(&["recall", "motion", "--key", me, &mandate]).ok();
    let rm = id_of(&motions(&d)[3]);
    assert_eq!(motions(&d)[3]["kind"], "recall");
    d.council(&["vote", "--final", "--key", me, &rm, "yes"]).ok();
    d.council(&["vote", "--final", "--key", friend.to_str().unwrap(), &rm, "yes"]).ok();
    let ms = mandates(&d);
    assert_eq!(ms[0]["status"], "recalled");
    assert_eq!(ms[0]["recall"]["by"], "motion");
    let out = root.join("solo.cnx");
    d.council(&["export", "--out", out.to_str().unwrap()]).ok();
    verify(&out);
}

/// The value of the metric line that starts with `series` (its name and labels).
fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

#[test]
fn the_operator_reads_the_nodes_metrics_with_its_token_only() {
    let c = found();
    let d = Daemon::start(&c.data());
    let (base, token) = d.api();
    let url = format!("{base}/metrics");
    // Members and strangers do not see the node's metrics: the operator API's token.
    match ureq::get(&url).call() {
        Err(ureq::Error::Status(401, _)) => {}
        other => panic!("GET /metrics without the token: {other:?}"),
    }
    match ureq::get(&url).set("Authorization", "Bearer not-the-token").call() {
        Err(ureq::Error::Status(401, _)) => {}
        other => panic!("GET /metrics with a wrong token: {other:?}"),
    }
    let scrape = || {
        let r = ureq::get(&url).set("Authorization", &format!("Bearer {token}")).call().unwrap();
        assert!(r.content_type().starts_with("application/openmetrics-text"), "{}", r.content_type());
        r.into_string().unwrap()
    };
    let before = scrape();
    assert!(before.trim_end().ends_with("# EOF"), "not OpenMetrics text:\n{before}");
    assert_eq!(metric(&before, "council_log_entries"), Some(0.0), "{before}");
    assert_eq!(metric(&before, "council_entries_written_total{kind=\"vote\"}"), None, "{before}");
    assert_eq!(metric(&before, "council_peers_connected"), Some(0.0), "{before}");
    // libp2p's own series are there, under their prefix.
    assert!(before.lines().any(|l| l.starts_with("libp2p_swarm_")), "no libp2p metrics:\n{before}");

    d.council(&["motion", "open", "--key", c.key(0), "--title", "Q", "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--key", c.key(0), &m, "yes"]).ok();
    d.council(&["vote", "--key", c.key(1), &m, "no"]).ok();
    let after = scrape();
    assert_eq!(metric(&after, "council_entries_written_total{kind=\"motion\"}"), Some(1.0), "{after}");
    assert_eq!(metric(&after, "council_entries_written_total{kind=\"vote\"}"), Some(2.0), "{after}");
    assert_eq!(metric(&after, "council_log_entries"), Some(3.0), "{after}");
    assert!(metric(&after, "council_write_seconds_count").is_some_and(|n| n >= 1.0), "{after}");

    // libp2p's series the dashboard and docs/OPERATIONS.md name are served once there is
    // traffic: another council's node dials this one (and is let go after its hello).
    let other = c.root.join("other");
    let key = c.root.join("other.key");
    run(&["key", "new", key.to_str().unwrap()]).ok();
    councild(&["init", "--data-dir", other.to_str().unwrap(), "--name", "Other", "--solo-key", key.to_str().unwrap()])
        .ok();
    let o = Daemon::start(&other);
    let addr = std::fs::read_to_string(c.data().join("p2p-addr")).unwrap();
    o.council(&["peer", "add", addr.lines().next().unwrap()]).ok();
    let text = eventually("the connection to show in libp2p's metrics", || {
        let t = scrape();
        metric(&t, "council_peers_connected").is_some_and(|n| n >= 1.0).then_some(t)
    });
    o.stop();
    d.stop();
    let served: std::collections::BTreeSet<&str> =
        text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for file in ["config/grafana-dashboard.json", "docs/OPERATIONS.md"] {
        let doc = std::fs::read_to_string(root.join(file)).unwrap();
        let named: Vec<&str> = doc
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| w.starts_with("libp2p_") && !w.ends_with('_'))
            .collect();
        for word in &named {
            let series = ["_total", "_bucket"].iter().fold(*word, |w, s| w.strip_suffix(s).unwrap_or(w));
            assert!(served.contains(series), "{file} names {word}, which the node does not serve:\n{text}");
        }
        if file.ends_with(".json") {
            assert!(named.len() >= 2, "the dashboard plots none of libp2p's series");
        }
    }
}

/// Under `--json`, every error is one JSON object on stderr, with a stable `code` a script
/// can act on, and the exit status is as without it.
#[test]
fn errors_under_json_are_json_with_a_stable_code() {
    let error = |r: &crate::util::Run| -> Value {
        assert!(r.stdout.is_empty(), "stdout: {}", r.stdout);
        let v: Value = serde_json::from_str(r.stderr.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stderr));
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        v["error"].clone()
    };
    // A command line that does not parse.
    let r = run(&["--json", "vote"]);
    assert_eq!(r.code, 2);
    assert_eq!(error(&r)["code"], "usage");
    let r = run(&["motion", "open", "--json", "--no-such-flag"]);
    assert_eq!((r.code, error(&r)["code"].clone()), (2, "usage".into()));
    // Without --json, people get text.
    let r = run(&["vote"]);
    assert!(r.stderr.starts_with("error:"), "{}", r.stderr);

    let c = found();
    // No node at that address.
    let token = c.root.join("token");
    std::fs::write(&token, "t\n").unwrap();
    let r = run(&["--json", "--node", "http://127.0.0.1:9", "--token-file", token.to_str().unwrap(), "status"]);
    assert_eq!((r.code, error(&r)["code"].clone()), (2, "unreachable".into()));

    // The node says no: its own code and status.
    let d = Daemon::start(&c.data());
    d.council(&["motion", "open", "--key", c.key(0), "--title", "Q", "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    let outsider = c.root.join("outsider.key");
    run(&["key", "new", outsider.to_str().unwrap()]).ok();
    let r = d.council(&["--json", "vote", "--key", outsider.to_str().unwrap(), &m, "yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    let e = error(&r);
    assert_eq!(e["code"], "not-a-member", "{e}");
    assert_eq!(e["status"], 403, "{e}");
    // Anything else: an unreadable key file.
    let r = d.council(&["--json", "vote", "--key", c.root.join("missing.key").to_str().unwrap(), &m, "yes"]);
    assert_eq!((r.code, error(&r)["code"].clone()), (2, "error".into()));
    d.stop();
}

/// Founders sign copies of the draft at the same time, each on their own machine; the
/// operator merges the copies, and the count of those still to sign is true throughout.
#[test]
fn founders_sign_copies_at_once_and_the_operator_merges_them() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let keys: Vec<PathBuf> = (0..3).map(|i| root.join(format!("f{i}.key"))).collect();
    let dids: Vec<String> =
        keys.iter().map(|k| run(&["key", "new", k.to_str().unwrap()]).ok().stdout.trim().to_owned()).collect();
    let data = root.join("node");
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--name", "Three Founders"];
    for d in &dids {
        args.extend(["--founder", d.as_str()]);
    }
    councild(&args).ok();
    let draft = data.join("genesis.draft");
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    // Each founder takes a copy and signs it.
    let copies: Vec<PathBuf> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            let copy = root.join(format!("copy{i}.draft"));
            std::fs::copy(&draft, &copy).unwrap();
            let r = run(&["genesis", "sign", "--draft", &s(&copy), "--key", &s(k)]).ok();
            assert!(r.stdout.contains("Still to sign: 2"), "{}", r.stdout);
            copy
        })
        .collect();

    // A copy of another council's draft, and a copy with a forged signature, are refused,
    // and the draft is left as it was.
    let other = root.join("other");
    councild(&["init", "--data-dir", &s(&other), "--name", "Other", "--founder", &dids[0]]).ok();
    let other_copy = other.join("genesis.draft");
    run(&["genesis", "sign", "--draft", &s(&other_copy), "--key", &s(&keys[0])]).ok();
    let before = std::fs::read(&draft).unwrap();
    let r = run(&["genesis", "merge", "--draft", &s(&draft), &s(&copies[0]), &s(&other_copy)]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("different geneses"), "{}", r.stderr);
    let mut forged = std::fs::read(&copies[1]).unwrap();
    let n = forged.len();
    // The copy ends with founder 1's signature (64 bytes) and founder 2's empty slot (one
    // byte): this flips a bit of the signature.
    forged[n - 10] ^= 1;
    let forged_path = root.join("forged.draft");
    std::fs::write(&forged_path, &forged).unwrap();
    let r = run(&["genesis", "merge", "--draft", &s(&draft), &s(&forged_path)]);
    assert_eq!(r.code, 2, "a forged copy merged: {}", r.stdout);
    assert!(r.stderr.contains("does not verify"), "{}", r.stderr);
    assert_eq!(std::fs::read(&draft).unwrap(), before, "a refused merge changed the draft");

    let r = run(&["--json", "genesis", "merge", "--draft", &s(&draft), &s(&copies[0]), &s(&copies[1])]).ok();
    let v = r.json();
    assert_eq!(v["added"], 2);
    assert_eq!(v["missing"], serde_json::json!([dids[2]]));
    let r = run(&["genesis", "merge", "--draft", &s(&draft), &s(&copies[2]), &s(&copies[0])]).ok();
    assert!(r.stdout.contains("1 signature(s) added") && r.stdout.contains("Every founder has signed"), "{}", r.stdout);
    let d = Daemon::start(&data);
    let st = d.council(&["--json", "status"]).ok().json();
    assert_eq!(st["name"], "Three Founders");
    d.stop();
}

/// A node is backed up while it runs, and restored on "new hardware" (another data
/// directory): the same council, the same log, and members go on voting. A damaged or
/// foreign backup restores nothing.
#[test]
fn a_backup_restores_the_council_and_a_damaged_one_restores_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let c = found();
    let d = Daemon::start(&c.data());
    d.council(&["motion", "open", "--key", c.key(0), "--title", "Q", "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--key", c.key(0), &m, "yes"]).ok();
    d.council(&["vote", "--key", c.key(1), &m, "no"]).ok();
    let before = d.council(&["--json", "status"]).ok().json();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let backup = c.root.join("council.backup");
    let r = councild(&["backup", "--data-dir", &s(&c.data()), "--out", &s(&backup)]).ok();
    assert!(r.stdout.contains("from the running node"), "{}", r.stdout);
    assert_eq!(std::fs::metadata(&backup).unwrap().permissions().mode() & 0o777, 0o600, "it holds the node key");
    // The log inside is an export like any other.
    let listing = std::process::Command::new("tar").args(["tf", &s(&backup)]).output().unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    for f in ["BACKUP.json", "node.key", "api-token", "council.cnx"] {
        assert!(listing.lines().any(|l| l == f), "{f} is not in the backup: {listing}");
    }
    d.stop();

    // From the stopped node too.
    let backup2 = c.root.join("stopped.backup");
    let r = councild(&["backup", "--data-dir", &s(&c.data()), "--out", &s(&backup2)]).ok();
    assert!(r.stdout.contains("stopped node"), "{}", r.stdout);

    // Restored elsewhere: the same council, log and motions; members go on voting.
    let new = c.root.join("new-hardware");
    let r = councild(&["restore", "--from", &s(&backup), "--data-dir", &s(&new)]).ok();
    assert!(r.stdout.contains("restored"), "{}", r.stdout);
    assert!(!r.stderr.contains("restoring:"), "no progress in a pipe: {}", r.stderr);
    // On a terminal (`script` gives it one, as a person has), the restore shows progress.
    let shown = c.root.join("on-a-terminal");
    let cmd =
        format!("{} restore --from {} --data-dir {}", crate::util::councild_path().display(), s(&backup), s(&shown));
    let out =
        std::process::Command::new("script").args(["-qec", &cmd, "/dev/null"]).env("TERM", "xterm").output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("restoring: checking every entry"), "{text}");
    let d2 = Daemon::start(&new);
    let after = d2.council(&["--json", "status"]).ok().json();
    for field in ["id", "head", "entries", "members", "mandates"] {
        assert!(!before[field].is_null(), "no {field} in the status");
        assert_eq!(after[field], before[field], "{field} after the restore");
    }
    assert_eq!(motions(&d2)[0]["counts"], serde_json::json!([1, 1, 0]));
    d2.council(&["vote", "--key", c.key(2), &m, "yes"]).ok();
    let again = d2.council(&["vote", "--key", c.key(1), &m, "yes"]).ok();
    assert!(again.stdout.contains("ballot changed"), "the restored node knows the earlier ballot: {}", again.stdout);
    let out = c.root.join("after.cnx");
    d2.council(&["export", "--out", &s(&out)]).ok();
    d2.stop();
    verify(&out);

    // Restoring over a council is refused.
    let r = councild(&["restore", "--from", &s(&backup2), "--data-dir", &s(&new)]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("already holds a council"), "{}", r.stderr);

    // A backup whose log was changed (a byte near the end of the export, the last file
    // in it) restores nothing.
    let mut bytes = std::fs::read(&backup2).unwrap();
    let end = bytes.len() - bytes.iter().rev().position(|b| *b != 0).unwrap();
    bytes[end - 40] ^= 0x20;
    let damaged = c.root.join("damaged.backup");
    std::fs::write(&damaged, &bytes).unwrap();
    let target = c.root.join("fresh");
    let r = councild(&["restore", "--from", &s(&damaged), "--data-dir", &s(&target)]);
    assert_eq!(r.code, 1, "a damaged backup was restored: {}", r.stdout);
    assert!(r.stderr.contains("not valid") || r.stderr.contains("not a councilnet backup"), "{}", r.stderr);
    let left: Vec<_> =
        std::fs::read_dir(&target).map(|d| d.flatten().map(|e| e.file_name()).collect()).unwrap_or_default();
    assert!(left.is_empty(), "a failed restore left {left:?}");

    // A tar that is not a backup (an extra file, or a link), a device and a fifo.
    let odd = c.root.join("odd");
    std::fs::create_dir_all(&odd).unwrap();
    std::fs::write(odd.join("notes.txt"), "hi").unwrap();
    let odd_tar = c.root.join("odd.backup");
    std::process::Command::new("tar").args(["cf", &s(&odd_tar), "-C", &s(&odd), "notes.txt"]).status().unwrap();
    let r = councild(&["restore", "--from", &s(&odd_tar), "--data-dir", &s(&target)]);
    assert!(r.code == 1 && r.stderr.contains("notes.txt"), "{}", r.stderr);
    std::os::unix::fs::symlink("/etc/passwd", odd.join("node.key")).unwrap();
    std::process::Command::new("tar").args(["cf", &s(&odd_tar), "-C", &s(&odd), "node.key"]).status().unwrap();
    let r = councild(&["restore", "--from", &s(&odd_tar), "--data-dir", &s(&target)]);
    assert!(r.code == 1 && r.stderr.contains("other than plain files"), "{}", r.stderr);
    let r = councild(&["restore", "--from", "/dev/zero", "--data-dir", &s(&target)]);
    assert!(r.code == 1 && r.stderr.contains("device"), "{}", r.stderr);
    let fifo = c.root.join("fifo.backup");
    crate::util::mkfifo(&fifo);
    let r = councild(&["restore", "--from", &s(&fifo), "--data-dir", &s(&target)]);
    assert!(r.code == 1 && r.stderr.contains("fifo"), "{}", r.stderr);
}

/// `council peer list` shows what the node dials and who is connected; `peer remove`
/// stops dialing and disconnects; removing what is not there says so.
#[test]
fn peers_are_listed_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let start = |name: &str| {
        let key = tmp.path().join(format!("{name}.key"));
        let dir = tmp.path().join(name);
        run(&["key", "new", &s(&key)]).ok();
        councild(&["init", "--data-dir", &s(&dir), "--name", name, "--solo-key", &s(&key)]).ok();
        Daemon::start(&dir)
    };
    let (a, b) = (start("a"), start("b"));
    let b_addr = eventually("b's p2p address", || {
        std::fs::read_to_string(tmp.path().join("b").join("p2p-addr")).ok()?.lines().next().map(str::to_owned)
    });
    let b_peer = b_addr.rsplit('/').next().unwrap().to_owned();
    let list = || a.council(&["--json", "peer", "list"]).ok().json();
    assert_eq!(list()["dialing"], serde_json::json!([]));
    a.council(&["peer", "add", &b_addr]).ok();
    assert_eq!(list()["dialing"], serde_json::json!([b_addr]));
    eventually("a connected to b", || {
        list()["connected"].as_array().unwrap().iter().any(|p| p["peer"] == b_peer.as_str()).then_some(())
    });
    let text = a.council(&["peer", "list"]).ok().stdout;
    assert!(text.contains(&format!("dialing   {b_addr}")) && text.contains(&format!("connected {b_peer}")), "{text}");

    let r = a.council(&["--json", "peer", "remove", &b_peer]).ok().json();
    assert_eq!(r["removed"], serde_json::json!([b_addr]));
    assert_eq!(r["disconnected"], b_peer.as_str());
    assert_eq!(list()["dialing"], serde_json::json!([]));
    let again = a.council(&["--json", "peer", "remove", &b_addr]);
    assert_eq!(again.code, 1, "{}", again.stderr);
    assert!(again.stderr.contains("no-such-peer"), "{}", again.stderr);
    a.stop();
    b.stop();
}

/// With no `network.listen`, a council's node opens no port for other councils until the
/// council takes part in a federation; signing a charter by council act opens it.
#[test]
fn a_council_that_does_not_federate_opens_no_port() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (dir, key, r) = crate::util::solo(tmp.path(), "Quiet");
    assert!(r.stdout.contains("takes part in a federation"), "init says so: {}", r.stdout);
    // The default, except that the port opened later is a free one (tests run at once).
    let config = tmp.path().join("councild.toml");
    std::fs::write(&config, "[network]\nlisten_when_federated = \"/ip4/127.0.0.1/tcp/0\"\n").unwrap();
    let d = Daemon::start_raw(&dir, &["--config", &s(&config)]);
    let listening = || d.council(&["--json", "network"]).ok().json()["listen"].as_array().unwrap().len();
    // Running, with the network on, and nothing to connect to.
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(listening(), 0, "a council in no federation listens for no one");
    assert!(!dir.join("p2p-addr").exists());
    let text = d.council(&["network"]).ok().stdout;
    assert!(text.contains("not listening"), "{text}");

    // Its members found a federation with another council: the act passes, and the node
    // listens.
    let id = d.council(&["--json", "status"]).ok().json()["id"].as_str().unwrap().to_owned();
    let charter = tmp.path().join("charter.toml");
    std::fs::write(
        &charter,
        format!(
            "name = \"Two\"\nprinciples = [\"p\"]\nfounders = [\"{id}\", \"{}\"]\ncreated_at = \"2026-11-22T09:00:00Z\"\n[rules]\nadmission = \"majority\"\nmotion_quorum = \"1/2\"\nmotion_threshold = \"majority\"\n",
            "ab".repeat(32)
        ),
    )
    .unwrap();
    d.council(&["federation", "create", "--key", &s(&key), &s(&charter), "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--final", "--key", &s(&key), &m, "yes"]).ok();
    eventually("the node to listen", || (listening() > 0).then_some(()));
    let addrs = std::fs::read_to_string(dir.join("p2p-addr")).unwrap();
    assert!(addrs.starts_with("/ip4/127.0.0.1/tcp/"), "{addrs}");
    d.stop();
}

/// A request a webhook receiver got: its headers (names lower-cased), its body, and the
/// status it answered.
type Hit = (std::collections::HashMap<String, String>, String, u16);

/// A webhook receiver on loopback: it keeps every request and answers 200, or 503 while
/// `down` is set.
struct Receiver {
    url: String,
    got: std::sync::Arc<std::sync::Mutex<Vec<Hit>>>,
    down: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Receiver {
    fn start() -> Receiver {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let down = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let (g, d) = (got.clone(), down.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let mut r = std::io::BufReader::new(conn);
                let mut headers = std::collections::HashMap::new();
                let mut line = String::new();
                if r.read_line(&mut line).is_err() {
                    continue;
                }
                loop {
                    line.clear();
                    if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((k, v)) = line.trim_end().split_once(':') {
                        headers.insert(k.to_ascii_lowercase(), v.trim().to_owned());
                    }
                }
                let len: usize = headers.get("content-length").and_then(|l| l.parse().ok()).unwrap_or(0);
                let mut body = vec![0; len];
                let _ = r.read_exact(&mut body);
                let status = if d.load(std::sync::atomic::Ordering::SeqCst) { 503 } else { 200 };
                g.lock().unwrap().push((headers, String::from_utf8_lossy(&body).into_owned(), status));
                let _ = r.get_mut().write_all(
                    format!("HTTP/1.1 {status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").as_bytes(),
                );
            }
        });
        Receiver { url, got, down }
    }

    /// The bodies of the requests answered 200 for this event, parsed.
    fn delivered(&self, event: &str) -> Vec<Value> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .filter(|(h, _, s)| *s == 200 && h.get("x-councilnet-event").map(String::as_str) == Some(event))
            .map(|(_, b, _)| serde_json::from_str(b).unwrap())
            .collect()
    }
}

/// Webhooks hear of motions opened, closing soon and closed, each signed with the shared
/// secret; a delivery the receiver refuses is tried again, and still delivered after the
/// node restarts.
#[test]
fn webhooks_hear_of_motions_signed_and_retried_across_a_restart() {
    use hmac::Mac;
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (dir, key, _) = crate::util::solo(tmp.path(), "Hooked");
    let rx = Receiver::start();
    let secret = "a long shared secret, not this one in real life";
    let secret_file = tmp.path().join("webhook-secret");
    std::fs::write(&secret_file, format!("{secret}\n")).unwrap();
    let config = tmp.path().join("councild.toml");
    std::fs::write(
        &config,
        format!(
            "[notify]\nclosing_soon_secs = 3600\n[[notify.webhooks]]\nurl = \"{}\"\nsecret_file = \"{}\"\n",
            rx.url,
            s(&secret_file)
        ),
    )
    .unwrap();
    let d = Daemon::start_with(&dir, &["--config", &s(&config)]);
    d.council(&["motion", "open", "--key", &s(&key), "--title", "Buy a kettle", "--closes-in", "30m"]).ok();
    let m = id_of(&motions(&d)[0]);
    let opened = eventually("motion-opened delivered", || rx.delivered("motion-opened").pop());
    assert_eq!(opened["motion"]["id"], m.as_str());
    assert_eq!(opened["motion"]["title"], "Buy a kettle");
    assert_eq!(opened["council"]["name"], "Hooked");
    // Closing within the hour: announced once.
    let closing = eventually("motion-closing delivered", || rx.delivered("motion-closing").pop());
    assert_eq!(closing["motion"]["id"], m.as_str());
    d.council(&["vote", "--final", "--key", &s(&key), &m, "yes"]).ok();
    let closed = eventually("motion-closed delivered", || rx.delivered("motion-closed").pop());
    assert_eq!(closed["outcome"]["result"], "passed");
    assert_eq!(rx.delivered("motion-closing").len(), 1, "announced once");

    // A mandate, then its recall by motion (a council of one passes each with its vote).
    let me = run(&["key", "show", &s(&key)]).ok().stdout.trim().to_owned();
    let fed = "cd".repeat(32);
    d.council(&["mandate", "--key", &s(&key), "--delegate", &me, "--federation", &fed, "--closes-in", "1h"]).ok();
    d.council(&["vote", "--final", "--key", &s(&key), &id_of(&motions(&d)[1]), "yes"]).ok();
    let given = eventually("mandate-given delivered", || rx.delivered("mandate-given").pop());
    assert_eq!(given["mandate"]["delegate"], me.as_str());
    assert_eq!(given["mandate"]["federation"], fed.as_str());
    let mandate = given["mandate"]["id"].as_str().unwrap().to_owned();
    d.council(&["recall", "motion", "--key", &s(&key), &mandate]).ok();
    d.council(&["vote", "--final", "--key", &s(&key), &id_of(&motions(&d)[2]), "yes"]).ok();
    let recalled = eventually("recall-passed delivered", || rx.delivered("recall-passed").pop());
    assert_eq!((recalled["mandate"].as_str(), recalled["by"].as_str()), (Some(mandate.as_str()), Some("motion")));

    // Every delivery is signed with the secret over its exact body.
    for (h, body, _) in rx.got.lock().unwrap().iter() {
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
        mac.update(body.as_bytes());
        let want = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
        assert_eq!(h.get("x-councilnet-signature-256"), Some(&want), "{body}");
        assert_eq!(h.get("content-type").map(String::as_str), Some("application/json"));
    }

    // The receiver is down: the delivery is refused, and waits.
    rx.down.store(true, std::sync::atomic::Ordering::SeqCst);
    d.council(&["motion", "open", "--key", &s(&key), "--title", "Paint the door", "--closes-in", "7d"]).ok();
    let refused = eventually("a refused attempt", || {
        let got = rx.got.lock().unwrap();
        got.iter()
            .find(|(h, b, st)| *st == 503 && b.contains("Paint the door") && h.contains_key("x-councilnet-delivery"))
            .map(|(h, _, _)| h["x-councilnet-delivery"].clone())
    });
    d.stop();
    // Up again, and the node restarted: the same delivery arrives.
    rx.down.store(false, std::sync::atomic::Ordering::SeqCst);
    let d = Daemon::start_with(&dir, &["--config", &s(&config)]);
    eventually("the waiting delivery after the restart", || {
        rx.got
            .lock()
            .unwrap()
            .iter()
            .any(|(h, _, st)| *st == 200 && h.get("x-councilnet-delivery") == Some(&refused))
            .then_some(())
    });
    // Nothing is announced twice after the restart.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(rx.delivered("motion-opened").len(), 4, "{:?}", rx.delivered("motion-opened"));
    assert_eq!(rx.delivered("motion-closed").len(), 3);
    d.stop();
}

/// A minimal SMTP server on loopback that keeps every message it is given.
fn smtp_sink() -> (u16, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let g = got.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut w) = conn else { continue };
            let mut r = std::io::BufReader::new(w.try_clone().unwrap());
            let _ = w.write_all(b"220 sink\r\n");
            let mut line = String::new();
            loop {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
                let answer: &[u8] = match verb.as_str() {
                    "DATA" => {
                        let _ = w.write_all(b"354 go on\r\n");
                        let mut msg = String::new();
                        loop {
                            line.clear();
                            if r.read_line(&mut line).unwrap_or(0) == 0 || line == ".\r\n" {
                                break;
                            }
                            msg.push_str(&line);
                        }
                        g.lock().unwrap().push(msg);
                        b"250 kept\r\n"
                    }
                    "QUIT" => {
                        let _ = w.write_all(b"221 bye\r\n");
                        break;
                    }
                    _ => b"250 ok\r\n",
                };
                let _ = w.write_all(answer);
            }
        }
    });
    (port, got)
}

/// Email notifications go through an SMTP server, in words, with the event's JSON.
#[test]
fn email_notifications_reach_an_smtp_server() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (dir, key, _) = crate::util::solo(tmp.path(), "Mailed");
    let (port, got) = smtp_sink();
    let config = tmp.path().join("councild.toml");
    std::fs::write(
        &config,
        format!(
            "[[notify.emails]]\nserver = \"smtp://127.0.0.1:{port}\"\nfrom = \"Mailed Council <council@example.org>\"\nto = [\"members@example.org\"]\nevents = [\"motion-opened\", \"motion-closed\"]\n"
        ),
    )
    .unwrap();
    let d = Daemon::start_with(&dir, &["--config", &s(&config)]);
    d.council(&["motion", "open", "--key", &s(&key), "--title", "Buy a kettle", "--closes-in", "2h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--final", "--key", &s(&key), &m, "yes"]).ok();
    let mails = eventually("two emails", || {
        let g = got.lock().unwrap();
        (g.len() >= 2).then(|| g.clone())
    });
    d.stop();
    let opened = mails.iter().find(|m| m.contains("New motion")).expect("the motion-opened email");
    assert!(opened.contains("Subject: [Mailed] New motion: Buy a kettle"), "{opened}");
    assert!(opened.contains("To: members@example.org") && opened.contains("council@example.org"), "{opened}");
    assert!(opened.contains(&m), "the event's JSON is in it: {opened}");
    let closed = mails.iter().find(|x| !x.contains("New motion")).unwrap();
    assert!(closed.contains("Subject: [Mailed] Buy a kettle: passed"), "{closed}");
}

/// The operator makes a new node key, a member moves to make it the council's, the
/// members pass it: the running node switches to it by itself, and signs on with it. A
/// node that does not hold the key an act names refuses writes, with what to do, until
/// the key is put in place.
#[test]
fn the_node_key_is_replaced_by_a_council_act_and_the_node_switches_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (dir, key, _) = crate::util::solo(tmp.path(), "Rekey");
    let d = Daemon::start(&dir);
    let node_key = || d.council(&["--json", "status"]).ok().json()["node_key"].as_str().unwrap().to_owned();
    let first = node_key();

    let made = councild(&["key", "new", "--data-dir", &s(&dir)]).ok();
    let new_key = made.stdout.lines().next().unwrap().to_owned();
    assert!(new_key.starts_with("did:key:") && made.stdout.contains("council node-key replace"), "{}", made.stdout);
    // Asked again: the same key (the act names it), not a new one.
    let again = councild(&["key", "new", "--data-dir", &s(&dir)]).ok();
    assert_eq!(again.stdout.lines().next().unwrap(), new_key);

    d.council(&["node-key", "replace", &new_key, "--key", &s(&key), "--closes-in", "1h"]).ok();
    let m = id_of(&motions(&d)[0]);
    d.council(&["vote", "--final", "--key", &s(&key), &m, "yes"]).ok();
    eventually("the node to sign with its new key", || {
        let r = d.council(&["--json", "status"]);
        (r.code == 0 && r.json()["node_key"] == new_key.as_str()).then_some(())
    });
    assert_ne!(first, new_key);
    assert!(!dir.join("node.key.next").exists(), "installed as node.key");
    assert_eq!(read_key(&dir.join("node.key")).public().to_did(), new_key);
    d.council(&["motion", "open", "--key", &s(&key), "--title", "After", "--closes-in", "1h"]).ok();

    // An act that names a key this node does not hold (here: the member's own).
    let member_did = run(&["key", "show", &s(&key)]).ok().stdout.trim().to_owned();
    d.council(&["node-key", "replace", &member_did, "--key", &s(&key), "--closes-in", "1h"]).ok();
    let open_act = |m: &&Value| m["title"].as_str().unwrap().contains("node key") && m["status"] == "open";
    let m = id_of(motions(&d).iter().find(open_act).unwrap());
    d.council(&["vote", "--final", "--key", &s(&key), &m, "yes"]).ok();
    let r = d.council(&["--json", "motion", "open", "--key", &s(&key), "--title", "Stuck", "--closes-in", "1h"]);
    let e: Value = serde_json::from_str(r.stderr.trim()).unwrap_or_else(|_| panic!("{}", r.stderr));
    assert_eq!(e["error"]["code"], "node-key-replaced", "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("node.key.next"), "says what to do: {e}");
    // The operator puts the key the act named in place: the node takes it up by itself.
    std::fs::copy(&key, dir.join("node.key.next")).unwrap();
    eventually("the node to take up the key put in place", || {
        let r = d.council(&["motion", "open", "--key", &s(&key), "--title", "Unstuck", "--closes-in", "1h"]);
        (r.code == 0).then_some(())
    });
    assert_eq!(node_key(), member_did);

    // The whole log, across both changes, verifies offline.
    let out = tmp.path().join("rekeyed.cbor");
    d.council(&["export", "--out", &s(&out)]).ok();
    let v = verify(&out);
    assert_eq!(v["councils"][0]["node_key"], member_did.as_str());
    d.stop();
}

/// A node whose store is lost refuses to start afresh (it would sign a second log), and
/// `councild recover` will not let it sign before it has fetched its log from a peer.
#[test]
fn a_lost_store_is_not_started_afresh() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let (dir, key, _) = crate::util::solo(tmp.path(), "Lost");
    let d = Daemon::start(&dir);
    d.council(&["motion", "open", "--key", &s(&key), "--title", "Before", "--closes-in", "1h"]).ok();
    d.stop();
    std::fs::remove_dir_all(dir.join("store")).unwrap();

    // `timeout`: a node that started after all would hang the test, not pass it.
    let start = |extra: &[&str]| {
        let out = std::process::Command::new("timeout")
            .arg("30")
            .arg(crate::util::councild_path())
            .args(["run", "--data-dir", &s(&dir), "--listen", "127.0.0.1:0", "--members-listen", "127.0.0.1:0"])
            .args(extra)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1), "councild run should refuse");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = start(&["--offline"]);
    assert!(e.contains("second log") && e.contains("councild recover"), "{e}");
    let r = councild(&["recover", "--data-dir", &s(&dir)]).ok();
    assert!(r.stdout.contains("--peer"), "says what to do next: {}", r.stdout);
    let r = councild(&["recover", "--data-dir", &s(&dir)]);
    assert!(r.code != 0 && r.stderr.contains("not lost"), "{}", r.stderr);
    // Offline, or told to sign at once, it would start a second log: refused.
    for extra in [&["--offline"][..], &["--sign-without-catching-up", "--p2p-listen", "/ip4/127.0.0.1/tcp/0"][..]] {
        let e = start(extra);
        assert!(e.contains("must fetch its log from a peer"), "{e}");
    }
}

/// `councild init --opener DID`: only the named founders may open motions; anyone else
/// on the roster is refused with a reason. A name that is not a founder is refused at init.
#[test]
fn init_names_who_may_open_motions() {
    let tmp = tempfile::tempdir().unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_owned();
    let keys: Vec<PathBuf> = (0..2).map(|i| tmp.path().join(format!("m{i}.key"))).collect();
    let dids: Vec<String> = keys.iter().map(|k| run(&["key", "new", &s(k)]).ok().stdout.trim().to_owned()).collect();
    let dir = tmp.path().join("node");
    let base = ["init", "--data-dir", &s(&dir), "--name", "Chaired", "--founder", &dids[0], "--founder", &dids[1]];
    let outsider = run(&["key", "new", &s(&tmp.path().join("x.key"))]).ok().stdout.trim().to_owned();
    let r = councild(&[&base[..], &["--opener", &outsider]].concat());
    assert!(r.code == 1 && r.stderr.contains("not one of the founders"), "{}", r.stderr);
    assert!(!dir.join("node.key").exists(), "nothing made");
    councild(&[&base[..], &["--opener", &dids[0]]].concat()).ok();
    for k in &keys {
        run(&["genesis", "sign", "--draft", &s(&dir.join("genesis.draft")), "--key", &s(k)]).ok();
    }
    let d = Daemon::start(&dir);
    d.council(&["motion", "open", "--key", &s(&keys[0]), "--title", "By the chair", "--closes-in", "1h"]).ok();
    let r = d.council(&["--json", "motion", "open", "--key", &s(&keys[1]), "--title", "Not by the chair"]);
    let e: Value = serde_json::from_str(r.stderr.trim()).unwrap_or_else(|_| panic!("{}", r.stderr));
    assert_eq!((r.code, e["error"]["code"].as_str()), (1, Some("may-not-open")), "{e}");
    assert_eq!(motions(&d).len(), 1);
    d.stop();
}
