//! The log-sync protocol: "send me council C's entries from seq S on", answered with at
//! most a bounded number of bytes of entries. Both messages are canonical CBOR.

use council_core::cbor::{Cbor, Decoder, Encoder};
use council_core::{DecodeError, Hash};
use futures::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use libp2p::StreamProtocol;

pub const PROTOCOL: StreamProtocol = StreamProtocol::new("/councilnet/sync/1");
/// The largest sync request accepted.
pub const MAX_SYNC_REQUEST_BYTES: usize = 1024;
/// The largest sync response accepted.
pub const MAX_SYNC_RESPONSE_BYTES: usize = 8 << 20;

/// `["councilnet/1/sync-request", council, from_seq, max_entries]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub council: Hash,
    pub from_seq: u64,
    pub max_entries: u32,
}

/// `["councilnet/1/sync-response", [entry bytes…]]`: entries from `from_seq` on, in order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SyncResponse {
    pub entries: Vec<Vec<u8>>,
}

const REQ: &str = "councilnet/1/sync-request";
const RESP: &str = "councilnet/1/sync-response";

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

impl Cbor for SyncResponse {
    fn encode(&self, e: &mut Encoder) {
        e.array(2).text(RESP).array(self.entries.len());
        for b in &self.entries {
            e.bytes(b);
        }
    }
    fn decode(d: &mut Decoder<'_>) -> Result<Self, DecodeError> {
        d.array_exact(2)?;
        d.tag(RESP)?;
        let n = d.array(100_000)?;
        let entries = (0..n).map(|_| d.bytes().map(<[u8]>::to_vec)).collect::<Result<_, _>>()?;
        Ok(SyncResponse { entries })
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
    type Request = SyncRequest;
    type Response = SyncResponse;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<SyncRequest> {
        SyncRequest::from_cbor(&read_bounded(io, MAX_SYNC_REQUEST_BYTES).await?).map_err(invalid)
    }
    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
    ) -> std::io::Result<SyncResponse> {
        SyncResponse::from_cbor(&read_bounded(io, MAX_SYNC_RESPONSE_BYTES).await?).map_err(invalid)
    }
    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        req: SyncRequest,
    ) -> std::io::Result<()> {
        io.write_all(&req.to_cbor()).await?;
        io.close().await
    }
    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &StreamProtocol,
        io: &mut T,
        res: SyncResponse,
    ) -> std::io::Result<()> {
        io.write_all(&res.to_cbor()).await?;
        io.close().await
    }
}
