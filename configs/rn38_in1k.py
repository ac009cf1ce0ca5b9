# ResNet-38 Model A1 ImageNet-1k pretraining with mmpretrain, the original's
# recipe: batch 256 (8 GPUs x 32, "8xb32"), 224 crops, SGD lr 0.1 decayed
# linearly to 0 over 90 epochs; test single-scale at 320.
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
        norm_cfg=dict(type='SyncBN', eps=1.001e-5, requires_grad=True)),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',  # "linear1000" of the original
        num_classes=1000,
        in_channels=4096,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        topk=(1, 5)))
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=320, edge='short'),
    dict(type='CenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
max_epochs = 90
# weight decay: mmpretrain's ResNet default (the release does not state one)
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=0.0001))
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
