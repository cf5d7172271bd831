"""Make a test / demo video with known ground truth from one annotated COCO photo.

A virtual camera pans and zooms across the photo: each frame is ``cv2.warpAffine`` of the
photo with a known matrix (zoom about 1.1x to 1.6x, cosine-eased between keyframes, so the
motion is smooth and people leave and re-enter the view). Beside the clip it writes
``<stem>.gt.json``: per frame the matrix, and per annotated person (COCO annotation id) the
box and the 17 keypoints carried through that matrix; and ``<stem>.boxes.json``: those boxes
as COCO detections (``image_id`` = frame index, people at least half in view), the boxes a
perfect detector would give, for ``tools/inference.py CLIP --bboxes``. Numpy and OpenCV only;
deterministic.

    python tools/make_clip.py --out samples/video/pan_zoom_196141.mp4
"""
import argparse
import json
import math
import os
import os.path as osp
from typing import Any, Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

DEFAULT_IMAGE = 'samples/coco/images/000000196141.jpg'
DEFAULT_ANN = 'samples/coco/person_keypoints_sample.json'
DEFAULT_OUT = 'samples/video/pan_zoom_196141.mp4'
GREY = (114, 114, 114)  # border colour where the view leaves the photo
# Camera keyframes: view centre as fractions of the photo's width and height, and zoom.
KEYFRAMES = ((0.5, 0.5, 1.12), (0.3, 0.45, 1.6), (0.68, 0.6, 1.5), (0.5, 0.5, 1.12))
CODECS = {'.mp4': 'mp4v', '.avi': 'MJPG'}


def camera_matrix(index: int, frames: int, image_size: Tuple[int, int],
                  size: Tuple[int, int]) -> np.ndarray:
    """The 2 x 3 affine matrix (photo pixels to frame pixels) of frame ``index``."""
    t = index / max(frames - 1, 1) * (len(KEYFRAMES) - 1)
    seg = min(int(t), len(KEYFRAMES) - 2)
    ease = (1 - math.cos(math.pi * (t - seg))) / 2
    (fx0, fy0, z0), (fx1, fy1, z1) = KEYFRAMES[seg], KEYFRAMES[seg + 1]
    iw, ih = image_size
    w, h = size
    zoom = z0 + (z1 - z0) * ease
    centre = []
    for frac0, frac1, extent, out in ((fx0, fx1, iw, w), (fy0, fy1, ih, h)):
        c = (frac0 + (frac1 - frac0) * ease) * extent
        half = out / (2 * zoom)
        # Keep the view inside the photo where it fits, so borders appear only if it must.
        c = min(max(c, half), extent - half) if 2 * half <= extent else extent / 2
        centre.append(c)
    return np.array([[zoom, 0, w / 2 - zoom * centre[0]],
                     [0, zoom, h / 2 - zoom * centre[1]]], np.float64)


def _transform(matrix: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ matrix[:, :2].T + matrix[:, 2]


def person_gt(matrix: np.ndarray, ann: Dict[str, Any], size: Tuple[int, int]) -> Dict[str, Any]:
    """One annotated person in one frame: clipped xyxy box (None when fully out of view),
    the visible part of the box, and keypoints ``[x, y, v]`` (v 0 if unlabelled or outside)."""
    w, h = size
    x, y, bw, bh = ann['bbox']
    corners = _transform(matrix, np.array([[x, y], [x + bw, y], [x, y + bh], [x + bw, y + bh]]))
    full = np.concatenate([corners.min(0), corners.max(0)])
    box = np.clip(full, 0, [w, h, w, h])
    area = float(np.prod(np.clip(box[2:] - box[:2], 0, None)))
    in_view = bool(area > 0)
    kpts = np.asarray(ann['keypoints'], np.float64).reshape(-1, 3)
    xy = _transform(matrix, kpts[:, :2])
    inside = (xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)
    vis = np.where((kpts[:, 2] > 0) & inside, kpts[:, 2], 0)
    keypoints = [[round(float(px), 2), round(float(py), 2), int(v)] if v > 0 else [0, 0, 0]
                 for (px, py), v in zip(xy, vis)]
    return dict(id=int(ann['id']), in_view=in_view,
                bbox=[round(float(v), 2) for v in box] if in_view else None,
                visible_fraction=round(area / float(np.prod(full[2:] - full[:2])), 4),
                num_keypoints=int((vis > 0).sum()), keypoints=keypoints)


def _check(frames: Any, fps: Any, size: Sequence[int]) -> Tuple[int, float, Tuple[int, int]]:
    if isinstance(frames, bool) or not isinstance(frames, int) or frames < 2:
        raise ValueError(f'frames: expected an int >= 2, got {frames!r}')
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not 1 <= fps <= 240:
        raise ValueError(f'fps: expected a number in [1, 240], got {fps!r}')
    if (len(size) != 2 or not all(isinstance(v, int) and 64 <= v <= 4096 for v in size)):
        raise ValueError(f'size: expected (width, height), ints in [64, 4096], got {size!r}')
    return frames, float(fps), (size[0], size[1])


def make_clip(image_path: str, ann_path: str, out_path: str, frames: int = 90,
              fps: float = 30, size: Tuple[int, int] = (640, 480)) -> Dict[str, Any]:
    """Write the clip to ``out_path`` (.mp4: mp4v, .avi: MJPG) and its ground truth to
    ``<stem>.gt.json``; return the ground truth."""
    frames, fps, size = _check(frames, fps, tuple(size))
    ext = osp.splitext(out_path)[1].lower()
    if ext not in CODECS:
        raise ValueError(f'out_path: expected a {" or ".join(CODECS)} file, got {out_path!r}')
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        raise ValueError(f'image_path: cannot read an image from {image_path!r}')
    with open(ann_path) as f:
        coco = json.load(f)
    name = osp.basename(image_path)
    info = next((im for im in coco.get('images', []) if im.get('file_name') == name), None)
    if info is None:
        raise ValueError(f'ann_path: {ann_path!r} has no image with file_name {name!r}')
    anns = sorted((a for a in coco.get('annotations', [])
                   if a['image_id'] == info['id'] and a.get('category_id', 1) == 1),
                  key=lambda a: a['id'])
    licence = next((lic for lic in coco.get('licenses', [])
                    if lic.get('id') == info.get('license')), None)
    categories = [c for c in coco.get('categories', []) if c.get('id') == 1]
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    writer = cv2.VideoWriter(out_path, cv2.VideoWriter_fourcc(*CODECS[ext]), fps, size)
    if not writer.isOpened():
        raise RuntimeError(f'cv2.VideoWriter cannot write {CODECS[ext]} to {out_path!r}; '
                           'try an .avi (MJPG) out_path')
    per_frame: List[Dict[str, Any]] = []
    try:
        for i in range(frames):
            matrix = camera_matrix(i, frames, (image.shape[1], image.shape[0]), size)
            writer.write(cv2.warpAffine(image, matrix, size, flags=cv2.INTER_LINEAR,
                                        borderMode=cv2.BORDER_CONSTANT, borderValue=GREY))
            per_frame.append(dict(index=i, matrix=np.round(matrix, 6).tolist(),
                                  people=[person_gt(matrix, a, size) for a in anns]))
    finally:
        writer.release()
    gt = dict(video=osp.basename(out_path), frames=frames, fps=fps, width=size[0],
              height=size[1], source_image=name, image_id=info['id'],
              source_url=info.get('flickr_url') or info.get('coco_url'), license=licence,
              person_ids=[a['id'] for a in anns],
              keypoint_names=categories[0].get('keypoints') if categories else None,
              keypoint_format='[x, y, v] in frame pixels; v as COCO (2 visible, 1 occluded), '
                              '0 if unlabelled or outside the frame',
              per_frame=per_frame)
    with open(gt_path(out_path), 'w') as f:
        body = ',\n'.join(json.dumps(fr, separators=(',', ':')) for fr in per_frame)
        head = json.dumps({k: v for k, v in gt.items() if k != 'per_frame'}, indent=1)
        f.write(head[:-2] + ',\n "per_frame": [\n' + body + '\n]}\n')
    with open(boxes_path(out_path), 'w') as f:
        json.dump(gt_detections(gt), f, separators=(',', ':'))
    return gt


def gt_detections(gt: Dict[str, Any], min_visible: float = 0.5) -> List[Dict[str, Any]]:
    """COCO detection records of the ground-truth people at least ``min_visible`` in view,
    ``image_id`` the frame index: what ``--bboxes`` takes for a video."""
    records = []
    for frame in gt['per_frame']:
        for person in frame['people']:
            box = person['bbox']
            if box is None or person['visible_fraction'] < min_visible:
                continue
            x1, y1, x2, y2 = box
            records.append(dict(image_id=frame['index'], category_id=1, score=1.0,
                                bbox=[round(v, 2) for v in (x1, y1, x2 - x1, y2 - y1)]))
    return records


def gt_path(out_path: str) -> str:
    """``clip.mp4`` -> ``clip.gt.json``."""
    return osp.splitext(out_path)[0] + '.gt.json'


def boxes_path(out_path: str) -> str:
    """``clip.mp4`` -> ``clip.boxes.json``."""
    return osp.splitext(out_path)[0] + '.boxes.json'


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Command line: see the module docstring."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--image', default=DEFAULT_IMAGE, help='the photo (default %(default)s)')
    parser.add_argument('--ann', default=DEFAULT_ANN,
                        help='COCO keypoint annotations holding it (default %(default)s)')
    parser.add_argument('--frames', type=int, default=90, help='default %(default)s')
    parser.add_argument('--fps', type=float, default=30, help='default %(default)s')
    parser.add_argument('--size', type=int, nargs=2, default=(640, 480), metavar=('W', 'H'))
    parser.add_argument('--out', default=DEFAULT_OUT, help='.mp4 or .avi (default %(default)s)')
    args = parser.parse_args(argv)
    try:
        gt = make_clip(args.image, args.ann, args.out, args.frames, args.fps, tuple(args.size))
    except (ValueError, OSError) as err:
        parser.error(str(err))
    print(f'{args.out}: {gt["frames"]} frames, {gt["width"]}x{gt["height"]} at {gt["fps"]:g} '
          f'fps, {osp.getsize(args.out)} bytes; ground truth {gt_path(args.out)}, boxes '
          f'{boxes_path(args.out)}')


if __name__ == '__main__':
    main()
