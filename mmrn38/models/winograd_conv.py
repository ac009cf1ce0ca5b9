"""Winograd convolution for the inference fast path on CPU.

A 3x3 convolution computes each ``m x m`` tile of its output from an
``(m + 2) x (m + 2)`` tile of its input. Winograd's minimal filtering
algorithm F(m x m, 3 x 3) does so with ``(m + 2)^2`` multiplications per
channel pair instead of ``9 m^2``: the input tile ``d`` and the filter ``g``
are transformed (``B^T d B``, ``G g G^T``), multiplied elementwise (for all
channels at once: ``(m + 2)^2`` matrix products), and the product is
transformed back (``A^T M A``) (Lavin and Gray, "Fast Algorithms for
Convolutional Neural Networks", CVPR 2016). F(4x4, 3x3) saves 4x the
multiplications, F(2x2, 3x3) 2.25x. oneDNN, which runs PyTorch's CPU
convolutions, no longer has Winograd kernels; at ResNet-38's channel counts
(256 to 2048) the matrix products dominate and this module is 1.5 to 2.8x
faster than oneDNN's direct convolution
(docs/en/user_guides/speed_and_memory.md).

Dilated convolutions (dilation ``d``) are the same algorithm on the ``d^2``
interleaved sub-grids of the feature map (rows ``r, r + d, r + 2d, ...``):
only the strides of the tile views change.

Numerics: F(4x4) in float32 is within ~1e-5 (relative max) of a float64
convolution per layer, F(2x2) as close as the direct convolution. In
bfloat16 only F(2x2) is usable (F(4x4)'s transforms multiply by up to 8 and
divide by 24, which bfloat16's 8-bit mantissa does not survive: ~10 %
error), so the fast path uses F(4x4) for float32 and F(2x2) for bfloat16.
"""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

# B^T (input transform), G (filter transform), A^T (output transform) of
# F(m x m, 3 x 3), interpolation points 0, +-1, (+-2,) infinity.
WINOGRAD_MATRICES = {
    2:
    dict(
        BT=((1, 0, -1, 0), (0, 1, 1, 0), (0, -1, 1, 0), (0, 1, 0, -1)),
        G=((1, 0, 0), (1 / 2, 1 / 2, 1 / 2), (1 / 2, -1 / 2, 1 / 2), (0, 0,
                                                                      1)),
        AT=((1, 1, 1, 0), (0, 1, -1, -1))),
    4:
    dict(
        BT=((4, 0, -5, 0, 1, 0), (0, -4, -4, 1, 1, 0), (0, 4, -4, -1, 1, 0),
            (0, -2, -1, 2, 1, 0), (0, 2, -1, -2, 1, 0), (0, 4, 0, -5, 0, 1)),
        G=((1 / 4, 0, 0), (-1 / 6, -1 / 6, -1 / 6), (-1 / 6, 1 / 6, -1 / 6),
           (1 / 24, 1 / 12, 1 / 6), (1 / 24, -1 / 12, 1 / 6), (0, 0, 1)),
        AT=((1, 1, 1, 1, 1, 0), (0, 1, -1, 2, -2, 0), (0, 1, 1, 4, 4, 0),
            (0, 1, -1, 8, -8, 1))),
}

#: The smallest channel count (input and output) at which Winograd measured
#: faster than oneDNN on CPU (128 channels: 0.6x; 256: 1.6x).
MIN_CHANNELS = 256
#: The largest dilation it is used for: at the head's dilation 12 the tiles
#: cover mostly padding on stride-8 feature maps and oneDNN is faster.
MAX_DILATION = 4


class WinogradConv2d(nn.Module):
    """A 3x3, stride-1 ``nn.Conv2d`` (padding = dilation, one group) computed
    with Winograd's F(m x m, 3 x 3), for inference.

    Args:
        conv (nn.Conv2d): The convolution (its weights are transformed
            once; it is not kept).
        output_tile (int): ``m``: 4 (float32) or 2 (bfloat16 too).
        dtype (torch.dtype): The dtype it computes in (inputs are cast to
            it; autocast does not apply inside).

    Input ``(N, C_in, H, W)``; output ``(N, C_out, H, W)`` in
    ``channels_last`` memory format, in ``dtype`` under autocast and in the
    input's dtype otherwise.
    """

    def __init__(self,
                 conv: nn.Conv2d,
                 output_tile: int = 4,
                 dtype: torch.dtype = torch.float32):
        super().__init__()
        if not is_winograd_compatible(conv):
            raise ValueError(f'WinogradConv2d: not a 3x3 stride-1 '
                             f'convolution with padding = dilation: {conv}')
        if output_tile not in WINOGRAD_MATRICES:
            raise ValueError(f'output_tile must be one of '
                             f'{sorted(WINOGRAD_MATRICES)}, got '
                             f'{output_tile}')
        self.output_tile = output_tile
        self.dilation = conv.dilation[0]
        self.in_channels = conv.in_channels
        self.out_channels = conv.out_channels
        G = torch.tensor(
            WINOGRAD_MATRICES[output_tile]['G'], dtype=torch.float64)
        weight = conv.weight.detach().double()
        # (a, a, C_in, C_out) -> (a * a, C_in, C_out): one matrix per tile
        # position, ready for batched matrix products
        transformed = torch.einsum('ai,kcij,bj->abck', G, weight, G)
        tile = output_tile + 2
        self.register_buffer(
            'transformed_weight',
            transformed.reshape(tile * tile, self.in_channels,
                                self.out_channels).to(dtype).contiguous())
        # the two-sided transforms B^T d B and A^T M A as one matrix product
        # each over flattened tiles: kron(B^T, B^T) and kron(A^T, A^T)
        BT, AT = (
            torch.tensor(
                WINOGRAD_MATRICES[output_tile][name], dtype=torch.float64)
            for name in ('BT', 'AT'))
        self.register_buffer(
            'input_transform', torch.kron(BT, BT).to(dtype), persistent=False)
        self.register_buffer(
            'output_transform', torch.kron(AT, AT).to(dtype), persistent=False)
        self.register_buffer(
            'bias', None
            if conv.bias is None else conv.bias.detach().to(dtype).clone())

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size=3, '
                f'dilation={self.dilation}, '
                f'F({self.output_tile}x{self.output_tile}, 3x3), '
                f'dtype={self.transformed_weight.dtype}')

    def forward(self, x: Tensor) -> Tensor:
        device = x.device.type
        autocast = torch.is_autocast_enabled(device)
        with torch.autocast(device, enabled=False):
            out = self._winograd(x.to(self.transformed_weight.dtype))
        # as a conv would: bfloat16 under autocast, else the input's dtype
        return out if autocast else out.to(x.dtype)

    def _winograd(self, x: Tensor) -> Tensor:
        m, d = self.output_tile, self.dilation
        a = m + 2
        N, C, H, W = x.shape
        K = self.out_channels
        # the output is computed on whole tiles (Hq x Wq) and cropped
        tiles_h, tiles_w = -(-H // (m * d)), -(-W // (m * d))
        Hq, Wq = tiles_h * m * d, tiles_w * m * d
        padded = F.pad(
            x.permute(0, 2, 3, 1), (0, 0, d, Wq - W + d, d, Hq - H + d))
        # rows (and columns) as (index // d, index % d): sub-grid r is
        # [:, :, r]; a tile spans a consecutive rows of dim 1, every m-th
        grid = padded.view(N, Hq // d + 2, d, Wq // d + 2, d, C)
        tiles = grid.unfold(1, a, m).unfold(3, a, m)
        # (a * a, tiles * C): one row per position in the tile
        tiles = tiles.permute(6, 7, 0, 1, 2, 3, 4, 5).reshape(a * a, -1)
        transformed = torch.mm(self.input_transform, tiles)
        products = torch.bmm(
            transformed.view(a * a, -1, C), self.transformed_weight)
        out = torch.mm(self.output_transform, products.view(a * a, -1))
        # (m, m, N, tiles_h, d, tiles_w, d, K) -> (N, Hq, Wq, K)
        out = out.view(m, m, N, tiles_h, d, tiles_w, d,
                       K).permute(2, 3, 0, 4, 5, 1, 6,
                                  7).reshape(N, Hq, Wq, K)[:, :H, :W]
        out = out + self.bias if self.bias is not None else \
            out.contiguous()
        return out.permute(0, 3, 1, 2)


def is_winograd_compatible(conv: nn.Module) -> bool:
    """Whether ``conv`` is a 3x3 stride-1 convolution with padding equal
    to its dilation (same size output), one group, zero padding."""
    return (type(conv) is nn.Conv2d and conv.kernel_size == (3, 3)
            and conv.stride == (1, 1) and conv.groups == 1
            and conv.padding_mode == 'zeros'
            and conv.dilation[0] == conv.dilation[1]
            and conv.padding == conv.dilation)


def pays_off(conv: nn.Module,
             bf16: bool = False,
             flags: Sequence[str] = ()) -> bool:
    """Whether Winograd measured faster than oneDNN for ``conv`` on a CPU
    with ``flags``: 3x3 with at least :data:`MIN_CHANNELS` channels and
    dilation up to :data:`MAX_DILATION`, except in bfloat16 where the CPU
    has AMX (``amx_bf16``), whose tile kernels oneDNN's convolution uses:
    measured 1.2x (256x256) to 1.7x (512x512) faster than Winograd F(2x2)
    for ResNet-38 on a 2-core Xeon (issue 26). The rule of
    ``optimize_for_inference(..., autotune=False)``."""
    if bf16 and 'amx_bf16' in flags:
        return False
    return (is_winograd_compatible(conv)
            and min(conv.in_channels, conv.out_channels) >= MIN_CHANNELS
            and conv.dilation[0] <= MAX_DILATION)
