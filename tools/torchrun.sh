#!/usr/bin/env bash
# Shared by dist_train.sh / dist_test.sh: run SCRIPT ARGS... in NPROC processes per machine
# with torchrun (DDP). Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each.
#   tools/torchrun.sh NPROC SCRIPT [ARGS...]
set -euo pipefail
NPROC=$1
shift
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY=${PYTHON:-}
if [ -z "$PY" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PY="$ROOT/.venv/bin/python"; else PY=python; fi
fi
exec "$PY" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" --master_port="${PORT:-29500}" \
    --nproc_per_node="$NPROC" "$@"
