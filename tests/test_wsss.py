"""Weakly-supervised segmentation (issue 12): PSA's CAM classifier and CAM
procedure against a plain-PyTorch transcription of PSA's code, the
PSA-format checkpoint import, the config through tools/train.py, and the
CAM evaluation. Networks are width 1/16, images a few dozen pixels."""
import copy
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from PIL import Image
from rn38_testing import (REPO, load_tool, randomize_psa_net, run_tool_here,
                          write_config)

import mmrn38  # noqa: F401
from mmrn38.benchmark.plain_port import PlainResNet38
from mmrn38.synthetic import render_scene

WSSS_CONFIG = osp.join(REPO, 'configs', 'wsss', 'rn38_voc_cls.py')
WIDTH = 1 / 16
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# odd sizes (H, W) and the classes (1..20) drawn in them
IMAGES = {
    '2007_000001': ((45, 37), (3, 15)),
    '2007_000002': ((38, 61), (7, )),
    '2007_000003': ((53, 50), (1, 12, 20)),
}


def build_pretrain(cfg):
    """Build an mmpretrain model in mmpretrain's scope, whatever default
    scope an earlier test's Runner left current."""
    from mmengine.registry import DefaultScope
    from mmpretrain.registry import MODELS
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        return MODELS.build(cfg)


# --------------------------------------------------------------------------
# PSA's network and CAM procedure, transcribed in plain PyTorch from
# jiwoon-ahn/psa (network/resnet38d.py, network/resnet38_cls.py,
# voc12/data.py VOC12ClsDatasetMSF, infer_cls.py): resnet38d is the plain
# port (PSA's module names, dropout layout and BN eps), channels * WIDTH.
# --------------------------------------------------------------------------
class PSAClsNet(PlainResNet38):
    """PSA's ``resnet38_cls.Net``: ``resnet38d`` at output stride 8 + the
    bias-free ``fc8`` after channel dropout."""

    def __init__(self, num_classes=20):
        super().__init__(width=WIDTH, dropout_layout='psa', eps=1e-5)
        self.dropout7 = nn.Dropout2d(0.5)
        self.fc8 = nn.Conv2d(self.out_channels, num_classes, 1, bias=False)

    def forward(self, x):
        x = self.dropout7(super().forward(x))
        x = F.avg_pool2d(x, kernel_size=x.shape[2:])
        return self.fc8(x).flatten(1)

    def forward_cam(self, x):
        return F.relu(F.conv2d(super().forward(x), self.fc8.weight))


def psa_random_net(seed=0):
    """A PSA network with random weights and BN statistics."""
    return randomize_psa_net(PSAClsNet(), seed)


def psa_cams(net, image, labels, scales=(1.0, 0.5, 1.5, 2.0)):
    """PSA's infer_cls.py on one PIL image: ``{class: (H, W) float32}``."""
    w, h = image.size
    inputs = []
    for s in scales:
        resized = image.resize((round(w * s), round(h * s)),
                               resample=Image.BICUBIC)  # PSA: CUBIC, the same
        array = np.asarray(resized)
        normed = np.empty_like(array, np.float32)
        for ch in range(3):
            normed[..., ch] = (array[..., ch] / 255. -
                               IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]
        chw = np.transpose(normed, (2, 0, 1))
        inputs += [chw, np.flip(chw, -1).copy()]
    maps = []
    with torch.no_grad():
        for i, x in enumerate(inputs):
            cam = net.forward_cam(torch.from_numpy(x)[None])
            cam = F.interpolate(
                cam, (h, w), mode='bilinear', align_corners=False)[0]
            cam = cam.numpy() * labels.reshape(-1, 1, 1)
            maps.append(np.flip(cam, -1) if i % 2 == 1 else cam)
    total = np.sum(maps, axis=0)
    norm = total / (np.max(total, (1, 2), keepdims=True) + 1e-5)
    return {c: norm[c] for c in range(len(labels)) if labels[c] > 1e-5}


def psa_crf_inference(img, probs, t=10, scale_factor=1, labels=21):
    """PSA's tool/imutils.py crf_inference, transcribed."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax
    h, w = img.shape[:2]
    d = dcrf.DenseCRF2D(w, h, labels)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=3 / scale_factor, compat=3)
    d.addPairwiseBilateral(
        sxy=80 / scale_factor, srgb=13, rgbim=np.copy(img), compat=10)
    return np.array(d.inference(t)).reshape((labels, h, w))


def psa_crf_with_alpha(orig_img, cam_dict, alpha):
    """infer_cls.py's _crf_with_alpha, transcribed."""
    v = np.array(list(cam_dict.values()))
    bg_score = np.power(1 - np.max(v, axis=0, keepdims=True), alpha)
    bgcam_score = np.concatenate((bg_score, v), axis=0)
    crf_score = psa_crf_inference(
        orig_img, bgcam_score, labels=bgcam_score.shape[0])
    result = {0: crf_score[0]}
    for i, key in enumerate(cam_dict.keys()):
        result[key + 1] = crf_score[i + 1]
    return result


# --------------------------------------------------------------------------
# fixtures: VOC-layout images of odd sizes, a PSA classifier file
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """``VOC2012`` with the IMAGES (split ``odd``) in mmseg's layout."""
    root = tmp_path_factory.mktemp('wsss') / 'VOC2012'
    rng = np.random.default_rng(0)
    for folder in ('JPEGImages', 'SegmentationClassAug',
                   'ImageSets/Segmentation'):
        os.makedirs(root / folder)
    for name, (size, classes) in IMAGES.items():
        img, mask = render_scene(rng, size, classes, max_objects=3)
        # every listed class present: paint a corner of each
        for k, cls in enumerate(classes):
            mask[k * 3:k * 3 + 3, :4] = cls
        mask[-2:, -2:] = 255
        Image.fromarray(img).save(root / 'JPEGImages' / f'{name}.jpg')
        Image.fromarray(mask).save(root / 'SegmentationClassAug' /
                                   f'{name}.png')
    (root / 'ImageSets/Segmentation/odd.txt').write_text(''.join(
        f'{n}\n' for n in IMAGES))
    return str(root)


@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """configs/wsss/rn38_voc_cls.py at width 1/16, no pretrained weights."""
    path = tmp_path_factory.mktemp('cfg') / 'tiny_cls.py'
    return write_config(
        path, 'wsss/rn38_voc_cls.py', '''
        model = dict(
            backbone=dict(width=1 / 16, init_cfg=None),
            head=dict(in_channels=256))
        ''')


@pytest.fixture(scope='module')
def psa_checkpoint(tmp_path_factory):
    """A file as PSA's train_cls.py saves it (its state dict), converted by
    tools/model_converters/rn38_to_mm.py without options."""
    folder = tmp_path_factory.mktemp('psa')
    net = psa_random_net()
    src, dst = str(folder / 'res38_cls.pth'), str(folder / 'rn38_cls.pth')
    torch.save(net.state_dict(), src)
    assert load_tool('model_converters/rn38_to_mm.py').main([src, dst]) == 0
    return net, src, dst


# --------------------------------------------------------------------------
# backbone option and head
# --------------------------------------------------------------------------
def test_psa_dropout_layout():
    torch.manual_seed(0)
    psa = build_pretrain(
        dict(type='ResNet38', width=WIDTH, dropout_layout='psa'))
    original = build_pretrain(dict(type='ResNet38', width=WIDTH))
    for unit in (psa.level6[0], psa.level7[0]):
        assert isinstance(unit.dropout2, nn.Dropout2d)
        assert isinstance(unit.dropout, nn.Dropout2d)
    assert original.level7[0].dropout2 is None
    assert type(original.level7[0].dropout) is nn.Dropout
    assert (psa.level6[0].dropout.p, psa.level7[0].dropout2.p) == (0.3, 0.5)
    # same parameters, same function at inference
    original.load_state_dict(psa.state_dict())
    x = torch.randn(1, 3, 33, 29)
    assert torch.equal(psa.eval()(x)[0], original.eval()(x)[0])
    with pytest.raises(ValueError, match='dropout_layout'):
        build_pretrain(dict(type='ResNet38', width=WIDTH, dropout_layout='x'))
    with pytest.raises(ValueError, match='memory_lean'):
        build_pretrain(
            dict(
                type='ResNet38',
                width=WIDTH,
                dropout_layout='psa',
                memory_lean=True))


def test_cam_head_is_psa_classifier(tiny_config):
    """Loss = F.multilabel_soft_margin_loss, CAMs = relu(conv(x, fc8)),
    Xavier-uniform init; PSA's frozen parts and lr groups, with the
    momentum PSA ran (5e-4)."""
    from mmpretrain.structures import DataSample
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    cfg = Config.fromfile(tiny_config)
    torch.manual_seed(0)
    model = build_pretrain(cfg.model)
    model.init_weights()
    head = model.head
    bound = (6 / (256 + 20))**0.5
    assert head.fc.bias is None and head.fc.weight.abs().max() <= bound
    assert head.fc.weight.abs().max() > 0.8 * bound

    feats = (torch.randn(3, 256, 5, 7), )
    labels = [[0, 4], [19], [2, 3, 7]]
    target = torch.zeros(3, 20)
    for i, ls in enumerate(labels):
        target[i, ls] = 1
    head.eval()
    loss = head.loss(feats,
                     [DataSample().set_gt_label(ls) for ls in labels])['loss']
    logits = head(feats)
    assert torch.allclose(
        logits,
        F.conv2d(F.avg_pool2d(feats[0], (5, 7)), head.fc.weight).flatten(1))
    expected = F.multilabel_soft_margin_loss(logits, target)
    assert torch.allclose(loss, expected, rtol=1e-6)
    assert torch.equal(
        head.cams(feats), F.relu(F.conv2d(feats[0], head.fc.weight)))

    model.train()
    backbone = model.backbone
    frozen = [backbone.conv1a, backbone.level2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    bns = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    assert bns and all(not m.training for m in bns)
    assert all(not p.requires_grad for m in bns for p in m.parameters())
    assert backbone.level3[0].conv1.weight.requires_grad

    optim = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    lrs = {}
    for group in optim.param_groups:
        for p in group['params']:
            if p.requires_grad:
                lrs[p] = (group['lr'], group['weight_decay'],
                          group['momentum'])
    assert lrs[head.fc.weight] == (1.0, 5e-4, 5e-4)
    assert lrs[backbone.level7[0].conv3.weight] == (0.1, 5e-4, 5e-4)
    assert len(lrs) == sum(p.requires_grad for p in model.parameters())


class PSAPolyOptimizer(torch.optim.SGD):
    """PSA's ``tool/torchutils.py`` PolyOptimizer, transcribed: its
    ``weight_decay`` goes where SGD takes ``momentum``."""

    def __init__(self, params, lr, weight_decay, max_step, momentum=0.9):
        super().__init__(params, lr, weight_decay)
        self.global_step = 0
        self.max_step = max_step
        self.power = momentum
        self.initial_lr = [group['lr'] for group in self.param_groups]

    def step(self, closure=None):
        if self.global_step < self.max_step:
            mult = (1 - self.global_step / self.max_step)**self.power
            for group, lr in zip(self.param_groups, self.initial_lr):
                group['lr'] = lr * mult
        super().step(closure)
        self.global_step += 1


def psa_parameter_groups(model, new_layers):
    """PSA's ``get_parameter_groups``: trainable conv weights / biases of
    the pretrained layers, then of the new ones."""
    groups = ([], [], [], [])
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            new = 2 if m in new_layers else 0
            if m.weight.requires_grad:
                groups[new].append(m.weight)
            if m.bias is not None and m.bias.requires_grad:
                groups[new + 1].append(m.bias)
    return groups


def psa_schedule_steps(cfg, optimizer, epoch_length):
    """The config's poly scheduler as the Runner builds it, on
    ``optimizer``, for ``epoch_length`` iterations an epoch."""
    from mmengine.optim.scheduler import PolyLR
    sched = copy.deepcopy(cfg.param_scheduler)
    assert sched.pop('type') == 'PolyLR'
    assert sched.pop('convert_to_iter_based') and sched.pop('by_epoch')
    return PolyLR.build_iter_from_epoch(
        optimizer, epoch_length=epoch_length, **sched)


@pytest.mark.parametrize('config', ['rn38_voc_cls.py'])
def test_psa_optimiser_as_psa_ran(config, tmp_path):
    """The shipped PSA configs' optimiser (configs/_base_/schedules/
    psa_sgd_poly.py) takes the steps of PSA's PolyOptimizer (train_cls.py's
    four groups, momentum 5e-4) with varying gradients; its poly lr ends at
    the config's last epoch and differs from PSA's by < 2.6e-4 of the base
    lr over PSA's 15 x 661 iterations (mmengine's PolyLR reaches 0 at the
    last iteration T - 1, PSA's at T)."""
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    path = write_config(
        tmp_path / config, f'wsss/{config}', '''
        model = dict(backbone=dict(width=1 / 16, init_cfg=None),
                     head=dict(in_channels=256))
        ''')
    cfg = Config.fromfile(path)
    epochs = cfg.train_cfg.max_epochs
    assert cfg.param_scheduler.end == epochs
    torch.manual_seed(0)
    ours = build_pretrain(cfg.model).train()
    psa = copy.deepcopy(ours)
    wrapper = build_optim_wrapper(ours, cfg.optim_wrapper)
    scheduler = psa_schedule_steps(cfg, wrapper.optimizer, epoch_length=2)
    steps = 2 * epochs - 1  # the last, at lr 0 here, is left out
    lr, wd = 0.1, 5e-4  # train_cls.py's
    groups = psa_parameter_groups(psa, [psa.head.fc])
    optimizer = PSAPolyOptimizer([
        dict(params=groups[0], lr=lr, weight_decay=wd),
        dict(params=groups[1], lr=2 * lr, weight_decay=0),
        dict(params=groups[2], lr=10 * lr, weight_decay=wd),
        dict(params=groups[3], lr=20 * lr, weight_decay=0),
    ],
                                 lr=lr,
                                 weight_decay=wd,
                                 max_step=steps)
    trained = [(name, p) for name, p in ours.named_parameters()
               if p.requires_grad]
    assert len(trained) == sum(map(len, groups))
    theirs = dict(psa.named_parameters())
    gen = torch.Generator().manual_seed(1)
    for _ in range(steps):
        for name, p in trained:
            p.grad = torch.randn(p.shape, generator=gen)
            theirs[name].grad = p.grad.clone()
        wrapper.step()
        scheduler.step()
        optimizer.step()
    for name, p in trained:
        torch.testing.assert_close(p, theirs[name], rtol=1e-5, atol=1e-6)
    scheduler.step()
    assert wrapper.get_lr()['lr'][0] == 0

    # the poly factor over PSA's run on train_aug (10,582 // 16 an epoch)
    one = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.)
    scheduler = psa_schedule_steps(cfg, one, epoch_length=661)
    max_step = 661 * epochs
    worst = 0.
    for step in range(max_step):
        psa_lr = (1 - step / max_step)**0.9
        worst = max(worst, abs(one.param_groups[0]['lr'] - psa_lr))
        scheduler.step()
    assert 1e-4 < worst < 2.6e-4


# --------------------------------------------------------------------------
# import of PSA classifier files
# --------------------------------------------------------------------------
def test_psa_classifier_import(psa_checkpoint, tiny_config):
    from mmrn38.converters import convert_rn38_weights
    net, src, dst = psa_checkpoint
    checkpoint = torch.load(dst, weights_only=True)
    assert checkpoint['meta']['task'] == 'cam'
    state = checkpoint['state_dict']
    assert torch.equal(state['head.fc.weight'], net.fc8.weight)
    assert torch.equal(state['backbone.level7.0.conv2.weight'],
                       net.b7.conv_branch2b1.weight)
    # the config's model takes it strictly, CAM head included
    cfg = Config.fromfile(tiny_config)
    model = build_pretrain(cfg.model)
    model.load_state_dict(state, strict=True)
    # PSA's released res38_cls.pth (torch 0.3): no num_batches_tracked
    released = {
        k: v
        for k, v in net.state_dict().items()
        if not k.endswith('num_batches_tracked')
    }
    path = osp.join(osp.dirname(src), 'released_res38_cls.pth')
    torch.save(released, path)
    conversion = convert_rn38_weights(path)
    assert all(
        torch.equal(conversion.checkpoint['state_dict'][k], v)
        for k, v in state.items() if not k.endswith('num_batches_tracked'))
    # --task cls still gives mmpretrain's LinearClsHead
    cls = convert_rn38_weights(path, task='cls').checkpoint['state_dict']
    assert cls['head.fc.weight'].shape == (20, 256)


# --------------------------------------------------------------------------
# CAMs: tools/wsss/make_cams.py against PSA's procedure
# --------------------------------------------------------------------------
def test_make_cams_matches_psa(psa_checkpoint, tiny_config, voc_root, tmp_path,
                               device):
    net, _, dst = psa_checkpoint
    out_cam, out_pred = tmp_path / 'cam', tmp_path / 'pred'
    make_cams = load_tool('wsss/make_cams.py')
    assert make_cams.main([
        tiny_config, dst, '--data-root', voc_root, '--split', 'odd',
        '--out-cam',
        str(out_cam), '--out-pred',
        str(out_pred), '--device',
        str(device)
    ]) == 0
    for name, ((h, w), classes) in IMAGES.items():
        labels = np.zeros(20, np.float32)
        labels[[c - 1 for c in classes]] = 1
        image = Image.open(osp.join(voc_root, 'JPEGImages',
                                    f'{name}.jpg')).convert('RGB')
        expected = psa_cams(net, image, labels)
        cams = np.load(out_cam / f'{name}.npy', allow_pickle=True).item()
        assert sorted(cams) == sorted(expected) == [c - 1 for c in classes]
        for c, cam in cams.items():
            assert cam.dtype == np.float32 and cam.shape == (h, w)
            assert np.abs(cam - expected[c]).max() <= 1e-3, (name, c)
            assert cam.max() > 0.99
        # PSA's pseudo-labels with background score 0.2
        stack = np.zeros((21, h, w), np.float32)
        stack[0] = 0.2
        for c, cam in expected.items():
            stack[c + 1] = cam
        pred = np.asarray(Image.open(out_pred / f'{name}.png'))
        agree = (pred == stack.argmax(0)).mean()
        assert agree > 0.99, name


def test_crf_files_match_psa(psa_checkpoint, tiny_config, voc_root, tmp_path):
    """--out-la-crf / --out-ha-crf equal PSA's _crf_with_alpha and
    crf_inference on the same CAMs and images (odd sizes)."""
    _, _, dst = psa_checkpoint
    make_cams = load_tool('wsss/make_cams.py')
    assert make_cams.main([
        tiny_config, dst, '--data-root', voc_root, '--split', 'odd',
        '--out-cam',
        str(tmp_path / 'cam'), '--out-la-crf',
        str(tmp_path / 'la'), '--out-ha-crf',
        str(tmp_path / 'ha'), '--high-alpha', '16', '--scales', '1.0', '0.5',
        '--device', 'cpu'
    ]) == 0
    for name, ((h, w), classes) in IMAGES.items():
        image = np.asarray(
            Image.open(osp.join(voc_root, 'JPEGImages', f'{name}.jpg')))
        cams = np.load(
            tmp_path / 'cam' / f'{name}.npy', allow_pickle=True).item()
        for folder, alpha in (('la', 4), ('ha', 16)):
            crf = np.load(
                tmp_path / folder / f'{name}.npy', allow_pickle=True).item()
            expected = psa_crf_with_alpha(image, cams, alpha)
            assert list(crf) == list(expected) == [0] + list(classes)
            for key, marginals in crf.items():
                assert marginals.dtype == np.float32
                assert marginals.shape == (h, w)
                assert np.abs(marginals - expected[key]).max() <= 1e-4


def test_crf_with_alpha_matches_psa(voc_root):
    """On CAMs with real background (soft maps of the masks' objects, with
    noise) the CRF moves labels, and equals PSA's; the low power's stronger
    background keeps more pixels."""
    from mmrn38.wsss.crf import crf_with_alpha
    rng = np.random.default_rng(0)
    for name, ((h, w), classes) in IMAGES.items():
        image = np.asarray(
            Image.open(osp.join(voc_root, 'JPEGImages', f'{name}.jpg')))
        mask = np.asarray(
            Image.open(
                osp.join(voc_root, 'SegmentationClassAug', f'{name}.png')))
        cams = {
            c - 1:
            np.clip(0.6 * (mask == c) + rng.uniform(0, 0.5, (h, w)), 0,
                    1).astype(np.float32)
            for c in classes
        }
        la, ha = crf_with_alpha(image, cams,
                                4), crf_with_alpha(image, cams, 32)
        for crf, alpha in ((la, 4), (ha, 32)):
            expected = psa_crf_with_alpha(image, cams, alpha)
            assert list(crf) == list(expected)
            for key, marginals in crf.items():
                assert np.abs(marginals - expected[key]).max() <= 1e-4
        scores = np.stack([(1 - np.max(list(cams.values()), 0))**4] +
                          list(cams.values()))
        moved = np.stack(list(la.values())).argmax(0) != scores.argmax(0)
        assert 0.01 < moved.mean() < 0.9
        assert la[0].mean() > 10 * ha[0].mean()


def test_crf_step_edge_cases():
    from mmrn38.wsss.crf import crf_inference, crf_with_alpha
    image = np.zeros((5, 7, 3), np.uint8)
    crf = crf_with_alpha(image, {}, 4)  # no class: background only
    assert list(crf) == [0] and np.allclose(crf[0], 1)
    probs = np.full((2, 5, 7), 0.5, np.float32)
    marginals = crf_inference(image, probs)
    assert marginals.shape == (2, 5, 7)
    assert np.allclose(marginals.sum(0), 1, atol=1e-5)
    with pytest.raises(ValueError, match='uint8'):
        crf_inference(image.astype(np.float32), probs)
    with pytest.raises(ValueError, match='size'):
        crf_inference(image[:4], probs)


def test_make_cams_fast_path(psa_checkpoint, tiny_config, voc_root, tmp_path,
                             monkeypatch, winograd_everywhere):
    """--fast: the classifier through optimize_for_inference (BN folded,
    Winograd's convs) gives the same CAMs to float32 rounding."""
    from mmrn38.models.winograd_conv import WinogradConv2d
    from mmrn38.wsss.cams import CAMModel

    _, _, dst = psa_checkpoint
    fast = CAMModel(tiny_config, dst, fast=True).model
    assert not fast.training and any(
        isinstance(m, WinogradConv2d) for m in fast.modules())
    optimize_for_inference = mmrn38.optimize_for_inference
    prepared = []

    def optimize(model, **kwargs):
        prepared.append(model)
        return optimize_for_inference(model, **kwargs)

    monkeypatch.setattr(mmrn38, 'optimize_for_inference', optimize)
    make_cams = load_tool('wsss/make_cams.py')
    for folder, option in (('plain', []), ('fast', ['--fast'])):
        assert make_cams.main([
            tiny_config, dst, '--data-root', voc_root, '--split', 'odd',
            '--out-cam',
            str(tmp_path / folder), '--device', 'cpu'
        ] + option) == 0
        assert len(prepared) == (folder == 'fast')
    for name in IMAGES:
        plain, fast_cams = (
            np.load(tmp_path / folder / f'{name}.npy',
                    allow_pickle=True).item() for folder in ('plain', 'fast'))
        assert sorted(plain) == sorted(fast_cams)
        for c, cam in plain.items():
            # normalised to [0, 1)
            assert np.abs(fast_cams[c] - cam).max() <= 1e-4, (name, c)


def test_cams_computed_without_tf32(psa_checkpoint, tiny_config, device):
    """CAMs in full float32 as PSA computed them: cuDNN's TF32 rounding
    (PyTorch's default on CUDA) is off during the forward pass, and back
    afterwards."""
    from mmrn38.wsss.cams import CAMModel

    _, _, dst = psa_checkpoint
    model = CAMModel(tiny_config, dst, device=str(device))
    seen = []
    model.model.backbone.register_forward_hook(
        lambda *_: seen.append(torch.backends.cudnn.allow_tf32))
    before = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = True
    try:
        cams = model.cams(torch.randn(2, 3, 33, 41))
        assert seen == [False]
        assert torch.backends.cudnn.allow_tf32 is True
    finally:
        torch.backends.cudnn.allow_tf32 = before
    assert cams.shape[:2] == (2, model.num_classes)


def test_make_cams_bad_input(psa_checkpoint, tiny_config, voc_root, tmp_path,
                             capsys, monkeypatch):
    _, _, dst = psa_checkpoint
    make_cams = load_tool('wsss/make_cams.py')
    out = tmp_path / 'cams'
    args = [
        tiny_config, dst, '--data-root', voc_root, '--out-cam',
        str(out), '--device', 'cpu'
    ]
    assert make_cams.main(args + ['--split', 'nope']) == 1
    # the last line, the only error line (a first import may warn above)
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[-1].startswith('make_cams: error: no split list')
    assert sum('error' in line for line in lines) == 1
    # a checkpoint of another model
    other = write_config(
        tmp_path / 'wide.py', 'wsss/rn38_voc_cls.py', '''
        model = dict(backbone=dict(width=1 / 8, init_cfg=None),
                     head=dict(in_channels=512))
        ''')
    assert make_cams.main([
        other, dst, '--data-root', voc_root, '--split', 'odd', '--out-cam',
        str(out)
    ]) == 1
    assert 'does not fit' in capsys.readouterr().err
    # CRF maps: a background power that is not positive, no pydensecrf
    crf = ['--split', 'odd', '--out-la-crf', str(tmp_path / 'la')]
    assert make_cams.main(args + crf + ['--low-alpha', '0']) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'make_cams: error: the CRF\'s background powers must be positive, '
        'got --low-alpha 0 --high-alpha 32')
    monkeypatch.setitem(sys.modules, 'pydensecrf.densecrf', None)
    assert make_cams.main(args + crf) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == (
        'make_cams: error: the CRF step needs pydensecrf2 '
        '(tools/setup_env.sh installs it; elsewhere: pip install '
        'pydensecrf2)')
    assert not out.exists() and not (tmp_path / 'la').exists()


# --------------------------------------------------------------------------
# evaluation
# --------------------------------------------------------------------------
def test_eval_cams(voc_root, tmp_path, capsys):
    from mmrn38.wsss.evaluation import evaluate_cams
    cam_dir = tmp_path / 'cams'
    cam_dir.mkdir()
    background = valid = 0
    for name in IMAGES:
        mask = np.asarray(
            Image.open(
                osp.join(voc_root, 'SegmentationClassAug', f'{name}.png')))
        background += (mask == 0).sum()
        valid += (mask != 255).sum()
        # perfect maps at 0.6 on their class, 0.3 elsewhere on one class
        cams = {}
        for cls in np.unique(mask[(mask > 0) & (mask < 255)]):
            cams[int(cls) - 1] = np.where(mask == cls, 0.6,
                                          0.).astype(np.float32)
        first = min(cams)
        cams[first] = np.where(mask == first + 1, 0.6, 0.3).astype(np.float32)
        np.save(cam_dir / f'{name}.npy', cams)
    sweep = evaluate_cams(
        voc_root, 'odd', str(cam_dir), 21, [0.2, 0.4, 0.7], progress=False)
    assert sweep.best == 1 and sweep.miou[1] == pytest.approx(100)
    # all background: IoU 0 for the 6 classes present
    assert sweep.miou[2] == pytest.approx(100 * background / valid / 7)
    assert sweep.miou[0] < 100
    assert np.isnan(sweep.iou[1][2])  # class 2 nowhere
    eval_cams = load_tool('wsss/eval_cams.py')
    assert eval_cams.main([
        '--data-root', voc_root, '--split', 'odd', '--cam-dir',
        str(cam_dir), '--thresholds', '0.2', '0.4'
    ]) == 0
    out = capsys.readouterr().out
    assert 'best background threshold 0.40: mIoU 100.00 %' in out
    # CAMs and labels (here: the masks) side by side
    assert eval_cams.main([
        '--data-root', voc_root, '--split', 'odd', '--cam-dir',
        str(cam_dir), '--label-dir',
        osp.join(voc_root, 'SegmentationClassAug'), '--thresholds', '0.2',
        '0.4', '0.7'
    ]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-23] == 'class           CAM@0.40  SegmentationClassAug'
    assert out[-1] == 'mIoU              100.00                100.00'
    os.remove(cam_dir / '2007_000002.npy')
    assert eval_cams.main(
        ['--data-root', voc_root, '--split', 'odd', '--cam-dir',
         str(cam_dir)]) == 1
    err = capsys.readouterr().err.strip()
    assert err == (f'eval_cams: error: 1 of the 3 images of odd have no CAM '
                   f'file in {cam_dir} (e.g. 2007_000002.npy)')


def test_eval_label_dir_exact(tmp_path, capsys):
    """eval_cams.py --label-dir on a hand-counted case: 255 in a mask is
    left out, 255 in the labels is no prediction (a miss)."""
    from mmrn38.wsss import WSSSDataError
    from mmrn38.wsss.evaluation import evaluate_labels
    root, labels = tmp_path / 'VOC2012', tmp_path / 'rw'
    for folder in ('JPEGImages', 'SegmentationClass',
                   'ImageSets/Segmentation'):
        os.makedirs(root / folder)
    labels.mkdir()
    cases = {
        'a': ([[0, 0, 1, 1], [0, 255, 1, 2]], [[0, 1, 1, 1], [255, 0, 1, 2]]),
        'b': ([[2, 2, 0]], [[2, 0, 0]]),
    }
    for name, (mask, pred) in cases.items():
        mask = np.array(mask, np.uint8)
        Image.fromarray(np.zeros(mask.shape + (3, ), np.uint8)).save(
            root / 'JPEGImages' / f'{name}.jpg')
        Image.fromarray(mask).save(root / 'SegmentationClass' / f'{name}.png')
        Image.fromarray(np.array(pred, np.uint8)).save(labels / f'{name}.png')
    (root / 'ImageSets/Segmentation/s.txt').write_text('a\nb\n')
    (root / 'ImageSets/Segmentation/b.txt').write_text('b\n')
    # class 0: 2 / (3 + 4 - 2); class 1: 3 / (4 + 3 - 3); 2: 2 / (2 + 3 - 2)
    expected = [40., 75., 200 / 3]
    score = evaluate_labels(str(root), 's', str(labels), 3, progress=False)
    np.testing.assert_allclose(score.iou, expected, rtol=1e-6)
    assert score.miou == pytest.approx(np.mean(expected), rel=1e-6)
    assert score.unlabelled == pytest.approx(10.)  # 1 of 10 scored pixels
    eval_cams = load_tool('wsss/eval_cams.py')
    args = ['--data-root', str(root), '--split', 's', '--num-classes', '3']
    assert eval_cams.main(args + ['--label-dir', str(labels)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out == [
        f'{labels}: mIoU 60.56 % over 2 images (10.00 % of the pixels '
        f'unlabelled)',
        'class                 rw',
        'class 0            40.00',
        'class 1            75.00',
        'class 2            66.67',
        'mIoU               60.56',
    ]
    # bad input: one line each
    Image.fromarray(np.array([[2, 7, 0]], np.uint8)).save(labels / 'b.png')
    Image.fromarray(np.zeros((3, 4), np.uint8)).save(labels / 'a.png')
    bad = {
        ():
        'nothing to score: give --cam-dir and/or --label-dir',
        ('--label-dir', str(labels)):
        f'{labels / "a.png"}: labels of (3, 4) for a mask of (2, 4)',
        ('--label-dir', str(tmp_path)):
        f'2 of the 2 images of s have no label PNG in {tmp_path} (e.g. '
        f'a.png)',
    }
    for extra, message in bad.items():
        assert eval_cams.main(args + list(extra)) == 1
        err = capsys.readouterr().err.strip()
        assert err == f'eval_cams: error: {message}'
    os.remove(labels / 'a.png')
    with pytest.raises(
            WSSSDataError,
            match=r'b.png: label 7 is beyond the '
            r'3 classes \(0 .. 2, 255 for none\)'):
        evaluate_labels(str(root), 'b', str(labels), 3, progress=False)


# --------------------------------------------------------------------------
# the config through tools/train.py
# --------------------------------------------------------------------------
def test_config_trains_with_tools_train(voc_root, tmp_path):
    """configs/wsss/rn38_voc_cls.py on generated VOC-layout data, changed
    only in paths, sizes of network and run; the checkpoint it saves makes
    CAMs."""
    from mmrn38.synthetic import write_voc
    data_root = write_voc(
        str(tmp_path / 'data'), splits=dict(train=8, val=2), size=(48, 48))
    config = write_config(
        tmp_path / 'train_cls.py', 'wsss/rn38_voc_cls.py', f'''
        data_root = {data_root!r}
        model = dict(
            backbone=dict(width=1 / 16, init_cfg=None),
            head=dict(in_channels=256))
        train_dataloader = dict(
            batch_size=4, num_workers=0, persistent_workers=False,
            dataset=dict(data_root=data_root))
        val_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(data_root=data_root))
        test_dataloader = val_dataloader
        train_cfg = dict(max_epochs=1)
        param_scheduler = dict(end=1)
        ''')
    work_dir = tmp_path / 'work'
    log = run_tool_here('train.py', config, '--work-dir', work_dir)
    assert 'Epoch(train) [1][2/2]' in log
    assert 'multi-label/f1-score' in log
    checkpoint = work_dir / 'epoch_1.pth'
    assert checkpoint.is_file()
    log = run_tool_here('wsss/make_cams.py', config, checkpoint, '--data-root',
                        data_root, '--split', 'val', '--out-cam',
                        tmp_path / 'cams', '--scales', '1.0', '--device',
                        'cpu')
    assert '2 images of val' in log
    assert len(os.listdir(tmp_path / 'cams')) == 2


def test_pseudo_label_config_is_rn38_voc_with_adam():
    """configs/wsss/rn38_voc_pseudo.py = configs/rn38_voc.py but for the
    training data (train_aug's images, the pseudo-label folder) and Adam
    (its training runs in test_configs.py and, as shipped, in
    test_configs_as_shipped.py)."""
    voc = Config.fromfile(osp.join(REPO, 'configs', 'rn38_voc.py'))
    pseudo = Config.fromfile(
        osp.join(REPO, 'configs', 'wsss', 'rn38_voc_pseudo.py'))
    changed = {
        k
        for k in set(voc) | set(pseudo) if voc.get(k) != pseudo.get(k)
    }
    assert changed == {
        'train_dataloader', 'optim_wrapper', 'pseudo_label_dir',
        'adam_pseudo_labels'
    }
    for key in ('batch_size', 'sampler', 'num_workers'):
        assert pseudo.train_dataloader[key] == voc.train_dataloader[key]
    dataset = pseudo.train_dataloader.dataset
    assert dataset.data_prefix.seg_map_path == pseudo.pseudo_label_dir
    assert dataset.ann_file == 'ImageSets/Segmentation/aug.txt'
    assert dataset.pipeline == voc.train_pipeline
    assert pseudo.optim_wrapper.optimizer == dict(
        type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)
    assert (
        pseudo.optim_wrapper.paramwise_cfg == voc.optim_wrapper.paramwise_cfg)
