//! Certificate pinning for a node's https:// member address, as SSH pins host keys.
//!
//! A council's node has a self-signed certificate (or the operator's own): no public
//! authority vouches for it. The first time the CLI connects to an address it pins the
//! certificate's SHA-256 fingerprint in `$XDG_DATA_HOME/councilnet/known-nodes` and
//! says so; after that a different certificate at that address is refused, loudly.
//! `--fingerprint` gives the expected fingerprint up front (councild prints it).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha2::{Digest, Sha256};

type Fp = [u8; 32];

fn show(fp: &Fp) -> String {
    fp.iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

fn parse(s: &str) -> Option<Fp> {
    let h: String = s.chars().filter(|c| *c != ':' && !c.is_whitespace()).collect();
    let mut out = [0u8; 32];
    hex::decode_to_slice(h, &mut out).ok()?;
    Some(out)
}

fn known_nodes() -> anyhow::Result<PathBuf> {
    Ok(crate::receipts::dir()?.with_file_name("known-nodes"))
}

/// The pin for one node address.
#[derive(Debug)]
pub struct Pin {
    /// `host:port`, as the known-nodes file names it.
    address: String,
    expected: Option<Fp>,
    /// Where the expectation came from, for messages.
    from_flag: bool,
    /// The fingerprint the node presented in the last handshake.
    seen: Mutex<Option<Fp>>,
    saved: Mutex<bool>,
    provider: Arc<CryptoProvider>,
}

impl Pin {
    pub fn for_url(base: &str, flag: Option<&str>) -> anyhow::Result<Pin> {
        let address = base.trim_start_matches("https://").split('/').next().unwrap_or_default().to_ascii_lowercase();
        let (expected, from_flag) = match flag {
            Some(f) => {
                (Some(parse(f).context("--fingerprint: give the 32-byte SHA-256 in hex (colons allowed)")?), true)
            }
            None => (Self::known(&address)?, false),
        };
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(Pin { address, expected, from_flag, seen: Mutex::new(None), saved: Mutex::new(false), provider })
    }

    fn known(address: &str) -> anyhow::Result<Option<Fp>> {
        let path = known_nodes()?;
        let text = match council_files::read_text(&path, 1 << 20) {
            Ok(t) => t,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        Ok(text.lines().filter_map(|l| l.split_once(' ')).find(|(a, _)| *a == address).and_then(|(_, f)| parse(f)))
    }

    pub fn client_config(self: &Arc<Self>) -> Arc<rustls::ClientConfig> {
        let verifier: Arc<dyn ServerCertVerifier> = self.clone();
        let cfg = rustls::ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|e| unreachable!("ring supports the default versions: {e}"))
            .dangerous()
            .with_custom_certificate_verifier(verifier)
            .with_no_client_auth();
        Arc::new(cfg)
    }

    /// After a request: a refused certificate becomes a clear error; the first good
    /// handshake with an unpinned address pins it.
    pub fn after_request(&self, ok: bool) -> anyhow::Result<()> {
        let seen = *self.seen.lock().unwrap_or_else(|p| p.into_inner());
        let Some(seen) = seen else { return Ok(()) };
        match self.expected {
            Some(e) if e != seen => {
                let whence = if self.from_flag {
                    "the --fingerprint you gave".to_string()
                } else {
                    format!("the one pinned in {}", known_nodes().map(|p| p.display().to_string()).unwrap_or_default())
                };
                bail!(
                    "THE NODE'S CERTIFICATE IS NOT THE ONE EXPECTED.\n  {} presented {}\n  expected {} ({whence}).\nSomeone may be impersonating the node. If the operator really replaced the certificate, check the new fingerprint with them, then give it with --fingerprint or remove the line for {} from the known-nodes file.",
                    self.address,
                    show(&seen),
                    show(&e),
                    self.address
                )
            }
            None if ok => {
                let mut saved = self.saved.lock().unwrap_or_else(|p| p.into_inner());
                if !*saved {
                    *saved = true;
                    self.save(&seen)?;
                    eprintln!(
                        "note: first connection to {}: its certificate's SHA-256 fingerprint is\n  {}\nCheck it against the one councild printed (in <data_dir>/members-fingerprint). It is now pinned.",
                        self.address,
                        show(&seen)
                    );
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    fn save(&self, fp: &Fp) -> anyhow::Result<()> {
        use std::io::Write;
        let path = known_nodes()?;
        if let Some(d) = path.parent() {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        writeln!(f, "{} {}", self.address, show(fp)).with_context(|| format!("cannot write {}", path.display()))
    }
}

impl ServerCertVerifier for Pin {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let fp: Fp = Sha256::digest(end_entity.as_ref()).into();
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(fp);
        match self.expected {
            Some(e) if e != fp => Err(rustls::Error::General("the certificate is not the pinned one".into())),
            _ => Ok(ServerCertVerified::assertion()),
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
