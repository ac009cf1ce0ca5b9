# ResNet-38 Model A1 ImageNet-1k pretraining with mmpretrain, the original's
# recipe (ademxapp's iclass/ilsvrc.py): batch 256 (8 GPUs x 32, "8xb32"),
# random-sized 224 crops with colour jitter 0.4 and flips,
# SGD with Nesterov momentum 0.9, weight decay 1e-4, lr 0.1 decayed linearly
# over 90 epochs; test single-scale: shorter side 320, 320 centre crop.
# As the original's ImageNet networks (util/symbol/resnet_v2.py): no dropout;
# its initialisation (iclass/ilsvrc.py): convs N(0, 2 / fan_in) (ResNet38's
# default), the classifier U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and
# bias (its TorchXavier_Linear; PyTorch's own nn.Linear init, so none here).
# Left out: the original's PCA lighting noise (0.1), as mmpretrain's Lighting
# casts its result back to uint8 without clipping, wrapping saturated pixels.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs32.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['mmrn38'], allow_failed_imports=False)
model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='ResNet38',
        arch='A1',
        out_stride=32,
        out_indices=(5, ),
        dropouts=(0., 0.),
        norm_cfg=dict(type='SyncBN', eps=1.001e-5, requires_grad=True)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',  # "linear1000" of the original
        num_classes=1000,
        in_channels=4096,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5),
        init_cfg=None))
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=224),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=320, edge='short'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 90
optim_wrapper = dict(
    optimizer=dict(
        type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.0001))
param_scheduler = dict(
    type='LinearLR',
    start_factor=1.0,
    end_factor=0.0,
    by_epoch=True,
    begin=0,
    end=max_epochs)
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=256)
