//! Talking to a `councild`: its operator API (with the token, from the node's own
//! machine) or its member endpoint (with the member's key alone, from anywhere).
//!
//! On the member endpoint the CLI opens a session by signing the node's challenge
//! (PROTOCOL.md §12.7), keeps the receipt of every record it submits, and checks the
//! receipts it holds against the node's log each time it connects (§10.1).

use std::cell::RefCell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use council_core::cbor::Cbor;
use council_core::records::SessionBody;
use council_core::records::Signed;
use council_core::{Hash, SecretKey};
use serde_json::Value;

use crate::receipts;

/// The node answered, and said no: the request was wrong or broke the council's rules.
#[derive(Debug, thiserror::Error)]
#[error("the node refused ({status}): {message}")]
pub struct Refused {
    pub status: u16,
    /// The node's error code (PROTOCOL.md §12.7), e.g. `motion-closed`.
    pub code: String,
    pub message: String,
}

/// The node answered, but could not do what was asked (a 5xx: its disk, say).
#[derive(Debug, thiserror::Error)]
#[error("the node could not do it ({status}): {message}")]
pub struct NodeFailed {
    pub status: u16,
    pub code: String,
    pub message: String,
}

/// No answer from the node at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot reach the node: {0} (is councild running, and is this its address?)")]
pub struct Unreachable(pub String);

/// How requests are authorised.
enum Auth {
    /// The operator API: the token from the node's data directory.
    Token(String),
    /// The member endpoint: a session opened with the member's key, when first needed.
    Member { key: Box<SecretKey>, session: RefCell<Option<String>> },
}

/// Where the node is and how to authenticate.
pub struct Node {
    base: String,
    auth: Auth,
    agent: ureq::Agent,
    /// For an https:// node: the certificate pin.
    pin: Option<Arc<crate::pin::Pin>>,
    /// Once the receipts held for this node's council have been checked at sign-in: how
    /// many showed the node dropped or rewrote an acknowledged record.
    checked: RefCell<Option<usize>>,
}

impl std::fmt::Debug for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Node").field("base", &self.base).field("member", &self.is_member()).finish()
    }
}

/// Turns what a person types (`192.168.1.20:7422`, `localhost:7422`, a full URL) into a
/// base URL.
fn base_url(u: &str) -> anyhow::Result<String> {
    let u = u.trim().trim_end_matches('/');
    if u.is_empty() {
        bail!("--node is empty; give the node's address, e.g. http://192.168.1.20:7422");
    }
    let full = if u.contains("://") { u.to_owned() } else { format!("http://{u}") };
    if !(full.starts_with("http://") || full.starts_with("https://")) {
        bail!("--node {u:?}: give an http:// or https:// address");
    }
    Ok(full)
}

impl Node {
    /// Finds the node:
    /// - `--node URL` alone: the member endpoint at URL, signing in with `key`;
    /// - `--node URL --token-file F`: the operator API at URL;
    /// - `--node-dir DIR` (or `$COUNCIL_NODE_DIR`): the operator API of the node whose data
    ///   directory this is (its `api-addr` and `api-token`).
    pub fn locate(
        dir: Option<&Path>,
        url: Option<&str>,
        token_file: Option<&Path>,
        key: Option<&Path>,
        fingerprint: Option<&str>,
    ) -> anyhow::Result<Node> {
        let node = |base: String, auth| -> anyhow::Result<Node> {
            let mut agent = ureq::AgentBuilder::new()
                .timeout_connect(std::time::Duration::from_secs(10))
                .timeout_read(std::time::Duration::from_secs(60));
            let pin = if base.starts_with("https://") {
                let p = Arc::new(crate::pin::Pin::for_url(&base, fingerprint)?);
                agent = agent.tls_config(p.client_config());
                Some(p)
            } else {
                if fingerprint.is_some() {
                    bail!("--fingerprint is for https:// addresses");
                }
                None
            };
            Ok(Node { base, auth, agent: agent.build(), pin, checked: RefCell::new(None) })
        };
        if let (Some(u), None) = (url, token_file) {
            let Some(k) = key else {
                bail!("with --node and no --token-file, the CLI signs in as a member: give your key with --key FILE (or set COUNCIL_KEY)");
            };
            let key = crate::keyfile::load(k)?;
            return node(base_url(u)?, Auth::Member { key: Box::new(key), session: RefCell::new(None) });
        }
        let dir: Option<PathBuf> =
            dir.map(Path::to_path_buf).or_else(|| std::env::var_os("COUNCIL_NODE_DIR").map(PathBuf::from));
        let base = match (url, &dir) {
            (Some(u), _) => base_url(u)?,
            (None, Some(d)) => {
                let p = d.join("api-addr");
                let a = council_files::read_text(&p, 4096).with_context(|| {
                    format!("cannot find the node's API address (is councild running with --data-dir {}?)", d.display())
                })?;
                format!("http://{}", a.trim())
            }
            (None, None) => {
                bail!("say which node to talk to: --node URL (a member, with --key), or --node-dir DIR (the operator, on the node's machine), or set COUNCIL_NODE_DIR")
            }
        };
        let token_path = match (token_file, &dir) {
            (Some(t), _) => t.to_path_buf(),
            (None, Some(d)) => d.join("api-token"),
            (None, None) => bail!("with --node, also give --token-file"),
        };
        let token = council_files::read_text(&token_path, 4096).context("cannot read the API token")?.trim().to_owned();
        node(base, Auth::Token(token))
    }

    /// How many receipts the sign-in check found broken (`None` before signing in).
    pub fn broken_receipts(&self) -> Option<usize> {
        *self.checked.borrow()
    }

    /// Whether this is the member endpoint (signed in with a member key).
    pub fn is_member(&self) -> bool {
        matches!(self.auth, Auth::Member { .. })
    }

    /// The node's error code and message, from its JSON error answer (or the raw body,
    /// with code `unknown`, if it is not one).
    fn error_of(r: ureq::Response) -> (String, String) {
        let body = r.into_string().unwrap_or_default();
        match serde_json::from_str::<Value>(&body) {
            Ok(v) => match (v["error"]["code"].as_str(), v["error"]["message"].as_str()) {
                (Some(c), Some(m)) => (c.to_owned(), m.to_owned()),
                _ => ("unknown".into(), body),
            },
            Err(_) => ("unknown".into(), body),
        }
    }

    fn check(&self, r: Result<ureq::Response, ureq::Error>) -> anyhow::Result<ureq::Response> {
        if let Some(p) = &self.pin {
            // A changed certificate is reported as such, never as "cannot reach".
            p.after_request(r.is_ok())?;
        }
        match r {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(status, r)) if status >= 500 => {
                let (code, message) = Self::error_of(r);
                Err(NodeFailed { status, code, message }.into())
            }
            Err(ureq::Error::Status(status, r)) => {
                let (code, message) = Self::error_of(r);
                Err(Refused { status, code, message }.into())
            }
            Err(ureq::Error::Transport(t)) => Err(Unreachable(t.kind().to_string()).into()),
        }
    }

    fn request(&self, method: &str, path: &str) -> anyhow::Result<ureq::Request> {
        let r = self.agent.request(method, &format!("{}{path}", self.base));
        Ok(match &self.auth {
            Auth::Token(t) => r.set("Authorization", &format!("Bearer {t}")),
            Auth::Member { .. } if !path.starts_with("/v1/session") && method == "GET" => {
                r.set("Authorization", &format!("Session {}", self.session()?))
            }
            Auth::Member { .. } => r,
        })
    }

    /// The member's session, opened on first use: the node's challenge, signed with the
    /// member's key. Then the receipts held for this council are checked.
    fn session(&self) -> anyhow::Result<String> {
        let Auth::Member { key, session } = &self.auth else {
            bail!("not signed in as a member");
        };
        if let Some(s) = session.borrow().as_ref() {
            return Ok(s.clone());
        }
        let c = self.check(self.agent.post(&format!("{}/v1/session/challenge", self.base)).call())?;
        let c: Value = c.into_json().context("the node's challenge is not JSON")?;
        let council =
            c["council"].as_str().and_then(Hash::from_hex).context("the node's challenge names no council")?;
        let challenge =
            c["challenge"].as_str().and_then(Hash::from_hex).context("the node's challenge is malformed")?;
        let answer = Signed::sign(SessionBody { council, challenge }, key);
        let r = self
            .agent
            .post(&format!("{}/v1/session", self.base))
            .send_json(serde_json::json!({ "record": hex::encode(answer.to_cbor()) }));
        let r: Value = self
            .check(r)
            .context("signing in with your key failed")?
            .into_json()
            .context("the node's answer is not JSON")?;
        let token = r["session"].as_str().context("the node opened no session")?.to_owned();
        *session.borrow_mut() = Some(token.clone());
        if self.checked.borrow().is_none() {
            *self.checked.borrow_mut() = Some(0);
            let broken = receipts::check_against_node(self, council)?;
            *self.checked.borrow_mut() = Some(broken);
        }
        Ok(token)
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self.check(self.request("GET", path)?.call())?;
        r.into_json().context("the node sent something that is not JSON")
    }

    /// GET that may answer 404, as `None`.
    pub fn get_opt(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match self.request("GET", path)?.call() {
            Err(ureq::Error::Status(404, _)) => Ok(None),
            r => Ok(Some(self.check(r)?.into_json()?)),
        }
    }

    /// Submits a member-signed record and keeps the node's receipt for it.
    pub fn post_record(&self, path: &str, record: &[u8]) -> anyhow::Result<Value> {
        let r = self.post_json(path, &serde_json::json!({ "record": hex::encode(record) }))?;
        receipts::keep(&r, record)?;
        Ok(r)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = self.check(self.request("POST", path)?.send_json(body))?;
        r.into_json().context("the node sent something that is not JSON")
    }

    pub fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.delete_with(path, &[])
    }

    /// DELETE with query parameters (encoded here).
    pub fn delete_with(&self, path: &str, query: &[(&str, &str)]) -> anyhow::Result<Value> {
        let mut req = self.request("DELETE", path)?;
        for (k, v) in query {
            req = req.query(k, v);
        }
        let r = self.check(req.call())?;
        r.into_json().context("the node sent something that is not JSON")
    }

    pub fn download(&self, path: &str, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        let r = self.check(self.request("GET", path)?.call())?;
        let mut reader = r.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        let mut n = 0u64;
        loop {
            let k = reader.read(&mut buf).context("the download broke off")?;
            if k == 0 {
                return Ok(n);
            }
            out.write_all(&buf[..k])?;
            n += k as u64;
        }
    }
}
