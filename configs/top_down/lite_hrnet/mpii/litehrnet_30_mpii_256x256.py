# Lite-HRNet-30, MPII, 256x256. Published: 1.8M params, 425.3M FLOPs, PCKh 0.870.
_base_ = ['../../../_base_/datasets/mpii_topdown.py']

model = dict(backbone=dict(arch='30'), head=dict(in_channels=40))
