#!/usr/bin/env bash
# Three councils on one machine, over loopback only: two found a federation, the third
# joins by invite, each gives its delegate a mandate (north's delegate adds a phone and
# votes from it; east's carries its members' 2:1 split), north's members rank three
# options, a federation motion runs, the federation decides as one body to found a
# higher federation with north (its councils ratify) and sends a delegate there, who
# votes there for the whole federation; one council recalls its delegate mid-motion
# (the vote is struck on every node, and the recalled delegate's next vote is refused),
# and each council's export is verified offline.
#
#   scripts/demo.sh [OUTDIR]     (exports land in OUTDIR, default ./demo-out)
#
# Every step is checked; the script exits 0 only if all of them were. It stops every
# process it started. Set COUNCIL_BIN to a directory holding `council` and `councild`
# to skip the build.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out=$(realpath -m "${1:-$root/demo-out}")
mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/tmp}/councilnet-demo.XXXXXX")

step() { printf '\n== %s\n' "$*"; }
fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  for c in north south east west; do
    [ -f "$work/$c.log" ] && { echo "--- last lines of $c's log:" >&2; tail -n 30 "$work/$c.log" >&2; }
    echo "--- $c's void federation events:" >&2
    "$council" --node-dir "$work/$c/node" --json federation list 2>/dev/null \
      | python3 -c 'import json,sys; [print(v) for v in json.load(sys.stdin)["void_events"]]' >&2 || true
  done
  for c in north south east; do
    "$council" --node-dir "$work/$c/node" export --out "$out/failed-$c.cnx" >/dev/null 2>&1 || true
  done
  if [ -n "${KEEP:-}" ]; then cp -r "$work" "$KEEP"; echo "work directory copied to $KEEP" >&2; fi
  exit 1
}

if [ -n "${COUNCIL_BIN:-}" ]; then
  bin=$COUNCIL_BIN
else
  step "building (release)"
  cargo build --quiet --release -p council-cli -p councild
  bin=$("$root/scripts/target-dir")/release
fi
council=$bin/council
councild=$bin/councild

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# A fast network for one machine: sync every second, short hello grace.
cat >"$work/councild.toml" <<'EOF'
[network]
sync_interval_ms = 1000
heartbeat_ms = 200
hello_grace_ms = 5000
EOF

# c COUNCIL ARGS...: the council command against that council's node.
c() { local who=$1; shift; "$council" --node-dir "$work/$who/node" "$@"; }
# jq-like: read JSON on stdin, print the Python expression over `d`.
py() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }
# wait_for WHAT SECONDS COMMAND...: retries COMMAND until it succeeds.
wait_for() {
  local what=$1 secs=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $end ] || fail "timed out after ${secs}s waiting for: $what"
    sleep 0.5
  done
  echo "ok: $what"
}
last_motion() { c "$1" --json motion list | py 'd[-1]["id"]'; }
# pass WHO MOTION: two of the three members vote yes for good (the act rule's majority);
# final ballots let the act pass at once instead of at its closing time.
pass() {
  c "$1" vote --final --key "$work/$1/m1.key" "$2" yes >/dev/null
  c "$1" vote --final --key "$work/$1/m2.key" "$2" yes >/dev/null
  local status
  status=$(c "$1" --json motion show "$2" | py 'd["status"] + " " + str(d.get("effect"))')
  case $status in
    closed*applied*) echo "ok: $1 passed motion ${2:0:12} ($status)" ;;
    *) fail "$1's motion ${2:0:12} did not pass: $status" ;;
  esac
}

step "three councils, three members each, each with its own councild"
for who in north south east; do
  mkdir -p "$work/$who"
  founders=()
  for m in m1 m2 m3; do founders+=(--founder "$("$council" key new "$work/$who/$m.key")"); done
  name="$(tr '[:lower:]' '[:upper:]' <<<"${who:0:1}")${who:1} Works Council"
  "$councild" init --data-dir "$work/$who/node" --name "$name" "${founders[@]}" >/dev/null
  for m in m1 m2 m3; do "$council" genesis sign --draft "$work/$who/node/genesis.draft" --key "$work/$who/$m.key" >/dev/null; done
  "$councild" run --config "$work/councild.toml" --data-dir "$work/$who/node" --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 \
    --p2p-listen /ip4/127.0.0.1/tcp/0 --log "${DEMO_LOG:-info}" 2>"$work/$who.log" &
  pids+=($!)
done
# West, a council of one, will try an invite that is already used up.
mkdir -p "$work/west"
"$council" key new "$work/west/m1.key" >/dev/null
"$councild" init --data-dir "$work/west/node" --name "West Works Council" --solo-key "$work/west/m1.key" >/dev/null
"$councild" run --config "$work/councild.toml" --data-dir "$work/west/node" --listen 127.0.0.1:0 --members-listen 127.0.0.1:0 \
  --p2p-listen /ip4/127.0.0.1/tcp/0 --log "${DEMO_LOG:-info}" 2>"$work/west.log" &
pids+=($!)
for who in north south east west; do
  wait_for "$who's node answers" 60 c "$who" status
  wait_for "$who's node listens for peers" 30 test -s "$work/$who/node/p2p-addr"
done
id() { c "$1" --json status | py 'd["id"]'; }
NORTH=$(id north) SOUTH=$(id south) EAST=$(id east)
echo "north $NORTH"; echo "south $SOUTH"; echo "east  $EAST"

step "north and south found a federation: both sign the same charter by council act"
cat >"$work/charter.toml" <<EOF
name = "Riverside Federation of Works Councils"
principles = ["Delegates carry imperative mandates and can be recalled at any time.",
              "No federation decision binds a council that does not ratify it."]
founders = ["$NORTH", "$SOUTH"]
created_at = "2026-11-22T09:00:00Z"
[rules]
admission = "majority"
motion_quorum = "1/2"
motion_threshold = "majority"
EOF
c north peer add "$(head -n1 "$work/south/node/p2p-addr")" >/dev/null
c south peer add "$(head -n1 "$work/north/node/p2p-addr")" >/dev/null
for who in north south; do
  c "$who" federation create --key "$work/$who/m1.key" "$work/charter.toml" --closes-in 1h
  pass "$who" "$(last_motion "$who")"
done
FED=$(c north --json federation list | py 'd["federations"][0]["id"]')
founded() { c "$1" --json federation show "$FED" | py '1 if d["founded_at"] is not None else 1/0'; }
for who in north south; do wait_for "$who sees the federation founded" 60 founded "$who"; done

step "north invites east; east joins with the invite string; north and south countersign"
INVITE=$(c north --json federation invite --key "$work/north/m1.key" "$FED" --uses 1 --expires-in 1h | py 'd["invite"]')
echo "invite: ${INVITE:0:48}…"
c east federation join --key "$work/east/m1.key" "$INVITE" --closes-in 1h
pass east "$(last_motion east)"
# Countersign once east's signature is seen, as an operator would: an admission logged
# before the joiner's signature is in the council's view is void (PROTOCOL.md §8).
pending() { [ "$(c "$1" --json federation show "$FED" | py "'$EAST' in d.get('pending', [])")" = True ]; }
for who in north south; do wait_for "$who sees east's signature" 60 pending "$who"; done
c north federation pending "${FED:0:8}" >"$work/waiting.txt"
grep "countersigned by" "$work/waiting.txt" || true
grep -q "East Works Council (${EAST:0:12}): countersigned by 0 of the 2 needed" "$work/waiting.txt" \
  || fail "federation pending does not say whose countersignature east waits for"
grep -q "used 1 of 1 (by East Works Council" "$work/waiting.txt" \
  || fail "federation pending does not say who used the invite"
for who in north south; do
  # Ids may be shortened to a unique prefix, as people would type them.
  c "$who" federation admit --key "$work/$who/m1.key" "${FED:0:8}" "${EAST:0:8}" --closes-in 1h >/dev/null
  pass "$who" "$(last_motion "$who")"
done
members() { c "$1" --json federation show "$FED" | py 'len([m for m in d["members"] if m["left_at"] is None])'; }
three_members() { [ "$(members "$1")" = 3 ]; }
for who in north south east; do wait_for "$who counts three member councils" 90 three_members "$who"; done
not_joining() { [ "$(c "$1" --json federation list | py 'len(d["joining"])')" = 0 ]; }
wait_for "east is a member, no longer joining" 30 not_joining east

step "west tries the same invite: it had one use, and north's node says so"
if said=$(c west federation join --key "$work/west/m1.key" "$INVITE" --wait 30s 2>&1); then
  fail "west joined with a used-up invite: $said"
fi
case $said in
  *"refused this council"*"used up (1 of 1 uses)"*) echo "ok: west was told: ${said##*error: }" ;;
  *) fail "west was not told why it was refused: $said" ;;
esac
c west federation join --cancel "${FED:0:8}"
wait_for "west is joining nothing" 10 not_joining west

step "east asks its own members first: 2 for the strike fund, 1 against"
c east motion open --key "$work/east/m1.key" --title "Should the federation set up a strike fund?" --closes-in 1h >/dev/null
EAST_OWN=$(last_motion east)
for m in m3:no m1:yes m2:yes; do
  c east vote --final --key "$work/east/${m%%:*}.key" "$EAST_OWN" "${m##*:}" >/dev/null
done
[ "$(c east --json motion show "$EAST_OWN" | py 'd["status"]')" = closed ] || fail "east's own motion did not close"
echo "ok: east's members voted 2 to 1 (yes maps to the first option, no to the second)"

step "each council gives its first member an imperative mandate for the matter 'strike-fund'"
for who in north south east; do
  extra=()
  # North instructs its delegate to vote for option 0; east to carry its members' split
  # (2/3 and 1/3 of its vote); south leaves it to judgement.
  [ "$who" = north ] && extra=(--instruct strike-fund=0)
  [ "$who" = east ] && extra=(--instruct "strike-fund=split:${EAST_OWN:0:12}")
  c "$who" mandate --key "$work/$who/m1.key" --delegate "$("$council" key show "$work/$who/m1.key")" \
    --federation "${FED:0:8}" --matter strike-fund "${extra[@]}" --expires-in 30d --closes-in 1h >/dev/null
  pass "$who" "$(last_motion "$who")"
done

step "north's delegate adds a phone: a second device key, for the same member"
# The phone makes its own key; its secret never leaves it. The laptop shows a link code,
# the phone answers with a request (its key and proof that it holds it), the laptop adds it.
"$council" key new "$work/north/m1-phone.key" >/dev/null
LINK=$(c north --json device link-code --key "$work/north/m1.key" | py 'd["link_code"]')
REQUEST=$("$council" --json device request --key "$work/north/m1-phone.key" "$LINK" | py 'd["request"]')
c north device add --key "$work/north/m1.key" "$REQUEST"
c north status | grep -q "2 devices" || fail "north's status does not show the delegate's two devices"
echo "ok: north's status shows the delegate with 2 devices"

step "north's members rank three places for their assembly (the Schulze method decides)"
c north motion open --key "$work/north/m2.key" --title "Where to hold the assembly" --ranked \
  --option canteen --option yard --option hall --closes-in 1h >/dev/null
RANKED=$(last_motion north)
c north vote --final --key "$work/north/m1-phone.key" "$RANKED" yard hall canteen >/dev/null
c north vote --final --key "$work/north/m2.key" "$RANKED" canteen yard hall >/dev/null
c north vote --final --key "$work/north/m3.key" "$RANKED" hall yard canteen >/dev/null
c north motion show "$RANKED" | sed -n '1p;/over:/p'
[ "$(c north --json motion show "$RANKED" | py 'd["options"][d["outcome"]["option"]]')" = yard ] \
  || fail "the ranked motion did not choose yard, the Condorcet winner"
echo "ok: every ranking is final, and yard (preferred to each other place by 2 of 3) is chosen"

step "north opens a federation motion; every delegate votes on it (north's from the phone)"
OPEN_FOR=60
c north federation motion --key "$work/north/m1.key" "$FED" --matter strike-fund \
  --title "Set up a shared strike fund" --option "set it up" --option "not now" \
  --open-for "${OPEN_FOR}s" --closes-in 1h >/dev/null
FMOTION=$(last_motion north)
pass north "$FMOTION"
opened=$SECONDS
has_motion() { c "$1" --json federation show "$FED" | py "[m for m in d['motions'] if m['id']=='$FMOTION'][0]['id']"; }
for who in north south east; do wait_for "$who sees the federation motion" 30 has_motion "$who"; done
for who in north south east; do
  key="$work/$who/m1.key" choice="set it up"
  [ "$who" = north ] && key="$work/north/m1-phone.key"
  [ "$who" = east ] && choice=split
  c "$who" delegate vote --key "$key" "$FED" "$FMOTION" "$choice"
done
votes() { c "$1" --json federation show "$FED" | py "len([m for m in d['motions'] if m['id']=='$FMOTION'][0]['votes'])"; }
three_votes() { [ "$(votes "$1")" = 3 ]; }
for who in north south east; do wait_for "$who holds all three delegate votes" 30 three_votes "$who"; done

step "the federation decides, as one body, to found a higher federation with north (PROTOCOL.md §8.1)"
# A federation of federations: its founders are the federation (which signs by a passed
# act that its councils ratify) and north (which signs by its own council act).
cat >"$work/higher.toml" <<EOF
name = "Valley Federation of Federations"
principles = ["A federation takes part in a higher one as one member.",
              "A decision above binds only the councils that ratify it."]
founders = ["$FED", "$NORTH"]
created_at = "2026-11-22T09:00:00Z"
[rules]
admission = "majority"
motion_quorum = "1/2"
motion_threshold = "majority"
EOF
c north federation create --key "$work/north/m1.key" "$work/higher.toml" --closes-in 1h >/dev/null
pass north "$(last_motion north)"
join_opened=$SECONDS
c north federation act "${FED:0:8}" join "$work/higher.toml" --key "$work/north/m1.key" \
  --matter strike-fund --open-for "${OPEN_FOR}s" --closes-in 1h >/dev/null
JOIN=$(last_motion north)
pass north "$JOIN"
# In the same window, the federation sends a delegate above: east's first member, for the
# matter "pay" there.
HIGHER=$(c north --json federation list | py "[f['id'] for f in d['federations'] if f['name']=='Valley Federation of Federations'][0]")
c north federation act "${FED:0:8}" mandate "${HIGHER:0:8}" --key "$work/north/m1.key" \
  --delegate "$("$council" key show "$work/east/m1.key")" --council "$EAST" --covers pay \
  --matter strike-fund --open-for "${OPEN_FOR}s" --closes-in 1h >/dev/null
SEND=$(last_motion north)
pass north "$SEND"
has_act() { c "$1" --json federation show "$FED" | py "[m for m in d['motions'] if m['id']=='$2'][0]['act']['kind']"; }
for who in north south east; do
  wait_for "$who sees the federation's motions to join and to send a delegate" 30 has_act "$who" "$JOIN"
  wait_for "$who sees the federation's motion to send a delegate" 30 has_act "$who" "$SEND"
done
for who in north south east; do
  key="$work/$who/m1.key" choice=yes
  [ "$who" = north ] && key="$work/north/m1-phone.key"
  [ "$who" = east ] && choice=split
  c "$who" delegate vote --key "$key" "$FED" "$JOIN" "$choice"
  c "$who" delegate vote --key "$key" "$FED" "$SEND" "$choice"
done

step "mid-motion, south recalls its delegate by petition (two of three members sign)"
SOUTH_MANDATE=$(c south --json status | py 'd["mandates"][-1]["id"]')
c south recall sign --key "$work/south/m2.key" "$SOUTH_MANDATE"
c south recall sign --key "$work/south/m3.key" "$SOUTH_MANDATE"
recalled() { c "$1" --json status | py "1 if d['mandates'][-1]['status']=='recalled' else 1/0"; }
recalled south >/dev/null || fail "south's mandate is not recalled"
echo "ok: south's mandate is recalled"
if c south delegate vote --key "$work/south/m1.key" "$FED" "$FMOTION" "not now" 2>"$work/refused.txt"; then
  fail "the recalled delegate's vote was accepted"
fi
echo "ok: the recalled delegate's next vote is refused: $(tail -n1 "$work/refused.txt")"

step "the federation motion closes; every node strikes south's vote"
left=$((OPEN_FOR + 2 - (SECONDS - opened)))
[ $left -gt 0 ] && { echo "waiting ${left}s for the motion's closing time"; sleep "$left"; }
# A federation's clock is its councils' log times: the next entry in any member's log
# after the closing time closes the motion. Each council moves to ratify the outcome.
for who in north south east; do
  c "$who" federation ratify --key "$work/$who/m1.key" "$FED" "$FMOTION" accept --closes-in 1h >/dev/null
done
struck() {
  c "$1" --json federation show "$FED" | py "' '.join(sorted(v['council'][:8]+':'+v['status'] for v in [m for m in d['motions'] if m['id']=='$FMOTION'][0]['votes']))" \
    | grep -q "${SOUTH:0:8}:struck"
}
closed() { c "$1" --json federation show "$FED" | py "[m for m in d['motions'] if m['id']=='$FMOTION'][0]['outcome'] is not None or 1/0"; }
for who in north south east; do
  wait_for "$who has closed the federation motion" 60 closed "$who"
  wait_for "$who shows south's vote struck" 60 struck "$who"
done
for who in north south east; do
  echo "$who: $(c "$who" --json federation show "$FED" | py "', '.join(v['council'][:8]+' '+v['status'] for v in [m for m in d['motions'] if m['id']=='$FMOTION'][0]['votes']) + ' -> ' + json.dumps([m for m in d['motions'] if m['id']=='$FMOTION'][0]['outcome'])")"
done
for who in north south east; do pass "$who" "$(last_motion "$who")"; done
same=$(for who in north south east; do c "$who" --json federation show "$FED" | py "json.dumps([m for m in d['motions'] if m['id']=='$FMOTION'][0]['outcome'])"; done | sort -u | wc -l)
[ "$same" = 1 ] || fail "the nodes disagree on the outcome"
echo "ok: all three nodes computed the same outcome"
echo "what east's members read (council federation show):"
c east federation show "${FED:0:8}" | tee "$work/show.txt"
grep -q "North Works Council (${NORTH:0:12}), founder" "$work/show.txt" && grep -q "East Works Council (${EAST:0:12}, this council)" "$work/show.txt" || fail "federation show does not name the councils"
grep -q "voted \"set it up\"" "$work/show.txt" || fail "federation show does not name the choices"
grep -q "voted the council's split (\"set it up\" 66.67%, \"not now\" 33.33%)" "$work/show.txt" \
  || fail "federation show does not show east's split"
same_weighted=$(for who in north south east; do c "$who" --json federation show "$FED" | py "json.dumps([m for m in d['motions'] if m['id']=='$FMOTION'][0]['weighted'])"; done | sort -u)
echo "ok: the weighted tally, the same on every node: $same_weighted"
[ "$(echo "$same_weighted" | wc -l)" = 1 ] || fail "the nodes disagree on the weighted tally"
grep -q "used 1 of 1 (by East Works Council" "$work/show.txt" || fail "federation show does not say who used the invite"

step "the federation's councils ratify its joining; the higher federation is founded"
left=$((OPEN_FOR + 2 - (SECONDS - join_opened)))
[ $left -gt 0 ] && { echo "waiting ${left}s for the closing time of the federation's motion to join"; sleep "$left"; }
for who in north south east; do
  c "$who" federation ratify --key "$work/$who/m1.key" "$FED" "$JOIN" accept --closes-in 1h >/dev/null
  pass "$who" "$(last_motion "$who")"
done
HIGHER=$(c north --json federation list | py "[f['id'] for f in d['federations'] if f['name']=='Valley Federation of Federations'][0]")
higher_founded() {
  c "$1" --json federation show "$HIGHER" \
    | py "1 if d['founded_at'] is not None and any(m['council']=='$FED' and m.get('federation') for m in d['members']) else 1/0"
}
for who in north south east; do
  wait_for "$who sees the higher federation founded, with the federation as a member" 60 higher_founded "$who"
done
c east federation show "${FED:0:8}" | tee "$work/fed-acts.txt" >/dev/null
grep -q "the federation's act: sign-charter in federation \"Valley Federation of Federations\" (${HIGHER:0:12}): done" "$work/fed-acts.txt" \
  || fail "the federation's act of joining is not shown done"
grep -q "its delegate in federation \"Valley Federation of Federations\" (${HIGHER:0:12}): .* of East Works Council" "$work/fed-acts.txt" \
  || fail "the federation's delegate above is not shown"
echo "what north's members read of the higher federation:"
c north federation show "${HIGHER:0:8}" | tee "$work/higher.txt"
grep -q "federation \"Riverside Federation of Works Councils\" (${FED:0:12}), founder" "$work/higher.txt" \
  || fail "federation show does not show the federation as a member"
echo "ok: the federation joined as one member, after its councils ratified"

step "north opens a motion above; east's member votes there for the whole federation"
c north federation motion --key "$work/north/m1.key" "${HIGHER:0:8}" --matter pay \
  --title "A common pay claim for the valley" --option "claim it" --option "not yet" \
  --open-for 30s --closes-in 1h >/dev/null
HMOTION=$(last_motion north)
pass north "$HMOTION"
h_opened=$SECONDS
has_hmotion() { c "$1" --json federation show "$HIGHER" | py "[m for m in d['motions'] if m['id']=='$HMOTION'][0]['id']"; }
for who in north south east; do wait_for "$who sees the motion above" 30 has_hmotion "$who"; done
c east delegate vote --key "$work/east/m1.key" "$HIGHER" "$HMOTION" "claim it" --for "${FED:0:8}"
left=$((30 + 2 - (SECONDS - h_opened)))
[ $left -gt 0 ] && { echo "waiting ${left}s for the motion above to close"; sleep "$left"; }
# East, a council of the member federation, ratifies the outcome above: it is bound by it.
c east federation ratify --key "$work/east/m1.key" "$HIGHER" "$HMOTION" accept --closes-in 1h >/dev/null
pass east "$(last_motion east)"
decided_above() {
  c "$1" --json federation show "$HIGHER" | py "(lambda m: 1 if m['outcome']=={'result': 'chosen', 'option': 0} and m['votes'][0].get('federation')=='$FED' and m['votes'][0]['status']=='counted' and m['ratifications']==[['$EAST', True]] else 1/0)([m for m in d['motions'] if m['id']=='$HMOTION'][0])"
}
for who in north south east; do wait_for "$who counts the federation's ballot above, and east's ratification" 60 decided_above "$who"; done

step "each council exports its record; each export is verified offline"
for who in north south east; do
  c "$who" export --out "$out/$who.cnx" >/dev/null
  "$council" verify --json "$out/$who.cnx" >"$out/$who.verdict.json" || fail "$who's export does not verify"
  py "'ok: $who.cnx valid, ' + str(len(d['councils'])) + ' council logs, federation votes: ' + ', '.join(v['status'] for f in d['federations'] for m in f['motions'] for v in m['votes'])" <"$out/$who.verdict.json"
  py "1 if any(v['status']=='struck' for f in d['federations'] for m in f['motions'] for v in m['votes']) else 1/0" \
    <"$out/$who.verdict.json" >/dev/null || fail "$who's export does not show the struck vote"
done

step "done: every step checked; exports in $out"
