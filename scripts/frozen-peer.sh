#!/usr/bin/env bash
# Load with a frozen peer: three councild nodes on 127.0.0.1 in one federation; one is
# stopped with SIGSTOP while ballots arrive at another at 500 per second for SECONDS
# (default 20; the full run is 600). Fails if a running node goes over 200 MB, or if the
# frozen node does not catch up once resumed. Prints one JSON line.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
cargo build --quiet --release -p councild
cargo build --quiet --release -p council-node --example frozen_peer
rel=$(scripts/target-dir)/release
"$rel/examples/frozen_peer" "$rel/councild" "$seconds" 500
