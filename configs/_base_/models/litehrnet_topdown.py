# Top-down heatmap pose model on our Lite-HRNet: the backbone's highest-resolution output
# (after the iterative head) feeds a 1x1 conv to one heatmap per keypoint. A dataset base
# sets the codec (decoder) and the number of keypoints.
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(
        type='PoseDataPreprocessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True),
    backbone=dict(type='litehrnet_mmpose.LiteHRNet', arch='18', in_channels=3),
    head=dict(
        type='HeatmapHead',
        in_channels=40,
        out_channels=17,
        deconv_out_channels=None,
        loss=dict(type='KeypointMSELoss', use_target_weight=True)),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True))
