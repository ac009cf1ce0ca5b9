"""PSA's random walk (issue 20): tools/wsss/random_walk.py against a
plain-PyTorch transcription of PSA's resnet38_aff forward and infer_aff.py
(tests/helpers/psa_aff.py) on images of odd sizes, and its bad input.
Networks are width 1/16, images under 100 pixels a side."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from psa_aff import psa_normalize, psa_random_aff_net, psa_random_walk
from rn38_testing import load_tool, write_config

from mmrn38.synthetic import render_scene
from mmrn38.wsss.random_walk import (padded_size, score_stack, walk,
                                     walk_labels, walk_peak_bytes)

# odd sizes (H, W) and the classes (1..20) drawn in them; AffinityNet's
# pairs of radius 5 need feature maps of at least 5 x 9 (H, W >= 33, 65)
WIDTH = 1 / 16
IMAGES = {
    '2007_000001': ((75, 83), (3, 15)),
    '2007_000002': ((67, 97), (7, )),
    '2007_000003': ((81, 73), (1, 12, 20)),
}


def smooth_cams(rng, shape, classes):
    """PSA-style CAM dict: ``{class - 1: (H, W) float32}``, smooth blobs
    normalised to ``max / (max + 1e-5)``."""
    cams = {}
    for cls in classes:
        coarse = torch.from_numpy(rng.random((1, 1, 4, 5), np.float32))
        cam = F.interpolate(
            coarse**3, shape, mode='bilinear', align_corners=False)[0,
                                                                    0].numpy()
        cams[cls - 1] = cam / (cam.max() + 1e-5)
    return cams


def random_affinity(rng, n):
    """A symmetric ``(n, n)`` matrix of PSA's kind: 1 on the diagonal, in
    (0, 1] elsewhere on a band, 0 beyond."""
    aff = rng.random((n, n), np.float32)
    aff = np.triu(aff, 1) * (
        np.abs(np.subtract.outer(np.arange(n), np.arange(n))) < 7)
    return torch.from_numpy(aff + aff.T + np.eye(n, dtype=np.float32))


# --------------------------------------------------------------------------
# the walk itself, on the same affinities
# --------------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(IMAGES))
def test_walk_matches_psa(name):
    """score_stack -> walk -> walk_labels (the dict's classes only) gives
    PSA's labels (all 21 channels) for the same affinity matrix."""
    rng = np.random.default_rng(0)
    (h, w), classes = IMAGES[name]
    cams = smooth_cams(rng, (h, w), classes)
    h8, w8 = padded_size(h, w)
    aff = random_affinity(rng, h8 * w8 // 64)
    expected = psa_random_walk(lambda img: aff.clone(),
                               torch.zeros(1, 3, h, w), cams)
    keys, scores = score_stack(cams, (h, w), 16)
    assert keys == sorted(c - 1 for c in classes)
    walked = walk(torch.from_numpy(scores), aff.clone(), 8, 8)
    labels = walk_labels(walked, keys)
    assert labels.dtype == np.uint8 and labels.shape == (h, w)
    assert (labels == expected).mean() >= 0.999
    # the walk moved the labels away from the CAMs' argmax
    assert (labels != walk_labels(torch.from_numpy(scores), keys)).any()
    assert set(np.unique(labels)) <= {0} | set(classes)


def test_walk_without_classes_is_background():
    keys, scores = score_stack({}, (40, 72), 16)
    assert keys == [] and scores.shape == (1, 40, 72)
    assert (scores == 1).all()
    walked = walk(
        torch.from_numpy(scores),
        random_affinity(np.random.default_rng(0), 45), 8, 8)
    assert (walk_labels(walked, keys) == 0).all()


def test_walk_peak_bytes():
    """The walk allocates one (N, N) matrix beside the model's: two in
    all, as walk_peak_bytes says."""
    from mmrn38.utils.memory_tracker import TensorMemoryTracker

    # 500x500: N = 63 * 63, two float32 (N, N) matrices
    assert walk_peak_bytes(500, 500) == 2 * 3969**2 * 4
    assert padded_size(500, 375) == (504, 376)
    h, w = 150, 200
    n = (152 // 8) * (200 // 8)
    keys, scores = score_stack({}, (h, w), 16)
    aff = random_affinity(np.random.default_rng(0), n)
    with TensorMemoryTracker() as tracker:
        walk(torch.from_numpy(scores), aff, 8, 8)
    matrix = n * n * 4
    assert matrix <= tracker.peak <= matrix + 4 * h * w * 4
    assert walk_peak_bytes(h, w) == 2 * matrix


# --------------------------------------------------------------------------
# fixtures: VOC-layout images of odd sizes (no masks) and their CAM dicts
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """``VOC2012`` with the IMAGES (split ``odd``) and no masks: the walk
    needs only the images."""
    root = tmp_path_factory.mktemp('rw') / 'VOC2012'
    rng = np.random.default_rng(0)
    for folder in ('JPEGImages', 'ImageSets/Segmentation'):
        os.makedirs(root / folder)
    for name, (size, classes) in IMAGES.items():
        img, _ = render_scene(rng, size, classes, max_objects=3)
        Image.fromarray(img).save(root / 'JPEGImages' / f'{name}.jpg')
    (root / 'ImageSets/Segmentation/odd.txt').write_text(''.join(
        f'{n}\n' for n in IMAGES))
    return str(root)


@pytest.fixture(scope='module')
def cam_dir(tmp_path_factory):
    """PSA-format CAM dicts of the IMAGES."""
    folder = tmp_path_factory.mktemp('cams')
    rng = np.random.default_rng(1)
    for name, (size, classes) in IMAGES.items():
        np.save(folder / f'{name}.npy', smooth_cams(rng, size, classes))
    return str(folder)


def run_bad(capsys, *args):
    """tools/wsss/random_walk.py's main with ``args``: its one error
    line (the last of stderr; a first import may warn above it)."""
    assert load_tool('wsss/random_walk.py').main(list(map(str, args))) == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert sum('error' in line for line in lines) == 1
    return lines[-1]


def test_random_walk_bad_input(voc_root, cam_dir, tmp_path, capsys):
    """Checked before the model is built and anything is written."""
    out = tmp_path / 'rw'
    common = [
        'config.py', 'missing.pth', '--data-root', voc_root, '--out-rw', out
    ]
    assert run_bad(capsys, *common, '--split', 'nope', '--cam-dir',
                   cam_dir).startswith('random_walk: error: no split list')
    assert run_bad(capsys, *common, '--split', 'odd', '--cam-dir',
                   tmp_path) == (f'random_walk: error: 3 of the 3 images of '
                                 f'odd have no CAM file in {tmp_path} (e.g. '
                                 f'2007_000001.npy)')
    assert run_bad(
        capsys, 'c.py', 'k.pth', '--data-root', voc_root, '--split', 'odd',
        '--cam-dir',
        cam_dir) == ('random_walk: error: nothing to write: give --out-rw '
                     'and/or --out-rw-npy')
    assert 'logt at least 0' in run_bad(capsys, *common, '--split', 'odd',
                                        '--cam-dir', cam_dir, '--logt', '-1')
    # a map of another size, a class beyond the labels, not a dict
    bad = tmp_path / 'bad'
    bad.mkdir()
    for name in IMAGES:
        os.link(osp.join(cam_dir, f'{name}.npy'), bad / f'{name}.npy')
    last = bad / '2007_000003.npy'
    os.remove(last)
    np.save(last, {0: np.zeros((81, 72), np.float32)})
    assert run_bad(capsys, *common, '--split', 'odd', '--cam-dir',
                   bad).endswith('2007_000003.npy: maps of (81, 72) for an '
                                 'image of (81, 73)')
    np.save(last, {20: np.zeros((81, 73), np.float32)})
    assert run_bad(capsys, *common, '--split', 'odd', '--cam-dir',
                   bad).endswith('class index 20 does not fit 21 labels')
    np.save(last, np.zeros(3))
    assert 'not a CAM dict' in run_bad(capsys, *common, '--split', 'odd',
                                       '--cam-dir', bad)
    assert not out.exists()


# --------------------------------------------------------------------------
# tools/wsss/random_walk.py against PSA's resnet38_aff + infer_aff.py
# --------------------------------------------------------------------------
@pytest.fixture(scope='module')
def tiny_config(tmp_path_factory):
    """configs/wsss/rn38_voc_aff.py at width 1/16 (head included), no
    pretrained weights."""
    path = tmp_path_factory.mktemp('cfg') / 'tiny_aff.py'
    return write_config(
        path, 'wsss/rn38_voc_aff.py', f'''
        model = dict(
            backbone=dict(width={WIDTH}, init_cfg=None),
            head=dict(in_channels=(32, 64, 256), channels=(4, 8, 16)))
        ''')


@pytest.fixture(scope='module')
def psa_checkpoint(tmp_path_factory):
    """A file as PSA's train_aff.py saves it (res38_aff.pth: the state
    dict of resnet38_aff.Net), converted by
    tools/model_converters/rn38_to_mm.py without options."""
    folder = tmp_path_factory.mktemp('psa')
    net = psa_random_aff_net(WIDTH)
    src, dst = str(folder / 'res38_aff.pth'), str(folder / 'rn38_aff.pth')
    torch.save(net.state_dict(), src)
    assert load_tool('model_converters/rn38_to_mm.py').main([src, dst]) == 0
    return net, dst


def test_random_walk_matches_psa(psa_checkpoint, tiny_config, voc_root,
                                 cam_dir, tmp_path, device):
    """The same random weights through a PSA-format res38_aff.pth and the
    converter: the same labels on >= 99.9 % of the pixels."""
    net, dst = psa_checkpoint
    out_rw, out_npy = tmp_path / 'rw', tmp_path / 'rw_npy'
    assert load_tool('wsss/random_walk.py').main([
        tiny_config, dst, '--data-root', voc_root, '--split', 'odd',
        '--cam-dir', cam_dir, '--out-rw',
        str(out_rw), '--out-rw-npy',
        str(out_npy), '--device',
        str(device)
    ]) == 0
    agree = total = 0
    for name, ((h, w), classes) in IMAGES.items():
        with Image.open(osp.join(voc_root, 'JPEGImages',
                                 f'{name}.jpg')) as jpg:
            image = np.asarray(jpg.convert('RGB'))
        cams = np.load(
            osp.join(cam_dir, f'{name}.npy'), allow_pickle=True).item()
        expected = psa_random_walk(lambda x: net(x, True),
                                   psa_normalize(image), cams)
        with Image.open(out_rw / f'{name}.png') as png:
            assert png.mode == 'P' and png.size == (w, h)
            labels = np.asarray(png)
        agree += (labels == expected).sum()
        total += labels.size
        walked = np.load(out_npy / f'{name}.npy', allow_pickle=True).item()
        assert sorted(walked) == [0] + sorted(classes)
        assert all(m.shape == (h, w) and m.dtype == np.float32
                   for m in walked.values())
        stack = np.stack([walked[k] for k in sorted(walked)])
        assert np.array_equal(
            np.asarray(sorted(walked))[stack.argmax(0)], labels)
    assert agree / total >= 0.999, agree / total


def test_random_walk_checkpoint_must_fit(psa_checkpoint, voc_root, cam_dir,
                                         tmp_path, capsys):
    _, dst = psa_checkpoint
    other = write_config(
        tmp_path / 'wide.py', 'wsss/rn38_voc_aff.py', '''
        model = dict(backbone=dict(width=1 / 8, init_cfg=None),
                     head=dict(in_channels=(64, 128, 512),
                               channels=(8, 16, 32)))
        ''')
    out = tmp_path / 'rw'
    assert 'does not fit' in run_bad(capsys, other, dst, '--data-root',
                                     voc_root, '--split', 'odd', '--cam-dir',
                                     cam_dir, '--out-rw', out)
    assert not out.exists()
