#!/usr/bin/env bash
# Distributed testing with torchrun (DDP), one process per GPU:
#   [PYTHON=/path/to/python] tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each. The Python used is
# $PYTHON, else the activated one, else .venv (see tools/torchrun.sh).
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
shift 3
TOOLS="$(dirname "$0")"
exec bash "$TOOLS/torchrun.sh" "$GPUS" "$TOOLS/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "$@"
