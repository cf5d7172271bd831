"""Top-down pose estimation on one image: draw keypoints and skeletons, print them.

    python tools/demo.py CONFIG CHECKPOINT IMAGE [--bboxes JSON] --out out.png [--device cpu]

Without ``--bboxes`` the whole image is one person box.
"""
import argparse

from litehrnet_mmpose.apis.inference import format_keypoints, load_bboxes, predict_and_draw
from litehrnet_mmpose.apis.models import build_pose_model


def main() -> None:
    parser = argparse.ArgumentParser(description='Lite-HRNet top-down image demo')
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('image')
    parser.add_argument('--bboxes', help='JSON: [[x1,y1,x2,y2],...] or COCO detections')
    parser.add_argument('--bbox-thr', type=float, default=0.3,
                        help='minimum detection score kept from --bboxes')
    parser.add_argument('--kpt-thr', type=float, default=0.3,
                        help='minimum keypoint score drawn')
    parser.add_argument('--out', default='demo.png', help='output PNG')
    parser.add_argument('--device', default='cpu', help='cpu, cuda, cuda:1, ...')
    args = parser.parse_args()

    # Strict loading: a checkpoint that does not fit stops with a key report.
    model = build_pose_model(args.config, args.checkpoint).to(args.device)
    bboxes = load_bboxes(args.bboxes, args.image, args.bbox_thr) if args.bboxes else None
    keypoints, scores = predict_and_draw(model, args.image, bboxes, args.out, args.kpt_thr)
    names = [model.dataset_meta['keypoint_id2name'][i] for i in range(keypoints.shape[1])]
    print(format_keypoints(keypoints, scores, names))
    print(f'drawn: {args.out}')


if __name__ == '__main__':
    main()
