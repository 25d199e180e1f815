//! `council`: the command line for members, operators and auditors.
//!
//! Exit status: 0 when the command did what was asked (for `verify`: the export is
//! valid); 1 when `verify` found something invalid, or the node refused the request;
//! 2 for bad usage, a file that cannot be read, or a node that cannot be reached.

use std::path::PathBuf;

use anyhow::Context;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// `println!` that does not panic when stdout is a closed pipe (`council … | head`).
macro_rules! say {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($t)*);
    }};
}

mod client;
mod fed_cmds;
mod keyfile;
mod node_cmds;
mod pin;
mod progress;
mod receipts;
mod report;
mod verify;

use std::time::Duration;

use council_core::records::Action;
use council_core::PublicKey;

#[derive(Debug, Parser)]
#[command(name = "council", version, about = "councilnet: councils, votes, mandates, recalls, federations.")]
struct Cli {
    /// Print machine-readable JSON instead of text for people.
    #[arg(long, global = true)]
    json: bool,
    /// The node's data directory (to find its API address and token). Default: $COUNCIL_NODE_DIR.
    #[arg(long, global = true, value_name = "DIR")]
    node_dir: Option<PathBuf>,
    /// The node's API URL, instead of --node-dir (then give --token-file too).
    #[arg(long, global = true, value_name = "URL")]
    node: Option<String>,
    /// The file holding the node's API token, with --node (the operator API). Without
    /// it, --node is the node's member endpoint and you sign in with --key.
    #[arg(long, global = true, value_name = "FILE")]
    token_file: Option<PathBuf>,
    /// The SHA-256 fingerprint of an https:// node's certificate, as councild printed it.
    /// Without it, the first connection pins whatever certificate the node presents.
    #[arg(long, global = true, value_name = "HEX")]
    fingerprint: Option<String>,
    /// Your member key file: it signs your records, and signs you in to a member endpoint.
    #[arg(long, global = true, value_name = "FILE", env = "COUNCIL_KEY")]
    key: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check an export file, fully offline: every signature, hash link, roster, tally,
    /// mandate and recall. Exit 0 if valid, 1 if anything is invalid, 2 if unreadable.
    Verify {
        /// The export file (`-` for standard input).
        file: PathBuf,
        /// Check the export against members' receipts too: a receipt file, or a folder of
        /// them (such as ~/.local/share/councilnet/receipts). A receipt whose entry the
        /// export lacks or contradicts makes the verdict invalid.
        #[arg(long, value_name = "PATH")]
        receipts: Option<PathBuf>,
    },
    /// Your receipts: check those this device holds against the node's log now.
    Receipts {
        #[command(subcommand)]
        command: ReceiptsCommand,
    },
    /// Write a realistic sample export: a council, its motions and votes, roster changes,
    /// a federation of three councils, mandates, recalls and a federation motion.
    Sample {
        /// Where to write the export.
        #[arg(long)]
        out: PathBuf,
        /// Members of the main council.
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(3..=100_000))]
        members: u32,
        /// Ordinary motions.
        #[arg(long, default_value_t = 24, value_parser = clap::value_parser!(u32).range(0..=1_000_000))]
        motions: u32,
        /// Ballots on each ordinary motion (beyond the roster size they are changed votes).
        #[arg(long, default_value_t = 45, value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
        votes_per_motion: u32,
        /// Write federations of federations instead: eight councils in four federations,
        /// two regions of two of those, and a federation of the regions that decides a
        /// motion through its members' delegates (PROTOCOL.md §8.1).
        #[arg(long, conflicts_with_all = ["members", "motions", "votes_per_motion"])]
        nested: bool,
    },
    /// Member keys.
    Key {
        #[command(subcommand)]
        command: KeyCommand,
    },
    /// Sign a council's genesis as one of its founders.
    Genesis {
        #[command(subcommand)]
        command: GenesisCommand,
    },
    /// The council: members, log, mandates.
    Status,
    /// Give the name you go by in the council (signed with your key; the latest counts).
    Name {
        /// Your name, as the other members know you.
        name: String,
    },
    /// The council's rules: show them, or move to amend them (a council act).
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// Your devices: each holds its own key, and votes as you (the latest ballot counts).
    Device {
        #[command(subcommand)]
        command: DeviceCommand,
    },
    /// Motions: open, list, show.
    Motion {
        #[command(subcommand)]
        command: MotionCommand,
    },
    /// Cast (or change) your ballot on a motion: yes, no, abstain, or an option.
    Vote {
        /// The motion's id (or its first 6+ hex digits).
        motion: String,
        /// yes, no, abstain, an option's name, or its number. On a ranked motion: every
        /// option, most preferred first (or abstain).
        #[arg(required = true, num_args = 1..)]
        choice: Vec<String>,
        /// Make this ballot final: you give up changing it, and the motion may close as
        /// soon as no ballot still open can change its outcome. Without it the motion
        /// runs to its closing time unless the final ballots already settle it.
        #[arg(long = "final")]
        is_final: bool,
    },
    /// Change the roster (each is a motion the members vote on).
    Roster {
        #[command(subcommand)]
        command: RosterCommand,
    },
    /// The key that signs the council's log: move to replace it (a council act).
    NodeKey {
        #[command(subcommand)]
        command: NodeKeyCommand,
    },
    /// Move for an imperative mandate: a delegate, a federation, matters and instructions.
    Mandate {
        /// The delegate's did:key (a member).
        #[arg(long)]
        delegate: String,
        /// The federation's id (or its first 6+ hex digits, if this node knows it).
        #[arg(long)]
        federation: String,
        /// A matter the delegate may act on (repeat); none means every matter.
        #[arg(long = "matter")]
        matters: Vec<String>,
        /// MATTER=CHOICE_NUMBER to instruct the vote, or MATTER=judgement (repeat).
        #[arg(long)]
        instruct: Vec<String>,
        /// How long the mandate lasts, e.g. 90d.
        #[arg(long, default_value = "90d", value_parser = humantime::parse_duration)]
        expires_in: Duration,
        /// How long members have to vote on it.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Recall a delegate: by motion, or by signing the petition.
    Recall {
        #[command(subcommand)]
        command: RecallCommand,
    },
    /// Download the council's export file from the node.
    Export {
        /// The file to write (written whole, then moved into place).
        #[arg(long)]
        out: PathBuf,
    },
    /// Federations: found one, invite, join, admit, leave, motions, ratify, list, show.
    Federation {
        #[command(subcommand)]
        command: FederationCommand,
    },
    /// A delegate acting under the council's mandate.
    Delegate {
        #[command(subcommand)]
        command: DelegateCommand,
    },
    /// Connect the node to another council's node.
    Peer {
        #[command(subcommand)]
        command: PeerCommand,
    },
    /// The node's network: its peer id and addresses, connected peers, followed councils.
    Network,
    /// Print a completion script for your shell, e.g.
    /// `council completions bash > ~/.local/share/bash-completion/completions/council`.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// Write man pages for council and each of its commands (council.1,
    /// council-vote.1, council-federation-join.1, ...) into DIR, e.g.
    /// `council man /usr/local/share/man/man1`.
    Man {
        /// The directory to write them into (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum ReceiptsCommand {
    /// Sign in to the node's member endpoint and check every receipt held for its
    /// council (exit 1 if the node dropped or rewrote any acknowledged record).
    Check,
    /// Where receipts are kept on this device.
    Dir,
    /// Hand a saved equivocation proof (EQUIVOCATION-*.cbor) to a node of the
    /// council's federation (--node URL): it checks it, marks the council forked and
    /// passes it on to every node of the federation.
    SendProof {
        /// The proof file.
        file: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum FederationCommand {
    /// Move that this council sign a charter as a founder (each founding council does,
    /// from the same charter file).
    Create {
        /// The charter, in TOML: name, principles, founders, created_at, [rules].
        charter: PathBuf,
        /// How long members have to vote on it.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Issue an invite for another council, signed with your member key (under the
    /// council's rules: a member who may open motions), and print the invite string.
    Invite {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
        /// How many councils may use it.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=1000))]
        uses: u32,
        /// How long it stays valid, e.g. 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        expires_in: Duration,
    },
    /// Join with an invite string: prove it to the inviting node, fetch the charter, and
    /// move that this council sign it.
    Join {
        /// The invite string the inviting council gave you (councilnet-invite:…).
        #[arg(required_unless_present = "cancel")]
        invite: Option<String>,
        /// End a pending join instead: the federation's id (or its first 6+ hex digits).
        /// The node stops showing the invite and stops asking the inviting council.
        #[arg(long, value_name = "FED", conflicts_with = "invite")]
        cancel: Option<String>,
        /// How long to wait for the inviting council's node.
        #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
        wait: Duration,
        /// How long members have to vote on it, e.g. 2h, 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Move to countersign a council's admission.
    Admit {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
        /// The joining council's id (or its first 6+ hex digits, among those waiting:
        /// `council federation show FED` lists them).
        council: String,
        /// How long members have to vote on it, e.g. 2h, 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Move to leave a federation (effective when it passes).
    Leave {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
        /// How long members have to vote on it, e.g. 2h, 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Move to open a federation motion (each council's delegate then votes on it).
    Motion {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
        /// The matter it belongs to (mandates name matters).
        #[arg(long)]
        matter: String,
        /// The question, as the federation's councils will read it.
        #[arg(long)]
        title: String,
        /// An option (at least two).
        #[arg(long = "option")]
        options: Vec<String>,
        /// How long the federation motion stays open once opened.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        open_for: Duration,
        /// How long members have to vote on opening it.
        #[arg(long, default_value = "2d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Move to record whether this council ratifies a federation motion's outcome.
    Ratify {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
        /// The federation motion's id (or its first 6+ hex digits).
        motion: String,
        /// accept or reject.
        #[arg(value_parser = ["accept", "reject"])]
        verdict: String,
        /// How long members have to vote on it, e.g. 2h, 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Move that a federation this council belongs to act as one body in a federation
    /// of federations (PROTOCOL.md §8.1): join a higher federation, send it a delegate,
    /// recall one, open a motion there, admit a member there, or leave it. The federation's
    /// delegates decide it; a join also waits for its councils' ratification.
    Act {
        /// The federation that acts (id, or its first 6+ hex digits).
        federation: String,
        #[command(subcommand)]
        act: BodyActCommand,
        /// The matter of the federation's motion: its delegates' mandates must cover it.
        #[arg(long, global = true, default_value = "federation")]
        matter: String,
        /// How long the federation's motion stays open.
        #[arg(long, global = true, default_value = "7d", value_parser = humantime::parse_duration)]
        open_for: Duration,
        /// How long this council's members have to vote on moving it.
        #[arg(long, global = true, default_value = "2d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// The federations this council knows of.
    List,
    /// Who waits for admission, and for whose countersignature; who used which invite.
    Pending {
        /// The federation's id (or its first 6+ hex digits); without it, every federation.
        federation: Option<String>,
    },
    /// A federation: principles, members, motions and delegate votes.
    Show {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
    },
}

#[derive(Debug, Subcommand)]
enum BodyActCommand {
    /// Sign a higher federation's charter: as one of its founders, or with an invite.
    Join {
        /// The higher federation's charter, in TOML (as for `council federation create`).
        charter: PathBuf,
        /// An invite string from a council of the higher federation (not needed by a founder).
        #[arg(long)]
        invite: Option<String>,
    },
    /// Send a delegate to a higher federation, with a mandate.
    Mandate {
        /// The higher federation (id, or its first 6+ hex digits).
        higher: String,
        /// The delegate: a member's did:key.
        #[arg(long)]
        delegate: String,
        /// The delegate's council (full id); this council if left out.
        #[arg(long)]
        council: Option<String>,
        /// A matter the mandate covers above (repeat it); every matter if left out.
        #[arg(long = "covers", value_name = "MATTER")]
        matters: Vec<String>,
        /// An instruction: MATTER=CHOICE_NUMBER, MATTER=judgement, MATTER=split:60,40, or
        /// MATTER=split:MOTION (the weighted tally of this federation's motion MOTION).
        #[arg(long)]
        instruct: Vec<String>,
        /// How long the mandate lasts.
        #[arg(long, default_value = "365d", value_parser = humantime::parse_duration)]
        expires_in: Duration,
    },
    /// Recall the federation's delegate: void the mandate it gave.
    Recall {
        /// The mandate's id (or its first 6+ hex digits): `council federation show FED`.
        mandate: String,
    },
    /// Open a motion in a higher federation.
    Motion {
        /// The higher federation (id, or its first 6+ hex digits).
        higher: String,
        /// The matter of the motion above (its members' mandates must cover it).
        #[arg(long, value_name = "MATTER")]
        above_matter: String,
        /// The question, as the higher federation's members will read it.
        #[arg(long)]
        title: String,
        /// An option (at least two).
        #[arg(long = "option")]
        options: Vec<String>,
        /// How long the motion above stays open once the federation has opened it.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        open_above: Duration,
    },
    /// Countersign a member's admission to a higher federation.
    Admit {
        /// The higher federation (id, or its first 6+ hex digits).
        higher: String,
        /// The joining council's or federation's full id.
        member: String,
    },
    /// Leave a higher federation.
    Leave {
        /// The higher federation (id, or its first 6+ hex digits).
        higher: String,
    },
}

#[derive(Debug, Subcommand)]
enum DelegateCommand {
    /// Cast the council's vote on a federation motion, signed with your member key,
    /// under the mandate the council gave you.
    Vote {
        /// The federation's id (or its first 6+ hex digits).
        federation: String,
        /// The federation motion's id (or its first 6+ hex digits).
        motion: String,
        /// An option's name or number, or abstain.
        choice: String,
        /// Cast it for a member federation of FEDERATION, under the mandate that
        /// federation gave you (its id, or its first 6+ hex digits).
        #[arg(long = "for", value_name = "MEMBER_FEDERATION")]
        for_federation: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PeerCommand {
    /// Dial a node (a multiaddr ending in /p2p/PEER_ID) and keep redialing it.
    Add {
        /// The node's address, e.g. /ip4/192.168.1.20/tcp/7421/p2p/12D3Koo… (`council
        /// network` on that node prints it).
        addr: String,
    },
    /// The peers: addresses the node keeps dialing, and the nodes connected now.
    List,
    /// Stop dialing a node (by its address or peer id) and disconnect it. A node of a
    /// council in one of this council's federations may connect again: federation
    /// members find each other.
    Remove {
        /// The address (as given to `peer add`) or the peer id (12D3Koo…).
        peer: String,
    },
}

#[derive(Debug, Subcommand)]
enum GenesisCommand {
    /// Add your signature to a genesis draft (`councild init` wrote it).
    Sign {
        /// The genesis draft file (genesis-draft.cbor in the node's data directory).
        #[arg(long)]
        draft: PathBuf,
    },
    /// Combine copies of the draft that founders signed at the same time: the
    /// signatures in each COPY are checked and added to DRAFT.
    Merge {
        /// The draft to add the signatures to (the node's genesis-draft.cbor).
        #[arg(long)]
        draft: PathBuf,
        /// Signed copies of the same draft (one or more).
        #[arg(required = true)]
        copies: Vec<PathBuf>,
    },
    /// Show a draft and who has signed it.
    Show {
        /// The genesis draft file (genesis-draft.cbor in the node's data directory).
        #[arg(long)]
        draft: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
enum MotionCommand {
    /// Open a motion: yes/no, a choice with --option (twice or more), or a ranking of the
    /// options with --ranked as well.
    Open {
        /// The question, as members will read it.
        #[arg(long)]
        title: String,
        /// An option of a choice (repeat); without it the motion is yes/no.
        #[arg(long = "option")]
        options: Vec<String>,
        /// Members rank every option instead of picking one; the Schulze method counts
        /// the rankings (PROTOCOL.md §7.1).
        #[arg(long, requires = "options")]
        ranked: bool,
        /// How long it stays open, e.g. 30m, 2h, 7d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
        /// Share of the members who must cast a ballot (abstaining counts): N/D.
        #[arg(long)]
        quorum: Option<council_core::records::Share>,
        /// Share of the ballots (abstentions aside) that decides: majority, two-thirds,
        /// unanimity, or N/D (at least).
        #[arg(long)]
        threshold: Option<council_core::records::Threshold>,
    },
    /// Open motions and the latest closed ones (all of them with --all or --json).
    List {
        /// Every closed motion, not only the latest 20.
        #[arg(long)]
        all: bool,
    },
    /// One motion, by its id or its first 6+ hex digits.
    Show {
        /// The motion's id (or its first 6+ hex digits).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
enum RulesCommand {
    /// The rules in force, and each amendment so far.
    Show,
    /// Move to amend the council's rules (a council act, under the amendment rule if the
    /// genesis set one). Name only what changes; the rest stays as it is.
    Amend {
        /// Share of the roster that must vote for a council act: N/D.
        #[arg(long)]
        act_quorum: Option<council_core::records::Share>,
        /// Share of the votes cast that passes a council act.
        #[arg(long)]
        act_threshold: Option<council_core::records::Threshold>,
        /// Share of the roster whose signatures recall a delegate by petition.
        #[arg(long)]
        petition: Option<council_core::records::Threshold>,
        /// Only these members may open motions (repeat); see --any-member-opens.
        #[arg(long = "opener", value_name = "DID", conflicts_with = "any_member_opens")]
        openers: Vec<String>,
        /// Any member may open motions again.
        #[arg(long)]
        any_member_opens: bool,
        /// How many device keys one member may hold.
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
        device_limit: Option<u32>,
        /// Whether adding a device takes a council act: yes or no.
        #[arg(long, value_parser = clap::builder::BoolishValueParser::new())]
        devices_by_act: Option<bool>,
        /// How long the act stays open.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum RosterCommand {
    /// Move to admit a member.
    Add {
        /// The new member's did:key (`council key new` prints it).
        member: String,
    },
    /// Move to remove a member.
    Remove {
        /// The member's did:key.
        member: String,
    },
    /// Move to replace a member's key (a new device); their earlier votes stay valid.
    Rotate {
        /// The member's current did:key.
        #[arg(long)]
        member: String,
        /// The did:key of the member's new key.
        #[arg(long)]
        new_key: String,
    },
}

#[derive(Debug, Subcommand)]
enum DeviceCommand {
    /// Add a device: make its key on the new device (`council key new FILE`), bring the
    /// file here, and sign with a device you already use (--key). The new key proves it
    /// is held by signing too. Where the council adds devices by act, this opens the act.
    Add {
        /// The new device's request (`council device request` on it), or, if the new key
        /// was made here, its key file.
        new_device: String,
        /// How long the act stays open, where the council adds devices by act.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// On a device you already use: print the link code (your council and member id, no
    /// secret) for the new device to make its request with.
    LinkCode,
    /// On the new device: make the request to be added, from the link code, signed with
    /// the new device's own key (--key; `council key new FILE` makes one). Its secret
    /// never leaves it; bring the printed request to a device you already use.
    Request {
        /// The link code from `council device link-code` (or the member page).
        link_code: String,
    },
    /// Remove one of your device keys (a lost or replaced device). Its earlier votes stay.
    Remove {
        /// The device's did:key (`council status` lists your keys).
        device: String,
    },
}

#[derive(Debug, Subcommand)]
enum NodeKeyCommand {
    /// Move to replace the node key (a lost or exposed node, new hardware). The operator
    /// first makes the new key on the node with `councild key new`, which prints its
    /// did:key; when the act passes, the node signs with the new key and its federation
    /// peers follow it.
    Replace {
        /// The new node key's did:key, as `councild key new` printed it.
        new_key: String,
        /// How long members have to vote on it, e.g. 2h, 1d.
        #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
}

#[derive(Debug, Subcommand)]
enum RecallCommand {
    /// Move to recall a mandate (a motion the members vote on).
    Motion {
        /// The mandate's id (or its first 6+ hex digits).
        mandate: String,
        /// How long members have to vote on it, e.g. 2h, 1d.
        #[arg(long, default_value = "1d", value_parser = humantime::parse_duration)]
        closes_in: Duration,
    },
    /// Sign the petition to recall a mandate; it takes effect once enough have signed.
    Sign {
        /// The mandate's id (or its first 6+ hex digits).
        mandate: String,
    },
}

fn did(s: &str) -> anyhow::Result<PublicKey> {
    PublicKey::from_did(s).map_err(|e| anyhow::anyhow!("{s:?} is not a member's did:key: {e}"))
}

#[derive(Debug, Subcommand)]
enum KeyCommand {
    /// Create a new member key in FILE (mode 0600) and print its did:key.
    New {
        /// The key file to create. It must not exist yet.
        file: PathBuf,
    },
    /// Print the did:key of the key in FILE.
    Show {
        /// The key file.
        file: PathBuf,
    },
}

/// The flags that say which node to talk to and how.
const NODE_FLAGS: [&str; 4] = ["node_dir", "node", "token_file", "fingerprint"];

/// The command line, with the node flags (and `--key`) hidden from the help of the
/// commands that never reach a node. They stay accepted there: each such command gets a
/// hidden copy of the global flag, which clap then does not propagate over.
fn command() -> clap::Command {
    fn hide(mut c: clap::Command, path: &str, globals: &[clap::Arg]) -> clap::Command {
        for a in globals {
            // Only `genesis sign` signs with a member key, offline (and `genesis` passes
            // the global flag on to it).
            if a.get_id() == "key" && (path == "genesis sign" || path == "genesis") {
                continue;
            }
            c = c.arg(a.clone().global(false).hide(true));
        }
        let subs: Vec<String> = c.get_subcommands().map(|s| s.get_name().to_owned()).collect();
        for sub in subs {
            let p = format!("{path} {sub}");
            c = c.mut_subcommand(&sub, |s| hide(s, &p, globals));
        }
        c
    }
    let mut cmd = <Cli as clap::CommandFactory>::command();
    let globals: Vec<clap::Arg> = cmd
        .get_arguments()
        .filter(|a| NODE_FLAGS.contains(&a.get_id().as_str()) || a.get_id() == "key")
        .cloned()
        .collect();
    for name in ["verify", "sample", "key", "genesis", "completions", "man"] {
        cmd = cmd.mut_subcommand(name, |c| hide(c, name, &globals));
    }
    cmd
}

fn main() -> ExitCode {
    // Before parsing: a usage error under --json is reported as JSON too.
    let json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
    let parsed = command().try_get_matches().and_then(|m| <Cli as clap::FromArgMatches>::from_arg_matches(&m));
    let cli = match parsed {
        Ok(c) => c,
        Err(e) if json && e.use_stderr() => {
            let message = e.render().to_string();
            let message = message.trim().strip_prefix("error: ").unwrap_or(message.trim());
            print_json_error(&serde_json::json!({ "code": "usage", "message": message }));
            return ExitCode::from(2);
        }
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { ExitCode::from(2) } else { ExitCode::SUCCESS };
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            if json {
                print_json_error(&error_json(&e));
            } else {
                eprintln!("error: {e:#}");
            }
            // 1: the node refused the request; 2: bad usage, unreadable files, no node.
            if e.downcast_ref::<client::Refused>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

/// An error as `--json` reports it on stderr: `{"error": {"code", "message", ...}}`.
/// `code` is stable, for scripts to act on: the node's own error code when the node
/// answered (PROTOCOL.md §12.7: `motion-closed`, `not-a-member`, `storage-full`, ...,
/// with its HTTP `status`), `unreachable` when it did not, `usage` for a command line
/// that does not parse, and `error` for anything else (an unreadable file, say).
fn error_json(e: &anyhow::Error) -> serde_json::Value {
    let message = format!("{e:#}");
    if let Some(r) = e.downcast_ref::<client::Refused>() {
        serde_json::json!({ "code": r.code, "status": r.status, "message": message })
    } else if let Some(f) = e.downcast_ref::<client::NodeFailed>() {
        serde_json::json!({ "code": f.code, "status": f.status, "message": message })
    } else if e.downcast_ref::<client::Unreachable>().is_some() {
        serde_json::json!({ "code": "unreachable", "message": message })
    } else {
        serde_json::json!({ "code": "error", "message": message })
    }
}

fn print_json_error(error: &serde_json::Value) {
    eprintln!("{}", serde_json::json!({ "error": error }));
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let key_file = cli.key.clone();
    let node = || {
        client::Node::locate(
            cli.node_dir.as_deref(),
            cli.node.as_deref(),
            cli.token_file.as_deref(),
            key_file.as_deref(),
            cli.fingerprint.as_deref(),
        )
    };
    let key = || -> anyhow::Result<PathBuf> {
        key_file
            .clone()
            .ok_or_else(|| anyhow::anyhow!("give your member key file with --key FILE (or set COUNCIL_KEY)"))
    };
    let json = cli.json;
    let week = Duration::from_secs(7 * 86_400);
    let done = |r: anyhow::Result<()>| r.map(|_| ExitCode::SUCCESS);
    match cli.command {
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut command(), "council", &mut std::io::stdout());
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir } => {
            std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
            clap_mangen::generate_to(command(), &dir)
                .with_context(|| format!("cannot write the man pages into {}", dir.display()))?;
            println!("man pages written to {}", dir.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Verify { file, receipts } => verify::run(&file, receipts.as_deref(), cli.json),
        Command::Receipts { command: ReceiptsCommand::Check } => node_cmds::receipts_check(&node()?, json),
        Command::Receipts { command: ReceiptsCommand::SendProof { file } } => {
            done(node_cmds::send_proof(&node()?, &file, json))
        }
        Command::Receipts { command: ReceiptsCommand::Dir } => {
            let d = receipts::dir()?;
            node_cmds::print(json, &serde_json::json!({ "dir": d }), || say!("{}", d.display()));
            Ok(ExitCode::SUCCESS)
        }
        Command::Sample { out, nested: true, .. } => verify::nested_sample(&out, cli.json),
        Command::Sample { out, members, motions, votes_per_motion, .. } => {
            let p = council_core::sample::SampleParams { members, motions, votes_per_motion };
            verify::sample(&out, &p, cli.json)
        }
        Command::Key { command: KeyCommand::New { file } } => keyfile::new(&file, cli.json),
        Command::Key { command: KeyCommand::Show { file } } => keyfile::show(&file, cli.json),
        Command::Genesis { command: GenesisCommand::Sign { draft } } => keyfile::sign_draft(&draft, &key()?, json),
        Command::Genesis { command: GenesisCommand::Show { draft } } => keyfile::show_draft(&draft, json),
        Command::Genesis { command: GenesisCommand::Merge { draft, copies } } => {
            keyfile::merge_drafts(&draft, &copies, json)
        }
        Command::Status => done(node_cmds::status(&node()?, json)),
        Command::Name { name } => done(node_cmds::set_name(&node()?, &key()?, &name, json)),
        Command::Rules { command: RulesCommand::Show } => done(node_cmds::rules_show(&node()?, json)),
        Command::Rules {
            command:
                RulesCommand::Amend {
                    act_quorum,
                    act_threshold,
                    petition,
                    openers,
                    any_member_opens,
                    device_limit,
                    devices_by_act,
                    closes_in,
                },
        } => {
            let openers = if any_member_opens {
                Some(council_core::records::Openers::AnyMember)
            } else if openers.is_empty() {
                None
            } else {
                Some(council_core::records::Openers::Listed(
                    openers.iter().map(|d| did(d)).collect::<anyhow::Result<_>>()?,
                ))
            };
            let change =
                node_cmds::RulesChange { act_quorum, act_threshold, petition, openers, device_limit, devices_by_act };
            done(node_cmds::rules_amend(&node()?, &key()?, change, closes_in, json))
        }
        Command::Device { command: DeviceCommand::Add { new_device, closes_in } } => {
            done(node_cmds::device_add(&node()?, &key()?, &new_device, closes_in, json))
        }
        Command::Device { command: DeviceCommand::LinkCode } => {
            done(node_cmds::device_link_code(&node()?, &key()?, json))
        }
        Command::Device { command: DeviceCommand::Request { link_code } } => {
            done(node_cmds::device_request(&key()?, &link_code, json))
        }
        Command::Device { command: DeviceCommand::Remove { device } } => {
            done(node_cmds::device_remove(&node()?, &key()?, &device, json))
        }
        Command::Motion { command: MotionCommand::Open { title, options, ranked, closes_in, quorum, threshold } } => {
            let key = key()?;
            let a = node_cmds::OpenArgs { key: &key, title, options, ranked, closes_in, quorum, threshold };
            done(node_cmds::motion_open(&node()?, a, json))
        }
        Command::Motion { command: MotionCommand::List { all } } => done(node_cmds::motion_list(&node()?, all, json)),
        Command::Motion { command: MotionCommand::Show { id } } => done(node_cmds::motion_show(&node()?, &id, json)),
        Command::Vote { motion, choice, is_final } => {
            done(node_cmds::vote(&node()?, &key()?, &motion, &choice, is_final, json))
        }
        Command::Roster { command } => {
            let (title, action) = match command {
                RosterCommand::Add { member } => {
                    let k = did(&member)?;
                    (format!("Admit {} to the council", k.short()), Action::AddMember(k))
                }
                RosterCommand::Remove { member } => {
                    let k = did(&member)?;
                    (format!("Remove {} from the council", k.short()), Action::RemoveMember(k))
                }
                RosterCommand::Rotate { member, new_key } => {
                    let (m, n) = (did(&member)?, did(&new_key)?);
                    (format!("Replace the key of {}", m.short()), Action::RotateKey { member: m, new_key: n })
                }
            };
            done(node_cmds::act(&node()?, &key()?, title, action, week, json))
        }
        Command::NodeKey { command: NodeKeyCommand::Replace { new_key, closes_in } } => {
            let k = did(&new_key)?;
            let title = format!("Replace the council's node key with {}", k.short());
            done(node_cmds::act(&node()?, &key()?, title, Action::SetNodeKey(k), closes_in, json))
        }
        Command::Mandate { delegate, federation, matters, instruct, expires_in, closes_in } => {
            let key = key()?;
            let a =
                node_cmds::MandateArgs { key: &key, delegate, federation, matters, instruct, expires_in, closes_in };
            done(node_cmds::mandate(&node()?, a, json))
        }
        Command::Recall { command: RecallCommand::Motion { mandate, closes_in } } => {
            let n = node()?;
            let report = n.get("/v1/council")?;
            let (id, _) = node_cmds::resolve(&report, "mandates", &mandate)?;
            let title = format!("Recall the delegate of mandate {}", id.short());
            done(node_cmds::act(&n, &key()?, title, Action::Recall(id), closes_in, json))
        }
        Command::Recall { command: RecallCommand::Sign { mandate } } => {
            done(node_cmds::petition(&node()?, &key()?, &mandate, json))
        }
        Command::Export { out } => done(node_cmds::export(&node()?, &out, json)),
        Command::Federation { command } => done(federation(&node()?, command, key, json)),
        Command::Delegate { command: DelegateCommand::Vote { federation, motion, choice, for_federation } } => {
            let lower = for_federation.as_deref();
            done(fed_cmds::delegate_vote(&node()?, &key()?, &federation, &motion, &choice, lower, json))
        }
        Command::Peer { command: PeerCommand::Add { addr } } => done(fed_cmds::add_peer(&node()?, &addr, json)),
        Command::Peer { command: PeerCommand::List } => done(fed_cmds::list_peers(&node()?, json)),
        Command::Peer { command: PeerCommand::Remove { peer } } => done(fed_cmds::remove_peer(&node()?, &peer, json)),
        Command::Network => done(fed_cmds::network(&node()?, json)),
    }
}

fn federation(
    n: &client::Node,
    c: FederationCommand,
    key: impl Fn() -> anyhow::Result<PathBuf>,
    json: bool,
) -> anyhow::Result<()> {
    use fed_cmds::FedAct;
    match c {
        FederationCommand::Create { charter, closes_in } => fed_cmds::create(n, &key()?, &charter, closes_in, json),
        FederationCommand::Invite { federation, uses, expires_in } => {
            fed_cmds::invite(n, &key()?, &federation, uses, expires_in, json)
        }
        FederationCommand::Join { cancel: Some(federation), .. } => fed_cmds::cancel_join(n, &federation, json),
        FederationCommand::Join { invite, wait, closes_in, .. } => {
            let invite = invite.context("give the invite string, or --cancel FED")?;
            fed_cmds::join(n, &key()?, &invite, wait, closes_in, json)
        }
        FederationCommand::Admit { federation, council, closes_in } => {
            fed_cmds::simple_act(n, &key()?, &federation, FedAct::Admit(council), closes_in, json)
        }
        FederationCommand::Leave { federation, closes_in } => {
            fed_cmds::simple_act(n, &key()?, &federation, FedAct::Leave, closes_in, json)
        }
        FederationCommand::Motion { federation, matter, title, options, open_for, closes_in } => {
            let what = FedAct::Motion { matter, title, options, closes_in: open_for };
            fed_cmds::simple_act(n, &key()?, &federation, what, closes_in, json)
        }
        FederationCommand::Ratify { federation, motion, verdict, closes_in } => {
            let what = FedAct::Ratify { motion, accept: verdict == "accept" };
            fed_cmds::simple_act(n, &key()?, &federation, what, closes_in, json)
        }
        FederationCommand::Act { federation, act, matter, open_for, closes_in } => {
            use fed_cmds::BodyAct as B;
            let what = match act {
                BodyActCommand::Join { charter, invite } => B::Join { charter, invite },
                BodyActCommand::Mandate { higher, delegate, council, matters, instruct, expires_in } => {
                    B::Mandate { higher, council, delegate, matters, instruct, expires_in }
                }
                BodyActCommand::Recall { mandate } => B::Recall { mandate },
                BodyActCommand::Motion { higher, above_matter, title, options, open_above } => {
                    B::Motion { higher, matter: above_matter, title, options, open_above }
                }
                BodyActCommand::Admit { higher, member } => B::Admit { higher, member },
                BodyActCommand::Leave { higher } => B::Leave { higher },
            };
            let how = fed_cmds::BodyMotion { matter, open_for, closes_in };
            fed_cmds::body_act(n, &key()?, &federation, what, how, json)
        }
        FederationCommand::List => fed_cmds::list(n, json),
        FederationCommand::Show { federation } => fed_cmds::show(n, &federation, json),
        FederationCommand::Pending { federation } => fed_cmds::pending(n, federation.as_deref(), json),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every command says what it is for (`council help …`).
    #[test]
    fn every_argument_has_help_text() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            for arg in cmd.get_arguments() {
                let id = arg.get_id().as_str();
                if arg.is_hide_set() || id == "help" || id == "version" {
                    continue;
                }
                if arg.get_help().is_none() && arg.get_long_help().is_none() {
                    missing.push(format!("{path} {id}"));
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "council", &mut missing);
        assert!(missing.is_empty(), "arguments without help text:\n{}", missing.join("\n"));
    }

    /// The help of a command lists the node flags only if it talks to a node.
    #[test]
    fn node_flags_are_listed_only_where_they_are_used() {
        // As people see it: `council … --help`.
        let help = |path: &[&str]| {
            let args = std::iter::once("council").chain(path.iter().copied()).chain(["--help"]);
            match super::command().try_get_matches_from(args) {
                Err(e) if e.kind() == clap::error::ErrorKind::DisplayHelp => e.render().to_string(),
                other => panic!("{path:?}: {other:?}"),
            }
        };
        for offline in [&["verify"][..], &["sample"], &["key", "new"], &["genesis", "merge"], &["man"]] {
            let h = help(offline);
            assert!(
                !h.contains("--node-dir") && !h.contains("--token-file") && !h.contains("--key"),
                "{offline:?}:\n{h}"
            );
        }
        let sign = help(&["genesis", "sign"]);
        assert!(sign.contains("--key") && !sign.contains("--node-dir"), "{sign}");
        for online in [&["status"][..], &["vote"], &["federation", "join"], &["receipts", "check"]] {
            let h = help(online);
            assert!(h.contains("--node-dir") && h.contains("--key"), "{online:?}:\n{h}");
        }
        // Still accepted where hidden (a script may pass them everywhere).
        for args in [
            &["council", "verify", "--node-dir", "x", "f.cnx"][..],
            &["council", "--key", "k", "genesis", "sign", "--draft", "d"],
            &["council", "genesis", "sign", "--key", "k", "--draft", "d"],
            &["council", "genesis", "merge", "--draft", "d", "c", "--node-dir", "x"],
        ] {
            assert!(super::command().try_get_matches_from(args).is_ok(), "{args:?}");
        }
    }
}
