#!/usr/bin/env bash
# Shared by dist_train.sh / dist_test.sh: run SCRIPT ARGS... in NPROC processes per machine
# with torchrun (DDP). Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each.
#   [PYTHON=/path/to/python] tools/torchrun.sh NPROC SCRIPT [ARGS...]
# The interpreter: $PYTHON if set; otherwise the first of `python`, `python3` on PATH (the
# activated environment) and this repository's .venv/bin/python that imports torch and
# mmengine.
set -euo pipefail
NPROC=$1
shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  for candidate in python python3 "$ROOT/.venv/bin/python"; do
    if command -v "$candidate" >/dev/null 2>&1 &&
        "$candidate" -c 'import torch, mmengine' 2>/dev/null; then
      PY=$candidate
      break
    fi
  done
fi
if [ -z "$PY" ]; then
  echo "tools/torchrun.sh: no Python with torch and mmengine found (tried python and" \
       "python3 on PATH, $ROOT/.venv/bin/python); activate your environment or set" \
       "PYTHON=/path/to/python" >&2
  exit 1
fi
exec "$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$@"
