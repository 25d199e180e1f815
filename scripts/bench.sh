#!/usr/bin/env bash
# councilnet's benchmarks, each figure beside the physical limit measured in the same run.
#
#   scripts/bench.sh            # the full set (about 12 minutes on 2 cores)
#   scripts/bench.sh --quick    # a small version (about a minute)
#
# Prints one table and writes it, with the machine and the commands, to docs/BENCHMARKS.md.
# Targets are goals, not assertions: the script reports and never fails on a slow machine.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=""
[ "${1:-}" = "--quick" ] && quick=1

if [ -n "$quick" ]; then motions=40; ingest=20000; catchup=20000; fednodes=20; recalls=5; else motions=2000; ingest=1000000; catchup=100000; fednodes=100; recalls=20; fi
members=500 votes=500

# Binaries and examples separately: naming an example limits a build to that target.
cargo build --quiet --release -p council-cli -p councild
cargo build --quiet --release -p council-cli --example raw_verify
cargo build --quiet --release -p council-node --example ingest --example catch_up --example propagation
bin=$root/target/release
work=$root/target/bench
mkdir -p "$work"
rows=()
row() { rows+=("$1"); printf '%s\n' "$1"; }

echo "| id | figure | measured | limit, same run | ratio | target |"
echo "|---|---|---|---|---|---|"

# B1: council verify of a large export.
# The name carries the export format version, so that a stale file is never reused.
file="$work/verify-v1end-${members}x${motions}x${votes}.cnx"
[ -f "$file" ] || "$bin/council" sample --out "$file" --members $members --motions $motions --votes-per-motion $votes >/dev/null
if ! /usr/bin/time -f '%e %M' -o "$work/b1.time" "$bin/council" verify "$file" >"$work/b1.out"; then
  echo "council verify rejected $file:"; head -20 "$work/b1.out"; exit 1
fi
read -r b1_wall b1_rss < "$work/b1.time"
raw=$("$bin/examples/raw_verify" "$file")
b1=$(python3 - "$b1_wall" "$b1_rss" "$raw" <<'PY'
import json, sys
wall, rss, raw = float(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3])
n = raw["signatures"]
print(f"| B1 | `council verify`, {n:,} signatures | {wall:.1f} s, peak RSS {rss/1024:.0f} MB | batch {raw['batch_seconds']:.1f} s; strict one by one {raw['strict_seconds']:.1f} s | {wall/raw['batch_seconds']:.2f}x batch, {wall/raw['strict_seconds']:.2f}x strict | ≤ 1.2x batch; RSS ≤ 100 MB |")
PY
)
row "$b1"

# B2: durable ingestion through the API, and B5's disk and start-up figures from its store.
keep="$work/ingest-node"
rm -rf "$keep"
b2json=$(COUNCILNET_BENCH_KEEP="$keep" "$bin/examples/ingest" "$ingest" 64)
b2=$(python3 - "$b2json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| B2 | ballots acknowledged durably via the API, {r['ballots']:,} ballots, {r['clients']} clients | {r['api_ballots_per_second']:,.0f}/s; p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms | strict checks + sled insert-and-flush: {r['raw_ballots_per_second']:,.0f}/s | {r['api_ballots_per_second']/r['raw_ballots_per_second']:.2f}x | ≥ 25,000/s; p99 < 20 ms |")
PY
)
row "$b2"
# B3: recall propagation through a federation, beside raw gossipsub on the same topology.
b3json=$("$bin/examples/propagation" "$fednodes" "$recalls" 2>/dev/null)
b3=$(python3 - "$b3json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| B3 | a recall validated and stored at all {r['nodes']} nodes of a federation, {r['recalls']} recalls | median {r['median_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms | raw gossipsub, same topology and size ({r['message_bytes']} B): median {r['raw_median_ms']:.0f} ms, p99 {r['raw_p99_ms']:.0f} ms | {r['ratio']:.2f}x | median ≤ 2x raw gossip |")
PY
)
row "$b3"
# B4: catch-up by sync after missing many events, beside raw ingest of the same records.
b4json=$("$bin/examples/catch_up" "$catchup")
b4=$(python3 - "$b4json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| B4 | catch-up by sync after missing {r['events']:,} events ({r['bytes']/1e6:.0f} MB) | {r['catch_up_seconds']:.1f} s | raw ingest (checks, rules, sled append and flush): {r['raw_ingest_seconds']:.1f} s | {r['ratio']:.2f}x | ≤ 2x raw ingest |")
PY
)
row "$b4"

# B5: footprint. Cold start of the store B2 filled, idle RSS, bytes on disk.
start=$(date +%s.%N)
"$bin/councild" run --data-dir "$keep" --listen 127.0.0.1:0 --p2p-listen /ip4/127.0.0.1/tcp/0 --log warn 2>/dev/null &
pid=$!
until COUNCIL_NODE_DIR=$keep "$bin/council" status >/dev/null 2>&1; do sleep 0.01; done
ready=$(date +%s.%N)
sleep 2
idle_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
# And idle: a new council of three members, nothing logged yet.
fresh=$work/b5-fresh
rm -rf "$fresh" && mkdir -p "$fresh"
founders=()
for i in 1 2 3; do founders+=(--founder "$("$bin/council" key new "$fresh/m$i.key")"); done
"$bin/councild" init --data-dir "$fresh/node" --name "Idle council" "${founders[@]}" >/dev/null
for i in 1 2 3; do "$bin/council" genesis sign --draft "$fresh/node/genesis.draft" --key "$fresh/m$i.key" >/dev/null; done
"$bin/councild" run --data-dir "$fresh/node" --listen 127.0.0.1:0 --p2p-listen /ip4/127.0.0.1/tcp/0 --log warn 2>/dev/null &
pid=$!
until COUNCIL_NODE_DIR=$fresh/node "$bin/council" status >/dev/null 2>&1; do sleep 0.01; done
sleep 2
fresh_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
b5=$(python3 - "$b2json" "$start" "$ready" "$idle_kb" "$fresh_kb" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); start, ready, idle, fresh = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
disk, payload = r["store_bytes_on_disk"], r["payload_bytes"]
print(f"| B5 | footprint: idle, new council; with {r['ballots']:,} ballots | idle RSS {fresh/1024:.0f} MB; with the ballots: RSS {idle/1024:.0f} MB, disk {disk/1e6:.0f} MB; start to API-ready {1000*(ready-start):.0f} ms | payload {payload/1e6:.1f} MB | disk {disk/payload:.1f}x payload | idle ≤ 30 MB; disk ≤ 2.5x; start ≤ 300 ms |")
PY
)
row "$b5"

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')
mem=$(free -g | awk '/Mem:/{print $2}')
{
  echo "# Benchmarks"
  echo
  echo "Written by \`scripts/bench.sh${quick:+ --quick}\` on $(date -u +%Y-%m-%d). Each figure stands beside the limit of the"
  echo "same machine, measured in the same run. The targets are goals, not test assertions."
  echo
  echo "Machine: $(nproc) cores, $cpu, $mem GiB."
  echo
  echo "| id | figure | measured | limit, same run | ratio | target |"
  echo "|---|---|---|---|---|---|"
  printf '%s\n' "${rows[@]}"
  echo
  echo "Commands: \`council sample --members $members --motions $motions --votes-per-motion $votes\`, then"
  echo "\`council verify\` (B1) beside \`cargo run --release -p council-cli --example raw_verify\`;"
  echo "\`cargo run --release -p council-node --example ingest -- $ingest 64\` (B2, and B5's store);"
  echo "\`councild run\` on that store, timed until \`council status\` answers, RSS read 2 s later, and on a"
  echo "new council of three members (idle RSS) (B5);"
  echo "\`cargo run --release -p council-node --example catch_up -- $catchup\` (B4)."
  echo
  echo "\`cargo run --release -p council-node --example propagation -- $fednodes $recalls\` (B3: every node runs the"
  echo "node's network task over its own sled store, in one process; each node dials up to three others)."
  echo
  echo "## What limits each figure"
  echo
  echo "- **B1.** \`council verify\` runs within a few per cent of raw \`verify_strict\` on all cores: the"
  echo "  signature checks are the whole cost, and decoding, hashing and the rules are small beside"
  echo "  them. The gap to raw batch verification (about 3.4x on this machine) is the protocol's"
  echo "  choice of strict, cofactorless verification (PROTOCOL.md §2): a batch check accepts some"
  echo "  signatures whose R has a small-order component that the strict check rejects, so a batch"
  echo "  fast path cannot reach the same verdicts. Closing the gap needs a protocol decision"
  echo "  (cofactored verification everywhere, as ZIP-215 does), not tuning."
  echo "- **B2.** Profiled with \`perf record --call-graph dwarf\` on \`examples/ingest 40000 64\`: the 64"
  echo "  client threads (HTTP, in the same process) take about a third of the machine. Of the"
  echo "  node's CPU time, strict verification of each ballot's signature is 30% (spread over both"
  echo "  cores), signing the log entry that carries it 16%, sled writes (the entry and two index"
  echo "  keys) 15%, and HTTP, JSON and hex most of the rest. Signing, applying and writing are"
  echo "  serial in the one writer (each entry links to the hash of the signed entry before it):"
  echo "  about 45 us per ballot, which alone caps a node near 22,000 ballots/s on any number of"
  echo "  cores. Reaching 25,000/s needs entry signing off that path (a protocol change: one entry"
  echo "  per batch of ballots, or links over entry bodies), not tuning; not done."
  echo "- **B3.** Profiled with perf on the 100-node run. Found and fixed: every node recomputed"
  echo "  whom it federates with (hashing every charter) on each hello, gossip and tick (29% of"
  echo "  all samples; now cached); every node asked every peer about all 100 councils every 5 s"
  echo "  (10,000 sync requests per interval competing with gossip; now 8 councils per tick, in"
  echo "  turn); and each hop waited for an fsync before forwarding (now sled flushes relayed"
  echo "  copies within 500 ms). What is left per hop: the entry's signatures checked, applied to"
  echo "  the node's copy of the log and written to sled before gossipsub may forward it, with a"
  echo "  hundred nodes on two cores. Since the sweep was narrowed, a newly founded 100-council"
  echo "  federation takes longer to converge at start (the example's set-up), not shown here."
  echo "- **B4.** A sync response carries 1000 entries; the node checks their signatures, applies"
  echo "  them through the council rules and appends them to sled with one flush, one response at a"
  echo "  time, on one thread, like the raw ingest beside it: the difference is the network round"
  echo "  trips and the node's other work."
  echo "- **B5.** Idle, a new council's node needs about 13 MB. With ballots, memory was mostly"
  echo "  the ballot box: keyed by a public key that also holds its decompressed point (over 200"
  echo "  bytes per member per motion); keyed by the 32 key bytes it halved the RSS (330 MB to"
  echo "  161 MB at 200,000 ballots). What remains: the state twice (the writer's and the network"
  echo "  task's copy, about 26 MB each at 200,000 ballots), sled's page cache (up to 32 MiB), and"
  echo "  allocator slack. Start-up replays the whole log through the council rules (no snapshot"
  echo "  yet): 1.2 s at 200,000 ballots, but 55 s at 1,000,000, far more than five times as long;"
  echo "  and a profile of start-up (perf, warm page cache: 13 s) puts 67% of it in sled's iterator"
  echo "  rebuilding pages from their scattered fragments as the log is read, the rules a small"
  echo "  part; cold, those reads go to a 4.5 GB file. A snapshot of the council's state (or a"
  echo "  store that keeps the log contiguous) would fix it; not done. On disk, each ballot is a log entry (the ballot, the"
  echo "  entry header and the node's signature, about 330 bytes for a 190-byte ballot) plus two"
  echo "  index keys, about 2.4x the payload before sled's own overhead; sled's log-structured file"
  echo "  holds several times that. The 2.5x target needs a leaner layout and a store that"
  echo "  compacts; not done."
} > docs/BENCHMARKS.md
echo
echo "written to docs/BENCHMARKS.md"
