# Runtime shared by every config: MMPose's default scope plus our plugin's registrations.
default_scope = 'mmpose'
custom_imports = dict(imports=['litehrnet_mmpose'], allow_failed_imports=False)

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # atomic_local: a checkpoint file is complete or absent, never truncated by a crash
    checkpoint=dict(type='CheckpointHook', interval=10,
                    backend_args=dict(backend='atomic_local')),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='PoseVisualizationHook', enable=False),
)
custom_hooks = [
    dict(type='SyncBuffersHook'),
    dict(type='litehrnet_mmpose.StrictCheckpointHook'),
    # exact --resume: per-epoch random streams depend only on (seed, epoch)
    dict(type='litehrnet_mmpose.EpochSeedHook'),
    # stop at the first NaN/Inf loss, never checkpoint non-finite weights
    dict(type='litehrnet_mmpose.FiniteLossHook'),
]

env_cfg = dict(
    cudnn_benchmark=False,
    mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
    dist_cfg=dict(backend='nccl'),
)

vis_backends = [dict(type='LocalVisBackend')]
# MMPose's visualizer, fixed for numpy 2 (see litehrnet_mmpose/visualization.py).
visualizer = dict(
    type='litehrnet_mmpose.PoseLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)
log_level = 'INFO'
load_from = None
resume = False
backend_args = dict(backend='local')
