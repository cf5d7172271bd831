# The published recipe: Adam, lr 2e-3 at 8 GPUs x 64 images, 210 epochs, x0.1 at 170 and
# 200, 500-iteration linear warm-up from 0.001x. auto_scale_lr rescales the lr when
# training runs with --auto-scale-lr on another total batch size.
train_cfg = dict(by_epoch=True, max_epochs=210, val_interval=10)
val_cfg = dict()
test_cfg = dict()

optim_wrapper = dict(optimizer=dict(type='Adam', lr=2e-3))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200], gamma=0.1,
         by_epoch=True),
]
auto_scale_lr = dict(base_batch_size=512)
