# Lite-HRNet-18, MPII, 256x256. Published: 1.1M params, 273.4M FLOPs, PCKh 0.854.
_base_ = ['../../../_base_/datasets/mpii_topdown.py']

model = dict(backbone=dict(arch='18'), head=dict(in_channels=40))
