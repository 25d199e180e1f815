//! Notifications: webhooks told of what happens in the council, so that members need not
//! keep asking the node.
//!
//! Events come from the council's own log as it reaches the disk (a motion opened or
//! closed, a mandate given, a recall that took effect), from a timer (a motion closing
//! soon), and from the federations' state (a federation motion opened, a council's node
//! caught equivocating). Each is queued in the store for each webhook that wants it (the
//! outbox, bounded, and kept across restarts), then POSTed by a thread of its own:
//!
//! - body: JSON, `{"event", "council": {"id", "name"}, "at", ...}` with the event's own
//!   fields (docs/OPERATIONS.md lists them);
//! - headers: `X-Councilnet-Event`, `X-Councilnet-Delivery` (an id, the same on every
//!   retry), and `X-Councilnet-Signature-256: sha256=<hex>`, the HMAC-SHA256 of the body
//!   under the webhook's shared secret (as GitHub signs its webhooks);
//! - a 2xx answer is delivered; anything else is tried again after 2, 4, 8, ... seconds
//!   (at most an hour apart), up to [`MAX_ATTEMPTS`] times; at a restart every waiting
//!   delivery is tried at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use council_core::records::{Action, MotionForm, Outcome, Payload};
use council_core::Hash;
use council_store::Store;
use hmac::{Hmac, Mac};
use serde_json::{json, Value};
use sha2::Sha256;
use tokio::sync::watch;

use crate::config::NotifyConfig;
use crate::peering::NetControl;
use crate::writer::{now, WriterHandle};

/// Every event a webhook may ask for.
pub const EVENTS: [&str; 7] = [
    "motion-opened",
    "motion-closing",
    "motion-closed",
    "mandate-given",
    "recall-passed",
    "federation-motion-opened",
    "equivocation-found",
];

/// Deliveries tried at most this often before they are dropped (about a day of retries).
pub const MAX_ATTEMPTS: u32 = 30;
/// Deliveries waiting at most; beyond, the oldest is dropped (with a warning).
pub const MAX_OUTBOX: usize = 10_000;
/// How often the timer and the federations are looked at.
const POLL: Duration = Duration::from_secs(2);
/// How long one delivery may take.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("notify.webhooks secret_file {path}: {reason}")]
    Secret { path: String, reason: String },
    #[error("notify.emails server {server}: {reason}")]
    Email { server: String, reason: String },
    #[error(transparent)]
    Store(#[from] council_store::StoreError),
}

/// A queued delivery, as stored in the outbox.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct Delivery {
    url: String,
    event: String,
    body: String,
    attempts: u32,
    /// Not before this time (ms since the epoch).
    next_at: u64,
}

/// Where deliveries go: a webhook, or email through an SMTP server.
struct Hook {
    /// The webhook's URL, or `email:SERVER:TO` (what queued deliveries are keyed by).
    url: String,
    events: Vec<String>,
    channel: Channel,
}

enum Channel {
    Webhook { secret: Vec<u8> },
    Email(Box<Email>),
}

struct Email {
    transport: lettre::SmtpTransport,
    from: lettre::message::Mailbox,
    to: Vec<lettre::message::Mailbox>,
}

impl Hook {
    fn wants(&self, event: &str) -> bool {
        self.events.is_empty() || self.events.iter().any(|e| e == event)
    }
}

/// Starts the notifier, if any webhook is configured: an async task that finds events,
/// and a thread that delivers them. Both stop when `stop` turns true.
pub fn start(
    cfg: &NotifyConfig,
    store: Store,
    writer: WriterHandle,
    net: Option<NetControl>,
    council_name: String,
    stop: watch::Receiver<bool>,
) -> Result<Option<tokio::task::JoinHandle<()>>, NotifyError> {
    if cfg.webhooks.is_empty() && cfg.emails.is_empty() {
        return Ok(None);
    }
    let mut hooks = Vec::new();
    for w in &cfg.webhooks {
        let secret = council_files::read_small(&w.secret_file, 4096)
            .map_err(|e| NotifyError::Secret { path: w.secret_file.display().to_string(), reason: e.to_string() })?;
        let secret = String::from_utf8_lossy(&secret).trim().as_bytes().to_vec();
        if secret.is_empty() {
            return Err(NotifyError::Secret {
                path: w.secret_file.display().to_string(),
                reason: "it is empty; put a long random secret in it".into(),
            });
        }
        hooks.push(Hook { url: w.url.clone(), events: w.events.clone(), channel: Channel::Webhook { secret } });
    }
    for m in &cfg.emails {
        let bad = |reason: String| NotifyError::Email { server: m.server.clone(), reason };
        let from: lettre::message::Mailbox = m.from.parse().map_err(|e| bad(format!("from {:?}: {e}", m.from)))?;
        let to =
            m.to.iter()
                .map(|t| t.parse().map_err(|e| bad(format!("to {t:?}: {e}"))))
                .collect::<Result<Vec<lettre::message::Mailbox>, _>>()?;
        let mut b =
            lettre::SmtpTransport::from_url(&m.server).map_err(|e| bad(e.to_string()))?.timeout(Some(DELIVERY_TIMEOUT));
        if let Some(user) = &m.user {
            let file = m.password_file.as_ref().ok_or_else(|| bad("with `user`, give `password_file`".into()))?;
            let pass = council_files::read_small(file, 4096).map_err(|e| bad(format!("password_file: {e}")))?;
            let pass = String::from_utf8_lossy(&pass).trim().to_owned();
            b = b.credentials(lettre::transport::smtp::authentication::Credentials::new(user.clone(), pass));
        }
        hooks.push(Hook {
            url: format!("email:{}:{}", m.server, m.to.join(",")),
            events: m.events.clone(),
            channel: Channel::Email(Box::new(Email { transport: b.build(), from, to })),
        });
    }
    let hooks = Arc::new(hooks);
    let (wake_tx, wake_rx) = std::sync::mpsc::channel::<()>();
    {
        let (store, hooks, stop) = (store.clone(), hooks.clone(), stop.clone());
        std::thread::Builder::new()
            .name("councild-notify".into())
            .spawn(move || deliver(store, hooks, wake_rx, stop))
            .map_err(|e| NotifyError::Secret { path: "(thread)".into(), reason: e.to_string() })?;
    }
    let finder = Finder {
        council: json!({ "id": writer.council().to_hex(), "name": council_name }),
        store,
        writer,
        net,
        hooks,
        wake: wake_tx,
        closing_soon: cfg.closing_soon_secs,
    };
    Ok(Some(tokio::spawn(finder.run(stop))))
}

struct Finder {
    store: Store,
    writer: WriterHandle,
    net: Option<NetControl>,
    council: Value,
    hooks: Arc<Vec<Hook>>,
    wake: std::sync::mpsc::Sender<()>,
    closing_soon: u64,
}

impl Finder {
    async fn run(self, mut stop: watch::Receiver<bool>) {
        // The first time: no history is announced, only what happens from now on.
        let first = matches!(self.store.notify_cursor(), Ok(None));
        let mut cursor = match self.store.notify_cursor() {
            Ok(Some(c)) => c,
            _ => self.writer.durable_seq(),
        };
        let _ = self.store.set_notify_cursor(cursor);
        if first {
            self.poll_federations(true).await;
        }
        let mut durable = self.writer.watch_durable();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = stop.changed() => break,
                r = durable.changed() => {
                    if r.is_err() {
                        break;
                    }
                    let upto = durable.borrow_and_update().seq;
                    cursor = self.own_entries(cursor, upto);
                }
                _ = tick.tick() => {
                    // Entries written before the watch was taken are caught here too.
                    cursor = self.own_entries(cursor, self.writer.durable_seq());
                    self.closing_soon().await;
                    self.poll_federations(false).await;
                }
            }
        }
    }

    /// Queues `event` for every webhook that wants it.
    fn emit(&self, event: &str, fields: Value) {
        let mut body = json!({ "event": event, "council": self.council, "at": now() });
        if let (Some(b), Value::Object(f)) = (body.as_object_mut(), fields) {
            b.extend(f);
        }
        let body = body.to_string();
        // Counted once per event (a scan of the outbox), not once per hook.
        let mut waiting = self.store.outbox_len();
        for h in self.hooks.iter().filter(|h| h.wants(event)) {
            waiting += 1;
            if waiting > MAX_OUTBOX {
                if let Ok(oldest) = self.store.outbox(1) {
                    for (id, _) in oldest {
                        tracing::warn!(id, "the notification queue is full: dropping the oldest delivery");
                        if self.store.outbox_remove(id).is_ok() {
                            waiting -= 1;
                        }
                    }
                }
            }
            let d = Delivery { url: h.url.clone(), event: event.into(), body: body.clone(), attempts: 0, next_at: 0 };
            match serde_json::to_vec(&d)
                .map_err(|e| e.to_string())
                .and_then(|v| self.store.outbox_push(&v).map_err(|e| e.to_string()))
            {
                Ok(_) => tracing::debug!(event, url = %h.url, "notification queued"),
                Err(e) => tracing::warn!(event, error = %e, "cannot queue a notification"),
            }
        }
        let _ = self.wake.send(());
    }

    /// Events in the council's own log after `cursor`, up to `upto`; returns the new cursor.
    fn own_entries(&self, cursor: u64, upto: u64) -> u64 {
        let mut at = cursor;
        for e in self.store.entries(cursor + 1) {
            let Ok(e) = e else { break };
            if e.body.seq > upto {
                break;
            }
            self.entry(&e);
            at = e.body.seq;
        }
        if at != cursor {
            let _ = self.store.set_notify_cursor(at);
        }
        at
    }

    fn motion(&self, id: &Hash) -> Option<council_core::records::Signed<council_core::records::MotionBody>> {
        let seq = self.store.motion_seq(id).ok()??;
        match self.store.entry(seq).ok()??.body.payload {
            Payload::Motion(m) => Some(*m),
            _ => None,
        }
    }

    fn entry(&self, e: &council_core::records::Entry) {
        let seq = e.body.seq;
        match &e.body.payload {
            Payload::Motion(m) => {
                self.emit(
                    "motion-opened",
                    json!({ "seq": seq, "motion": {
                        "id": m.id().to_hex(), "title": m.body.title, "kind": form_kind(&m.body.form),
                        "options": options(&m.body.form), "closes_at": m.body.closes_at,
                        "opened_by": m.signer.to_did(),
                    }}),
                );
            }
            Payload::Close { motion, outcome } => {
                let m = self.motion(motion);
                let title = m.as_ref().map(|m| m.body.title.clone()).unwrap_or_default();
                let opts = m.as_ref().map(|m| options(&m.body.form)).unwrap_or_default();
                self.emit(
                    "motion-closed",
                    json!({ "seq": seq, "motion": { "id": motion.to_hex(), "title": title },
                            "outcome": outcome_words(outcome, &opts) }),
                );
                let Some(m) = m else { return };
                match &m.body.form {
                    MotionForm::YesNo(Action::Mandate(md))
                        if self.store.mandate_seq(motion).ok().flatten() == Some(seq) =>
                    {
                        self.emit(
                            "mandate-given",
                            json!({ "seq": seq, "mandate": {
                                "id": motion.to_hex(), "delegate": md.delegate.to_did(),
                                "federation": md.federation.to_hex(), "expires_at": md.expires_at,
                            }}),
                        );
                    }
                    MotionForm::YesNo(Action::Recall(id)) if self.store.recall_seq(id).ok().flatten() == Some(seq) => {
                        self.emit("recall-passed", json!({ "seq": seq, "mandate": id.to_hex(), "by": "motion" }));
                    }
                    _ => {}
                }
            }
            Payload::Petition(p) if self.store.recall_seq(&p.body.mandate).ok().flatten() == Some(seq) => {
                self.emit("recall-passed", json!({ "seq": seq, "mandate": p.body.mandate.to_hex(), "by": "petition" }));
            }
            _ => {}
        }
    }

    /// Open motions closing within the configured time, each announced once.
    async fn closing_soon(&self) {
        if self.closing_soon == 0 {
            return;
        }
        let t = now();
        let mut before = None;
        loop {
            let Ok(page) = self.writer.motions(true, before, 100).await else { return };
            for m in &page.motions {
                if m.closes_at > t && m.closes_at - t <= self.closing_soon {
                    let key = [b"closing/".as_slice(), &m.id.0].concat();
                    if self.store.notified(&key).unwrap_or(false) {
                        self.emit(
                            "motion-closing",
                            json!({ "motion": {
                                "id": m.id.to_hex(), "title": m.title, "closes_at": m.closes_at,
                                "ballots": m.counts.iter().sum::<u64>(), "electorate": m.electorate,
                            }}),
                        );
                    }
                }
            }
            match page.next {
                Some(n) => before = Some(n),
                None => return,
            }
        }
    }

    /// New federation motions and newly forked councils, from the federations' state.
    /// With `silent`, only marks what is there as known.
    async fn poll_federations(&self, silent: bool) {
        let Some(net) = &self.net else { return };
        let Ok(view) = net.federations().await else { return };
        for f in &view.federations {
            for m in &f.motions {
                let key = [b"fedmotion/".as_slice(), &m.id.0].concat();
                if self.store.notified(&key).unwrap_or(false) && !silent {
                    self.emit(
                        "federation-motion-opened",
                        json!({ "federation": { "id": f.id.to_hex(), "name": f.name },
                                "motion": { "id": m.id.to_hex(), "title": m.title, "matter": m.matter,
                                            "options": m.options, "closes_at": m.closes_at,
                                            "opened_by": m.opened_by.to_hex() } }),
                    );
                }
            }
        }
        for c in &view.forked {
            let key = [b"forked/".as_slice(), &c.0].concat();
            if self.store.notified(&key).unwrap_or(false) && !silent {
                self.emit("equivocation-found", json!({ "forked_council": c.to_hex() }));
            }
        }
    }
}

fn form_kind(f: &MotionForm) -> &'static str {
    match f {
        MotionForm::YesNo(_) => "yes-no",
        MotionForm::Choice(_) => "choice",
        MotionForm::Ranked(_) => "ranked",
    }
}

fn options(f: &MotionForm) -> Vec<String> {
    f.options()
}

fn outcome_words(o: &Outcome, options: &[String]) -> Value {
    match o {
        Outcome::Passed => json!({ "result": "passed" }),
        Outcome::Rejected => json!({ "result": "rejected" }),
        Outcome::Chosen(i) => {
            json!({ "result": "chosen", "option": i, "label": options.get(*i as usize).cloned().unwrap_or_default() })
        }
        Outcome::NoDecision => json!({ "result": "no-decision" }),
        Outcome::NoQuorum => json!({ "result": "no-quorum" }),
    }
}

/// The signature header's value for `body` under `secret`.
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC takes any key"));
    m.update(body);
    format!("sha256={}", hex::encode(m.finalize().into_bytes()))
}

/// The pause before attempt `n + 1`.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs((1u64 << attempts.min(12)).min(3600))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// An email for a delivery: a subject and a text in words, and the event's JSON after.
fn send_mail(
    transport: &lettre::SmtpTransport,
    from: &lettre::message::Mailbox,
    to: &[lettre::message::Mailbox],
    id: u64,
    d: &Delivery,
) -> Result<(), String> {
    use lettre::Transport;
    let body: Value = serde_json::from_str(&d.body).unwrap_or(Value::Null);
    let (subject, text) = in_words(&d.event, &body);
    let mut m = lettre::Message::builder()
        .from(from.clone())
        .subject(subject)
        .header(lettre::message::header::ContentType::TEXT_PLAIN);
    for t in to {
        m = m.to(t.clone());
    }
    let pretty = serde_json::to_string_pretty(&body).unwrap_or_default();
    let msg = m
        .body(format!("{text}\n\n-- \ncouncild, delivery {id}; the event as JSON:\n{pretty}\n"))
        .map_err(|e| e.to_string())?;
    transport.send(&msg).map(|_| ()).map_err(|e| e.to_string())
}

/// A notification's subject and first lines, for people.
fn in_words(event: &str, b: &Value) -> (String, String) {
    let council = b["council"]["name"].as_str().unwrap_or("the council");
    let title = b["motion"]["title"].as_str().unwrap_or("");
    let when = |t: &Value| {
        t.as_u64()
            .map(|s| humantime::format_rfc3339_seconds(std::time::UNIX_EPOCH + Duration::from_secs(s)).to_string())
            .unwrap_or_default()
    };
    match event {
        "motion-opened" => (
            format!("[{council}] New motion: {title}"),
            format!(
                "A motion is open in {council}: \"{title}\". Voting closes at {}.",
                when(&b["motion"]["closes_at"])
            ),
        ),
        "motion-closing" => (
            format!("[{council}] Closing soon: {title}"),
            format!(
                "The motion \"{title}\" closes at {}. {} of {} members have voted.",
                when(&b["motion"]["closes_at"]),
                b["motion"]["ballots"],
                b["motion"]["electorate"]
            ),
        ),
        "motion-closed" => {
            let outcome = match b["outcome"]["result"].as_str() {
                Some("chosen") => format!("chose \"{}\"", b["outcome"]["label"].as_str().unwrap_or("")),
                Some(r) => r.replace('-', " "),
                None => "closed".into(),
            };
            (format!("[{council}] {title}: {outcome}"), format!("The motion \"{title}\" closed: {outcome}."))
        }
        "mandate-given" => (
            format!("[{council}] A mandate was given"),
            format!(
                "{council} gave {} an imperative mandate in federation {}.",
                b["mandate"]["delegate"].as_str().unwrap_or("a delegate"),
                b["mandate"]["federation"].as_str().unwrap_or("")
            ),
        ),
        "recall-passed" => (
            format!("[{council}] A delegate was recalled"),
            format!(
                "The mandate {} was recalled (by {}).",
                b["mandate"].as_str().unwrap_or(""),
                b["by"].as_str().unwrap_or("the council")
            ),
        ),
        "federation-motion-opened" => (
            format!("[{council}] Federation motion: {}", b["motion"]["title"].as_str().unwrap_or("")),
            format!(
                "The federation {} opened a motion on {:?}: \"{}\".",
                b["federation"]["name"].as_str().unwrap_or(""),
                b["motion"]["matter"].as_str().unwrap_or(""),
                b["motion"]["title"].as_str().unwrap_or("")
            ),
        ),
        "equivocation-found" => (
            format!("[{council}] A council's node forked its log"),
            format!(
                "The node of council {} signed two different entries at one place of its log.",
                b["forked_council"].as_str().unwrap_or("")
            ),
        ),
        other => (format!("[{council}] {other}"), other.to_owned()),
    }
}

/// The delivery thread: POSTs what is due, oldest first, until `stop`.
fn deliver(store: Store, hooks: Arc<Vec<Hook>>, wake: std::sync::mpsc::Receiver<()>, stop: watch::Receiver<bool>) {
    let agent = ureq::AgentBuilder::new().timeout(DELIVERY_TIMEOUT).redirects(0).build();
    let targets: HashMap<&str, &Hook> = hooks.iter().map(|h| (h.url.as_str(), h)).collect();
    // When each delivery tried in this run may be tried again: whatever waits at a start
    // is due at once.
    let mut retry_at: HashMap<u64, u64> = HashMap::new();
    loop {
        if *stop.borrow() {
            return;
        }
        let mut next = POLL;
        let items = match store.outbox(64) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the notification queue");
                Vec::new()
            }
        };
        for (id, v) in items {
            if *stop.borrow() {
                return;
            }
            let Ok(mut d) = serde_json::from_slice::<Delivery>(&v) else {
                let _ = store.outbox_remove(id);
                continue;
            };
            let t = now_ms();
            if let Some(&at) = retry_at.get(&id).filter(|at| **at > t) {
                next = next.min(Duration::from_millis(at - t));
                continue;
            }
            let Some(hook) = targets.get(d.url.as_str()) else {
                tracing::info!(url = %d.url, "a queued notification for a webhook or address no longer configured: dropped");
                let _ = store.outbox_remove(id);
                continue;
            };
            let sent = match &hook.channel {
                Channel::Webhook { secret } => match agent
                    .post(&d.url)
                    .set("Content-Type", "application/json")
                    .set("User-Agent", concat!("councild/", env!("CARGO_PKG_VERSION")))
                    .set("X-Councilnet-Event", &d.event)
                    .set("X-Councilnet-Delivery", &id.to_string())
                    .set("X-Councilnet-Signature-256", &signature(secret, d.body.as_bytes()))
                    .send_string(&d.body)
                {
                    Ok(r) if (200..300).contains(&r.status()) => Ok(()),
                    Ok(r) => Err(format!("answered {}", r.status())),
                    Err(ureq::Error::Status(s, _)) => Err(format!("answered {s}")),
                    Err(e) => Err(e.to_string()),
                },
                Channel::Email(m) => send_mail(&m.transport, &m.from, &m.to, id, &d),
            };
            match sent {
                Ok(()) => {
                    tracing::debug!(id, event = %d.event, url = %d.url, "notification delivered");
                    let _ = store.outbox_remove(id);
                    retry_at.remove(&id);
                }
                Err(why) => {
                    d.attempts += 1;
                    if d.attempts >= MAX_ATTEMPTS {
                        tracing::warn!(id, event = %d.event, url = %d.url, reason = %why, "notification given up after {MAX_ATTEMPTS} attempts");
                        let _ = store.outbox_remove(id);
                        continue;
                    }
                    let pause = backoff(d.attempts);
                    tracing::info!(id, event = %d.event, url = %d.url, reason = %why, retry_in = ?pause, "notification not delivered");
                    d.next_at = now_ms() + pause.as_millis() as u64;
                    retry_at.insert(id, d.next_at);
                    next = next.min(pause);
                    if let Ok(v) = serde_json::to_vec(&d) {
                        let _ = store.outbox_update(id, &v);
                    }
                }
            }
        }
        match wake.recv_timeout(next) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The signature as GitHub documents it for its webhooks, with the same key and body:
    /// HMAC-SHA256, in hex, after `sha256=`.
    #[test]
    fn the_signature_is_githubs() {
        assert_eq!(
            signature(b"It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    #[test]
    fn retries_back_off_to_an_hour() {
        assert_eq!(backoff(1), Duration::from_secs(2));
        assert_eq!(backoff(5), Duration::from_secs(32));
        assert_eq!(backoff(29), Duration::from_secs(3600));
    }
}
