# Lite-HRNet-30 + FCN (HRNetV2-style) head, Cityscapes, 512x1024 crops, 160k iterations.
# Paper (Yu et al., CVPR 2021), Cityscapes val at 512x1024 input:
#   #Params 1.8M, 3.02 GFLOPs, mIoU 76.0.
# Same recipe as the Lite-HRNet-18 config (mmseg's schedule_160k, 8 GPUs x 2 images, BN,
# from scratch; see its notes); only the backbone depth differs (same branch widths, so the
# head is unchanged).
_base_ = ['./litehrnet_18_cityscapes_512x1024.py']
model = dict(backbone=dict(arch='30'))
