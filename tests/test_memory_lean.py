"""ResNet38(memory_lean=True): the same numbers as the plain mode, fewer
stored activations; with_cp leaves BN statistics alone."""
import pytest
import torch
import torch.nn as nn

import mmrn38  # noqa: F401
from mmrn38.models import ResNet38

TINY = 1 / 16
ALL_LEVELS = (0, 1, 2, 3, 4, 5)


def train_step(model, x, seed=0):
    """Forward (dropout seeded) and backward of a random projection of all
    outputs; returns outputs, input gradient, parameter gradients and the
    state dict (BN running statistics) afterwards."""
    inp = x.clone().requires_grad_()
    torch.manual_seed(seed)
    outs = model(inp)
    weights = torch.Generator().manual_seed(1)
    sum((o * torch.randn(o.shape, generator=weights).to(o.device)).sum()
        for o in outs).backward()
    grads = {
        n: p.grad
        for n, p in model.named_parameters() if p.grad is not None
    }
    state = {k: v.clone() for k, v in model.state_dict().items()}
    return outs, inp.grad, grads, state


def assert_same(a, b, msg=None):
    """``b`` equals ``a``: bit for bit on CPU; on CUDA within 1e-5 of
    ``a``'s largest magnitude. There autograd's BN is cuDNN's kernel while
    the memory-lean backward calls ATen's own (the same formula, summed in
    another order): measured on an H100, input gradients 1.3e-6 of their
    largest value apart, outputs equal."""
    if a.device.type == 'cpu' or not a.is_floating_point():
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=msg)
    else:
        assert a.shape == b.shape and a.dtype == b.dtype, msg
        tol = 1e-5 * a.abs().max().item()
        assert (a - b).abs().max().item() <= tol, msg


def assert_same_step(plain, other, x):
    """``other`` gives exactly the outputs, input and parameter gradients
    and BN statistics of ``plain`` (same weights, same dropout masks); on
    CUDA to float32 rounding (:func:`assert_same`)."""
    other.load_state_dict(plain.state_dict())
    outs_a, gx_a, grads_a, state_a = train_step(plain, x)
    outs_b, gx_b, grads_b, state_b = train_step(other, x)
    for a, b in zip(outs_a, outs_b):
        assert_same(a, b)
    assert_same(gx_a, gx_b)
    assert grads_a.keys() == grads_b.keys()
    for name in grads_a:
        assert_same(grads_a[name], grads_b[name], msg=name)
    assert state_a.keys() == state_b.keys()
    for name in state_a:
        assert_same(state_a[name], state_b[name], msg=name)


@pytest.mark.parametrize('norm_eval', [False, True])
@pytest.mark.parametrize('out_stride', [8, 16, 32])
def test_lean_equals_plain(out_stride, norm_eval, device):
    kwargs = dict(
        width=TINY,
        out_stride=out_stride,
        out_indices=ALL_LEVELS,
        norm_eval=norm_eval,
        dropouts=(0.3, 0.5))
    torch.manual_seed(0)
    plain = ResNet38(**kwargs).train().to(device)
    lean = ResNet38(memory_lean=True, **kwargs).train().to(device)
    assert_same_step(plain, lean, torch.randn(2, 3, 45, 37, device=device))


def test_lean_equals_plain_model_a_and_frozen_stages(device):
    kwargs = dict(arch='A', width=TINY, frozen_stages=2, dropouts=(0, 0))
    torch.manual_seed(0)
    plain = ResNet38(**kwargs).train().to(device)
    lean = ResNet38(memory_lean=True, **kwargs).train().to(device)
    assert_same_step(plain, lean, torch.randn(2, 3, 40, 40, device=device))


@pytest.mark.parametrize('memory_lean', [False, True])
def test_with_cp_equals_plain_including_bn_statistics(memory_lean, device):
    """with_cp recomputes each unit in backward; the recomputation must not
    update BN running statistics a second time."""
    kwargs = dict(width=TINY, out_indices=(3, 5), dropouts=(0.3, 0.5))
    torch.manual_seed(0)
    plain = ResNet38(**kwargs).train().to(device)
    ckpt = ResNet38(
        with_cp=True, memory_lean=memory_lean, **kwargs).train().to(device)
    assert_same_step(plain, ckpt, torch.randn(2, 3, 33, 35, device=device))


def test_lean_equals_plain_under_bf16_autocast(device):
    """The convs' backward runs in the dtype autocast gave them."""
    kwargs = dict(width=TINY, dropouts=(0, 0))
    torch.manual_seed(0)
    plain = ResNet38(**kwargs).train().to(device)
    lean = ResNet38(memory_lean=True, **kwargs).train().to(device)
    lean.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32, device=device)
    results = []
    for model in (plain, lean):
        with torch.autocast(device.type, dtype=torch.bfloat16):
            out, = model(x)
        assert out.dtype == torch.bfloat16
        out.float().square().mean().backward()
        results.append((out, {n: p.grad for n, p in model.named_parameters()}))
    (out_a, grads_a), (out_b, grads_b) = results
    torch.testing.assert_close(out_a, out_b, rtol=0, atol=0)
    for name in grads_a:
        assert grads_b[name].dtype == torch.float32
        torch.testing.assert_close(
            grads_a[name], grads_b[name], rtol=0, atol=0, msg=name)


def test_lean_inference_is_the_plain_path(device):
    torch.manual_seed(0)
    plain = ResNet38(width=TINY).eval().to(device)
    lean = ResNet38(width=TINY, memory_lean=True).eval().to(device)
    lean.load_state_dict(plain.state_dict())
    x = torch.randn(1, 3, 40, 40, device=device)
    with torch.no_grad():
        torch.testing.assert_close(plain(x)[0], lean(x)[0], rtol=0, atol=0)


def saved_activation_bytes(model, x):
    """Bytes of the distinct tensors autograd stores for backward in one
    forward pass, parameters excluded."""
    params = {p.data_ptr() for p in model.parameters()}
    saved = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model(x)
    return sum(saved.values())


@pytest.mark.parametrize('norm_eval', [False, True])
def test_lean_stores_less_than_60_percent_of_the_activations(norm_eval):
    torch.manual_seed(0)
    kwargs = dict(width=TINY, norm_eval=norm_eval)
    x = torch.randn(1, 3, 64, 64, requires_grad=True)
    plain = saved_activation_bytes(ResNet38(**kwargs).train(), x)
    lean = saved_activation_bytes(
        ResNet38(memory_lean=True, **kwargs).train(), x)
    assert lean < 0.6 * plain, (lean, plain)


@pytest.mark.parametrize('kwargs, message', [
    (dict(norm_cfg=dict(type='GN', num_groups=2)), 'affine BN'),
    (dict(norm_cfg=dict(type='BN', affine=False)), 'affine BN'),
    (dict(conv_cfg=dict(type='ConvWS')), 'nn.Conv2d'),
])
def test_lean_rejects_what_it_cannot_recompute(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResNet38(width=TINY, memory_lean=True, **kwargs)


def test_lean_syncbn_needs_norm_eval():
    model = ResNet38(
        width=TINY,
        memory_lean=True,
        norm_cfg=dict(type='SyncBN', requires_grad=True))
    x = torch.randn(2, 3, 32, 32, requires_grad=True)
    with pytest.raises(NotImplementedError, match='norm_eval=True'):
        model.train()(x)
    model.norm_eval = True
    out, = model.train()(x)
    out.mean().backward()
    assert all(not m.training for m in model.modules()
               if isinstance(m, nn.SyncBatchNorm))
    assert model.level2[0].conv1.weight.grad is not None
