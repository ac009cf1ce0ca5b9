# The 20k schedule stretched to 40k iterations (same optimiser and rule).
_base_ = ['./rn38_sgd_linear_20k.py']
max_iters = 40000
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        begin=max_iters // 2,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
