#!/usr/bin/env bash
# Try councilnet on one machine, in a few seconds: build, start a council with five
# members on councild's built-in defaults, vote, pass a mandate, recall it by petition,
# export the council's record and verify it offline. Everything lives in one directory
# (default ./council-try, or the first argument) and the node is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
dir=$(realpath -m "${1:-$root/council-try}")

step() { printf '\n== %s\n' "$*"; }

step "building (release)"
cargo build --quiet --release -p council-cli -p councild
target=$("$root/scripts/target-dir")
council=$target/release/council
councild=$target/release/councild

rm -rf "$dir" && mkdir -p "$dir"
cd "$dir"

step "five members make their own keys"
founders=()
for i in 1 2 3 4 5; do
  did=$("$council" key new "member$i.key")
  echo "member $i: $did"
  founders+=(--founder "$did")
done

step "the operator creates the council; each founder signs its genesis"
"$councild" init --data-dir node --name "Try-out Council" "${founders[@]}" >/dev/null
for i in 1 2 3 4 5; do "$council" genesis sign --draft node/genesis.draft --key "member$i.key"; done

step "starting councild (built-in defaults; API and network on free ports of 127.0.0.1)"
"$councild" run --data-dir node --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 --p2p-listen /ip4/127.0.0.1/tcp/0 2>node.log &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT
export COUNCIL_NODE_DIR=$dir/node
up=""
for _ in $(seq 1 300); do
  if "$council" status >/dev/null 2>&1; then up=1; break; fi
  sleep 0.1
done
if [ -z "$up" ]; then echo "councild did not start; its log:"; cat node.log; exit 1; fi
"$council" status

step "a motion, and the members vote (member 2 changes their mind; it stays open until its closing time, as any ballot may still change)"
"$council" motion open --key member1.key --title "Adopt the four-day week" --closes-in 1h
motion=$("$council" --json motion list | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
"$council" vote --key member1.key "$motion" yes
"$council" vote --key member2.key "$motion" no
"$council" vote --key member2.key "$motion" yes
"$council" vote --key member3.key "$motion" yes
"$council" motion show "$motion"

step "a mandate for member 5 as delegate, passed by the members"
federation=$(printf 'f%.0s' $(seq 1 64))
"$council" mandate --key member1.key --delegate "$("$council" key show member5.key)" \
  --federation "$federation" --matter wages --instruct wages=0 --closes-in 1h
mandate_motion=$("$council" --json motion list | python3 -c 'import json,sys; print(json.load(sys.stdin)[-1]["id"])')
for i in 1 2 3; do "$council" vote --final --key "member$i.key" "$mandate_motion" yes; done
mandate=$("$council" --json status | python3 -c 'import json,sys; print(json.load(sys.stdin)["mandates"][-1]["id"])')

step "the members recall the delegate by petition"
for i in 1 2 3; do "$council" recall sign --key "member$i.key" "$mandate"; done

step "export, stop the node, verify offline"
"$council" export --out council.cnx
kill -TERM $pid && wait $pid || true
trap - EXIT
"$council" verify council.cnx
echo
echo "done: the council's data is in $dir"
