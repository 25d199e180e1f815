//! The node's metrics, served as OpenMetrics text at `GET /metrics` on the operator API
//! (behind its token, like everything there).
//!
//! Counters count from the node's start; gauges that describe where things stand (the
//! log's length, the writer's queue, peers, how far behind each followed log is) are read
//! when the metrics are asked for, so they are never stale. libp2p's own metrics
//! (connections, bandwidth, gossipsub's mesh and scores, identify, Kademlia) are under
//! the prefix `libp2p_`. docs/OPERATIONS.md lists every series.

use std::sync::{Arc, Mutex, MutexGuard};

use council_net::{GossipLabels, NetMetrics, Verdict};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabel {
    /// The entry's payload kind, as in PROTOCOL.md (`vote`, `motion`, `close`, ...).
    pub kind: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CouncilLabel {
    /// The followed council's id (64 hex digits).
    pub council: String,
}

/// Every metric the node keeps, and the registry that holds them (and libp2p's).
/// Cheap to clone: the metrics are shared.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Arc<Mutex<Registry>>,
    /// Entries this node signed into its council's log since it started, by kind.
    pub entries_written: Family<KindLabel, Counter>,
    /// How long each batch of the writer took to reach the disk (seconds).
    pub write_seconds: Histogram,
    /// Gossip messages judged, by verdict and reason (by the node and by the network).
    gossip: Family<GossipLabels, Counter>,
    /// Equivocations found: a council's node that signed two entries at one place.
    pub equivocations: Counter,
    // Read at each scrape.
    log_entries: Gauge,
    writer_queue: Gauge,
    peers_connected: Gauge,
    peers_allowed: Gauge,
    followed: Gauge,
    sync_lag: Family<CouncilLabel, Gauge>,
    storage_full: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut r = Registry::default();
        let m = Metrics {
            entries_written: Family::default(),
            write_seconds: Histogram::new(exponential_buckets(0.0005, 2.0, 14)),
            gossip: Family::default(),
            equivocations: Counter::default(),
            log_entries: Gauge::default(),
            writer_queue: Gauge::default(),
            peers_connected: Gauge::default(),
            peers_allowed: Gauge::default(),
            followed: Gauge::default(),
            sync_lag: Family::default(),
            storage_full: Gauge::default(),
            registry: Arc::new(Mutex::new(Registry::default())),
        };
        let c = r.sub_registry_with_prefix("council");
        c.register(
            "entries_written",
            "Entries this node signed into its council's log since it started, by kind",
            m.entries_written.clone(),
        );
        c.register("log_entries", "Entries in this council's log (its last sequence number)", m.log_entries.clone());
        c.register(
            "writer_queue",
            "Requests waiting for the writer (votes, motions, reads that wait for the disk)",
            m.writer_queue.clone(),
        );
        c.register("write_seconds", "How long each batch of entries took to reach the disk", m.write_seconds.clone());
        c.register("peers_connected", "Other councils' nodes connected now", m.peers_connected.clone());
        c.register(
            "peers_allowed",
            "Connected nodes of councils in this council's federations (the rest are in their hello grace)",
            m.peers_allowed.clone(),
        );
        c.register("followed_councils", "Other councils whose logs this node follows", m.followed.clone());
        c.register(
            "sync_lag_entries",
            "How many entries of a followed council's log peers last said they hold beyond what this node holds",
            m.sync_lag.clone(),
        );
        c.register(
            "storage_full",
            "1 while the store's disk is too full to take new records (store.min_free_mb), else 0",
            m.storage_full.clone(),
        );
        c.register("gossip_messages", "Gossip messages judged, by verdict and reason", m.gossip.clone());
        c.register(
            "equivocations",
            "Councils' nodes found signing two different entries at one place in their log",
            m.equivocations.clone(),
        );
        *m.registry.lock().unwrap_or_else(|p| p.into_inner()) = r;
        m
    }

    /// What the network counts into: libp2p's metrics, and its own gossip verdicts.
    pub fn for_network(&self) -> NetMetrics {
        NetMetrics { registry: self.registry.clone(), gossip: self.gossip.clone() }
    }

    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Counts a gossip verdict.
    pub fn judged(&self, verdict: Verdict, reason: &'static str) {
        self.gossip.get_or_create(&GossipLabels { verdict: verdict.as_str(), reason }).inc();
    }

    /// Everything, as OpenMetrics text, after reading the gauges from `now`.
    pub fn encode(&self, now: &Now) -> String {
        self.log_entries.set(clamp(now.log_entries));
        self.writer_queue.set(clamp(now.writer_queue as u64));
        self.storage_full.set(i64::from(now.storage_full));
        if let Some(net) = &now.network {
            self.peers_connected.set(clamp(net.connected as u64));
            self.peers_allowed.set(clamp(net.allowed as u64));
            self.followed.set(clamp(net.lag.len() as u64));
            // Councils no longer followed drop out.
            self.sync_lag.clear();
            for (council, lag) in &net.lag {
                self.sync_lag.get_or_create(&CouncilLabel { council: council.clone() }).set(clamp(*lag));
            }
        }
        let mut out = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.lock());
        out
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Where things stand at a scrape.
#[derive(Debug, Clone, Default)]
pub struct Now {
    pub log_entries: u64,
    pub writer_queue: usize,
    /// The disk is too full to take new records.
    pub storage_full: bool,
    /// None when the network is off.
    pub network: Option<NetNow>,
}

#[derive(Debug, Clone, Default)]
pub struct NetNow {
    pub connected: usize,
    pub allowed: usize,
    /// Each followed council (hex id) and how far behind peers' last word its log is here.
    pub lag: Vec<(String, u64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_are_named_and_read_at_scrape() {
        let m = Metrics::new();
        m.entries_written.get_or_create(&KindLabel { kind: "vote" }).inc_by(3);
        m.judged(Verdict::Reject, "bad-signature");
        let text = m.encode(&Now {
            log_entries: 41,
            writer_queue: 2,
            storage_full: true,
            network: Some(NetNow { connected: 3, allowed: 1, lag: vec![("ab".repeat(32), 7)] }),
        });
        for line in [
            "council_entries_written_total{kind=\"vote\"} 3",
            "council_log_entries 41",
            "council_writer_queue 2",
            "council_storage_full 1",
            "council_peers_connected 3",
            "council_peers_allowed 1",
            "council_followed_councils 1",
            &format!("council_sync_lag_entries{{council=\"{}\"}} 7", "ab".repeat(32)),
            "council_gossip_messages_total{verdict=\"reject\",reason=\"bad-signature\"} 1",
            "council_equivocations_total 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no line {line:?} in\n{text}");
        }
        // Every series of the node's own that the sample dashboard plots and
        // docs/OPERATIONS.md lists is one it serves (libp2p's: the e2e test
        // `the_operator_reads_the_nodes_metrics_with_its_token_only`).
        let served: std::collections::BTreeSet<&str> =
            text.lines().filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next()).collect();
        for (file, doc) in [
            ("config/grafana-dashboard.json", include_str!("../../../config/grafana-dashboard.json")),
            ("docs/OPERATIONS.md", include_str!("../../../docs/OPERATIONS.md")),
        ] {
            let named: Vec<&str> = doc
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .filter(|w| w.starts_with("council_") && !w.ends_with('_'))
                .collect();
            for word in &named {
                let series = ["_total", "_bucket"].iter().fold(*word, |w, s| w.strip_suffix(s).unwrap_or(w));
                assert!(served.contains(series), "{file} names {word}, which the node does not serve");
            }
            assert!(named.len() >= 8, "{file} names only {} of the node's series", named.len());
        }
        // A council no longer followed drops out at the next scrape.
        let text = m.encode(&Now { network: Some(NetNow::default()), ..Now::default() });
        assert!(!text.contains("council_sync_lag_entries{"), "{text}");
    }
}
