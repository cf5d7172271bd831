# Two entry points, each idempotent and doing its own set-up in one shared virtual
# environment (.venv): `make quickstart` (the main job on the bundled sample data) and
# `make test`. The first run on a machine compiles mmcv (~30+ min on 2 cores); pip's wheel
# cache makes every later environment on that machine take minutes.
PY := .venv/bin/python
QUICKSTART_CFG := configs/quickstart/litehrnet_18_sample_coco_256x192.py
QUICKSTART_DIR := work_dirs/quickstart

.PHONY: venv quickstart test lint

venv:
	bash tools/setup_env.sh

QUICKSTART_IMG := samples/coco/images/000000196141.jpg
QUICKSTART_CLIP := samples/video/pan_zoom_196141.mp4

# Train + evaluate (AP before and after) on the bundled images, draw the predicted
# skeletons of the trained model on one of them, then turn the bundled clip (a camera
# panning across that photo) into an annotated video with tracking (its people's boxes
# from the clip's ground truth: the offline HOG detector finds few of them).
quickstart: venv
	$(PY) tools/train.py $(QUICKSTART_CFG) --work-dir $(QUICKSTART_DIR)
	$(PY) tools/demo.py $(QUICKSTART_CFG) "$$(cat $(QUICKSTART_DIR)/last_checkpoint)" \
		$(QUICKSTART_IMG) --bboxes samples/coco/person_detection_sample.json \
		--bbox-thr 0.5 --out $(QUICKSTART_DIR)/skeletons.png
	$(PY) tools/inference.py $(QUICKSTART_CLIP) --pose2d $(QUICKSTART_CFG) --deploy \
		--pose2d-weights "$$(cat $(QUICKSTART_DIR)/last_checkpoint)" \
		--bboxes samples/video/pan_zoom_196141.boxes.json \
		--vis-out-dir $(QUICKSTART_DIR) --pred-out-dir $(QUICKSTART_DIR)

test: venv
	$(PY) -m pytest tests

# Lint (ruff.toml: pycodestyle, pyflakes, isort); `ruff check --fix .` applies the fixes.
lint: venv
	$(PY) -m ruff check .
	$(PY) -m isort --check-only --diff .
