#!/usr/bin/env bash
# Set up everything the book needs, from nothing, on Debian/Ubuntu with Python 3.11:
#   1. system packages: a CJK font (figures show Chinese), Node.js/npm (MathJax is served locally),
#      espeak-ng (synthetic speech for the ASR chapter when the real audio is absent) and Chromium
#      (the tests check the built site in a real browser);
#   2. a virtual environment .venv with the exact pins of requirements.txt and this package;
#   3. MathJax 3.2.2 from npm (package-lock.json), copied where the book publishes it.
# Idempotent: steps already done are skipped quickly. Called by `make setup` (and so by
# `make book` and `make test`).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv

say() { printf '\033[1m[setup]\033[0m %s\n' "$*"; }

# --- 1. system packages ---------------------------------------------------------------
missing=()
if ! (command -v fc-list >/dev/null && fc-list 2>/dev/null | grep -qi "Noto Sans CJK"); then
  missing+=(fonts-noto-cjk fontconfig)
fi
command -v npm >/dev/null || missing+=(nodejs npm)
command -v espeak-ng >/dev/null || missing+=(espeak-ng)
# headless Chromium: the test suite opens every built page in it (skipped where it is absent)
command -v chromium >/dev/null || command -v chromium-browser >/dev/null || missing+=(chromium)
if ((${#missing[@]})); then
  if [ "$(id -u)" = 0 ]; then sudo_cmd=(); elif command -v sudo >/dev/null; then sudo_cmd=(sudo); else sudo_cmd=(false); fi
  if command -v apt-get >/dev/null && [ "${sudo_cmd[0]:-}" != false ]; then
    say "installing system packages: ${missing[*]}"
    "${sudo_cmd[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "please install these system packages yourself: ${missing[*]}"
    command -v npm >/dev/null || exit 1   # MathJax cannot be installed without npm
    # without espeak-ng the ASR chapter says what is missing and shows what it can
  fi
fi

# --- 2. Python environment -------------------------------------------------------------
version=$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ "$version" = "3.11" ] || say "warning: Python $version; the pins were checked on Python 3.11"
[ -x "$VENV/bin/python" ] || { say "creating $VENV"; "$PYTHON" -m venv "$VENV"; }
if ! cmp -s requirements.txt "$VENV/.requirements.installed" 2>/dev/null; then
  say "installing Python packages (requirements.txt)"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt
  cp requirements.txt "$VENV/.requirements.installed"
fi
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps -e .

# --- 3. MathJax, served from the book ----------------------------------------------------
if [ ! -f node_modules/mathjax/es5/tex-chtml.js ]; then
  say "installing MathJax from npm (package-lock.json)"
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
fi
target=_site_extra/_static/mathjax
if [ ! -f "$target/tex-chtml.js" ]; then
  rm -rf "$target" && mkdir -p "$target"
  (cd node_modules/mathjax/es5 && cp -r tex-chtml.js input output a11y ui sre "$OLDPWD/$target/")
fi
say "ready: $VENV (Python $version), MathJax in $target"
