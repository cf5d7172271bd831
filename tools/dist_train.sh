#!/usr/bin/env bash
# Distributed training with torchrun (DDP), one process per GPU:
#   [PYTHON=/path/to/python] tools/dist_train.sh CONFIG GPUS [train.py args...]
# Several machines: set NNODES, NODE_RANK, MASTER_ADDR and PORT on each. The Python used is
# $PYTHON, else the activated one, else .venv (see tools/torchrun.sh).
# Without GPUs, GPUS processes run on the CPU (gloo backend).
set -euo pipefail
CONFIG=$1
GPUS=$2
shift 2
TOOLS="$(dirname "$0")"
exec bash "$TOOLS/torchrun.sh" "$GPUS" "$TOOLS/train.py" "$CONFIG" --launcher pytorch "$@"
