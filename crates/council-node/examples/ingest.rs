//! B2: durable ballot ingestion through the node's HTTP API, with concurrent clients,
//! beside the raw rate of the same work done directly (signature checks on all
//! cores, plus sled inserts with one flush per batch) on the same machine, in the same run.
//!
//! Usage: `cargo run --release -p council-node --example ingest -- [BALLOTS] [CLIENTS] [BATCH]`
//!
//! With `BATCH` above 1 each client sends that many ballots per request to
//! `POST /v1/batch` (and the latencies are per request); otherwise one per request to
//! `POST /v1/votes`. The raw limit is given twice: with each signature checked alone, and
//! with the signatures checked in batches of 1,024 (as `POST /v1/batch` checks them).
//! Prints one JSON object.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::records::{Action, MotionBody, MotionForm, Payload, Rule, Share, Signed, Threshold, VoteBody};
use council_core::sample::key_from_label;
use council_core::verify::verify_payloads;
use council_core::SecretKey;
use council_node::config::Config;
use council_node::datadir;
use rayon::prelude::*;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let ballots: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let clients: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(64);
    let per_request: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(1).clamp(1, 1024);
    let members = 500usize;
    let motions = ballots.div_ceil(members);

    let tmp = tempfile::tempdir().expect("temp dir");
    // COUNCILNET_BENCH_KEEP=DIR keeps the node's data directory there (for cold-start and
    // footprint measurements); it must not exist yet.
    let dir = match std::env::var_os("COUNCILNET_BENCH_KEEP") {
        Some(d) => std::path::PathBuf::from(d),
        None => tmp.path().join("node"),
    };
    let keys: Vec<SecretKey> = (0..members).map(|i| key_from_label(&format!("ingest/{i}"))).collect();
    let council = datadir::init_signed(&dir, "Bench", &keys, 1).expect("init");

    let mut config = Config::local(&dir).expect("config");
    config.log.level = "warn".into();
    // Ingestion alone: no federation to publish to.
    config.network.enabled = false;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (addr_tx, addr_rx) = std::sync::mpsc::channel();
    let node = rt.spawn(council_node::run(
        config,
        async {
            let _ = stop_rx.await;
        },
        move |a| {
            let _ = addr_tx.send(a);
        },
    ));
    let addr = addr_rx.recv_timeout(Duration::from_secs(60)).expect("the node starts");
    let token = std::fs::read_to_string(dir.join(datadir::API_TOKEN)).expect("token").trim().to_owned();
    let base = format!("http://{addr}");
    let agent = ureq::AgentBuilder::new().max_idle_connections_per_host(clients).build();
    let post = |agent: &ureq::Agent, path: &str, rec: Vec<u8>| {
        agent
            .post(&format!("{base}{path}"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({ "record": hex::encode(rec) }))
            .map(|_| ())
            .map_err(|e| e.to_string())
    };
    let post_batch = |agent: &ureq::Agent, recs: &[Vec<u8>]| -> Result<(), String> {
        let records: Vec<serde_json::Value> =
            recs.iter().map(|r| serde_json::json!({ "kind": "vote", "record": hex::encode(r) })).collect();
        let answer: serde_json::Value = agent
            .post(&format!("{base}/v1/batch"))
            .set("Authorization", &format!("Bearer {token}"))
            .send_json(serde_json::json!({ "records": records }))
            .map_err(|e| e.to_string())?
            .into_json()
            .map_err(|e| e.to_string())?;
        let results = answer["results"].as_array().ok_or("no results")?;
        if results.len() != recs.len() || results.iter().any(|r| r["status"] != 201) {
            return Err(format!("not every ballot was acknowledged: {answer}"));
        }
        Ok(())
    };

    // Motions that cannot settle before every member has voted: a full quorum, unanimity.
    let rule = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
    let mut motion_ids = Vec::new();
    for n in 0..motions {
        let body = MotionBody {
            council,
            title: format!("Motion {n}"),
            form: MotionForm::YesNo(Action::Resolution),
            rule,
            closes_at: u64::MAX / 2,
            nonce: n as u64,
        };
        let m = Signed::sign(body, &keys[0]);
        post(&agent, "/v1/motions", m.to_cbor()).expect("motion");
        motion_ids.push(m.id());
    }
    // Every ballot signed up front; the last member's ballots are left out so that no
    // motion closes during the run.
    let records: Vec<Vec<u8>> = (0..ballots)
        .into_par_iter()
        .map(|i| {
            let (m, k) = (i / (members - 1), i % (members - 1));
            Signed::sign(
                VoteBody {
                    council,
                    motion: motion_ids[m % motion_ids.len()],
                    choice: 0,
                    counter: 1 + (m / motion_ids.len()) as u64,
                    is_final: false,
                },
                &keys[k],
            )
            .to_cbor()
        })
        .collect();

    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..clients)
            .map(|_| {
                let (next, records, agent, post) = (next.clone(), &records, agent.clone(), &post);
                s.spawn(move || {
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(per_request, Ordering::Relaxed);
                        if i >= records.len() {
                            return lat;
                        }
                        let t = Instant::now();
                        if per_request == 1 {
                            post(&agent, "/v1/votes", records[i].clone()).expect("ballot acknowledged");
                        } else {
                            let chunk = &records[i..(i + per_request).min(records.len())];
                            post_batch(&agent, chunk).expect("batch answered");
                        }
                        lat.push(t.elapsed());
                    }
                })
            })
            .collect();
        hs.into_iter().flat_map(|h| h.join().expect("client")).collect()
    });
    let api_secs = started.elapsed().as_secs_f64();
    latencies.sort();
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    let stopping = Instant::now();
    let _ = stop_tx.send(());
    rt.block_on(node).expect("node task").expect("node stops cleanly");
    let stop_secs = stopping.elapsed().as_secs_f64();
    let disk: u64 = walk(&dir.join(datadir::STORE));
    // What the store holds, by the prefix of its keys: the live bytes beside the file.
    let live: std::collections::BTreeMap<String, (u64, u64)> = {
        let db = sled::Config::new().path(dir.join(datadir::STORE)).open().expect("store");
        let tree = db.open_tree("council").expect("tree");
        let mut m = std::collections::BTreeMap::new();
        for kv in tree.iter() {
            let (k, v) = kv.expect("read");
            let prefix = k.iter().take_while(|b| b.is_ascii_alphabetic() || **b == b'-').map(|b| *b as char).collect();
            let e: &mut (u64, u64) = m.entry(prefix).or_default();
            e.0 += 1;
            e.1 += (k.len() + v.len()) as u64;
        }
        m
    };

    // The raw limit: the same signature checks on all cores, then sled inserts of the
    // same bytes with one flush per 1024 records.
    let signed: Vec<Signed<VoteBody>> = records.iter().map(|r| Signed::from_cbor(r).expect("decode")).collect();
    let t = Instant::now();
    assert!(signed.par_iter().all(|s| s.signature_valid()));
    let verify_secs = t.elapsed().as_secs_f64();
    let payloads: Vec<Payload> = signed.iter().cloned().map(Payload::Vote).collect();
    let t = Instant::now();
    assert!(payloads.par_chunks(1024).all(|c| verify_payloads(c.to_vec()).iter().all(Result::is_ok)));
    let batch_verify_secs = t.elapsed().as_secs_f64();
    let raw_dir = tmp.path().join("raw");
    let db = sled::Config::new().path(&raw_dir).mode(sled::Mode::HighThroughput).open().expect("sled");
    let t = Instant::now();
    for (n, chunk) in records.chunks(1024).enumerate() {
        let mut b = sled::Batch::default();
        for (i, r) in chunk.iter().enumerate() {
            b.insert(&((n * 1024 + i) as u64).to_be_bytes(), r.as_slice());
        }
        db.apply_batch(b).expect("insert");
        db.flush().expect("flush");
    }
    let store_secs = t.elapsed().as_secs_f64();
    let raw_secs = verify_secs + store_secs;
    println!(
        "{}",
        serde_json::json!({
            "ballots": ballots,
            "clients": clients,
            "api_seconds": api_secs,
            "api_ballots_per_second": ballots as f64 / api_secs,
            "p50_ms": pct(0.50),
            "p99_ms": pct(0.99),
            "raw_verify_seconds": verify_secs,
            "raw_sled_seconds": store_secs,
            "raw_ballots_per_second": ballots as f64 / raw_secs,
            "raw_batch_verify_seconds": batch_verify_secs,
            "raw_batch_ballots_per_second": ballots as f64 / (batch_verify_secs + store_secs),
            "per_request": per_request,
            "store_bytes_on_disk": disk,
            "stop_seconds": stop_secs,
            "store_live": live.iter().map(|(k, (n, b))| (k.clone(), serde_json::json!({ "keys": n, "bytes": b }))).collect::<serde_json::Map<_, _>>(),
            "payload_bytes": records.iter().map(|r| r.len() as u64).sum::<u64>(),
        })
    );
}

fn walk(p: &std::path::Path) -> u64 {
    std::fs::read_dir(p)
        .map(|rd| {
            rd.filter_map(Result::ok)
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => walk(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
