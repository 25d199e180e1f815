//! `council sample` then `council verify`, and damaged files.

use crate::util::{run, sample};

#[test]
fn sample_then_verify_is_valid_with_a_truthful_report() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "s.cnx", &[]);
    let p = path.to_str().unwrap();
    let r = run(&["verify", p]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VALID"));
    assert!(r.stdout.contains("Riverside Bakery Workers' Council"));
    assert!(r.stdout.contains("STRUCK"), "the recalled delegate's vote is shown struck");
    let j = run(&["verify", "--json", p]);
    assert_eq!(j.code, 0);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    assert_eq!(v["valid"], true);
    assert_eq!(v["councils"].as_array().unwrap().len(), 3);
    assert!(v["checked"]["signatures"].as_u64().unwrap() > 1000);
}

#[test]
fn a_flipped_byte_exits_1_and_names_the_record() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "s.cnx", &["--members", "5", "--motions", "2", "--votes-per-motion", "5"]);
    let bytes = std::fs::read(&path).unwrap();
    // A few positions spread over the file: the header, a genesis, entries.
    for i in [3usize, 90, bytes.len() / 3, bytes.len() / 2, bytes.len() - 5] {
        let mut b = bytes.clone();
        b[i] ^= 0x40;
        let bad = dir.path().join(format!("bad-{i}.cnx"));
        std::fs::write(&bad, &b).unwrap();
        let r = run(&["verify", bad.to_str().unwrap()]);
        assert!(r.code == 1 || r.code == 2, "byte {i}: exit {}", r.code);
        assert!(r.stdout.contains("INVALID"), "byte {i}: {}", r.stdout);
        assert!(r.stdout.contains("item "), "the record is named: {}", r.stdout);
        let j = run(&["verify", "--json", bad.to_str().unwrap()]);
        let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
        assert_eq!(v["valid"], false);
        assert!(v["errors"][0]["item"].is_u64());
    }
}

#[test]
fn unreadable_files_and_bad_usage_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = run(&["verify", dir.path().join("nope.cnx").to_str().unwrap()]);
    assert_eq!(missing.code, 2);
    assert!(missing.stderr.contains("cannot open"), "{}", missing.stderr);
    let junk = dir.path().join("junk.cnx");
    std::fs::write(&junk, b"hello, this is not an export").unwrap();
    assert_eq!(run(&["verify", junk.to_str().unwrap()]).code, 2);
    // A damaged header: not an export, even though the records after it decode.
    let good = sample(dir.path(), "s.cnx", &["--members", "3", "--motions", "1", "--votes-per-motion", "2"]);
    let mut b = std::fs::read(&good).unwrap();
    b[5] ^= 0x01; // inside the header's tag text
    let bad = dir.path().join("bad-header.cnx");
    std::fs::write(&bad, &b).unwrap();
    assert_eq!(run(&["verify", bad.to_str().unwrap()]).code, 2);
    let empty = dir.path().join("empty.cnx");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(run(&["verify", empty.to_str().unwrap()]).code, 2);
    assert_eq!(run(&["verify"]).code, 2);
    assert_eq!(run(&["frobnicate"]).code, 2);
    assert_eq!(run(&["sample", "--out", "x.cnx", "--members", "1"]).code, 2);
}

#[test]
fn key_files_are_private_and_show_their_did() {
    let dir = tempfile::tempdir().unwrap();
    let k = dir.path().join("me.key");
    let r = run(&["key", "new", k.to_str().unwrap()]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.trim().starts_with("did:key:z6Mk"));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&k).unwrap().permissions().mode() & 0o777, 0o600);
    }
    let s = run(&["key", "show", k.to_str().unwrap()]);
    assert_eq!(s.stdout, r.stdout);
    // Never overwrite a key.
    assert_eq!(run(&["key", "new", k.to_str().unwrap()]).code, 2);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&k, std::fs::Permissions::from_mode(0o644)).unwrap();
        let loose = run(&["key", "show", k.to_str().unwrap()]);
        assert_eq!(loose.code, 2);
        assert!(loose.stderr.contains("chmod 600"), "{}", loose.stderr);
    }
}
