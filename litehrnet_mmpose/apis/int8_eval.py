"""The cost of INT8 on real data: COCO keypoint AP of FP32 vs INT8 on the bundled COCO sample
(ground-truth boxes), the keypoint displacement between them on every bundled person, and
their latency in the same runtime (what ``tools/quantize.py --eval`` prints)."""
import os
import tempfile
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from litehrnet_runtime.backends import open_backend

from ..analysis import summarize
from ..analysis.probes import interleaved
from ..deploy.quantize import COCO_SAMPLE, Box, bundled_boxes, person_boxes, read_image


def predict(backend: Any, boxes: Sequence[Box]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(keypoints (N, K, 2), scores (N, K)) per image of ``boxes``, by the runtime's
    ``TopDownEstimator`` (flip test as exported) on ``backend``."""
    from litehrnet_runtime.topdown import TopDownEstimator
    estimator = TopDownEstimator(backend)
    return [estimator.estimate(read_image(path), xyxy) for path, xyxy in boxes]


def coco_ap(backend: Any, ann_file: str = COCO_SAMPLE[0],
            image_dir: str = COCO_SAMPLE[1]) -> float:
    """COCO keypoint AP (xtcocotools, OKS, ``use_area=True`` as MMPose's CocoMetric) of
    ``backend`` on ``ann_file`` with its ground-truth boxes (box score 1)."""
    import contextlib
    import io

    from xtcocotools.coco import COCO
    from xtcocotools.cocoeval import COCOeval

    from litehrnet_runtime.outputs import coco_results
    from litehrnet_runtime.topdown import TopDownEstimator
    estimator = TopDownEstimator(backend)
    frames = [(os.path.basename(path), estimator.people(read_image(path), xyxy))
              for path, xyxy in person_boxes(ann_file, image_dir)]
    sigmas = backend.meta['dataset'].get('sigmas')
    with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stdout(io.StringIO()):
        res = os.path.join(tmp, 'results.json')
        coco_results(frames, res)
        gt = COCO(ann_file)
        ev = COCOeval(gt, gt.loadRes(res), 'keypoints',
                      np.asarray(sigmas) if sigmas else None, use_area=True)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return float(ev.stats[0])


def displacement(ref: Sequence[Tuple[np.ndarray, np.ndarray]],
                 got: Sequence[Tuple[np.ndarray, np.ndarray]],
                 boxes: Sequence[Box], score_thr: float = 0.3) -> Dict[str, float]:
    """Keypoint displacement |got - ref| over every keypoint of every person, in pixels
    and as a fraction of the person's box size sqrt(w * h): mean and max, over all
    keypoints and over those the reference scores >= ``score_thr`` (visible ones; an
    occluded keypoint's flat heatmap lets its arg-max jump)."""
    px, frac, conf = [], [], []
    for (k0, s0), (k1, _), (_, xyxy) in zip(ref, got, boxes):
        d = np.linalg.norm(k1.astype(np.float64) - k0, axis=-1)  # (N, K)
        size = np.sqrt(np.prod(xyxy[:, 2:] - xyxy[:, :2], axis=1))[:, None]
        px.append(d.ravel())
        frac.append((d / size).ravel())
        conf.append((s0 >= score_thr).ravel())
    px_a, frac_a, conf_a = np.concatenate(px), np.concatenate(frac), np.concatenate(conf)
    out = dict(keypoints=int(px_a.size), people=int(sum(len(b) for _, b in boxes)),
               mean_px=float(px_a.mean()), max_px=float(px_a.max()),
               mean_frac_box=float(frac_a.mean()), max_frac_box=float(frac_a.max()),
               box_size='sqrt(w*h) of the ground-truth box', score_thr=score_thr,
               confident_keypoints=int(conf_a.sum()))
    if conf_a.any():
        out.update(conf_mean_px=float(px_a[conf_a].mean()),
                   conf_max_px=float(px_a[conf_a].max()),
                   conf_mean_frac_box=float(frac_a[conf_a].mean()),
                   conf_max_frac_box=float(frac_a[conf_a].max()))
    return out


def evaluate(fp32: str, int8: str, backend: str,
             latency_pairs: Sequence[Tuple[int, str, str]] = (), repeats: int = 20,
             boxes: Optional[Sequence[Box]] = None) -> Dict[str, Any]:
    """FP32 vs INT8 in ``backend``: COCO AP on the bundled COCO sample (ground-truth
    boxes), keypoint :func:`displacement` on ``boxes`` (default: every bundled COCO and
    MPII person) and, per (batch, fp32 file, int8 file) of ``latency_pairs``, their
    interleaved median latency on 1 thread."""
    boxes = bundled_boxes() if boxes is None else boxes
    ref_b, got_b = open_backend(fp32, backend, 1), open_backend(int8, backend, 1)
    out: Dict[str, Any] = dict(backend=backend, fp32=fp32, int8=int8)
    out['ap_fp32'], out['ap_int8'] = coco_ap(ref_b), coco_ap(got_b)
    out['ap_drop'] = out['ap_fp32'] - out['ap_int8']
    out['displacement'] = displacement(predict(ref_b, boxes), predict(got_b, boxes), boxes)
    lat = {}
    for batch, f32, i8 in latency_pairs:
        a, b = open_backend(f32, backend, 1), open_backend(i8, backend, 1)
        x = np.random.default_rng(0).standard_normal(
            (batch, 3) + tuple(a.meta['input']['size'][::-1])).astype(np.float32)
        times = interleaved({'fp32': lambda: a.run(x), 'int8': lambda: b.run(x)}, repeats,
                            warmup=3)
        t = {k: summarize(v)['median'] for k, v in times.items()}
        lat[f'batch{batch}'] = dict(fp32_ms=t['fp32'] * 1e3, int8_ms=t['int8'] * 1e3,
                                    ratio=t['int8'] / t['fp32'], threads=1, repeats=repeats)
    out['latency'] = lat
    return out
