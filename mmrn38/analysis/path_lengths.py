"""Gradient by path length (Veit et al., NeurIPS 2016, section 5), the
analysis behind "Wider or Deeper" (its Fig. 4): a residual network is an
ensemble of paths, a path of length ``k`` running through the residual
branches of ``k`` of its ``n`` units and the shortcuts of the others.

One forward pass, then for each ``k`` and each chosen subset ``S`` of ``k``
units one backward pass in which the gradient arriving at each unit's sum
flows into the residual branch's summand alone (units in ``S``) or into the
shortcut's summand alone (identity or projection; the other units). The L2
norm of the gradient at the input, averaged over the subsets, is the
gradient magnitude of length-``k`` paths; times ``C(n, k)`` paths it is the
total gradient they carry, whose distribution over ``k`` gives the
network's effective depth.

The forward pass is the model's own; only the backward is routed, through
:class:`GradientGate` on the two summands, installed by forward hooks and
restored afterwards. Units are found by type (:data:`UNIT_KINDS`):

- ``'sum'``: units whose ``forward`` returns ``shortcut + self.residual(..)``
  (mmrn38's ResNet-38 units, plain and memory-lean): ``residual`` is
  wrapped to see the branch's summand (the unit gets a copy, which it may
  add its shortcut into in place), a hook on the unit routes the sum;
- ``'block'``: mmpretrain's and mmseg's ``BasicBlock`` / ``Bottleneck``
  (``ResNet``, ``ResNetV1c``, ``ResNetV1d``): the branch's summand is the
  output of its last norm layer, the shortcut's that of ``downsample`` (an
  identity gate stands in where there is none).
"""
import itertools
import math
from contextlib import contextmanager
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn


class GradientGate(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by
    ``gates[key]``, read when the backward runs (so one forward pass serves
    every routing)."""

    @staticmethod
    def forward(ctx, x, gates: Dict, key):
        ctx.gates, ctx.key = gates, key
        return x.clone()  # a new tensor: blocks add into it in place

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.gates[ctx.key], None, None


class _IdentityGate(nn.Module):
    """Stands in for a missing ``downsample``: the identity shortcut,
    gated."""

    def __init__(self, gates: Dict, key):
        super().__init__()
        self.gates, self.key = gates, key

    def forward(self, x):
        return GradientGate.apply(x, self.gates, self.key)


def _block_types():
    """mmpretrain's and mmseg's residual blocks (those installed)."""
    types = []
    for module in ('mmpretrain.models.backbones.resnet',
                   'mmseg.models.backbones.resnet'):
        try:
            lib = __import__(module, fromlist=['BasicBlock', 'Bottleneck'])
        except ImportError:
            continue
        types += [lib.BasicBlock, lib.Bottleneck]
    return tuple(types)


def _unit_kinds() -> Dict[type, str]:
    """The built-in unit types and :data:`UNIT_KINDS`, with their kinds."""
    from mmrn38.models.backbones.residual_units import PreActUnit
    kinds = {PreActUnit: 'sum'}
    kinds.update({t: 'block' for t in _block_types()})
    kinds.update(UNIT_KINDS)
    return kinds


UNIT_KINDS: Dict[type, str] = {}
"""Extra unit types and their kind (``'sum'`` or ``'block'``), beside the
built-in ones; add yours here."""


def residual_units(backbone: nn.Module) -> List[nn.Module]:
    """The residual units of ``backbone`` in forward order, outermost
    first.

    Raises:
        ValueError: ``backbone`` holds no unit of a known type.
    """
    kinds = _unit_kinds()
    units = [m for m in backbone.modules() if _kind(m, kinds) is not None]
    if not units:
        raise ValueError(
            f'{type(backbone).__name__} has no residual unit this analysis '
            f'knows (ResNet38 units, mmpretrain/mmseg BasicBlock and '
            f'Bottleneck, or a type added to UNIT_KINDS)')
    return units


def _kind(module, kinds) -> Optional[str]:
    for cls, kind in kinds.items():
        if isinstance(module, cls):
            return kind
    return None


@contextmanager
def routed(units: Sequence[nn.Module], gates: Dict) -> Iterator[None]:
    """Install the gates on ``units`` for the forward passes inside the
    block: ``gates[(i, 'branch')]`` and ``gates[(i, 'shortcut')]`` scale the
    gradient into unit ``i``'s two summands."""
    kinds = _unit_kinds()
    handles, restore = [], []
    for i, unit in enumerate(units):
        branch, shortcut = (i, 'branch'), (i, 'shortcut')
        if _kind(unit, kinds) == 'sum':
            seen = {}
            residual = unit.residual

            def see_residual(x, residual=residual, seen=seen):
                seen['r'] = residual(x)
                # a copy: the unit may add its shortcut into it in place
                return seen['r'].clone()

            def route_sum(module,
                          args,
                          y,
                          seen=seen,
                          branch=branch,
                          shortcut=shortcut):
                # y = shortcut + r: z computes y again from its summands,
                # gated; y + z - z.detach() has y's value and z's gradient
                r = seen.pop('r')
                z = GradientGate.apply(r, gates, branch) + \
                    GradientGate.apply(y - r, gates, shortcut)
                return y.detach() + z - z.detach()

            unit.residual = see_residual
            restore.append(lambda unit=unit: delattr(unit, 'residual'))
            handles.append(unit.register_forward_hook(route_sum))
        else:
            last_norm = unit.norm3 if hasattr(unit, 'norm3') else unit.norm2
            handles.append(
                last_norm.register_forward_hook(
                    lambda m, a, out, key=branch: GradientGate.apply(
                        out, gates, key)))
            if unit.downsample is None:
                unit.downsample = _IdentityGate(gates, shortcut)
                restore.append(
                    lambda unit=unit: setattr(unit, 'downsample', None))
            else:
                handles.append(
                    unit.downsample.register_forward_hook(
                        lambda m, a, out, key=shortcut: GradientGate.apply(
                            out, gates, key)))
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        for undo in restore:
            undo()


def _subsets(n: int, k: int, samples: int,
             rng: np.random.Generator) -> List[tuple]:
    """Every k-subset of range(n) where there are at most ``samples``,
    else ``samples`` random ones."""
    if math.comb(n, k) <= samples:
        return list(itertools.combinations(range(n), k))
    return [
        tuple(sorted(rng.choice(n, k, replace=False))) for _ in range(samples)
    ]


def effective_depth(total: Sequence[float], share: float = 0.9) -> dict:
    """The mode of ``total`` (indexed by path length) and the shortest
    range of lengths holding ``share`` of its sum (the one nearest the mode
    among equals)."""
    total = np.asarray(total, dtype=np.float64)
    mode = int(np.argmax(total))
    need = share * total.sum()
    best = (0, len(total) - 1)
    for lo in range(len(total)):
        acc = 0.0
        for hi in range(lo, len(total)):
            acc += total[hi]
            if acc >= need:
                width, best_width = hi - lo, best[1] - best[0]
                # of two equally narrow ranges, the one centred nearer the mode
                nearer = abs((lo + hi) / 2 - mode) < abs(sum(best) / 2 - mode)
                if width < best_width or (width == best_width and nearer):
                    best = (lo, hi)
                break
    return dict(mode=mode, range=list(best), share=share)


def gradient_by_path_length(backbone: nn.Module,
                            inputs: torch.Tensor,
                            out_grad: Optional[torch.Tensor] = None,
                            samples: int = 100,
                            seed: int = 0,
                            progress: bool = False) -> dict:
    """Gradient magnitude at the input by path length.

    Args:
        backbone (nn.Module): A built backbone (its mode as given, eval for
            the paper's figure) made of residual units
            (:func:`residual_units`).
        inputs (Tensor): ``(N, C, H, W)`` input batch.
        out_grad (Tensor, optional): The gradient placed on the backbone's
            last output (the loss ``sum(out * out_grad)``); default standard
            normal drawn from ``seed``.
        samples (int): Subsets per length; where ``C(n, k) <= samples``
            every subset once (the mean is then exact).
        seed (int): Seed of ``out_grad`` and of the sampled subsets.
        progress (bool): Show a progress bar over the backward passes.

    Returns:
        dict: ``units`` (n); lists indexed by ``k = 0 .. n``: ``subsets``
        (how many were used), ``mean`` and ``std`` of the input gradient's
        L2 norm (over the whole batch tensor), ``paths`` (``C(n, k)``) and
        ``total`` (``mean * paths``); ``effective_depth``
        (:func:`effective_depth` of ``total``).
    """
    units = residual_units(backbone)
    n = len(units)
    gates = {}
    x = inputs.detach().clone().requires_grad_()
    with routed(units, gates):
        outs = backbone(x)
    out = outs[-1] if isinstance(outs, (tuple, list)) else outs
    if out_grad is None:
        generator = torch.Generator().manual_seed(seed)
        out_grad = torch.randn(out.shape, generator=generator)
    out_grad = out_grad.to(out)
    rng = np.random.default_rng(seed)
    plan = [_subsets(n, k, samples, rng) for k in range(n + 1)]
    bar = None
    if progress:
        from mmengine.utils import ProgressBar
        bar = ProgressBar(sum(map(len, plan)))
    norms = []
    for k, subsets in enumerate(plan):
        norms.append([])
        for subset in subsets:
            chosen = set(subset)
            for i in range(n):
                gates[(i, 'branch')] = float(i in chosen)
                gates[(i, 'shortcut')] = float(i not in chosen)
            grad, = torch.autograd.grad(out, x, out_grad, retain_graph=True)
            norms[-1].append(grad.double().norm().item())
            if bar is not None:
                bar.update()
    mean = [float(np.mean(v)) for v in norms]
    paths = [math.comb(n, k) for k in range(n + 1)]
    total = [m * p for m, p in zip(mean, paths)]
    return dict(
        units=n,
        subsets=[len(v) for v in norms],
        mean=mean,
        std=[float(np.std(v)) for v in norms],
        paths=paths,
        total=total,
        effective_depth=effective_depth(total))
