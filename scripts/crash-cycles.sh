#!/usr/bin/env bash
# Crash durability: SIGKILL councild at random moments under ballot load, CYCLES times
# (default 20; the reliability target is 1000). After each restart every acknowledged
# ballot must be present and the export must verify; the run stops at the first loss.
# Then the signing crash, CYCLES/10 times (at least 5): the node killed between signing
# log entries and storing them (a crash point of the `failpoints` feature, built into
# the example only, never into councild); no entry that died may ever have been seen.
set -euo pipefail
cd "$(dirname "$0")/.."
cycles=${1:-20}
cargo build --quiet --release -p council-cli -p councild
cargo build --quiet --release -p council-node --example crash_cycles
cargo build --quiet --release -p council-node --features failpoints --example signing_crash
rel=$(scripts/target-dir)/release
"$rel/examples/crash_cycles" "$rel/councild" "$rel/council" "$cycles"
signing=$(( cycles / 10 > 5 ? cycles / 10 : 5 ))
"$rel/examples/signing_crash" "$signing"
