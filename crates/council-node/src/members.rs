//! The member endpoint: where members act with their own keys, with no token.
//!
//! Writes are the member-signed records themselves (a vote, a motion, a petition
//! signature, an invite): the signature is the authority, and each acknowledgement
//! carries the member's receipt. Reads need a **session**: the member signs a fresh
//! challenge from the node with the current key of a member on the roster
//! (PROTOCOL.md §12.7). A session expires, and ends at once when its member leaves the
//! roster or replaces that key. Nothing here needs, or accepts, the operator's token.
//!
//! The endpoint faces the workplace network, so it is built to be hammered: a cap on
//! connections (in all and per address), a deadline for a request's headers and for a
//! connection's life, a rate limit per session and per address, a body size limit, and
//! a Host and Origin check so that no other web site can use a member's browser session.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::JsonRejection;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use council_core::records::{MemberId, SessionBody, Signed};
use council_core::{Hash, PublicKey};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::api::{self, ApiError, ApiState, RecordBody};
use crate::config::MembersConfig;

/// A challenge is good for this long after the node made it.
pub const CHALLENGE_SECS: u64 = 120;
/// A connection must send its request headers within this time (also between requests).
pub const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// No connection is kept longer than this; a request in flight may finish.
pub const MAX_CONNECTION_AGE: Duration = Duration::from_secs(60);
/// Sessions held at once, in all and per member (the oldest goes first).
const MAX_SESSIONS: usize = 8192;
const MAX_SESSIONS_PER_MEMBER: usize = 16;
/// The cookie the web page's session travels in.
pub const COOKIE: &str = "council_session";

type Token = [u8; 32];

#[derive(Debug, Clone)]
struct Session {
    key: PublicKey,
    member: MemberId,
    expires: Instant,
    created: Instant,
}

/// Who is signed in, and what the node has promised to whom. Shared by every request.
pub struct Gate {
    council: Hash,
    /// Keys the challenges' MAC: challenges need no memory until they are answered.
    secret: [u8; 32],
    session_ttl: Duration,
    /// Challenges answered (so that none is answered twice), with when they lapse.
    used: Mutex<HashMap<Hash, u64>>,
    sessions: Mutex<HashMap<Token, Session>>,
    per_session: DefaultKeyedRateLimiter<Token>,
    per_ip: DefaultKeyedRateLimiter<IpAddr>,
    hostnames: Vec<String>,
    /// The endpoint speaks TLS: the session cookie is `Secure`.
    secure: bool,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("council", &self.council).finish_non_exhaustive()
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS's generator failing is not something a node can work around.
    getrandom::getrandom(&mut b).unwrap_or_else(|e| panic!("no randomness from the OS: {e}"));
    b
}

impl Gate {
    pub fn new(council: Hash, c: &MembersConfig) -> Gate {
        let rate = NonZeroU32::new(c.requests_per_sec).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(c.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(rate).allow_burst(burst);
        Gate {
            council,
            secret: random(),
            session_ttl: Duration::from_secs(c.session_secs),
            used: Mutex::new(HashMap::new()),
            sessions: Mutex::new(HashMap::new()),
            per_session: RateLimiter::keyed(quota),
            per_ip: RateLimiter::keyed(quota),
            hostnames: c.hostnames.iter().map(|h| h.to_ascii_lowercase()).collect(),
            secure: c.tls_on(),
        }
    }

    fn mac(&self, issued: u64, nonce: &[u8]) -> Hmac<Sha256> {
        // The key is 32 bytes; HMAC takes a key of any length.
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret).unwrap_or_else(|_| unreachable!());
        m.update(b"councilnet/1/challenge");
        m.update(&self.council.0);
        m.update(&issued.to_be_bytes());
        m.update(nonce);
        m
    }

    /// A fresh challenge: when it was made, a nonce, and a MAC over both.
    pub fn challenge(&self, now: u64) -> Hash {
        let nonce: [u8; 8] = random();
        let tag = self.mac(now, &nonce).finalize().into_bytes();
        let mut c = [0u8; 32];
        c[..8].copy_from_slice(&now.to_be_bytes());
        c[8..16].copy_from_slice(&nonce);
        c[16..].copy_from_slice(&tag[..16]);
        Hash(c)
    }

    /// Whether this node made `c`, within the last [`CHALLENGE_SECS`].
    fn challenge_fresh(&self, c: &Hash, now: u64) -> bool {
        let b = &c.0;
        let issued = u64::from_be_bytes(b[..8].try_into().unwrap_or_default());
        issued <= now
            && now - issued <= CHALLENGE_SECS
            && self.mac(issued, &b[8..16]).verify_truncated_left(&b[16..]).is_ok()
    }

    /// Opens a session for a signed answer to a challenge, if the signer is on the roster
    /// now and the challenge is fresh and unanswered.
    fn open(
        &self,
        answer: Signed<SessionBody>,
        members: &crate::writer::MemberKeys,
        now: u64,
    ) -> Result<(Token, Session), ApiError> {
        let unauthorized = |code, msg: &str| ApiError::new(StatusCode::UNAUTHORIZED, code, msg);
        if answer.body.council != self.council {
            return Err(unauthorized("wrong-council", "the answer is for another council"));
        }
        if !self.challenge_fresh(&answer.body.challenge, now) {
            return Err(unauthorized(
                "stale-challenge",
                "the challenge was not made by this node, or is older than 2 minutes; ask for a new one",
            ));
        }
        // Cheap checks first: a stranger's answer costs no signature check.
        let Some(member) = members.get(&answer.signer).copied() else {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not-a-member",
                format!("{} is not the current key of a member of this council", answer.signer.to_did()),
            ));
        };
        if !answer.signature_valid() {
            return Err(unauthorized("bad-signature", "the challenge is not signed by that key"));
        }
        {
            let mut used = lock(&self.used);
            if used.len() >= 4096 {
                used.retain(|_, lapses| *lapses > now);
            }
            if used.insert(answer.body.challenge, now + CHALLENGE_SECS + 1).is_some() {
                return Err(unauthorized(
                    "replayed-challenge",
                    "this challenge was answered already; ask for a new one",
                ));
            }
        }
        let token: Token = random();
        let at = Instant::now();
        let s = Session { key: answer.signer, member, expires: at + self.session_ttl, created: at };
        let mut sessions = lock(&self.sessions);
        if sessions.len() >= MAX_SESSIONS {
            sessions.retain(|_, s| s.expires > at);
        }
        let mine: Vec<(Token, Instant)> =
            sessions.iter().filter(|(_, x)| x.member == member).map(|(t, x)| (*t, x.created)).collect();
        if mine.len() >= MAX_SESSIONS_PER_MEMBER {
            if let Some((oldest, _)) = mine.iter().min_by_key(|(_, c)| *c) {
                sessions.remove(oldest);
            }
        }
        if sessions.len() >= MAX_SESSIONS {
            return Err(ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many sessions; try again later"));
        }
        sessions.insert(token, s.clone());
        Ok((token, s))
    }

    /// The session behind a token, if it is still good: unexpired, and its key still the
    /// current key of the same member on the roster.
    fn check(&self, token: &Token, members: &crate::writer::MemberKeys) -> Result<Session, ApiError> {
        let mut sessions = lock(&self.sessions);
        let ended = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "session-ended", why);
        let Some(s) = sessions.get(token).cloned() else {
            return Err(ended("no such session (it expired, or the node restarted); sign in again"));
        };
        if s.expires <= Instant::now() {
            sessions.remove(token);
            return Err(ended("the session expired; sign in again"));
        }
        if members.get(&s.key) != Some(&s.member) {
            sessions.remove(token);
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not-a-member",
                "the session's key is no longer the current key of a member of this council",
            ));
        }
        Ok(s)
    }

    fn end(&self, token: &Token) {
        lock(&self.sessions).remove(token);
    }

    /// How many sessions are held now.
    pub fn sessions(&self) -> usize {
        lock(&self.sessions).len()
    }
}

/// A poisoned lock only means another request panicked mid-update of a map that is
/// valid at every step; carry on with it.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[derive(Clone, Debug)]
pub struct MembersState {
    pub api: ApiState,
    pub gate: Arc<Gate>,
}

fn now() -> u64 {
    crate::writer::now()
}

#[derive(Debug, Serialize)]
struct ChallengeAnswer {
    council: Hash,
    challenge: Hash,
    expires_in: u64,
}

async fn post_challenge(State(st): State<MembersState>) -> Response {
    Json(ChallengeAnswer { council: st.gate.council, challenge: st.gate.challenge(now()), expires_in: CHALLENGE_SECS })
        .into_response()
}

/// A new session, as the CLI and the web page read it.
#[derive(Debug, Serialize, Deserialize)]
pub struct SessionOpened {
    /// The session token: send it as `Authorization: Session <token>` (the web page gets
    /// it as a cookie instead).
    pub session: String,
    pub expires_in: u64,
    /// The member id and the key that signed in.
    pub member: String,
    pub key: String,
}

async fn post_session(
    State(st): State<MembersState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let answer: Signed<SessionBody> = api::decode(body, "signed session challenge")?;
    let members = st.api.writer.members();
    let (token, s) = st.gate.open(answer, &members, now())?;
    let token_hex = hex::encode(token);
    let ttl = st.gate.session_ttl.as_secs();
    let secure = if st.gate.secure { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token_hex}; HttpOnly; SameSite=Strict; Path=/; Max-Age={ttl}{secure}");
    let body = SessionOpened { session: token_hex, expires_in: ttl, member: s.member.to_did(), key: s.key.to_did() };
    let mut r = (StatusCode::CREATED, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    Ok(r)
}

async fn delete_session(State(st): State<MembersState>, req: Request) -> Response {
    if let Some(t) = token_of(req.headers()) {
        st.gate.end(&t);
    }
    let mut r = StatusCode::NO_CONTENT.into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("council_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    r
}

/// The session token from `Authorization: Session <hex>` or the cookie.
fn token_of(h: &HeaderMap) -> Option<Token> {
    let from_auth = h
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Session "))
        .map(str::trim)
        .map(str::to_owned);
    let from_cookie = || {
        h.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(|v| {
            v.split(';').map(str::trim).find_map(|c| c.strip_prefix("council_session=")).map(str::to_owned)
        })
    };
    let hex_token = from_auth.or_else(from_cookie)?;
    let mut t = [0u8; 32];
    hex::decode_to_slice(hex_token, &mut t).ok()?;
    Some(t)
}

/// Reads need a live session; each session (and each address, for requests without
/// one) has its own rate limit.
async fn require_session(State(st): State<MembersState>, mut req: Request, next: Next) -> Response {
    let Some(t) = token_of(req.headers()) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no-session",
            "sign in first: POST /v1/session/challenge, sign it with your member key, POST /v1/session",
        )
        .into_response();
    };
    let s = match st.gate.check(&t, &st.api.writer.members()) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    if st.gate.per_session.check_key(&t).is_err() {
        return too_many();
    }
    req.extensions_mut().insert(SignedIn { key: s.key, member: s.member });
    next.run(req).await
}

/// The member a request's session belongs to.
#[derive(Debug, Clone, Copy)]
pub struct SignedIn {
    pub key: PublicKey,
    pub member: MemberId,
}

fn too_many() -> Response {
    let mut r = ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too-many-requests", "slow down; try again in a second")
        .into_response();
    r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    r
}

/// Requests without a session are limited per address.
async fn limit_by_address(State(st): State<MembersState>, req: Request, next: Next) -> Response {
    let ip = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(ip) = ip {
        if st.gate.per_ip.check_key(&ip).is_err() {
            return too_many();
        }
    }
    next.run(req).await
}

/// Only hosts a member may use (IP addresses, localhost, the configured names) and only
/// requests from the node's own page (or from no page at all) get through.
async fn check_origin(State(st): State<MembersState>, req: Request, next: Next) -> Response {
    let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !host_allowed(host, &st.gate.hostnames) {
        return ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "unknown-host",
            format!("this node does not answer to the host name {host:?} (members.hostnames)"),
        )
        .into_response();
    }
    if let Some(origin) = req.headers().get(header::ORIGIN).and_then(|v| v.to_str().ok()) {
        let same = origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")) == Some(host);
        if !same {
            return ApiError::new(
                StatusCode::FORBIDDEN,
                "cross-origin",
                format!("requests from {origin:?} are refused: only the node's own page may call it"),
            )
            .into_response();
        }
    }
    next.run(req).await
}

fn host_allowed(host: &str, names: &[String]) -> bool {
    // host[:port], or [v6]:port.
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((v6, _)) => return v6.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    let name = name.to_ascii_lowercase();
    name.parse::<IpAddr>().is_ok() || name == "localhost" || names.contains(&name)
}

/// The member routes. `max_body` bounds every request body.
pub fn router(st: MembersState, max_body: usize) -> Router {
    let reads = Router::new()
        .route("/v1/council", get(api::get_council))
        .route("/v1/motions/{id}", get(api::get_motion))
        .route("/v1/motions", get(api::get_motions))
        .route("/v1/log", get(api::get_log_entries))
        .route("/v1/export", get(api::get_export))
        .route("/v1/federations", get(api::get_federations))
        .route("/v1/network", get(api::get_network_for_members))
        .with_state(st.api.clone())
        .layer(middleware::from_fn_with_state(st.clone(), require_session));
    let writes = Router::new()
        .route("/v1/motions", post(api::post_motion))
        .route("/v1/votes", post(api::post_vote))
        .route("/v1/petitions", post(api::post_petition))
        .route("/v1/delegate-votes", post(api::post_delegate_vote))
        .route("/v1/invites", post(api::post_invite))
        .route("/v1/names", post(api::post_name))
        .route("/v1/devices", post(api::post_device))
        .route("/v1/rankings", post(api::post_ranking))
        .route("/v1/equivocations", post(api::post_equivocation))
        .with_state(st.api.clone());
    let page = Router::new()
        .route("/", get(crate::web::index))
        .route("/app.js", get(crate::web::app))
        .route("/style.css", get(crate::web::style))
        .route("/vendor/nacl.min.js", get(crate::web::nacl))
        .route("/vendor/sha256.min.js", get(crate::web::sha256))
        .route("/vendor/qrcode.js", get(crate::web::qrcode));
    let sessions = Router::new()
        .route("/v1/session/challenge", post(post_challenge))
        .route("/v1/session", post(post_session).delete(delete_session))
        .with_state(st.clone());
    Router::new()
        .merge(page)
        .merge(reads)
        .merge(writes.merge(sessions).layer(middleware::from_fn_with_state(st.clone(), limit_by_address)))
        .fallback(api::not_found)
        .layer(middleware::from_fn_with_state(st.clone(), check_origin))
        .layer(DefaultBodyLimit::max(max_body))
}

/// Open connections, in all and per address, and those that have not yet sent a
/// request (the ones a full endpoint sheds first).
#[derive(Debug, Default)]
struct Conns {
    total: usize,
    per_ip: HashMap<IpAddr, usize>,
    next_id: u64,
    /// By connection id (so oldest first): the signal that closes it.
    unserved: std::collections::BTreeMap<u64, Arc<tokio::sync::Notify>>,
}

/// One held connection slot; freed on drop.
struct Slot {
    conns: Arc<Mutex<Conns>>,
    ip: IpAddr,
    id: u64,
}

impl Slot {
    /// The connection sent a request: it is no longer the first to be shed.
    fn served(&self) {
        lock(&self.conns).unserved.remove(&self.id);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = lock(&self.conns);
        c.total -= 1;
        c.unserved.remove(&self.id);
        if let Some(n) = c.per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                c.per_ip.remove(&self.ip);
            }
        }
    }
}

/// Takes a slot for a new connection from `ip`, or says no. An address over its own cap
/// is refused. When the endpoint is full, the oldest connection that has not sent a
/// request yet is closed to make room (a slow client holding a slot is the likeliest
/// attacker, and a member's connection sends its request at once, so it is rarely the
/// oldest unserved one); with none such, the new connection is refused.
fn take_slot(conns: &Arc<Mutex<Conns>>, ip: IpAddr, c: &MembersConfig) -> Option<(Slot, Arc<tokio::sync::Notify>)> {
    let mut g = lock(conns);
    if g.per_ip.get(&ip).copied().unwrap_or(0) >= c.max_connections_per_ip {
        return None;
    }
    if g.total >= c.max_connections {
        let (_, shed) = g.unserved.pop_first()?;
        shed.notify_one();
    }
    g.total += 1;
    *g.per_ip.entry(ip).or_insert(0) += 1;
    let id = g.next_id;
    g.next_id += 1;
    let close = Arc::new(tokio::sync::Notify::new());
    g.unserved.insert(id, close.clone());
    Some((Slot { conns: conns.clone(), ip, id }, close))
}

/// Serves the member routes on `listener` until `stop` fires: each connection gets a
/// slot (or is closed at once), a deadline for its TLS handshake and its headers, and a
/// maximum age.
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    config: MembersConfig,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let conns = Arc::new(Mutex::new(Conns::default()));
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        let (stream, peer) = tokio::select! {
            biased;
            _ = stop.changed() => break,
            Some(_) = tasks.join_next(), if !tasks.is_empty() => continue,
            a = listener.accept() => match a {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors, say: wait a moment rather than spin.
                    tracing::warn!(error = %e, "member endpoint: accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let Some((slot, shed)) = take_slot(&conns, peer.ip(), &config) else {
            tracing::debug!(%peer, "member endpoint: connection refused (too many open)");
            drop(stream);
            continue;
        };
        let app = app.clone();
        let stop = stop.clone();
        let acceptor = acceptor.clone();
        tasks.spawn(async move {
            let slot = Arc::new(slot);
            let closed = shed.clone();
            let run = async move {
                match acceptor {
                    None => connection(stream, peer, app, slot, stop).await,
                    Some(a) => match tokio::time::timeout(HEADER_TIMEOUT, a.accept(stream)).await {
                        Ok(Ok(tls)) => connection(tls, peer, app, slot, stop).await,
                        Ok(Err(e)) => tracing::debug!(%peer, error = %e, "member endpoint: TLS handshake failed"),
                        Err(_) => tracing::debug!(%peer, "member endpoint: TLS handshake too slow"),
                    },
                }
            };
            tokio::select! {
                _ = run => {}
                _ = closed.notified() => tracing::debug!(%peer, "member endpoint: an idle connection shed for a new one"),
            }
        });
    }
    tasks.abort_all();
}

/// One connection: HTTP/1.1 with a header deadline, closed at its maximum age or when
/// the node stops (a request in flight may finish).
async fn connection<S>(
    io: S,
    peer: SocketAddr,
    app: Router,
    slot: Arc<Slot>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    let svc = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
        slot.served();
        req.extensions_mut().insert(ConnectInfo(peer));
        let app = app.clone();
        async move { tower::ServiceExt::oneshot(app, req.map(axum::body::Body::new)).await }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let age = tokio::time::sleep(MAX_CONNECTION_AGE);
    tokio::pin!(age);
    tokio::select! {
        _ = conn.as_mut() => return,
        _ = &mut age => {}
        _ = stop.changed() => {}
    }
    // A client that still hangs on a few seconds after that is cut off.
    conn.as_mut().graceful_shutdown();
    let _ = tokio::time::timeout(Duration::from_secs(5), conn).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_members_may_use() {
        let names = vec!["council.local".to_string()];
        for ok in
            ["127.0.0.1:7422", "192.168.1.20:7422", "[::1]:7422", "localhost:7422", "Council.Local:80", "10.0.0.1"]
        {
            assert!(host_allowed(ok, &names), "{ok}");
        }
        for bad in ["evil.example:7422", "", "[nonsense]:1", "council.local.evil.example"] {
            assert!(!host_allowed(bad, &names), "{bad}");
        }
    }

    #[test]
    fn challenges_are_the_nodes_own_and_fresh() {
        let c = MembersConfig {
            listen: "127.0.0.1:0".parse().unwrap_or_else(|_| unreachable!()),
            session_secs: 60,
            max_connections: 1,
            max_connections_per_ip: 1,
            requests_per_sec: 1,
            burst: 1,
            hostnames: vec![],
            tls: "off".into(),
            tls_cert: Default::default(),
            tls_key: Default::default(),
        };
        let g = Gate::new(Hash::of(b"council"), &c);
        let other = Gate::new(Hash::of(b"council"), &c);
        let ch = g.challenge(1000);
        assert!(g.challenge_fresh(&ch, 1000));
        assert!(g.challenge_fresh(&ch, 1000 + CHALLENGE_SECS));
        assert!(!g.challenge_fresh(&ch, 1001 + CHALLENGE_SECS), "too old");
        assert!(!g.challenge_fresh(&ch, 999), "from the future");
        assert!(!other.challenge_fresh(&ch, 1000), "another node's (or a restarted node's) challenge");
        let mut b = ch.0;
        b[0] ^= 1;
        assert!(!g.challenge_fresh(&Hash(b), 1000), "tampered time");
    }
}
