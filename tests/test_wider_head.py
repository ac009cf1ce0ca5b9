"""WiderHead: the paper's "1 conv" / "2 conv" classifiers in mmseg."""
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from rn38_testing import build_wider_head

import mmrn38  # noqa: F401


@pytest.mark.parametrize('num_convs, channels', [(1, 16), (2, 8)])
def test_shapes_and_structure(num_convs, channels):
    head = build_wider_head(num_convs=num_convs, channels=channels).eval()
    out = head((torch.randn(2, 16, 11, 13), ))
    assert out.shape == (2, 5, 11, 13)
    assert head.conv_seg.kernel_size == (3, 3)
    assert head.conv_seg.dilation == (12, 12)
    assert head.conv_seg.bias is not None
    if num_convs == 2:
        conv = head.conv.conv
        assert (conv.in_channels, conv.out_channels) == (16, 8)
        assert conv.dilation == (12, 12) and conv.bias is not None
        assert isinstance(head.conv.activate, torch.nn.ReLU)
        assert not any(  # no BN in conv6a
            isinstance(m, torch.nn.modules.batchnorm._BatchNorm)
            for m in head.modules())
    else:
        assert head.conv is None


def test_kernel_and_dilation_configurable():
    head = build_wider_head(kernel_size=1, dilation=6)
    assert head.conv_seg.kernel_size == (1, 1)
    assert head.conv.conv.dilation == (6, 6)


def test_mmseg_sampler_drops_easy_pixels():
    """With mmseg's OHEMPixelSampler the confidently right pixels get no
    gradient (without the sampler they would); the others do."""
    head = build_wider_head(
        sampler=dict(type='OHEMPixelSampler', thresh=0.6, min_kept=10))
    labels = torch.randint(0, 5, (2, 1, 16, 16))
    easy = torch.zeros(2, 16, 16, dtype=torch.bool)
    easy[:, :8] = True  # top half: the true class scores far above the rest
    logits = torch.randn(2, 5, 16, 16)
    onehot = torch.nn.functional.one_hot(labels[:, 0], 5).permute(0, 3, 1, 2)
    logits = (logits + 20 * onehot * easy[:, None]).requires_grad_()
    samples = []
    for label in labels:
        sample = SegDataSample(
            metainfo=dict(img_shape=(16, 16), pad_shape=(16, 16)))
        sample.gt_sem_seg = PixelData(data=label)
        samples.append(sample)
    losses = head.loss_by_feat(logits, samples)
    losses['loss_ce'].backward()
    grad = logits.grad.abs().sum(1)
    assert torch.count_nonzero(grad[easy]) == 0
    assert torch.count_nonzero(grad[~easy]) > 0.9 * (~easy).sum()


@pytest.mark.parametrize('kwargs, message', [
    (dict(num_convs=3), 'num_convs must be 1 or 2'),
    (dict(kernel_size=2), 'kernel_size must be odd'),
    (dict(dilation=0), 'dilation must be >= 1'),
    (dict(num_convs=1, channels=8), 'must equal in_channels'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        build_wider_head(**kwargs)
