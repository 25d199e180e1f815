#!/usr/bin/env bash
# Crash durability: SIGKILL councild at random moments under ballot load, CYCLES times
# (default 20; the reliability target is 1000). After each restart every acknowledged
# ballot must be present and the export must verify; the run stops at the first loss.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-20}
cargo build --quiet --release -p council-cli -p councild
cargo build --quiet --release -p council-node --example crash_cycles
target/release/examples/crash_cycles target/release/councild target/release/council "$cycles"
