//! Talking to the local `councild` API.

use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::Value;

/// The node answered, and said no: the request was wrong or broke the council's rules.
#[derive(Debug, thiserror::Error)]
#[error("the node refused ({status}): {message}")]
pub struct Refused {
    pub status: u16,
    pub message: String,
}

/// Where the node is and how to authenticate.
#[derive(Debug, Clone)]
pub struct Node {
    base: String,
    token: String,
}

impl Node {
    /// From a node's data directory (its `api-addr` and `api-token` files), or an explicit
    /// URL and token file.
    pub fn locate(dir: Option<&Path>, url: Option<&str>, token_file: Option<&Path>) -> anyhow::Result<Node> {
        let dir: Option<PathBuf> =
            dir.map(Path::to_path_buf).or_else(|| std::env::var_os("COUNCIL_NODE_DIR").map(PathBuf::from));
        let base = match (url, &dir) {
            (Some(u), _) => u.trim_end_matches('/').to_owned(),
            (None, Some(d)) => {
                let p = d.join("api-addr");
                let a = std::fs::read_to_string(&p).with_context(|| {
                    format!("cannot read {} (is councild running with --data-dir {}?)", p.display(), d.display())
                })?;
                format!("http://{}", a.trim())
            }
            (None, None) => {
                bail!("say which node to talk to: --node-dir DIR (the node's data directory), or set COUNCIL_NODE_DIR")
            }
        };
        let token_path = match (token_file, &dir) {
            (Some(t), _) => t.to_path_buf(),
            (None, Some(d)) => d.join("api-token"),
            (None, None) => bail!("with --node, also give --token-file"),
        };
        let token = std::fs::read_to_string(&token_path)
            .with_context(|| format!("cannot read the API token in {}", token_path.display()))?
            .trim()
            .to_owned();
        Ok(Node { base, token })
    }

    fn check(r: Result<ureq::Response, ureq::Error>) -> anyhow::Result<ureq::Response> {
        match r {
            Ok(r) => Ok(r),
            Err(ureq::Error::Status(code, r)) if code >= 500 => {
                let body = r.into_string().unwrap_or_default();
                let msg = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or(body);
                bail!("the node could not do it ({code}): {msg}")
            }
            Err(ureq::Error::Status(code, r)) => {
                let body = r.into_string().unwrap_or_default();
                let msg = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v["error"]["message"].as_str().map(str::to_owned))
                    .unwrap_or(body);
                Err(Refused { status: code, message: msg }.into())
            }
            Err(e) => Err(anyhow::Error::new(e).context("cannot reach the node (is councild running?)")),
        }
    }

    pub fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = Self::check(
            ureq::get(&format!("{}{path}", self.base)).set("Authorization", &format!("Bearer {}", self.token)).call(),
        )?;
        r.into_json().context("the node sent something that is not JSON")
    }

    /// GET that may answer 404, as `None`.
    pub fn get_opt(&self, path: &str) -> anyhow::Result<Option<Value>> {
        match ureq::get(&format!("{}{path}", self.base)).set("Authorization", &format!("Bearer {}", self.token)).call()
        {
            Err(ureq::Error::Status(404, _)) => Ok(None),
            r => Ok(Some(Self::check(r)?.into_json()?)),
        }
    }

    pub fn post_record(&self, path: &str, record: &[u8]) -> anyhow::Result<Value> {
        self.post_json(path, &serde_json::json!({ "record": hex::encode(record) }))
    }

    pub fn post_json(&self, path: &str, body: &Value) -> anyhow::Result<Value> {
        let r = Self::check(
            ureq::post(&format!("{}{path}", self.base))
                .set("Authorization", &format!("Bearer {}", self.token))
                .send_json(body),
        )?;
        r.into_json().context("the node sent something that is not JSON")
    }

    pub fn download(&self, path: &str, out: &mut impl std::io::Write) -> anyhow::Result<u64> {
        let r = Self::check(
            ureq::get(&format!("{}{path}", self.base)).set("Authorization", &format!("Bearer {}", self.token)).call(),
        )?;
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
