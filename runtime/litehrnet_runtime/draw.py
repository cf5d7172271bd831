"""Drawing people on an image: boxes, keypoints, skeleton links and track ids (OpenCV only)."""
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .types import Person

Color = Tuple[int, int, int]
# BGR hues, cycled over keypoints / links / track ids when no colours are given
PALETTE: List[Color] = [(255, 128, 0), (0, 128, 255), (0, 255, 0), (255, 0, 255),
                        (0, 255, 255), (255, 255, 0), (128, 0, 255), (0, 0, 255),
                        (255, 0, 0), (51, 153, 255), (255, 153, 51), (153, 255, 51)]
BOX_COLOR: Color = (0, 255, 0)
SHIFT = 4  # fractional bits of cv2 drawing coordinates: anti-aliased at 1/16 pixel


def _colors(colors: Optional[Sequence[Sequence[int]]], n: int, what: str) -> List[Color]:
    """``n`` BGR tuples: the palette cycled, or the caller's (at least ``n`` of them)."""
    if colors is None:
        return [PALETTE[i % len(PALETTE)] for i in range(n)]
    colors = list(colors)
    if len(colors) < n or any(len(c) != 3 for c in colors):
        raise ValueError(f'{what} must be {n} BGR triples, got {len(colors)}: {colors[:3]}...')
    return [(int(c[0]), int(c[1]), int(c[2])) for c in colors]


def _links(skeleton: Sequence[Sequence[int]]) -> List[Tuple[int, int]]:
    links = []
    for i, link in enumerate(skeleton):
        if (len(link) != 2 or not all(isinstance(k, (int, np.integer)) for k in link)
                or min(link) < 0):
            raise ValueError(f'skeleton link {i} must be a pair of keypoint indices >= 0, got '
                             f'{link!r}')
        links.append((int(link[0]), int(link[1])))
    return links


def _fixed(xy: np.ndarray) -> Tuple[int, int]:
    """Pixel position -> cv2 fixed-point point (``SHIFT`` fractional bits)."""
    return int(round(float(xy[0]) * (1 << SHIFT))), int(round(float(xy[1]) * (1 << SHIFT)))


def _label(canvas: np.ndarray, text: str, x: int, y: int, color: Color, scale: float) -> None:
    """``text`` on a filled ``color`` box whose bottom-left is at (x, y), kept inside."""
    font, size = cv2.FONT_HERSHEY_SIMPLEX, max(0.4, 0.5 * scale)
    weight = max(1, round(scale))
    (tw, th), base = cv2.getTextSize(text, font, size, weight)
    x = min(max(x, 0), max(canvas.shape[1] - tw - 4, 0))
    y = max(y, th + base + 4)  # at the top edge the label goes inside the box
    cv2.rectangle(canvas, (x, y - th - base - 4), (x + tw + 4, y), color, -1)
    ink = (0, 0, 0) if sum(color) > 382 else (255, 255, 255)
    cv2.putText(canvas, text, (x + 2, y - base - 2), font, size, ink, weight, cv2.LINE_AA)


def draw_people(image: np.ndarray, people: Sequence[Person], skeleton: Sequence[Sequence[int]],
                kpt_thr: float = 0.3, link_colors: Optional[Sequence[Sequence[int]]] = None,
                kpt_colors: Optional[Sequence[Sequence[int]]] = None, draw_bbox: bool = True,
                radius: Optional[int] = None, thickness: Optional[int] = None) -> np.ndarray:
    """A drawn copy of ``image`` (H x W x 3 uint8 BGR): per person its box (coloured by
    track id, which is written at the box corner), the links of ``skeleton`` (pairs of
    keypoint indices) whose two ends score above ``kpt_thr`` and those keypoints as dots.
    Colours are BGR per keypoint / per link; sizes default to scale with the image."""
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3
            and image.shape[2] == 3):
        raise TypeError(f'image must be an H x W x 3 uint8 array, got '
                        f'{getattr(image, "shape", type(image).__name__)}')
    links = _links(skeleton)
    scale = max(image.shape[:2]) / 640.0  # MMPose's sizes suit images of about 640 px
    radius = max(1, round(3 * scale)) if radius is None else radius
    thickness = max(1, round(2 * scale)) if thickness is None else thickness
    for what, value in (('radius', radius), ('thickness', thickness)):
        if not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f'{what} must be an int >= 1, got {value!r}')
    canvas = image.copy()
    far = 4.0 * max(image.shape[:2])  # clip wild predictions so cv2's int coordinates hold
    for n, person in enumerate(people):
        scores = np.asarray(person.keypoint_scores, dtype=np.float32).reshape(-1)
        kpts = np.asarray(person.keypoints, dtype=np.float32)
        k = len(scores)
        if kpts.shape != (k, 2):
            raise ValueError(f'person {n}: keypoints {kpts.shape} do not match keypoint_scores '
                             f'({k},)')
        for i, (a, b) in enumerate(links):
            if max(a, b) >= k:
                raise ValueError(f'skeleton link {i} {(a, b)} needs keypoint {max(a, b)}, but '
                                 f'person {n} has {k} keypoints (0..{k - 1})')
        shown = (scores > kpt_thr) & np.isfinite(kpts).all(axis=1)
        kpts = np.clip(np.nan_to_num(kpts), -far, far)
        tid = person.track_id
        box_color = BOX_COLOR if tid is None else PALETTE[int(tid) % len(PALETTE)]
        box = np.asarray(person.bbox, dtype=np.float32).reshape(-1)
        box_ok = box.size == 4 and bool(np.isfinite(box).all())
        box = np.clip(box, -far, far) if box_ok else box
        if box_ok and draw_bbox:
            cv2.rectangle(canvas, _fixed(box[:2]), _fixed(box[2:]), box_color, thickness,
                          cv2.LINE_AA, SHIFT)
        for (a, b), color in zip(links, _colors(link_colors, len(links), 'link_colors')):
            if shown[a] and shown[b]:
                cv2.line(canvas, _fixed(kpts[a]), _fixed(kpts[b]), color, thickness,
                         cv2.LINE_AA, SHIFT)
        for j, color in enumerate(_colors(kpt_colors, k, 'kpt_colors')):
            if shown[j]:
                cv2.circle(canvas, _fixed(kpts[j]), radius << SHIFT, color, -1, cv2.LINE_AA,
                           SHIFT)
        if tid is not None:
            x, y = (int(box[0]), int(box[1])) if box_ok else (0, 0)
            _label(canvas, f'id {tid}', x, y, box_color, scale)
    return canvas
