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
from psa_aff import psa_random_walk

from mmrn38.synthetic import render_scene
from mmrn38.wsss.random_walk import (padded_size, score_stack, walk,
                                     walk_labels, walk_peak_bytes)

# odd sizes (H, W) and the classes (1..20) drawn in them; AffinityNet's
# pairs of radius 5 need feature maps of at least 5 x 9 (H, W >= 33, 65)
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
        cam = F.interpolate(coarse**3, shape, mode='bilinear',
                            align_corners=False)[0, 0].numpy()
        cams[cls - 1] = cam / (cam.max() + 1e-5)
    return cams


def random_affinity(rng, n):
    """A symmetric ``(n, n)`` matrix of PSA's kind: 1 on the diagonal, in
    (0, 1] elsewhere on a band, 0 beyond."""
    aff = rng.random((n, n), np.float32)
    aff = np.triu(aff, 1) * (np.abs(np.subtract.outer(
        np.arange(n), np.arange(n))) < 7)
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
    walked = walk(torch.from_numpy(scores),
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
