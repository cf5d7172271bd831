# Lite-HRNet-18 + FCN (HRNetV2-style) head, Cityscapes, 512x1024 crops, 160k iterations.
# Paper (Yu et al., CVPR 2021), Cityscapes val at 512x1024 input:
#   #Params 1.1M, 1.95 GFLOPs, mIoU 73.8.
# Recipe used here: mmseg 1.x's standard Cityscapes pipeline and schedule_160k (SGD lr 0.01,
# momentum 0.9, wd 5e-4, poly 0.9 to 1e-4, 160k iterations), 8 GPUs x 2 images, BN (not
# SyncBN), backbone from scratch. The paper publishes no segmentation config; its recipe
# (batch size, iterations, normalisation, head width) may differ from this one. For multi-GPU
# training SyncBN is usually better: --cfg-options norm_cfg.type=SyncBN does not reach the
# model, so set model.backbone.norm_cfg.type=SyncBN model.decode_head.norm_cfg.type=SyncBN.
_base_ = [
    '../_base_/models/litehrnet_fcn.py',
    '../_base_/datasets/cityscapes_512x1024.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_160k.py',
]
crop_size = (512, 1024)
model = dict(data_preprocessor=dict(size=crop_size), backbone=dict(arch='18'))
