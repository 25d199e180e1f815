//! The short fuzzing run of the test suite: every file of the committed seed corpus
//! (`fuzz/corpus/<target>/`) and every input that once crashed a target
//! (`fuzz/regressions/<target>/`) goes through the same property functions the `cargo
//! fuzz` targets call. No nightly toolchain, no cargo-fuzz.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use council_fuzz::TARGETS;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> = rd.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

/// Runs every file of `fuzz/<kind>/<target>/` through its target; returns how many ran.
fn replay(kind: &str) -> usize {
    let mut failed = Vec::new();
    let mut ran = 0;
    for (name, f) in TARGETS {
        for path in files(&fuzz_dir().join(kind).join(name)) {
            let data = std::fs::read(&path).unwrap();
            ran += 1;
            if let Err(e) = catch_unwind(AssertUnwindSafe(|| f(&data))) {
                let msg = e
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failed.push(format!("{name}: {}: {msg}", path.display()));
            }
        }
    }
    assert!(failed.is_empty(), "{} input(s) break a property:\n{}", failed.len(), failed.join("\n"));
    ran
}

#[test]
fn the_seed_corpus_keeps_every_property() {
    for (name, _) in TARGETS {
        let n = files(&fuzz_dir().join("corpus").join(name)).len();
        assert!(n > 0, "fuzz/corpus/{name}/ has no seed: run `cargo run -p council-fuzz --example seed_corpus`");
    }
    let ran = replay("corpus");
    eprintln!("{ran} corpus inputs replayed");
}

#[test]
fn every_crash_found_stays_fixed() {
    let ran = replay("regressions");
    eprintln!("{ran} regression inputs replayed");
}

#[test]
fn every_target_has_its_cargo_fuzz_file_and_no_other_exists() {
    let dir = fuzz_dir();
    for (name, _) in TARGETS {
        let t = dir.join("fuzz_targets").join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&t).unwrap_or_else(|e| panic!("{}: {e}", t.display()));
        assert!(text.contains(&format!("council_fuzz::{name}(")), "{} does not call council_fuzz::{name}", t.display());
    }
    let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap();
    for kind in ["fuzz_targets", "corpus", "regressions"] {
        // Git keeps no empty directory: regressions/ may hold nothing but its README.
        let Ok(entries) = std::fs::read_dir(dir.join(kind)) else { continue };
        for entry in entries {
            let p = entry.unwrap().path();
            let stem = p.file_stem().unwrap().to_string_lossy().to_string();
            if stem.starts_with('.') || stem == "README" {
                continue;
            }
            assert!(TARGETS.iter().any(|(n, _)| *n == stem), "fuzz/{kind}/{stem} belongs to no target in TARGETS");
            if kind == "fuzz_targets" {
                assert!(manifest.contains(&format!("name = \"{stem}\"")), "fuzz/Cargo.toml does not declare {stem}");
            }
        }
    }
}

/// A refusal longer than the 1024 characters `Response::encode` keeps used to decode (up
/// to 4096 bytes) and re-encode cut short, breaking the round-trip property; it is now
/// refused at decoding. Its input is also in `fuzz/regressions/sync/`.
#[test]
fn a_refusal_reason_over_the_limit_is_refused_and_one_at_the_limit_round_trips() {
    use council_core::cbor::Cbor;
    let refusal = |reason: &str| {
        let mut data = vec![0x82, 0x74];
        data.extend_from_slice(b"councilnet/1/refused");
        data.push(0x79);
        data.extend_from_slice(&(reason.len() as u16).to_be_bytes());
        data.extend_from_slice(reason.as_bytes());
        data
    };
    let long = refusal(&"x".repeat(2000));
    assert!(council_net::Response::from_cbor(&long).is_err(), "a refusal of 2000 characters decoded");
    council_fuzz::sync(&long);
    let at_limit = refusal(&"é".repeat(1024));
    let r = council_net::Response::from_cbor(&at_limit).expect("a refusal of 1024 characters decodes");
    assert_eq!(r.to_cbor(), at_limit);
}
