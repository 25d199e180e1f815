//! B6: the network's decisions at scale, simulated with no sockets (see `sim/mod.rs`).
//!
//! `cargo run --release -p council-node --example simulate -- [COUNCILS] [SEED]` runs one
//! federation of COUNCILS (default 100) councils, one node each, under the daemon's
//! defaults (5 s sync interval, a gossip mesh of 6, 10–50 ms links, 1% of gossip copies
//! lost, a tenth of the nodes partitioned for a while and a tenth restarted, one council
//! leaving), with as many new entries as councils over 20 simulated seconds, and prints
//! one JSON object. The same seed gives the same run (`trace`).

mod sim;

use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let councils: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(100);
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(1);
    let started = Instant::now();
    let r = sim::Sim::new(sim::Params::federation(councils, seed)).run();
    let opt = |v: Option<u64>| v.map_or("null".to_string(), |v| v.to_string());
    println!(
        "{{\"councils\":{},\"seed\":{},\"entries\":{},\"converged_after_last_entry_ms\":{},\"recall_all_ms\":{},\"recall_median_ms\":{},\"gossip_per_node_per_entry\":{:.2},\"gossip_bytes_per_node_per_entry\":{:.0},\"repair_per_node_per_entry\":{:.2},\"repair_bytes_per_node_per_entry\":{:.0},\"heads_bytes_per_node_per_s\":{:.0},\"connections_mean\":{:.1},\"leaked_to_leaver\":{},\"after_leave_received\":{},\"events\":{},\"trace\":\"{}\",\"wall_s\":{:.1}}}",
        r.councils,
        seed,
        r.entries,
        opt(r.converged_after_last_entry_ms),
        opt(r.recall_all_ms),
        opt(r.recall_median_ms),
        r.gossip_per_node_per_entry,
        r.gossip_bytes_per_node_per_entry,
        r.repair_per_node_per_entry,
        r.repair_bytes_per_node_per_entry,
        r.heads_bytes_per_node_per_s,
        r.connections_mean,
        r.leaked_to_leaver,
        r.after_leave_received,
        r.events,
        r.trace.to_hex(),
        started.elapsed().as_secs_f64(),
    );
}
