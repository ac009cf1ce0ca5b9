"""PSA's AffinityNet (configs/wsss/rn38_voc_aff.py, AffinityNet,
AffinityHead) against a plain transcription of PSA's resnet38_aff,
train_aff.py and ExtractAffinityLabelInRadius."""
import os.path as osp
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from config_cases import write_voc_affinity
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from psa_aff import psa_random_aff_net, psa_search_dist
from rn38_testing import REPO, load_tool, run_tool_here, write_config

import mmrn38  # noqa: F401
import mmrn38.wsss  # noqa: F401
from mmrn38.converters.key_mapping import backbone_source_name
from mmrn38.models.backbones import scaled_channels
from mmrn38.registry import MMSEG_MODELS, MMSEG_TRANSFORMS

AFF_CONFIG = osp.join(REPO, 'configs', 'wsss', 'rn38_voc_aff.py')
WIDTH = 1 / 16


# --------------------------------------------------------------------------
# PSA, transcribed in plain PyTorch / numpy from jiwoon-ahn/psa (the network,
# resnet38_aff.py, and get_indices_of_pairs in tests/helpers/psa_aff.py):
# train_aff.py (loss), voc12/data.py (ExtractAffinityLabelInRadius,
# VOC12AffDataset's label), tool/imutils.py (AvgPool2d). Channels * WIDTH.
# --------------------------------------------------------------------------
def psa_affinity_labels(label, cropsize, radius=5):
    """ExtractAffinityLabelInRadius(cropsize, radius)(label)."""
    rf = radius - 1
    crop_h, crop_w = cropsize - rf, cropsize - 2 * rf
    labels_from = np.reshape(label[:-rf, rf:-rf], [-1])
    labels_to_list, valid_pair_list = [], []
    for dy, dx in psa_search_dist(radius):
        labels_to = np.reshape(label[dy:dy + crop_h, rf + dx:rf + dx + crop_w],
                               [-1])
        labels_to_list.append(labels_to)
        valid_pair_list.append(
            np.logical_and(np.less(labels_to, 255), np.less(labels_from, 255)))
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
    neg_loss = torch.sum(-neg_label * torch.log(1. + 1e-5 - aff)) / neg_count
    return bg_loss / 4 + fg_loss / 4 + neg_loss / 2


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
    net = psa_random_aff_net(WIDTH)
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
        torch.testing.assert_close(
            feats, net.features(x), rtol=1e-5, atol=1e-6)
        aff = model.affinities(x)
        assert aff.shape == (2, 34, (10 - 4) * (12 - 8))
        torch.testing.assert_close(aff, net(x), rtol=1e-5, atol=1e-6)
        dense = model.dense_affinity(x)
        assert dense.shape == (2, 120, 120)
        for i in range(2):
            expected = net(x[i:i + 1], to_dense=True)
            torch.testing.assert_close(
                dense[i], expected, rtol=1e-5, atol=1e-6)
    assert torch.equal(dense, dense.transpose(1, 2))
    assert torch.all(dense.diagonal(dim1=1, dim2=2) == 1)


def block_label_samples(label, stride=8):
    """Data samples whose ``gt_sem_seg`` holds ``label`` ``(B, h, w)`` at
    ``stride``, each value over its ``stride x stride`` block."""
    full = label.repeat_interleave(stride, 1).repeat_interleave(stride, 2)
    return [SegDataSample(gt_sem_seg=PixelData(data=m[None])) for m in full]


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
        'loss_bg', 'loss_fg', 'loss_neg', 'count_bg', 'count_fg', 'count_neg'
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
        for n in psa_params if not n.startswith(('conv1a', 'b2.', 'b2_',
                                                 'bn7')) and '.bn_' not in n
    }


# --------------------------------------------------------------------------
# labels: LoadCRFScores + AffinityLabelFromCRF + mmcv's Pad + the head's
# pair labels against VOC12AffDataset with ExtractAffinityLabelInRadius
# --------------------------------------------------------------------------
def psa_block_mean(img, block):
    """skimage.measure.block_reduce(img, (block, block, 1), np.mean)."""
    h, w, c = img.shape
    padded = np.pad(img, ((0, -h % block), (0, -w % block), (0, 0)))
    hb, wb = padded.shape[0] // block, padded.shape[1] // block
    blocks = padded.reshape(hb, block, wb, block, c,
                            1).transpose(0, 2, 4, 1, 3, 5)
    return np.mean(blocks, axis=(3, 4, 5))


def psa_aff_dataset_label(la, ha, cropsize, img_top_left=(0, 0)):
    """VOC12AffDataset.__getitem__'s label with RandomCrop placing an image
    smaller than the crop at ``img_top_left`` of its container, no flip."""
    label = np.array(list(la.values()) + list(ha.values()))
    label = np.transpose(label, (1, 2, 0))
    h, w = label.shape[:2]
    top, left = img_top_left
    container = np.zeros((cropsize, cropsize, label.shape[-1]), np.float32)
    container[top:top + h, left:left + w] = label
    label = psa_block_mean(container, 8)
    no_score_region = np.max(label, -1) < 1e-5
    label_la, label_ha = np.array_split(label, 2, axis=-1)
    label_la = np.argmax(label_la, axis=-1).astype(np.uint8)
    label_ha = np.argmax(label_ha, axis=-1).astype(np.uint8)
    label = label_la.copy()
    label[label_la == 0] = 255
    label[label_ha == 0] = 0
    label[no_score_region] = 255
    return psa_affinity_labels(label, cropsize // 8)


def random_crf_pair(rng, size, classes):
    """la / ha dicts ``{0: bg, c: map}`` of random 6 x 6 patches of one
    label each (plus noise), the ha with less background (a higher
    background power), and a 16 x 16 square without any score."""
    keys = [0] + list(classes)
    patches = rng.integers(0, len(keys), (-(-size[0] // 6), -(-size[1] // 6)))
    label = np.kron(patches, np.ones((6, 6), int))[:size[0], :size[1]]
    la = (np.eye(len(keys))[label].transpose(2, 0, 1) * 0.6 +
          rng.random((len(keys), ) + size) * 0.4).astype(np.float32)
    ha = la.copy()
    ha[0] *= 0.6
    for maps in (la, ha):
        maps[:, 16:32, 16:32] = 0
    return dict(zip(keys, la)), dict(zip(keys, ha))


def test_label_transform_equals_psa(tmp_path):
    from mmcv.transforms import Compose

    from mmrn38.models.heads.affinity_head import (affinity_labels,
                                                   affinity_pair_indices)
    rng = np.random.default_rng(0)
    size, crop = (75, 69), 80
    la, ha = random_crf_pair(rng, size, (3, 15))
    paths = {}
    for kind, scores in (('la', la), ('ha', ha)):
        paths[f'{kind}_crf_path'] = str(tmp_path / f'{kind}.npy')
        np.save(paths[f'{kind}_crf_path'], scores)
    pipeline = Compose([
        MMSEG_TRANSFORMS.build(t) for t in (
            dict(type='LoadCRFScores'),
            dict(type='AffinityLabelFromCRF', stride=8),
            dict(type='Pad', size=(crop, crop), pad_val=dict(img=0, seg=255)))
    ])
    results = pipeline(dict(img=np.zeros(size + (3, ), np.uint8), **paths))
    gt = results['gt_seg_map']
    assert gt.shape == (crop, crop) and gt.dtype == np.uint8
    label = torch.from_numpy(gt[None, ::8, ::8].astype(np.int64))
    ours = affinity_labels(label, *affinity_pair_indices(5, (10, 10)))
    expected = psa_aff_dataset_label(la, ha, crop)
    for mine, theirs in zip(ours, expected):
        assert torch.equal(mine[0], theirs)
    # all three kinds of pairs occur, and ignored ones
    assert all(m.sum() > 0 for m in ours)
    assert sum(m.sum() for m in ours) < ours[0].numel()


def test_crf_files_errors(tmp_path):
    from mmrn38.datasets.transforms.affinity import LoadCRFScores
    from mmrn38.wsss import WSSSDataError
    rng = np.random.default_rng(0)
    la, ha = random_crf_pair(rng, (40, 40), (3, ))
    np.save(tmp_path / 'la.npy', la)
    del ha[3]
    np.save(tmp_path / 'ha.npy', ha)
    results = dict(
        img=np.zeros((40, 40, 3), np.uint8),
        la_crf_path=str(tmp_path / 'la.npy'),
        ha_crf_path=str(tmp_path / 'ha.npy'))
    with pytest.raises(WSSSDataError, match='CRF labels'):
        LoadCRFScores()(dict(results))
    with pytest.raises(WSSSDataError, match='not the image size'):
        LoadCRFScores()(
            dict(
                results,
                img=np.zeros((40, 41, 3), np.uint8),
                ha_crf_path=results['la_crf_path']))


# --------------------------------------------------------------------------
# the config through tools/train.py on generated VOC-layout data
# --------------------------------------------------------------------------
def test_config_trains_with_tools_train(tmp_path):
    """configs/wsss/rn38_voc_aff.py changed only in paths, network width
    and run length: a real epoch through the Runner, then its checkpoint
    in AffinityNet."""
    data_root, la_dir, ha_dir = write_voc_affinity(
        str(tmp_path), num_images=4, size=(88, 72))
    c = [scaled_channels(n, WIDTH) for n in (512, 1024, 4096, 64, 128, 256)]
    config = write_config(
        tmp_path / 'train_aff.py', 'wsss/rn38_voc_aff.py', f'''
        data_root = {data_root!r}
        crop_size = (80, 80)
        model = dict(
            data_preprocessor=dict(size=crop_size),
            backbone=dict(width={WIDTH}, init_cfg=None),
            head=dict(in_channels={c[:3]}, channels={c[3:]}))
        train_dataloader = dict(
            batch_size=2, num_workers=0, persistent_workers=False,
            dataset=dict(
                data_root=data_root, la_crf_dir={la_dir!r},
                ha_crf_dir={ha_dir!r}))
        train_cfg = dict(max_epochs=1)
        param_scheduler = dict(end=1)
        default_hooks = dict(logger=dict(interval=1))
        ''')
    work_dir = tmp_path / 'work'
    pipeline = 'train_dataloader.dataset.pipeline'
    log = run_tool_here('train.py', config, '--work-dir', work_dir,
                        '--cfg-options', f'{pipeline}.5.crop_size=(80,80)',
                        f'{pipeline}.8.size=(80,80)')
    assert 'Epoch(train) [1][2/2]' in log
    lines = [line for line in log.splitlines() if 'Epoch(train)' in line]
    assert len(lines) == 2
    for line in lines:
        logged = {
            k: float(v)
            for k, v in re.findall(r'(\w+): (-?[0-9.]+)', line)
        }
        # PSA's loss, the sum of the weighted terms; every kind of pair
        assert logged['loss'] == pytest.approx(
            logged['loss_bg'] + logged['loss_fg'] + logged['loss_neg'],
            abs=2e-4)
        assert min(logged[f'count_{k}'] for k in ('bg', 'fg', 'neg')) > 0
    checkpoint = torch.load(work_dir / 'epoch_1.pth', weights_only=True)
    model = MMSEG_MODELS.build(Config.fromfile(config).model)
    model.load_state_dict(checkpoint['state_dict'], strict=True)


def test_aff_conversion_errors(psa_aff, tmp_path):
    from mmrn38.converters import ConversionError, convert_rn38_weights
    net, _, checkpoint = psa_aff
    state = net.state_dict()
    path = str(tmp_path / 'res38_aff.pth')
    torch.save(state, path)
    with pytest.raises(ConversionError, match='no classifier'):
        convert_rn38_weights(path, num_classes=20)
    with pytest.raises(ConversionError, match='not a cam head'):
        convert_rn38_weights(path, task='cam')
    # the backbone alone, the head dropped and listed
    backbone = convert_rn38_weights(path, task='backbone')
    assert sorted(backbone.dropped) == [
        'f8_3.weight', 'f8_4.weight', 'f8_5.weight', 'f9.weight'
    ]
    # PSA's released files (torch 0.3 / 0.4) have no num_batches_tracked
    released = {
        k: v
        for k, v in state.items() if not k.endswith('num_batches_tracked')
    }
    torch.save(released, path)
    converted = convert_rn38_weights(path).checkpoint['state_dict']
    assert converted.keys() == checkpoint['state_dict'].keys()
    assert all(
        torch.equal(converted[k], v)
        for k, v in checkpoint['state_dict'].items()
        if not k.endswith('num_batches_tracked'))
    del state['f8_4.weight']
    torch.save(state, path)
    with pytest.raises(ConversionError, match='no f8_4.weight'):
        convert_rn38_weights(path)


def test_optimiser_is_train_aff_as_psa_ran():
    """PSA's groups of train_aff.py as its PolyOptimizer built them: the
    backbone's trained weights at lr 0.1, the head's (from_scratch_layers)
    at 1.0, both with weight decay 5e-4, SGD momentum 5e-4 (its weight
    decay in SGD's momentum slot); the poly lr over the config's 8
    epochs."""
    from mmengine.optim import build_optim_wrapper
    cfg = Config.fromfile(AFF_CONFIG)
    assert cfg.param_scheduler.end == cfg.train_cfg.max_epochs == 8
    assert cfg.param_scheduler.type == 'PolyLR'
    assert cfg.param_scheduler.power == 0.9
    model = MMSEG_MODELS.build(tiny_model_cfg())
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    assert isinstance(optimizer, torch.optim.SGD)
    names = {p: n for n, p in model.named_parameters()}
    trained = 0
    for group in optimizer.param_groups:
        for param in group['params']:
            if not param.requires_grad:
                continue
            trained += 1
            head = names[param].startswith('head.')
            assert group['lr'] == pytest.approx(1.0 if head else 0.1)
            assert group['weight_decay'] == 5e-4
            assert group['momentum'] == 5e-4
            assert not group['nesterov'] and group['dampening'] == 0
    assert trained == sum(p.requires_grad for p in model.parameters())


def test_affinity_net_needs_psa_taps():
    cfg = tiny_model_cfg()
    cfg.backbone.out_indices = (5, )
    with pytest.raises(ValueError, match=r'out_indices=\(2, 3, 5\)'):
        MMSEG_MODELS.build(cfg)
    with pytest.raises(ValueError, match='mode must be'):
        MMSEG_MODELS.build(tiny_model_cfg())(
            torch.zeros(1, 3, 16, 16), mode='predict')
