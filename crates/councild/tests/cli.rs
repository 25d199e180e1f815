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
    assert!(err.contains("node.key"), "{err}");
}
