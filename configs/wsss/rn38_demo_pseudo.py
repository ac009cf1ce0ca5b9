# The WSSS demo's segmentation network (make demo-wsss, tools/wsss/
# demo.py): configs/wsss/rn38_voc_pseudo.py, ResNet-38 + the original's head
# trained with Adam on pseudo-labels, shrunk as configs/rn38_demo.py shrinks
# configs/rn38_voc.py, trained on the random-walk labels of the demo's
# training images and tested on the real masks of its held-out images.
_base_ = ['./rn38_voc_pseudo.py', '../_base_/datasets/rn38_demo.py']

# tools/wsss/demo.py sets these to its dataset and random-walk folder
data_root = 'data/rn38_wsss_demo/VOCdevkit/VOC2012'
pseudo_label_dir = 'work_dirs/rn38_wsss_demo/rw'
crop_size = (128, 128)

# Width 1/8 and the demo classifier's lighter dropout, the head's dilation
# for 16x16 feature maps, as configs/rn38_demo.py. No ImageNet weights
# offline: the backbone starts from the demo's CAM classifier
# (tools/wsss/demo.py sets init_cfg), whose BN statistics are learnt, so BN
# stays frozen as when the original fine-tunes (plain BN: one process).
norm_cfg = dict(type='BN', eps=1.001e-5, requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        width=1 / 8, dropouts=(0.1, 0.2), norm_cfg=norm_cfg, init_cfg=None),
    decode_head=dict(
        in_channels=512,
        channels=64,
        dilation=3,
        num_classes=7,
        norm_cfg=norm_cfg,
        # configs/rn38_demo.py's share of the kept pixels
        loss_decode=dict(min_kept=32)))

# configs/rn38_demo.py's pipelines; the training labels are the
# pseudo-labels, the held-out images keep their real masks.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=crop_size,
        ratio_range=(0.75, 1.5),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
# the generated dataset (../_base_/datasets/rn38_demo.py)
dataset = dict(_base_.dataset, data_root=data_root)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        **dataset,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline))
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        **dataset,
        data_prefix=dict(
            img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
        ann_file='ImageSets/Segmentation/val.txt',
        pipeline=test_pipeline))
test_dataloader = val_dataloader

# rn38_voc_pseudo.py's Adam (lr 1e-4: a fine-tuning step, which starting
# from the classifier's backbone this is); 200 iterations of batch 8 (5
# passes over the 320 training images), the lr held for the first half,
# then linear to 0 as the base schedule.
max_iters = 200
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1.0,
        end_factor=0.0,
        begin=max_iters // 2,
        end=max_iters,
        by_epoch=False)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=-1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
