# Cityscapes (19 train ids) as in mmseg 1.x's _base_/datasets/cityscapes.py: images scaled
# around 2048x1024 (ratio 0.5-2.0), 512x1024 crops, flip and photometric distortion for
# training; whole 2048x1024 images for validation / test. Expects mmseg's layout under
# data_root (leftImg8bit/{train,val}/CITY/*_leftImg8bit.png and
# gtFine/{train,val}/CITY/*_gtFine_labelTrainIds.png, made by mmseg's
# tools/dataset_converters/cityscapes.py).
# mmseg's CityscapesDataset, with missing folders reported by name (litehrnet_mmpose/seg.py)
dataset_type = 'litehrnet_mmpose.CityscapesDataset'
data_root = 'data/cityscapes/'
crop_size = (512, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResize', scale=(2048, 1024), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    # Annotations load after Resize: metrics compare against the original-size labels.
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=2,
    num_workers=2,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type=dataset_type,
        data_root=data_root,
        data_prefix=dict(img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
