//! Sessions held under slow-connection load: how many members still sign in and read
//! while attackers hold as many slow connections to the member address as it lets
//! them.
//!
//! `cargo run --release -p council-node --example slow_members -- [ATTACKER_ADDRESSES] [MEMBERS]`
//!
//! Each attacker address (127.0.0.2, 127.0.0.3, … on loopback) opens connections until
//! the node stops taking them, and on each sends a request line and then one header byte
//! every 5 s (slowloris), reconnecting whenever the node closes one. Meanwhile MEMBERS
//! members (from 127.0.0.1) each sign in and read the council and a motion, once a
//! second, for 30 s. It prints how many sign-ins and reads succeeded, their latency, and
//! how many attacker connections were open. The node runs with its default limits.
//!
//! All members share 127.0.0.1 here, so the per-address limit on sign-ins (a burst of 60
//! requests) turns some of the first second's sign-ins away (429); those members try
//! again a second later, and each such second counts as a failed read. Run it with 0
//! attacker addresses for that baseline.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use council_core::cbor::Cbor;
use council_core::records::{SessionBody, Signed};
use council_core::sample::key_from_label;
use council_core::SecretKey;
use council_node::{config::Config, datadir};

const RUN: Duration = Duration::from_secs(30);

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let attackers = args.first().copied().unwrap_or(8);
    let members = args.get(1).copied().unwrap_or(50);
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("node");
    let keys: Vec<SecretKey> = (0..members).map(|i| key_from_label(&format!("slow/{i}"))).collect();
    datadir::init_signed(&dir, "Slow", &keys, council_node::writer::now()).expect("a council");
    let mut cfg = Config::local(&dir).expect("a configuration");
    cfg.network.enabled = false;
    cfg.log.level = "error".into();
    let rt = tokio::runtime::Runtime::new().expect("a runtime");
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let node = rt.spawn(council_node::run(
        cfg.clone(),
        async {
            let _ = stop_rx.await;
        },
        |_| {},
    ));
    let addr_file = dir.join(datadir::MEMBERS_ADDR);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !addr_file.exists() {
        assert!(Instant::now() < deadline, "the node did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    let addr: SocketAddr =
        std::fs::read_to_string(&addr_file).expect("members-addr").trim().parse().expect("an address");

    let done = Arc::new(AtomicBool::new(false));
    // Each attacker's open connections.
    let open: Arc<Vec<AtomicUsize>> = Arc::new((0..attackers).map(|_| AtomicUsize::new(0)).collect());
    let held = || open.iter().map(|n| n.load(Ordering::Relaxed)).sum::<usize>();
    let mut threads = Vec::new();
    for a in 0..attackers {
        let (done, open) = (done.clone(), open.clone());
        threads.push(std::thread::spawn(move || slowloris(addr, a, &done, &open[a])));
    }
    // Let the attackers fill what they can.
    std::thread::sleep(Duration::from_secs(3));
    let held_at_start = held();

    let results: Vec<(usize, usize, usize, Vec<Duration>)> = std::thread::scope(|s| {
        let hs: Vec<_> = keys.iter().map(|k| s.spawn(move || member(addr, k))).collect();
        hs.into_iter().map(|h| h.join().expect("a member thread")).collect()
    });
    let held_at_end = held();
    done.store(true, Ordering::Relaxed);
    let signed_in = results.iter().filter(|r| r.0 > 0).count();
    let reads: usize = results.iter().map(|r| r.1).sum();
    let failed: usize = results.iter().map(|r| r.2).sum();
    let mut lat: Vec<Duration> = results.into_iter().flat_map(|r| r.3).collect();
    lat.sort();
    let pct = |p: f64| lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1))).copied();
    println!(
        "attacker addresses {attackers}, slow connections held {held_at_start} at the start and {held_at_end} at the end"
    );
    println!(
        "members {members}: {signed_in} signed in; reads {reads} ok, {failed} failed; latency p50 {:?}, p99 {:?}, max {:?}",
        pct(0.5).unwrap_or_default(),
        pct(0.99).unwrap_or_default(),
        lat.last().copied().unwrap_or_default()
    );
    let _ = stop_tx.send(());
    let _ = rt.block_on(node);
    for t in threads {
        let _ = t.join();
    }
}

/// Holds as many slow connections from 127.0.0.(2 + n) as the node accepts.
fn slowloris(addr: SocketAddr, n: usize, done: &AtomicBool, open: &AtomicUsize) {
    let source: std::net::IpAddr = format!("127.0.0.{}", 2 + n).parse().expect("an address");
    let mut conns: Vec<TcpStream> = Vec::new();
    let mut last_byte = Instant::now();
    while !done.load(Ordering::Relaxed) {
        // Top up: a connection the node accepted answers nothing; one it refused is closed.
        if conns.len() < 64 {
            if let Some(c) = connect_from(source, addr) {
                let mut c = c;
                if c.write_all(b"GET /v1/council HTTP/1.1\r\nHost: 127.0.0.1\r\n").is_ok() {
                    conns.push(c);
                }
            }
        }
        if last_byte.elapsed() > Duration::from_secs(5) {
            last_byte = Instant::now();
            conns.retain_mut(|c| c.write_all(b"X").is_ok() && still_open(c));
        } else {
            conns.retain_mut(still_open);
        }
        open.store(conns.len(), Ordering::Relaxed);
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn still_open(c: &mut TcpStream) -> bool {
    let _ = c.set_nonblocking(true);
    let mut b = [0u8; 1];
    let open = match c.read(&mut b) {
        Ok(0) => false,
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
    };
    let _ = c.set_nonblocking(false);
    open
}

fn connect_from(source: std::net::IpAddr, to: SocketAddr) -> Option<TcpStream> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
    let s = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().ok()?;
        sock.bind(SocketAddr::new(source, 0)).ok()?;
        tokio::time::timeout(Duration::from_secs(2), sock.connect(to)).await.ok()?.ok()
    })?;
    let s = s.into_std().ok()?;
    s.set_nonblocking(false).ok()?;
    Some(s)
}

/// One member: signs in, then reads once a second. (sign-ins, reads ok, failures, latencies)
fn member(addr: SocketAddr, key: &SecretKey) -> (usize, usize, usize, Vec<Duration>) {
    let base = format!("http://{addr}");
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(10)).build();
    let (mut ins, mut ok, mut failed, mut lat) = (0, 0, 0, Vec::new());
    let end = Instant::now() + RUN;
    let mut session: Option<String> = None;
    while Instant::now() < end {
        let t = Instant::now();
        if session.is_none() {
            session = sign_in(&agent, &base, key);
            if session.is_some() {
                ins += 1;
            }
        }
        let ok_now = session.as_ref().is_some_and(|s| {
            agent.get(&format!("{base}/v1/council")).set("Authorization", &format!("Session {s}")).call().is_ok()
        });
        if ok_now {
            ok += 1;
            lat.push(t.elapsed());
        } else {
            failed += 1;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    (ins, ok, failed, lat)
}

fn sign_in(agent: &ureq::Agent, base: &str, key: &SecretKey) -> Option<String> {
    let c: serde_json::Value = agent.post(&format!("{base}/v1/session/challenge")).call().ok()?.into_json().ok()?;
    let council = council_core::Hash::from_hex(c["council"].as_str()?)?;
    let challenge = council_core::Hash::from_hex(c["challenge"].as_str()?)?;
    let answer = Signed::sign(SessionBody { council, challenge }, key);
    let r: serde_json::Value = agent
        .post(&format!("{base}/v1/session"))
        .send_json(serde_json::json!({ "record": hex::encode(answer.to_cbor()) }))
        .ok()?
        .into_json()
        .ok()?;
    r["session"].as_str().map(str::to_owned)
}
