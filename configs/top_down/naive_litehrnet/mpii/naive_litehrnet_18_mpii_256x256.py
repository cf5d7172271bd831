# Naive Lite-HRNet-18, MPII, 256x256. Published: 0.7M params, 259.6M FLOPs, PCKh 0.853.
# The official config's head in_channels (40) does not match this 30-channel backbone.
_base_ = ['../../../_base_/datasets/mpii_topdown.py']

model = dict(
    backbone=dict(type='litehrnet_mmpose.NaiveLiteHRNet', arch='naive-18'),
    head=dict(in_channels=30))
