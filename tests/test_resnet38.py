"""ResNet38 backbone: structure, shapes, options and errors."""
import copy
import math

import pytest
import torch
import torch.nn as nn

import mmrn38  # noqa: F401
from mmrn38.models import ResNet38

TINY = 1 / 16


def level_strides(out_stride):
    """Stride of each level's output (levels 2..7)."""
    return [min(s, out_stride) for s in (2, 4, 8, 16, 32, 32)]


@pytest.mark.parametrize('arch', ['A', 'A1'])
@pytest.mark.parametrize('out_stride', [8, 16, 32])
@pytest.mark.parametrize('size', [(64, 64), (65, 97), (33, 47)])
def test_output_shapes(arch, out_stride, size):
    model = ResNet38(
        arch=arch, out_stride=out_stride, width=TINY,
        out_indices=range(6)).eval()
    h, w = size
    with torch.no_grad():
        outs = model(torch.randn(1, 3, h, w))
    assert len(outs) == 6
    assert model.out_channels == (8, 16, 32, 64, 128, 256)
    for out, channels, stride in zip(outs, model.out_channels,
                                     level_strides(out_stride)):
        # both a stride-2 3x3 conv (pad 1) and a 3x3/2 max-pool (pad 1)
        # give ceil(n / 2) at each down-sampling
        expected_h, expected_w = h, w
        for _ in range(int(math.log2(stride))):
            expected_h, expected_w = (expected_h + 1) // 2, \
                (expected_w + 1) // 2
        assert out.shape == (1, channels, expected_h, expected_w)


def test_default_output_is_bn7_relu():
    model = ResNet38(width=TINY).eval()
    out, = model(torch.randn(2, 3, 40, 40))
    assert out.shape == (2, 256, 5, 5)
    assert (out >= 0).all()
    assert model.out_channels == (256, )


def test_dilations_follow_ademxapp():
    model = ResNet38(out_stride=8, width=TINY)
    first_5a, later_5a = model.level5[0].conv1, model.level5[0].conv2
    assert (first_5a.dilation, later_5a.dilation) == ((1, 1), (2, 2))
    assert model.level5[1].conv1.dilation == (2, 2)
    assert model.level6[0].conv2.dilation == (4, 4)
    assert model.level7[0].conv2.dilation == (4, 4)
    model16 = ResNet38(out_stride=16, width=TINY)
    assert model16.level5[0].conv1.stride == (2, 2)
    assert model16.level6[0].conv2.dilation == (2, 2)
    assert model16.level6[0].conv2.stride == (1, 1)


def test_model_a_pools_instead_of_strides():
    model = ResNet38(arch='A', out_stride=32, width=TINY)
    for level in model.levels()[:5]:
        assert isinstance(level[0].pool[1], nn.MaxPool2d)
        assert all(
            m.stride in ((1, 1), 1) for m in level[0].modules()
            if isinstance(m, nn.Conv2d))
    assert model.level7[0].pool is None


def test_6a_strides_its_1x1_conv():
    """ademxapp strides the first conv of a unit: in 6a the 1x1
    ``res6a_branch2a``, not the 3x3."""
    unit = ResNet38(out_stride=32, width=TINY).level6[0]
    assert (unit.conv1.kernel_size, unit.conv1.stride) == ((1, 1), (2, 2))
    assert unit.conv2.stride == (1, 1)
    assert unit.shortcut.stride == (2, 2)


def test_model_a_dilated_level_keeps_a_stride_1_pool():
    """Model A at output stride 8: ademxapp's pool4/pool5 keep stride 1
    with the old dilation (padding = dilation), the next unit's convs all
    take the new one."""
    model = ResNet38(arch='A', out_stride=8, width=TINY)
    (pad5, pool5), (pad6, pool6) = model.level5[0].pool, model.level6[0].pool
    assert (pool5.stride, pool5.dilation, pad5.padding) == (1, 1, (1, ) * 4)
    assert (pool6.stride, pool6.dilation, pad6.padding) == (1, 2, (2, ) * 4)
    assert model.level5[0].conv1.dilation == (2, 2)
    assert model.level6[0].conv2.dilation == (4, 4)
    out = model(torch.randn(1, 3, 33, 47))[0]
    assert out.shape[-2:] == (5, 6)


def test_gradient_reaches_conv1a():
    model = ResNet38(width=TINY).train()
    out, = model(torch.randn(2, 3, 32, 32))
    out.mean().backward()
    grad = model.conv1a.weight.grad
    assert grad is not None and grad.abs().sum() > 0


def test_norm_eval_keeps_running_stats():
    model = ResNet38(width=TINY, norm_eval=True).train()
    before = copy.deepcopy(model.state_dict())
    model(torch.randn(2, 3, 32, 32))[0].mean().backward()
    after = model.state_dict()
    for key in before:
        if 'running' in key or 'num_batches' in key:
            assert torch.equal(before[key], after[key]), key
    assert all(not m.training for m in model.modules()
               if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize('frozen_stages', [0, 2, 6])
def test_frozen_stages(frozen_stages):
    model = ResNet38(width=TINY, frozen_stages=frozen_stages).train()
    frozen = [model.conv1a] + model.levels()[:frozen_stages]
    if frozen_stages == 6:
        frozen.append(model.final_norm)
    frozen_ids = {id(p) for m in frozen for p in m.parameters()}
    for p in model.parameters():
        assert p.requires_grad == (id(p) not in frozen_ids)
    for m in frozen:
        assert not m.training
    for level in model.levels()[frozen_stages:]:
        assert level.training


def test_with_cp_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = ResNet38(width=TINY, dropouts=(0, 0), out_indices=(3, 5))
    ckpt = ResNet38(
        width=TINY, dropouts=(0, 0), out_indices=(3, 5), with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 33, 35)
    results = []
    for model in (plain, ckpt):
        model.train()
        inp = x.clone().requires_grad_()
        outs = model(inp)
        sum(o.square().mean() for o in outs).backward()
        results.append((outs, inp.grad, {
            n: p.grad
            for n, p in model.named_parameters()
        }))
    (outs_a, gx_a, g_a), (outs_b, gx_b, g_b) = results
    for a, b in zip(outs_a, outs_b):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(gx_a, gx_b)
    for name in g_a:
        torch.testing.assert_close(g_a[name], g_b[name], msg=name)


def test_custom_arch_dict():
    arch = dict(
        stem_channels=8,
        units=(1, 1, 1, 1, 1, 1),
        channels=((8, 8), (16, 16), (16, 16), (16, 32), (16, 32, 64), (32, 64,
                                                                       128)),
        downsample='conv')
    model = ResNet38(arch=arch, out_indices=(0, 5))
    assert model.out_channels == (8, 128)
    assert [len(level) for level in model.levels()] == [1] * 6
    outs = model(torch.randn(1, 3, 32, 32))
    assert outs[1].shape == (1, 128, 4, 4)


@pytest.mark.parametrize('kwargs, message', [
    (dict(arch='B'), 'unknown ResNet38 arch'),
    (dict(arch=dict(units=(1, ) * 6)), 'custom arch needs exactly'),
    (dict(out_stride=4), 'out_stride must be one of'),
    (dict(out_stride=64), 'out_stride must be one of'),
    (dict(out_indices=(6, )), 'out_indices'),
    (dict(out_indices=()), 'out_indices'),
    (dict(frozen_stages=7), 'frozen_stages'),
    (dict(frozen_stages=-2), 'frozen_stages'),
    (dict(width=0), 'width must be a positive'),
    (dict(width=-1.0), 'width must be a positive'),
    (dict(pretrained='x.pth',
          init_cfg=dict(type='Pretrained')), 'cannot be both set'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet38(**kwargs)


@pytest.mark.parametrize('registry_module',
                         ['mmseg.registry', 'mmpretrain.registry'])
def test_built_from_both_registries(registry_module):
    import importlib
    registry = importlib.import_module(registry_module).MODELS
    model = registry.build(dict(type='ResNet38', width=TINY, out_stride=16))
    assert type(model) is ResNet38


def test_pretrained_becomes_init_cfg():
    with pytest.warns(UserWarning, match='deprecated'):
        model = ResNet38(width=TINY, pretrained='weights.pth')
    assert model.init_cfg == dict(type='Pretrained', checkpoint='weights.pth')
