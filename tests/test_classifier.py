"""ResNet38 inside mmpretrain: ImageClassifier builds and trains."""
import torch
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmrn38  # noqa: F401


def test_image_classifier_trains():
    torch.manual_seed(0)
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet38', out_stride=32, width=1 / 16,
                      dropouts=(0, 0)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=3, in_channels=256,
                  loss=dict(type='CrossEntropyLoss')),
        data_preprocessor=dict(type='ClsDataPreprocessor',
                               mean=[0, 0, 0], std=[1, 1, 1]))
    # in mmpretrain's scope, whatever default scope an earlier test left
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9)))
    images = torch.randn(6, 3, 32, 32)
    labels = [0, 1, 2, 0, 1, 2]
    data = dict(inputs=list(images),
                data_samples=[DataSample().set_gt_label(y) for y in labels])
    losses = [model.train_step(data, optim)['loss'].item() for _ in range(8)]
    assert losses[-1] < losses[0]
    model.eval()
    logits = model(images, mode='tensor')
    assert logits.shape == (6, 3)
