//! The council's data directory: node key, API token, genesis draft, store.
//!
//! | file | what |
//! |---|---|
//! | `node.key` | the node's signing key (mode 0600); it signs log entries, never council acts |
//! | `node.key.next` | a new node key waiting for the council act that makes it the node key (`councild key new`); it replaces `node.key` when the act passes |
//! | `api-token` | the bearer token for the local API (mode 0600) |
//! | `api-addr` | the address the API listens on, written at start |
//! | `p2p-addr` | the addresses other councils' nodes can dial, one per line |
//! | `genesis.draft` | the genesis while the founders sign it |
//! | `store-council` | the council's id, written once its store holds the genesis: a store found empty beside it was lost, not new |
//! | `store/` | the council's log (sled) |

use std::path::{Path, PathBuf};

use council_files::FileError;

use council_core::cbor::Cbor;
use council_core::draft::GenesisDraft;
use council_core::records::{CouncilRules, GenesisBody};
use council_core::{PublicKey, SecretKey};

pub const NODE_KEY: &str = "node.key";
/// A node key made for a `set-node-key` act that has not passed yet.
pub const NEXT_NODE_KEY: &str = "node.key.next";
pub const API_TOKEN: &str = "api-token";
pub const API_ADDR: &str = "api-addr";
/// Where the member endpoint listens (written at every start).
pub const MEMBERS_ADDR: &str = "members-addr";
/// The addresses other nodes can dial, written when the network listens.
pub const P2P_ADDR: &str = "p2p-addr";
pub const DRAFT: &str = "genesis.draft";
/// Written once the store holds the council's genesis (its id): an empty store beside it
/// was lost, and a node that started afresh on it would sign a second log.
pub const STORE_COUNCIL: &str = "store-council";
pub const STORE: &str = "store";

const KEY_PREFIX: &str = "councilnet-ed25519-seed:";
/// The most bytes a key or token file holds (a key line is 89 bytes).
const MAX_SECRET_BYTES: u64 = 4096;
/// The most bytes a genesis draft holds (a genesis is one record of at most 1 MiB).
const MAX_DRAFT_BYTES: u64 = 2 << 20;

#[derive(Debug, thiserror::Error)]
pub enum DataDirError {
    #[error("{path}: {reason}")]
    Io { path: PathBuf, reason: String },
    #[error("{0} already holds a council (it has a node.key); choose another directory")]
    Exists(PathBuf),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0} holds no council yet: create one with `councild init --data-dir {0}`")]
    NotInitialised(PathBuf),
    #[error("{0} is damaged: {1}")]
    Damaged(PathBuf, String),
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl Fn(std::io::Error) -> DataDirError + '_ {
    move |e| DataDirError::Io { path: path.to_owned(), reason: e.to_string() }
}

/// Writes a file only its owner can read, atomically (a fresh temporary file, synced and
/// renamed; see [`council_files::AtomicFile`]).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DataDirError> {
    Ok(council_files::write_atomic(path, bytes, true)?)
}

/// Reads a small file that must not be readable by others (a key, the token): a fifo, a
/// device or a large file is refused unread.
pub fn read_private(path: &Path) -> Result<Vec<u8>, DataDirError> {
    Ok(council_files::read_private(path, MAX_SECRET_BYTES)?)
}

pub fn encode_key(k: &SecretKey) -> String {
    format!("{KEY_PREFIX}{}\n", hex::encode(k.seed().as_ref()))
}

pub fn decode_key(path: &Path, text: &[u8]) -> Result<SecretKey, DataDirError> {
    let bad = |why: &str| DataDirError::Damaged(path.to_owned(), why.into());
    let text = std::str::from_utf8(text).map_err(|_| bad("not text"))?;
    let h = text.trim().strip_prefix(KEY_PREFIX).ok_or_else(|| bad("not a councilnet key file"))?;
    let mut seed = [0u8; 32];
    hex::decode_to_slice(h, &mut seed).map_err(|_| bad("the key is not 32 bytes of hex"))?;
    Ok(SecretKey::from_seed(&seed))
}

pub fn load_key(path: &Path) -> Result<SecretKey, DataDirError> {
    match council_files::read_private(path, MAX_SECRET_BYTES) {
        Ok(b) => decode_key(path, &b),
        // The node's own key missing from its folder: the folder holds no council.
        Err(e) if e.is_not_found() && path.file_name().is_some_and(|n| n == NODE_KEY) => {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
            Err(DataDirError::NotInitialised(dir.to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Makes the key that is to replace the node key (`node.key.next`), or returns the one
/// already made (and `false`): a council act names it, so it must not change under it.
pub fn make_next_key(dir: &Path) -> Result<(SecretKey, bool), DataDirError> {
    load_key(&dir.join(NODE_KEY))?;
    let path = dir.join(NEXT_NODE_KEY);
    match council_files::read_private(&path, MAX_SECRET_BYTES) {
        Ok(b) => return Ok((decode_key(&path, &b)?, false)),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e.into()),
    }
    let key = SecretKey::generate();
    write_private(&path, encode_key(&key).as_bytes())?;
    Ok((key, true))
}

/// If the council's log now wants `wanted` as its node key and `node.key.next` is that
/// key, makes it the node key: renames it over `node.key` (the old key is gone: it signs
/// nothing more) and returns it. `None` if there is no such next key.
pub fn install_next_key(dir: &Path, wanted: &PublicKey) -> Result<Option<SecretKey>, DataDirError> {
    let next = dir.join(NEXT_NODE_KEY);
    let key = match council_files::read_private(&next, MAX_SECRET_BYTES) {
        Ok(b) => decode_key(&next, &b)?,
        Err(e) if e.is_not_found() => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    if key.public() != *wanted {
        return Ok(None);
    }
    let node = dir.join(NODE_KEY);
    std::fs::rename(&next, &node).map_err(io(&node))?;
    // The rename is durable once the directory is.
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))?;
    Ok(Some(key))
}

/// Records that this directory's store holds council `id` (once; see [`STORE_COUNCIL`]).
pub fn mark_store(dir: &Path, id: &council_core::Hash) -> Result<(), DataDirError> {
    if dir.join(STORE_COUNCIL).exists() {
        return Ok(());
    }
    Ok(council_files::write_atomic(&dir.join(STORE_COUNCIL), format!("{}\n", id.to_hex()).as_bytes(), false)?)
}

/// Whether this directory's store held a council before.
pub fn store_was_kept(dir: &Path) -> bool {
    dir.join(STORE_COUNCIL).exists()
}

pub fn load_token(dir: &Path) -> Result<String, DataDirError> {
    let p = dir.join(API_TOKEN);
    let t = String::from_utf8(read_private(&p)?).map_err(|_| DataDirError::Damaged(p.clone(), "not text".into()))?;
    let t = t.trim().to_owned();
    if t.len() < 32 {
        return Err(DataDirError::Damaged(p, "the token is too short".into()));
    }
    Ok(t)
}

pub fn load_draft(dir: &Path) -> Result<GenesisDraft, DataDirError> {
    let p = dir.join(DRAFT);
    let b = council_files::read_small(&p, MAX_DRAFT_BYTES)?;
    GenesisDraft::from_cbor(&b).map_err(|e| DataDirError::Damaged(p, e.to_string()))
}

/// What `councild init` needs.
#[derive(Debug)]
pub struct InitParams {
    pub name: String,
    pub founders: Vec<PublicKey>,
    pub rules: CouncilRules,
    pub created_at: u64,
}

/// Creates a council's data directory: node key, API token, genesis draft.
pub fn init(dir: &Path, p: InitParams) -> Result<GenesisDraft, DataDirError> {
    if dir.join(NODE_KEY).exists() {
        return Err(DataDirError::Exists(dir.to_owned()));
    }
    if p.name.trim().is_empty() {
        return Err(DataDirError::Invalid("the council needs a name".into()));
    }
    if p.founders.is_empty() {
        return Err(DataDirError::Invalid("name at least one founding member (--founder DID)".into()));
    }
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    }
    let node = SecretKey::generate();
    let body = GenesisBody {
        name: p.name,
        founders: p.founders,
        rules: p.rules,
        node_key: node.public(),
        created_at: p.created_at,
    };
    council_core::council::check_genesis(&body).map_err(|e| DataDirError::Invalid(e.to_string()))?;
    let draft = GenesisDraft::new(body);
    let mut token = [0u8; 32];
    getrandom::getrandom(&mut token)
        .map_err(|e| DataDirError::Invalid(format!("no randomness for the API token: {e}")))?;
    write_private(&dir.join(API_TOKEN), format!("{}\n", hex::encode(token)).as_bytes())?;
    write_private(&dir.join(DRAFT), &draft.to_cbor())?;
    // The node key last: its presence marks the directory as initialised.
    write_private(&dir.join(NODE_KEY), encode_key(&node).as_bytes())?;
    Ok(draft)
}

/// Creates a council whose founders' keys are all at hand, and has every founder sign the
/// genesis at once: for tests, benchmarks and trying things out. Returns the council id.
pub fn init_signed(
    dir: &Path,
    name: &str,
    founders: &[SecretKey],
    created_at: u64,
) -> Result<council_core::Hash, DataDirError> {
    let params = InitParams {
        name: name.into(),
        founders: founders.iter().map(SecretKey::public).collect(),
        rules: CouncilRules::default(),
        created_at,
    };
    let mut draft = init(dir, params)?;
    for k in founders {
        draft.sign(k).map_err(|e| DataDirError::Invalid(e.to_string()))?;
    }
    write_private(&dir.join(DRAFT), &draft.to_cbor())?;
    let genesis = draft.finish().map_err(|e| DataDirError::Invalid(e.to_string()))?;
    Ok(genesis.council_id())
}
