#!/usr/bin/env bash
# `council verify` on a 1,000,000-ballot export, beside the raw ed25519 rate for the very
# same signatures on the same machine, in the same run.
#
#   scripts/bench-verify.sh            # 500 members, 2000 motions x 500 ballots (~1M)
#   scripts/bench-verify.sh --quick    # 50,000 ballots
set -euo pipefail
cd "$(dirname "$0")/.."

members=500 motions=2000 votes=500
if [ "${1:-}" = "--quick" ]; then motions=100; fi

cargo build --quiet --release -p council-cli --bin council --example raw_verify
bin=target/release/council
dir=target/bench
mkdir -p "$dir"
file="$dir/verify-${members}x${motions}x${votes}.cnx"
if [ ! -f "$file" ]; then
  echo "writing $file ..."
  "$bin" sample --out "$file" --members "$members" --motions "$motions" --votes-per-motion "$votes" >/dev/null
fi

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), $(free -g | awk '/Mem:/{print $2}') GiB"
echo "file: $file ($(du -m "$file" | cut -f1) MB)"

/usr/bin/time -f '%e %M' -o "$dir/verify.time" "$bin" verify "$file" >/dev/null
read -r wall rss_kb < "$dir/verify.time"
raw=$(target/release/examples/raw_verify "$file")
strict=$(echo "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["strict_seconds"])')
batch=$(echo "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["batch_seconds"])')
sigs=$(echo "$raw" | python3 -c 'import json,sys; print(json.load(sys.stdin)["signatures"])')

python3 - "$wall" "$rss_kb" "$strict" "$batch" "$sigs" <<'PY'
import sys
wall, rss, strict, batch, sigs = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
print(f"| figure | seconds | vs raw batch | vs raw strict |")
print(f"|---|---|---|---|")
print(f"| council verify ({sigs} signatures), peak RSS {rss/1024:.0f} MB | {wall:.1f} | {wall/batch:.2f}x | {wall/strict:.2f}x |")
print(f"| raw verify_strict, one at a time, all cores | {strict:.1f} | {strict/batch:.2f}x | 1.00x |")
print(f"| raw verify_batch (512 per batch), all cores | {batch:.1f} | 1.00x | {batch/strict:.2f}x |")
PY
