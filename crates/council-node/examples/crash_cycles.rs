//! Crash durability: runs `councild` under ballot load and kills it with SIGKILL at a
//! random moment, again and again. After every restart, every ballot the node had
//! acknowledged must be in its log, the store must open, and the export must verify.
//! Every 25 cycles the run starts again with a new council and store.
//!
//! Usage: `cargo run --release -p council-node --example crash_cycles -- COUNCILD COUNCIL [CYCLES]`
//! (paths of the two binaries). `scripts/crash-cycles.sh` runs it. Prints one JSON line.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::sample::key_from_label;
use council_core::SecretKey;
use council_node::datadir;

#[path = "common/load.rs"]
mod load;
use load::{start_node, Load};

/// Cycles run on one store before the next starts afresh.
const CYCLES_PER_STORE: usize = 25;

/// Starts the node; the caller kills and waits for it.
fn start(councild: &Path, dir: &Path) -> (Child, String) {
    let mut cmd = Command::new(councild);
    cmd.args([
        "run",
        "--data-dir",
        dir.to_str().expect("utf-8 path"),
        "--listen",
        "127.0.0.1:0",
        "--members-listen",
        "127.0.0.1:0",
        "--log",
        "error",
    ])
    .args(["--p2p-listen", "/ip4/127.0.0.1/tcp/0"]);
    start_node(cmd, dir)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let councild = PathBuf::from(args.get(1).expect("usage: crash_cycles COUNCILD COUNCIL [CYCLES]"));
    let council_bin = PathBuf::from(args.get(2).expect("usage: crash_cycles COUNCILD COUNCIL [CYCLES]"));
    let cycles: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(20);
    let members = 20usize;

    let tmp = tempfile::tempdir().expect("temp dir");
    let keys: Vec<SecretKey> = (0..members).map(|i| key_from_label(&format!("crash/{i}"))).collect();
    let (mut dir, mut council, mut token) = (PathBuf::new(), council_core::Hash::ZERO, String::new());

    // Every acknowledged ballot record of the current store.
    let acked = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let mut acked_total = 0usize;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut counter = 0u64;
    let mut lost = 0usize;
    let started = Instant::now();
    for cycle in 0..cycles {
        if cycle % CYCLES_PER_STORE == 0 {
            // A new council and store: each check reads the whole log, so one store for
            // every cycle would make the run quadratic in its length.
            dir = tmp.path().join(format!("node-{}", cycle / CYCLES_PER_STORE));
            council = datadir::init_signed(&dir, "Crash", &keys, 1).expect("init");
            token = std::fs::read_to_string(dir.join(datadir::API_TOKEN)).expect("token").trim().to_owned();
            let mut acked = acked.lock().expect("lock");
            acked_total += acked.len();
            acked.clear();
        }
        let (mut child, base) = start(&councild, &dir);
        let agent = ureq::AgentBuilder::new().build();
        let load = Load { agent: &agent, base: &base, token: &token, council, keys: &keys };
        let motion = load.open_motion(format!("Cycle {cycle}"), cycle as u64);
        let stop = Arc::new(AtomicBool::new(false));
        std::thread::scope(|s| {
            load.spawn_voters(s, motion, counter, &stop, &acked);
            // Kill at a random moment between 50 and 550 ms into the load.
            std::thread::sleep(Duration::from_millis(50 + next() % 500));
            let _ = child.kill();
            let _ = child.wait();
            stop.store(true, Ordering::Relaxed);
        });
        counter += 10_000_000;

        // Restart: every acknowledged ballot must be in the export, and it must verify.
        let (mut child, _) = start(&councild, &dir);
        let out = tmp.path().join("export.cnx");
        let exported = Command::new(&council_bin)
            .args(["--node-dir", dir.to_str().expect("utf-8"), "export", "--out", out.to_str().expect("utf-8")])
            .stdout(Stdio::null())
            .status()
            .expect("council export runs");
        assert!(exported.success(), "export failed after cycle {cycle}");
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let _ = child.wait();
        let verified = Command::new(&council_bin)
            .args(["verify", out.to_str().expect("utf-8")])
            .stdout(Stdio::null())
            .status()
            .expect("verify runs");
        assert!(verified.success(), "the export does not verify after cycle {cycle}");
        let held = ballots_in(&out);
        let acked = acked.lock().expect("lock");
        lost = acked.iter().filter(|v| !held.contains(*v)).count();
        assert_eq!(lost, 0, "{lost} acknowledged ballots lost after cycle {cycle}");
    }
    println!(
        "{}",
        serde_json::json!({
            "cycles": cycles,
            "acknowledged_ballots": acked_total + acked.lock().expect("lock").len(),
            "stores": cycles.div_ceil(CYCLES_PER_STORE),
            "lost": lost,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
}

/// The ballot records (canonical bytes) in an export.
fn ballots_in(path: &Path) -> std::collections::HashSet<Vec<u8>> {
    use council_core::export::{ExportItem, ItemReader};
    use council_core::records::Payload;
    let mut r = ItemReader::new(std::io::BufReader::new(std::fs::File::open(path).expect("export")));
    let mut held = std::collections::HashSet::new();
    while let Some((_, bytes)) = r.next_item().expect("readable export") {
        if let Ok(ExportItem::Entry(e)) = ExportItem::from_cbor(&bytes) {
            if let Payload::Vote(v) = e.body.payload {
                held.insert(v.to_cbor());
            }
        }
    }
    held
}
