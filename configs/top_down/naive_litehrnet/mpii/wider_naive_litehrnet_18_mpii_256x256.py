# Wider Naive Lite-HRNet-18, MPII, 256x256. Published: 1.3M params, 418.7M FLOPs, PCKh 0.868.
_base_ = ['../../../_base_/datasets/mpii_topdown.py']

model = dict(
    backbone=dict(type='litehrnet_mmpose.NaiveLiteHRNet', arch='wider-naive-18'),
    head=dict(in_channels=40))
