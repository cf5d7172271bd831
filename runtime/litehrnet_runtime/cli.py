"""``litehrnet-pose INPUT --pose2d FILE``: poses on an image, a folder, a video or a webcam.

The command of the torch-free install (exported files only); ``tools/inference.py`` is
the same command with the full stack, which also takes a config and checkpoint
(``--pose2d CONFIG --pose2d-weights CKPT``) and mmdet detectors. Flags follow MMPose's
``demo/inferencer_demo.py`` where it has them.
"""
import argparse
import os
import signal
import sys
import time
from typing import Any, Callable, List, Optional, Tuple

import numpy as np

from .backends import BACKENDS, PRECISIONS, open_backend
from .boxes import BoxesFile, FrameBoxes
from .detect import build_detector
from .draw import draw_people
from .io import open_source
from .outputs import PredWriter, VisWriter, coco_results
from .pipeline import PoseEstimator
from .progress import Progress
from .types import Person

DETECTORS = ('hog', 'whole-image')


def build_parser(full_stack: bool = False) -> argparse.ArgumentParser:
    """The command line; ``full_stack`` adds the PyTorch / mmdet options of
    ``tools/inference.py``."""
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('input', help='an image, a folder of images, a video file, or a webcam '
                   'index (0, 1, ...)')
    p.add_argument('--pose2d', required=True,
                   help='an exported .onnx / OpenVINO .xml file (tools/export_onnx.py)' +
                   (', or a config file with --pose2d-weights' if full_stack else ''))
    backends = (('pytorch', ) if full_stack else ()) + ('auto', ) + BACKENDS
    p.add_argument('--backend', choices=backends, default='auto',
                   help='runtime: auto is pytorch for a config, openvino for .xml, '
                   'else onnxruntime')
    p.add_argument('--threads', type=int, help='CPU threads of the runtime (default: its own)')
    p.add_argument('--precision', choices=PRECISIONS, default='f32',
                   help='OpenVINO precision: bf16 runs 0.56-0.76x as long on CPUs with bf16 '
                   'units (AMX / AVX-512 BF16; others run f32), same AP on the bundled sample')
    p.add_argument('--det-model',
                   help='person detector: hog (default: OpenCV\'s, offline), whole-image' +
                   (', or an mmdet config with --det-weights' if full_stack else ''))
    p.add_argument('--bboxes', help='person boxes from a JSON file instead of a detector: '
                   '[[x1, y1, x2, y2(, score)], ...] for every image, or COCO detections '
                   '(on a video: image_id = frame index, with tracking)')
    p.add_argument('--bbox-thr', type=float, default=0.3, help='minimum detection score')
    p.add_argument('--kpt-thr', type=float, default=0.3, help='minimum keypoint score drawn')
    p.add_argument('--max-people', type=int, help='at most this many people per image')
    p.add_argument('--no-flip-test', action='store_true',
                   help='skip the flip test even where the exported config enables it')
    p.add_argument('--no-track', action='store_true',
                   help='video: detect on every frame instead of tracking')
    p.add_argument('--redetect-interval', type=int, default=10,
                   help='video tracking: run the detector every N frames (and when lost)')
    p.add_argument('--vis-out-dir', help='write drawn images / an annotated video here')
    p.add_argument('--pred-out-dir', help='write predictions as JSON here')
    p.add_argument('--show', action='store_true', help='show the drawn frames in a window')
    p.add_argument('--draw-bbox', action='store_true', help='draw the person boxes')
    p.add_argument('--radius', type=int, help='keypoint radius (default: image size based)')
    p.add_argument('--thickness', type=int, help='link thickness (default: size based)')
    p.add_argument('--quiet', action='store_true', help='no progress line')
    if full_stack:
        p.add_argument('--pose2d-weights', help='checkpoint for a --pose2d config')
        p.add_argument('--deploy', action='store_true',
                       help='pytorch: run the deployed (BN-folded, fused) model')
        p.add_argument('--det-weights', help='checkpoint of the --det-model mmdet config')
        p.add_argument('--det-cat-ids', type=int, nargs='+', default=[0],
                       help='mmdet class ids kept as people')
        p.add_argument('--device', default='cpu', help='pytorch / mmdet device')
    return p


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Range checks (argparse errors, exit status 2)."""
    for name in ('bbox_thr', 'kpt_thr'):
        if not 0 <= getattr(args, name) <= 1:
            p.error(f'--{name.replace("_", "-")}: expected a score in [0, 1], got '
                    f'{getattr(args, name)}')
    for name in ('threads', 'max_people', 'radius', 'thickness'):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f'--{name.replace("_", "-")}: expected a positive int, got {value}')
    if args.redetect_interval < 1:
        p.error(f'--redetect-interval: expected a positive int, got {args.redetect_interval}')
    if args.bboxes and args.det_model:
        p.error('--bboxes and --det-model: give one way of finding people')
    args.det_model = args.det_model or 'hog'
    if not (args.vis_out_dir or args.pred_out_dir or args.show):
        print('note: no --vis-out-dir, --pred-out-dir or --show: predicting without saving',
              file=sys.stderr)


def runtime_detector(args: argparse.Namespace) -> Callable[[np.ndarray], Any]:
    """The detector of ``--det-model`` for the torch-free runtime."""
    if args.det_model not in DETECTORS:
        raise ValueError(f'--det-model {args.det_model!r}: the torch-free runtime has '
                         f'{", ".join(DETECTORS)}; mmdet detectors need the full stack '
                         '(tools/inference.py)')
    return build_detector(args.det_model)


class _Window:
    """``--show``: cv2.imshow, refused up front where OpenCV has no GUI (the headless
    wheel)."""

    def __init__(self) -> None:
        import cv2
        if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY')
                                                     or os.environ.get('WAYLAND_DISPLAY')):
            # OpenCV's Qt build aborts the process (not an exception) without a display
            raise ValueError('--show: no display (DISPLAY is not set); write the drawn '
                             'frames with --vis-out-dir instead')
        try:
            cv2.namedWindow('litehrnet_mmpose', cv2.WINDOW_NORMAL)
        except cv2.error as e:
            raise ValueError('--show: this OpenCV has no GUI (opencv-python-headless); '
                             'install opencv-python, or write with --vis-out-dir') from e
        self.cv2 = cv2

    def show(self, image: np.ndarray, wait_ms: int) -> bool:
        """Show ``image``; False when the user pressed q or Esc."""
        self.cv2.imshow('litehrnet_mmpose', image)
        return self.cv2.waitKey(wait_ms) & 0xFF not in (ord('q'), 27)


def _sigterm_to_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def run(args: argparse.Namespace, backend: Any, detector: Callable[[np.ndarray], Any],
        detector_name: str) -> int:
    """Process ``args.input``; 0 when done, 130 when interrupted (output kept valid)."""
    boxes_file = BoxesFile(args.bboxes) if args.bboxes else None
    source = open_source(args.input)
    meta = backend.meta
    video = source.kind in ('video', 'webcam')
    frame_boxes = None
    if video and boxes_file is not None and boxes_file.by_id is not None:
        # per-frame detections stand in for the detector; the tracker keeps its ids
        frame_boxes = FrameBoxes(boxes_file, args.bbox_thr)
        detector, detector_name, boxes_file = frame_boxes, f'--bboxes {args.bboxes}', None
    pose = PoseEstimator(backend, detector, flip_test=False if args.no_flip_test else None,
                         bbox_thr=args.bbox_thr if boxes_file is None else 0.,
                         max_people=args.max_people, track=video and not args.no_track,
                         redetect_interval=args.redetect_interval, kpt_thr=args.kpt_thr)
    ds = meta['dataset']
    skeleton = [tuple(link) for link in ds.get('skeleton', [])]
    kpt_colors = _bgr(ds.get('keypoint_colors_rgb'))
    link_colors = _bgr(ds.get('skeleton_colors_rgb'))
    run_meta = dict(model=meta['model'], input=args.input, backend=getattr(backend, 'name',
                    type(backend).__name__), detector=detector_name,
                    flip_test=pose.estimator.flip_test, tracking=pose.tracker is not None,
                    keypoint_names=ds['keypoint_names'], skeleton=ds.get('skeleton', []))
    window = _Window() if args.show else None
    vis = VisWriter(args.vis_out_dir, source) if args.vis_out_dir else None
    pred = PredWriter(args.pred_out_dir, source, run_meta) if args.pred_out_dir else None
    coco: List[Tuple[str, List[Person]]] = []
    progress = None if args.quiet else Progress(source.total, f'{source.kind} {source.name}')
    interrupted, finished, n_frames, n_people, box_misses = False, False, 0, 0, 0
    old_term = signal.signal(signal.SIGTERM, _sigterm_to_interrupt)
    start = time.perf_counter()
    try:
        for frame in source:
            boxes = None
            if frame_boxes is not None:  # the frame's position in the video
                frame_boxes.position = int(frame.name.rsplit('_', 1)[-1])
            if boxes_file is not None:
                try:
                    boxes = boxes_file.boxes(frame.name, args.bbox_thr)
                except ValueError as e:
                    if source.kind == 'image':
                        raise
                    box_misses += 1
                    print(f'warning: {frame.name}: no boxes ({e})', file=sys.stderr)
                    boxes = np.zeros((0, 4), np.float32)
            people = pose(frame.image, boxes)
            frame.people = people
            n_frames += 1
            n_people += len(people)
            if vis is not None or window is not None:
                drawn = draw_people(frame.image, people, skeleton, kpt_thr=args.kpt_thr,
                                    link_colors=link_colors, kpt_colors=kpt_colors,
                                    draw_bbox=args.draw_bbox, radius=args.radius,
                                    thickness=args.thickness)
                if vis is not None:
                    vis.write(frame, drawn)
                if window is not None and not window.show(drawn, 1 if video else 0):
                    break
            if pred is not None:
                pred.write(frame)
                if source.kind == 'folder':
                    coco.append((frame.name, people))
            if progress is not None:
                progress.update()
        else:  # not after --show's q: complete means the whole input
            finished = True
    except KeyboardInterrupt:
        interrupted = True
    finally:  # also on an error: what was processed stays written, marked incomplete
        signal.signal(signal.SIGTERM, old_term)
        elapsed = time.perf_counter() - start
        if progress is not None:
            progress.close()
        if vis is not None:
            vis.close()
        if pred is not None:
            pred.close(interrupted=not finished)
        source.close()
    written = []
    if pred is not None and coco and all(os.path.splitext(n)[0].isdigit() for n, _ in coco):
        path = os.path.join(args.pred_out_dir, 'coco_keypoint_results.json')
        coco_results(coco, path)
        written.append(path)
    _report(source, n_frames, n_people, elapsed, pose, interrupted, box_misses,
            (vis.paths if vis else []) + (pred.paths if pred else []) + written)
    return 130 if interrupted else 0


def _bgr(colors: Optional[List[List[float]]]) -> Optional[List[Tuple[int, int, int]]]:
    return None if not colors else [(int(c[2]), int(c[1]), int(c[0])) for c in colors]


def _report(source: Any, frames: int, people: int, elapsed: float, pose: PoseEstimator,
            interrupted: bool, box_misses: int, paths: List[str]) -> None:
    fps = frames / elapsed if elapsed > 0 else 0.
    t = pose.timings
    stages = ', '.join(f'{k} {v * 1e3 / max(frames, 1):.1f} ms' for k, v in t.items())
    print(f'{"interrupted after" if interrupted else "done:"} {frames} {source.kind} '
          f'frame(s), {people} people, {elapsed:.1f} s, {fps:.1f} fps '
          f'(per frame: {stages})')
    if pose.tracker is not None:
        print(f'tracking: detector ran on {pose.tracker.detector_calls} of {frames} frames')
    if source.skipped:
        print(f'skipped {source.skipped} item(s) that failed to decode: '
              f'{source.skipped_items[:10]}')
    if box_misses:
        print(f'{box_misses} image(s) without boxes in --bboxes')
    for path in paths:
        print(f'wrote {path}')


def main(argv: Optional[List[str]] = None) -> int:
    """The torch-free command: exported files only."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)
    try:
        backend = open_backend(args.pose2d, args.backend, args.threads, args.precision)
        detector = runtime_detector(args)
        return run(args, backend, detector, args.det_model)
    except (FileNotFoundError, ValueError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
