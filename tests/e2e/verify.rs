//! `council sample` then `council verify`, and damaged files.

use std::path::Path;

use crate::util::{council, mkfifo, run, run_within, sample};

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
fn a_nested_sample_shows_federations_of_federations() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample(dir.path(), "nested.cnx", &["--nested"]);
    let p = path.to_str().unwrap();
    let r = run(&["verify", p]);
    assert_eq!(r.code, 0, "{}{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("VALID"), "{}", r.stdout);
    assert!(r.stdout.contains("member federation \"Northern region\""), "{}", r.stdout);
    assert!(r.stdout.contains("federation \"Northern region\" (its delegate, of"), "{}", r.stdout);
    assert!(r.stdout.contains("VOID: federation-loop"), "the loop attempt is shown void: {}", r.stdout);
    let j = run(&["verify", "--json", p]);
    assert_eq!(j.code, 0);
    let v: serde_json::Value = serde_json::from_str(&j.stdout).unwrap();
    let top = v["federations"].as_array().unwrap().iter().find(|f| f["name"] == "Federation of the regions").unwrap();
    let members = top["members"].as_array().unwrap();
    assert_eq!(members.len(), 2);
    assert!(members.iter().all(|m| m["federation"] == true), "{members:?}");
    assert_eq!(top["motions"][0]["outcome"]["result"], "chosen");
    assert_eq!(top["motions"][1]["act"]["status"], "void");
    // Mixing --nested with the single-council sizes is refused.
    let both = run(&["sample", "--nested", "--members", "5", "--out", dir.path().join("x.cnx").to_str().unwrap()]);
    assert_eq!(both.code, 2, "{}", both.stderr);
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

#[test]
fn fifos_devices_and_huge_files_are_refused_at_once_and_planted_links_not_followed() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe");
    mkfifo(&fifo);
    let huge = dir.path().join("huge.key");
    std::fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&huge, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let (f, h) = (fifo.to_str().unwrap(), huge.to_str().unwrap());
    for (args, says) in [
        (vec!["key", "show", f], "fifo"),
        (vec!["key", "show", "/dev/zero"], "a device"),
        (vec!["key", "show", h], "at most"),
        (vec!["genesis", "show", "--draft", f], "fifo"),
        (vec!["verify", f], "fifo"),
        (vec!["verify", "/dev/zero"], "a device"),
        (vec!["--node", "http://127.0.0.1:9", "--key", f, "status"], "fifo"),
        (vec!["--node", "http://127.0.0.1:9", "--token-file", "/dev/zero", "status"], "a device"),
    ] {
        let r = run_within(&args, None);
        assert_ne!(r.code, 0, "council {args:?} succeeded");
        assert!(r.stderr.contains(says), "council {args:?}: {}", r.stderr);
    }
    // An endless standard input that is not an export: judged from its first item, and
    // not read on.
    let r = run_within(&["--json", "verify", "-"], Some(Path::new("/dev/zero")));
    assert_eq!(r.code, 2, "{}", r.stderr);
    assert_eq!(r.json()["valid"], false);

    // Links planted at the names a temporary file might take: the target is never written.
    let victim = dir.path().join("victim");
    std::fs::write(&victim, b"keep me").unwrap();
    let out = dir.path().join("s.cnx");
    for name in ["s.partial", "s.cnx.partial", ".s.cnx.partial"] {
        std::os::unix::fs::symlink(&victim, dir.path().join(name)).unwrap();
    }
    let s = out.to_str().unwrap();
    run(&["sample", "--out", s, "--members", "3", "--motions", "1", "--votes-per-motion", "2"]).ok();
    assert_eq!(std::fs::read(&victim).unwrap(), b"keep me");
    run(&["verify", s]).ok();
}

/// `council completions SHELL` prints a script the shell can load, naming the commands.
#[test]
fn council_prints_shell_completions() {
    let out = council().args(["completions", "fish"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("complete -c council") && script.contains("verify"), "{script}");
}

/// `council man DIR` writes a man page for council and for every command, nested ones
/// included.
#[test]
fn council_writes_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let r = run(&["man", dir.path().to_str().unwrap()]).ok();
    assert!(r.stdout.contains("man pages written"), "{}", r.stdout);
    for (file, title) in [
        ("council.1", "council"),
        ("council-vote.1", "council-vote"),
        ("council-federation-join.1", "council-federation-join"),
    ] {
        let page = std::fs::read_to_string(dir.path().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert!(page.contains(&format!(".TH {title} 1")), "{file}:\n{page}");
    }
}

/// Long operations show progress on a terminal, and only there: not in a pipe or a file,
/// and not under `--json`. (`script` gives the command a terminal, as a person has.)
#[test]
fn progress_shows_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let file = sample(dir.path(), "s.cnx", &[]);
    let on_a_terminal = |args: &str| {
        let cmd = format!("{} {args}", env!("CARGO_BIN_EXE_council"));
        let out = std::process::Command::new("script")
            .args(["-qec", &cmd, "/dev/null"])
            .env("TERM", "xterm")
            .output()
            .expect("script (util-linux) runs");
        assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stdout));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let f = file.to_str().unwrap();
    let shown = on_a_terminal(&format!("verify {f}"));
    assert!(shown.contains("verifying [") && shown.contains("VALID"), "{shown}");
    let shown = on_a_terminal(&format!("--json verify {f}"));
    assert!(!shown.contains("verifying"), "{shown}");
    let piped = run(&["verify", f]).ok();
    assert!(piped.stderr.is_empty(), "progress in a pipe: {}", piped.stderr);
    assert!(!piped.stdout.contains("verifying"), "{}", piped.stdout);
}
