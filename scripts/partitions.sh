#!/usr/bin/env bash
# Partitions: five councild nodes, each in a network namespace of its own, wired by veth
# pairs to two bridges (br0, br1) in a hub namespace; all of it is created here and
# removed at the end, also on failure. The five councils found one federation. Then, each
# cycle:
#   - a random partition: the veths of one or two nodes (chosen at random) move from br0
#     to br1, which cuts them off from the others without closing any connection (a
#     silent partition, as a broken link or a switch failure would be);
#   - on both sides meanwhile: council motions and ballots, mandates, recalls (by petition
#     and by motion), federation motions and delegate votes; every acknowledged record
#     is noted (council, seq, record hash);
#   - sometimes a restart: a random node is stopped (SIGTERM or SIGKILL) under ballot
#     load, then started again on the same data directory; every record it acknowledged
#     must still be in its log;
#   - the heal: every veth back on br0. Within 10 s every node must reach the same state
#     digest, and every acknowledged record must be within its council's log there.
# At the end, every node's export must verify offline (`council verify`) and hold every
# acknowledged record at the place it was acknowledged at.
#
#   sudo scripts/partitions.sh [CYCLES]     (default 3; the full run is 100)
#
# The state digest of a node is the SHA-256 of (canonical JSON):
#   - (council, entries, head) for each of the five councils' logs as the node holds
#     them: its own from `council status`, the four others from `council network`
#     (`followed`), sorted by council; the head hashes the whole log, so equal triples
#     mean the same logs, entry for entry;
#   - from `council federation list`: `forked` (sorted), `void_events` (sorted), and
#     `federations` (every federation's members, motions, delegate votes and their
#     status), which every node computes from those same logs.
#
# Needs root and iproute2 (for the namespaces); without them it says so and exits 0
# (skipped). No traffic leaves the namespaces: the nodes have no route but their own
# 10.214.0.0/24 link. Environment: COUNCIL_BIN, a directory holding `council` and
# `councild` (skips the build); SEED, to replay a run's random choices (partitions,
# restarts, motions); HOLD, the longest a partition is held in seconds (default 20) and
# HOLD_MIN the shortest (default 0); KEEP=DIR, to copy the work directory (logs, data,
# exports) there at the end; PARTITIONS_LOG, the nodes' log filter (default info).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cycles=${1:-3}
case $cycles in '' | *[!0-9]*) echo "usage: $0 [CYCLES]" >&2; exit 2 ;; esac

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
python=$(python3 -c 'import sys; print(sys.executable)')
seed=${SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$seed
hold_max=${HOLD:-20}
hold_min=${HOLD_MIN:-0}
loglevel=${PARTITIONS_LOG:-info}
BOUND=10 # seconds from a heal to the same digest on every node; not to be loosened

N=5
tag="cp$$"
hub="${tag}hub"
work=$(mktemp -d "${TMPDIR:-/tmp}/councilnet-partitions.XXXXXX")
acks=$work/acks.tsv
: >"$acks"
declare -a pid cid addr
loadpid=
cleanup() {
  set +e
  [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null
  for i in $(seq 1 $N); do [ -n "${pid[$i]:-}" ] && kill -TERM "${pid[$i]}" 2>/dev/null; done
  for i in $(seq 1 $N); do
    [ -n "${pid[$i]:-}" ] || continue
    for _ in $(seq 1 50); do kill -0 "${pid[$i]}" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "${pid[$i]}" 2>/dev/null
    wait "${pid[$i]}" 2>/dev/null
  done
  for i in $(seq 1 $N); do ip netns del "${tag}n$i" 2>/dev/null; done
  ip netns del "$hub" 2>/dev/null
  if [ -n "${KEEP:-}" ]; then cp -r "$work" "$KEEP" && echo "work directory (logs, data, exports) copied to $KEEP" >&2; fi
  rm -rf "$work"
  return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM

fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  for i in $(seq 1 $N); do
    echo "--- last lines of node $i's log:" >&2
    tail -n 25 "$work/n$i.log" 2>/dev/null | sed 's/\x1b\[[0-9;]*m//g' >&2 || true
  done
  echo "(seed $seed)" >&2
  exit 1
}
now() { echo "$EPOCHREALTIME"; }
since() { "$python" -c "import sys; print('%.2f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$(now)"; }

# The JSON side: digests, acknowledgements, and reading export files.
cat >"$work/cp.py" <<'PY'
import hashlib, json, sys

def load(p):
    with open(p) as f:
        return json.load(f)

def state(d, i):
    st, nw, fd = load(f"{d}/status.{i}.json"), load(f"{d}/network.{i}.json"), load(f"{d}/feds.{i}.json")
    logs = {st["id"]: (st["entries"], st["head"])}
    for f in nw["followed"]:
        logs[f["council"]] = (f["entries"], f["head"])
    doc = {
        "logs": sorted([c, e, h] for c, (e, h) in logs.items()),
        "forked": sorted(fd["forked"]),
        "void_events": sorted(fd["void_events"], key=lambda v: (v["council"], v["seq"], v["reason"])),
        "federations": fd["federations"],
    }
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()
    return logs, digest, doc

def read_acks(p):
    out = []
    with open(p) as f:
        for line in f:
            kind, council, seq, record, *extra = line.split()
            out.append((kind, council, int(seq), record, extra))
    return out

def converged(d, n, acks):
    """Exit 0 if every node has the same digest and holds every acknowledged record's
    place; 1 if not (yet); 2 if they agree but an acknowledged record is missing."""
    states = {}
    for i in range(1, n + 1):
        try:
            states[i] = state(d, i)
        except Exception as e:
            print(f"node {i}: no state ({e.__class__.__name__})")
            return 1
    digests = {i: s[1] for i, s in states.items()}
    if len(set(digests.values())) != 1:
        councils = sorted({c for s in states.values() for c in s[0]})
        for i, (logs, dg, _) in states.items():
            print(f"node {i}: {dg[:12]} " + " ".join(f"{c[:6]}:{logs.get(c, ('-',))[0]}" for c in councils))
        return 1
    logs = states[1][0]
    if len(logs) != n:
        print(f"the nodes agree but hold {len(logs)} logs, not {n}")
        return 1
    for kind, council, seq, record, _ in read_acks(acks):
        have = logs.get(council, (0,))[0]
        if have < seq:
            print(f"LOST: {kind} {record[:12]} acknowledged at {council[:8]}#{seq}; the logs hold {have} entries")
            return 2
    print(digests[1])
    return 0

def explain(d, n):
    """Prints what differs between the nodes' states."""
    states = {}
    for i in range(1, n + 1):
        try:
            states[i] = state(d, i)
        except Exception as e:
            print(f"node {i}: no state ({e})")
    if not states:
        return
    ref = states[min(states)][2]
    for i, (_, dg, doc) in states.items():
        diffs = [k for k in doc if doc[k] != ref[k]]
        print(f"node {i}: digest {dg[:16]} logs " + " ".join(f"{c[:6]}:{e}:{h[:6]}" for c, e, h in doc["logs"])
              + (f"  differs from node {min(states)} in: {', '.join(diffs)}" if diffs else ""))

# --- export files (canonical CBOR, definite lengths only) ---
class Arr(list):
    spans = None

def item(b, i):
    ib = b[i]
    mt, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        v = ai
    elif ai in (24, 25, 26, 27):
        k = 1 << (ai - 24)
        v = int.from_bytes(b[i:i + k], "big")
        i += k
    else:
        raise ValueError("indefinite length")
    if mt == 0:
        return v, i
    if mt == 1:
        return -1 - v, i
    if mt == 2:
        return bytes(b[i:i + v]), i + v
    if mt == 3:
        return b[i:i + v].decode(), i + v
    if mt == 4:
        out = Arr()
        out.spans = []
        for _ in range(v):
            s = i
            x, i = item(b, i)
            out.append(x)
            out.spans.append((s, i))
        return out, i
    if mt == 5:
        m = {}
        for _ in range(v):
            k, i = item(b, i)
            x, i = item(b, i)
            m[k if not isinstance(k, list) else repr(k)] = x
        return m, i
    if mt == 6:
        return item(b, i)
    return {20: False, 21: True, 22: None}.get(ai, v), i

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

def did(key):
    raw = b"\xed\x01" + key
    n = int.from_bytes(raw, "big")
    s = ""
    while n:
        n, r = divmod(n, 58)
        s = B58[r] + s
    return "did:key:z" + "1" * (len(raw) - len(raw.lstrip(b"\0"))) + s

def read_export(path):
    """{council hex: {seq: (payload kind, record hash, petition (mandate, signer) or None)}}"""
    b = open(path, "rb").read()
    logs, i = {}, 0
    while i < len(b):
        x, j = item(b, i)
        if x[0] == "entry":
            entry = x[1]
            body = entry[0]
            council, seq, payload = body[1].hex(), body[2], body[5]
            kind, rec, pet = payload[0], None, None
            if kind in ("motion", "vote", "petition", "delegate-vote"):
                s, e = payload.spans[1]
                rec = hashlib.sha256(b[s:e]).hexdigest()
                if kind == "petition":
                    signed = payload[1]
                    pet = (signed[0][2].hex(), did(signed[1]))
            logs.setdefault(council, {})[seq] = (kind, rec, pet)
        i = j
    return logs

def check_export(path, acks):
    logs = read_export(path)
    bad = 0
    for kind, council, seq, record, extra in read_acks(acks):
        log = logs.get(council, {})
        if kind == "petition":
            mandate, signer = extra
            ok = any(p == (mandate, signer) and s <= seq for s, (_, _, p) in log.items())
        else:
            ok = seq in log and log[seq][1] == record
        if not ok:
            bad += 1
            if bad <= 10:
                got = log.get(seq)
                print(f"MISSING in {path}: {kind} {record[:12]} at {council[:8]}#{seq} (there: {got[0] + ' ' + str(got[1])[:12] if got else 'nothing'})")
    return bad

def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "converged":
        sys.exit(converged(args[0], int(args[1]), args[2]))
    elif cmd == "explain":
        explain(args[0], int(args[1]))
    elif cmd == "ack":
        # ack KIND COUNCIL [EXTRA...] < the CLI's JSON answer: one line for acks.tsv
        kind, council, extra = args[0], args[1], args[2:]
        r = json.load(sys.stdin)
        print("\t".join([kind, council, str(r["seq"]), r["record"], *extra]))
    elif cmd == "get":
        # get EXPR < JSON: prints EXPR over `d`
        d = json.load(sys.stdin)
        v = eval(args[0], {"d": d})
        print(v if not isinstance(v, (list, dict)) else json.dumps(v))
    elif cmd == "check-export":
        bad = check_export(args[0], args[1])
        n = sum(1 for _ in open(args[1]))
        print(f"{n - bad} of {n} acknowledged records at their place")
        sys.exit(1 if bad else 0)
    elif cmd == "stats":
        # stats TIMES...: max and median
        t = sorted(float(x) for x in args)
        med = (t[len(t) // 2] + t[(len(t) - 1) // 2]) / 2 if t else 0
        print(f"{max(t) if t else 0:.2f} {med:.2f}")
    else:
        sys.exit(f"unknown command {cmd}")

main()
PY
py() { "$python" "$work/cp.py" "$@"; }

# c I ARGS...: the council command against node I, inside its namespace.
c() { local i=$1; shift; ip netns exec "${tag}n$i" "$council" --node-dir "$work/n$i" "$@"; }
key() { echo "$work/k$1-$2.key"; }

echo "== partitions: $cycles cycles, seed $seed, partitions held up to ${hold_max}s, work in $work"

# --- the network: a hub namespace with two bridges, five node namespaces -------------
ip netns add "$hub"
ip -n "$hub" link set lo up
for br in br0 br1; do
  ip -n "$hub" link add "$br" type bridge
  ip -n "$hub" link set "$br" up
done
for i in $(seq 1 $N); do
  ip netns add "${tag}n$i"
  ip -n "$hub" link add "h$i" type veth peer name eth0 netns "${tag}n$i"
  ip -n "$hub" link set "h$i" master br0 up
  ip -n "${tag}n$i" link set lo up
  ip -n "${tag}n$i" addr add "10.214.0.$i/24" dev eth0
  ip -n "${tag}n$i" link set eth0 up
done
side=(x 0 0 0 0 0) # side[i]: 0 on br0, 1 on br1
partition() {
  for i in $(seq 1 $N); do ip -n "$hub" link set "h$i" master "br${side[$i]}"; done
}

# Short intervals, so that a heal is followed within the 10 s bound by what the node does
# on its own timers: sync_interval_ms is how often it redials lost peers, asks for missed
# entries and probes its peers (one that leaves a probe unanswered for three intervals is
# taken for gone, its connections closed and redialed); 5 s by default, half the bound.
# discovery_interval_ms is how often it looks for member nodes it is not connected to
# (30 s by default); heartbeat_ms the gossipsub heartbeat (mesh repair, gossip of recent
# message ids; 1 s by default). hello_grace_ms is shortened only so that a test run does
# not keep strangers around. Every node is also given the four others' addresses
# (`--peer`), as an operator would on a LAN.
cat >"$work/councild.toml" <<'EOF'
[network]
sync_interval_ms = 1000
discovery_interval_ms = 2000
heartbeat_ms = 200
hello_grace_ms = 5000
EOF

start_node() {
  local i=$1 j peers=()
  if [ -n "${addr[1]:-}" ]; then
    for j in $(seq 1 $N); do [ "$j" != "$i" ] && peers+=(--peer "${addr[$j]}"); done
  fi
  ip netns exec "${tag}n$i" "$councild" run --config "$work/councild.toml" --data-dir "$work/n$i" \
    --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 --p2p-listen "/ip4/10.214.0.$i/tcp/7421" "${peers[@]}" --log "$loglevel" \
    2>>"$work/n$i.log" &
  pid[$i]=$!
}
wait_api() {
  local i=$1 end=$((SECONDS + 60))
  until c "$i" status >/dev/null 2>&1; do
    kill -0 "${pid[$i]}" 2>/dev/null || fail "node $i exited"
    [ $SECONDS -lt $end ] || fail "node $i's API does not answer"
    sleep 0.1
  done
}
# wait_for WHAT SECONDS COMMAND...
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for: $what"
    sleep 0.3
  done
}

# ack KIND I CLI-ARGS...: runs the command on node I with --json and notes the record it
# acknowledges. Fails the run if the command fails.
ack() {
  local kind=$1 i=$2 out; shift 2
  out=$(c "$i" --json "$@" 2>"$work/err") || fail "node $i: council $* failed: $(tail -n 2 "$work/err")"
  py ack "$kind" "${cid[$i]}" <<<"$out" >>"$acks"
}
# motion I CLI-ARGS...: like ack, for a command that opens a motion; prints the motion's id
# (the id is the hash of the motion's body, the record hash is of the signed record).
motion() {
  local i=$1; shift
  ack motion "$i" "$@"
  c "$i" --json motion list | py get 'd[-1]["id"]'
}
# pass I MOTION: two of the three members vote yes for good (the act rule's majority;
# final ballots let it close at once).
pass() {
  ack vote "$1" vote --final --key "$(key "$1" m1)" "$2" yes
  ack vote "$1" vote --final --key "$(key "$1" m2)" "$2" yes
}
# petition I MANDATE MEMBER: signs the recall petition; notes (mandate, signer) with the
# log length just after as the bound on its place (the CLI prints the mandate, not the
# entry).
petition() {
  local i=$1 m=$2 who=$3 n
  c "$i" --json recall sign --key "$(key "$i" "$who")" "$m" >/dev/null 2>"$work/err" \
    || fail "node $i: recall sign failed: $(tail -n 2 "$work/err")"
  n=$(c "$i" --json status | py get 'd["entries"]')
  printf 'petition\t%s\t%s\tpetition\t%s\t%s\n' "${cid[$i]}" "$n" "$m" "$("$council" key show "$(key "$i" "$who")")" >>"$acks"
}

# --- five councils, three members each ------------------------------------------------
for i in $(seq 1 $N); do
  founders=()
  for m in m1 m2 m3; do founders+=(--founder "$("$council" key new "$(key "$i" $m)")"); done
  "$councild" init --data-dir "$work/n$i" --name "Council $i" "${founders[@]}" >/dev/null
  for m in m1 m2 m3; do "$council" genesis sign --draft "$work/n$i/genesis.draft" --key "$(key "$i" $m)" >/dev/null; done
  start_node "$i"
done
for i in $(seq 1 $N); do
  wait_api "$i"
  cid[$i]=$(c "$i" --json status | py get 'd["id"]')
  addr[$i]="/ip4/10.214.0.$i/tcp/7421/p2p/$(c "$i" --json network | py get 'd["peer_id"]')"
done
for i in $(seq 1 $N); do
  for j in $(seq 1 $N); do [ "$i" != "$j" ] && c "$i" peer add "${addr[$j]}" >/dev/null; done
done
echo "five nodes up: ${addr[*]}"

# --- the federation: all five found it -----------------------------------------------
{
  echo 'name = "Partition Test Federation"'
  echo 'principles = ["Delegates carry imperative mandates and can be recalled at any time."]'
  printf 'founders = [%s]\n' "$(for i in $(seq 1 $N); do printf '"%s",' "${cid[$i]}"; done | sed 's/,$//')"
  echo 'created_at = "2026-11-22T09:00:00Z"'
  echo '[rules]'
  echo 'admission = "majority"'
  echo 'motion_quorum = "1/2"'
  echo 'motion_threshold = "majority"'
} >"$work/charter.toml"
for i in $(seq 1 $N); do
  m=$(motion "$i" federation create --key "$(key "$i" m1)" "$work/charter.toml" --closes-in 1h)
  pass "$i" "$m"
done
FED=$(c 1 --json federation list | py get 'd["federations"][0]["id"]')
founded() {
  [ "$(c "$1" --json federation show "$FED" \
    | py get '1 if d["founded_at"] is not None and len([m for m in d["members"] if m["left_at"] is None]) == 5 else 0')" = 1 ]
}
for i in $(seq 1 $N); do wait_for "node $i sees the federation founded by all five" 90 founded "$i"; done
echo "federation $FED founded by the five councils"
# Each council's load motion: node restarts happen under ballots on it (one member
# changing their vote, so it never closes).
declare -a loadm
for i in $(seq 1 $N); do
  loadm[$i]=$(motion "$i" motion open --key "$(key "$i" m1)" --title "load on council $i" --closes-in 24h)
done

# --- the state digest -----------------------------------------------------------------
snap=$work/snap
mkdir -p "$snap"
snapshot() {
  local i ps=()
  rm -f "$snap"/*.json
  for i in $(seq 1 $N); do
    (
      c "$i" --json status >"$snap/status.$i.tmp" 2>/dev/null && mv "$snap/status.$i.tmp" "$snap/status.$i.json"
      c "$i" --json network >"$snap/network.$i.tmp" 2>/dev/null && mv "$snap/network.$i.tmp" "$snap/network.$i.json"
      c "$i" --json federation list >"$snap/feds.$i.tmp" 2>/dev/null && mv "$snap/feds.$i.tmp" "$snap/feds.$i.json"
    ) &
    ps+=($!)
  done
  wait "${ps[@]}"
}
# converge LIMIT: polls until every node has the same digest; sets conv (seconds since
# $healed) and digest. Returns 1 if not within LIMIT seconds, 2 if a record is lost.
converge() {
  local limit=$1 out rc
  while :; do
    snapshot
    rc=0
    out=$(py converged "$snap" $N "$acks") || rc=$?
    conv=$(since "$healed")
    if [ $rc = 0 ]; then digest=$out; return 0; fi
    [ $rc = 2 ] && { echo "$out"; return 2; }
    if [ "$("$python" -c "import sys; print(int(float(sys.argv[1]) > float(sys.argv[2])))" "$conv" "$limit")" = 1 ]; then
      return 1
    fi
    sleep 0.1
  done
}
healed=$(now)
converge 60 || { py explain "$snap" $N; fail "the five nodes do not reach one state after set-up"; }
echo "set-up converged: digest ${digest:0:16}"

# --- what happens on a council while partitioned ---------------------------------------
declare -a fedvotes=(x 0 0 0 0 0) refused=(x 0 0 0 0 0)
ops() {
  local i=$1 n=$2 m st mandate fm
  # A council motion and a ballot or two, final (two yes pass it; yes and no leave it open).
  m=$(motion "$i" motion open --key "$(key "$i" m1)" --title "cycle $n on council $i" --closes-in 1h)
  ack vote "$i" vote --final --key "$(key "$i" m1)" "$m" yes
  case $((RANDOM % 3)) in
    0) ack vote "$i" vote --final --key "$(key "$i" m2)" "$m" yes ;;
    1) ack vote "$i" vote --final --key "$(key "$i" m2)" "$m" no ;;
    2) ack vote "$i" vote --final --key "$(key "$i" m3)" "$m" abstain ;;
  esac
  st=$(c "$i" --json status)
  mandate=$(py get '([m["id"] for m in d["mandates"] if m["status"] == "in force"] or [""])[-1]' <<<"$st")
  if [ -n "$mandate" ]; then
    # The delegate votes on up to two open federation motions this node knows of (the
    # node refuses a vote the federation would void: that one is not acknowledged).
    for fm in $(c "$i" --json federation show "$FED" \
      | py get '" ".join([m["id"] for m in d["motions"] if m["outcome"] is None][-2:])'); do
      local choice=yes
      [ $((RANDOM % 2)) = 0 ] && choice=no
      if out=$(c "$i" --json delegate vote --key "$(key "$i" m1)" "$FED" "$fm" "$choice" 2>"$work/err"); then
        py ack delegate-vote "${cid[$i]}" <<<"$out" >>"$acks"
        fedvotes[$i]=$((fedvotes[$i] + 1))
      elif grep -q 'void-in-federation\|would void' "$work/err"; then
        refused[$i]=$((refused[$i] + 1))
      else
        fail "node $i: delegate vote failed: $(tail -n 2 "$work/err")"
      fi
    done
    # Sometimes a federation motion on the delegates' matter.
    if [ $((RANDOM % 3)) = 0 ]; then
      fm=$(motion "$i" federation motion --key "$(key "$i" m1)" "$FED" --matter wages \
        --title "cycle $n: motion of council $i" --option yes --option no --open-for 3m --closes-in 1h)
      pass "$i" "$fm"
    fi
    # Recall the delegate: by petition or by motion.
    if [ $((RANDOM % 2)) = 0 ]; then
      petition "$i" "$mandate" m2
      petition "$i" "$mandate" m3
    else
      m=$(motion "$i" recall motion --key "$(key "$i" m2)" "$mandate" --closes-in 1h)
      ack vote "$i" vote --final --key "$(key "$i" m2)" "$m" yes
      ack vote "$i" vote --final --key "$(key "$i" m3)" "$m" yes
    fi
    st=$(c "$i" --json status)
    [ "$(py get "[m['status'] for m in d['mandates'] if m['id'] == '$mandate'][0]" <<<"$st")" = recalled ] \
      || fail "node $i: the mandate ${mandate:0:12} is not recalled"
  else
    # A new mandate for the first member: the federation's 'wages' matter, own judgement.
    m=$(motion "$i" mandate --key "$(key "$i" m1)" --delegate "$("$council" key show "$(key "$i" m1)")" \
      --federation "$FED" --matter wages --instruct wages=judgement --expires-in 30d --closes-in 1h)
    pass "$i" "$m"
  fi
}

# load I: ballots on council I's load motion until the node stops answering.
load() {
  local i=$1 choices=(yes no abstain) k=0 out
  while out=$(c "$i" --json vote --key "$(key "$i" m1)" "${loadm[$i]}" "${choices[$((k % 3))]}" 2>/dev/null); do
    py ack vote "${cid[$i]}" <<<"$out" >>"$acks"
    k=$((k + 1))
  done
}
# tcp_state: each node's TCP connections to other nodes, with the kernel's retransmission
# state (rto, backoff, unacked segments, ms since the last send and receive).
tcp_state() {
  local i
  for i in $(seq 1 $N); do
    echo "node $i's TCP connections:"
    ip netns exec "${tag}n$i" ss -tnoi state established '( sport = :7421 or dport = :7421 )' 2>/dev/null \
      | awk 'NR > 1 && /^[0-9]/ { conn = $3 " -> " $4; for (k = 5; k <= NF; k++) if ($k ~ /^timer:/) conn = conn " " $k; next }
             NR > 1 { s = ""; n = split($0, f, " ");
                      for (k = 1; k <= n; k++) if (f[k] ~ /^(rto|backoff|unacked|lastsnd|lastrcv|retrans):/) s = s " " f[k];
                      print "  " conn s }'
  done
}
# shuffle: sets `shuffled` to 1..N in a random order (from $RANDOM in this shell, not
# a subshell, so that SEED replays it).
shuffle() {
  local i j t
  shuffled=($(seq 1 $N))
  for ((i = N - 1; i > 0; i--)); do
    j=$((RANDOM % (i + 1))); t=${shuffled[$i]}; shuffled[$i]=${shuffled[$j]}; shuffled[$j]=$t
  done
}
own_entries() { c "$1" --json status | py get 'd["entries"]'; }
max_acked() { awk -v c="${cid[$1]}" '$2 == c && $3 > m { m = $3 } END { print m + 0 }' "$acks"; }

# --- the cycles ----------------------------------------------------------------------
times=()
restarts=0
started=$SECONDS
for n in $(seq 1 "$cycles"); do
  t_cycle=$SECONDS
  # A random split of the five into two non-empty groups: one node alone (a third of
  # the time) or two against three.
  k=$(( RANDOM % 3 == 0 ? 1 : 2 ))
  side=(x 0 0 0 0 0)
  shuffle
  for i in "${shuffled[@]:0:$k}"; do side[$i]=1; done
  a=() b=()
  for i in $(seq 1 $N); do if [ "${side[$i]}" = 0 ]; then a+=("$i"); else b+=("$i"); fi; done
  partition
  t_part=$(now)
  desc="{${a[*]}} | {${b[*]}}"
  # Sometimes a node stops under load and starts again.
  victim= how=
  if [ $((RANDOM % 2)) = 0 ]; then
    victim=$((RANDOM % N + 1))
    how=$([ $((RANDOM % 2)) = 0 ] && echo KILL || echo TERM)
    load "$victim" &
    loadpid=$!
    sleep "0.$((RANDOM % 9 + 1))"
    kill -"$how" "${pid[$victim]}"
    wait "${pid[$victim]}" 2>/dev/null || true
    wait "$loadpid" 2>/dev/null || true
    loadpid=
  fi
  shuffle
  for i in "${shuffled[@]}"; do
    [ "$i" = "$victim" ] && continue
    ops "$i" "$n"
  done
  if [ -n "$victim" ]; then
    start_node "$victim"
    wait_api "$victim"
    have=$(own_entries "$victim")
    want=$(max_acked "$victim")
    [ "$have" -ge "$want" ] || fail "node $victim lost acknowledged entries in the SIG$how restart: its log has $have, $want were acknowledged"
    ops "$victim" "$n"
    restarts=$((restarts + 1))
  fi
  # Hold the partition for a random while, from 0 to HOLD seconds since it began (the
  # work above takes a few seconds already).
  hold=$((hold_min + RANDOM % (hold_max - hold_min + 1)))
  while [ "$("$python" -c "import sys; print(int(float(sys.argv[1]) < float(sys.argv[2])))" "$(since "$t_part")" "$hold")" = 1 ]; do
    sleep 0.2
  done
  held=$(since "$t_part")
  side=(x 0 0 0 0 0)
  partition
  healed=$(now)
  for i in $(seq 1 $N); do echo "=== partitions.sh: cycle $n healed at $(date -u +%H:%M:%S.%N)" >>"$work/n$i.log"; done
  rc=0
  converge "$BOUND" || rc=$?
  if [ $rc != 0 ]; then
    echo "cycle $n: partition $desc${victim:+, node $victim restarted (SIG$how)}, held ${held}s: NOT converged within ${BOUND}s"
    [ $rc = 2 ] && fail "an acknowledged record is lost (cycle $n)"
    py explain "$snap" $N
    tcp_state
    # How long it does take, to help find out why.
    rc=0
    converge 60 || rc=$?
    [ $rc = 0 ] && fail "cycle $n: converged only ${conv}s after the heal (bound ${BOUND}s)"
    py explain "$snap" $N
    fail "cycle $n: not converged 60 s after the heal"
  fi
  times+=("$conv")
  printf 'cycle %d: partition %s%s, held %.1fs; converged %.2fs after the heal (digest %s, %d records acknowledged, cycle %ds)\n' \
    "$n" "$desc" "${victim:+, node $victim restarted (SIG$how)}" "$held" "$conv" "${digest:0:12}" \
    "$(wc -l <"$acks")" "$((SECONDS - t_cycle))"
done
elapsed=$((SECONDS - started))

# --- the end: every export verifies offline and holds every acknowledged record ---------
for i in $(seq 1 $N); do
  c "$i" export --out "$work/n$i.cnx" >/dev/null || fail "node $i: export failed"
  "$council" verify "$work/n$i.cnx" >"$work/verify.$i.txt" 2>&1 || { tail "$work/verify.$i.txt"; fail "node $i's export does not verify"; }
  r=$(py check-export "$work/n$i.cnx" "$acks") || { echo "$r"; fail "node $i's export lacks acknowledged records"; }
  echo "node $i: export verifies offline; $r"
done
read -r tmax tmed <<<"$(py stats "${times[@]}")"
total=$(wc -l <"$acks")
printf 'partitions: %d cycles, %d restarts, convergence after heal max %ss median %ss (bound %ss), %d records acknowledged (%d delegate votes, %d refused as void), lost 0, %ds (%.1fs per cycle), seed %s\n' \
  "$cycles" "$restarts" "$tmax" "$tmed" "$BOUND" "$total" \
  "$(awk '$1 == "delegate-vote"' "$acks" | wc -l)" "$(( refused[1] + refused[2] + refused[3] + refused[4] + refused[5] ))" \
  "$elapsed" "$("$python" -c "print($elapsed / max($cycles, 1))")" "$seed"
