"""ResNet38 inside mmpretrain: ImageClassifier builds and trains."""
import copy

import torch
import torch.nn.functional as F
from mmengine.optim import build_optim_wrapper
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample

import mmrn38  # noqa: F401


def test_image_classifier_trains():
    """One train_step: the loss is the cross-entropy of the classifier's
    logits and every parameter takes SGD's first step along its
    gradient."""
    torch.manual_seed(0)
    cfg = dict(
        type='ImageClassifier',
        backbone=dict(
            type='ResNet38', out_stride=32, width=1 / 16, dropouts=(0, 0)),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=3,
            in_channels=256,
            loss=dict(type='CrossEntropyLoss')),
        data_preprocessor=dict(
            type='ClsDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1]))
    # in mmpretrain's scope, whatever default scope an earlier test left
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg)
    lr = 0.05
    optim = build_optim_wrapper(
        model, dict(optimizer=dict(type='SGD', lr=lr, momentum=0.9)))
    images = torch.randn(6, 3, 32, 32)
    labels = [0, 1, 2, 0, 1, 2]
    data = dict(
        inputs=list(images),
        data_samples=[DataSample().set_gt_label(y) for y in labels])
    reference = copy.deepcopy(model).train()
    expected = F.cross_entropy(
        reference(images, mode='tensor'), torch.tensor(labels))
    expected.backward()

    loss = model.train_step(data, optim)['loss']
    torch.testing.assert_close(loss, expected.detach())
    steps = 0
    for (name, param), ref in zip(model.named_parameters(),
                                  reference.parameters()):
        torch.testing.assert_close(
            param.detach(), ref.detach().add(ref.grad, alpha=-lr), msg=name)
        steps += bool(ref.grad.abs().max() > 0)
    assert steps == len(list(model.parameters()))
    model.eval()
    logits = model(images, mode='tensor')
    assert logits.shape == (6, 3)
