# The demo of `make demo` (tools/demo.py): configs/rn38_voc.py, the PASCAL
# VOC recipe, shrunk until it trains from scratch on a 2-core CPU in a few
# minutes, on the synthetic VOC-layout dataset tools/demo.py generates
# (mmrn38.synthetic.write_voc). Only what that needs changes.
_base_ = ['./rn38_voc.py', './_base_/datasets/rn38_demo.py']

# What tools/demo.py generates (its --data-root / --num-images override
# the folder and the split sizes): 128x128 scenes of NUM_CLASSES - 1 object
# classes, differing in shape, colour and texture, on textured backgrounds.
synthetic_data = dict(
    splits=dict(train=320, val=80), size=(128, 128), num_classes=7, seed=0)
data_root = 'data/rn38_demo/VOCdevkit/VOC2012'
crop_size = (128, 128)

# No ImageNet weights offline: train from scratch, so
# - plain BN (one process, no GPU) and BN statistics that learn
#   (norm_eval=False; the paper freezes them only when fine-tuning);
# - width 1/8 of every channel count (1.6 M backbone parameters instead of
#   105 M; 1/64 of the arithmetic);
# - the head's dilation 12 is sized for 64x64 feature maps (512 crops at
#   output stride 8); 128 crops give 16x16 maps, so 3 covers the same share.
norm_cfg = dict(type='BN', eps=1.001e-5, requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    backbone=dict(
        width=1 / 8, norm_cfg=norm_cfg, norm_eval=False, init_cfg=None),
    decode_head=dict(
        in_channels=512,  # 4096 / 8
        channels=64,  # 512 / 8
        dilation=3,
        num_classes=7,
        norm_cfg=norm_cfg,
        # the bootstrapped loss keeps at least 256 stride-8 pixels of a
        # device's batch in the original (4 crops of 504x504: 63*63*4 =
        # 15876 pixels, 1.6 %); the same share of 8 crops of 128x128
        # (8*16*16 = 2048 pixels) is 32
        loss_decode=dict(min_kept=32)))

# The VOC pipelines without their 512-pixel resizing: images stay near
# their own 128x128 size. No PhotoMetricDistortion: its hue and
# saturation jitter would blur the colour that partly tells the classes
# apart, and the held-out scenes come from the same generator.
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
# multi-scale + flip test-time augmentation, at scales around the training
# ones (VOC's 0.5 would shrink a 128 image to 64 pixels)
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in (1.0, 1.25, 1.5)
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
# The generated dataset (_base_/datasets/rn38_demo.py) with its real masks.
# Single processes: 2 cores are better spent on the model than on workers.
dataset = dict(
    _base_.dataset,
    data_root=data_root,
    data_prefix=dict(
        img_path='JPEGImages', seg_map_path='SegmentationClassAug'))
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _delete_=True,
        **dataset,
        ann_file='ImageSets/Segmentation/train.txt',
        pipeline=train_pipeline))
# VOC's val loader (its val.txt) on the generated dataset: every other key
# of its PascalVOCDataset is set here
val_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    dataset=dict(**dataset, pipeline=test_pipeline))
test_dataloader = val_dataloader

# Schedule: 1000 iterations of batch 8 (25 passes over the 320 training
# images). From scratch the network needs a larger lr than the paper's
# fine-tuning 0.0016; held, then linear decay over the second half as in the
# base schedule.
max_iters = 1000
optim_wrapper = dict(optimizer=dict(lr=0.02))
param_scheduler = [
    dict(_base_.linear_decay, begin=max_iters // 2, end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=200)
default_hooks = dict(
    logger=dict(interval=20),
    # only the last checkpoint (save_last), which tools/demo.py tests
    checkpoint=dict(interval=-1))
env_cfg = dict(cudnn_benchmark=False)
randomness = dict(seed=0)
