# ResNet-38 (Model A1, output stride 8, "2 conv" head) on Cityscapes
# (fine annotations, 19 classes), the original's recipe: 500x500 crops from
# the 2048x1024 images with scale jitter 0.7-1.3, batch 16 (8 GPUs x 2,
# "8xb2"), lr 0.0016 held then decayed linearly; test on the whole
# 1024x2048 image.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/cityscapes.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_40k.py',
]
crop_size = (500, 500)
pretrained_ckpt = 'checkpoints/ilsvrc-cls_rna-a1_cls1000.pth'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
        ratio_range=(0.7, 1.3),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
train_dataloader = dict(batch_size=2, dataset=dict(pipeline=train_pipeline))
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained_ckpt,
            prefix='backbone.')),
    decode_head=dict(num_classes=19),
    test_cfg=dict(mode='whole'))
auto_scale_lr = dict(enable=False, base_batch_size=16)
