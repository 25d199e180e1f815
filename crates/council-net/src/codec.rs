//! The request-response protocol between nodes: log sync ("send me council C's entries
//! from seq S on") and the hello that opens every connection ("this is my council, and
//! here are my invites"). Every message is canonical CBOR and bounded in size.

use council_core::cbor::{Cbor, Decoder, Encoder};
use council_core::records::{limits, FederationId, Genesis, InviteProof};
use council_core::{DecodeError, Hash};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/councilnet/sync/1");
/// The largest request accepted: a hello carries a genesis (at most one record) and a
/// few invite proofs.
pub const MAX_SYNC_REQUEST_BYTES: usize = limits::MAX_RECORD_BYTES + 16 * 1024;
/// The largest response accepted.
pub const MAX_SYNC_RESPONSE_BYTES: usize = 8 << 20;
/// The most invite proofs one hello may carry.
pub const MAX_HELLO_INVITES: usize = 16;
/// The most entries one sync response may carry.
pub const MAX_SYNC_ENTRIES: usize = 100_000;
/// The most logs one heads response may list (a federation has at most 1,000 councils).
pub const MAX_HEADS: usize = 4096;

/// Where one log stands: its council, the number of entries, and the id of the last
/// (the genesis's council id for an empty log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Head {
    pub council: Hash,
    pub seq: u64,
    pub head: Hash,
}

impl Cbor for Head {
    fn encode(&self, e: &mut Encoder) {
        e.array(3).value(&self.council).u64(self.seq).value(&self.head);
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(3)?;
        Ok(Head { council: d.value()?, seq: d.u64()?, head: d.value()? })
    }
}

/// The digest of a list of heads, sorted by council id: the SHA-256 of the canonical CBOR
/// array of them. Two nodes that hold the same logs of a federation at the same places
/// compute the same digest.
pub fn heads_digest(heads: &[Head]) -> Hash {
    let mut sorted = heads.to_vec();
    sorted.sort();
    let mut e = Encoder::default();
    e.array(sorted.len());
    for h in &sorted {
        e.value(h);
    }
    Hash::of(&e.into_bytes())
}

/// `["councilnet/1/heads", federation, digest]`: "where do the logs of this federation
/// stand at your node? Mine digest to this".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeadsRequest {
    pub federation: FederationId,
    pub digest: Hash,
}

/// `["councilnet/1/sync-request", council, from_seq, max_entries]`. `from_seq` 0 asks for
/// the genesis too, then the entries from 1.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub council: Hash,
    pub from_seq: u64,
    pub max_entries: u32,
}

/// `["councilnet/1/sync-response", genesis / null, [entry bytes…]]`: the council's entries
/// from `from_seq` on, in order (none if the responder does not follow the council), and
/// its genesis when `from_seq` was 0 and the responder has it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    pub genesis: Option<Box<Genesis>>,
    pub entries: Vec<Vec<u8>>,
}

/// `["councilnet/1/hello", genesis, [[federation, invite_proof]…]]`: the sender's
/// council, and the invites it holds (at most [`MAX_HELLO_INVITES`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hello {
    pub genesis: Genesis,
    pub invites: Vec<(FederationId, InviteProof)>,
}

/// A request on `/councilnet/sync/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Sync(SyncRequest),
    Hello(Box<Hello>),
    Heads(HeadsRequest),
}

/// A response on `/councilnet/sync/1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Response {
    Sync(SyncResponse),
    /// `["councilnet/1/welcome", genesis]`: the responder's council.
    Welcome(Box<Genesis>),
    /// `["councilnet/1/refused", reason: text]`.
    Refused(String),
    /// `["councilnet/1/heads-response", null / [head…]]`: the heads of the federation's
    /// logs the responder holds and the requester may read, sorted by council id; `null`
    /// if they digest to the requester's digest (nothing to tell).
    Heads(Option<Vec<Head>>),
}

const REQ: &str = "councilnet/1/sync-request";
const RESP: &str = "councilnet/1/sync-response";
const HELLO: &str = "councilnet/1/hello";
const WELCOME: &str = "councilnet/1/welcome";
const REFUSED: &str = "councilnet/1/refused";
const HEADS: &str = "councilnet/1/heads";
const HEADS_RESP: &str = "councilnet/1/heads-response";
/// The longest refusal reason sent or read.
const MAX_REASON: usize = 1024;

impl Cbor for SyncRequest {
    fn encode(&self, e: &mut Encoder) {
        e.array(4).text(REQ).value(&self.council).u64(self.from_seq).u64(self.max_entries.into());
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(4)?;
        d.tag(REQ)?;
        Ok(SyncRequest { council: d.value()?, from_seq: d.u64()?, max_entries: d.u32()? })
    }
}

fn encode_sync_response(r: &SyncResponse, e: &mut Encoder) {
    e.array(3).text(RESP);
    match &r.genesis {
        Some(g) => e.value(g.as_ref()),
        None => e.null(),
    };
    e.array(r.entries.len());
    for b in &r.entries {
        e.bytes(b);
    }
}

impl Cbor for Request {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Request::Sync(r) => r.encode(e),
            Request::Hello(h) => {
                e.array(3).text(HELLO).value(&h.genesis).array(h.invites.len());
                for (f, p) in &h.invites {
                    e.array(2).value(f).value(p);
                }
            }
            Request::Heads(h) => {
                e.array(3).text(HEADS).value(&h.federation).value(&h.digest);
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        let n = d.array(4)?;
        let tag = d.text()?;
        match tag {
            REQ if n == 4 => {
                Ok(Request::Sync(SyncRequest { council: d.value()?, from_seq: d.u64()?, max_entries: d.u32()? }))
            }
            HELLO if n == 3 => {
                let genesis = d.value()?;
                let k = d.array(MAX_HELLO_INVITES)?;
                let mut invites = Vec::with_capacity(k);
                for _ in 0..k {
                    d.array_exact(2)?;
                    invites.push((d.value()?, d.value()?));
                }
                Ok(Request::Hello(Box::new(Hello { genesis, invites })))
            }
            HEADS if n == 3 => Ok(Request::Heads(HeadsRequest { federation: d.value()?, digest: d.value()? })),
            _ => Err(DecodeError::UnknownVariant {
                at,
                found: format!("{}/{n}", tag.chars().take(64).collect::<String>()),
            }),
        }
    }
}

impl Cbor for Response {
    fn encode(&self, e: &mut Encoder) {
        match self {
            Response::Sync(r) => encode_sync_response(r, e),
            Response::Welcome(g) => {
                e.array(2).text(WELCOME).value(g.as_ref());
            }
            Response::Refused(why) => {
                let why: String = why.chars().take(MAX_REASON).collect();
                e.array(2).text(REFUSED).text(&why);
            }
            Response::Heads(heads) => {
                e.array(2).text(HEADS_RESP);
                match heads {
                    None => {
                        e.null();
                    }
                    Some(list) => {
                        e.array(list.len());
                        for h in list {
                            e.value(h);
                        }
                    }
                }
            }
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        let at = d.position();
        let n = d.array(3)?;
        let tag = d.text()?;
        match tag {
            RESP if n == 3 => {
                let genesis = d.option::<Genesis>()?.map(Box::new);
                let k = d.array(MAX_SYNC_ENTRIES)?;
                let entries = (0..k).map(|_| d.bytes().map(<[u8]>::to_vec)).collect::<Result<_, _>>()?;
                Ok(Response::Sync(SyncResponse { genesis, entries }))
            }
            WELCOME if n == 2 => Ok(Response::Welcome(Box::new(d.value()?))),
            REFUSED if n == 2 => {
                let why = d.text()?;
                if why.len() > MAX_REASON * 4 {
                    return Err(DecodeError::TooLong { at, max: MAX_REASON * 4 });
                }
                // What `encode` would cut is refused, so that what decodes re-encodes to
                // the same bytes (found by fuzzing's round-trip property).
                if why.chars().count() > MAX_REASON {
                    return Err(DecodeError::TooLong { at, max: MAX_REASON });
                }
                Ok(Response::Refused(why.to_owned()))
            }
            HEADS_RESP if n == 2 => {
                if d.null()? {
                    return Ok(Response::Heads(None));
                }
                let list: Vec<Head> = d.list(MAX_HEADS)?;
                // Sorted by council id, each council once: one encoding per list.
                if list.windows(2).any(|w| w[0].council >= w[1].council) {
                    return Err(DecodeError::UnexpectedType { at, expected: "heads sorted by council id, each once" });
                }
                Ok(Response::Heads(Some(list)))
            }
            _ => Err(DecodeError::UnknownVariant {
                at,
                found: format!("{}/{n}", tag.chars().take(64).collect::<String>()),
            }),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SyncCodec;

async fn read_bounded<T: AsyncRead + Unpin + Send>(io: &mut T, max: usize) -> std::io::Result<Vec<u8>> {
    let mut buf = Vec::new();
    io.take(max as u64 + 1).read_to_end(&mut buf).await?;
    if buf.len() > max {
        return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "message too large"));
    }
    Ok(buf)
}

fn invalid(e: DecodeError) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl libp2p::request_response::Codec for SyncCodec {
    type Protocol = StreamProtocol;
    type Request = Request;
    type Response = Response;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Request> {
        Request::from_cbor(&read_bounded(io, MAX_SYNC_REQUEST_BYTES).await?).map_err(invalid)
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<Response> {
        Response::from_cbor(&read_bounded(io, MAX_SYNC_RESPONSE_BYTES).await?).map_err(invalid)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: Request,
    ) -> std::io::Result<()> {
        io.write_all(&req.to_cbor()).await?;
        io.close().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: Response,
    ) -> std::io::Result<()> {
        io.write_all(&res.to_cbor()).await?;
        io.close().await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn head(c: u8, seq: u64) -> Head {
        Head { council: Hash([c; 32]), seq, head: Hash([c ^ 0xff; 32]) }
    }

    #[test]
    fn heads_round_trip_and_digest_ignores_order() {
        let list = vec![head(1, 3), head(2, 0), head(9, 7)];
        for r in [Response::Heads(None), Response::Heads(Some(list.clone())), Response::Heads(Some(vec![]))] {
            assert_eq!(Response::from_cbor(&r.to_cbor()).unwrap(), r);
        }
        let req = Request::Heads(HeadsRequest { federation: Hash([5; 32]), digest: heads_digest(&list) });
        assert_eq!(Request::from_cbor(&req.to_cbor()).unwrap(), req);
        let mut shuffled = list.clone();
        shuffled.reverse();
        assert_eq!(heads_digest(&shuffled), heads_digest(&list));
        assert_ne!(heads_digest(&[head(1, 4), head(2, 0), head(9, 7)]), heads_digest(&list));
    }

    #[test]
    fn a_heads_list_out_of_order_or_with_a_council_twice_is_refused() {
        for bad in [vec![head(2, 0), head(1, 3)], vec![head(1, 3), head(1, 4)]] {
            let mut e = Encoder::default();
            e.array(2).text(HEADS_RESP).array(bad.len());
            for h in &bad {
                e.value(h);
            }
            assert!(Response::from_cbor(&e.into_bytes()).is_err(), "{bad:?}");
        }
    }
}
