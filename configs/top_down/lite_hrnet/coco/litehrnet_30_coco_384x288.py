# Lite-HRNet-30, COCO, 384x288. Published: 1.8M params, 717.8M FLOPs, AP 0.704.
_base_ = ['../../../_base_/datasets/coco_topdown_384x288.py']

model = dict(backbone=dict(arch='30'), head=dict(in_channels=40))
