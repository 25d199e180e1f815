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

if [ -n "$quick" ]; then motions=40; ingest=20000; catchup=20000; fednodes="20"; recalls=5; simcouncils="100"; history=1000; nested="4 4 2 10"; else motions=2000; ingest=1000000; catchup=100000; fednodes="100 200"; recalls=20; simcouncils="100 300 1000"; history=25000; nested="10 10 10 50"; fi
members=500 votes=500

# Binaries and examples separately: naming an example limits a build to that target.
cargo build --quiet --release -p council-cli -p councild
cargo build --quiet --release -p council-cli --example raw_verify
cargo build --quiet --release -p council-node --example ingest --example catch_up --example propagation --example simulate --example history
cargo build --quiet --release -p council-core --example nested_scale
bin=$("$root/scripts/target-dir")/release
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
# The same on one core, to show how it scales.
/usr/bin/time -f '%e' -o "$work/b1-one.time" taskset -c 0 "$bin/council" verify "$file" >/dev/null
read -r b1_one < "$work/b1-one.time"
raw_one=$(RAYON_NUM_THREADS=1 taskset -c 0 "$bin/examples/raw_verify" "$file" zip215-batch)
b1=$(python3 - "$b1_wall" "$b1_rss" "$raw" "$b1_one" "$raw_one" <<'PY'
import json, sys
wall, rss, raw, one, raw_one = float(sys.argv[1]), int(sys.argv[2]), json.loads(sys.argv[3]), float(sys.argv[4]), json.loads(sys.argv[5])
n, zb = raw["signatures"], raw["zip215_batch_seconds"]
print(f"| B1 | `council verify`, {n:,} signatures, {raw['threads']} cores (and 1) | {wall:.1f} s, peak RSS {rss/1024:.0f} MB; 1 core {one:.1f} s | ZIP-215 batch {zb:.1f} s (1 core {raw_one['zip215_batch_seconds']:.1f} s); strict one by one {raw['strict_seconds']:.1f} s, with a table per key {raw['tables_seconds']:.1f} s; ed25519-dalek batch {raw['batch_seconds']:.1f} s | {wall/zb:.2f}x batch (1 core {one/raw_one['zip215_batch_seconds']:.2f}x) | ≤ 1.2x batch; RSS ≤ 100 MB |")
PY
)
row "$b1"

# B2: durable ingestion through the API, and B5's disk and start-up figures from its store.
keep="$work/ingest-node"
rm -rf "$keep"
b2json=$(COUNCILNET_BENCH_KEEP="$keep" "$bin/examples/ingest" "$ingest" 64)
b5json=$b2json
b2=$(python3 - "$b2json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| B2 | ballots acknowledged durably via the API, one per request (`POST /v1/votes`), {r['ballots']:,} ballots, {r['clients']} clients | {r['api_ballots_per_second']:,.0f}/s; p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms | signature checks (ZIP-215, one by one) + sled insert-and-flush: {r['raw_ballots_per_second']:,.0f}/s | {r['api_ballots_per_second']/r['raw_ballots_per_second']:.2f}x | ≥ 0.8x; p99 < 20 ms |")
PY
)
row "$b2"
# The same stream in batches (`POST /v1/batch`), beside the raw limit with the signatures
# checked in batches too, as the endpoint checks them.
b2json=$("$bin/examples/ingest" "$ingest" 4 256)
b2=$(python3 - "$b2json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| B2 | the same, {r['per_request']} ballots per request (`POST /v1/batch`), {r['clients']} clients | {r['api_ballots_per_second']:,.0f}/s; per request p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms | signature checks (ZIP-215, batches of 1,024) + sled insert-and-flush: {r['raw_batch_ballots_per_second']:,.0f}/s (one by one: {r['raw_ballots_per_second']:,.0f}/s) | {r['api_ballots_per_second']/r['raw_batch_ballots_per_second']:.2f}x (one by one: {r['api_ballots_per_second']/r['raw_ballots_per_second']:.2f}x) | ≥ 0.8x; p99 < 20 ms |")
PY
)
row "$b2"
# B3: a federation of real nodes in one process: every log held everywhere (from logs an
# hour old, so by sync), then recall propagation beside raw gossipsub on the same topology.
for nodes in $fednodes; do
  b3json=$("$bin/examples/propagation" "$nodes" "$recalls" 2>/dev/null)
  b3=$(python3 - "$b3json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
print(f"| B3 | {r['nodes']} councils: every log held by every node; then a recall validated and stored at all nodes, {r['recalls']} recalls | converged in {r['converged_seconds']:.1f} s; recall median {r['median_ms']:.0f} ms, p99 {r['p99_ms']:.0f} ms | raw gossipsub, same topology and size ({r['message_bytes']} B): median {r['raw_median_ms']:.0f} ms, p99 {r['raw_p99_ms']:.0f} ms | {r['ratio']:.2f}x | converged ≤ 30 s; median ≤ 1.5x raw gossip; p99 ≤ 100 ms |")
PY
)
  row "$b3"
done
# B6: the network's decisions (council_node::proto) at scale, in the seeded simulator:
# loss, a partition, restarts and a leave; per-node load per entry beside the mesh size.
for councils in $simcouncils; do
  b6json=$("$bin/examples/simulate" "$councils" 1)
  b6=$(python3 - "$b6json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
conv = r['converged_after_last_entry_ms']
conv = f"{conv/1000:.1f} s" if conv is not None else "not within the limit"
rall = f"{r['recall_all_ms']/1000:.1f} s" if r['recall_all_ms'] is not None else "never"
print(f"| B6 | {r['councils']} councils simulated (seed {r['seed']}, {r['entries']} entries over 20 s; 1% gossip loss, a tenth partitioned 5 s, a tenth restarted, one leaving) | converged {conv} after the last entry; recall median {r['recall_median_ms']} ms, all {rall}; per node per entry: {r['gossip_per_node_per_entry']:.1f} gossip copies ({r['gossip_bytes_per_node_per_entry']:.0f} B), {r['repair_per_node_per_entry']:.2f} heads/sync messages ({r['repair_bytes_per_node_per_entry']:.0f} B); heads {r['heads_bytes_per_node_per_s']/1000:.1f} kB/s per node; leaked to the leaver: {r['leaked_to_leaver']} | gossipsub mesh D = 6 copies per entry | {r['gossip_per_node_per_entry']/6:.2f}x D | converged ≤ 10 s after the last entry; per-node load per entry O(degree) |")
PY
)
  row "$b6"
done
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
"$bin/councild" run --data-dir "$keep" --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 --p2p-listen /ip4/127.0.0.1/tcp/0 --log warn 2>/dev/null &
pid=$!
until COUNCIL_NODE_DIR=$keep "$bin/council" status >/dev/null 2>&1; do sleep 0.01; done
ready=$(date +%s.%N)
sleep 2
idle_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
# Again. (A node that stops cleanly has sled record where its pages are, so that the
# next start need not scan what the run wrote: the ingest's stop paid for that.)
start2=$(date +%s.%N)
"$bin/councild" run --data-dir "$keep" --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 --p2p-listen /ip4/127.0.0.1/tcp/0 --log warn 2>/dev/null &
pid=$!
until COUNCIL_NODE_DIR=$keep "$bin/council" status >/dev/null 2>&1; do sleep 0.01; done
ready2=$(date +%s.%N)
kill -TERM $pid; wait $pid || true
# And idle: a new council of three members, nothing logged yet.
fresh=$work/b5-fresh
rm -rf "$fresh" && mkdir -p "$fresh"
founders=()
for i in 1 2 3; do founders+=(--founder "$("$bin/council" key new "$fresh/m$i.key")"); done
"$bin/councild" init --data-dir "$fresh/node" --name "Idle council" "${founders[@]}" >/dev/null
for i in 1 2 3; do "$bin/council" genesis sign --draft "$fresh/node/genesis.draft" --key "$fresh/m$i.key" >/dev/null; done
"$bin/councild" run --data-dir "$fresh/node" --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 --p2p-listen /ip4/127.0.0.1/tcp/0 --log warn 2>/dev/null &
pid=$!
until COUNCIL_NODE_DIR=$fresh/node "$bin/council" status >/dev/null 2>&1; do sleep 0.01; done
sleep 2
fresh_kb=$(awk '/VmRSS/{print $2}' /proc/$pid/status)
kill -TERM $pid; wait $pid || true
b5=$(python3 - "$b5json" "$start" "$ready" "$idle_kb" "$fresh_kb" "$start2" "$ready2" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); start, ready, idle, fresh = float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
again = float(sys.argv[7]) - float(sys.argv[6])
disk, payload = r["store_bytes_on_disk"], r["payload_bytes"]
live = r["store_live"]
held = ", ".join(f"{k} {v['bytes']/1e6:.0f} MB" for k, v in sorted(live.items(), key=lambda kv: -kv[1]["bytes"]) if v["bytes"] >= 1e6)
print(f"| B5 | footprint: idle, new council; with {r['ballots']:,} ballots | idle RSS {fresh/1024:.0f} MB; with the ballots: RSS {idle/1024:.0f} MB, disk {disk/1e6:.0f} MB (live keys and values {sum(v['bytes'] for v in live.values())/1e6:.0f} MB: {held}); start to API-ready {1000*(ready-start):.0f} ms (first after the ingest, whose stop took {r['stop_seconds']:.1f} s), {1000*again:.0f} ms (again) | payload {payload/1e6:.1f} MB | disk {disk/payload:.1f}x payload | idle ≤ 30 MB; disk ≤ 2.5x; start ≤ 300 ms |")
PY
)
row "$b5"

# B7: what a long history costs: the same vote load on a fresh council and after
# $history motions were opened, voted on and closed; memory at rest, and after a restart.
b7json=$("$bin/examples/history" "$bin/councild" "$history" 8000)
b7=$(python3 - "$b7json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
rate, p99 = r["fresh_per_second"] / r["history_per_second"], r["history_p99_ms"] / r["fresh_p99_ms"]
print(f"| B7 | history: {r['motions']:,} closed motions ({r['ballots_per_motion']} ballots each), then {r['votes']:,} ballots from {r['clients']} clients | {r['history_per_second']:,.0f}/s, p99 {r['history_p99_ms']:.1f} ms; RSS at rest {r['rss_at_rest_kb']/1024:.0f} MB ({r['anon_at_rest_kb']/1024:.0f} MB heap), after a restart {r['rss_after_restart_kb']/1024:.0f} MB ({r['anon_after_restart_kb']/1024:.0f} MB heap); largest member answer {r['largest_answer_bytes']/1024:.0f} kB (`{r['largest_answer']}`) | the same council fresh: {r['fresh_per_second']:,.0f}/s, p99 {r['fresh_p99_ms']:.1f} ms | {rate:.2f}x slower, p99 {p99:.2f}x | rate and p99 within 1.2x of fresh; RSS ≤ 100 MB at rest and after a restart; no answer over 1 MB |")
PY
)
row "$b7"

# B8: federations of federations, three levels: what one node holds (its local
# federation whole, every other council as a federation-level copy, PROTOCOL.md §12.9) and
# receives by gossip, beside every log whole.
# shellcheck disable=SC2086
b8json=$("$bin/examples/nested_scale" $nested | tail -n1)
b8=$(python3 - "$b8json" <<'PY'
import json, sys
r = json.loads(sys.argv[1])
mb = lambda b: b / 1e6
held = r["local_whole_bytes"] + r["others_federation_bytes"]
every = r["local_whole_bytes"] + r["others_whole_bytes"]
print(f"| B8 | federations of federations: {r['councils']:,} councils in three levels, {r['entries']:,} log entries ({r['federation_entries']:,} federation level); a node of one local council | holds {mb(held):.2f} MB (its local federation whole, {mb(r['local_whole_bytes']):.2f} MB; the rest as copies); receives {mb(r['received_bytes']):.2f} MB by gossip ({r['received_bytes'] / every:.2f}x); `council verify` of its holding {r['verify_held_seconds']:.1f} s, of every log {r['verify_seconds']:.1f} s | every log whole: {mb(every):.2f} MB | holds {held / every:.2f}x, receives {r['received_bytes'] / every:.2f}x | no ballot of a council outside its own federations (its holding decides the top federation as every log does: checked) |")
PY
)
row "$b8"

notes=$(sed -n '/^## What limits each figure/,$p' docs/BENCHMARKS.md 2>/dev/null || true)
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
  echo "\`council verify\` (B1) beside \`cargo run --release -p council-cli --example raw_verify\`, and both again under"
  echo "\`taskset -c 0\` (the example with \`RAYON_NUM_THREADS=1\` and \`zip215-batch\`);"
  echo "\`cargo run --release -p council-node --example ingest -- $ingest 64\` (B2, and B5's store), and"
  echo "\`... ingest -- $ingest 4 256\` (B2 in batches);"
  echo "\`councild run\` on that store, timed until \`council status\` answers, RSS read 2 s later, then"
  echo "stopped and timed once more, and on a new council of three members (idle RSS) (B5);"
  echo "\`cargo run --release -p council-node --example catch_up -- $catchup\` (B4)."
  echo "\`cargo run --release -p council-node --example history -- COUNCILD $history 8000\` (B7: a \`councild\` process;"
  echo "RSS read from /proc 2 s after the load, and 2 s after a restart)."
  echo
  echo "\`cargo run --release -p council-node --example propagation -- N $recalls\` for N in $fednodes (B3: every node runs the"
  echo "node's network task over its own sled store, in one process; each node dials up to three others)."
  echo
  echo "\`cargo run --release -p council-node --example simulate -- N 1\` for N in $simcouncils (B6: every node runs"
  echo "\`council_node::proto::Peering\`, the node's network decisions, over a simulated network; see"
  echo "\`crates/council-node/examples/sim/mod.rs\` for what is modelled and what is not)."
  echo
  echo "\`cargo run --release -p council-core --example nested_scale -- $nested\` (B8: councils per local federation,"
  echo "local federations per region, regions, ballots per council; every record made by the rules the node uses)."
  echo
  # The analysis below the table is prose kept in docs/BENCHMARKS.md itself: carried over.
  if [ -n "$notes" ]; then printf '%s\n' "$notes"; else echo "## What limits each figure"; fi
} > docs/BENCHMARKS.md
echo
echo "written to docs/BENCHMARKS.md"
