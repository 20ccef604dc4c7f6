#!/usr/bin/env bash
# Regenerates the committed test fixtures in a throwaway Python venv.
# Usage: tools/make_fixtures.sh   (from anywhere; writes under crates/*/tests/fixtures)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
venv="$(mktemp -d)/venv"
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet -r "$root/tools/requirements-fixtures.txt"
"$venv/bin/python" "$root/tools/make_fixtures.py" "$root"
"$venv/bin/python" "$root/tools/make_eval_fixtures.py" "$root"
rm -rf "$(dirname "$venv")"
