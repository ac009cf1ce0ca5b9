"""PSA's AffinityNet (configs/wsss/rn38_voc_aff.py, AffinityNet,
AffinityHead) against a plain transcription of PSA's resnet38_aff,
train_aff.py and ExtractAffinityLabelInRadius."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

import mmrn38  # noqa: F401
import mmrn38.wsss  # noqa: F401
from mmrn38.benchmark.plain_port import PlainResNet38
from mmrn38.converters.key_mapping import backbone_source_name
from mmrn38.models.backbones import scaled_channels
from mmrn38.registry import MMSEG_MODELS
from rn38_testing import REPO, load_tool

AFF_CONFIG = osp.join(REPO, 'configs', 'wsss', 'rn38_voc_aff.py')
WIDTH = 1 / 16


# --------------------------------------------------------------------------
# PSA, transcribed in plain PyTorch / numpy from jiwoon-ahn/psa:
# network/resnet38_aff.py (on resnet38d = the plain port with PSA's names,
# dropout layout and BN eps), tool/pyutils.py get_indices_of_pairs,
# train_aff.py (loss), voc12/data.py (ExtractAffinityLabelInRadius,
# VOC12AffDataset's label), tool/imutils.py (AvgPool2d). Channels * WIDTH.
# --------------------------------------------------------------------------
def psa_search_dist(radius):
    dist = [(0, x) for x in range(1, radius)]
    for y in range(1, radius):
        for x in range(-radius + 1, radius):
            if x * x + y * y < radius * radius:
                dist.append((y, x))
    return dist


def psa_indices_of_pairs(radius, size):
    full = np.reshape(np.arange(0, size[0] * size[1], dtype=np.int64), size)
    rf = radius - 1
    ch, cw = size[0] - rf, size[1] - 2 * rf
    ind_from = np.reshape(full[:-rf, rf:-rf], [-1])
    ind_to = [
        np.reshape(full[dy:dy + ch, rf + dx:rf + dx + cw], [-1])
        for dy, dx in psa_search_dist(radius)
    ]
    return ind_from, np.concatenate(ind_to, axis=0)


class PSAAffNet(PlainResNet38):
    """PSA's ``resnet38_aff.Net``."""

    def __init__(self):
        super().__init__(width=WIDTH, dropout_layout='psa', eps=1e-5)

        def c(n):
            return scaled_channels(n, WIDTH)

        self.f8_3 = nn.Conv2d(c(512), c(64), 1, bias=False)
        self.f8_4 = nn.Conv2d(c(1024), c(128), 1, bias=False)
        self.f8_5 = nn.Conv2d(c(4096), c(256), 1, bias=False)
        self.f9 = nn.Conv2d(c(448), c(448), 1, bias=False)

    def forward_as_dict(self, x):
        x = self.conv1a(x)
        taps = {}
        for name in self.blocks:
            block = getattr(self, name)
            if name in ('b5', 'b6'):  # ResBlock(get_x_bn_relu=True)
                taps['conv4' if name == 'b5' else 'conv5'] = F.relu(
                    block.bn_branch2a(x))
            x = block(x)
        taps['conv6'] = F.relu(self.bn7(x))
        return taps

    def features(self, x):
        d = self.forward_as_dict(x)
        f8_3 = F.elu(self.f8_3(d['conv4']))
        f8_4 = F.elu(self.f8_4(d['conv5']))
        f8_5 = F.elu(self.f8_5(d['conv6']))
        return F.elu(self.f9(torch.cat([f8_3, f8_4, f8_5], dim=1)))

    def forward(self, x, to_dense=False):
        x = self.features(x)
        ind_from, ind_to = psa_indices_of_pairs(5, (x.size(2), x.size(3)))
        ind_from = torch.from_numpy(ind_from)
        ind_to = torch.from_numpy(ind_to)
        x = x.view(x.size(0), x.size(1), -1)
        ff = torch.index_select(x, dim=2, index=ind_from)
        ft = torch.index_select(x, dim=2, index=ind_to)
        ff = torch.unsqueeze(ff, dim=2)
        ft = ft.view(ft.size(0), ft.size(1), -1, ff.size(3))
        aff = torch.exp(-torch.mean(torch.abs(ft - ff), dim=1))
        if not to_dense:
            return aff
        aff = aff.view(-1)
        ind_from_exp = torch.unsqueeze(ind_from, dim=0).expand(
            ft.size(2), -1).contiguous().view(-1)
        indices = torch.stack([ind_from_exp, ind_to])
        indices_tp = torch.stack([ind_to, ind_from_exp])
        area = x.size(2)
        indices_id = torch.stack(
            [torch.arange(0, area).long(),
             torch.arange(0, area).long()])
        return torch.sparse_coo_tensor(
            torch.cat([indices, indices_id, indices_tp], dim=1),
            torch.cat([aff, torch.ones([area]), aff]),
            (area, area)).to_dense()


def psa_affinity_labels(label, cropsize, radius=5):
    """ExtractAffinityLabelInRadius(cropsize, radius)(label)."""
    rf = radius - 1
    crop_h, crop_w = cropsize - rf, cropsize - 2 * rf
    labels_from = np.reshape(label[:-rf, rf:-rf], [-1])
    labels_to_list, valid_pair_list = [], []
    for dy, dx in psa_search_dist(radius):
        labels_to = np.reshape(
            label[dy:dy + crop_h, rf + dx:rf + dx + crop_w], [-1])
        labels_to_list.append(labels_to)
        valid_pair_list.append(
            np.logical_and(
                np.less(labels_to, 255), np.less(labels_from, 255)))
    bc_labels_from = np.expand_dims(labels_from, 0)
    concat_labels_to = np.stack(labels_to_list)
    concat_valid_pair = np.stack(valid_pair_list)
    pos = np.equal(bc_labels_from, concat_labels_to)
    bg = np.logical_and(pos, np.equal(bc_labels_from, 0))
    fg = np.logical_and(
        np.logical_and(pos, np.not_equal(bc_labels_from, 0)),
        concat_valid_pair)
    neg = np.logical_and(np.logical_not(pos), concat_valid_pair)
    return [torch.from_numpy(a.astype(np.float32)) for a in (bg, fg, neg)]


def psa_loss(aff, bg_label, fg_label, neg_label):
    """train_aff.py's loss."""
    bg_count = torch.sum(bg_label) + 1e-5
    fg_count = torch.sum(fg_label) + 1e-5
    neg_count = torch.sum(neg_label) + 1e-5
    bg_loss = torch.sum(-bg_label * torch.log(aff + 1e-5)) / bg_count
    fg_loss = torch.sum(-fg_label * torch.log(aff + 1e-5)) / fg_count
    neg_loss = torch.sum(
        -neg_label * torch.log(1. + 1e-5 - aff)) / neg_count
    return bg_loss / 4 + fg_loss / 4 + neg_loss / 2


def psa_random_aff_net(seed=0):
    """A PSA AffinityNet with random weights and BN statistics."""
    gen = torch.Generator().manual_seed(seed)
    net = PSAAffNet()
    for m in net.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.weight[0].numel()
            m.weight.data = torch.randn(
                m.weight.shape, generator=gen) * (2 / fan_in)**0.5
        elif isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.weight.data = torch.rand(n, generator=gen) + 0.5
            m.bias.data = torch.randn(n, generator=gen) * 0.1
            m.running_mean = torch.randn(n, generator=gen) * 0.1
            m.running_var = torch.rand(n, generator=gen) + 0.5
    return net.eval()


def psa_normalize_and_pad(image):
    """PSA's Normalize + HWC_to_CHW, then infer_aff.py's zero padding to
    multiples of 8: uint8 ``(H, W, 3)`` RGB -> ``(1, 3, H8, W8)``."""
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    proc = np.empty_like(image, np.float32)
    for ch in range(3):
        proc[..., ch] = (image[..., ch] / 255. - mean[ch]) / std[ch]
    x = torch.from_numpy(np.transpose(proc, (2, 0, 1)))[None]
    h, w = image.shape[:2]
    return F.pad(x, (0, -w % 8, 0, -h % 8))


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------
def tiny_model_cfg():
    """The config's model at WIDTH, without pretrained weights."""
    cfg = Config.fromfile(AFF_CONFIG).model
    c = [scaled_channels(n, WIDTH) for n in (512, 1024, 4096, 64, 128, 256)]
    cfg.backbone.update(width=WIDTH, init_cfg=None)
    cfg.head.update(in_channels=c[:3], channels=c[3:])
    return cfg


@pytest.fixture(scope='module')
def psa_aff(tmp_path_factory):
    """PSA's net, a res38_aff.pth of it converted by rn38_to_mm.py without
    options, and the config's model loaded strictly from that."""
    folder = tmp_path_factory.mktemp('psa_aff')
    net = psa_random_aff_net()
    src, dst = str(folder / 'res38_aff.pth'), str(folder / 'rn38_aff.pth')
    torch.save(net.state_dict(), src)
    assert load_tool('model_converters/rn38_to_mm.py').main([src, dst]) == 0
    checkpoint = torch.load(dst, weights_only=True)
    model = MMSEG_MODELS.build(tiny_model_cfg())
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    return net, model.eval(), checkpoint


def test_converted_aff_checkpoint(psa_aff):
    net, _, checkpoint = psa_aff
    assert checkpoint['meta']['task'] == 'aff'
    state = checkpoint['state_dict']
    assert torch.equal(state['head.f9.weight'], net.f9.weight)
    assert torch.equal(state['backbone.level5.0.norm1.running_var'],
                       net.b5.bn_branch2a.running_var)


def test_affinity_net_equals_psa(psa_aff):
    """Features, pair affinities and the dense matrix of an odd-sized image
    padded to multiples of 8, as infer_aff.py does."""
    net, model, _ = psa_aff
    rng = np.random.default_rng(0)
    images = [rng.integers(0, 256, (75, 93, 3), np.uint8) for _ in range(2)]
    x = torch.cat([psa_normalize_and_pad(im) for im in images])
    assert x.shape == (2, 3, 80, 96)
    with torch.no_grad():
        feats = model(x)
        assert feats.shape == (2, scaled_channels(448, WIDTH), 10, 12)
        torch.testing.assert_close(feats, net.features(x), rtol=1e-5,
                                   atol=1e-6)
        aff = model.affinities(x)
        assert aff.shape == (2, 34, (10 - 4) * (12 - 8))
        torch.testing.assert_close(aff, net(x), rtol=1e-5, atol=1e-6)
        dense = model.dense_affinity(x)
        assert dense.shape == (2, 120, 120)
        for i in range(2):
            expected = net(x[i:i + 1], to_dense=True)
            torch.testing.assert_close(dense[i], expected, rtol=1e-5,
                                       atol=1e-6)
    assert torch.equal(dense, dense.transpose(1, 2))
    assert torch.all(dense.diagonal(dim1=1, dim2=2) == 1)


def block_label_samples(label, stride=8):
    """Data samples whose ``gt_sem_seg`` holds ``label`` ``(B, h, w)`` at
    ``stride``, each value over its ``stride x stride`` block."""
    full = label.repeat_interleave(stride, 1).repeat_interleave(stride, 2)
    return [
        SegDataSample(gt_sem_seg=PixelData(data=m[None])) for m in full
    ]


def test_affinity_loss_and_gradient_equal_psa(psa_aff):
    net, model, _ = psa_aff
    torch.manual_seed(0)
    x = torch.randn(2, 3, 80, 80)
    # labels at stride 8: background, two classes, ignored
    label = torch.from_numpy(
        np.random.default_rng(1).choice([0, 0, 1, 2, 255],
                                        (2, 10, 10)).astype(np.uint8))
    losses = model(x, block_label_samples(label), mode='loss')
    assert set(losses) == {
        'loss_bg', 'loss_fg', 'loss_neg', 'count_bg', 'count_fg',
        'count_neg'
    }
    total = losses['loss_bg'] + losses['loss_fg'] + losses['loss_neg']
    masks = [
        torch.stack(m)
        for m in zip(*(psa_affinity_labels(lab.numpy(), 10) for lab in label))
    ]
    expected = psa_loss(net(x), *masks)
    assert total.item() == pytest.approx(expected.item(), rel=1e-5)
    for name, mask in zip(('bg', 'fg', 'neg'), masks):
        assert losses[f'count_{name}'].item() == mask.sum().item()
    total.backward()
    expected.backward()
    psa_params = dict(net.named_parameters())
    trained = set()
    for key, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if key.startswith('backbone.'):
            name = backbone_source_name(key[len('backbone.'):], 'psa')
        else:
            name = key[len('head.'):]
        trained.add(name)
        grad, ref = param.grad, psa_params[name].grad
        scale = ref.abs().max().item()
        assert scale > 0, name
        assert (grad - ref).abs().max().item() <= 1e-4 * scale, name
    # PSA's not_training (conv1a, level 2) and every BN layer are frozen
    assert trained == {
        n
        for n in psa_params
        if not n.startswith(('conv1a', 'b2.', 'b2_', 'bn7'))
        and '.bn_' not in n
    }
