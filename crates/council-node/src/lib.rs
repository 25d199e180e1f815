//! # council-node
//!
//! One council's node: configuration, data directory, store, the single writer that
//! signs the council's log, and the local HTTP API. [`run`] wires them together; the
//! `councild` binary only adds flags, logging and signals.

pub mod api;
pub mod backup;
pub mod config;
pub mod datadir;
#[cfg(feature = "failpoints")]
pub mod failpoint;
pub mod members;
pub mod metrics;
pub mod notify;
pub mod peering;
pub mod proto;
pub mod tls;
pub mod web;
pub mod writer;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use council_core::council::CouncilState;
use council_core::records::Genesis;
use council_core::verify::{verify_genesis, Verified};
use council_store::Store;

pub use config::Config;

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    DataDir(#[from] datadir::DataDirError),
    #[error(transparent)]
    Store(#[from] council_store::StoreError),
    #[error("the genesis is not complete: {0}. Each founder signs it with `council genesis sign --draft {1} --key THEIR.key`")]
    GenesisIncomplete(String, String),
    #[error("the genesis is invalid: {0}")]
    GenesisInvalid(String),
    #[error("the stored log does not replay: entry {seq}: {reason}")]
    Replay { seq: u64, reason: String },
    #[error("the store in {0} is missing or empty, but this node kept the council's log before: started afresh it would sign a second log. Rebuild it from the council's federation peers with `councild recover --data-dir {1}` (then `councild run --data-dir {1} --peer ADDR`), or restore a backup with `councild restore`")]
    StoreLost(String, String),
    #[error("this node's store was started again from the genesis (`councild recover`), and no federation peer has yet shown it holds the whole log: it must fetch its log from a peer before it signs, or it would sign a second log. Run it with the network on and a peer: `councild run --peer ADDR` (not --offline or --sign-without-catching-up)")]
    MustCatchUp,
    #[error("this data directory's node key is not the key that signs the council's log now ({0}): a council act replaced it. Put that key in node.key.next here (the node installs it at start), or restore a newer backup")]
    NotTheNodeKey(String),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("the network could not start: {0}")]
    Network(String),
    #[error("the API server failed: {0}")]
    Serve(String),
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    #[error(transparent)]
    Notify(#[from] notify::NotifyError),
}

/// How many entries a start may replay before it saves a snapshot of the state (the writer
/// also saves one whenever it stops cleanly), so that a node that keeps crashing does not
/// replay the same long stretch of log at every start.
const SNAPSHOT_AFTER_REPLAYING: u64 = 10_000;

/// How a council's state was rebuilt at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    /// The entry after which the saved state snapshot was taken, if it could be used.
    pub snapshot: Option<u64>,
    /// Entries replayed through the council rules after it (or after the genesis).
    pub entries: u64,
}

/// Opens the council in `dir`: the store, with the genesis taken from the draft the first
/// time, and the state restored from its saved snapshot if that still matches the log,
/// then replayed from the log through the council rules.
pub fn open(dir: &Path) -> Result<(Store, CouncilState, Replayed), RunError> {
    open_saving_after(dir, SNAPSHOT_AFTER_REPLAYING, Duration::ZERO)
}

/// [`open`], saving a snapshot after replaying `save_after` entries, and waiting up to
/// `wait` for another handle in this process to let go of the store.
fn open_saving_after(dir: &Path, save_after: u64, wait: Duration) -> Result<(Store, CouncilState, Replayed), RunError> {
    let store = Store::open_waiting(&dir.join(datadir::STORE), wait)?;
    let genesis = match store.genesis()? {
        Some(g) => g,
        None if datadir::store_was_kept(dir) => {
            let d = dir.display().to_string();
            return Err(RunError::StoreLost(dir.join(datadir::STORE).display().to_string(), d));
        }
        None => {
            let draft = datadir::load_draft(dir)?;
            let g = draft.finish().map_err(|e| {
                RunError::GenesisIncomplete(e.to_string(), dir.join(datadir::DRAFT).display().to_string())
            })?;
            // Only a genesis that passes every rule is ever stored.
            let checked = verify_genesis(g.clone()).map_err(|e| RunError::GenesisInvalid(e.to_string()))?;
            CouncilState::new(checked).map_err(|e| RunError::GenesisInvalid(e.to_string()))?;
            store.init_genesis(&g)?;
            g
        }
    };
    datadir::mark_store(dir, &genesis.council_id())?;
    let (state, replayed) = replay(&store, genesis)?;
    if replayed.entries >= save_after {
        store.put_state(state.seq(), &state.snapshot())?;
    }
    Ok((store, state, replayed))
}

/// The council's state as the store holds it: its saved snapshot if that still matches
/// the log, then the log after it, through the council rules (the writer rebuilds its
/// state so after its store was reopened).
pub(crate) fn state_of(store: &Store) -> Result<CouncilState, RunError> {
    let genesis = store.genesis()?.ok_or_else(|| council_store::StoreError::Corrupt("no genesis".into()))?;
    Ok(replay(store, genesis)?.0)
}

fn replay(store: &Store, genesis: Genesis) -> Result<(CouncilState, Replayed), RunError> {
    let verified = verify_genesis(genesis).map_err(|e| RunError::GenesisInvalid(e.to_string()))?;
    let (mut state, snapshot) = match saved_state(store, &verified)? {
        Some(s) => {
            let seq = s.seq();
            (s, Some(seq))
        }
        None => (CouncilState::new(verified).map_err(|e| RunError::GenesisInvalid(e.to_string()))?, None),
    };
    let from = state.seq();
    for e in store.entries(from + 1) {
        let e = e?;
        let seq = e.body.seq;
        state.apply(Verified::from_own_store(e)).map_err(|e| RunError::Replay { seq, reason: e.to_string() })?;
    }
    let entries = state.seq() - from;
    Ok((state, Replayed { snapshot, entries }))
}

/// The saved state snapshot, if there is one that this build wrote for this council and
/// that still describes the log: the stored entry at its seq is its head. Anything else is
/// ignored with a warning (the log is replayed from the start; nothing is lost).
fn saved_state(store: &Store, genesis: &Verified<Genesis>) -> Result<Option<CouncilState>, RunError> {
    let ignore = |reason: &dyn std::fmt::Display| {
        tracing::warn!(%reason, "the saved council state cannot be used; replaying the whole log");
        Ok(None)
    };
    let (seq, bytes) = match store.state() {
        Ok(Some(s)) => s,
        Ok(None) => return Ok(None),
        Err(e) => return ignore(&e),
    };
    let state = match CouncilState::restore(genesis.clone(), &bytes) {
        Ok(s) => s,
        Err(e) => return ignore(&e),
    };
    let head = match store.entry(seq)? {
        Some(e) => e.id(),
        None if seq == 0 => state.id(),
        None => return ignore(&format_args!("it was taken after entry {seq}, which is not in the log")),
    };
    if state.seq() != seq || state.head() != head {
        return ignore(&format_args!("it does not match the log at entry {seq}"));
    }
    Ok(Some(state))
}

/// Starts the swarm and the network task.
#[allow(clippy::too_many_arguments)] // private wiring: each is one piece of the node
fn start_network(
    config: &Config,
    own: CouncilState,
    store: &Store,
    seed: &[u8; 32],
    durable: tokio::sync::watch::Receiver<writer::Sealed>,
    clock: writer::CausalClock,
    stop: tokio::sync::watch::Receiver<bool>,
    metrics: &metrics::Metrics,
    halt: writer::Halt,
    catch_up: (writer::CatchUp, writer::WriterHandle),
    handover: writer::Handover,
) -> Result<(peering::NetControl, tokio::task::JoinHandle<()>), RunError> {
    let n = &config.network;
    let mut cfg = council_net::NetConfig::new(council_net::keypair_from_seed(seed), n.listen_addrs());
    cfg.heartbeat = Duration::from_millis(n.heartbeat_ms);
    cfg.hello_grace = Duration::from_millis(n.hello_grace_ms);
    cfg.max_connections = n.max_connections;
    cfg.mdns = n.mdns;
    cfg.kademlia = n.kademlia;
    cfg.discovery_interval = Duration::from_millis(n.discovery_interval_ms);
    cfg.metrics = Some(metrics.for_network());
    let (handle, events) = council_net::run(cfg).map_err(|e| RunError::Network(e.to_string()))?;
    tracing::info!(peer_id = %handle.peer_id(), "network started");
    let (node, control) = peering::NetNode::new(
        own,
        store.clone(),
        handle,
        n.peer_addrs(),
        config.data_dir.join(datadir::P2P_ADDR),
        clock,
    )?;
    let node = node
        .with_metrics(metrics.clone())
        .with_halt(halt)
        .with_catch_up(catch_up.0, catch_up.1)
        .with_handover(handover)
        .listen_when_federated(n.federated_listen_addr());
    if n.listen.is_empty() {
        tracing::info!(
            when_federated = %n.listen_when_federated,
            "not listening for other councils' nodes until this council takes part in a federation (network.listen names addresses to listen on from the start)"
        );
    }
    let task = tokio::spawn(node.run(events, durable, Duration::from_millis(n.sync_interval_ms), stop));
    Ok((control, task))
}

/// How long a node whose key a council act replaced waits for a federation peer to hold
/// the act before it presents its new key anyway (see [`writer::Handover`]).
pub const HANDOVER_PATIENCE: Duration = Duration::from_secs(60);

/// Runs the node until `shutdown` completes, then stops taking requests, finishes and
/// flushes the writes in hand, and returns. `ready` is called with the API's address once
/// it listens.
///
/// When a council act replaces the node key, the node stops and starts again as the new
/// key (its libp2p identity is the node key), on the same API and member addresses and
/// the same peer ports, and dials the peers it was connected to.
pub async fn run(
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(std::net::SocketAddr) + Send,
) -> Result<(), RunError> {
    let mut shutdown = std::pin::pin!(shutdown);
    let mut ready = Some(ready);
    let mut config = config;
    loop {
        match run_once(config.clone(), shutdown.as_mut(), &mut ready).await? {
            Ended::Stopped => return Ok(()),
            Ended::NewKey(next) => {
                tracing::warn!("starting again as the new node key");
                config = *next;
            }
        }
    }
}

/// How one run of the node ended.
enum Ended {
    Stopped,
    /// A council act replaced the node key: run again, with this configuration.
    NewKey(Box<Config>),
}

async fn run_once(
    config: Config,
    shutdown: impl Future<Output = ()> + Send,
    ready: &mut Option<impl FnOnce(std::net::SocketAddr) + Send>,
) -> Result<Ended, RunError> {
    let dir = config.data_dir.clone();
    let mut node = datadir::load_key(&dir.join(datadir::NODE_KEY))?;
    let token = datadir::load_token(&dir)?;
    // Started again in this process (a new node key): the last run's store lets go of
    // its lock a moment after it is dropped.
    let again = ready.is_none();
    let (store, state, replayed) = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let wait = if again { Duration::from_secs(10) } else { Duration::ZERO };
        move || open_saving_after(&dir, SNAPSHOT_AFTER_REPLAYING, wait)
    })
    .await
    .map_err(|e| RunError::Serve(e.to_string()))??;
    // A node rebuilding its log from its peers holds the key of the log's end, not yet
    // the log up to it (the writer signs nothing meanwhile).
    if state.node_key() != node.public() && !store.catching_up()? {
        // A council act replaced the key, and the new one waits in node.key.next (the
        // node stopped before it installed it).
        match datadir::install_next_key(&dir, &state.node_key())? {
            Some(k) => {
                tracing::warn!(node_key = %k.public().to_did(), "installed the node key that a council act chose (node.key.next)");
                node = k;
            }
            None => return Err(RunError::NotTheNodeKey(state.node_key().to_did())),
        }
    }
    tracing::info!(
        council = %state.id(),
        name = %state.genesis().name,
        entries = state.seq(),
        snapshot = ?replayed.snapshot,
        replayed = replayed.entries,
        "council opened"
    );
    let own_copy = config.network.enabled.then(|| state.clone());
    let council_name = state.genesis().name.clone();
    let node_seed = node.seed();
    let clock = writer::CausalClock::default();
    let (writer, handle) = writer::Writer::new(
        state,
        store.clone(),
        node,
        4096,
        config.store.max_batch,
        Duration::from_millis(config.motions.check_interval_ms),
        clock.clone(),
    );
    let metrics = metrics::Metrics::new();
    let halt = writer::Halt::default();
    let handover = writer::Handover::default();
    // After a restore: sign nothing until the council's own newer entries, if its
    // federation peers hold any, are fetched (only possible with the network on).
    let catching_up = store.catching_up()? && config.network.enabled && config.network.catch_up_before_signing;
    if store.recovering()? && !catching_up {
        return Err(RunError::MustCatchUp);
    }
    if store.catching_up()? && !catching_up {
        tracing::warn!("restored from a backup, and signing without first fetching newer entries of this council's log from its federation peers");
        store.set_catching_up(false)?;
    } else if catching_up {
        tracing::info!("restored from a backup: signing nothing until a federation peer shows this node holds every entry of its log that the peer has");
    }
    let catch_up = writer::CatchUp::new(catching_up);
    let writer = writer
        .with_metrics(metrics.clone())
        .with_halt(halt.clone())
        .with_catch_up(catch_up.clone())
        .with_min_free(config.store.min_free_mb.saturating_mul(1024 * 1024))
        .with_key_replacement(dir.clone(), handover.clone());
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let writer_task = tokio::spawn(writer.run(stop_rx.clone()));

    let (net, net_task) = match own_copy {
        Some(own) => {
            let (c, t) = start_network(
                &config,
                own,
                &store,
                &node_seed,
                handle.watch_durable(),
                clock,
                stop_rx.clone(),
                &metrics,
                halt,
                (catch_up, handle.clone()),
                handover.clone(),
            )?;
            (Some(c), Some(t))
        }
        None => {
            tracing::info!("the network is off (--offline): this council does not talk to other councils");
            (None, None)
        }
    };

    let notify_task =
        notify::start(&config.notify, store.clone(), handle.clone(), net.clone(), council_name, stop_rx.clone())?;
    if notify_task.is_some() {
        tracing::info!(webhooks = config.notify.webhooks.len(), "notifications on");
    }

    let listener = tokio::net::TcpListener::bind(config.api.listen)
        .await
        .map_err(|e| RunError::Listen { addr: config.api.listen.to_string(), reason: e.to_string() })?;
    let addr = listener
        .local_addr()
        .map_err(|e| RunError::Listen { addr: config.api.listen.to_string(), reason: e.to_string() })?;
    datadir::write_private(&dir.join(datadir::API_ADDR), format!("{addr}\n").as_bytes())?;
    tracing::info!(%addr, "local API listening");

    let listen =
        |a: std::net::SocketAddr, e: std::io::Error| RunError::Listen { addr: a.to_string(), reason: e.to_string() };
    let members_listener =
        tokio::net::TcpListener::bind(config.members.listen).await.map_err(|e| listen(config.members.listen, e))?;
    let members_addr = members_listener.local_addr().map_err(|e| listen(config.members.listen, e))?;
    let members_tls = if config.members.tls_on() {
        let m = &config.members;
        let (cert, key) = if m.tls_cert.as_os_str().is_empty() {
            tls::ensure_cert(&dir)?;
            (dir.join(tls::CERT), dir.join(tls::KEY))
        } else {
            (m.tls_cert.clone(), m.tls_key.clone())
        };
        let (cfg, fingerprint) = tls::server_config(&cert, &key)?;
        datadir::write_private(&dir.join(tls::FINGERPRINT), format!("{fingerprint}\n").as_bytes())?;
        tracing::info!(%fingerprint, "member endpoint speaks TLS; members check this SHA-256 fingerprint on first use");
        Some(cfg)
    } else {
        None
    };
    datadir::write_private(&dir.join(datadir::MEMBERS_ADDR), format!("{members_addr}\n").as_bytes())?;
    let scheme = if members_tls.is_some() { "https" } else { "http" };
    if members_addr.ip().is_loopback() {
        tracing::info!(url = %format!("{scheme}://{members_addr}/"), "member endpoint listening (this machine only; members.listen opens it to the network)");
    } else {
        tracing::info!(url = %format!("{scheme}://{members_addr}/"), "member endpoint listening on the network");
    }
    if let Some(ready) = ready.take() {
        ready(addr);
    }

    let checkpoint = store.clone();
    let api_state = api::ApiState {
        writer: handle,
        store,
        token: Arc::from(token),
        exports: Arc::new(tokio::sync::Semaphore::new(api::MAX_EXPORTS)),
        batches: Arc::new(tokio::sync::Semaphore::new(api::MAX_BATCHES)),
        net,
        metrics,
    };
    let gate = Arc::new(members::Gate::new(api_state.writer.council(), &config.members));
    let members_app =
        members::router(members::MembersState { api: api_state.clone(), gate }, config.api.max_body_bytes);
    let (members_stop, members_stop_rx) = tokio::sync::watch::channel(false);
    let members_task = tokio::spawn(members::serve(
        members_listener,
        members_app,
        config.members.clone(),
        members_tls,
        members_stop_rx,
    ));
    let net = api_state.net.clone();
    let app = api::router(api_state, config.api.max_body_bytes);
    let (api_stop_tx, api_stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                let _ = api_stop_rx.await;
            })
            .await
    });
    // A shutdown request, the writer stopping (a store failure), or a new node key ready
    // to be presented ends this run.
    let mut writer_task = writer_task;
    // Offline, nobody needs to hear of the act first.
    let patience = if net.is_some() { HANDOVER_PATIENCE } else { Duration::ZERO };
    let mut new_key = false;
    let writer_result = tokio::select! {
        _ = shutdown => None,
        r = &mut writer_task => Some(r),
        _ = handover.ready(patience) => {
            new_key = true;
            None
        }
    };
    // The same API and member addresses next time, and the peers it is connected to now
    // (it dials them as the new key; its own peer ports are as configured).
    let next = if new_key {
        let mut next = config.clone();
        next.api.listen = addr;
        next.members.listen = members_addr;
        if let Some(Ok(v)) = match &net {
            Some(n) => Some(n.network().await),
            None => None,
        } {
            for p in v.connected.iter().filter(|p| p.council.is_some()) {
                next.network.peers.extend(p.addrs.iter().cloned());
            }
            next.network.peers.sort();
            next.network.peers.dedup();
        }
        Some(next)
    } else {
        None
    };
    tracing::info!("shutting down");
    let _ = api_stop_tx.send(());
    let _ = members_stop.send(true);
    // In-flight requests get a few seconds to finish; a client that hangs on does not
    // keep the node from stopping.
    let mut server = server;
    let served = match tokio::time::timeout(std::time::Duration::from_secs(10), &mut server).await {
        Ok(r) => r,
        Err(_) => {
            tracing::warn!("some API requests did not finish within 10 s; closing them");
            server.abort();
            Ok(Ok(()))
        }
    };
    let mut members_task = members_task;
    if tokio::time::timeout(Duration::from_secs(10), &mut members_task).await.is_err() {
        tracing::warn!("the member endpoint did not stop within 10 s; closing it");
        members_task.abort();
    }
    let written = match writer_result {
        Some(r) => r,
        None => {
            let _ = stop_tx.send(true);
            writer_task.await
        }
    };
    // The network task holds the store too: it stops with the same signal.
    let _ = stop_tx.send(true);
    // Whatever has not stopped in time is aborted: a run that starts again (a new node
    // key) must find the store and the addresses free.
    if let Some(mut t) = net_task {
        if tokio::time::timeout(Duration::from_secs(10), &mut t).await.is_err() {
            tracing::warn!("the network task did not stop within 10 s; aborting it");
            t.abort();
        }
    }
    if let Some(mut t) = notify_task {
        if tokio::time::timeout(Duration::from_secs(5), &mut t).await.is_err() {
            t.abort();
        }
    }
    written.map_err(|e| RunError::Serve(e.to_string()))??;
    served.map_err(|e| RunError::Serve(e.to_string()))?.map_err(|e| RunError::Serve(e.to_string()))?;
    tracing::info!("everything is on disk; recording where it is, so that the next start is quick");
    let started = std::time::Instant::now();
    match tokio::task::spawn_blocking(move || checkpoint.close_with_checkpoint()).await {
        Ok(Ok(true)) => tracing::info!(ms = started.elapsed().as_millis() as u64, "stopped"),
        Ok(Ok(false)) => tracing::info!("stopped; a task still held the store, so the next start scans it"),
        // Nothing is lost: the next start scans the store instead.
        Ok(Err(e)) => tracing::warn!(error = %e, "stopped; the next start scans the store"),
        Err(e) => tracing::warn!(error = %e, "stopped; the next start scans the store"),
    }
    Ok(match next {
        Some(c) => Ended::NewKey(Box::new(c)),
        None => Ended::Stopped,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use council_core::records::{MotionForm, Rule, Share, Threshold};
    use council_core::sample::{key_from_label, Clock, CouncilBuilder};
    use council_core::SecretKey;
    use council_store::Append;

    fn store_at(dir: &Path) -> Store {
        Store::open_waiting(&dir.join(datadir::STORE), Duration::from_secs(10)).unwrap()
    }

    fn reopen(dir: &Path, save_after: u64) -> (Store, CouncilState, Replayed) {
        open_saving_after(dir, save_after, Duration::from_secs(10)).unwrap()
    }

    /// A data directory whose store holds a council's genesis and `motions` motions, each
    /// with a ballot from every member; and the builder that made them (it has the state).
    fn council(dir: &Path, motions: usize) -> (CouncilBuilder, Vec<SecretKey>) {
        let keys: Vec<SecretKey> = (0..3).map(|i| key_from_label(&format!("open/{i}"))).collect();
        let refs: Vec<&SecretKey> = keys.iter().collect();
        let mut clock = Clock(1_800_000_000);
        let b = CouncilBuilder::found("Open", &refs, Default::default(), key_from_label("open/node"), clock.tick())
            .unwrap();
        store_at(dir).init_genesis(b.genesis()).unwrap();
        let mut c = (b, keys);
        more(dir, &mut c, motions);
        c
    }

    fn more(dir: &Path, (b, keys): &mut (CouncilBuilder, Vec<SecretKey>), motions: usize) {
        let rule = Rule { quorum: Share::new(1, 1), threshold: Threshold::UNANIMITY };
        for n in 0..motions {
            let t = b.state().time() + 1;
            let m = b.open(t, &keys[n % 3], "m", MotionForm::Choice(vec!["a".into(), "b".into()]), rule, t + 1000);
            let m = m.unwrap();
            for (i, k) in keys.iter().enumerate() {
                b.vote(t + 1, k, m, (i % 2) as u32).unwrap();
            }
        }
        let appends: Vec<Append> = b.take_entries().into_iter().map(|entry| Append::new(entry, vec![])).collect();
        store_at(dir).append(&appends).unwrap();
    }

    #[test]
    fn a_saved_state_is_used_only_while_it_matches_the_log() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let mut c = council(dir, 10);

        // Fewer entries than the threshold: replayed, nothing saved.
        let (store, state, r) = reopen(dir, 100);
        assert_eq!(r, Replayed { snapshot: None, entries: 40 });
        assert_eq!(state.snapshot(), c.0.state().snapshot());
        assert!(store.state().unwrap().is_none());
        // As the writer does when it stops.
        store.put_state(state.seq(), &state.snapshot()).unwrap();
        drop(store);

        // The snapshot, then only the entries after it.
        more(dir, &mut c, 5);
        let (mut store, state, r) = reopen(dir, 100);
        assert_eq!(r, Replayed { snapshot: Some(40), entries: 20 });
        assert_eq!(state.snapshot(), c.0.state().snapshot());

        // A snapshot that does not match the log at its seq (here: claims a later entry),
        // or that does not decode, or that is cut short: ignored, the whole log replayed.
        let (_, good) = store.state().unwrap().unwrap();
        // The same council with another history: a state of 40 entries whose head is not
        // the stored entry 40.
        let other = tempfile::tempdir().unwrap();
        let mut fork = council(other.path(), 8);
        more(other.path(), &mut fork, 2);
        let forked = fork.0.state();
        assert_eq!((forked.id(), forked.seq()), (state.id(), 40));
        assert_ne!(forked.head(), store.entry(40).unwrap().unwrap().id());
        let bad: [(u64, Vec<u8>); 4] = [
            (40, forked.snapshot()),
            (41, good.clone()),
            (40, b"junk".to_vec()),
            (40, good[..good.len() / 2].to_vec()),
        ];
        for (seq, bytes) in bad {
            store.put_state(seq, &bytes).unwrap();
            drop(store);
            let (s, state, r) = reopen(dir, 100);
            assert_eq!(r, Replayed { snapshot: None, entries: 60 }, "snapshot at {seq} of {} bytes", bytes.len());
            assert_eq!(state.snapshot(), c.0.state().snapshot());
            store = s;
        }
        drop(store);

        // A long replay saves a snapshot, which the next start uses.
        let (store, _, r) = reopen(dir, 60);
        assert_eq!(r, Replayed { snapshot: None, entries: 60 });
        assert_eq!(store.state().unwrap().map(|(seq, _)| seq), Some(60));
        drop(store);
        let (_, state, r) = reopen(dir, 60);
        assert_eq!(r, Replayed { snapshot: Some(60), entries: 0 });
        assert_eq!(state.snapshot(), c.0.state().snapshot());
    }
}
