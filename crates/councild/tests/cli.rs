#![allow(clippy::unwrap_used, clippy::expect_used)]
//! `councild` refuses bad set-ups with errors a person can act on.
//!
//! (These tests also make Cargo build the `councild` binary during `cargo test`, which the
//! end-to-end scenarios in tests/e2e run next to `council`.)

use std::process::Command;

fn councild(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_councild")).args(args).output().expect("councild runs");
    (out.status.code().expect("exited normally"), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn init_needs_founders_and_a_name() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().join("c");
    let (code, err) = councild(&["init", "--data-dir", d.to_str().unwrap(), "--name", "X"]);
    assert_eq!(code, 1);
    assert!(err.contains("--founder"), "{err}");
    let (code, err) =
        councild(&["init", "--data-dir", d.to_str().unwrap(), "--name", "X", "--founder", "did:key:zNope"]);
    assert_eq!(code, 1);
    assert!(err.contains("not a valid did:key"), "{err}");
}

#[test]
fn run_refuses_bad_configuration() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("c.toml");
    std::fs::write(&cfg, "[api]\nlisten = \"127.0.0.1:0\"\ncolour = \"red\"\n").unwrap();
    let (code, err) = councild(&["run", "--config", cfg.to_str().unwrap(), "--data-dir", dir.path().to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(err.contains("colour"), "an unknown key is named: {err}");
    let (code, err) = councild(&["run", "--data-dir", dir.path().to_str().unwrap(), "--listen", "0.0.0.0:7420"]);
    assert_eq!(code, 1);
    assert!(err.contains("loopback"), "{err}");
    // A directory that holds no council.
    let (code, err) = councild(&[
        "run",
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--members-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("councild init"), "the error says how to make a council: {err}");
    // Webhooks: an event that does not exist, and a URL that is not one.
    let hook = |extra: &str| {
        std::fs::write(&cfg, format!("[[notify.webhooks]]\nsecret_file = \"/nonexistent\"\n{extra}")).unwrap();
        councild(&["run", "--config", cfg.to_str().unwrap(), "--data-dir", dir.path().to_str().unwrap()])
    };
    let (code, err) = hook("url = \"http://127.0.0.1:9/\"\nevents = [\"motion-opend\"]\n");
    assert_eq!(code, 1);
    assert!(err.contains("motion-opend") && err.contains("motion-opened"), "the known events are listed: {err}");
    let (code, err) = hook("url = \"ftp://example.invalid/\"\n");
    assert_eq!(code, 1);
    assert!(err.contains("http://"), "{err}");
}

/// Runs `councild`, failing the test if it has not exited within 30 s (a fifo waited on,
/// a device read forever).
fn councild_within(args: &[&str]) -> (i32, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_councild"))
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("councild runs");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("`councild {}` did not exit within 30 s: it hangs", args.join(" "));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (out.status.code().expect("exited normally"), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_fifo_a_device_or_a_huge_file_as_config_or_key_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("config.fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let huge = dir.path().join("huge.toml");
    std::fs::File::create(&huge).unwrap().set_len(300 << 20).unwrap();
    let d = dir.path().to_str().unwrap();
    for (config, says) in
        [(fifo.to_str().unwrap(), "fifo"), ("/dev/zero", "a device"), (huge.to_str().unwrap(), "at most")]
    {
        let (code, err) = councild_within(&["run", "--config", config, "--data-dir", d]);
        assert_eq!(code, 1, "{config}: {err}");
        assert!(err.contains(says), "{config}: {err}");
    }
    // The node's key as a fifo in an otherwise empty data directory.
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    assert!(Command::new("mkfifo").arg(data.join("node.key")).status().unwrap().success());
    let (code, err) = councild_within(&[
        "run",
        "--data-dir",
        data.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--members-listen",
        "127.0.0.1:0",
    ]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("fifo"), "{err}");
}

/// `completions SHELL` prints a script the shell can load, naming the subcommands, for
/// both programs.
#[test]
fn both_programs_print_shell_completions() {
    let out = Command::new(env!("CARGO_BIN_EXE_councild")).args(["completions", "bash"]).output().unwrap();
    assert!(out.status.success());
    let script = String::from_utf8(out.stdout).unwrap();
    assert!(script.contains("complete -F _councild") && script.contains("init") && script.contains("run"), "{script}");
    let out = Command::new(env!("CARGO_BIN_EXE_councild")).args(["completions", "zsh"]).output().unwrap();
    assert!(String::from_utf8(out.stdout).unwrap().starts_with("#compdef councild"));
    let (code, err) = councild(&["completions", "cmd.exe"]);
    assert_eq!(code, 2);
    assert!(err.contains("bash"), "the shells it knows are listed: {err}");
}

/// `man DIR` writes a roff man page for the program and one for each command.
#[test]
fn councild_writes_man_pages() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("man1");
    let (code, err) = councild(&["man", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let page = std::fs::read_to_string(out.join("councild.1")).unwrap();
    assert!(page.contains(".TH councild 1"), "{page}");
    let run = std::fs::read_to_string(out.join("councild-run.1")).unwrap();
    assert!(run.contains(".TH councild-run 1") && run.contains("members\\-listen"), "{run}");
    // A directory that cannot be made is an error, not a panic.
    let file = dir.path().join("a-file");
    std::fs::write(&file, "").unwrap();
    let (code, err) = councild(&["man", file.join("sub").to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("cannot create"), "{err}");
}

/// The systemd unit in config/ is hardened as README.md says, and its command line is one
/// `councild` accepts: pointed at a config file that is not there, it says so (a usage
/// error, exit 2, would mean the unit names a flag councild does not have).
#[test]
fn the_systemd_unit_is_hardened_and_starts_councild_with_flags_it_has() {
    let unit = include_str!("../../../config/councild.service");
    let settings: Vec<(&str, &str)> =
        unit.lines().filter(|l| !l.starts_with('#')).filter_map(|l| l.split_once('=')).collect();
    let has = |k: &str, v: &str| settings.iter().any(|(a, b)| *a == k && *b == v);
    for (k, v) in [
        ("User", "councild"),
        ("StateDirectory", "councild"),
        ("Restart", "on-failure"),
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert!(has(k, v), "the unit lacks {k}={v}");
    }
    let exec = settings.iter().find(|(k, _)| *k == "ExecStart").map(|(_, v)| *v).expect("an ExecStart");
    let mut words = exec.split_whitespace();
    assert_eq!(words.next(), Some("/usr/local/bin/councild"), "installed where README.md puts it");
    let mut args: Vec<String> = words.map(str::to_owned).collect();
    assert_eq!(args.first().map(String::as_str), Some("run"));
    // The same flags, on paths of this test's own.
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("config.toml");
    for (i, a) in args.clone().iter().enumerate() {
        match a.as_str() {
            "--config" => args[i + 1] = missing.display().to_string(),
            "--data-dir" => args[i + 1] = dir.path().join("council").display().to_string(),
            _ => {}
        }
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, err) = councild(&refs);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("config.toml"), "names the missing config file: {err}");
}
