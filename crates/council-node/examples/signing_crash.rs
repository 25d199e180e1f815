//! The signing crash: the node is killed (SIGKILL) after it signed log entries and before
//! it stored them, at a random batch under ballot load, again and again. An entry signed
//! and then lost is signed again after the restart, differently (another ballot, another
//! time): that must never make two different entries at one place of the log visible
//! outside the node. So, throughout, a reader keeps downloading the export (which, like
//! gossip and sync, shows only entries that are on disk) and records every entry it sees;
//! after each crash the test checks that
//!
//! - no entry that died in the crash was ever seen, or acknowledged;
//! - no place of the log was ever seen holding two different entries;
//! - every acknowledged ballot is in the log after the restart, and the export verifies.
//!
//! Usage: `cargo run --release -p council-node --features failpoints --example
//! signing_crash -- [CYCLES]` (`scripts/crash-cycles.sh` runs it). The example starts
//! itself as the node (`signing_crash node DIR`): councild is never built with crash points.
//! Prints one JSON line.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::export::{verify_reader, ExportItem, ItemReader};
use council_core::records::{Entry, Payload};
use council_core::sample::key_from_label;
use council_core::{Hash, SecretKey};
use council_node::config::Config;
use council_node::datadir;
use council_node::failpoint::CRASH_AFTER_SIGNING;

#[path = "common/load.rs"]
mod load;
use load::{start_node, Load};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("node") {
        return node(Path::new(args.get(2).expect("usage: signing_crash node DIR")));
    }
    let cycles: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10);
    drive(cycles);
}

/// The node, as councild runs it, offline.
fn node(dir: &Path) {
    let mut config = Config::local(dir).expect("config");
    config.network.enabled = false;
    config.log.level = "error".into();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    rt.block_on(council_node::run(config, std::future::pending(), |_| {})).expect("the node runs");
}

/// Starts the node; the caller waits for it.
fn start(dir: &Path, crash: Option<(u64, &Path)>) -> (Child, String) {
    let mut cmd = Command::new(std::env::current_exe().expect("own path"));
    cmd.args(["node", dir.to_str().expect("utf-8 path")]);
    match crash {
        Some((n, file)) => cmd.env(CRASH_AFTER_SIGNING, format!("{n}:{}", file.display())),
        None => cmd.env_remove(CRASH_AFTER_SIGNING),
    };
    start_node(cmd, dir)
}

/// The entries of the node's own council in an export (or a crash point's dump).
fn entries(bytes: &[u8], council: &Hash) -> Vec<Entry> {
    let mut r = ItemReader::new(bytes);
    let mut out = Vec::new();
    while let Ok(Some((_, item))) = r.next_item() {
        if let Ok(ExportItem::Entry(e)) = ExportItem::from_cbor(&item) {
            if e.body.council == *council {
                out.push(e);
            }
        }
    }
    out
}

fn export(agent: &ureq::Agent, base: &str, token: &str) -> Option<Vec<u8>> {
    let r = agent.get(&format!("{base}/v1/export")).set("Authorization", &format!("Bearer {token}")).call().ok()?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).ok()?;
    Some(bytes)
}

fn drive(cycles: usize) {
    let members = 20usize;
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path().join("node");
    let dump = tmp.path().join("signed-not-stored.cbor");
    let keys: Vec<SecretKey> = (0..members).map(|i| key_from_label(&format!("signing-crash/{i}"))).collect();
    let council = datadir::init_signed(&dir, "Signing crash", &keys, 1).expect("init");
    let token = std::fs::read_to_string(dir.join(datadir::API_TOKEN)).expect("token").trim().to_owned();
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();

    // Every acknowledged ballot; every entry id ever seen at each place of the log.
    let acked = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let seen = Arc::new(Mutex::new(HashMap::<u64, HashSet<Hash>>::new()));
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let (mut counter, mut died) = (0u64, 0usize);
    let started = Instant::now();
    for cycle in 0..cycles {
        let _ = std::fs::remove_file(&dump);
        // The first batches are the motion's; the crash comes within the ballots.
        let at = 3 + next() % 40;
        let (mut child, base) = start(&dir, Some((at, &dump)));
        let load = Load { agent: &agent, base: &base, token: &token, council, keys: &keys };
        let motion = load.open_motion(format!("Cycle {cycle}"), cycle as u64);
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            load.spawn_voters(s, motion, counter, &stop, &acked);
            // The reader: downloads the export again and again while the node runs.
            let (stop2, seen2, agent2, base2, token2) = (stop.clone(), seen.clone(), agent.clone(), &base, &token);
            s.spawn(move || {
                while !stop2.load(Ordering::Relaxed) {
                    if let Some(bytes) = export(&agent2, base2, token2) {
                        let mut seen = seen2.lock().expect("lock");
                        for e in entries(&bytes, &council) {
                            seen.entry(e.body.seq).or_default().insert(e.id());
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            });
            let status = wait_exit(&mut child, Duration::from_secs(120));
            stop.store(true, Ordering::Relaxed);
            assert!(status.is_some(), "cycle {cycle}: the crash point (batch {at}) was never reached");
        });
        counter += 10_000_000;

        // What died: signed, never stored.
        let dead = entries(&std::fs::read(&dump).expect("the crash point wrote what it signed"), &council);
        assert!(!dead.is_empty(), "cycle {cycle}: the crash point signed nothing");
        died += dead.len();

        // Restart without the crash point; read the log.
        let (mut child, base) = start(&dir, None);
        let bytes = export(&agent, &base, &token).expect("export after restart");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        let report = verify_reader(bytes.as_slice());
        assert!(report.valid, "cycle {cycle}: the export does not verify: {:?}", report.errors);
        let log = entries(&bytes, &council);
        let mut seen = seen.lock().expect("lock");
        for e in &log {
            seen.entry(e.body.seq).or_default().insert(e.id());
        }
        for e in &dead {
            let at = seen.get(&e.body.seq);
            assert!(
                !at.is_some_and(|ids| ids.contains(&e.id())),
                "cycle {cycle}: an entry signed but never stored (seq {}) was seen outside the node",
                e.body.seq
            );
        }
        if let Some((seq, ids)) = seen.iter().find(|(_, ids)| ids.len() > 1) {
            panic!("cycle {cycle}: two different entries were seen at place {seq}: {ids:?}");
        }
        let held: HashSet<Vec<u8>> = log
            .iter()
            .filter_map(|e| match &e.body.payload {
                Payload::Vote(v) => Some(v.to_cbor()),
                _ => None,
            })
            .collect();
        let lost = acked.lock().expect("lock").iter().filter(|v| !held.contains(*v)).count();
        assert_eq!(lost, 0, "cycle {cycle}: {lost} acknowledged ballots lost");
    }
    println!(
        "{}",
        serde_json::json!({
            "cycles": cycles,
            "entries_signed_and_lost": died,
            "acknowledged_ballots": acked.lock().expect("lock").len(),
            "places_seen": seen.lock().expect("lock").len(),
            "conflicts_seen": 0,
            "lost": 0,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
}

/// Waits for the child to exit, up to `limit`.
fn wait_exit(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if let Ok(Some(s)) = child.try_wait() {
            return Some(s);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    let _ = child.wait();
    None
}
