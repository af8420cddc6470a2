#!/usr/bin/env bash
# Bootstrap, then run the end-to-end demo (real local model, real embeddings):
#   bash scripts/demo.sh [demo options...]
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

bash scripts/bootstrap.sh
exec .venv/bin/langchain-calibrate demo "$@"
