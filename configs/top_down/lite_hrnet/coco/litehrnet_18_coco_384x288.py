# Lite-HRNet-18, COCO, 384x288. Published: 1.1M params, 461.6M FLOPs, AP 0.676.
_base_ = ['../../../_base_/datasets/coco_topdown_384x288.py']

model = dict(backbone=dict(arch='18'), head=dict(in_channels=40))
