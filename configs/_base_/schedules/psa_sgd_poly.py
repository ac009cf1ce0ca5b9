# PSA's optimisation, as it ran: the one place for every PSA config
# (configs/wsss/). jiwoon-ahn/psa's train_cls.py and train_aff.py build
# tool/torchutils.py's PolyOptimizer, a torch.optim.SGD subclass whose
# __init__ calls SGD(params, lr, weight_decay): SGD's third positional
# argument is momentum, so the weight decay (5e-4) became the momentum
# (psa issue #28) and the 0.9 meant as momentum was used as the poly power
# only. Every published PSA / SEAM number was trained so; the bug is
# reproduced, not fixed:
# - SGD, momentum 5e-4 (in effect plain SGD), no dampening, not Nesterov;
# - PSA's four groups (get_parameter_groups): conv weights 1x lr with weight
#   decay 5e-4, conv biases 2x without decay, the new (from-scratch) layers'
#   weights 10x with decay, their biases 20x without. Here: base lr and
#   decay, bias_lr_mult 2 / bias_decay_mult 0, and every parameter whose
#   name contains 'head' at 10x with decay. PSA's ResNet-38 nets have no
#   conv biases and bias-free new layers, so the 2x and 20x groups are
#   empty there; frozen parameters (BN, PSA's not_training) are left out,
#   as PSA leaves them out;
# - lr(step) = lr * (1 - step / max_step) ** 0.9, step counted in
#   iterations over the whole run (PSA's max_step = iterations per epoch x
#   epochs). mmengine's PolyLR divides by max_step - 1 (it reaches 0 at the
#   last iteration, PSA one later): over PSA's 15 x 661 iterations the lr
#   factors differ by at most 2.5e-4.
# A child sets lr, weight decay and the scheduler's `end` to its number of
# epochs (tests/test_wsss.py checks `end` == train_cfg.max_epochs).
#
# Momentum 0.9, the usual SGD, as an option: with heavy-ball momentum m
# each gradient moves the weights by lr / (1 - m) in all (the geometric sum
# of its later momentum terms), so lr 0.1 at m = 5e-4 and lr 0.01 at m = 0.9
# take the same total step per gradient; lr 0.1 with m = 0.9 is ten times
# PSA's step (on the demo data it diverged with the 10x head,
# docs/en/user_guides/wsss.md):
#   --cfg-options optim_wrapper.optimizer.momentum=0.9 \
#       optim_wrapper.optimizer.lr=0.01
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.1, momentum=5e-4, weight_decay=5e-4),
    paramwise_cfg=dict(
        bias_lr_mult=2.,
        bias_decay_mult=0.,
        custom_keys={'head': dict(lr_mult=10.)}))
param_scheduler = dict(
    type='PolyLR',
    power=0.9,
    eta_min=0.,
    by_epoch=True,
    begin=0,
    convert_to_iter_based=True)
