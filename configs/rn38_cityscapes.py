# ResNet-38 (Model A1, output stride 8, "2 conv" head) on Cityscapes (fine
# annotations, 19 classes): the original's recipe, from ademxapp's README
# (issegm/voc.py --crop-size 500 --origin-size 2048 --scale-rate-range
# 0.7,1.3 --batch-images 16, then a second run) and issegm/data.py:
# - data: the 2048x1024 images scaled by 0.7-1.3, a crop of 500 rounded up
#   to a multiple of the stride (make_divisible(500, 8) = 504), flip; no
#   photometric distortion and no cat_max_ratio (the original has neither);
# - batch 16 (8 GPUs x 2, "8xb2"); an epoch is 2975 // 16 = 185 iterations
#   (the original's iterator drops the last partial batch);
# - lr 0.0016 held for 140 epochs; then a second stage from 0.0008 decaying
#   linearly over 64 epochs (ademxapp's LinearScheduler: lr of update k is
#   0.0008 * (1 - k / (updates + 1)), floored at min(0.0008 / 100, 1e-6));
# - loss, lr rule, initialisation and frozen BN: see the _base_ files.
# Deviation: the original's second stage was a new run, so SGD's momentum
# started from zero there; here it carries over.
# Test: the whole 1024x2048 image (mmseg's pipeline); the released model's
# exact protocol is configs/original/rn38_cityscapes_original.py.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_20k.py',
]
crop_size = (504, 504)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
model = dict(
    data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=19))

iters_per_epoch = 2975 // 16
fixed_iters = 140 * iters_per_epoch  # 25900
linear_updates = 64 * iters_per_epoch  # 11840
max_iters = fixed_iters + linear_updates
base_lr = 0.0016
stage2_lr = 0.0008
floor_lr = min(stage2_lr / 100, 1e-6)
# the first update k of the second stage whose linear lr is below the floor
floor_update = int((linear_updates + 1) * (1 - floor_lr / stage2_lr)) + 1
last_linear_lr = stage2_lr * (1 - (floor_update - 1) / (linear_updates + 1))
optim_wrapper = dict(optimizer=dict(lr=base_lr))
param_scheduler = [
    # updates k = 1 .. floor_update - 1 of the second stage: linear
    dict(
        type='LinearLR',
        start_factor=stage2_lr / base_lr * (1 - 1 / (linear_updates + 1)),
        end_factor=last_linear_lr / base_lr,
        begin=fixed_iters,
        end=fixed_iters + floor_update - 1,
        by_epoch=False),
    # from update floor_update on: the floor
    dict(
        type='MultiStepLR',
        milestones=[fixed_iters + floor_update - 1],
        gamma=floor_lr / last_linear_lr,
        by_epoch=False),
]
train_cfg = dict(max_iters=max_iters, val_interval=iters_per_epoch * 10)
default_hooks = dict(checkpoint=dict(interval=iters_per_epoch * 10))
