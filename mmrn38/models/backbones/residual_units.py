"""Pre-activation residual units of ResNet-38 (ademxapp's "rna" units).

Every unit is ``BN -> ReLU -> conv`` repeated; the projection shortcut of a
unit that changes shape reads the BN-ReLU output of the unit (not its raw
input), exactly as the original MXNet network does.

Module names map one to one onto the original parameter names of unit ``u``
(``u`` = ``2a``, ``4b3``, ``6a`` ...):

=============  ======================  ======================
mmrn38         original (MXNet)        PSA port (PyTorch)
=============  ======================  ======================
``norm1``      ``bn{u}_branch2a``      ``bn_branch2a``
``conv1``      ``res{u}_branch2a``     ``conv_branch2a``
``norm2``      ``bn{u}_branch2b1``     ``bn_branch2b1``
``conv2``      ``res{u}_branch2b1``    ``conv_branch2b1``
``norm3``      ``bn{u}_branch2b2``     ``bn_branch2b2``
``conv3``      ``res{u}_branch2b2``    ``conv_branch2b2``
``shortcut``   ``res{u}_branch1``      ``conv_branch1``
=============  ======================  ======================

Memory-lean mode (``memory_lean=True``): every ``BN -> ReLU -> conv`` stage
runs through :class:`BNReLUConvs`, which keeps only the BN input for
backward and recomputes the BN-ReLU output there, instead of storing it.
"""
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import build_conv_layer, build_norm_layer
from torch import Tensor
from torch.nn.modules.batchnorm import _BatchNorm


class BNReLUConvs(torch.autograd.Function):
    """Convs reading one pre-activation, storing only its input for backward.

    Forward computes ``conv(dropout(relu(norm(x))))`` for each ``conv`` of
    ``convs`` with the very modules and calls of the plain mode, so outputs
    and BN running statistics (updated once, here) are the same. Autograd
    would store the BN-ReLU(-dropout) output ``a``, read by the backward of
    the ReLU and of the convs, on top of ``x``, read by BN's; this function
    stores ``x`` only (which the network keeps alive anyway: it is a unit's
    input or the previous conv's output), plus the dropout keep-mask as
    booleans. A pre-activation unit then stores about half the activations
    for one elementwise BN-ReLU per stage in backward: the idea of In-Place
    ABN, and of MXNet's "mirror" option that the original code trained with.

    Backward recomputes ``a`` from ``x`` with the batch statistics
    (recomputed from ``x``, bit for bit those of forward) or the frozen
    running ones, without updating the running ones, and runs the kernels
    autograd would: ``aten.convolution_backward`` for the convs (in the
    dtype of their outputs, which autocast chose), the ReLU's and dropout's
    masks in place, ``aten.native_batch_norm_backward`` for BN. The
    dropout keep-mask is read off the dropout output: where that is zero
    only because ``a`` was, the mask does not matter, as the ReLU passes no
    gradient there.

    Inputs of :meth:`apply`: ``x`` (N, C, H, W), ``norm`` (a ``_BatchNorm``;
    in train mode a plain ``BatchNorm2d``: recomputing the statistics of a
    synchronised BN would need its all-reduce again), ``p`` (dropout
    probability, 0 for none), ``convs`` (bias-free ``nn.Conv2d`` modules with
    zero padding), then ``norm.weight``, ``norm.bias`` and the convs'
    weights (so that autograd routes their gradients). Returns the tuple of
    conv outputs, (N, conv.out_channels, H', W') each.
    """

    @staticmethod
    def forward(ctx, x: Tensor, norm: _BatchNorm, p: float,
                convs: Sequence[nn.Conv2d], norm_weight: Tensor,
                norm_bias: Tensor, *conv_weights: Tensor) -> Tuple[Tensor]:
        if norm.training and not isinstance(norm, nn.BatchNorm2d):
            raise NotImplementedError(
                f'memory_lean recomputes BN from the local batch: '
                f'{type(norm).__name__} in train mode is not supported; '
                f'use norm_eval=True or BN')
        act = torch.relu(norm(x))
        keep = None
        if p > 0:
            act = F.dropout(act, p, training=True)
            keep = act != 0
        outs = tuple(conv(act) for conv in convs)
        batch_stats = norm.training or norm.running_mean is None
        running = (None, None) if batch_stats else (norm.running_mean,
                                                    norm.running_var)
        ctx.save_for_backward(x, keep, *running, norm_weight, norm_bias,
                              *conv_weights)
        ctx.batch_stats, ctx.eps, ctx.p, ctx.convs = (batch_stats, norm.eps, p,
                                                      convs)
        return outs

    @staticmethod
    def backward(ctx, *grad_outs: Tensor):
        (x, keep, running_mean, running_var, norm_weight, norm_bias,
         *conv_weights) = ctx.saved_tensors
        needs = ctx.needs_input_grad
        norm_mask = [needs[0], needs[4], needs[5]]  # x, weight, bias
        # the convs' input again, and the statistics BN normalised with
        act, mean, invstd = torch.native_batch_norm(x, norm_weight, norm_bias,
                                                    running_mean, running_var,
                                                    ctx.batch_stats, 0.,
                                                    ctx.eps)
        act.relu_()
        if keep is not None:
            noise = keep.to(act.dtype).div_(1 - ctx.p)
            act.mul_(noise)
        grad_act, conv_grads = None, []
        for conv, weight, grad, need_weight in zip(ctx.convs, conv_weights,
                                                   grad_outs, needs[6:]):
            dtype = grad.dtype  # the conv's compute dtype (autocast)
            grad_in, grad_weight, _ = torch.ops.aten.convolution_backward(
                grad, act.to(dtype), weight.to(dtype), None, conv.stride,
                conv.padding, conv.dilation, False, (0, 0), conv.groups,
                (any(norm_mask), need_weight, False))
            conv_grads.append(
                grad_weight.to(weight.dtype) if need_weight else None)
            if grad_in is not None:
                grad_in = grad_in.to(act.dtype)
                grad_act = grad_in if grad_act is None else \
                    grad_act.add_(grad_in)
        grad_x = grad_norm_weight = grad_norm_bias = None
        if any(norm_mask):
            # back through dropout and ReLU (zero where the output is)
            if keep is not None:
                grad_act.mul_(noise)
            grad_act.masked_fill_(act <= 0, 0)
            del act
            grad_x, grad_norm_weight, grad_norm_bias = \
                torch.ops.aten.native_batch_norm_backward(
                    grad_act, x, norm_weight, running_mean, running_var,
                    mean, invstd, ctx.batch_stats, ctx.eps, norm_mask)
        return (grad_x, None, None, None, grad_norm_weight, grad_norm_bias,
                *conv_grads)


class PreActUnit(nn.Module):
    """Base of the two unit kinds: the shared input stage and shortcut.

    Args:
        in_channels (int): Channels of the unit's input.
        out_channels (int): Channels of the unit's output.
        stride (int): Stride of the unit (applied by the strided conv of the
            residual branch and by the projection shortcut).
        pool (dict, optional): Model A: a 3x3 max-pool before the unit,
            ``dict(stride=s, dilation=d, padding=p)`` (floor rounding),
            instead of a strided conv; ``stride`` must be 1 then. ademxapp's
            pools are 3x3/2 with padding 1 (0 in its "caffe" style); at a
            level that trades its stride for dilation the pool keeps stride
            1 and takes the dilation of the level before, padded by it.
        norm_cfg (dict): Config of the norm layers.
        conv_cfg (dict, optional): Config of the conv layers.
        memory_lean (bool): While gradients are recorded, run every
            ``BN -> ReLU -> conv`` stage through :class:`BNReLUConvs`
            (recompute the BN-ReLU output in backward instead of storing
            it). Same outputs, gradients and BN statistics as the plain
            mode. Needs BN layers and plain bias-free convs.
    """

    def __init__(self,
                 in_channels: int,
                 out_channels: int,
                 stride: int = 1,
                 pool: Optional[dict] = None,
                 norm_cfg: dict = dict(type='BN'),
                 conv_cfg: Optional[dict] = None,
                 memory_lean: bool = False):
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.stride = stride
        self.conv_cfg = conv_cfg
        self.norm_cfg = norm_cfg
        self.memory_lean = memory_lean
        if pool is not None and stride != 1:
            raise ValueError('a unit down-samples either by its pool or by '
                             'its stride, not both')
        # explicit -inf padding: max_pool2d refuses a padding above half
        # the kernel, which a dilated pool needs
        self.pool = None if pool is None else nn.Sequential(
            nn.ConstantPad2d(pool['padding'], float('-inf')),
            nn.MaxPool2d(
                kernel_size=3,
                stride=pool['stride'],
                dilation=pool['dilation']))
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        if in_channels != out_channels or stride != 1:
            self.shortcut = build_conv_layer(
                conv_cfg,
                in_channels,
                out_channels,
                1,
                stride=stride,
                bias=False)
        else:
            self.shortcut = None

    def _conv(self,
              in_channels,
              out_channels,
              kernel_size,
              stride=1,
              dilation=1):
        """A bias-free conv keeping the spatial size (up to ``stride``)."""
        return build_conv_layer(
            self.conv_cfg,
            in_channels,
            out_channels,
            kernel_size,
            stride=stride,
            padding=dilation * (kernel_size // 2),
            dilation=dilation,
            bias=False)

    def _norm(self, channels):
        return build_norm_layer(self.norm_cfg, channels)[1]

    def _check_memory_lean(self):
        """Raise unless every stage can run through :class:`BNReLUConvs`."""
        for name, module in self.named_children():
            if name.startswith('norm') and not (isinstance(module, _BatchNorm)
                                                and module.affine):
                raise ValueError(f'memory_lean needs affine BN layers, got '
                                 f'{module!r}')
            if (name.startswith('conv') or name == 'shortcut') and (
                    type(module) is not nn.Conv2d or module.bias is not None
                    or module.padding_mode != 'zeros'):
                raise ValueError(f'memory_lean needs bias-free nn.Conv2d '
                                 f'layers with zero padding, got {module!r}')

    def _stage(self,
               x: Tensor,
               norm: nn.Module,
               convs: Sequence[nn.Module],
               dropout: Optional[nn.Module] = None) -> Tuple[Tensor]:
        """``conv(dropout(relu(norm(x))))`` for each conv of ``convs``.

        (N, C, H, W) -> tuple of (N, conv.out_channels, H', W'). With
        ``memory_lean`` while gradients are recorded, through
        :class:`BNReLUConvs`.
        """
        if self.memory_lean and torch.is_grad_enabled():
            p = dropout.p if isinstance(dropout, nn.Dropout) and \
                dropout.training else 0.
            return BNReLUConvs.apply(x, norm, p, convs, norm.weight, norm.bias,
                                     *(c.weight for c in convs))
        act = norm(x)
        # in place on the BN's own output (its backward reads its input),
        # not on x where the norm was folded away (nn.Identity)
        act = torch.relu(act) if act is x else act.relu_()
        if dropout is not None:
            act = dropout(act)
        return tuple(conv(act) for conv in convs)

    def residual(self, x: Tensor) -> Tensor:
        """The residual branch from the output of ``conv1`` on."""
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        """(N, in_channels, H, W) -> (N, out_channels, H', W')."""
        if self.pool is not None:
            x = self.pool(x)
        # norm1 + ReLU feeds conv1 and, where there is one, the shortcut
        convs = (self.conv1, ) if self.shortcut is None else (self.conv1,
                                                              self.shortcut)
        x_branch, *projected = self._stage(x, self.norm1, convs)
        identity = projected[0] if projected else x
        branch = self.residual(x_branch)
        if branch.dtype != identity.dtype:  # e.g. float32 x under autocast
            return identity + branch
        # in place on the branch's last conv output (a conv's backward
        # does not read its output): one tensor fewer per unit
        return branch.add_(identity)


class PreActBasicUnit(PreActUnit):
    """Two 3x3 convs (units of levels 2 to 5).

    ``BN-ReLU -> conv1 3x3 (stride, first_dilation) -> BN-ReLU ->
    conv2 3x3 (dilation)``, plus the shortcut.

    Args:
        mid_channels (int): Output channels of ``conv1``.
        first_dilation (int): Dilation of ``conv1``. When a level trades its
            stride for dilation, its first unit's first conv keeps the
            dilation of the level before.
        dilation (int): Dilation of ``conv2``.
        (the others as in :class:`PreActUnit`)
    """

    def __init__(self,
                 in_channels,
                 mid_channels,
                 out_channels,
                 stride=1,
                 first_dilation=1,
                 dilation=1,
                 **kwargs):
        super().__init__(in_channels, out_channels, stride, **kwargs)
        self.conv1 = self._conv(in_channels, mid_channels, 3, stride,
                                first_dilation)
        self.norm2 = self._norm(mid_channels)
        self.conv2 = self._conv(mid_channels, out_channels, 3, 1, dilation)
        if self.memory_lean:
            self._check_memory_lean()

    def residual(self, x: Tensor) -> Tensor:
        return self._stage(x, self.norm2, (self.conv2, ))[0]


class PreActBottleneckUnit(PreActUnit):
    """1x1 -> 3x3 -> 1x1 bottleneck (units 6a and 7a).

    ``BN-ReLU -> conv1 1x1 (stride) -> BN-ReLU -> conv2 3x3 (dilation) ->
    BN-ReLU -> dropout -> conv3 1x1``, plus the shortcut. As everywhere in
    ademxapp, the stride sits on the unit's first conv (``branch2a``), here
    the 1x1 one.

    Args:
        mid_channels (tuple[int, int]): Output channels of ``conv1`` and
            ``conv2``.
        first_dilation (int): Unused by the 1x1 ``conv1``; accepted so that
            both unit kinds share one signature.
        dilation (int): Dilation of the 3x3 ``conv2``.
        dropout (float): Dropout probability before ``conv3`` (the paper uses
            0.3 in 6a and 0.5 in 7a).
        dropout_layout (str): ``'original'``: element-wise dropout before
            ``conv3``; ``'psa'``: channel dropout (``Dropout2d``, the same
            probability) before ``conv2`` and ``conv3``, as PSA's
            ``ResBlock_bot``. ``'psa'`` cannot be ``memory_lean``.
        (the others as in :class:`PreActUnit`)
    """

    def __init__(self,
                 in_channels,
                 mid_channels,
                 out_channels,
                 stride=1,
                 first_dilation=1,
                 dilation=1,
                 dropout=0.,
                 dropout_layout='original',
                 **kwargs):
        super().__init__(in_channels, out_channels, stride, **kwargs)
        if dropout_layout == 'psa' and self.memory_lean:
            raise ValueError('memory_lean recomputes element-wise dropout '
                             'only; dropout_layout="psa" (Dropout2d) is not '
                             'supported with it')
        bottleneck_channels, wide_channels = mid_channels
        self.conv1 = self._conv(in_channels, bottleneck_channels, 1, stride)
        self.norm2 = self._norm(bottleneck_channels)
        self.conv2 = self._conv(bottleneck_channels, wide_channels, 3, 1,
                                dilation)
        self.norm3 = self._norm(wide_channels)
        drop = nn.Dropout2d if dropout_layout == 'psa' else nn.Dropout
        # PSA's layout also drops channels before the 3x3 conv
        self.dropout2 = drop(dropout) if dropout_layout == 'psa' and \
            dropout > 0 else None
        self.dropout = drop(dropout) if dropout > 0 else nn.Identity()
        self.conv3 = self._conv(wide_channels, out_channels, 1)
        if self.memory_lean:
            self._check_memory_lean()

    def residual(self, x: Tensor) -> Tensor:
        x = self._stage(x, self.norm2, (self.conv2, ), self.dropout2)[0]
        return self._stage(x, self.norm3, (self.conv3, ), self.dropout)[0]
