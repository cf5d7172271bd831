# Quickstart: the COCO Lite-HRNet-18 256x192 config, retargeted at the 4 bundled COCO images
# (12 people with keypoints) and sized for a 2-core CPU. It trains from scratch on them and
# evaluates on the same people with ground-truth boxes: the AP it reports shows the pipeline
# learns (before vs after), it is not a benchmark of the model.
_base_ = ['../top_down/lite_hrnet/coco/litehrnet_18_coco_256x192.py']

data_root = 'samples/coco/'
ann_file = 'person_keypoints_sample.json'
max_epochs = 120

train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(optimizer=dict(type='Adam', lr=5e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=10, start_factor=0.01, by_epoch=False),
    dict(type='CosineAnnealingLR', begin=0, end=max_epochs, T_max=max_epochs, by_epoch=True,
         eta_min=1e-4),
]

# Fitting 12 people: flips only, no half-body / scale / rotation augmentation.
train_pipeline = [
    dict(type='litehrnet_mmpose.LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='TopdownAffine', input_size={{_base_.codec.input_size}}),
    dict(type='GenerateTarget', encoder={{_base_.codec}}),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(
    batch_size=14,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file=ann_file, data_prefix=dict(img='images/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=14,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(data_root=data_root, ann_file=ann_file, data_prefix=dict(img='images/'),
                 bbox_file=None))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + ann_file)
test_evaluator = val_evaluator

default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(interval=max_epochs, save_best=None, max_keep_ckpts=1))
custom_hooks = [
    dict(type='litehrnet_mmpose.StrictCheckpointHook'),
    dict(type='litehrnet_mmpose.EpochSeedHook'),
    dict(type='litehrnet_mmpose.FiniteLossHook'),
    dict(type='litehrnet_mmpose.ValidateBeforeTrainHook', keys=['coco/AP', 'coco/AR']),
]
log_processor = dict(window_size=5)
randomness = dict(seed=0)
