#!/usr/bin/env bash
# Set up everything drl-analysis needs on a Debian/Ubuntu machine with Python >= 3.11.
# Safe to run twice: it installs only what is missing.
#   bash scripts/setup.sh           # the package and its runtime needs
#   bash scripts/setup.sh --test    # also what the tests need (test extras, PostgreSQL)
set -euo pipefail
cd "$(dirname "$0")/.."

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "setup: need root (or sudo) to run: $*" >&2; return 1; fi
}

# System packages: Tesseract with English and German data (dose-report OCR),
# Pango and HarfBuzz subsetting (PDF reports without a browser), poppler-utils (pdftotext),
# PostgreSQL for its test, Chromium for the tests that load pages in a real browser.
apt_pkgs=(tesseract-ocr tesseract-ocr-eng tesseract-ocr-deu libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils)
[ $want_test = 1 ] && apt_pkgs+=(postgresql chromium)
missing=()
for p in "${apt_pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The virtual environment with the package (editable) and, for tests, its test extras.
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "setup: Python >= 3.11 is needed")'
  "$PY" -m venv .venv
fi
extras=""
[ $want_test = 1 ] && extras="[test]"
stamp=".venv/.drl-analysis-installed${extras:+-test}"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e ".${extras}"
  touch "$stamp"
fi
