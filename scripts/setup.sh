#!/usr/bin/env bash
# Installs everything Corridor needs on a fresh Debian machine: system packages, a virtualenv, the package.
# Usage: scripts/setup.sh [dev]   ("dev" adds the test and lint tools)
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
# nomenklatura's transliteration uses PyICU, which compiles against the system ICU when no wheel fits.
pkg-config --exists icu-i18n 2>/dev/null || need_apt+=(libicu-dev pkg-config)
command -v gcc >/dev/null || need_apt+=(build-essential)
python3 -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing system packages: ${need_apt[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
# pip's notes about configured local index folders that do not exist are noise here: filter them out.
quiet_pip() { .venv/bin/python -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
quiet_pip install -q --upgrade pip >/dev/null
extras=""
[ "${1:-}" = "dev" ] && extras="[dev]"
quiet_pip install -q -e ".${extras}"
echo "corridor installed in .venv"
