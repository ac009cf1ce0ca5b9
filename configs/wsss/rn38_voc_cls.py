# PSA's ResNet-38 CAM classifier (jiwoon-ahn/psa: network/resnet38_cls.py
# trained by train_cls.py) with mmpretrain: the first step of weakly-
# supervised segmentation on PASCAL VOC 2012 with image-level labels only.
# tools/wsss/make_cams.py then turns a checkpoint into PSA-format CAMs.
#
# As PSA:
# - ResNet-38 A1 at output stride 8 (PSA's resnet38d), PSA's dropout layout
#   (Dropout2d before the 3x3 and the last 1x1 conv of 6a / 7a), BN in eval
#   mode with frozen scale/shift everywhere (BN eps 1e-5, torch's default,
#   as PSA), conv1a and level 2 frozen (PSA's ``not_training``):
#   ../_base_/models/rn38_a1_s8_psa.py;
# - CAMHead: Dropout2d(0.5) -> global average pool -> bias-free 1x1 conv
#   4096 -> 20 (Xavier-uniform), multi-label soft-margin loss;
# - train_cls.py's defaults: train_aug, long side resized to 256-512
#   (PIL bicubic), horizontal flip, colour jitter 0.3/0.3/0.3/0.1, random
#   448 crop padded where smaller, batch 16, 15 epochs;
# - PSA's optimiser as it ran (../_base_/schedules/psa_sgd_poly.py): SGD
#   with momentum 5e-4, not 0.9 (PSA's PolyOptimizer hands its weight decay
#   to SGD where SGD takes momentum, psa issue #28; every published PSA /
#   SEAM number was trained so), poly lr (power 0.9) from 0.1, weight
#   decay 5e-4 on weights, lr 1x for the backbone's weights, 2x and no
#   decay for biases (ResNet-38 and the head have none), 10x for the new
#   head. Momentum 0.9 instead needs lr 0.01 (the same total step per
#   gradient, see that file): --cfg-options
#   optim_wrapper.optimizer.momentum=0.9 optim_wrapper.optimizer.lr=0.01
# Not as PSA:
# - image-level labels come from the segmentation masks (classes 1-20
#   present; PSA read them from the XML annotations into cls_labels.npy);
# - a crop larger than the resized image keeps it near the centre
#   (mmpretrain's RandomCrop pads both sides; PSA placed it at random),
#   padded with the mean colour (PSA: 0 after normalisation, the same);
# - validation reports mAP and multi-label F1 on val (PSA: the loss).
#
# Batch 16 in total: 1 GPU x 16. With tools/dist_train.sh on N GPUs add
# --cfg-options train_dataloader.batch_size=$((16 / N)).
_base_ = [
    '../_base_/models/rn38_a1_s8_psa.py',
    '../_base_/datasets/psa_voc12_aug.py',
    'mmpretrain::_base_/default_runtime.py',
    '../_base_/schedules/psa_sgd_poly.py',
]

num_classes = 20
crop_size = 448

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(type='ClsDataPreprocessor', to_rgb=True),
    neck=None,
    head=dict(
        type='CAMHead',
        num_classes=num_classes,
        in_channels=4096,
        dropout_ratio=0.5))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='RandomResize',
        scale=(512, 512),
        ratio_range=(0.5, 1.0),
        keep_ratio=True,
        backend='pillow',
        interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    # torchvision's ColorJitter on the PIL image, as PSA (mmpretrain's own
    # ColorJitter fails on negative hue shifts under numpy 2: mmcv's
    # adjust_hue takes np.uint8 of a negative int)
    dict(type='NumpyToPIL', to_rgb=True),
    dict(
        type='torchvision/ColorJitter',
        brightness=0.3,
        contrast=0.3,
        saturation=0.3,
        hue=0.1),
    dict(type='PILToNumpy', to_bgr=True),
    # BGR mean colour: 0 once normalised, as PSA's zero padding
    dict(
        type='RandomCrop',
        crop_size=crop_size,
        pad_if_needed=True,
        pad_val=(104, 116, 124)),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='CenterCrop',
        crop_size=500,
        auto_pad=True,
        pad_cfg=dict(type='Pad', pad_val=dict(img=(104, 116, 124)))),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    dataset=dict(type='VOCSegClsDataset', pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='VOCSegClsDataset',
        data_root=_base_.data_root,
        split='val',
        test_mode=True,
        pipeline=test_pipeline))
val_evaluator = [
    dict(type='AveragePrecision'),
    dict(type='MultiLabelMetric', average='macro'),
]
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 15
# PSA's lr 0.1 and weight decay 5e-4, the base's defaults
param_scheduler = dict(end=max_epochs)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(type='LoggerHook', interval=50))
