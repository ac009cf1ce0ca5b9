"""mmrn38.analysis.gradient_by_path_length (Veit et al.'s procedure, the
paper's Fig. 4): exact on linear units (closed form), exact and
deterministic on ResNet-18 where every subset is used, k = 0 and k = n
against a direct computation, every unit of ResNet-38 routed (projections
included), memory-lean = plain, and the tool's files."""
import itertools
import json
import math
import os
import os.path as osp

import pytest
import torch
import torch.nn as nn
from rn38_testing import REPO, run_tool

from mmrn38 import ResNet38
from mmrn38.analysis import (UNIT_KINDS, effective_depth,
                             gradient_by_path_length, residual_units)
from mmrn38.synthetic import write_voc


class LinearUnit(nn.Module):
    """``x + W x``: a residual unit of kind ``'sum'`` without ReLU or BN."""

    def __init__(self, channels):
        super().__init__()
        self.linear = nn.Linear(channels, channels, bias=False)

    def residual(self, x):
        return self.linear(x)

    def forward(self, x):
        return x + self.residual(x)


@pytest.fixture
def linear_units(monkeypatch):
    monkeypatch.setitem(UNIT_KINDS, LinearUnit, 'sum')


def test_linear_units_closed_form(linear_units):
    """Routed through subset S, the input gradient is the product of W_u^T
    (u in S) and identities (the others) applied to the output gradient:
    for every k and every subset, the tool's mean is the closed form's."""
    torch.manual_seed(0)
    n, c = 5, 4
    net = nn.Sequential(*(LinearUnit(c) for _ in range(n))).double()
    x = torch.randn(3, c, dtype=torch.float64)
    g = torch.randn(3, c, dtype=torch.float64)
    result = gradient_by_path_length(net, x, out_grad=g, samples=10)
    assert result['units'] == n
    assert result['paths'] == [math.comb(n, k) for k in range(n + 1)]
    assert result['subsets'] == result['paths']  # all subsets: exact
    weights = [unit.linear.weight.detach() for unit in net]
    for k in range(n + 1):
        norms = []
        for subset in itertools.combinations(range(n), k):
            grad = g
            for u in reversed(range(n)):  # back from the output
                if u in subset:
                    grad = grad @ weights[u]
            norms.append(grad.norm().item())
        expected = sum(norms) / len(norms)
        assert result['mean'][k] == pytest.approx(expected, rel=1e-6), k
        assert result['total'][k] == pytest.approx(
            expected * math.comb(n, k), rel=1e-6)


def resnet18():
    from mmpretrain.models import ResNet
    torch.manual_seed(0)
    # as built, but zero_init_residual would leave every branch without
    # gradient
    model = ResNet(depth=18, zero_init_residual=False)
    model.init_weights()
    model.eval()
    return model


def direct_gradient(model, x, g, through_branch):
    """The input gradient of ResNet-18 with every unit's sum routed into
    its branch (``through_branch``) or its shortcut, by hand: each block's
    ReLU mask from the real forward pass, then the branch's or the
    shortcut's own backward, then the stem's."""
    blocks = residual_units(model)
    inputs, outputs = [], []

    def record(module, args, out):
        inputs.append(args[0])
        outputs.append(out)

    hooks = [b.register_forward_hook(record) for b in blocks]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    grad = g
    for block, block_in, block_out in zip(
            reversed(blocks), reversed(inputs), reversed(outputs)):
        grad = grad * (block_out > 0)
        inp = block_in.detach().requires_grad_()
        if through_branch:
            out = block.norm2(
                block.conv2(block.relu(block.norm1(block.conv1(inp)))))
        elif block.downsample is not None:
            out = block.downsample(inp)
        else:
            continue
        grad, = torch.autograd.grad(out, inp, grad)
    inp = x.detach().requires_grad_()
    stem = model.maxpool(model.relu(model.norm1(model.conv1(inp))))
    grad, = torch.autograd.grad(stem, inp, grad)
    return grad.norm().item()


def test_resnet18_exact_deterministic_and_ends_direct():
    model = resnet18()
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    n = len(residual_units(model))
    assert n == 8
    first = gradient_by_path_length(model, x, samples=math.comb(8, 4))
    second = gradient_by_path_length(model, x, samples=math.comb(8, 4))
    assert first == second
    assert first['subsets'] == first['paths']
    assert all(s == 0 for s in first['std'][:1] + first['std'][-1:])
    g = torch.randn((2, 512, 1, 1), generator=torch.Generator().manual_seed(0))
    assert first['mean'][0] == pytest.approx(
        direct_gradient(model, x, g, through_branch=False), rel=1e-5)
    assert first['mean'][n] == pytest.approx(
        direct_gradient(model, x, g, through_branch=True), rel=1e-5)
    # the model is left as it was: no gates, no stand-in shortcuts
    assert all(
        b.downsample is None or not type(b.downsample).__name__.startswith('_')
        for b in residual_units(model))
    assert not any(m._forward_hooks for m in model.modules())


def test_resnet38_every_unit_and_memory_lean_same():
    kwargs = dict(arch='A1', width=1 / 32, out_stride=8)
    torch.manual_seed(0)
    plain = ResNet38(**kwargs).eval()
    lean = ResNet38(memory_lean=True, **kwargs).eval()
    lean.load_state_dict(plain.state_dict())
    units = residual_units(plain)
    assert len(units) == 17
    assert sum(u.shortcut is not None for u in units) == 6  # projections
    x = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(1))
    a = gradient_by_path_length(plain, x, samples=3)
    b = gradient_by_path_length(lean, x, samples=3)
    assert a == b
    # k = n through every branch is not the plain gradient (all paths)
    xx = x.clone().requires_grad_()
    out = plain(xx)[-1]
    g = torch.randn(out.shape, generator=torch.Generator().manual_seed(0))
    out.backward(g)
    assert a['mean'][17] != pytest.approx(xx.grad.norm().item())
    assert 'residual' not in vars(units[0])


def test_effective_depth_window():
    depth = effective_depth([0, 1, 8, 2, 0, 0])  # 90 %: 9.9 of 11
    assert depth['mode'] == 2 and depth['range'] == [2, 3]
    assert effective_depth([10, 0, 0])['range'] == [0, 0]


def test_unknown_backbone_one_error():
    with pytest.raises(ValueError, match='no residual unit'):
        gradient_by_path_length(nn.Conv2d(3, 4, 3), torch.randn(1, 3, 8, 8))


def test_images_through_the_models_data_preprocessor(tmp_path):
    """Image inputs are what the model's own data preprocessor makes of
    them (RGB, the config's mean and std), on the model's device."""
    import mmcv
    import numpy as np
    from mmengine.config import Config

    from mmrn38.analysis.models import input_batch, model_from_config
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'rn38_voc.py'))
    cfg.model.backbone.width = 1 / 32
    model = model_from_config(cfg)
    root = write_voc(str(tmp_path), dict(train=3), size=(30, 40))
    folder = osp.join(root, 'JPEGImages')
    batch = input_batch(model, (24, 20), 2, image_dir=folder)
    pre = cfg.model.data_preprocessor
    for image, name in zip(batch, sorted(os.listdir(folder))[:2]):
        bgr = mmcv.imresize(mmcv.imread(osp.join(folder, name)), (20, 24))
        mean, std = (np.float32(pre.mean), np.float32(pre.std))
        expected = (bgr[..., ::-1].astype(np.float32) - mean) / std
        torch.testing.assert_close(
            image, torch.from_numpy(expected.transpose(2, 0, 1).copy()))


def test_tool_writes_json_and_figure(tmp_path):
    cfg = tmp_path / 'tiny.py'
    cfg.write_text(
        f"_base_ = ['{REPO}/configs/rn38_voc.py']\n"
        'model = dict(backbone=dict(width=1 / 32, init_cfg=None))\n')
    resnet = tmp_path / 'tiny_resnet.py'
    resnet.write_text(
        "_base_ = ['mmpretrain::resnet/resnet18_8xb32_in1k.py']\n"
        'model = dict(backbone=dict(stem_channels=8, base_channels=8))\n')
    out = tmp_path / 'out'
    proc = run_tool('analysis_tools/path_lengths.py', cfg, '--compare', resnet,
                    '--no-zero-init-residual', '--input-size', 24, 24,
                    '--batch', 1, '--samples', 2, '--out', out)
    report = json.loads((out / 'path_lengths.json').read_text())
    assert list(report) == ['tiny', 'tiny_resnet']
    assert report['tiny']['units'] == 17
    assert report['tiny_resnet']['units'] == 8
    # zero_init_residual switched off: every branch carries gradient
    assert report['tiny_resnet']['mean'][8] > 0
    assert (out / 'path_lengths.png').stat().st_size > 1000
    assert 'effective depth' in proc.stdout
    # images from a folder, normalised by the config: a different input
    images = write_voc(str(tmp_path / 'voc'), dict(train=2), size=(30, 40))
    from_images = tmp_path / 'from_images'
    run_tool('analysis_tools/path_lengths.py', cfg, '--images',
             osp.join(images, 'JPEGImages'), '--input-size', 24, 24, '--batch',
             2, '--samples', 2, '--out', from_images)
    on_images = json.loads((from_images / 'path_lengths.json').read_text())
    assert on_images['tiny']['units'] == 17
    assert on_images['tiny']['mean'] != report['tiny']['mean']
    too_few = run_tool(
        'analysis_tools/path_lengths.py',
        cfg,
        '--images',
        osp.join(images, 'JPEGImages'),
        '--batch',
        3,
        '--out',
        tmp_path / 'none',
        check=False)
    assert too_few.stdout.strip().splitlines()[-1] == (
        f'path_lengths: error: {osp.join(images, "JPEGImages")} holds 2 '
        f'images, --batch needs 3')
    assert not (tmp_path / 'none').exists()
    bad = run_tool(
        'analysis_tools/path_lengths.py', tmp_path / 'none.py', check=False)
    assert bad.returncode != 0
    assert bad.stdout.strip().splitlines()[-1].startswith(
        'path_lengths: error:')
