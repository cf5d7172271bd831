# Runtime shared by the segmentation configs: MMSegmentation's default scope (mmseg 1.x's
# default_runtime.py) plus our registrations, imported from litehrnet_mmpose.seg (which puts
# our classes in the 'litehrnet_mmpose' scope under mmseg's registries). Name our classes
# with that prefix; never set default_scope to 'litehrnet_mmpose' (see litehrnet_mmpose/seg.py).
default_scope = 'mmseg'
custom_imports = dict(imports=['litehrnet_mmpose.seg'], allow_failed_imports=False)
# (iteration-based training: EpochSeedHook, which reseeds per epoch, does not apply)
custom_hooks = [
    dict(type='litehrnet_mmpose.StrictCheckpointHook'),
    dict(type='litehrnet_mmpose.FiniteLossHook'),
]

env_cfg = dict(
    cudnn_benchmark=True,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
