#!/usr/bin/env bash
# Sets up everything tinylarge needs on a Debian machine with Python 3.11; safe to re-run.
#   - Debian packages (only when root): the Cortex-M cross toolchain and QEMU, --no-install-recommends
#   - a virtual environment at .venv with torch==2.13.0 first (the local CPU wheel), then the
#     project and its pinned dependencies (requirements.lock)
# A stamp file skips the pip step when nothing it depends on changed.
set -euo pipefail
cd "$(dirname "$0")"

APT_PACKAGES=(gcc gcc-arm-none-eabi libnewlib-arm-none-eabi libstdc++-arm-none-eabi-newlib qemu-system-arm make postgresql chromium)
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3

if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  # Debian's own Python needs its venv package for `python -m venv` (ensurepip)
  "$PYTHON" -c "import ensurepip" >/dev/null 2>&1 || APT_PACKAGES+=(python3-venv)
  missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}" >&2
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
  fi
else
  echo "setup: not root, skipping Debian packages (${APT_PACKAGES[*]})" >&2
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv with $PYTHON" >&2
  "$PYTHON" -m venv .venv
fi

stamp=.venv/.tinylarge-setup
want="$(cat pyproject.toml requirements.lock setup.sh | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing Python dependencies into .venv (first time: several minutes)" >&2
  .venv/bin/python -m pip install -q --upgrade pip >&2
  # torch first, exactly this version: the machine has its CPU wheel; anything else pulls CUDA.
  .venv/bin/python -m pip install -q torch==2.13.0 >&2
  .venv/bin/python -m pip install -q -c requirements.lock -e ".[dev]" >&2
  echo "$want" > "$stamp"
fi
