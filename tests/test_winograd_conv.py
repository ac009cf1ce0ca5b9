"""WinogradConv2d (the fast path's convolution on CPU): the same outputs as
the convolution it replaces, to float32 rounding for F(4x4) and F(2x2) and
to bfloat16 rounding for F(2x2) in bfloat16, on odd sizes, every dilation
ResNet-38 uses, with and without bias; which convolutions it accepts and
where it is used. Exactness only: the speed is in docs/en/user_guides/
speed_and_memory.md."""
import pytest
import torch
import torch.nn as nn

from mmrn38.models import winograd_conv
from mmrn38.models.winograd_conv import (WinogradConv2d,
                                         is_winograd_compatible, pays_off)


def relative_error(out, ref):
    """max |out - ref| / max |ref|, in float64."""
    return ((out.double() - ref).abs().max() / ref.abs().max()).item()


@pytest.mark.parametrize('dilation,size,bias', [(1, (13, 10), True),
                                                (2, (11, 17), False),
                                                (4, (21, 9), True),
                                                (4, (3, 5), False)])
@pytest.mark.parametrize('output_tile,dtype,tolerance',
                         [(4, torch.float32, 5e-5), (2, torch.float32, 5e-6),
                          (2, torch.bfloat16, 3e-2)])
def test_equals_convolution(dilation, size, bias, output_tile, dtype,
                            tolerance):
    torch.manual_seed(0)
    conv = nn.Conv2d(24, 20, 3, padding=dilation, dilation=dilation, bias=bias)
    images = torch.randn(2, 24, *size)
    bf16 = dtype == torch.bfloat16
    with torch.no_grad():
        ref = conv.double()(images.double())
        fast = WinogradConv2d(conv.float(), output_tile, dtype)
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            out = fast(images)
        # outside autocast, the input's dtype (as a conv would)
        assert fast(images).dtype == torch.float32
    assert out.shape == ref.shape and out.dtype == dtype
    assert out.is_contiguous(memory_format=torch.channels_last)
    assert relative_error(out, ref) <= tolerance
    # the direct convolution's own float32 error, for scale: Winograd's is
    # of the same order
    with torch.no_grad():
        direct = relative_error(conv.float()(images), ref)
    assert direct <= 5e-6


def test_float32_tiles_ignore_autocast():
    """F(4x4) in bfloat16 would be ~10 % off: under a caller's autocast the
    float32 module still computes in float32."""
    torch.manual_seed(0)
    conv = nn.Conv2d(16, 16, 3, padding=2, dilation=2)
    images = torch.randn(1, 16, 12, 12)
    fast = WinogradConv2d(conv, 4, torch.float32)
    with torch.no_grad(), torch.autocast('cpu', dtype=torch.bfloat16):
        out = fast(images.bfloat16())
    with torch.no_grad():
        ref = conv.double()(images.bfloat16().double())
    assert out.dtype == torch.float32
    assert relative_error(out, ref) <= 5e-5


def test_which_convolutions():
    assert is_winograd_compatible(nn.Conv2d(8, 8, 3, padding=4, dilation=4))
    for conv in (nn.Conv2d(8, 8, 3, stride=2, padding=1), nn.Conv2d(8, 8, 1),
                 nn.Conv2d(8, 8, 3,
                           padding=0), nn.Conv2d(8, 8, 3, padding=1, groups=2),
                 nn.Conv2d(8, 8, 3, padding=1, padding_mode='reflect')):
        assert not is_winograd_compatible(conv)
        with pytest.raises(ValueError, match='not a 3x3 stride-1'):
            WinogradConv2d(conv)
    with pytest.raises(ValueError, match='output_tile must be one of'):
        WinogradConv2d(nn.Conv2d(8, 8, 3, padding=1), output_tile=3)
    # measured thresholds: 256 channels on both sides, dilation up to 4
    assert pays_off(nn.Conv2d(256, 512, 3, padding=4, dilation=4))
    assert not pays_off(nn.Conv2d(128, 512, 3, padding=1))
    assert not pays_off(nn.Conv2d(4096, 512, 3, padding=12, dilation=12))
    assert winograd_conv.MIN_CHANNELS == 256
