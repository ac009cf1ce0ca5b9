"""The original's training rules in the shipped configs: the Cityscapes
schedule, the "alex" lr rule, the head initialisation, no dropout for
ImageNet."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import PARAM_SCHEDULERS, DefaultScope
from rn38_testing import REPO

import mmrn38  # noqa: F401


def config(name):
    return Config.fromfile(osp.join(REPO, 'configs', name))


def test_cityscapes_lr_follows_the_original_two_stages():
    """ademxapp's README: 140 epochs at 0.0016, then a new run from 0.0008
    whose LinearScheduler(updates=64 epochs + 1, stop_lr=1e-6) gives update
    k (1-based) 0.0008 * (1 - k / (updates + 1)), never below 1e-6; 2975 //
    16 = 185 iterations an epoch."""
    cfg = config('rn38_cityscapes.py')
    assert cfg.train_cfg.max_iters == 204 * 185
    wrapper = build_optim_wrapper(nn.Linear(1, 1), cfg.optim_wrapper)
    schedulers = [
        PARAM_SCHEDULERS.build(dict(s, optimizer=wrapper))
        for s in cfg.param_scheduler
    ]
    lrs = []
    for _ in range(cfg.train_cfg.max_iters):
        lrs.append(wrapper.param_groups[0]['lr'])
        for s in schedulers:
            s.step()
    lrs = np.array(lrs)
    fixed, updates = 140 * 185, 64 * 185
    k = np.arange(1, updates + 1)
    expected = np.concatenate([
        np.full(fixed, 0.0016),
        np.maximum(0.0008 * (1 - k / (updates + 1)), 1e-6)
    ])
    np.testing.assert_allclose(lrs, expected, rtol=1e-9, atol=0)
    # at the switch and at the end
    assert lrs[fixed - 1] == pytest.approx(0.0016)
    assert lrs[fixed] == pytest.approx(0.0008 * (1 - 1 / (updates + 1)))
    assert lrs[-1] == pytest.approx(1e-6)
    assert (lrs[-20:] == lrs[-1]).sum() > 1  # the floor is reached


def test_cityscapes_pipeline_is_the_originals():
    cfg = config('rn38_cityscapes.py')
    kinds = [t['type'] for t in cfg.train_pipeline]
    assert 'PhotoMetricDistortion' not in kinds
    crop = cfg.train_pipeline[kinds.index('RandomCrop')]
    assert crop.crop_size == (504, 504) and 'cat_max_ratio' not in crop
    resize = cfg.train_pipeline[kinds.index('RandomResize')]
    assert resize.scale == (2048, 1024) and resize.ratio_range == (0.7, 1.3)


def seg_model(cfg):
    from mmseg.registry import MODELS
    cfg.model.backbone.update(
        width=1 / 16, init_cfg=None, norm_cfg=dict(type='BN', eps=1.001e-5))
    cfg.model.decode_head.update(
        in_channels=256, channels=32, norm_cfg=dict(type='BN'))
    with DefaultScope.overwrite_default_scope('mmseg'):
        return MODELS.build(cfg.model)


@pytest.mark.parametrize('name', ['rn38_voc.py', 'rn38_cityscapes.py'])
def test_alex_rule_biases_and_bn_beta_twice_the_lr_no_decay(name):
    cfg = config(name)
    model = seg_model(cfg)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    base_lr, base_wd = 0.0016, 0.0005
    group_of = {
        id(p): g
        for g in wrapper.optimizer.param_groups
        for p in g['params']
    }
    seen = dict(bn_beta=0, bn_gamma=0, conv_bias=0, conv_weight=0)
    for module in model.modules():
        is_bn = isinstance(module, nn.modules.batchnorm._BatchNorm)
        for pname, param in module.named_parameters(recurse=False):
            group = group_of[id(param)]
            if pname == 'bias':
                assert group['lr'] == pytest.approx(2 * base_lr)
                assert group['weight_decay'] == 0
            else:
                assert group['lr'] == pytest.approx(base_lr)
                assert group['weight_decay'] == pytest.approx(base_wd)
            kind = ('bn_' if is_bn else 'conv_') + (
                ('beta' if is_bn else 'bias') if pname == 'bias' else
                ('gamma' if is_bn else 'weight'))
            seen[kind] += 1
    assert all(seen.values()), seen


def test_shipped_head_init_is_xavier_gaussian_fan_in_2():
    """MXNet's Xavier(rnd_type='gaussian', factor_type='in', magnitude=2):
    N(0, 2 / fan_in), bias 0, for the full-size VOC head."""
    from mmseg.registry import MODELS
    cfg = config('rn38_voc.py')
    cfg.model.decode_head.norm_cfg = dict(type='BN')
    torch.manual_seed(0)
    head = MODELS.build(cfg.model.decode_head)
    head.init_weights()
    for conv in (head.conv.conv, head.conv_seg):
        fan_in = conv.in_channels * conv.kernel_size[0] * conv.kernel_size[1]
        std = conv.weight.detach().double().std().item()
        assert std == pytest.approx((2 / fan_in)**0.5, rel=0.02)
        assert abs(conv.weight.detach().double().mean().item()) < 0.02 * std
        assert torch.count_nonzero(conv.bias) == 0


@pytest.mark.parametrize('name', ['rn38_in1k.py', 'rn38-a_in1k.py'])
def test_imagenet_configs_have_no_dropout(name):
    from mmpretrain.registry import MODELS
    cfg = config(name)
    cfg.model.backbone.update(
        width=1 / 16, norm_cfg=dict(type='BN', eps=1.001e-5))
    cfg.model.head.in_channels = 256
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    dropouts = [
        m for m in model.modules()
        if isinstance(m, nn.modules.dropout._DropoutNd) and m.p > 0
    ]
    assert not dropouts
    # while the segmentation networks keep the paper's 0.3 / 0.5
    seg = seg_model(config('rn38_voc.py'))
    probs = sorted(m.p for m in seg.modules()
                   if isinstance(m, nn.modules.dropout._DropoutNd))
    assert probs[-2:] == [0.3, 0.5]
