#!/usr/bin/env bash
# Runs every cargo-fuzz target in fuzz/ for SECONDS_PER_TARGET seconds (default 60), one
# after another, and exits non-zero if any of them crashed, timed out or ran out of memory,
# saying where the input that did it was saved.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]
#
# Environment:
#   FUZZ_TARGETS="record export"  only these targets (default: every fuzz/fuzz_targets/*.rs)
#   FUZZ_SANITIZER=address        build with a sanitizer (default: none; the workspace
#                                 forbids unsafe code, and the runs are twice as fast)
#   FUZZ_TIMEOUT=10               seconds one input may take before it counts as a hang
#   FUZZ_TARGET_DIR               where to build (default: fuzz/target, apart from target/)
#
# Needs the nightly toolchain (`rustup toolchain install nightly`); installs cargo-fuzz
# if it is missing. The first build takes several minutes (libp2p, for the sync target).
#
# The committed seed corpus (fuzz/corpus/<target>/) and the regression inputs
# (fuzz/regressions/<target>/) are read, never written: what a run finds goes to
# fuzz/work/<target>/ (git-ignored), and crash inputs to fuzz/artifacts/<target>/. To keep
# a crash as a regression test, copy its input to fuzz/regressions/<target>/ with a name
# that says what it was: `cargo test -p council-fuzz` replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."

secs="${1:-60}"
if ! [[ "$secs" =~ ^[0-9]+$ ]] || [ "$secs" -lt 1 ]; then
  echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
  exit 2
fi
sanitizer="${FUZZ_SANITIZER:-none}"
timeout="${FUZZ_TIMEOUT:-10}"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/fuzz/target}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "fuzz.sh needs the nightly toolchain: rustup toolchain install nightly" >&2
  exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

if [ -n "${FUZZ_TARGETS:-}" ]; then
  read -r -a targets <<<"$FUZZ_TARGETS"
else
  targets=()
  for f in fuzz/fuzz_targets/*.rs; do
    t="$(basename "$f" .rs)"
    targets+=("$t")
  done
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer, in $CARGO_TARGET_DIR)"
nice -n 19 cargo +nightly fuzz build -s "$sanitizer"

failed=()
summary=()
for t in "${targets[@]}"; do
  work="fuzz/work/$t"
  log="fuzz/work/$t.log"
  mkdir -p "$work" "fuzz/artifacts/$t"
  dirs=("$work" "fuzz/corpus/$t")
  if [ -d "fuzz/regressions/$t" ] && [ -n "$(ls -A "fuzz/regressions/$t")" ]; then
    dirs+=("fuzz/regressions/$t")
  fi
  echo "== $t: ${secs}s"
  status=0
  nice -n 19 cargo +nightly fuzz run -s "$sanitizer" "$t" "${dirs[@]}" -- \
    -max_total_time="$secs" -timeout="$timeout" -print_final_stats=1 >"$log" 2>&1 || status=$?
  execs="$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1 || true)"
  cov="$(grep -o 'cov: [0-9]*' "$log" | tail -1 || true)"
  if [ "$status" -ne 0 ]; then
    crash="$(grep -o 'Test unit written to [^ ]*' "$log" | tail -1 | sed 's/Test unit written to //' || true)"
    failed+=("$t")
    summary+=("$t: FAILED (exit $status) after ${execs:-?} runs; input: ${crash:-see $log}")
    echo "   FAILED; input: ${crash:-?}; log: $log"
    grep -m1 -A12 -E "panicked at|ERROR: libFuzzer|==ERROR" "$log" | sed 's/^/   /' || true
  else
    summary+=("$t: ok, ${execs:-?} runs in ${secs}s, ${cov:-cov: ?}")
    echo "   ok: ${execs:-?} runs, ${cov:-cov: ?}"
  fi
done

echo "== summary"
printf '%s\n' "${summary[@]}"
if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]} (crash inputs in fuzz/artifacts/<target>/)" >&2
  exit 1
fi
echo "fuzzing: no crash in ${#targets[@]} targets"
