//! TLS for the member endpoint (rustls).
//!
//! A member address on the workplace network speaks TLS. The certificate is the
//! operator's own (`members.tls_cert`, `members.tls_key`), or a self-signed one that
//! `councild init` (or the first start that needs it) generates in the data directory.
//! Members' devices pin its SHA-256 fingerprint on first use, as SSH does; the node
//! prints it and writes it to `<data_dir>/members-fingerprint`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::datadir::{self, DataDirError};

/// The generated certificate and key, in the data directory.
pub const CERT: &str = "members-cert.pem";
pub const KEY: &str = "members-key.pem";
/// The certificate's fingerprint, written at every start with TLS.
pub const FINGERPRINT: &str = "members-fingerprint";

/// No certificate or key file is larger than this.
const MAX_PEM_BYTES: u64 = 256 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    DataDir(#[from] DataDirError),
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("cannot make a certificate for the member endpoint: {0}")]
    Generate(String),
    #[error("the member endpoint's certificate and key do not make a TLS configuration: {0}")]
    Config(String),
}

/// The SHA-256 of a certificate's DER bytes, as `AB:CD:…` (how browsers show it).
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

/// Makes the self-signed certificate in `dir` unless it is there already.
pub fn ensure_cert(dir: &Path) -> Result<(), TlsError> {
    if dir.join(CERT).exists() && dir.join(KEY).exists() {
        return Ok(());
    }
    let names = vec!["localhost".to_string(), "councild.local".to_string()];
    let made = rcgen::generate_simple_self_signed(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    datadir::write_private(&dir.join(KEY), made.key_pair.serialize_pem().as_bytes())?;
    datadir::write_private(&dir.join(CERT), made.cert.pem().as_bytes())?;
    Ok(())
}

/// Reads a PEM file that should be small and regular: a fifo, a device or a huge file is
/// refused.
fn read_pem(path: &Path) -> Result<Vec<u8>, TlsError> {
    council_files::read_small(path, MAX_PEM_BYTES)
        .map_err(|e| TlsError::File { path: path.to_owned(), reason: e.to_string() })
}

/// The server configuration and the certificate's fingerprint.
pub fn server_config(cert: &Path, key: &Path) -> Result<(Arc<rustls::ServerConfig>, String), TlsError> {
    let cert_pem = read_pem(cert)?;
    let key_pem = read_pem(key)?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::File { path: cert.to_owned(), reason: format!("not a PEM certificate: {e}") })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::File { path: cert.to_owned(), reason: "holds no certificate".into() });
    };
    let fp = fingerprint(leaf);
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| TlsError::File { path: key.to_owned(), reason: format!("not a PEM private key: {e}") })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| TlsError::Config(e.to_string()))?;
    Ok((Arc::new(cfg), fp))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn a_generated_certificate_loads_and_keeps_its_fingerprint() {
        let d = tempfile::tempdir().unwrap();
        ensure_cert(d.path()).unwrap();
        let (_, fp) = server_config(&d.path().join(CERT), &d.path().join(KEY)).unwrap();
        assert_eq!(fp.len(), 32 * 3 - 1);
        // A second call keeps the certificate members have pinned.
        ensure_cert(d.path()).unwrap();
        assert_eq!(server_config(&d.path().join(CERT), &d.path().join(KEY)).unwrap().1, fp);
        // Junk, a fifo and a huge file are refused with the file named.
        std::fs::write(d.path().join("junk.pem"), b"junk").unwrap();
        let e = server_config(&d.path().join("junk.pem"), &d.path().join(KEY)).unwrap_err();
        assert!(e.to_string().contains("junk.pem"), "{e}");
        let fifo = d.path().join("fifo.pem");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let e = server_config(&fifo, &d.path().join(KEY)).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
        let e = server_config(Path::new("/dev/zero"), &d.path().join(KEY)).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");
    }
}
