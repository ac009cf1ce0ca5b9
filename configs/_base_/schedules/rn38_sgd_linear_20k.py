# The original's optimiser for segmentation fine-tuning: SGD, momentum 0.9,
# weight decay 5e-4, base lr 0.0016, and its "alex" rule
# (ademxapp's util/symbol/symbol.py): every bias, BN's beta included, gets
# twice the lr and no weight decay; weights and BN's gamma 1x with decay.
# (mmengine's bias_lr_mult leaves norm biases at 1x, hence custom_keys: a
# key matches every parameter whose name contains it.) The lr is held, then
# decays linearly to 0 over the second half (ademxapp's "fixed then linear";
# where it switched is not recorded for VOC, the half-way point is ours).
max_iters = 20000
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.0016, momentum=0.9, weight_decay=0.0005),
    paramwise_cfg=dict(
        custom_keys={'.bias': dict(lr_mult=2.0, decay_mult=0.0)}),
    clip_grad=None)
# the decay; the longer schedules (and configs that change max_iters) place
# it at their own second half with _base_.linear_decay
linear_decay = dict(
    type='LinearLR', start_factor=1.0, end_factor=0.0, by_epoch=False)
param_scheduler = [dict(linear_decay, begin=max_iters // 2, end=max_iters)]
train_cfg = dict(
    type='IterBasedTrainLoop', max_iters=max_iters, val_interval=2000)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=2000),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
