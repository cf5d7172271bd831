# Lite-HRNet-30, COCO, 256x192. Published: 1.8M params, 319.2M FLOPs, AP 0.672 (val2017,
# person detector AP 56.4).
_base_ = ['../../../_base_/datasets/coco_topdown.py']

model = dict(backbone=dict(arch='30'), head=dict(in_channels=40))
