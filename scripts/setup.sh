#!/usr/bin/env bash
# Lienthong set-up on a fresh Debian machine (run as root, or with sudo available).
#   bash scripts/setup.sh serve   install everything, load the demo studies, run the service
#   bash scripts/setup.sh test    install what the tests need and run the whole suite
set -euo pipefail
cd "$(dirname "$0")/.."

SERVE_DEBS=(python3-venv python3-dev gcc fonts-dejavu-core)
TEST_DEBS=(dcmtk postgresql chromium chromium-driver)

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

install_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" </dev/null
  fi
}

python_env() {
  local extra="$1"
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip </dev/null
  .venv/bin/python -m pip install -q -e ".${extra}" </dev/null
}

# The web viewer (viewer/, Vite): Node 18+ and npm; Debian's packages when none is installed.
viewer_build() {
  if ! command -v npm >/dev/null 2>&1; then
    install_debs nodejs npm
  fi
  (cd viewer && npm ci --no-audit --no-fund </dev/null && npm run build </dev/null)
}

case "${1:-}" in
  serve)
    install_debs "${SERVE_DEBS[@]}"
    python_env ""
    viewer_build
    .venv/bin/lienthong demo
    exec .venv/bin/lienthong serve
    ;;
  test)
    install_debs "${SERVE_DEBS[@]}" "${TEST_DEBS[@]}"
    python_env "[test]"
    viewer_build
    .venv/bin/ruff check lienthong pacs gateway claims tests bench
    .venv/bin/mypy
    set +e
    .venv/bin/python -m pytest "${@:2}"
    rc=$?
    set -e
    if [ "$rc" = 5 ]; then
      echo "pytest collected no tests: that is a failure" >&2
      exit 1
    fi
    exit "$rc"
    ;;
  *)
    echo "usage: bash scripts/setup.sh serve|test [pytest args]" >&2
    exit 2
    ;;
esac
