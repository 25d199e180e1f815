//! The node's configuration: built-in defaults, a TOML file, the environment, flags.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The defaults, compiled in. `config/default.toml` documents every key.
pub const DEFAULT_TOML: &str = include_str!("../../../config/default.toml");

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub data_dir: PathBuf,
    pub api: ApiConfig,
    pub members: MembersConfig,
    pub log: LogConfig,
    pub motions: MotionsConfig,
    pub store: StoreConfig,
    pub network: NetworkConfig,
    pub notify: NotifyConfig,
}

/// Notifications: webhooks told of what happens in the council (see crate::notify).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// How long before a motion closes the `motion-closing` notification goes out.
    pub closing_soon_secs: u64,
    pub webhooks: Vec<WebhookConfig>,
    #[serde(default)]
    pub emails: Vec<EmailConfig>,
}

/// Email through an SMTP server, to a council's list or to members who gave an address.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct EmailConfig {
    /// The SMTP server: `smtps://host:465` (TLS), `smtp://host:587?tls=required`
    /// (STARTTLS), or `smtp://host:25` (plain, for a relay on this machine).
    pub server: String,
    /// The account to sign in with, if the server wants one; its password in a file.
    #[serde(default)]
    pub user: Option<String>,
    #[serde(default)]
    pub password_file: Option<PathBuf>,
    /// The sender, e.g. "Print Shop Council <council@example.org>".
    pub from: String,
    /// The recipients.
    pub to: Vec<String>,
    /// The events to send; empty: all of them.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where to POST, http:// or https://.
    pub url: String,
    /// A file holding the shared secret that signs each delivery (HMAC-SHA256).
    pub secret_file: PathBuf,
    /// The events to send; empty: all of them.
    #[serde(default)]
    pub events: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct NetworkConfig {
    pub enabled: bool,
    /// Empty: listen on `listen_when_federated` once the council takes part in a
    /// federation, and on nothing before.
    pub listen: Vec<String>,
    pub listen_when_federated: String,
    /// After a restore, fetch the council's own newer entries from its federation peers
    /// before signing again.
    pub catch_up_before_signing: bool,
    pub peers: Vec<String>,
    pub sync_interval_ms: u64,
    pub hello_grace_ms: u64,
    pub heartbeat_ms: u64,
    pub max_connections: u32,
    pub mdns: bool,
    pub kademlia: bool,
    pub discovery_interval_ms: u64,
}

impl NetworkConfig {
    /// The listen addresses, parsed (they were checked when the configuration loaded).
    pub fn listen_addrs(&self) -> Vec<council_net::Multiaddr> {
        self.listen.iter().filter_map(|a| a.parse().ok()).collect()
    }
    /// Where to listen once the council takes part in a federation, when `listen` is
    /// empty (`None` when `listen` names addresses: they are listened on from the start).
    pub fn federated_listen_addr(&self) -> Option<council_net::Multiaddr> {
        if self.listen.is_empty() {
            self.listen_when_federated.parse().ok()
        } else {
            None
        }
    }
    pub fn peer_addrs(&self) -> Vec<council_net::Multiaddr> {
        self.peers.iter().filter_map(|a| a.parse().ok()).collect()
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
}

/// The member endpoint: members sign in with their own keys (no token).
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MembersConfig {
    pub listen: SocketAddr,
    /// How long a session lasts, in seconds.
    pub session_secs: u64,
    /// Open connections, in all and from one address.
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Requests a second (sustained, and in a burst) per session, and per address for
    /// requests without a session.
    pub requests_per_sec: u32,
    pub burst: u32,
    /// Host names (besides IP addresses and localhost) that members may use to reach the
    /// node, e.g. "council.local". Any other Host header is refused (DNS rebinding).
    pub hostnames: Vec<String>,
    /// "auto" (TLS unless the address is loopback), "on" or "off".
    pub tls: String,
    /// The certificate chain and key (PEM); empty: the pair in the data directory,
    /// generated when first needed.
    pub tls_cert: PathBuf,
    pub tls_key: PathBuf,
}

impl MembersConfig {
    /// Whether the member endpoint speaks TLS.
    pub fn tls_on(&self) -> bool {
        match self.tls.as_str() {
            "on" => true,
            "off" => false,
            _ => !self.listen.ip().is_loopback(),
        }
    }
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    pub level: String,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct MotionsConfig {
    pub check_interval_ms: u64,
}

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    pub max_batch: usize,
    /// Free space (MiB) kept on the store's disk: below it, no new records.
    pub min_free_mb: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("config file {path} is not valid TOML: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// Values from flags; `None` leaves the lower layers alone.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub data_dir: Option<PathBuf>,
    pub listen: Option<String>,
    /// Replaces `members.listen`.
    pub members_listen: Option<String>,
    pub log: Option<String>,
    /// Replaces `network.listen`.
    pub p2p_listen: Vec<String>,
    /// Added to `network.peers`.
    pub peers: Vec<String>,
    /// Turns the network off.
    pub offline: bool,
    /// Signs at once after a restore, without first fetching the council's own newer
    /// entries from its federation peers.
    pub sign_without_catching_up: bool,
}

fn merge(base: &mut toml::Table, top: toml::Table) {
    for (k, v) in top {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge(b, t),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

fn set(t: &mut toml::Table, path: &[&str], v: toml::Value) {
    let mut cur = t;
    for p in &path[..path.len() - 1] {
        cur = match cur.entry(p.to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new())) {
            toml::Value::Table(t) => t,
            other => {
                *other = toml::Value::Table(toml::Table::new());
                match other {
                    toml::Value::Table(t) => t,
                    _ => unreachable!("just set to a table"),
                }
            }
        };
    }
    cur.insert(path[path.len() - 1].to_string(), v);
}

/// Checks `log.level`: a level (`error`, `warn`, `info`, `debug`, `trace`, `off`), or
/// comma-separated directives in which every bare word is a level and everything else
/// is `target=level`. A tracing filter would take any word as the name of a target and
/// then log nothing else, so `chatty` would silence the node without a word.
pub fn check_log_level(level: &str) -> Result<(), ConfigError> {
    const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
    for d in level.split(',').map(str::trim) {
        let ok = match d.split_once('=') {
            Some((target, lvl)) => !target.is_empty() && LEVELS.contains(&lvl.to_ascii_lowercase().as_str()),
            None => LEVELS.contains(&d.to_ascii_lowercase().as_str()),
        };
        if !ok {
            return Err(ConfigError::Invalid(format!(
                "log.level {level:?}: {d:?} is neither a level (error, warn, info, debug, trace, off) nor target=level"
            )));
        }
    }
    Ok(())
}

/// The most bytes a config file may hold (the default one is about 5 KiB).
const MAX_CONFIG_BYTES: u64 = 1 << 20;

/// Builds the configuration from all layers. `env` is the process environment (passed in
/// so that tests can supply their own).
pub fn load(o: &Overrides, env: &BTreeMap<String, String>) -> Result<Config, ConfigError> {
    let mut t: toml::Table = DEFAULT_TOML.parse().map_err(|e: toml::de::Error| ConfigError::Parse {
        path: "config/default.toml (built in)".into(),
        reason: e.to_string(),
    })?;
    let file = o.config_file.clone().or_else(|| env.get("COUNCILD_CONFIG").map(PathBuf::from)).or_else(|| {
        let p = xdg_config(env)?.join("councilnet/councild.toml");
        p.exists().then_some(p)
    });
    if let Some(path) = file {
        let text = council_files::read_text(&path, MAX_CONFIG_BYTES)
            .map_err(|e| ConfigError::Read { path: path.clone(), reason: e.to_string() })?;
        let top: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::Parse { path: path.clone(), reason: e.to_string() })?;
        merge(&mut t, top);
    }
    let str_v = |s: &str| toml::Value::String(s.to_owned());
    if let Some(v) = env.get("COUNCILD_DATA_DIR") {
        set(&mut t, &["data_dir"], str_v(v));
    }
    if let Some(v) = env.get("COUNCILD_API_LISTEN") {
        set(&mut t, &["api", "listen"], str_v(v));
    }
    if let Some(v) = env.get("COUNCILD_MEMBERS_LISTEN") {
        set(&mut t, &["members", "listen"], str_v(v));
    }
    if let Some(v) = env.get("COUNCILD_LOG").or_else(|| env.get("RUST_LOG")) {
        set(&mut t, &["log", "level"], str_v(v));
    }
    let list = |v: &str| toml::Value::Array(v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str_v).collect());
    if let Some(v) = env.get("COUNCILD_P2P_LISTEN") {
        set(&mut t, &["network", "listen"], list(v));
    }
    if let Some(v) = env.get("COUNCILD_PEERS") {
        set(&mut t, &["network", "peers"], list(v));
    }
    if !o.p2p_listen.is_empty() {
        set(&mut t, &["network", "listen"], toml::Value::Array(o.p2p_listen.iter().map(|a| str_v(a)).collect()));
    }
    if o.offline {
        set(&mut t, &["network", "enabled"], toml::Value::Boolean(false));
    }
    if o.sign_without_catching_up {
        set(&mut t, &["network", "catch_up_before_signing"], toml::Value::Boolean(false));
    }
    if let Some(v) = &o.data_dir {
        set(&mut t, &["data_dir"], str_v(&v.to_string_lossy()));
    }
    if let Some(v) = &o.listen {
        set(&mut t, &["api", "listen"], str_v(v));
    }
    if let Some(v) = &o.members_listen {
        set(&mut t, &["members", "listen"], str_v(v));
    }
    if let Some(v) = &o.log {
        set(&mut t, &["log", "level"], str_v(v));
    }
    let mut c: Config =
        toml::Value::Table(t).try_into().map_err(|e: toml::de::Error| ConfigError::Invalid(e.to_string()))?;
    if c.data_dir.as_os_str().is_empty() {
        c.data_dir = xdg_data(env)
            .ok_or_else(|| ConfigError::Invalid("data_dir is empty and neither XDG_DATA_HOME nor HOME is set".into()))?
            .join("councilnet");
    }
    if !c.api.listen.ip().is_loopback() {
        return Err(ConfigError::Invalid(format!(
            "api.listen = {} is not a loopback address; the local API must listen on 127.0.0.1 or ::1",
            c.api.listen
        )));
    }
    // A signed record is at most 1 MiB, twice that in hex, plus the JSON around it.
    const MAX_BODY: usize = 2 * council_core::records::limits::MAX_RECORD_BYTES + 1024;
    if c.api.max_body_bytes > MAX_BODY {
        return Err(ConfigError::Invalid(format!("api.max_body_bytes may be at most {MAX_BODY}")));
    }
    let m = &c.members;
    if m.session_secs == 0
        || m.max_connections == 0
        || m.max_connections_per_ip == 0
        || m.requests_per_sec == 0
        || m.burst == 0
    {
        return Err(ConfigError::Invalid(
            "members.session_secs, max_connections, max_connections_per_ip, requests_per_sec and burst must be positive"
                .into(),
        ));
    }
    check_log_level(&c.log.level)?;
    if !matches!(c.members.tls.as_str(), "auto" | "on" | "off") {
        return Err(ConfigError::Invalid(format!(
            "members.tls = {:?}: use \"auto\", \"on\" or \"off\"",
            c.members.tls
        )));
    }
    if c.members.tls_cert.as_os_str().is_empty() != c.members.tls_key.as_os_str().is_empty() {
        return Err(ConfigError::Invalid("give both members.tls_cert and members.tls_key, or neither".into()));
    }
    if c.members.listen == c.api.listen && c.api.listen.port() != 0 {
        return Err(ConfigError::Invalid(format!(
            "members.listen and api.listen are both {}; the member endpoint needs an address of its own",
            c.api.listen
        )));
    }
    if c.motions.check_interval_ms == 0 || c.store.max_batch == 0 || c.api.max_body_bytes < 1024 {
        return Err(ConfigError::Invalid(
            "motions.check_interval_ms and store.max_batch must be positive, api.max_body_bytes at least 1024".into(),
        ));
    }
    c.network.peers.extend(o.peers.iter().cloned());
    for a in c.network.listen.iter().chain(&c.network.peers).chain(std::iter::once(&c.network.listen_when_federated)) {
        a.parse::<council_net::Multiaddr>().map_err(|e| {
            ConfigError::Invalid(format!("{a:?} is not a multiaddr ({e}); write it like /ip4/192.168.1.20/tcp/7421"))
        })?;
    }
    for m in &c.notify.emails {
        if !(m.server.starts_with("smtp://") || m.server.starts_with("smtps://")) {
            return Err(ConfigError::Invalid(format!(
                "notify.emails server {:?}: give smtps://host:465, smtp://host:587?tls=required, or smtp://host:25",
                m.server
            )));
        }
        if m.to.is_empty() {
            return Err(ConfigError::Invalid("notify.emails: give at least one address in `to`".into()));
        }
        for e in &m.events {
            if !crate::notify::EVENTS.contains(&e.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "notify.emails event {e:?} is not one of {}",
                    crate::notify::EVENTS.join(", ")
                )));
            }
        }
    }
    for w in &c.notify.webhooks {
        if !(w.url.starts_with("http://") || w.url.starts_with("https://")) {
            return Err(ConfigError::Invalid(format!(
                "notify.webhooks url {:?}: give an http:// or https:// URL",
                w.url
            )));
        }
        for e in &w.events {
            if !crate::notify::EVENTS.contains(&e.as_str()) {
                return Err(ConfigError::Invalid(format!(
                    "notify.webhooks event {e:?} is not one of {}",
                    crate::notify::EVENTS.join(", ")
                )));
            }
        }
    }
    let n = &c.network;
    if n.sync_interval_ms == 0
        || n.hello_grace_ms == 0
        || n.heartbeat_ms == 0
        || n.discovery_interval_ms == 0
        || n.max_connections < 2
    {
        return Err(ConfigError::Invalid(
            "network.sync_interval_ms, hello_grace_ms, heartbeat_ms and discovery_interval_ms must be positive, \
             max_connections at least 2"
                .into(),
        ));
    }
    Ok(c)
}

impl Config {
    /// The built-in defaults for a node in `data_dir` whose API and network listen on
    /// free ports of 127.0.0.1, with no file and no environment: for tests, examples and
    /// benchmarks, which then change what they need.
    pub fn local(data_dir: &Path) -> Result<Config, ConfigError> {
        let o = Overrides {
            data_dir: Some(data_dir.to_owned()),
            listen: Some("127.0.0.1:0".into()),
            members_listen: Some("127.0.0.1:0".into()),
            p2p_listen: vec!["/ip4/127.0.0.1/tcp/0".into()],
            ..Overrides::default()
        };
        load(&o, &BTreeMap::new())
    }
}

fn xdg_config(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    env.get("XDG_CONFIG_HOME").map(PathBuf::from).or_else(|| env.get("HOME").map(|h| Path::new(h).join(".config")))
}

fn xdg_data(env: &BTreeMap<String, String>) -> Option<PathBuf> {
    env.get("XDG_DATA_HOME").map(PathBuf::from).or_else(|| env.get("HOME").map(|h| Path::new(h).join(".local/share")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "data_dir = \"/from/file\"\n[api]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let e = env(&[("HOME", "/home/w"), ("COUNCILD_API_LISTEN", "127.0.0.1:9100")]);
        let c = load(&Overrides { config_file: Some(file.clone()), ..Default::default() }, &e).unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/from/file"));
        assert_eq!(c.api.listen.port(), 9100, "environment beats the file");
        let c = load(
            &Overrides { config_file: Some(file), listen: Some("127.0.0.1:9200".into()), ..Default::default() },
            &e,
        )
        .unwrap();
        assert_eq!(c.api.listen.port(), 9200, "flags beat the environment");
        let d = load(&Overrides::default(), &env(&[("HOME", "/home/w")])).unwrap();
        assert_eq!(d.data_dir, PathBuf::from("/home/w/.local/share/councilnet"));
        assert_eq!(d.api.listen.port(), 7420);
    }

    #[test]
    fn unknown_keys_and_non_loopback_addresses_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[api]\nlisen = \"127.0.0.1:1\"\n").unwrap();
        let err =
            load(&Overrides { config_file: Some(file), ..Default::default() }, &env(&[("HOME", "/h")])).unwrap_err();
        assert!(err.to_string().contains("lisen"), "{err}");
        let err =
            load(&Overrides { listen: Some("0.0.0.0:7420".into()), ..Default::default() }, &env(&[("HOME", "/h")]))
                .unwrap_err();
        assert!(err.to_string().contains("loopback"), "{err}");
        let err = load(&Overrides { listen: Some("nonsense".into()), ..Default::default() }, &env(&[("HOME", "/h")]))
            .unwrap_err();
        assert!(matches!(err, ConfigError::Invalid(_)), "{err}");
    }

    #[test]
    fn a_log_level_that_would_silence_the_node_is_an_error() {
        let h = env(&[("HOME", "/h")]);
        for bad in ["chatty", "info,verbose", "council_node=loud", "=debug"] {
            let err = load(&Overrides { log: Some(bad.into()), ..Default::default() }, &h).unwrap_err();
            assert!(err.to_string().contains("neither a level"), "{bad}: {err}");
        }
        for good in ["info", "WARN", "info,council_node=debug", "off"] {
            assert!(load(&Overrides { log: Some(good.into()), ..Default::default() }, &h).is_ok(), "{good}");
        }
    }
}
