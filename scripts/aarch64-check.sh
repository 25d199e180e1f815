#!/usr/bin/env bash
# Cross-compiles `councild` and `council` for 64-bit ARM Linux (a Raspberry Pi 3, 4 or 5
# running a 64-bit OS), checks that both link into aarch64 executables, and runs them
# under qemu-aarch64 (Debian's qemu-user, installed here when run as root): the aarch64
# `council` writes a sample export and verifies it.
#
#   scripts/aarch64-check.sh
#
# Needs: rustup (it adds the aarch64-unknown-linux-gnu target) and Debian's
# gcc-aarch64-linux-gnu (installed here with apt-get when run as root). The programs land
# in target/aarch64-unknown-linux-gnu/release/: copy them to the Pi, e.g.
#   scp target/aarch64-unknown-linux-gnu/release/{councild,council} pi@raspberrypi.local:
set -euo pipefail
cd "$(dirname "$0")/.."

target=aarch64-unknown-linux-gnu
if ! command -v aarch64-linux-gnu-gcc >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian's aarch64 cross compiler (gcc-aarch64-linux-gnu)"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc-aarch64-linux-gnu >/dev/null
  else
    echo "needs aarch64-linux-gnu-gcc: install Debian's gcc-aarch64-linux-gnu (as root: apt-get install gcc-aarch64-linux-gnu)" >&2
    exit 2
  fi
fi
if ! rustup target list --installed | grep -qx "$target"; then
  rustup target add "$target"
fi

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
cargo build --release --target "$target" -p councild -p council-cli

dir="$("$PWD/scripts/target-dir")/$target/release"
for bin in councild council; do
  # An ELF header for machine 0xb7 (EM_AARCH64), 64-bit, little-endian: read the bytes,
  # so that the check needs no `file` command.
  header=$(od -An -tx1 -N20 "$dir/$bin" | tr -d ' \n')
  case $header in
    7f454c4602010100*b700) echo "ok: $dir/$bin is an aarch64 executable" ;;
    *) echo "FAILED: $dir/$bin is not an aarch64 ELF executable (header $header)" >&2; exit 1 ;;
  esac
done
if ! command -v qemu-aarch64 >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Debian's qemu-user, to run them"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >/dev/null || true
fi
if command -v qemu-aarch64 >/dev/null; then
  run() { qemu-aarch64 -L /usr/aarch64-linux-gnu "$@"; }
  run "$dir/council" --version
  run "$dir/councild" --version
  # The aarch64 `council` writes a small export and verifies it.
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  run "$dir/council" sample --out "$tmp/s.cnx" --members 5 --motions 3 --votes-per-motion 4 >/dev/null
  run "$dir/council" verify "$tmp/s.cnx" | grep -q '^VALID' || { echo "FAILED: the aarch64 verify" >&2; exit 1; }
  echo "ok: both run under qemu-aarch64, and an export written there verifies"
else
  echo "(qemu-aarch64 is not installed: not run; Debian's qemu-user runs them)"
fi
