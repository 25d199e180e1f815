//! A node whose disk fills up. It refuses new records with 503 `storage-full`, loses
//! nothing it acknowledged, and takes records again by itself once space is freed; while
//! it keeps free space in reserve (the default), it answers reads throughout. Each node
//! runs on a small tmpfs of its own, in a mount namespace of its own
//! ([`Daemon::start_on_tmpfs`]): the test fills that disk and frees it.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::{eventually, run, Daemon, Run};

/// A solo council's data directory and its member's key file.
fn solo(root: &Path) -> (PathBuf, String) {
    let (data, key, _) = crate::util::solo(root, "Full Disk");
    (data, key.to_str().unwrap().to_owned())
}

/// Writes a file into the directory `dir` until the disk under it is full; returns the
/// file, whose removal frees the disk again.
fn fill(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 64 * 1024];
    loop {
        if let Err(e) = f.write_all(&chunk) {
            assert_eq!(e.raw_os_error(), Some(28), "expected ENOSPC, got {e}");
            // What a 64 KiB write no longer fit, smaller writes fill.
            let mut small = vec![0u8; 4096];
            while f.write_all(&small).is_ok() {}
            small.clear();
            return path;
        }
    }
}

fn open(d: &Daemon, key: &str, title: &str) -> Run {
    d.council(&["--json", "motion", "open", "--key", key, "--title", title, "--closes-in", "1h"])
}

/// The error code `council --json` printed, if it failed.
fn code(r: &Run) -> Option<String> {
    if r.code == 0 {
        return None;
    }
    let v: Value = serde_json::from_str(r.stderr.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.stderr));
    Some(v["error"]["code"].as_str().unwrap().to_owned())
}

/// The titles of the council's open motions, sorted.
fn titles(d: &Daemon) -> Vec<String> {
    let list = d.council(&["--json", "motion", "list"]).ok().json();
    let mut t: Vec<String> = list.as_array().unwrap().iter().map(|m| m["title"].as_str().unwrap().to_owned()).collect();
    t.sort();
    t
}

/// The node's export, checked offline: its motions' titles, sorted.
fn exported(d: &Daemon, root: &Path) -> Vec<String> {
    let out = root.join("export.cbor");
    let _ = std::fs::remove_file(&out);
    d.council(&["export", "--out", out.to_str().unwrap()]).ok();
    let r = run(&["--json", "verify", out.to_str().unwrap()]);
    assert_eq!(r.code, 0, "the export does not verify:\n{}", r.stdout);
    let mut t: Vec<String> = r.json()["councils"][0]["motions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["title"].as_str().unwrap().to_owned())
        .collect();
    t.sort();
    t
}

/// The default: the node keeps 16 MiB free. With the disk full, records are refused and
/// reads answered; freed, it takes records again without a restart.
#[test]
fn a_full_disk_refuses_records_keeps_reads_and_recovers_by_itself() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, key) = solo(tmp.path());
    let d = Daemon::start_on_tmpfs(&data, &tmp.path().join("disk"), 48, &[]);
    assert_eq!(code(&open(&d, &key, "before")), None);

    let filler = fill(&d.dir);
    let refused = open(&d, &key, "while full");
    assert_eq!(code(&refused).as_deref(), Some("storage-full"), "{}", refused.stderr);
    assert!(refused.stderr.contains("space is freed"), "says what to do: {}", refused.stderr);
    // Reads go on: the motion list, the status, the export.
    assert_eq!(titles(&d), ["before"]);
    d.council(&["status"]).ok();
    let export = tmp.path().join("while-full.cbor");
    d.council(&["export", "--out", export.to_str().unwrap()]).ok();
    assert!(d.log().contains("THE DISK IS FULL"), "the operator is told: {}", d.log());

    std::fs::remove_file(filler).unwrap();
    eventually("the node to take records again", || {
        (code(&open(&d, &key, "after")) != Some("storage-full".into())).then_some(())
    });
    assert_eq!(titles(&d), ["after", "before"]);
    assert_eq!(exported(&d, tmp.path()), ["after", "before"]);
    d.stop();
}

/// With no space kept (`store.min_free_mb = 0`) a write itself fails for want of space:
/// sled then takes no more writes, so the node closes its store, reopens it once space is
/// freed, rebuilds its state from what is on disk, and goes on. Every motion it
/// acknowledged is there; none it refused is (on tmpfs a write that fails for want of
/// space lands nothing: sled's batch is whole or absent, and nothing is written twice).
#[test]
fn a_write_that_fails_on_a_full_disk_loses_nothing_acknowledged() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, key) = solo(tmp.path());
    let config = tmp.path().join("councild.toml");
    std::fs::write(&config, "[store]\nmin_free_mb = 0\n").unwrap();
    let d = Daemon::start_on_tmpfs(&data, &tmp.path().join("disk"), 16, &["--config", config.to_str().unwrap()]);
    assert_eq!(code(&open(&d, &key, "m0")), None);

    let filler = fill(&d.dir);
    // sled may still have room in the file it writes: motions are acknowledged until one
    // is not.
    let mut acknowledged = vec!["m0".to_owned()];
    let mut n = 1;
    loop {
        let title = format!("m{n}");
        match code(&open(&d, &key, &title)) {
            None => acknowledged.push(title),
            Some(c) => {
                assert_eq!(c, "storage-full");
                break;
            }
        }
        n += 1;
        assert!(n < 10_000, "a full 16 MiB disk took 10,000 motions");
    }
    assert!(d.log().contains("THE DISK IS FULL: a write failed"), "{}", d.log());
    // Asked again while full: still refused, and the node is up.
    assert_eq!(code(&open(&d, &key, "refused")).as_deref(), Some("storage-full"));

    std::fs::remove_file(filler).unwrap();
    eventually("the node to take records again", || {
        (code(&open(&d, &key, "after")) != Some("storage-full".into())).then_some(())
    });
    assert!(d.log().contains("the store is reopened"), "{}", d.log());
    acknowledged.push("after".to_owned());
    acknowledged.sort();
    assert_eq!(titles(&d), acknowledged, "exactly the acknowledged motions");
    assert_eq!(exported(&d, tmp.path()), acknowledged);
    d.stop();
}
