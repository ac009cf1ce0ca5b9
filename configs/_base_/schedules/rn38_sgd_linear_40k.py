# The 20k schedule stretched to 40k iterations (same optimiser and rule).
_base_ = ['./rn38_sgd_linear_20k.py']
max_iters = 40000
param_scheduler = [
    dict(_base_.linear_decay, begin=max_iters // 2, end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=4000)
default_hooks = dict(checkpoint=dict(interval=4000))
