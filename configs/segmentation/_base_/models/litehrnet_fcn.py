# Lite-HRNet + HRNetV2-style FCN head (mmseg's fcn_hr18 recipe): all four backbone branches
# (H/4 .. H/32, 40/40/80/160 channels after the iterative head) are upsampled to H/4 and
# concatenated, then a 1x1 conv-BN-ReLU and a 1x1 classifier give H/4 logits. The backbone
# is trained from scratch (its default init; no ImageNet weights). The top config sets the
# data preprocessor's size to its crop size.
norm_cfg = dict(type='BN', requires_grad=True)
backbone_channels = [40, 40, 80, 160]
model = dict(
    type='EncoderDecoder',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='litehrnet_mmpose.LiteHRNet',
        arch='18',
        in_channels=3,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False),
    decode_head=dict(
        type='FCNHead',
        in_channels=backbone_channels,
        in_index=(0, 1, 2, 3),
        channels=sum(backbone_channels),
        input_transform='resize_concat',
        kernel_size=1,
        num_convs=1,
        concat_input=False,
        dropout_ratio=-1,
        num_classes=19,
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
