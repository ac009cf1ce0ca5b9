"""mmrn38.optimize_for_inference: float32 outputs equal the plain model's to
float32 rounding (segmentor, classifier, bare backbone; Model A and A1, odd
sizes), the same labels through mmseg's inference API, and the bfloat16
switch only where the hardware has native bfloat16. Exactness only: no
timing here (docs/en/user_guides/speed_and_memory.md).

Kernel choice by measurement (mmrn38.models.conv_autotune,
``autotune=True``): the slower kernel is never chosen (a kernel made slow
on purpose is passed to the real timing function), decisions survive in
the cache file so that a fresh reader times nothing, a corrupt file is
ignored with a warning, the autotuned model computes the plain model's
logits and reports its plan; the rule for AMX machines."""
import copy
import json
import time

import numpy as np
import pytest
import torch
import torch.nn as nn
from rn38_testing import REPO, rn38_segmentor_cfg

from mmrn38 import ResNet38, optimize_for_inference
from mmrn38.models import conv_autotune, inference_optimization, winograd_conv
from mmrn38.models.conv_autotune import (AutotunedConv2d, KernelChoices,
                                         machine_key, time_kernel)
from mmrn38.models.inference_optimization import (BFloat16Conv2d,
                                                  PrepackedConv2d)
from mmrn38.models.winograd_conv import WinogradConv2d, pays_off
from mmrn38.utils import device_features

WIDTH = 1 / 16


def randomise_bn(model, seed=0):
    """Non-trivial BN statistics and affine parameters, as after training
    (fresh ones would make folding an identity)."""
    generator = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.rand(n, generator=generator) - 0.5)
            m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=generator) + 0.5)
            m.bias.data.copy_(torch.rand(n, generator=generator) - 0.5)
    return model


def assert_close_to(out, ref):
    """max |out - ref| <= 1e-4 * max |ref|."""
    assert out.dtype == ref.dtype == torch.float32
    assert out.shape == ref.shape
    tol = 1e-4 * ref.abs().max().item()
    assert (out - ref).abs().max().item() <= tol


def segmentor(arch='A1', out_stride=8, **backbone):
    from mmseg.registry import MODELS
    norm_cfg = dict(type='BN', eps=1.001e-5, requires_grad=True)
    torch.manual_seed(0)
    cfg = rn38_segmentor_cfg(
        dict(
            arch=arch,
            out_stride=out_stride,
            width=WIDTH,
            norm_cfg=norm_cfg,
            **backbone),
        in_index=0,
        dilation=3,
        num_classes=5,
        norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss'))
    model = MODELS.build(
        dict(cfg, train_cfg=dict(), test_cfg=dict(mode='whole')))
    model.init_weights()
    return randomise_bn(model)


def logits_of(model, fast, size, batch=2):
    """encode_decode logits of the plain and the fast model on the same
    random images."""
    metas = [dict(img_shape=size, pad_shape=size)]
    images = torch.randn(batch, 3, *size).to(next(model.parameters()).device)
    with torch.no_grad():
        return (model.encode_decode(images,
                                    metas), fast.encode_decode(images, metas))


def winograd_layers(model):
    return [m for m in model.modules() if isinstance(m, WinogradConv2d)]


def winograd_candidates(model):
    """The backbone's convolutions Winograd can compute (3x3, stride 1,
    dilation up to 4)."""
    return sum(
        winograd_conv.is_winograd_compatible(m) and m.dilation[0] <= 4
        for m in model.backbone.modules())


@pytest.mark.parametrize('arch,out_stride,size', [('A1', 8, (37, 45)),
                                                  ('A', 16, (41, 30)),
                                                  ('A1', 32, (33, 33))])
def test_segmentor_logits_equal_plain(arch, out_stride, size, device):
    model = segmentor(arch, out_stride).eval().to(device)
    fast = optimize_for_inference(copy.deepcopy(model))
    ref, out = logits_of(model, fast, size)
    assert_close_to(out, ref)
    assert not fast.training and fast.inference_bf16 is False
    # conv1 -> norm2 in all 17 units, conv2 -> norm3 in 6a and 7a; left:
    # the 17 norm1 and bn7
    assert sum(isinstance(m, nn.BatchNorm2d) for m in model.modules()) == 37
    assert sum(isinstance(m, nn.BatchNorm2d) for m in fast.modules()) == 18
    # at width 1/16 no conv has the 256 channels where Winograd pays
    assert not winograd_layers(fast)


@pytest.mark.parametrize('arch,out_stride,size', [('A1', 8, (37, 45)),
                                                  ('A', 16, (41, 30))])
def test_winograd_logits_equal_plain(winograd_everywhere, arch, out_stride,
                                     size):
    model = segmentor(arch, out_stride).eval()
    fast = optimize_for_inference(copy.deepcopy(model))
    ref, out = logits_of(model, fast, size)
    assert_close_to(out, ref)
    # every 3x3 stride-1 conv of the backbone with dilation <= 4 (the
    # head's dilation-12 convs stay oneDNN's), F(4x4) in float32
    winograd = winograd_layers(fast)
    assert len(winograd) == winograd_candidates(model) > 20
    assert {(m.output_tile, m.transformed_weight.dtype)
            for m in winograd} == {(4, torch.float32)}


def test_winograd_bf16(winograd_everywhere, monkeypatch):
    """bfloat16 uses F(2x2) in bfloat16, within bfloat16 rounding of the
    float32 model."""
    monkeypatch.setattr(device_features, 'cpu_flags', lambda:
                        ('avx2', 'avx512f', 'avx512_bf16'))
    model = segmentor().eval()
    fast = optimize_for_inference(copy.deepcopy(model), bf16=True)
    winograd = winograd_layers(fast)
    assert len(winograd) == winograd_candidates(model)
    assert {(m.output_tile, m.transformed_weight.dtype)
            for m in winograd} == {(2, torch.bfloat16)}
    direct = optimize_for_inference(
        copy.deepcopy(model), bf16=True, winograd=False)
    images = torch.randn(2, 3, 37, 45)
    with torch.no_grad():
        # through forward, where the autocast hooks are
        ref = model(images, mode='tensor')
        out = fast(images, mode='tensor')
        out_direct = direct(images, mode='tensor')
    assert out.dtype == out_direct.dtype == torch.bfloat16

    def relative(logits):
        return ((logits.float() - ref).norm() / ref.norm()).item()

    # bfloat16 rounding of every layer's inputs (2.5 % here, random
    # weights) and F(2x2)'s of the transformed tiles: at most twice that
    assert relative(out) <= 2 * relative(out_direct) < 0.1


def test_bf16_weights_compute_what_autocast_computes(monkeypatch, device):
    """With bf16 every other conv keeps bfloat16 weights: bit for bit what
    the float32 convs give under autocast."""
    monkeypatch.setattr(device_features, 'cpu_flags', lambda:
                        ('avx2', 'avx512f', 'avx512_bf16'))
    model = segmentor().eval().to(device)
    fast = optimize_for_inference(copy.deepcopy(model), bf16=True)
    float32 = optimize_for_inference(copy.deepcopy(model))
    convs = [m for m in fast.modules() if isinstance(m, nn.Conv2d)]
    # on CPU with weights packed once into oneDNN's layout
    kind = PrepackedConv2d if device.type == 'cpu' else BFloat16Conv2d
    assert len(convs) == 45 and all(
        type(m) is kind and m.weight.dtype == torch.bfloat16 for m in convs)
    images = torch.randn(2, 3, 37, 45, device=device)
    with torch.no_grad():
        out = fast(images, mode='tensor')
        with torch.autocast(device.type, dtype=torch.bfloat16):
            ref = float32(images, mode='tensor')
        # called outside the model's autocast: float32 in, float32 out
        conv = convs[0]
        alone = conv(torch.randn(1, conv.in_channels, 9, 7, device=device))
    assert out.dtype == torch.bfloat16 and torch.equal(out, ref)
    assert alone.dtype == torch.float32


def test_prepacked_conv_packs_for_each_input_shape():
    """oneDNN's weight layout depends on the input shape: a prepacked conv
    packs again for a new shape (weights packed for another one ran up to
    40x slower) and computes the plain conv's numbers on every shape."""
    torch.manual_seed(0)
    conv = nn.Conv2d(24, 40, 1).eval().to(memory_format=torch.channels_last)
    packed = PrepackedConv2d.from_conv(conv)
    assert packed.packed_shape == (1, 24, 32, 32)
    with torch.no_grad():
        for shape in ((1, 24, 8, 8), (2, 24, 13, 7), (1, 24, 8, 8)):
            x = torch.randn(shape).contiguous(
                memory_format=torch.channels_last)
            assert torch.equal(packed(x), conv(x))
            assert packed.packed_shape == shape


def test_winograd_off_switch_and_cuda(winograd_everywhere):
    model = segmentor().eval()
    for options in (dict(winograd=False), dict(device='cuda')):
        fast = optimize_for_inference(copy.deepcopy(model), **options)
        assert not winograd_layers(fast)


@pytest.mark.slow  # inductor compiles for about two minutes on two cores
def test_compiled_fast_path_equals_plain(winograd_everywhere):
    """compile=True compiles the Winograd convs with the rest."""
    model = segmentor().eval()
    fast = optimize_for_inference(copy.deepcopy(model), compile=True)
    ref, out = logits_of(model, fast, (35, 43), batch=1)
    assert_close_to(out, ref)
    assert len(winograd_layers(fast)) == winograd_candidates(model)


def test_bare_backbone_every_output_and_memory_lean():
    torch.manual_seed(0)
    model = randomise_bn(
        ResNet38(
            arch='A1', width=WIDTH, memory_lean=True,
            out_indices=(0, 2, 4, 5))).eval()
    fast = optimize_for_inference(copy.deepcopy(model), channels_last=False)
    images = torch.randn(1, 3, 29, 35)
    # gradients on: the memory-lean stage must not run on folded units
    refs, outs = model(images), fast(images)
    assert len(outs) == 4
    for out, ref in zip(outs, refs):
        assert_close_to(out.detach(), ref.detach())


def test_classifier_scores_equal_plain():
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    torch.manual_seed(0)
    # in mmpretrain's scope, whatever default scope an earlier test left
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(
            dict(
                type='ImageClassifier',
                backbone=dict(
                    type='ResNet38', arch='A1', out_stride=32, width=WIDTH),
                neck=dict(type='GlobalAveragePooling'),
                head=dict(
                    type='LinearClsHead', num_classes=10, in_channels=256)))
    model = randomise_bn(model).eval()
    fast = optimize_for_inference(copy.deepcopy(model))
    images = torch.randn(2, 3, 47, 39)
    with torch.no_grad():
        assert_close_to(
            fast(images, mode='tensor'), model(images, mode='tensor'))


def test_labels_identical_through_mmseg_inference():
    """The demo's model (untrained, BN statistics randomised) on generated
    scenes, through mmseg's init_model / inference_model as tools/infer.py
    runs it."""
    from mmseg.apis import inference_model, init_model

    from mmrn38.synthetic import render_scene
    model = init_model(f'{REPO}/configs/rn38_demo.py', None, device='cpu')
    randomise_bn(model).eval()
    fast = optimize_for_inference(copy.deepcopy(model))
    rng = np.random.default_rng(0)
    for size in ((128, 128), (97, 131)):
        image = render_scene(rng, size, class_ids=range(1, 7))[0]
        bgr = np.ascontiguousarray(image[..., ::-1])
        ref = inference_model(model, bgr)
        out = inference_model(fast, bgr)
        assert torch.equal(ref.pred_sem_seg.data, out.pred_sem_seg.data)
        assert_close_to(out.seg_logits.data, ref.seg_logits.data)


def test_bf16_only_with_native_support(monkeypatch):
    images = torch.randn(1, 3, 33, 31)
    monkeypatch.setattr(device_features, 'cpu_flags', lambda:
                        ('avx2', 'avx512f', 'avx512_bf16'))
    fast = optimize_for_inference(ResNet38(width=WIDTH), bf16=True)
    assert fast.inference_bf16 is True
    with torch.no_grad():
        assert fast(images)[0].dtype == torch.bfloat16
    # autocast ends with the forward
    assert not torch.is_autocast_enabled('cpu')

    monkeypatch.setattr(device_features, 'cpu_flags', lambda: ('avx2', ))
    supported, reason = device_features.bf16_support('cpu')
    assert not supported and 'avx512_bf16' in reason and 'avx2' in reason
    fast = optimize_for_inference(ResNet38(width=WIDTH), bf16=True)
    assert fast.inference_bf16 is False
    with torch.no_grad():
        assert fast(images)[0].dtype == torch.float32


def test_cpu_flags_read_from_cpuinfo(monkeypatch, tmp_path):
    """The listed flags /proc/cpuinfo names as whole words, sorted; none
    where it cannot be read."""
    cpuinfo = tmp_path / 'cpuinfo'
    cpuinfo.write_text('processor\t: 0\nflags\t\t: fpu avx512_bf16 sse '
                       'avx2 avx512fp16\nprocessor\t: 1\nflags\t\t: '
                       'avx2 amx_bf16\n')
    real_open = open

    def fake_open(path, *args, **kwargs):
        assert path == '/proc/cpuinfo'
        return real_open(cpuinfo, *args, **kwargs)

    monkeypatch.setattr(device_features, 'open', fake_open, raising=False)
    read = device_features.cpu_flags.__wrapped__  # past the cache
    assert read() == ('amx_bf16', 'avx2', 'avx512_bf16')
    cpuinfo.unlink()
    assert read() == ()


def test_rejects_models_without_resnet38_and_bad_switch():
    with pytest.raises(ValueError, match='holds no ResNet38'):
        optimize_for_inference(nn.Sequential(nn.Conv2d(3, 3, 1)))
    with pytest.raises(ValueError, match='bf16 must be'):
        optimize_for_inference(ResNet38(width=WIDTH), bf16='yes')


def test_test_tool_fast_path_same_labels(tmp_path, converted_voc_checkpoint):
    """tools/test.py --fast (the fast path through InferenceFastPathHook,
    after the checkpoint is loaded) writes the same label maps as the plain
    run, with a network that predicts many classes; --bf16 --tta runs."""
    from rn38_testing import read_label_maps, run_tool_here, tiny_voc_config

    from mmrn38.synthetic import write_voc
    data_root = write_voc(
        str(tmp_path / 'data'), dict(train=2, val=3), size=(64, 64))
    cfg = tiny_voc_config(tmp_path / 'tiny_voc.py', data_root)
    logs = {}
    for name, args in (('plain', []), ('fast', ['--fast']),
                       ('bf16', ['--bf16', '--tta'])):
        logs[name] = run_tool_here('test.py', cfg, converted_voc_checkpoint,
                                   *args, '--work-dir',
                                   tmp_path / f'work_{name}', '--out',
                                   tmp_path / f'out_{name}')
    assert 'InferenceFastPathHook' in logs['fast']
    plain = read_label_maps(tmp_path / 'out_plain')
    fast = read_label_maps(tmp_path / 'out_fast')
    assert list(plain) == list(fast) and len(plain) == 3
    for name in plain:
        np.testing.assert_array_equal(plain[name], fast[name])
    assert len(np.unique(np.concatenate([p.ravel()
                                         for p in plain.values()]))) > 2
    assert len(read_label_maps(tmp_path / 'out_bf16')) == 3


class SlowKernel(nn.Module):
    """``kernel`` plus ``delay`` seconds per call."""

    def __init__(self, kernel, delay):
        super().__init__()
        self.kernel, self.delay = kernel, delay
        self.calls = 0

    def forward(self, x):
        self.calls += 1
        time.sleep(self.delay)
        return self.kernel(x)


class CountingTimer:

    def __init__(self):
        self.calls = 0

    def __call__(self, kernel, x):
        self.calls += 1
        return time_kernel(kernel, x)


@pytest.mark.parametrize('slow_first', [True, False])
def test_slower_kernel_never_chosen(tmp_path, slow_first):
    conv = nn.Conv2d(8, 8, 3, padding=1)
    x = torch.randn(1, 8, 12, 12)
    kernels = {'slow': SlowKernel(conv, 0.1), 'fast': conv}
    if not slow_first:
        kernels = dict(reversed(list(kernels.items())))
    choices = KernelChoices(str(tmp_path / 'choices.json'))
    assert choices.choose('k', kernels, x) == 'fast'
    seconds = choices.entries['k']['seconds']
    assert seconds['slow'] >= 0.1 > seconds['fast']
    assert kernels['slow'].calls == 1 + conv_autotune.ROUNDS
    # the same in a second reader (another process), without timing
    timer = CountingTimer()
    again = KernelChoices(str(tmp_path / 'choices.json'), timer)
    assert again.choose('k', kernels, x) == 'fast'
    assert timer.calls == 0
    # a decision for kernels no longer offered is made again
    assert again.choose('k', {'other': conv}, x) == 'other'
    assert timer.calls == conv_autotune.ROUNDS
    stored = json.loads((tmp_path / 'choices.json').read_text())
    assert stored[machine_key()]['k']['choice'] == 'other'


def test_corrupt_cache_ignored_with_warning(tmp_path):
    path = tmp_path / 'choices.json'
    path.write_text('{"truncated": ')
    conv = nn.Conv2d(4, 4, 3, padding=1)
    with pytest.warns(
            UserWarning, match='kernel choices: ignoring .*'
            'choices.json'):
        choices = KernelChoices(str(path))
    assert choices.entries == {}
    choices.choose('k', {'direct': conv}, torch.randn(1, 4, 5, 5))
    assert json.loads(
        path.read_text())[machine_key()]['k']['choice'] == 'direct'


def autotuned(model, tmp_path, timer=None, **kwargs):
    """optimize_for_inference(autotune=True) with a fresh reader of the
    cache file (as in a new process) that uses ``timer``."""
    path = str(tmp_path / 'choices.json')
    conv_autotune._SHARED[path] = KernelChoices(path, timer or CountingTimer())
    return optimize_for_inference(
        model, autotune=True, kernel_cache=path, **kwargs)


def test_autotuned_fast_path(tmp_path):
    model = segmentor().eval()
    size = (37, 45)
    timer = CountingTimer()
    fast = autotuned(segmentor(), tmp_path, timer)
    tuned = [m for m in fast.modules() if isinstance(m, AutotunedConv2d)]
    assert fast.inference_plan == {}  # filled in by the first forward
    ref, out = logits_of(model, fast, size)
    assert_close_to(out, ref)
    # the backbone's 3x3 stride-1 convs and the head's two
    assert len(tuned) == len(fast.inference_plan) == sum(
        isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3) and m.stride ==
        (1, 1) for m in model.modules())
    assert timer.calls > 0
    # each decision is the fastest measured, and the plan shows it
    stored = json.loads((tmp_path / 'choices.json').read_text())[machine_key()]
    assert len(stored) == len({
        conv.shape_key(
            torch.empty(2, conv.direct.in_channels,
                        *map(int, shape.split('x'))))
        for conv in tuned
        for shape in fast.inference_plan[conv.name]
    })
    for entry in stored.values():
        assert entry['choice'] == min(
            entry['seconds'], key=entry['seconds'].get)
        assert set(entry['seconds']) == {
            'oneDNN float32', 'Winograd F(4x4) float32',
            'Winograd F(2x2) float32'
        }
    for conv in tuned:
        (shape, kernel), = fast.inference_plan[conv.name].items()
        key = conv.shape_key(
            torch.empty(2, conv.direct.in_channels,
                        *map(int, shape.split('x'))))
        assert kernel == stored[key]['choice']
    # a second process: same plan, no timing
    timer2 = CountingTimer()
    again = autotuned(segmentor(), tmp_path, timer2)
    logits_of(model, again, size)
    assert timer2.calls == 0
    assert again.inference_plan == fast.inference_plan


def test_autotuned_bf16_candidates(tmp_path):
    fast = autotuned(segmentor(), tmp_path, bf16=True)
    if not fast.inference_bf16:
        pytest.skip('no native bfloat16 here')
    logits_of(segmentor().eval(), fast, (24, 24), batch=1)
    kernels = {
        k
        for plan in fast.inference_plan.values()
        for k in plan.values()
    }
    assert kernels <= {'oneDNN bfloat16', 'Winograd F(2x2) bfloat16'}
    stored = json.loads((tmp_path / 'choices.json').read_text())[machine_key()]
    assert all(
        set(e['seconds']) == {'oneDNN bfloat16', 'Winograd F(2x2) bfloat16'}
        for e in stored.values())


def test_rule_for_amx(monkeypatch, winograd_everywhere):
    conv = nn.Conv2d(256, 512, 3, padding=2, dilation=2)
    amx = ('amx_bf16', 'avx512_bf16', 'avx512f')
    assert pays_off(conv, bf16=False, flags=amx)
    assert not pays_off(conv, bf16=True, flags=amx)
    assert pays_off(conv, bf16=True, flags=('avx512_bf16', 'avx512f'))
    monkeypatch.setattr(inference_optimization, 'cpu_flags', lambda: amx)
    monkeypatch.setattr(inference_optimization, 'bf16_support', lambda device:
                        (True, 'test'))
    fp32 = optimize_for_inference(segmentor())
    assert any(isinstance(m, WinogradConv2d) for m in fp32.modules())
    bf16 = optimize_for_inference(segmentor(), bf16=True)
    assert not any(isinstance(m, WinogradConv2d) for m in bf16.modules())
    assert {k
            for plan in bf16.inference_plan.values()
            for k in plan.values()} == {'oneDNN bfloat16'}
    assert 'Winograd F(4x4) float32' in {
        k
        for plan in fp32.inference_plan.values()
        for k in plan.values()
    }


def test_autotune_with_compile_refused():
    with pytest.raises(ValueError, match='cannot be combined with compile'):
        optimize_for_inference(segmentor(), autotune=True, compile=True)
