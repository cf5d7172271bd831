# Naive Lite-HRNet-18, COCO, 256x192. Published: 0.7M params, 194.8M FLOPs, AP 0.628.
# The official config sets the head's in_channels to 40 on this 30-channel backbone and does
# not build; 30 is the width of the backbone's top output.
_base_ = ['../../../_base_/datasets/coco_topdown.py']

model = dict(
    backbone=dict(type='litehrnet_mmpose.NaiveLiteHRNet', arch='naive-18'),
    head=dict(in_channels=30))
