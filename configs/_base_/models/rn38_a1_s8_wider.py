# ResNet-38 Model A1 at output stride 8 with the paper's "2 conv" classifier,
# as the released segmentation models (ademxapp) are built.
custom_imports = dict(imports=['mmrn38'], allow_failed_imports=False)
# BN eps of the original MXNet models; SyncBN for multi-GPU runs (single
# processes and CPU runs fall back to plain BN, see mmrn38.apis.runner).
norm_cfg = dict(type='SyncBN', eps=1.001e-5, requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    # RGB, ImageNet mean/std on the 0..255 scale (= /255 then mean/std, the
    # original's preprocessing)
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255)
# ImageNet-pretrained Model A1 converted from the original release with
# tools/model_converters/rn38_to_mm.py (docs/en/user_guides/
# original_weights.md), relative to the folder the tools run in
pretrained_ckpt = 'checkpoints/ilsvrc-cls_rna-a1_cls1000.pth'
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='ResNet38',
        arch='A1',
        out_stride=8,
        out_indices=(5, ),  # level 7 after bn7 + ReLU: 4096 channels
        dropouts=(0.3, 0.5),  # paper: dropout in units 6a / 7a
        norm_cfg=norm_cfg,
        norm_eval=True,  # paper: BN statistics frozen when fine-tuning
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained_ckpt,
            prefix='backbone.')),
    decode_head=dict(
        type='WiderHead',
        in_channels=4096,
        in_index=0,
        channels=512,  # conv6a of the original
        num_convs=2,  # the paper's "2 conv" classifier
        kernel_size=3,
        dilation=12,
        dropout_ratio=0.0,  # the dropout sits in units 6a / 7a instead
        num_classes=21,
        norm_cfg=norm_cfg,
        align_corners=False,
        # the original's loss (ademxapp's OhemSoftmax): labels sampled at the
        # centres of the stride-8 scores (label[4::8, 4::8]), no upsampling;
        # over the batch, mean cross-entropy of the pixels whose probability
        # of the true class is <= 0.6, at least the 256 hardest.
        # mmseg's rule instead: label_stride=None and any mmseg loss.
        label_stride=8,
        loss_decode=dict(
            type='BootstrappedCrossEntropyLoss', thresh=0.6, min_kept=256),
        # the original's initialisation of new layers: MXNet's Xavier
        # (gaussian, fan-in, magnitude 2) = N(0, 2 / fan_in), bias 0
        init_cfg=dict(
            type='Kaiming',
            layer='Conv2d',
            mode='fan_in',
            nonlinearity='relu',
            distribution='normal',
            bias=0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
# the lr of the schedules is for a total batch of 16; scale with the real
# batch by enabling this (mmengine's auto_scale_lr)
auto_scale_lr = dict(enable=False, base_batch_size=16)
