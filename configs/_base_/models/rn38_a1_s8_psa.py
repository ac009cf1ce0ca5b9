# ResNet-38 A1 at output stride 8 as PSA builds it (jiwoon-ahn/psa's
# resnet38d), the backbone of the weakly-supervised configs (configs/wsss/:
# the CAM classifier and AffinityNet add their data preprocessor type, out
# indices and head): PSA's dropout layout (Dropout2d before the 3x3 and the
# last 1x1 conv of 6a / 7a), BN in eval mode with frozen scale/shift
# everywhere (BN eps 1e-5, torch's default, as PSA), conv1a and level 2
# frozen (PSA's ``not_training``).
custom_imports = dict(
    imports=['mmrn38', 'mmrn38.wsss'], allow_failed_imports=False)
norm_cfg = dict(type='BN', eps=1e-5, requires_grad=False)
model = dict(
    # RGB, ImageNet mean/std on the 0..255 scale, as PSA normalises
    data_preprocessor=dict(
        mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375]),
    backbone=dict(
        type='ResNet38',
        arch='A1',
        out_stride=8,
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
            prefix='backbone.')))
