#!/usr/bin/env bash
# Bootstrap, then run pytest with any arguments given (default: the whole suite, unit and
# integration; the integration tests start a real llama-server).
#   bash scripts/test.sh                      # everything
#   bash scripts/test.sh -m "not integration" # fast tests only
# pytest's exit code 5 ("no tests collected") is turned into a failure: a suite that ran nothing
# must never look green.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh

rc=0
.venv/bin/python -m pytest "$@" || rc=$?
if [ "$rc" -eq 5 ]; then
    echo "[test.sh] pytest collected no tests (exit code 5): treating that as a failure." >&2
    exit 1
fi
exit "$rc"
