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
#   default, as PSA), conv1a and level 2 frozen (PSA's not_training):
#   ../_base_/models/rn38_a1_s8_psa.py;
# - AffinityHead: the BN-ReLU'd outputs of levels 4 and 5 and the bn7
#   output (PSA's conv4, conv5, conv6) -> bias-free 1x1 convs 512 -> 64,
#   1024 -> 128, 4096 -> 256, ELU, concat, 1x1 448 -> 448, ELU (kaiming-
#   normal f8_*, Xavier-uniform gain 4 f9); affinities exp(-mean|fi - fj|)
#   of the pairs closer than 5 positions at stride 8; loss bg/4 + fg/4 +
#   neg/2, each term averaged over its pairs in the batch;
# - labels (VOC12AffDataset): la / ha CRF scores cropped and flipped with
#   the image, averaged over 8 x 8 blocks; la foreground, ha background,
#   the rest and the padding ignored;
# - train_aff.py's defaults: train_aug, no rescaling, colour jitter
#   0.3/0.3/0.3/0.1 (torchvision's, on the PIL image), random 448 crop
#   (zero-padded where smaller: black once normalised), horizontal flip,
#   batch 8, 8 epochs; initialised from the ImageNet A1 weights
#   (train_aff.py --weights, the .params file; the head from scratch);
# - PSA's optimiser as it ran (../_base_/schedules/psa_sgd_poly.py): SGD
#   with momentum 5e-4 (PolyOptimizer hands its weight decay to SGD where
#   SGD takes momentum, psa issue #28), poly lr (power 0.9) from 0.1,
#   weight decay 5e-4 on weights, lr 1x for the backbone's weights, 10x for
#   the new head (PSA's from_scratch_layers), biases 2x / 20x without decay
#   (none exist). Momentum 0.9 instead needs lr 0.01 (the same total step
#   per gradient): --cfg-options optim_wrapper.optimizer.momentum=0.9
#   optim_wrapper.optimizer.lr=0.01
# Not as PSA:
# - an image smaller than the crop sits at the top-left of the padded crop
#   (mmseg's RandomCrop + mmcv's Pad; PSA placed it at random), so the
#   flip moves the padding only with the image;
# - no validation: PSA validates AffinityNet only through the random walk's
#   labels (tools/wsss/random_walk.py, then tools/wsss/eval_cams.py);
# - the CRF files' labels, not their order in the dict, name the channels
#   (the same labels where make_cams.py wrote them in ascending order).
#
# Batch 8 in total: 1 GPU x 8. With tools/dist_train.sh on N GPUs add
# --cfg-options train_dataloader.batch_size=$((8 / N)).
_base_ = [
    '../_base_/models/rn38_a1_s8_psa.py',
    '../_base_/datasets/psa_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    '../_base_/schedules/psa_sgd_poly.py',
]

# make_cams.py --out-la-crf / --out-ha-crf of the CAM classifier
la_crf_dir = 'work_dirs/rn38_voc_cls/crf_la'
ha_crf_dir = 'work_dirs/rn38_voc_cls/crf_ha'
crop_size = (448, 448)

model = dict(
    type='AffinityNet',
    data_preprocessor=dict(
        type='SegDataPreProcessor',
        bgr_to_rgb=True,
        size=crop_size,
        pad_val=0,
        seg_pad_val=255),
    # outputs of levels 4, 5 and 7 (after bn7)
    backbone=dict(out_indices=(2, 3, 5)),
    head=dict(
        type='AffinityHead',
        in_channels=(512, 1024, 4096),
        channels=(64, 128, 256),
        radius=5,
        loss_weights=(0.25, 0.25, 0.5)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCRFScores'),
    dict(type='mmpretrain.NumpyToPIL', to_rgb=True),
    dict(
        type='mmpretrain.torchvision/ColorJitter',
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0.1),
    dict(type='mmpretrain.PILToNumpy', to_bgr=True),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='AffinityLabelFromCRF', stride=8),
    dict(type='Pad', size=crop_size, pad_val=dict(img=0, seg=255)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(
        type='VOCAffinityDataset',
        la_crf_dir=la_crf_dir,
        ha_crf_dir=ha_crf_dir,
        pipeline=train_pipeline))

max_epochs = 8
# PSA's lr 0.1 and weight decay 5e-4, the base's defaults
param_scheduler = dict(end=max_epochs)
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
