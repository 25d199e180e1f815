#!/usr/bin/env bash
# Two councild nodes on a LAN of their own (two network namespaces joined by a veth
# pair, created here and removed at the end) find each other with mDNS.
#
#   sudo scripts/mdns-check.sh
#
# Needs root (for the namespaces); without it, it says so and exits 0 (skipped). No
# traffic leaves the namespaces. Set COUNCIL_BIN to a directory holding `council` and
# `councild` to skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null; then
  echo "skipped: needs root and iproute2 to create network namespaces"
  exit 0
fi
if [ -z "${COUNCIL_BIN:-}" ]; then
  cargo build --quiet --release -p council-cli -p councild
  COUNCIL_BIN=$("$root/scripts/target-dir")/release
fi
council=$COUNCIL_BIN/council
councild=$COUNCIL_BIN/councild

tag="cn$$"
work=$(mktemp -d "${TMPDIR:-/tmp}/councilnet-mdns.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del "${tag}a" 2>/dev/null || true
  ip netns del "${tag}b" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

ip netns add "${tag}a"
ip netns add "${tag}b"
ip link add "${tag}va" type veth peer name "${tag}vb"
ip link set "${tag}va" netns "${tag}a"
ip link set "${tag}vb" netns "${tag}b"
ip -n "${tag}a" addr add 10.213.0.1/24 dev "${tag}va"
ip -n "${tag}b" addr add 10.213.0.2/24 dev "${tag}vb"
for n in a b; do
  ip -n "$tag$n" link set lo up
  ip -n "$tag$n" link set "$tag"v$n up
  ip -n "$tag$n" route add 224.0.0.0/4 dev "$tag"v$n
done

cat >"$work/councild.toml" <<'EOF'
[network]
mdns = true
hello_grace_ms = 60000
EOF
start() {
  ip netns exec "$tag$1" "$councild" run --config "$work/councild.toml" --data-dir "$work/$1" \
    --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 --p2p-listen /ip4/0.0.0.0/tcp/0 --log info,council_net=debug,libp2p_swarm=debug 2>>"$work/$1.log" &
  pids+=($!)
}
for n in a b; do
  "$council" key new "$work/$n.key" >/dev/null
  "$councild" init --data-dir "$work/$n" --name "LAN council $n" --solo-key "$work/$n.key" >/dev/null
done
# Both start together, so that each finds the other in the same instant and both dial at
# once: the case that once kept them apart (a TCP simultaneous open; see
# crates/council-net/src/transport.rs).
start a
start b

# Each node must come to see the other connected (it stays connected during its hello
# grace; the councils do not federate, so each then refuses the other).
peer_id() { ip netns exec "$tag$1" "$council" --node-dir "$work/$1" --json network | python3 -c 'import json,sys; print(json.load(sys.stdin)["peer_id"])'; }
sees() {
  ip netns exec "$tag$1" "$council" --node-dir "$work/$1" --json network \
    | python3 -c "import json,sys; sys.exit(0 if any(p['peer']=='$2' for p in json.load(sys.stdin)['connected']) else 1)"
}
for _ in $(seq 1 100); do
  pa=$(peer_id a 2>/dev/null || true); pb=$(peer_id b 2>/dev/null || true)
  [ -n "$pa" ] && [ -n "$pb" ] && break
  sleep 0.2
done
[ -n "${pa:-}" ] && [ -n "${pb:-}" ] || { echo "FAILED: the nodes did not start"; tail "$work"/*.log; exit 1; }
# A node dials a peer when mDNS reports it, and mDNS reports it again only at its next
# query, minutes later: one failed dial would keep them apart, so no retry here.
for _ in $(seq 1 150); do
  if sees a "$pb" 2>/dev/null && sees b "$pa" 2>/dev/null; then
    grep -q "found on the local network" "$work/a.log" "$work/b.log" || true
    echo "ok: the two nodes found each other with mDNS and connected"
    exit 0
  fi
  sleep 0.2
done
echo "FAILED: the nodes did not find each other"
tail -n 20 "$work/a.log" "$work/b.log"
exit 1
