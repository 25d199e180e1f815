//! Members acting from their own devices: a key file and the node's member address,
//! nothing else. And the operator against the members: a rewritten log, and an old
//! copy of the store put back, each caught by the receipts a member's CLI kept.

use std::path::{Path, PathBuf};

use council_core::cbor::Cbor;
use council_core::export::{ExportItem, ExportWriter, ItemReader};
use council_core::records::{Entry, EntryBody, EquivocationProof, Outcome, Payload, Signed};
use council_core::verify::verify_equivocation;
use serde_json::Value;

use crate::util::{councild, read_key, run, Daemon, Run};

/// A member's device: a key file and a home of its own (receipts live there), and no
/// access to the node's data directory.
pub struct Device {
    pub home: PathBuf,
    pub key: PathBuf,
    pub did: String,
}

impl Device {
    pub fn new(root: &Path, name: &str) -> Device {
        let home = root.join(name);
        std::fs::create_dir_all(&home).unwrap();
        let key = home.join("me.key");
        let did = run(&["key", "new", key.to_str().unwrap()]).ok().stdout.trim().to_owned();
        Device { home, key, did }
    }

    /// `council --node URL --key FILE ARGS…`, with this device's XDG_DATA_HOME and no
    /// node directory in the environment.
    pub fn council(&self, url: &str, args: &[&str]) -> Run {
        let out = crate::util::council()
            .args(["--node", url, "--key", self.key.to_str().unwrap()])
            .args(args)
            .env_remove("COUNCIL_NODE_DIR")
            .env_remove("COUNCIL_KEY")
            .env("XDG_DATA_HOME", self.home.join("data"))
            .env("HOME", &self.home)
            .output()
            .unwrap();
        Run {
            code: out.status.code().unwrap(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn receipts(&self) -> PathBuf {
        self.home.join("data/councilnet/receipts")
    }
}

/// Three founders, each on a device of their own; the operator's node.
pub fn found(root: &Path) -> (PathBuf, Vec<Device>) {
    let devices: Vec<Device> = ["a", "b", "c"].iter().map(|n| Device::new(root, n)).collect();
    let data = root.join("node");
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--name", "Print Shop Council"];
    for d in &devices {
        args.extend(["--founder", d.did.as_str()]);
    }
    councild(&args).ok();
    let draft = data.join("genesis.draft");
    for d in &devices {
        run(&["genesis", "sign", "--draft", draft.to_str().unwrap(), "--key", d.key.to_str().unwrap()]).ok();
    }
    (data, devices)
}

/// `council motion open` for a ranked motion of three places (canteen, yard, hall).
pub const RANKED_ASSEMBLY: [&str; 13] = [
    "motion",
    "open",
    "--title",
    "Where to hold the assembly",
    "--ranked",
    "--option",
    "canteen",
    "--option",
    "yard",
    "--option",
    "hall",
    "--closes-in",
    "1h",
];

pub fn members_url(node: &Path) -> String {
    format!("http://{}", std::fs::read_to_string(node.join("members-addr")).unwrap().trim())
}

pub fn motion_id(out: &Run) -> String {
    out.stdout.split_whitespace().nth(1).unwrap().to_owned()
}

#[test]
fn a_member_with_a_key_file_alone_votes_through_the_member_address() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    let d = Daemon::start(&data);
    let url = members_url(&data);
    let (a, b) = (&devs[0], &devs[1]);

    let m = motion_id(&a.council(&url, &["motion", "open", "--title", "Buy a second press", "--closes-in", "1h"]).ok());
    let r = a.council(&url, &["vote", "--final", &m[..8], "yes"]).ok();
    assert!(r.stdout.contains("ballot recorded"), "{}", r.stdout);
    let r = b.council(&url, &["--json", "vote", &m[..8], "no"]).ok();
    assert!(r.json()["receipt"].is_string());
    let r = b.council(&url, &["vote", "--final", &m[..8], "yes"]).ok();
    assert!(r.stdout.contains("ballot changed"), "{}", r.stdout);

    // Names: each member gives their own; everyone sees them, `verify` too.
    a.council(&url, &["name", "Ana Ruiz"]).ok();
    let r = b.council(&url, &["name", "  "]);
    assert_eq!(r.code, 2, "a blank name is refused before it is sent");
    // What a member reads: the council, the motion, its tally.
    let status = a.council(&url, &["--json", "status"]).ok().json();
    assert_eq!(status["members"].as_array().unwrap().len(), 3);
    let text = b.council(&url, &["status"]).ok().stdout;
    assert!(text.contains("Ana Ruiz (") && text.contains("(no name given)"), "{text}");
    let shown = a.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
    assert_eq!(shown["status"], "closed", "2 final yes of 3 settle a majority: {shown}");
    assert_eq!(shown["outcome"]["result"], "passed");

    // Each device kept the receipts of its own records, and they verify against an
    // export the member downloads through the member address.
    let b_receipts = b.receipts();
    let held: Vec<_> = walk(&b_receipts, false);
    assert_eq!(held.len(), 2, "{held:?}");
    let out = tmp.path().join("b-export.cnx");
    b.council(&url, &["export", "--out", out.to_str().unwrap()]).ok();
    let v = run(&["--json", "verify", "--receipts", b_receipts.to_str().unwrap(), out.to_str().unwrap()]).ok().json();
    assert_eq!(v["receipts"].as_array().unwrap().iter().filter(|r| r["verdict"] == "held").count(), 2, "{v}");
    let text = run(&["verify", out.to_str().unwrap()]).ok().stdout;
    assert!(text.contains("members who gave a name: Ana Ruiz ("), "{text}");
    // And on every sign-in the device checked them against the node: all held.
    let r = b.council(&url, &["receipts", "check"]).ok();
    assert!(r.stdout.contains("2 receipt(s) checked"), "{}", r.stdout);

    // A stranger's key gets nothing, however it asks.
    let stranger = Device::new(tmp.path(), "stranger");
    let r = stranger.council(&url, &["status"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("not the current key of a member"), "{}", r.stderr);
    let r = stranger.council(&url, &["vote", &m[..8], "yes"]);
    assert_eq!(r.code, 1);
    // Without a key, the CLI says what it needs.
    let r = crate::util::council().args(["--node", &url, "status"]).env_remove("COUNCIL_KEY").output().unwrap();
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--key"));
    d.stop();
}

/// The receipt files under a folder (`*.receipt`), or with `all`, every file.
fn walk(dir: &Path, all: bool) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p, all));
        } else if all || p.extension().is_some_and(|x| x == "receipt") {
            out.push(p);
        }
    }
    out.sort();
    out
}

fn read_export(path: &Path) -> (Vec<ExportItem>, council_core::Hash) {
    let bytes = std::fs::read(path).unwrap();
    let mut r = ItemReader::new(&bytes[..]);
    let mut items = Vec::new();
    while let Some((_, b)) = r.next_item().unwrap() {
        items.push(ExportItem::from_cbor(&b).unwrap());
    }
    let ExportItem::Header { primary } = items[0] else { panic!("no header") };
    (items, primary)
}

#[test]
fn the_operator_rewrites_an_acknowledged_vote_and_the_receipt_catches_it() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    let d = Daemon::start(&data);
    let url = members_url(&data);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);

    // A votes yes for good, B no; the operator keeps a copy of the store at this point.
    let m = motion_id(&a.council(&url, &["motion", "open", "--title", "Adopt the rota", "--closes-in", "1h"]).ok());
    a.council(&url, &["vote", "--final", &m[..8], "yes"]).ok();
    b.council(&url, &["vote", &m[..8], "no"]).ok();
    d.stop();
    let old_store = tmp.path().join("store-copy");
    copy_dir(&data.join("store"), &old_store);
    let d = Daemon::start(&data);
    let url = members_url(&data); // a new port at each start
                                  // B changes to yes for good: the node acknowledges (entry 4) and closes the motion as
                                  // passed.
    let r = b.council(&url, &["--json", "vote", "--final", &m[..8], "yes"]).ok().json();
    assert_eq!(r["seq"], 4);
    let export = tmp.path().join("honest.cnx");
    d.council(&["export", "--out", export.to_str().unwrap()]).ok();

    // Attack 1: the operator rewrites the export. Entries 1-3 stay; entry 4 becomes a
    // close "rejected" at the motion's closing time; every entry is signed with node.key.
    let node_key = read_key(&data.join("node.key"));
    let (items, primary) = read_export(&export);
    let mut w = ExportWriter::new(Vec::new(), primary).unwrap();
    let mut kept: Vec<Entry> = Vec::new();
    for it in &items[1..] {
        match it {
            ExportItem::Genesis(g) => w.genesis(g).unwrap(),
            ExportItem::Entry(e) if e.body.seq <= 3 => kept.push(e.clone()),
            _ => {}
        }
    }
    let motion = match &kept[0].body.payload {
        Payload::Motion(m) => m.clone(),
        p => panic!("entry 1 is a {}", p.kind()),
    };
    let forged_close = Signed::sign(
        EntryBody {
            council: primary,
            seq: 4,
            prev: kept[2].id(),
            time: motion.body.closes_at,
            payload: Payload::Close { motion: motion.id(), outcome: Outcome::Rejected },
        },
        &node_key,
    );
    for e in kept.iter().cloned().chain([forged_close]) {
        w.entry(Signed::sign(e.body, &node_key)).unwrap();
    }
    let forged = tmp.path().join("forged.cnx");
    std::fs::write(&forged, w.finish().unwrap()).unwrap();

    // On its own, the forgery is VALID: every signature in it is genuine.
    let alone = run(&["--json", "verify", forged.to_str().unwrap()]).ok().json();
    assert_eq!(alone["councils"][0]["motions"][0]["outcome"]["result"], "rejected");
    // With B's receipts, it is an equivocation, naming the receipt and the place.
    let r = run(&["verify", "--receipts", b.receipts().to_str().unwrap(), forged.to_str().unwrap()]);
    assert_eq!(r.code, 1, "{}", r.stdout);
    assert!(r.stdout.contains("EQUIVOCATION"), "{}", r.stdout);
    assert!(r.stdout.contains("seq 4"), "{}", r.stdout);
    assert!(r.stdout.contains("000000000004-"), "the receipt file is named: {}", r.stdout);
    let v = run(&["--json", "verify", "--receipts", b.receipts().to_str().unwrap(), forged.to_str().unwrap()]).json();
    assert_eq!(v["valid"], false);
    assert!(v["councils"][0]["forked"].as_bool().unwrap());
    // A's receipts (entries 1 and 2) are both in the forgery: they prove nothing wrong.
    let v = run(&["--json", "verify", "--receipts", a.receipts().to_str().unwrap(), forged.to_str().unwrap()]).json();
    assert_eq!(v["valid"], true, "{v}");

    // Attack 2: the operator puts the old store back on the live machine. B's device
    // notices the next time it connects: the acknowledged entry 4 is gone...
    d.stop();
    std::fs::remove_dir_all(data.join("store")).unwrap();
    copy_dir(&old_store, &data.join("store"));
    let d = Daemon::start(&data);
    let url = members_url(&data);
    let r = b.council(&url, &["receipts", "check"]);
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("THE NODE BROKE ITS WORD"), "{}", r.stderr);
    assert!(r.stderr.contains("an entry it acknowledged is gone"), "{}", r.stderr);
    // ... and once the node writes something else at that place, B's device holds a
    // proof that anyone can check: two entries at seq 4, both signed by the node key.
    c.council(&url, &["vote", &m[..8], "no"]).ok();
    let r = b.council(&url, &["status"]);
    assert_eq!(r.code, 0, "the member is warned, and can still act: {}", r.stderr);
    assert!(r.stderr.contains("signed two histories"), "{}", r.stderr);
    let proof_file =
        walk(&b.receipts(), true).into_iter().find(|p| p.to_string_lossy().contains("EQUIVOCATION")).unwrap();
    let proof = EquivocationProof::from_cbor(&std::fs::read(proof_file).unwrap()).unwrap();
    assert_eq!(proof.a.body.seq, 4);
    assert!(verify_equivocation(proof).is_ok());
    d.stop();
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let p = e.path();
        if p.is_dir() {
            copy_dir(&p, &to.join(e.file_name()));
        } else {
            std::fs::copy(&p, to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn hostile_receipt_files_are_refused_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let export = crate::util::sample(tmp.path(), "s.cnx", &["--members", "3", "--motions", "1"]);
    // A fifo where a receipt should be: refused at once rather than waited on.
    let fifo = tmp.path().join("x.receipt");
    let ok = std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success();
    assert!(ok);
    let r = run(&["--json", "verify", "--receipts", fifo.to_str().unwrap(), export.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v: Value = r.json();
    assert!(v["unusable_receipts"][0]["error"].as_str().unwrap().contains("not a regular file"), "{v}");
    // /dev/zero as the export itself: refused, not read forever.
    let r = run(&["verify", "/dev/zero"]);
    assert_eq!(r.code, 2);
    assert!(r.stderr.contains("not a regular file"), "{}", r.stderr);
    // Junk and a tampered receipt are reported as unusable, never as proofs.
    let dir = tmp.path().join("receipts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("junk.receipt"), b"not cbor at all").unwrap();
    let r = run(&["--json", "verify", "--receipts", dir.to_str().unwrap(), export.to_str().unwrap()]);
    assert_eq!(r.code, 0);
    let v = r.json();
    assert_eq!(v["receipts"].as_array().unwrap().len(), 0);
    assert_eq!(v["unusable_receipts"].as_array().unwrap().len(), 1);
}

#[test]
fn the_member_address_speaks_tls_and_the_cli_pins_its_certificate() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    // TLS is on by itself on a LAN address; on loopback the test turns it on.
    let cfg = tmp.path().join("tls.toml");
    std::fs::write(&cfg, "[members]\ntls = \"on\"\n").unwrap();
    let cfg = cfg.to_str().unwrap().to_owned();
    let d = Daemon::start_with(&data, &["--config", &cfg]);
    let addr = std::fs::read_to_string(data.join("members-addr")).unwrap().trim().to_owned();
    let url = format!("https://{addr}");
    let fingerprint = std::fs::read_to_string(data.join("members-fingerprint")).unwrap().trim().to_owned();
    assert_eq!(fingerprint.len(), 95, "{fingerprint}");
    let a = &devs[0];

    // First use: pinned, and said so.
    let r = a.council(&url, &["status"]).ok();
    assert!(r.stderr.contains("first connection") && r.stderr.contains(&fingerprint), "{}", r.stderr);
    let known = std::fs::read_to_string(a.home.join("data/councilnet/known-nodes")).unwrap();
    assert!(known.contains(&fingerprint), "{known}");
    // Then silent.
    let r = a.council(&url, &["status"]).ok();
    assert!(!r.stderr.contains("first connection"), "{}", r.stderr);
    // Another device that was told the fingerprint up front.
    let b = &devs[1];
    b.council(&url, &["--fingerprint", &fingerprint, "status"]).ok();
    // A wrong one given up front: refused, saying why.
    let wrong = "00:".repeat(31) + "00";
    let r = devs[2].council(&url, &["--fingerprint", &wrong, "status"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("NOT THE ONE EXPECTED"), "{}", r.stderr);
    // Plain HTTP to the TLS address gets nowhere.
    let r = a.council(&format!("http://{addr}"), &["status"]);
    assert_ne!(r.code, 0);

    // Attack: another machine answers at the address with a certificate of its own (here:
    // the node's certificate replaced). The pinned device refuses it.
    d.stop();
    std::fs::remove_file(data.join("members-cert.pem")).unwrap();
    std::fs::remove_file(data.join("members-key.pem")).unwrap();
    let addr_flag = addr.clone();
    let d = Daemon::start_with(&data, &["--config", &cfg, "--members-listen", &addr_flag]);
    let r = a.council(&url, &["status"]);
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert!(r.stderr.contains("NOT THE ONE EXPECTED") && r.stderr.contains("impersonating"), "{}", r.stderr);
    d.stop();
}

/// A member with two devices (PROTOCOL.md §6.11): Ana adds her phone from her laptop,
/// votes from both (one member, one ballot: the latest), and removes the phone when it
/// is lost. The lost phone can no longer act; its earlier ballot was replaced by hers
/// from the laptop, and the export verifies with every device change in it.
#[test]
fn a_member_adds_a_phone_votes_from_both_and_removes_it_when_lost() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    let d = Daemon::start(&data);
    let url = members_url(&data);
    let (laptop, b) = (&devs[0], &devs[1]);
    let phone = Device::new(tmp.path(), "a-phone");

    // The phone's key is not Ana's yet: the node does not let it in.
    let r = phone.council(&url, &["status"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // The phone's secret stays on the phone: the laptop shows a link code, the phone
    // answers with a request (its key and its proof), the laptop adds it.
    let code =
        laptop.council(&url, &["--json", "device", "link-code"]).ok().json()["link_code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("councilnet-link:") && code.ends_with(&laptop.did), "{code}");
    let request = phone.council(&url, &["--json", "device", "request", &code]).ok().json()["request"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(request.starts_with(&format!("councilnet-device:{}:", phone.did)), "{request}");
    // B cannot use Ana's phone's request to take the phone for B.
    let r = b.council(&url, &["device", "add", &request]);
    assert!(r.code != 0 && r.stderr.contains("made for another member"), "{}", r.stderr);
    let r = laptop.council(&url, &["device", "add", &request]).ok();
    assert!(r.stdout.contains("is now a device key of yours"), "{}", r.stdout);
    let status = phone.council(&url, &["status"]).ok().stdout;
    assert!(status.contains("2 devices"), "{status}");

    let m = motion_id(&b.council(&url, &["motion", "open", "--title", "Buy a second press", "--closes-in", "1h"]).ok());
    laptop.council(&url, &["vote", &m[..8], "yes"]).ok();
    let r = phone.council(&url, &["vote", &m[..8], "no"]).ok();
    assert!(r.stdout.contains("ballot changed"), "the phone votes as Ana: {}", r.stdout);
    let shown = laptop.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
    assert_eq!(shown["counts"], serde_json::json!([0, 1, 0]), "one member, one ballot: {shown}");
    assert_eq!(shown["my_ballot"]["choice"], 1, "the laptop sees the phone's ballot as Ana's: {shown}");

    // The phone is lost: the laptop removes it. It can no longer sign in or vote.
    let r = laptop.council(&url, &["device", "remove", &phone.did]).ok();
    assert!(r.stdout.contains("is no longer a key of yours"), "{}", r.stdout);
    let r = phone.council(&url, &["vote", &m[..8], "yes"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    // Ana's last key cannot be removed.
    let r = laptop.council(&url, &["--json", "device", "remove", &laptop.did]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("last-device"), "{}", r.stderr);
    // Nor can a key of the council be taken up again as a device: B's, or the lost phone's.
    let r = laptop.council(&url, &["--json", "device", "add", b.key.to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("device-key-taken"), "{}", r.stderr);
    let r = laptop.council(&url, &["device", "add", phone.key.to_str().unwrap()]);
    assert!(r.code != 0 && r.stderr.contains("never comes back"), "{} {} {}", r.code, r.stdout, r.stderr);
    laptop.council(&url, &["vote", &m[..8], "yes"]).ok();

    let out = tmp.path().join("devices.cnx");
    laptop.council(&url, &["export", "--out", out.to_str().unwrap()]).ok();
    d.stop();
    let text = run(&["verify", out.to_str().unwrap()]).ok().stdout;
    assert!(text.contains("2 device change(s)"), "{text}");
    let v = run(&["--json", "verify", out.to_str().unwrap()]).ok().json();
    let ana =
        v["councils"][0]["members"].as_array().unwrap().iter().find(|x| x["member"] == laptop.did.as_str()).unwrap();
    assert_eq!(ana["keys"], serde_json::json!([laptop.did]), "{ana}");
}

/// A ranked motion from the members' own devices: each ranks the three options (by name
/// or number), a ranking that repeats an option is refused with its reason, and once
/// every ranking is final the Schulze winner is chosen and the export carries the
/// pairwise preferences it was decided on.
#[test]
fn members_rank_the_options_and_the_schulze_winner_is_chosen() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, devs) = found(tmp.path());
    let d = Daemon::start(&data);
    let url = members_url(&data);
    let (a, b, c) = (&devs[0], &devs[1], &devs[2]);
    let m = motion_id(&a.council(&url, &RANKED_ASSEMBLY).ok());
    let r = b.council(&url, &["--json", "vote", &m[..8], "yard", "yard", "hall"]);
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(r.stderr.contains("ranking-repeats"), "{}", r.stderr);
    let r = b.council(&url, &["--json", "vote", &m[..8], "yard", "hall"]);
    assert!(r.code == 1 && r.stderr.contains("ranking-omits"), "{}", r.stderr);
    let r = b.council(&url, &["vote", &m[..8], "yard"]);
    assert!(r.code == 2 && r.stderr.contains("name all 3 options"), "{}", r.stderr);
    // yard beats canteen 2:1 and hall 2:1: the Condorcet winner, so the Schulze winner.
    a.council(&url, &["vote", "--final", &m[..8], "canteen", "yard", "hall"]).ok();
    b.council(&url, &["vote", "--final", &m[..8], "yard", "hall", "canteen"]).ok();
    c.council(&url, &["vote", "--final", &m[..8], "2", "1", "0"]).ok();
    let shown = a.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
    assert_eq!(shown["status"], "closed", "{shown}");
    assert_eq!(shown["outcome"], serde_json::json!({ "result": "chosen", "option": 1 }), "{shown}");
    let text = a.council(&url, &["motion", "show", &m[..8]]).ok().stdout;
    assert!(text.contains("yard over: canteen 2, hall 2"), "{text}");
    let out = tmp.path().join("ranked.cnx");
    a.council(&url, &["export", "--out", out.to_str().unwrap()]).ok();
    d.stop();
    let v = run(&["--json", "verify", out.to_str().unwrap()]).ok().json();
    let mv = &v["councils"][0]["motions"][0];
    assert_eq!(mv["kind"], "ranked");
    assert_eq!(mv["pairwise"], serde_json::json!([[0, 1, 1], [2, 0, 2], [2, 1, 0]]), "{mv}");
}

/// The members amend their council's rules with the CLI: a council act under the
/// stricter amendment rule the genesis set, after which the new device limit holds, and
/// `council verify` reports the change.
#[test]
fn members_amend_the_rules_under_the_amendment_rule() {
    let tmp = tempfile::tempdir().unwrap();
    let devices: Vec<Device> = ["a", "b", "c"].iter().map(|n| Device::new(tmp.path(), n)).collect();
    let data = tmp.path().join("node");
    let mut args = vec!["init", "--data-dir", data.to_str().unwrap(), "--name", "Strict Council"];
    for d in &devices {
        args.extend(["--founder", d.did.as_str()]);
    }
    args.extend(["--amend-quorum", "1/1", "--amend-threshold", "unanimity"]);
    councild(&args).ok();
    for d in &devices {
        let draft = data.join("genesis.draft");
        run(&["genesis", "sign", "--draft", draft.to_str().unwrap(), "--key", d.key.to_str().unwrap()]).ok();
    }
    let d = Daemon::start(&data);
    let url = members_url(&data);
    let (a, b, c) = (&devices[0], &devices[1], &devices[2]);
    let shown = a.council(&url, &["rules", "show"]).ok().stdout;
    assert!(
        shown.contains("amendments of the rules: quorum 1/1, at least 1/1") && shown.contains("never amended"),
        "{shown}"
    );

    let m = motion_id(&a.council(&url, &["rules", "amend", "--device-limit", "1", "--closes-in", "1h"]).ok());
    a.council(&url, &["vote", "--final", &m[..8], "yes"]).ok();
    b.council(&url, &["vote", "--final", &m[..8], "yes"]).ok();
    let still = a.council(&url, &["--json", "motion", "show", &m[..8]]).ok().json();
    assert_eq!(still["status"], "open", "two of three is not unanimity: {still}");
    c.council(&url, &["vote", "--final", &m[..8], "yes"]).ok();
    let shown = a.council(&url, &["rules", "show"]).ok().stdout;
    assert!(shown.contains("at most 1 per member") && shown.contains("amended 1 time(s)"), "{shown}");
    // The new limit holds from the next entry on.
    let phone = Device::new(tmp.path(), "a-phone");
    let r = a.council(&url, &["--json", "device", "add", phone.key.to_str().unwrap()]);
    assert!(r.code == 1 && r.stderr.contains("too-many-devices"), "{}", r.stderr);
    let out = tmp.path().join("amended.cnx");
    a.council(&url, &["export", "--out", out.to_str().unwrap()]).ok();
    d.stop();
    let text = run(&["verify", out.to_str().unwrap()]).ok().stdout;
    assert!(text.contains("rules amended at log entry"), "{text}");
}
