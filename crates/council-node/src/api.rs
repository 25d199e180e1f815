//! The local HTTP API, on loopback, for the `council` command (and later the members'
//! web page). Every request needs `Authorization: Bearer <token from <data_dir>/api-token>`.
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /v1/council` | | the council: id, members, rules, open motions, mandates, `closed_motions` (a count) |
//! | `GET /v1/motions?status=open\|closed&before=&limit=` | | a page of motions, newest first, and `next` |
//! | `GET /v1/motions/{id or 6+ hex digits}` | | one motion (and, for a session, `my_ballot` and `voters`) |
//! | `POST /v1/motions` | `{"record": hex}` a signed motion | `{"record", "seq", "duplicate", "entry", "receipt"}` |
//! | `POST /v1/votes` | `{"record": hex}` a signed ballot | same (`duplicate` for the member's latest ballot on the motion; a ballot it replaced is refused as stale) |
//! | `POST /v1/petitions` | `{"record": hex}` a signed petition signature | same |
//! | `GET /v1/motions/{id}/ballot/{did}` | | `{"choice", "counter", "final"}` of the member's latest ballot, or 404 |
//! | `POST /v1/delegate-votes` | `{"record": hex}` a delegate's signed vote | same; 409 `void-in-federation` if the federation would void it |
//! | `POST /v1/invites` | `{"record": hex}` a member's signed invite | same |
//! | `POST /v1/names` | `{"record": hex}` a member's signed name | same |
//! | `POST /v1/devices` | `{"record": hex}` a member's signed device record | same |
//! | `POST /v1/rankings` | `{"record": hex}` a member's signed ranking (a ranked motion) | same |
//! | `POST /v1/batch` | `{"records": [{"kind", "record": hex}…]}` up to 1,024 records | `{"results": [{"status", "accepted" or "error"}…]}`, one for each, in order |
//! | `GET /v1/export` | | the export file (`application/octet-stream`), with followed councils' logs |
//! | `GET /v1/federations` | | federations, void federation events, forked councils, joins |
//! | `GET /v1/network` | | peer id, listen addresses, connected peers, followed councils |
//! | `POST /v1/joins` | `{"federation", "proof": hex, "addrs": [...]}` | 202: the node will connect to the issuer |
//! | `POST /v1/peers` | `{"addr": multiaddr}` | 202: the node dials it (and keeps redialing) |
//!
//! Errors are JSON: `{"error": {"code": "...", "message": "..."}}` with a 4xx status for
//! anything the client can fix, and the node stays up.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use council_core::cbor::Cbor;
use council_core::council::RecordError;
use council_core::receipt::receipt_bytes;
use council_core::records::{
    DelegateVoteBody, DeviceBody, EquivocationProof, InviteProof, MotionBody, Payload, RankingBody, Signed,
};
use council_core::verify::verify_payload;
use council_core::{Hash, PublicKey};
use council_store::Store;
use serde::Deserialize;

use crate::metrics::{Metrics, NetNow, Now};
use crate::peering::{Join, NetControl, NetworkDown};
use crate::writer::{NodeError, WriterHandle};

#[derive(Clone)]
pub struct ApiState {
    pub writer: WriterHandle,
    pub store: Store,
    pub token: Arc<str>,
    /// Exports in progress (each holds a thread while it reads the store).
    pub exports: Arc<tokio::sync::Semaphore>,
    /// Batches being read and judged (each holds up to [`MAX_BATCH_BYTES`] and more).
    pub batches: Arc<tokio::sync::Semaphore>,
    /// The network task, unless the node runs offline.
    pub net: Option<NetControl>,
    pub metrics: Metrics,
}

/// At most this many exports run at once.
pub const MAX_EXPORTS: usize = 2;
/// At most this many batches are read and have their signatures checked at once; more
/// wait, unread.
pub const MAX_BATCHES: usize = 2;
/// A client that takes no data for this long loses its export.
const EXPORT_STALL: std::time::Duration = std::time::Duration::from_secs(30);

impl std::fmt::Debug for ApiState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiState").field("council", &self.writer.council()).finish_non_exhaustive()
    }
}

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into() }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": ErrorBody { code: self.code, message: self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        // Too large (413) and not JSON at all (415) keep their own statuses.
        let status = match r.status() {
            s @ (StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNSUPPORTED_MEDIA_TYPE) => s,
            _ => StatusCode::BAD_REQUEST,
        };
        ApiError::new(status, "malformed-body", format!("the request body is not the expected JSON: {}", r.body_text()))
    }
}

impl From<NetworkDown> for ApiError {
    fn from(e: NetworkDown) -> Self {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "network-down", e.to_string())
    }
}

fn net(st: &ApiState) -> Result<&NetControl, ApiError> {
    st.net.as_ref().ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "offline",
            "the node runs without its network (--offline or network.enabled = false)",
        )
    })
}

/// A read from the store that failed: `storage-full` while the store is closed after a
/// full disk (it reopens once space is freed), else `storage-failed`.
fn store_error(e: council_store::StoreError) -> ApiError {
    use council_store::StoreError;
    match e {
        StoreError::Closed | StoreError::Full(_) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage-full",
            format!("{e}: the node's disk filled up; it answers again once space is freed"),
        ),
        e => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage-failed", e.to_string()),
    }
}

impl From<NodeError> for ApiError {
    fn from(e: NodeError) -> Self {
        match e {
            NodeError::Rejected(r) => {
                let (status, code) = rejection(&r);
                ApiError::new(status, code, r.to_string())
            }
            NodeError::Storage(m) => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage-failed", m),
            NodeError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too-large", e.to_string()),
            NodeError::NodeKeyReplaced => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "node-key-replaced", e.to_string())
            }
            NodeError::CatchingUp => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "catching-up", e.to_string()),
            NodeError::StorageFull | NodeError::StoreReopening => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage-full", e.to_string())
            }
            NodeError::SigningHalted(_) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "signing-halted", e.to_string())
            }
            NodeError::ShuttingDown => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "shutting-down", "the node is shutting down")
            }
        }
    }
}

/// The status and code for each way a record can break the council's rules.
fn rejection(e: &RecordError) -> (StatusCode, &'static str) {
    use RecordError as R;
    use StatusCode as S;
    match e {
        R::NotAMember { .. } => (S::FORBIDDEN, "not-a-member"),
        R::NotInElectorate { .. } => (S::FORBIDDEN, "not-in-electorate"),
        R::MayNotOpen { .. } => (S::FORBIDDEN, "may-not-open"),
        R::NotTheDelegate { .. } => (S::FORBIDDEN, "not-the-delegate"),
        R::MotionClosed { .. } | R::PastClosingTime { .. } => (S::CONFLICT, "motion-closed"),
        R::StaleCounter { .. } => (S::CONFLICT, "stale-ballot"),
        R::RankingExpected { .. } => (S::UNPROCESSABLE_ENTITY, "ranking-expected"),
        R::ChoiceExpected { .. } => (S::UNPROCESSABLE_ENTITY, "choice-expected"),
        R::RankingRepeats { .. } => (S::UNPROCESSABLE_ENTITY, "ranking-repeats"),
        R::RankingOmits { .. } => (S::UNPROCESSABLE_ENTITY, "ranking-omits"),
        R::BallotFinal { .. } => (S::CONFLICT, "ballot-final"),
        R::AlreadySigned { .. } => (S::CONFLICT, "already-signed"),
        R::DuplicateMotion(_) => (S::CONFLICT, "duplicate-motion"),
        R::MandateNotInForce { .. } => (S::CONFLICT, "mandate-not-in-force"),
        R::UnknownMotion(_) => (S::NOT_FOUND, "unknown-motion"),
        R::UnknownMandate(_) => (S::NOT_FOUND, "unknown-mandate"),
        R::ForeignRecord { .. } | R::WrongCouncil { .. } => (S::UNPROCESSABLE_ENTITY, "wrong-council"),
        R::BadChoice { .. } => (S::UNPROCESSABLE_ENTITY, "bad-choice"),
        R::InvalidMotion(_) => (S::UNPROCESSABLE_ENTITY, "invalid-motion"),
        R::InvalidAmendment(_) => (S::UNPROCESSABLE_ENTITY, "invalid-amendment"),
        R::BadSplit => (S::UNPROCESSABLE_ENTITY, "bad-split"),
        R::InvalidInvite(_) => (S::UNPROCESSABLE_ENTITY, "invalid-invite"),
        R::BlankName => (S::UNPROCESSABLE_ENTITY, "blank-name"),
        R::WrongMember { .. } => (S::FORBIDDEN, "wrong-member"),
        R::NotOwnDevice { .. } => (S::FORBIDDEN, "not-own-device"),
        R::DevicesByAct => (S::FORBIDDEN, "devices-by-act"),
        R::DeviceKeyTaken { .. } => (S::CONFLICT, "device-key-taken"),
        R::TooManyDevices { .. } => (S::CONFLICT, "too-many-devices"),
        R::LastDevice => (S::CONFLICT, "last-device"),
        R::WrongFederation { .. } => (S::UNPROCESSABLE_ENTITY, "wrong-federation"),
        R::FederationLoop(_) => (S::UNPROCESSABLE_ENTITY, "federation-loop"),
        // Only the node itself makes these; a client cannot cause them.
        R::Genesis(_)
        | R::OutOfSequence { .. }
        | R::BrokenLink { .. }
        | R::TimeWentBack { .. }
        | R::WrongNodeKey { .. }
        | R::ClosedTooEarly { .. }
        | R::WrongOutcome { .. }
        | R::NotFederationLevel { .. }
        | R::ImpossibleOutcome { .. } => (S::INTERNAL_SERVER_ERROR, "internal"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordBody {
    /// The signed record's canonical CBOR, in hex.
    pub record: String,
}

pub(crate) fn decode<T: Cbor>(body: Result<Json<RecordBody>, JsonRejection>, what: &str) -> Result<T, ApiError> {
    let Json(b) = body?;
    decode_hex(&b.record, what)
}

/// A record from its canonical CBOR in hex; `what` names it in the error.
fn decode_hex<T: Cbor>(record: &str, what: &str) -> Result<T, ApiError> {
    let bytes = hex::decode(record.trim())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed-record", format!("`record` is not hex: {e}")))?;
    T::from_cbor(&bytes).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed-record", format!("`record` is not a valid {what}: {e}"))
    })
}

/// A member-signed record of `kind` (one of [`MEMBER_RECORD_KINDS`]) from its hex, as its
/// own endpoint and `POST /v1/batch` read it, with its id: the SHA-256 of the record.
fn member_record(kind: &str, record: &str) -> Result<(Payload, Hash), ApiError> {
    fn one<T: Cbor>(record: &str, what: &str, wrap: impl FnOnce(T) -> Payload) -> Result<(Payload, Hash), ApiError> {
        let t: T = decode_hex(record, what)?;
        let id = Hash::of(&t.to_cbor());
        Ok((wrap(t), id))
    }
    match kind {
        "motion" => one(record, "signed motion", |m: Signed<MotionBody>| Payload::Motion(Box::new(m))),
        "vote" => one(record, "signed ballot", Payload::Vote),
        "ranking" => one(record, "signed ranking", |r: Signed<RankingBody>| Payload::Ranking(Box::new(r))),
        "petition" => one(record, "signed petition signature", Payload::Petition),
        "invite" => one(record, "signed invite", Payload::Invite),
        "name" => one(record, "signed name", Payload::Name),
        "device" => one(record, "signed device record", |d: Signed<DeviceBody>| Payload::Device(Box::new(d))),
        other => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unknown-kind",
            format!("a batch holds records of the kinds {}, not `{other}`", MEMBER_RECORD_KINDS.join(", ")),
        )),
    }
}

/// The member-signed records whose endpoint does nothing but judge and log them, by the
/// name each has in a batch.
const MEMBER_RECORD_KINDS: &[&str] = &["motion", "vote", "ranking", "petition", "invite", "name", "device"];

/// The single endpoint of a member-signed record of `kind`: read, judged and logged.
async fn post_member_record(
    st: &ApiState,
    body: Result<Json<RecordBody>, JsonRejection>,
    kind: &str,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    let (payload, id) = member_record(kind, &b.record)?;
    submit(st, payload, id).await
}

/// The answer to an accepted record: where it is in the log, and the receipt.
#[derive(Debug, serde::Serialize)]
pub struct Accepted {
    /// SHA-256 of the signed record.
    pub record: Hash,
    pub seq: u64,
    pub duplicate: bool,
    /// The id of the log entry that holds it.
    pub entry: Hash,
    /// The receipt (PROTOCOL.md §4.6): the node-signed entry, as canonical CBOR in hex.
    pub receipt: String,
}

async fn submit(st: &ApiState, payload: Payload, id: Hash) -> Result<Response, ApiError> {
    let verified = verify_payload(payload).map_err(bad_signature)?;
    let (status, body) = accepted(st.writer.submit(verified, id).await?);
    Ok((status, Json(body)).into_response())
}

fn bad_signature(e: council_core::verify::SignatureError) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "bad-signature", e.to_string())
}

/// The status and body that acknowledge a record the writer took.
fn accepted(s: crate::writer::Submitted) -> (StatusCode, Accepted) {
    let status = if s.duplicate { StatusCode::OK } else { StatusCode::CREATED };
    let receipt = hex::encode(receipt_bytes(&s.entry_bytes));
    (status, Accepted { record: s.record, seq: s.seq, duplicate: s.duplicate, entry: s.entry_id, receipt })
}

/// The most records one `POST /v1/batch` may hold.
pub const MAX_BATCH_RECORDS: usize = 1024;
/// The most bytes the body of one `POST /v1/batch` may have: room for 1,024 records of
/// 2 KiB each in hex (a ballot is about 190 bytes).
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchBody {
    records: Vec<BatchRecord>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRecord {
    kind: String,
    record: String,
}

/// The answer to a batch: one result for each record, in order.
#[derive(Debug, serde::Serialize)]
struct BatchAnswer {
    results: Vec<BatchResult>,
}

/// What the record's single endpoint would have answered: its status, and its body.
#[derive(Debug, serde::Serialize)]
struct BatchResult {
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted: Option<Accepted>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

#[derive(Debug, serde::Serialize)]
struct ErrorBody {
    code: &'static str,
    message: String,
}

/// One record of a batch as the single endpoint of its kind would decode it, with its id.
/// A record larger than that endpoint takes (`api.max_body_bytes` for the whole body) gets
/// the answer that endpoint gives it.
fn batch_record(r: &BatchRecord, max_body: usize) -> Result<(Payload, Hash), ApiError> {
    if r.record.len() + r#"{"record":""}"#.len() > max_body {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "malformed-body",
            format!("the record is larger than one request may be (api.max_body_bytes, {max_body} bytes)"),
        ));
    }
    member_record(&r.kind, &r.record)
}

/// `POST /v1/batch`: many member-signed records in one request (PROTOCOL.md §12.8). Each
/// is judged on its own, as its single endpoint would judge it, and answered in
/// `results`, in order: its status and either what that endpoint answers or its error.
/// Only a body that is not a batch is refused as a whole; one over the size limit is
/// refused by its `Content-Length` before it is read.
async fn post_batch(st: ApiState, req: Request, max_body: usize) -> Result<Response, ApiError> {
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            format!("a batch body is at most {MAX_BATCH_BYTES} bytes; send fewer records at a time"),
        )
    };
    let declared = req.headers().get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BATCH_BYTES as u64) {
        return Err(too_large());
    }
    // JSON, as every other endpoint takes (415 otherwise).
    let json = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(';').next().is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "malformed-body",
            "a batch is JSON: send `Content-Type: application/json`",
        ));
    }
    // Read and judged a few at a time; the others wait here, their bodies unread.
    let turn = st.batches.acquire().await.map_err(|_| NodeError::ShuttingDown)?;
    let bytes = axum::body::to_bytes(req.into_body(), MAX_BATCH_BYTES).await.map_err(|_| too_large())?;
    let batch: BatchBody = serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed-body",
            format!("the request body is not a batch, {{\"records\": [{{\"kind\", \"record\"}}…]}}: {e}"),
        )
    })?;
    if batch.records.len() > MAX_BATCH_RECORDS {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch-too-large",
            format!("a batch holds at most {MAX_BATCH_RECORDS} records, this one {}", batch.records.len()),
        ));
    }
    drop(bytes);
    // Each record's slot holds its error, or nothing while its payload goes on.
    let mut payloads = Vec::new();
    let mut slots: Vec<Option<ApiError>> =
        batch.records.iter().map(|r| batch_record(r, max_body).map(|p| payloads.push(p)).err()).collect();
    drop(batch);
    // Every signature of the batch in one check (§2), off the async workers.
    let (payloads, ids): (Vec<Payload>, Vec<Hash>) = payloads.into_iter().unzip();
    let checked = tokio::task::spawn_blocking(move || council_core::verify::verify_payloads(payloads))
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let mut to_writer = Vec::new();
    let mut checked = checked.into_iter().zip(ids);
    for slot in slots.iter_mut().filter(|s| s.is_none()) {
        let (verdict, id) = checked.next().expect("one verdict for each decoded record");
        match verdict {
            Ok(v) => to_writer.push((v, id)),
            Err(e) => *slot = Some(bad_signature(e)),
        }
    }
    // What is left in memory now is the records themselves, and the writer's queue
    // bounds those: the next batch may be read.
    drop(turn);
    let mut verdicts = st.writer.submit_many(to_writer).await.into_iter();
    let results: Vec<BatchResult> = slots
        .into_iter()
        .map(|slot| {
            let answer = match slot {
                Some(e) => Err(e),
                None => verdicts.next().expect("one verdict for each record").map(accepted).map_err(ApiError::from),
            };
            match answer {
                Ok((status, body)) => BatchResult { status: status.as_u16(), accepted: Some(body), error: None },
                Err(e) => BatchResult {
                    status: e.status.as_u16(),
                    accepted: None,
                    error: Some(ErrorBody { code: e.code, message: e.message }),
                },
            }
        })
        .collect();
    Ok(Json(BatchAnswer { results }).into_response())
}

pub(crate) async fn post_motion(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "motion").await
}

pub(crate) async fn post_vote(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "vote").await
}

pub(crate) async fn post_petition(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "petition").await
}

pub(crate) async fn post_delegate_vote(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let v: Signed<DelegateVoteBody> = decode(body, "signed delegate vote")?;
    // An honest node does not log a vote its federation would void (outside the
    // mandate's scope, against its instruction, on a closed or unknown motion...).
    if let Some(net) = &st.net {
        if let Err(why) = net.check_delegate_vote(v.clone()).await? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "void-in-federation",
                format!("the federation would void this vote: {why}"),
            ));
        }
    }
    let id = Hash::of(&v.to_cbor());
    submit(&st, Payload::DelegateVote(v), id).await
}

fn bad(code: &'static str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, code, message)
}

fn federation_id(s: &str) -> Result<Hash, ApiError> {
    Hash::from_hex(s.trim()).ok_or_else(|| bad("malformed-id", "the federation id is not 64 hex digits"))
}

pub(crate) async fn post_name(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "name").await
}

/// `POST /v1/rankings`: a member's ranked ballot on a ranked motion (§7.1).
pub(crate) async fn post_ranking(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "ranking").await
}

/// `POST /v1/devices`: a member adds or removes one of their device keys (§6.11).
pub(crate) async fn post_device(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "device").await
}

/// `POST /v1/equivocations`: a member's device hands in the proof that a council's node
/// signed two histories (PROTOCOL.md §9, §10.1); this node judges it as gossip and, if it
/// holds, keeps it, marks the council forked and gossips it to its federations.
pub(crate) async fn post_equivocation(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let p: EquivocationProof = decode(body, "equivocation proof")?;
    use crate::peering::ProofTaken as T;
    let (status, what) = match net(&st)?.hand_in_proof(p).await? {
        T::Kept => (StatusCode::ACCEPTED, "kept and passed on to the federation"),
        T::Known => (StatusCode::OK, "known already"),
        T::UnknownCouncil => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown-council",
                "this node does not follow that council; hand the proof to a node of its federation",
            ))
        }
        T::Invalid => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "not-a-proof",
                "not two valid entries at one place of the council's log, signed by its node key there",
            ))
        }
    };
    Ok((status, Json(serde_json::json!({ "proof": what }))).into_response())
}

pub(crate) async fn post_invite(
    State(st): State<ApiState>,
    body: Result<Json<RecordBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    post_member_record(&st, body, "invite").await
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinBody {
    pub federation: String,
    /// The invite proof's canonical CBOR, in hex.
    pub proof: String,
    /// Where the issuer's node listens (multiaddrs).
    pub addrs: Vec<String>,
}

async fn post_join(
    State(st): State<ApiState>,
    body: Result<Json<JoinBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    let federation = federation_id(&b.federation)?;
    let bytes = hex::decode(b.proof.trim()).map_err(|e| bad("malformed-proof", format!("`proof` is not hex: {e}")))?;
    let proof = InviteProof::from_cbor(&bytes)
        .map_err(|e| bad("malformed-proof", format!("`proof` is not an invite proof: {e}")))?;
    let statement = council_core::records::JoinStatement { federation, council: st.writer.council() };
    if !proof.invite_key.verify(&statement.to_cbor(), &proof.signature) {
        return Err(bad(
            "bad-proof",
            "the invite proof is not signed by its invite key for this council and federation",
        ));
    }
    if b.addrs.is_empty() || b.addrs.len() > 16 {
        return Err(bad("malformed-addrs", "give between 1 and 16 addresses of the issuer's node"));
    }
    let addrs = b
        .addrs
        .iter()
        .map(|a| a.parse().map_err(|e| bad("malformed-addrs", format!("{a:?} is not a multiaddr: {e}"))))
        .collect::<Result<Vec<_>, _>>()?;
    net(&st)?
        .join(Join { federation, proof, addrs })
        .await?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage-failed", e))?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "federation": federation }))).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerQuery {
    /// A peer id, or an address as `POST /v1/peers` took it.
    pub peer: String,
}

/// `DELETE /v1/peers?peer=P`: stops dialing that address or peer and disconnects it.
async fn delete_peer(
    State(st): State<ApiState>,
    q: Result<axum::extract::Query<PeerQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let axum::extract::Query(q) = q.map_err(|e| bad("malformed-peer", e.body_text()))?;
    let (removed, disconnected) = net(&st)?.remove_peer(q.peer.trim().to_owned()).await?;
    if removed.is_empty() && disconnected.is_none() {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-peer",
            "the node neither dials that address nor is connected to that peer",
        ));
    }
    Ok(Json(serde_json::json!({ "removed": removed, "disconnected": disconnected })).into_response())
}

/// `DELETE /v1/joins/{federation}`: ends a join this council started (it stops showing
/// the invite and stops asking the issuer's node).
async fn delete_join(State(st): State<ApiState>, Path(federation): Path<String>) -> Result<Response, ApiError> {
    let federation = federation_id(&federation)?;
    let had = net(&st)?
        .cancel_join(federation)
        .await?
        .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "storage-failed", e))?;
    if !had {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "no-such-join",
            "this council is not joining that federation",
        ));
    }
    Ok(Json(serde_json::json!({ "federation": federation, "cancelled": true })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerBody {
    pub addr: String,
}

async fn post_peer(
    State(st): State<ApiState>,
    body: Result<Json<PeerBody>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(b) = body?;
    let addr = b.addr.trim().parse().map_err(|e| bad("malformed-addr", format!("not a multiaddr: {e}")))?;
    net(&st)?.add_peer(addr).await?.map_err(|e| bad("cannot-dial", e))?;
    Ok((StatusCode::ACCEPTED, Json(serde_json::json!({ "dialing": b.addr.trim() }))).into_response())
}

pub(crate) async fn get_federations(State(st): State<ApiState>) -> Result<Response, ApiError> {
    Ok(Json(net(&st)?.federations().await?).into_response())
}

pub(crate) async fn get_network(State(st): State<ApiState>) -> Result<Response, ApiError> {
    Ok(Json(net(&st)?.network().await?).into_response())
}

/// `GET /v1/network` on the member address: as the operator sees it, less where other
/// councils' nodes are (their addresses are their operators' business, not this
/// council's members').
pub(crate) async fn get_network_for_members(State(st): State<ApiState>) -> Result<Response, ApiError> {
    let mut v = net(&st)?.network().await?;
    for p in &mut v.connected {
        p.addrs.clear();
    }
    v.dialing.clear();
    Ok(Json(v).into_response())
}

/// `GET /v1/motions/{id}`: one motion, with the signed-in member's own ballot.
pub(crate) async fn get_motion(
    State(st): State<ApiState>,
    Path(id): Path<String>,
    who: Option<axum::Extension<crate::members::SignedIn>>,
) -> Result<Response, ApiError> {
    let id = id.trim().to_ascii_lowercase();
    if id.len() < 6 || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(bad("malformed-id", "give the motion id, or at least its first 6 hex digits"));
    }
    use crate::writer::Lookup;
    match st.writer.motion(id, who.map(|w| w.member)).await? {
        Ok(v) => Ok(Json(v).into_response()),
        Err(Lookup::Unknown) => Err(ApiError::new(StatusCode::NOT_FOUND, "unknown-motion", "no motion has this id")),
        Err(Lookup::Ambiguous(n)) => Err(ApiError::new(
            StatusCode::CONFLICT,
            "ambiguous-id",
            format!("{n} or more motions have ids starting so; give more digits"),
        )),
    }
}

/// At most this many motions per page.
pub const MAX_PAGE: usize = 100;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct MotionsQuery {
    status: String,
    before: Option<u64>,
    limit: Option<usize>,
}

/// `GET /v1/motions?status=open|closed[&before=CURSOR][&limit=N]`: a page of motions,
/// newest first, and the cursor of the next page.
pub(crate) async fn get_motions(
    State(st): State<ApiState>,
    q: Result<axum::extract::Query<MotionsQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let malformed = || {
        bad(
            "malformed-query",
            format!("give ?status=open or ?status=closed, and optionally &before=CURSOR&limit=1..{MAX_PAGE}"),
        )
    };
    let axum::extract::Query(q) = q.map_err(|_| malformed())?;
    let open = match q.status.as_str() {
        "open" => true,
        "closed" => false,
        _ => return Err(malformed()),
    };
    let limit = q.limit.unwrap_or(50);
    if limit == 0 || limit > MAX_PAGE {
        return Err(malformed());
    }
    Ok(Json(st.writer.motions(open, q.before, limit).await?).into_response())
}

/// One entry of the council's log, as a member's device checks its receipts against it.
#[derive(Debug, serde::Serialize)]
pub struct LogEntry {
    pub seq: u64,
    pub entry: Hash,
    /// The node-signed entry, canonical CBOR in hex.
    pub record: String,
}

/// The entries at the places asked for; `null` where the log has none.
#[derive(Debug, serde::Serialize)]
pub struct LogEntries {
    /// The last place in the log that is on disk.
    pub head: u64,
    pub entries: Vec<Option<LogEntry>>,
}

/// At most this many places per `GET /v1/log?at=…`.
pub const MAX_LOG_AT: usize = 64;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct LogQuery {
    at: String,
}

/// `GET /v1/log?at=3,17,42`: the entries at those places (up to [`MAX_LOG_AT`]).
pub(crate) async fn get_log_entries(
    State(st): State<ApiState>,
    q: Result<axum::extract::Query<LogQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Response, ApiError> {
    let malformed =
        || bad("malformed-query", format!("give ?at= and up to {MAX_LOG_AT} places in the log, comma-separated"));
    let axum::extract::Query(q) = q.map_err(|_| malformed())?;
    let seqs: Vec<u64> =
        q.at.split(',').map(|x| x.trim().parse::<u64>()).collect::<Result<_, _>>().map_err(|_| malformed())?;
    if seqs.is_empty() || seqs.len() > MAX_LOG_AT {
        return Err(malformed());
    }
    let head = st.writer.durable_seq();
    let store = st.store.clone();
    let entries = tokio::task::spawn_blocking(move || {
        seqs.into_iter()
            .map(|seq| {
                if seq == 0 || seq > head {
                    return Ok(None);
                }
                Ok(store.entry(seq)?.map(|e| LogEntry { seq, entry: e.id(), record: hex::encode(e.to_cbor()) }))
            })
            .collect::<Result<Vec<_>, council_store::StoreError>>()
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
    .map_err(store_error)?;
    Ok(Json(LogEntries { head, entries }).into_response())
}

pub(crate) async fn get_council(State(st): State<ApiState>) -> Result<Response, ApiError> {
    Ok(Json(st.writer.report().await?).into_response())
}

async fn get_ballot(
    State(st): State<ApiState>,
    Path((motion, did)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let motion = Hash::from_hex(&motion)
        .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "malformed-id", "the motion id is not 64 hex digits"))?;
    let key = PublicKey::from_did(&did)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "malformed-key", e.to_string()))?;
    match st.writer.ballot(motion, key).await? {
        Some(ballot) => Ok(Json(ballot).into_response()),
        None => Err(ApiError::new(StatusCode::NOT_FOUND, "no-ballot", "no ballot from this key on this open motion")),
    }
}

/// Streams the export: header, genesis, every entry that is on disk, then the logs of
/// the councils this node follows and any equivocation proofs against them.
pub(crate) async fn get_export(State(st): State<ApiState>) -> Result<Response, ApiError> {
    let permit = st.exports.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "busy", "too many exports at once; try again in a moment")
    })?;
    let upto = st.writer.durable_seq();
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(8);
    let store = st.store.clone();
    let council = st.writer.council();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        // Gives up on a client that stops reading, so that it cannot hold the thread.
        let send = |b: Vec<u8>| {
            let deadline = std::time::Instant::now() + EXPORT_STALL;
            let mut item = Ok(b);
            loop {
                match tx.try_send(item) {
                    Ok(()) => return true,
                    Err(tokio::sync::mpsc::error::TrySendError::Full(back)) if std::time::Instant::now() < deadline => {
                        item = back;
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                    Err(_) => return false,
                }
            }
        };
        let fail = |m: String| {
            let _ = tx.blocking_send(Err(std::io::Error::other(m)));
        };
        if let Err(e) = crate::backup::write_export(&store, council, upto, send) {
            fail(e);
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], Body::from_stream(stream)).into_response())
}

/// Compares in constant time, so the token cannot be guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

/// `GET /metrics`: the node's metrics and libp2p's, as OpenMetrics text (see
/// [`crate::metrics`]).
async fn get_metrics(State(st): State<ApiState>) -> Response {
    let mut now = Now {
        log_entries: st.writer.durable_seq(),
        writer_queue: st.writer.queued(),
        storage_full: st.writer.storage_full(),
        network: None,
    };
    if let Some(Ok(v)) = match &st.net {
        Some(net) => Some(net.network().await),
        None => None,
    } {
        now.network = Some(NetNow {
            connected: v.connected.len(),
            allowed: v.connected.iter().filter(|p| p.council.is_some()).count(),
            lag: v
                .followed
                .iter()
                .map(|f| (f.council.to_string(), f.peers_reach.unwrap_or(0).saturating_sub(f.entries)))
                .collect(),
        });
    }
    let body = st.metrics.encode(&now);
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], body).into_response()
}

async fn auth(State(st): State<ApiState>, req: Request, next: Next) -> Response {
    let given =
        req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
    match given {
        Some(t) if same(t.trim().as_bytes(), st.token.as_bytes()) => next.run(req).await,
        Some(_) => ApiError::new(StatusCode::UNAUTHORIZED, "bad-token", "the API token is wrong").into_response(),
        None => ApiError::new(
            StatusCode::UNAUTHORIZED,
            "no-token",
            "send `Authorization: Bearer <token>`; the token is in the node's data directory, in api-token",
        )
        .into_response(),
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "not-found", "no such API endpoint")
}

pub fn router(st: ApiState, max_body: usize) -> Router {
    Router::new()
        .route("/v1/council", get(get_council))
        .route("/v1/votes", post(post_vote))
        .route("/v1/petitions", post(post_petition))
        .route("/v1/motions/{id}/ballot/{did}", get(get_ballot))
        .route("/v1/motions/{id}", get(get_motion))
        .route("/v1/motions", get(get_motions).post(post_motion))
        .route("/v1/log", get(get_log_entries))
        .route("/v1/export", get(get_export))
        .route("/v1/delegate-votes", post(post_delegate_vote))
        .route("/v1/invites", post(post_invite))
        .route("/v1/names", post(post_name))
        .route("/v1/devices", post(post_device))
        .route("/v1/rankings", post(post_ranking))
        .route("/v1/equivocations", post(post_equivocation))
        .route(
            "/v1/batch",
            post(move |State(st): State<ApiState>, req: Request| post_batch(st, req, max_body))
                .layer(DefaultBodyLimit::max(MAX_BATCH_BYTES)),
        )
        .route("/v1/joins", post(post_join))
        .route("/v1/joins/{federation}", axum::routing::delete(delete_join))
        .route("/v1/peers", post(post_peer).delete(delete_peer))
        .route("/v1/federations", get(get_federations))
        .route("/v1/network", get(get_network))
        .route("/metrics", get(get_metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(st.clone(), auth))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(st)
}
