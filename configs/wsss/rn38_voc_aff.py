# PSA's AffinityNet (jiwoon-ahn/psa: network/resnet38_aff.py trained by
# train_aff.py): the second step of weakly-supervised segmentation on PASCAL
# VOC 2012. It learns which neighbouring positions belong together from the
# confident regions of the CAMs (the la / ha CRF label files written by
# tools/wsss/make_cams.py --out-la-crf / --out-ha-crf); the random walk
# (tools/wsss/random_walk.py) then spreads the CAMs with its affinities.
#
# As PSA:
# - ResNet-38 A1 at output stride 8 (PSA's resnet38d), PSA's dropout layout,
#   BN in eval mode with frozen scale/shift everywhere (eps 1e-5, torch's
#   default, as PSA), conv1a and level 2 frozen (PSA's not_training);
# - AffinityHead: the BN-ReLU'd outputs of levels 4 and 5 and the bn7
#   output (PSA's conv4, conv5, conv6) -> bias-free 1x1 convs 512 -> 64,
#   1024 -> 128, 4096 -> 256, ELU, concat, 1x1 448 -> 448, ELU (kaiming-
#   normal f8_*, Xavier-uniform gain 4 f9); affinities exp(-mean|fi - fj|)
#   of the pairs closer than 5 positions at stride 8; loss bg/4 + fg/4 +
#   neg/2;
# - train_aff.py's defaults: train_aug, batch 8, 8 epochs, crop 448, poly lr
#   (power 0.9) from 0.1, weight decay 5e-4, lr 1x backbone weights, 2x and
#   no decay for biases (none exist), 10x the new head ("from scratch"), 20x
#   and no decay for its biases (none exist); initialised from the ImageNet
#   A1 weights (train_aff.py --weights, the .params file);
# - SGD momentum 5e-4, what PSA ran: its PolyOptimizer passes the weight
#   decay where torch.optim.SGD takes momentum (psa issue #28), so every
#   published PSA number was trained with effectively plain SGD. SGD with
#   momentum 0.9 moves the weights up to 10x as far per gradient; as an
#   option it needs a 10x smaller lr:
#   --cfg-options optim_wrapper.optimizer.momentum=0.9 \
#                 optim_wrapper.optimizer.lr=0.01
#
# Batch 8 in total: 1 GPU x 8. With tools/dist_train.sh on N GPUs add
# --cfg-options train_dataloader.batch_size=$((8 / N)).
_base_ = ['mmseg::_base_/default_runtime.py']
custom_imports = dict(
    imports=['mmrn38', 'mmrn38.wsss'], allow_failed_imports=False)

data_root = 'data/VOCdevkit/VOC2012'
# make_cams.py --out-la-crf / --out-ha-crf of the CAM classifier
la_crf_dir = 'work_dirs/rn38_voc_cls/crf_la'
ha_crf_dir = 'work_dirs/rn38_voc_cls/crf_ha'
crop_size = (448, 448)

norm_cfg = dict(type='BN', eps=1e-5, requires_grad=False)
model = dict(
    type='AffinityNet',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        mean=[123.675, 116.28, 103.53],
        std=[58.395, 57.12, 57.375],
        bgr_to_rgb=True,
        size=crop_size,
        pad_val=0,
        seg_pad_val=255),
    backbone=dict(
        type='ResNet38',
        arch='A1',
        out_stride=8,
        # outputs of levels 4, 5 and 7 (after bn7)
        out_indices=(2, 3, 5),
        dropouts=(0.3, 0.5),
        dropout_layout='psa',
        norm_cfg=norm_cfg,
        norm_eval=True,
        frozen_stages=1,
        # the converted ImageNet A1 weights (docs/en/user_guides/
        # original_weights.md), from which PSA starts too
        init_cfg=dict(
            type='Pretrained',
            checkpoint='checkpoints/ilsvrc-cls_rna-a1_cls1000.pth',
            prefix='backbone.')),
    head=dict(
        type='AffinityHead',
        in_channels=(512, 1024, 4096),
        channels=(64, 128, 256),
        radius=5,
        loss_weights=(0.25, 0.25, 0.5)))

max_epochs = 8
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
    end=max_epochs,
    convert_to_iter_based=True)
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs)
# PSA has no validation of affinities: no val / test loop
val_cfg = val_dataloader = val_evaluator = None
test_cfg = test_dataloader = test_evaluator = None
default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=True, interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'))
log_processor = dict(by_epoch=True)
