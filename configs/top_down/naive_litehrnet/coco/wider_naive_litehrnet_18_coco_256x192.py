# Wider Naive Lite-HRNet-18, COCO, 256x192. Published: 1.3M params, 311.1M FLOPs, AP 0.660.
_base_ = ['../../../_base_/datasets/coco_topdown.py']

model = dict(
    backbone=dict(type='litehrnet_mmpose.NaiveLiteHRNet', arch='wider-naive-18'),
    head=dict(in_channels=40))
