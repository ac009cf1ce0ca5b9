# The WSSS demo's AffinityNet (make demo-wsss, tools/wsss/demo.py): configs/
# wsss/rn38_voc_aff.py, PSA's train_aff.py recipe, shrunk as configs/wsss/
# rn38_demo_cls.py shrinks the CAM classifier, on the la / ha CRF files
# that the demo makes from the CAMs of its training images.
_base_ = ['./rn38_voc_aff.py']

# tools/wsss/demo.py sets these to its dataset and CRF folders
data_root = 'data/rn38_wsss_demo/VOCdevkit/VOC2012'
la_crf_dir = 'work_dirs/rn38_wsss_demo/crf_la'
ha_crf_dir = 'work_dirs/rn38_wsss_demo/crf_ha'
crop_size = (128, 128)

# The demo's CAM classifier network: width 1/8 (every channel count, the
# head's too), its lighter dropout. No ImageNet weights offline: the demo
# starts the backbone from the trained CAM classifier's instead
# (tools/wsss/demo.py sets init_cfg), which, like PSA's ImageNet start, has
# learnt its BN statistics; so BN stays frozen and conv1a and level 2 too,
# as PSA.
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(width=1 / 8, dropouts=(0.1, 0.2), init_cfg=None),
    head=dict(in_channels=(64, 128, 512), channels=(8, 16, 32)))

# PSA's pipeline at the demo's image size (128 crops of 128x128 images:
# the flip is what varies), without the colour jitter, as the classifier.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadCRFScores'),
    dict(type='RandomCrop', crop_size=crop_size),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='AffinityLabelFromCRF', stride=8),
    dict(type='Pad', size=crop_size, pad_val=dict(img=0, seg=255)),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        la_crf_dir=la_crf_dir,
        ha_crf_dir=ha_crf_dir,
        split='train',
        pipeline=train_pipeline))

# PSA's optimiser as it ran (SGD momentum 5e-4, lr 0.1, head 10x), batch 8;
# 3 epochs of the 320 training images (120 iterations) instead of 8 of
# train_aug.
max_epochs = 3
param_scheduler = dict(end=max_epochs)
train_cfg = dict(max_epochs=max_epochs)
default_hooks = dict(
    logger=dict(interval=20), checkpoint=dict(interval=-1, save_last=True))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
