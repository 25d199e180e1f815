//! B7: what a long history costs. A `councild` process serves a council of nine members;
//! the same vote load is measured on the fresh council and again after MOTIONS motions
//! were opened, voted on and closed through the API. Then the node's memory at rest, the
//! same after a restart, and the largest answer of the member API.
//!
//! Usage: `history COUNCILD [MOTIONS] [VOTES]`, with COUNCILD the release binary.
//! Prints one JSON object.

use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use council_core::cbor::Cbor;
use council_core::records::{Action, MotionBody, MotionForm, Rule, Share, Signed, Threshold, VoteBody};
use council_core::sample::key_from_label;
use council_core::{Hash, SecretKey};
use council_node::datadir;

#[path = "common/load.rs"]
#[allow(dead_code)]
mod load;

/// Concurrent clients; client `t` votes as member `1 + t`.
const CLIENTS: usize = 8;
/// Ballots on each motion of the history (members 1 to 3, final).
const HISTORY_BALLOTS: usize = 3;

struct Api {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl Api {
    fn post(&self, path: &str, record: &[u8]) -> u16 {
        match self
            .agent
            .post(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .send_json(serde_json::json!({ "record": hex::encode(record) }))
        {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, r)) => panic!("{path}: {code} {}", r.into_string().unwrap_or_default()),
            Err(e) => panic!("{path}: {e}"),
        }
    }

    /// The body of a GET, whole.
    fn get(&self, path: &str) -> String {
        self.agent
            .get(&format!("{}{path}", self.base))
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .unwrap_or_else(|e| panic!("GET {path}: {e}"))
            .into_string()
            .expect("a body under ureq's 10 MB limit")
    }
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

fn motion(council: Hash, title: String, nonce: u64, rule: Rule, closes_at: u64, key: &SecretKey) -> Signed<MotionBody> {
    let body = MotionBody { council, title, form: MotionForm::YesNo(Action::Resolution), rule, closes_at, nonce };
    Signed::sign(body, key)
}

/// VOTES ballots on one motion that cannot settle (unanimity of all, and member 0 never
/// votes), from [`CLIENTS`] clients each changing its member's ballot: ballots per second
/// and the latencies' p50 and p99 in ms.
fn vote_load(api: &Api, council: Hash, keys: &[SecretKey], nonce: u64, votes: usize) -> (f64, f64, f64) {
    let rule = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let m = motion(council, format!("Load {nonce}"), nonce, rule, u64::MAX / 2, &keys[0]);
    assert_eq!(api.post("/v1/motions", &m.to_cbor()), 201);
    let id = m.id();
    // Signed beforehand: the load is the node's, not the client's signing.
    let per = votes / CLIENTS;
    let ballots: Vec<Vec<Vec<u8>>> = (0..CLIENTS)
        .map(|t| {
            (1..=per as u64)
                .map(|c| {
                    let body = VoteBody { council, motion: id, choice: (c % 2) as u32, counter: c, is_final: false };
                    Signed::sign(body, &keys[1 + t]).to_cbor()
                })
                .collect()
        })
        .collect();
    let started = Instant::now();
    let mut lat: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = ballots
            .iter()
            .map(|mine| {
                s.spawn(move || {
                    mine.iter()
                        .map(|b| {
                            let t = Instant::now();
                            assert_eq!(api.post("/v1/votes", b), 201);
                            t.elapsed()
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("client")).collect()
    });
    let secs = started.elapsed().as_secs_f64();
    lat.sort();
    let pct = |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1000.0;
    ((per * CLIENTS) as f64 / secs, pct(0.50), pct(0.99))
}

/// MOTIONS motions, each with [`HISTORY_BALLOTS`] final ballots, closing by their time a
/// few seconds after they open; returns once none is open.
fn build_history(api: &Api, council: Hash, keys: &[SecretKey], motions: u64) -> f64 {
    let next = AtomicU64::new(0);
    let rule = Rule { quorum: Share::new(1, 2), threshold: Threshold::SIMPLE_MAJORITY };
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..CLIENTS {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= motions {
                    return;
                }
                let m = motion(council, format!("Motion {n} of the history"), 1_000 + n, rule, now() + 3, &keys[0]);
                assert_eq!(api.post("/v1/motions", &m.to_cbor()), 201);
                for k in &keys[1..=HISTORY_BALLOTS] {
                    let body = VoteBody { council, motion: m.id(), choice: (n % 2) as u32, counter: 1, is_final: true };
                    assert_eq!(api.post("/v1/votes", &Signed::sign(body, k).to_cbor()), 201);
                }
            });
        }
    });
    let secs = started.elapsed().as_secs_f64();
    // Every motion of the history closes by its time: wait for the last.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let page: serde_json::Value =
            serde_json::from_str(&api.get("/v1/motions?status=open&limit=100")).expect("json");
        let open = page["motions"].as_array().expect("motions").len();
        if open <= 1 {
            break; // the first load motion, which never closes
        }
        assert!(Instant::now() < deadline, "the history's motions did not close");
        std::thread::sleep(Duration::from_millis(200));
    }
    secs
}

/// A figure of /proc/PID/status, in kB.
fn status_kb(child: &Child, field: &str) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
    s.lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
}

fn start(councild: &Path, dir: &Path) -> (Child, String, f64) {
    let mut cmd = Command::new(councild);
    cmd.args(["run", "--data-dir", dir.to_str().expect("utf-8 path")])
        .args(["--listen", "127.0.0.1:0", "--members-listen", "127.0.0.1:0"])
        .args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0", "--log", "warn"]);
    let t = Instant::now();
    let (child, base) = load::start_node(cmd, dir);
    (child, base, t.elapsed().as_secs_f64())
}

fn stop(mut child: Child) {
    let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
    let _ = child.wait();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let councild = std::path::PathBuf::from(args.get(1).expect("usage: history COUNCILD [MOTIONS] [VOTES]"));
    let motions: u64 = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(25_000);
    let votes: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(4_000);

    let tmp = tempfile::tempdir().expect("temp dir");
    // COUNCILNET_BENCH_KEEP=DIR keeps the node's data directory there; it must not exist yet.
    let dir = match std::env::var_os("COUNCILNET_BENCH_KEEP") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().join("node"),
    };
    let keys: Vec<SecretKey> = (0..=CLIENTS).map(|i| key_from_label(&format!("history/{i}"))).collect();
    let council = datadir::init_signed(&dir, "History", &keys, 1).expect("init");
    let (child, base, _) = start(&councild, &dir);
    let token = datadir::load_token(&dir).expect("token");
    let agent = ureq::AgentBuilder::new().max_idle_connections_per_host(CLIENTS).build();
    let api = Api { agent, base, token };

    let fresh = vote_load(&api, council, &keys, 1, votes);
    let build_secs = build_history(&api, council, &keys, motions);
    let history = vote_load(&api, council, &keys, 2, votes);
    std::thread::sleep(Duration::from_secs(2));
    let rss_at_rest = status_kb(&child, "VmRSS");
    let anon_at_rest = status_kb(&child, "RssAnon");
    stop(child);

    let (child, base, start_secs) = start(&councild, &dir);
    let api = Api { base, ..api };
    std::thread::sleep(Duration::from_secs(2));
    let rss_after_restart = status_kb(&child, "VmRSS");
    let anon_after_restart = status_kb(&child, "RssAnon");
    // The largest answer a member's device can ask for, at its largest page.
    let page: serde_json::Value = serde_json::from_str(&api.get("/v1/motions?status=closed&limit=100")).expect("json");
    let some_closed = page["motions"][0]["id"].as_str().expect("a closed motion").to_owned();
    let mut answers: Vec<(String, usize)> = [
        "/v1/council".to_owned(),
        "/v1/motions?status=closed&limit=100".to_owned(),
        "/v1/motions?status=open&limit=100".to_owned(),
        format!("/v1/motions/{some_closed}"),
        "/v1/federations".to_owned(),
        "/v1/network".to_owned(),
    ]
    .into_iter()
    .map(|p| {
        let n = api.get(&p).len();
        (p, n)
    })
    .collect();
    answers.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    stop(child);

    println!(
        "{}",
        serde_json::json!({
            "motions": motions,
            "ballots_per_motion": HISTORY_BALLOTS,
            "votes": votes,
            "clients": CLIENTS,
            "history_build_seconds": build_secs,
            "fresh_per_second": fresh.0,
            "fresh_p50_ms": fresh.1,
            "fresh_p99_ms": fresh.2,
            "history_per_second": history.0,
            "history_p50_ms": history.1,
            "history_p99_ms": history.2,
            "rss_at_rest_kb": rss_at_rest,
            "rss_after_restart_kb": rss_after_restart,
            "anon_at_rest_kb": anon_at_rest,
            "anon_after_restart_kb": anon_after_restart,
            "restart_seconds": start_secs,
            "largest_answer": answers[0].0,
            "largest_answer_bytes": answers[0].1,
        })
    );
}
