"""The torch-free runtime's inputs (litehrnet_runtime.io) and outputs (outputs), on real
images and on videos written here; numpy and OpenCV only (``--noconftest``, no torch)."""
import contextlib
import importlib
import importlib.util
import json
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import cv2
import numpy as np
import pytest

from litehrnet_runtime.io import open_source
from litehrnet_runtime.outputs import PredWriter, VisWriter, coco_results
from litehrnet_runtime.types import Person

COCO_DIR = Path(__file__).resolve().parents[1] / 'samples/coco'
IMAGE = sorted((COCO_DIR / 'images').glob('*.jpg'))[0]
FPS, N_FRAMES, SIZE = 25, 30, (160, 120)
LINKS = [(0, 1), (1, 2)]
HAS_COCO = any(importlib.util.find_spec(m) for m in ('xtcocotools', 'pycocotools'))


def make_video(path: Path, fourcc: str) -> Path:
    """A video whose frame i is flat grey 8 * i, so a decoded frame tells its position."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, SIZE)
    assert writer.isOpened(), fourcc
    for i in range(N_FRAMES):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 8 * i, np.uint8))
    writer.release()
    return path


def decode_all(path: Path) -> tuple:
    """(frames decoded, (width, height), fps) of a video file."""
    cap = cv2.VideoCapture(str(path))
    n = sum(1 for _ in iter(lambda: cap.read()[0], False))
    return n, (cap.get(cv2.CAP_PROP_FRAME_WIDTH), cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), \
        cap.get(cv2.CAP_PROP_FPS)


def person(kpts: Sequence[Sequence[float]], scores: Sequence[float],
           bbox: Sequence[float] = (10, 10, 90, 90), track_id: Optional[int] = None) -> Person:
    return Person(bbox=np.asarray(bbox, np.float32), bbox_score=0.9,
                  keypoints=np.asarray(kpts, np.float32),
                  keypoint_scores=np.asarray(scores, np.float32), track_id=track_id)


THREE = person([[20, 20], [80, 20], [80, 80]], [0.9, 0.8, 0.1], bbox=(5, 5, 95, 95))


def raises(error: type, words: Sequence[str], fn: Callable, *args: object) -> None:
    """Assert ``fn(*args)`` raises ``error`` whose message holds every word."""
    with pytest.raises(error) as info:
        fn(*args)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


@pytest.fixture(scope='module')
def videos(tmp_path_factory: pytest.TempPathFactory) -> Dict[str, Path]:
    d = tmp_path_factory.mktemp('videos')
    return {'.mp4': make_video(d / 'clip.mp4', 'mp4v'), '.avi': make_video(d / 'clip.avi', 'MJPG')}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A jpg, a grey PNG (upper-case extension), a corrupt .jpg, a text file, a subfolder."""
    d = tmp_path / 'imgs'
    (d / 'sub').mkdir(parents=True)
    shutil.copy(IMAGE, d / 'b.jpg')
    cv2.imwrite(str(d / 'a.PNG'), np.zeros((40, 30), np.uint8))
    (d / 'c.jpg').write_bytes(b'not a jpeg at all')
    (d / 'notes.txt').write_text('hi')
    return d


# --------------------------------------------------------------------------- sources


def test_image() -> None:
    with open_source(str(IMAGE)) as src:
        (frame,) = list(src)
    assert (src.kind, src.name, src.total, src.fps) == ('image', IMAGE.stem, 1, None)
    assert (frame.index, frame.name, frame.image.dtype, frame.image.shape[2]) == (
        0, IMAGE.name, np.uint8, 3)


def test_folder_skips_bad_image(folder: Path, capsys: pytest.CaptureFixture) -> None:
    src = open_source(str(folder))
    frames = list(src)
    assert (src.kind, src.name, src.total, src.skipped_items) == ('folder', 'imgs', 3,
                                                                  ['c.jpg'])
    assert [(f.index, f.name) for f in frames] == [(0, 'a.PNG'), (1, 'b.jpg')]
    assert frames[0].image.shape == (40, 30, 3)  # grey read as BGR
    assert 'c.jpg' in capsys.readouterr().err


def test_folder_all_bad(tmp_path: Path) -> None:
    for name in ('x.jpg', 'y.png'):
        (tmp_path / name).write_bytes(bytes(10))
    raises(ValueError, ['none of the 2 images', 'x.jpg'], list, open_source(str(tmp_path)))


@pytest.mark.parametrize('ext', ['.mp4', '.avi'])
def test_video(videos: Dict[str, Path], ext: str) -> None:
    with open_source(str(videos[ext])) as src:
        frames = list(src)
    assert (src.kind, src.name, src.total, src.fps, src.skipped) == ('video', 'clip',
                                                                     N_FRAMES, FPS, 0)
    assert [f.name for f in frames] == [f'frame_{i:06d}' for i in range(N_FRAMES)]
    assert frames[-1].image.shape == (SIZE[1], SIZE[0], 3)
    assert [f.time_s for f in frames[:3]] == pytest.approx([0, 1 / FPS, 2 / FPS])


def test_webcam_if_present() -> None:
    cap = cv2.VideoCapture(0)
    found = cap.isOpened()
    cap.release()
    if not found:
        pytest.skip('no webcam at index 0')
    with open_source('0') as src:
        frames = [f for f, _ in zip(src, range(3))]
    assert (src.kind, src.total, len(frames), frames[0].image.ndim) == ('webcam', None, 3, 3)


@pytest.mark.parametrize('spec, files, error, words', [
    ('97', {}, ValueError, ['no webcam at index 97']),
    ('missing.jpg', {}, FileNotFoundError, ['missing.jpg', 'does not exist']),
    ('.', {}, ValueError, ['has no images', 'nothing']),
    ('.', {'a.txt': b'x', 'b.txt': b'x'}, ValueError, ['has no images', '2 .txt']),
    ('x.mp4', {'x.mp4': b'not a video'}, ValueError, ['cannot open video', 'x.mp4']),
    ('x.jpg', {'x.jpg': b'\xff\xd8garbage'}, ValueError, ['cannot decode image', 'x.jpg']),
], ids=['no-webcam', 'missing', 'empty-folder', 'no-images', 'not-a-video', 'corrupt-image'])
def test_bad_input(tmp_path: Path, spec: str, files: Dict[str, bytes], error: type,
                   words: List[str]) -> None:
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    raises(error, words, open_source, spec if spec.isdigit() else str(tmp_path / spec))
    raises(TypeError, ['int'], open_source, 0)


def test_corrupt_frames_midway(tmp_path: Path) -> None:
    """MJPG .avi with frames 5, 6 and 12 zeroed: OpenCV's read() fails on each and then
    goes on; the source counts them and keeps the others, names still the positions."""
    data = bytearray(make_video(tmp_path / 'v.avi', 'MJPG').read_bytes())
    pos, end = data.find(b'movi'), data.find(b'idx1')
    chunks = []  # (offset, size) of each '00dc' frame chunk
    while 0 <= (pos := data.find(b'00dc', pos)) < end:
        chunks.append((pos + 8, struct.unpack('<I', data[pos + 4:pos + 8])[0]))
        pos += 8 + chunks[-1][1] + (chunks[-1][1] & 1)  # chunks are padded to even
    assert len(chunks) == N_FRAMES
    for offset, size in (chunks[5], chunks[6], chunks[12]):
        data[offset:offset + size] = bytes(size)
    (tmp_path / 'v.avi').write_bytes(data)
    with open_source(str(tmp_path / 'v.avi')) as src:
        frames = list(src)
    assert src.skipped_items == ['frame_000005', 'frame_000006', 'frame_000012']
    assert [f.index for f in frames] == list(range(N_FRAMES - 3))
    for f in frames:  # each frame is the one its name says (grey level 8 * position)
        pos = int(f.name[6:])
        assert abs(int(f.image[60, 80, 0]) - 8 * pos) <= 3, f.name
        assert f.time_s == pytest.approx(pos / FPS)


def test_truncated_video(tmp_path: Path) -> None:
    data = make_video(tmp_path / 'v.avi', 'MJPG').read_bytes()
    (tmp_path / 'v.avi').write_bytes(data[:len(data) // 2])
    with open_source(str(tmp_path / 'v.avi')) as src:
        frames = list(src)
    assert 0 < len(frames) < N_FRAMES and len(frames) + src.skipped == N_FRAMES


# --------------------------------------------------------------------------- writers


def test_vis_images(folder: Path, tmp_path: Path) -> None:
    src = open_source(str(folder))
    with VisWriter(str(tmp_path / 'vis'), src) as vis:
        for frame in src:
            vis.write(frame, frame.image)
    assert [p.name for p in vis.paths] == ['a.PNG', 'b.jpg']
    assert cv2.imread(str(vis.paths[0])).shape == (40, 30, 3)
    raises(ValueError, ['input folder'], VisWriter, str(folder), src)


@pytest.mark.parametrize('ext', ['.mp4', '.avi'])
@pytest.mark.parametrize('interrupt', [False, True])
def test_vis_video(videos: Dict[str, Path], tmp_path: Path, ext: str, interrupt: bool) -> None:
    """The annotated video decodes with every frame written, also after Ctrl-C."""
    src = open_source(str(videos[ext]))
    n = 7 if interrupt else N_FRAMES
    with pytest.raises(KeyboardInterrupt) if interrupt else contextlib.nullcontext():
        with src, VisWriter(str(tmp_path), src) as vis:
            for frame in src:
                vis.write(frame, frame.image)
                if frame.index + 1 == n and interrupt:
                    raise KeyboardInterrupt
    assert vis.paths == [tmp_path / 'clip.mp4']
    assert decode_all(vis.paths[0]) == (n, SIZE, FPS)


def test_vis_video_bad_frames(videos: Dict[str, Path], tmp_path: Path) -> None:
    with open_source(str(videos['.avi'])) as src, VisWriter(str(tmp_path), src) as vis:
        frame = next(iter(src))
        vis.write(frame, frame.image)
        raises(ValueError, ['8x8', '160x120'], vis.write, frame, np.zeros((8, 8, 3), np.uint8))
        raises(TypeError, ['uint8'], vis.write, frame, frame.image.astype(np.float32))


def test_pred_images(folder: Path, tmp_path: Path) -> None:
    src = open_source(str(folder))
    with PredWriter(str(tmp_path), src, meta={'model': 'x'}) as preds:
        for frame in src:
            preds.write(frame, [THREE])
    assert [p.name for p in preds.paths] == ['a.json', 'b.json']
    (record,) = json.loads(preds.paths[1].read_text())
    assert record == THREE.to_dict() and record['keypoints'][1] == [80, 20]


def test_pred_video(videos: Dict[str, Path], tmp_path: Path) -> None:
    """Valid JSON from the start, after a periodic flush (writer open), after Ctrl-C."""
    src = open_source(str(videos['.avi']))
    meta = {'model': 'litehrnet_18', 'keypoint_names': ['a', 'b', 'c']}
    preds = PredWriter(str(tmp_path), src, meta, flush_every=5, flush_interval_s=60)
    path = tmp_path / 'clip.json'
    assert json.loads(path.read_text())['frames'] == []
    for frame in src:
        frame.people = [person([[1, 2], [3, 4], [5, 6]], [0.9, 0.8, 0.1], track_id=3)]
        preds.write(frame)
        if frame.index == 11:
            break
    on_disk = json.loads(path.read_text())
    assert (len(on_disk['frames']), on_disk['complete'], on_disk['meta']) == (10, False, meta)
    preds.close(interrupted=True)
    done = json.loads(path.read_text())
    assert (len(done['frames']), done['complete'], done['skipped']) == (12, False, [])
    first = done['frames'][0]
    assert (first['index'], first['name'], first['time_s']) == (0, 'frame_000000', 0.0)
    assert first['people'][0]['track_id'] == 3
    with PredWriter(str(tmp_path / 'b'), src, meta) as preds:
        preds.write(frame)
    assert json.loads((tmp_path / 'b/clip.json').read_text())['complete'] is True
    raises(TypeError, ['JSON'], PredWriter, str(tmp_path), src, {'f': object()})


def test_pred_video_killed(videos: Dict[str, Path], tmp_path: Path) -> None:
    """SIGKILL after 12 frames (no close): the last periodic flush is on disk, valid."""
    code = (f'import os; from litehrnet_runtime.io import open_source\n'
            f'from litehrnet_runtime.outputs import PredWriter\n'
            f'src = open_source({str(videos[".avi"])!r})\n'
            f'preds = PredWriter({str(tmp_path)!r}, src, {{}}, flush_every=5)\n'
            'for frame in src:\n'
            '    preds.write(frame)\n'
            '    if frame.index == 11: os.kill(os.getpid(), 9)\n')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    assert subprocess.run([sys.executable, '-c', code], env=env).returncode == -9
    on_disk = json.loads((tmp_path / 'clip.json').read_text())
    assert (len(on_disk['frames']), on_disk['complete']) == (10, False)


def test_coco_results(tmp_path: Path) -> None:
    n = coco_results([('000000196141.jpg', [THREE, THREE]), ('000000000785.jpg', [])],
                     str(tmp_path / 'r.json'))
    records = json.loads((tmp_path / 'r.json').read_text())
    assert n == len(records) == 2 and (r := records[0])
    assert (r['image_id'], r['category_id'], type(r['score'])) == (196141, 1, float)
    assert r['keypoints'] == pytest.approx([20, 20, 0.9, 80, 20, 0.8, 80, 80, 0.1])
    assert r['score'] == pytest.approx(0.9 * (0.9 + 0.8) / 2, abs=1e-4)  # 0.1 < 0.2: out
    raises(ValueError, ['numeric', 'cat.jpg'], coco_results, [('cat.jpg', [THREE])],
           str(tmp_path / 'no.json'))
    assert not (tmp_path / 'no.json').exists()


@pytest.mark.skipif(not HAS_COCO, reason='needs xtcocotools or pycocotools')
def test_coco_results_load_res(tmp_path: Path) -> None:
    """The ground truth itself, written as results, loads and scores AP 1 in COCOeval."""
    pkg = 'xtcocotools' if importlib.util.find_spec('xtcocotools') else 'pycocotools'
    gt = importlib.import_module(f'{pkg}.coco').COCO(str(COCO_DIR / 'person_keypoints_sample.json'))
    frames_people = []
    for img in gt.loadImgs(gt.getImgIds()):
        anns = [a for a in gt.loadAnns(gt.getAnnIds(imgIds=img['id'])) if a['num_keypoints']]
        frames_people.append((img['file_name'], [person(
            np.reshape(a['keypoints'], (-1, 3))[:, :2], np.ones(17),
            bbox=np.add(a['bbox'], [0, 0, a['bbox'][0], a['bbox'][1]])) for a in anns]))
    n = coco_results(frames_people, str(tmp_path / 'r.json'))
    res = gt.loadRes(str(tmp_path / 'r.json'))
    assert n == len(res.getAnnIds()) > 0
    evaluator = importlib.import_module(f'{pkg}.cocoeval').COCOeval(gt, res, 'keypoints')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)
