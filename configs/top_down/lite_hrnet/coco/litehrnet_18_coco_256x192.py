# Lite-HRNet-18, COCO, 256x192. Published: 1.1M params, 205.2M FLOPs, AP 0.648 (val2017,
# person detector AP 56.4).
_base_ = ['../../../_base_/datasets/coco_topdown.py']

model = dict(backbone=dict(arch='18'), head=dict(in_channels=40))
