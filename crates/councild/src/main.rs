//! `councild`: the daemon that runs one council.
//!
//! `councild init` creates a council's data directory; `councild run` runs the node.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use council_core::records::{CouncilRules, Rule};
use council_core::PublicKey;
use council_node::config::{self, Overrides};
use council_node::datadir;

#[derive(Debug, Parser)]
#[command(name = "councild", version, about = "The councilnet daemon: one node per council.")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a council's data directory: the node key, the API token, and a genesis
    /// draft for the founders to sign (`council genesis sign`).
    Init {
        /// The data directory to create.
        #[arg(long)]
        data_dir: PathBuf,
        /// The council's name.
        #[arg(long)]
        name: String,
        /// A founding member's did:key (repeat for each founder).
        #[arg(long = "founder", value_name = "DID")]
        founders: Vec<String>,
        /// Try it out alone: the member key in this file is the only founder, and signs
        /// the genesis at once.
        #[arg(long, value_name = "KEY_FILE", conflicts_with = "founders")]
        solo_key: Option<PathBuf>,
        /// Share of the roster that must vote for a council act: N/D.
        #[arg(long, default_value = "1/2")]
        act_quorum: String,
        /// Share of the votes cast that passes a council act: majority, two-thirds,
        /// unanimity, or N/D (at least).
        #[arg(long, default_value = "majority")]
        act_threshold: String,
        /// Share of the roster whose signatures recall a delegate by petition.
        #[arg(long, default_value = "majority")]
        petition: String,
        /// Only these founders may open motions (and issue invites): a founder's did:key
        /// (repeat). Without it, any member may.
        #[arg(long = "opener", value_name = "DID")]
        openers: Vec<String>,
        /// How many device keys one member may hold at once (a phone, a laptop…).
        #[arg(long, default_value_t = council_core::records::DeviceRules::DEFAULT.limit,
              value_parser = clap::value_parser!(u32).range(1..))]
        device_limit: u32,
        /// Adding a device takes a council act (`add-device`) instead of the member's own
        /// record. Removing one stays the member's own record.
        #[arg(long)]
        devices_by_act: bool,
        /// A stricter rule for amending these rules (a council act): its quorum, N/D.
        /// Without --amend-quorum and --amend-threshold, amendments use the act rule.
        #[arg(long, requires = "amend_threshold")]
        amend_quorum: Option<String>,
        /// The threshold for amending these rules: majority, two-thirds, unanimity, N/D.
        #[arg(long, requires = "amend_quorum")]
        amend_threshold: Option<String>,
    },
    /// Run the node.
    Run {
        /// A TOML config file (see config/default.toml for every key).
        #[arg(long)]
        config: Option<PathBuf>,
        /// The council's data directory.
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The API address (loopback only), e.g. 127.0.0.1:7420.
        #[arg(long)]
        listen: Option<String>,
        /// The member endpoint's address, where members act with their own keys (default
        /// 127.0.0.1:7422; a LAN address such as 0.0.0.0:7422 lets members' devices reach it).
        #[arg(long, value_name = "ADDR")]
        members_listen: Option<String>,
        /// Log filter: error, warn, info, debug, trace.
        #[arg(long)]
        log: Option<String>,
        /// Where other councils' nodes reach this one (a multiaddr; repeat), e.g.
        /// /ip4/0.0.0.0/tcp/7421.
        #[arg(long = "p2p-listen", value_name = "MULTIADDR")]
        p2p_listen: Vec<String>,
        /// Another council's node to connect to, e.g. /ip4/192.168.1.20/tcp/7421/p2p/12D3Koo… (repeat).
        #[arg(long = "peer", value_name = "MULTIADDR")]
        peers: Vec<String>,
        /// Run without the network: no federations, no gossip.
        #[arg(long)]
        offline: bool,
        /// After a restore, sign at once instead of first fetching the council's own newer
        /// entries from its federation peers (for a council whose peers are all gone).
        #[arg(long)]
        sign_without_catching_up: bool,
    },
    /// The node key: make the key that is to replace it.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Back up the node: its keys, its API token, its TLS certificate and its whole log
    /// (with the logs it follows), in one file. From a running node (through its API, a
    /// consistent copy) or a stopped one. Keep the file private: it holds the node key.
    Backup {
        /// The council's data directory.
        #[arg(long)]
        data_dir: PathBuf,
        /// Where to write the backup (a tar file, mode 0600).
        #[arg(long)]
        out: PathBuf,
    },
    /// Restore a backup into a new data directory, e.g. on new hardware; then `councild
    /// run --data-dir DIR`. The log is checked entry by entry before anything is kept.
    Restore {
        /// The backup file (`councild backup` wrote it).
        #[arg(long)]
        from: PathBuf,
        /// The data directory to restore into; it must not hold a council.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Rebuild a lost store from the council's federation peers, when the data directory
    /// still holds the node key and the genesis draft (no backup needed). The node then
    /// fetches its own log from the first peer that welcomes it, and signs nothing until
    /// a peer shows it holds the whole log; start it with `councild run --peer ADDR`.
    Recover {
        /// The council's data directory, whose store is lost.
        #[arg(long)]
        data_dir: PathBuf,
    },
    /// Print a completion script for your shell, e.g.
    /// `councild completions bash > ~/.local/share/bash-completion/completions/councild`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write man pages for councild and each of its commands (councild.1,
    /// councild-run.1, ...) into DIR, e.g. `councild man /usr/local/share/man/man1`.
    Man {
        /// The directory to write them into (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Make a new node key, kept in the data directory as node.key.next, and print its
    /// did:key for the council act that replaces the node key (`council node-key replace
    /// DID`). When the act passes, the running node signs with it, makes it node.key,
    /// and starts its network again as the new key. Run again, it prints the same key.
    New {
        /// The council's data directory.
        #[arg(long)]
        data_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

/// `councild backup`: the export from the running node's API, or from the store if the
/// node is stopped, then the archive.
fn backup(dir: &std::path::Path, out: &std::path::Path) -> anyhow::Result<()> {
    datadir::load_key(&dir.join(datadir::NODE_KEY))?;
    let parent = out.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(std::path::Path::new("."));
    let mut export = tempfile::tempfile_in(parent).with_context(|| format!("cannot write in {}", parent.display()))?;
    let addr = std::fs::read_to_string(dir.join(datadir::API_ADDR)).unwrap_or_default();
    let token = datadir::load_token(dir)?;
    let from_api = match addr.trim() {
        "" => None,
        a => ureq::get(&format!("http://{a}/v1/export")).set("Authorization", &format!("Bearer {token}")).call().ok(),
    };
    let source = match from_api {
        Some(r) => {
            std::io::copy(&mut r.into_reader(), &mut export).context("the export from the node broke off")?;
            "the running node"
        }
        None => {
            // Not running (sled's lock would refuse a second opener if it were).
            let store = council_store::Store::open(&dir.join(datadir::STORE)).context(
                "the node's API does not answer, and its store cannot be opened: is it starting or stopping?",
            )?;
            let council = store.genesis()?.context("the store holds no council yet")?.council_id();
            let mut failed = None;
            council_node::backup::write_export(&store, council, store.last_seq()?, |chunk| {
                match std::io::Write::write_all(&mut export, &chunk) {
                    Ok(()) => true,
                    Err(e) => {
                        failed = Some(e);
                        false
                    }
                }
            })
            .map_err(anyhow::Error::msg)?;
            if let Some(e) = failed {
                return Err(e).context("cannot write the export");
            }
            "the stopped node's store"
        }
    };
    let m = council_node::backup::write_backup(dir, &mut export, out)?;
    println!(
        "backed up {:?} from {source} to {}: {} log entries, {} followed council(s). It holds the node key: keep it private.\nrestore it with: councild restore --from {} --data-dir NEW_DIR",
        m.name,
        out.display(),
        m.entries,
        m.followed,
        out.display()
    );
    Ok(())
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut <Cli as clap::CommandFactory>::command(),
                "councild",
                &mut std::io::stdout(),
            );
            Ok(())
        }
        Command::Backup { data_dir, out } => {
            let spin = working("backing up: taking the log and checking every entry");
            let r = backup(&data_dir, &out);
            spin.finish_and_clear();
            r
        }
        Command::Key { command: KeyCommand::New { data_dir } } => {
            let (key, made) = datadir::make_next_key(&data_dir)?;
            let did = key.public().to_did();
            let path = data_dir.join(datadir::NEXT_NODE_KEY);
            if made {
                println!("{did}\nA new node key is in {} (keep it private, like node.key).", path.display());
            } else {
                println!("{did}\n{} already holds a new node key: this is it.", path.display());
            }
            println!("Next, a member moves to make it the council's node key:\n  council node-key replace {did}\nWhen the members pass it, the node switches to it by itself.");
            Ok(())
        }
        Command::Restore { from, data_dir } => {
            let spin = working("restoring: checking every entry of the log, then storing it");
            let r = council_node::backup::restore(&from, &data_dir);
            spin.finish_and_clear();
            let r = r?;
            println!(
                "restored {:?} ({}) into {}: {} log entries, {} followed council(s), {} equivocation proof(s)\nstart it with: councild run --data-dir {}",
                r.name,
                r.council,
                data_dir.display(),
                r.entries,
                r.followed,
                r.equivocations,
                data_dir.display()
            );
            Ok(())
        }
        Command::Recover { data_dir } => {
            let r = council_node::backup::recover(&data_dir)?;
            println!(
                "the store of {:?} ({}) starts again from its genesis, and fetches its log from its federation peers before it signs anything.\nstart it with a peer of its federation (`council network` on that council's node prints its address):\n  councild run --data-dir {} --peer /ip4/…/tcp/7421/p2p/…",
                r.name,
                r.council,
                data_dir.display()
            );
            Ok(())
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(<Cli as clap::CommandFactory>::command(), &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            println!("man pages written to {}", dir.display());
            Ok(())
        }
        Command::Init {
            data_dir,
            name,
            founders,
            solo_key,
            act_quorum,
            act_threshold,
            petition,
            openers,
            device_limit,
            devices_by_act,
            amend_quorum,
            amend_threshold,
        } => {
            let solo = solo_key.map(|p| datadir::load_key(&p)).transpose()?;
            let founders: Vec<PublicKey> = match &solo {
                Some(k) => vec![k.public()],
                None => founders
                    .iter()
                    .map(|d| PublicKey::from_did(d).with_context(|| format!("--founder {d} is not a valid did:key")))
                    .collect::<anyhow::Result<_>>()?,
            };
            if founders.is_empty() {
                bail!("name the founding members with --founder DID (one per founder), or try it alone with --solo-key KEY_FILE");
            }
            let openers = if openers.is_empty() {
                council_core::records::Openers::AnyMember
            } else {
                let keys = openers
                    .iter()
                    .map(|d| PublicKey::from_did(d).with_context(|| format!("--opener {d} is not a valid did:key")))
                    .collect::<anyhow::Result<Vec<PublicKey>>>()?;
                if let Some(k) = keys.iter().find(|k| !founders.contains(k)) {
                    bail!("--opener {} is not one of the founders: only a founding member can be named to open motions (add them with --founder)", k.to_did());
                }
                council_core::records::Openers::Listed(keys)
            };
            let rules = CouncilRules {
                act_rule: Rule { quorum: act_quorum.parse()?, threshold: act_threshold.parse()? },
                petition: petition.parse()?,
                openers,
                devices: council_core::records::DeviceRules { limit: device_limit, by_act: devices_by_act },
                amend_rule: match (amend_quorum, amend_threshold) {
                    (Some(q), Some(t)) => Some(Rule { quorum: q.parse()?, threshold: t.parse()? }),
                    _ => None,
                },
            };
            let n = founders.len();
            let mut draft = datadir::init(
                &data_dir,
                datadir::InitParams { name, founders, rules, created_at: council_node::writer::now() },
            )?;
            let draft_path = data_dir.join(datadir::DRAFT);
            // The member address's certificate, for when it is opened to the network.
            council_node::tls::ensure_cert(&data_dir)?;
            let (_, fingerprint) = council_node::tls::server_config(
                &data_dir.join(council_node::tls::CERT),
                &data_dir.join(council_node::tls::KEY),
            )?;
            println!("the member address's TLS certificate has the SHA-256 fingerprint\n  {fingerprint}\nmembers check it the first time they connect (it is also in {}).", data_dir.join(council_node::tls::FINGERPRINT).display());
            datadir::write_private(
                &data_dir.join(council_node::tls::FINGERPRINT),
                format!("{fingerprint}\n").as_bytes(),
            )?;
            if let Some(k) = solo {
                draft.sign(&k)?;
                datadir::write_private(&draft_path, &council_core::cbor::Cbor::to_cbor(&draft))?;
                println!(
                    "council created in {} with you as its only founder; start it with:\n  councild run --data-dir {}",
                    data_dir.display(),
                    data_dir.display()
                );
            } else {
                println!(
                    "council data directory created in {}.\nThe genesis names {n} founders; each of them signs it with their own key:\n  council genesis sign --draft {} --key THEIR.key\nThen start the node:\n  councild run --data-dir {}",
                    data_dir.display(),
                    draft_path.display(),
                    data_dir.display()
                );
            }
            println!(
                "Its node opens no port for other councils until the council takes part in a federation (it signs a charter, or joins with an invite); then it listens on {}. Set network.listen to choose addresses of your own.",
                config::Config::local(&data_dir).map(|c| c.network.listen_when_federated).unwrap_or_default()
            );
            Ok(())
        }
        Command::Run {
            config,
            data_dir,
            listen,
            members_listen,
            log,
            p2p_listen,
            peers,
            offline,
            sign_without_catching_up,
        } => {
            let env: BTreeMap<String, String> = std::env::vars().collect();
            let o = Overrides {
                config_file: config,
                data_dir,
                listen,
                members_listen,
                log,
                p2p_listen,
                peers,
                offline,
                sign_without_catching_up,
            };
            let cfg = config::load(&o, &env)?;
            tracing_subscriber::fmt()
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_new(&cfg.log.level)
                        .context("log.level is not a valid filter")?,
                )
                .with_writer(std::io::stderr)
                // Colours only on a terminal, and never with NO_COLOR set (no-color.org):
                // a log file or the journal gets plain text.
                .with_ansi(colour(std::io::IsTerminal::is_terminal(&std::io::stderr()), env.get("NO_COLOR")))
                .init();
            let rt =
                tokio::runtime::Builder::new_multi_thread().enable_all().build().context("cannot start the runtime")?;
            rt.block_on(council_node::run(cfg, shutdown_signal(), |_| {}))?;
            Ok(())
        }
    }
}

/// A spinner with the time taken, on stderr while it is a terminal (a backup or restore of
/// a long log takes minutes on a Raspberry Pi); nothing in a pipe or a log.
fn working(what: &str) -> indicatif::ProgressBar {
    if !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return indicatif::ProgressBar::hidden();
    }
    let s = indicatif::ProgressBar::new_spinner().with_style(
        indicatif::ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
    );
    s.set_message(what.to_owned());
    // Drawn at once, then kept turning.
    s.tick();
    s.enable_steady_tick(std::time::Duration::from_millis(200));
    s
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

/// Whether to colour the log: on a terminal, unless `NO_COLOR` is set to anything but
/// the empty string.
fn colour(terminal: bool, no_color: Option<&String>) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty())
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn the_log_is_coloured_only_on_a_terminal_without_no_color() {
        assert!(super::colour(true, None));
        assert!(super::colour(true, Some(&String::new())));
        assert!(!super::colour(true, Some(&"1".to_string())));
        assert!(!super::colour(false, None));
    }

    /// Every argument of every command says what it is for (`councild help …`).
    #[test]
    fn every_argument_has_help_text() {
        let cli = super::Cli::command();
        let mut missing = Vec::new();
        for cmd in std::iter::once(&cli).chain(cli.get_subcommands()) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if !(arg.is_hide_set() || id == "help" || id == "version") && arg.get_help().is_none() {
                    missing.push(format!("{} {id}", cmd.get_name()));
                }
            }
        }
        assert!(missing.is_empty(), "arguments without help text: {missing:?}");
    }
}
