#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment with the pinned OpenMMLab stack.
# Idempotent: finishes in seconds when the environment is already complete. Every step
# goes through pip's cache, so the slow mmcv compile (~30+ min on 2 cores) happens
# once per machine; later environments take the cached wheel.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3.11}"
command -v "$PY" >/dev/null 2>&1 || PY=python3
STAMP="$VENV/.litehrnet_mmpose-stack"
# The stamp records the hash of the pins; changing requirements re-runs the install.
WANT="$(cat "$ROOT/requirements.txt" "$ROOT/requirements/"*.txt "$ROOT/tools/setup_env.sh" | sha256sum | cut -d' ' -f1)"
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install --progress-bar off)
export MAX_JOBS="${MAX_JOBS:-$(nproc)}"
# 1. torch: '===' (PEP 440 arbitrary equality) takes PyPI's standard build, not a local
#    '+cpu' wheel, beside which torchvision does not import.
"${PIP[@]}" -r "$ROOT/requirements/torch.txt"
# 2. build tools for mmcv / xtcocotools; mmcv's setup.py needs pkg_resources (setuptools<80).
"${PIP[@]}" -r "$ROOT/requirements/build.txt"
# 3. mmcv with its compiled ops (mmpose/mmseg import mmcv.ops). Its setup imports torch,
#    hence no build isolation.
"${PIP[@]}" --no-build-isolation -r "$ROOT/requirements/mmcv.txt"
# 4. the runtime needs of mmpose/mmdet/mmseg imports, then the three packages without their
#    metadata deps (mmpose's would pull chumpy, which does not build and is not needed).
"${PIP[@]}" -r "$ROOT/requirements/runtime.txt"
#    mmcv pulls opencv-python (GUI build: Qt, libGL); both wheels write the same cv2 files,
#    so put the headless ones back last whatever order pip installed them in.
"${PIP[@]}" --force-reinstall --no-deps -r <(grep '^opencv-python-headless' "$ROOT/requirements/runtime.txt")
"${PIP[@]}" --no-deps -r "$ROOT/requirements/openmmlab.txt"
# 5. xtcocotools from source: its PyPI wheel is built for numpy 1 and crashes under numpy 2.
"${PIP[@]}" --no-deps --no-build-isolation --no-binary xtcocotools -r "$ROOT/requirements/xtcocotools.txt"
# 6. test / benchmark / lint tools, the torch-free runtime and this package (editable).
"${PIP[@]}" -r "$ROOT/requirements/tests.txt"
"${PIP[@]}" -r "$ROOT/requirements/lint.txt"
"${PIP[@]}" --no-deps --no-build-isolation -e "$ROOT/runtime" -e "$ROOT"
"$VENV/bin/python" -c "import mmpose.models, mmseg.models, mmpose.visualization, xtcocotools.coco, litehrnet_mmpose, litehrnet_runtime"
echo "$WANT" > "$STAMP"
