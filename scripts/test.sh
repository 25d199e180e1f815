#!/usr/bin/env bash
# The whole test suite: `cargo test --workspace`, after installing what the members' web
# page test needs when it is missing (Chromium and its driver, Debian's `chromium` and
# `chromium-driver`). Extra arguments go to cargo test.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${COUNCILNET_SKIP_BROWSER:-}" ] && ! { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }; then
  echo "test.sh: installing chromium and chromium-driver for the web page's test" >&2
  if ! command -v apt-get >/dev/null; then
    echo "test.sh: no apt-get here; install Chromium and chromedriver yourself, or set COUNCILNET_SKIP_BROWSER=1" >&2
    exit 2
  fi
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium chromium-driver >/dev/null
fi

exec cargo test --workspace "$@"
