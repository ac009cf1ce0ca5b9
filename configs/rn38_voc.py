# ResNet-38 (Model A1, output stride 8, "2 conv" head) on PASCAL VOC 2012
# with the SBD "aug" labels (10,582 training images), 21 classes.
# Batch: 4 GPUs x 4 images (mmseg's "4xb4"), 512x512 crops, 20k iterations.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_20k.py',
]
# ImageNet-pretrained Model A1 converted from the original release with
# tools/model_converters/rn38_to_mm.py (see README).
pretrained_ckpt = 'checkpoints/ilsvrc-cls_rna-a1_cls1000.pth'
model = dict(
    backbone=dict(
        init_cfg=dict(
            type='Pretrained', checkpoint=pretrained_ckpt,
            prefix='backbone.')),
    decode_head=dict(num_classes=21))
# lr above is for the total batch 16; scale with the real batch
auto_scale_lr = dict(enable=False, base_batch_size=16)
