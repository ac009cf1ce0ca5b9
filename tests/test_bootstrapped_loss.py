"""The original's bootstrapped softmax ("OHEM", ademxapp's ``OhemSoftmax``)
through the shipped VOC head's mmseg loss path, against a direct numpy
transcription of the rule."""
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.structures import PixelData
from mmseg.registry import MODELS
from mmseg.structures import SegDataSample
from rn38_testing import REPO, build_wider_head

import mmrn38  # noqa: F401

IGNORE = 255


def reference_grad(scores, labels, thresh=0.6, min_kept=256):
    """Gradient of the original's loss w.r.t. stride-8 scores.

    scores: (N, K, h, w) float64; labels: (N, H, W) full resolution. Labels
    are taken at offset 4, stride 8; over the valid pixels of the batch p is
    the softmax probability of the true class; the threshold is ``thresh``
    raised to the ``min_kept``-th smallest p; kept pixels (p <= threshold,
    or all valid ones when there are at most ``min_kept``) get
    (p - onehot) / max(1, kept), the others 0.
    """
    n, k, h, w = scores.shape
    label = labels[:, 4::8, 4::8].reshape(-1)
    x = np.moveaxis(scores, 1, 0).reshape(k, -1)
    prob = np.exp(x - x.max(axis=0))
    prob /= prob.sum(axis=0)
    valid = np.where(label != IGNORE)[0]
    cls = label[valid]
    if len(valid) > min_kept:
        p = prob[cls, valid]
        threshold = thresh
        kth = p[p.argsort()[min(len(p), min_kept) - 1]]
        if kth > thresh:
            threshold = kth
        keep = p <= threshold
        valid, cls = valid[keep], cls[keep]
    grad = np.zeros_like(prob)
    grad[:, valid] = prob[:, valid]
    grad[cls, valid] -= 1.
    grad /= max(1, len(valid))
    return np.moveaxis(grad.reshape(k, n, h, w), 0, 1)


def shipped_voc_head():
    cfg = Config.fromfile(f'{REPO}/configs/rn38_voc.py')
    head_cfg = cfg.model.decode_head.copy()
    head_cfg.update(in_channels=8, channels=4, norm_cfg=dict(type='BN'))
    return MODELS.build(head_cfg)


def samples_of(labels):
    out = []
    for label in labels:
        sample = SegDataSample(
            metainfo=dict(img_shape=label.shape, pad_shape=label.shape))
        sample.gt_sem_seg = PixelData(data=torch.from_numpy(label)[None])
        out.append(sample)
    return out


@pytest.mark.parametrize(
    'case',
    [
        'threshold',  # many valid pixels, most above 0.6: the 0.6 rule decides
        'min_kept',  # confident scores: the 256th smallest p raises the bar
        'few_valid',  # at most 256 valid pixels: all are kept
        'all_ignored',
    ])
def test_loss_by_feat_gradient_matches_the_original(case):
    rng = np.random.default_rng(0)
    n, k, h, w = 2, 21, 15, 13
    labels = rng.integers(0, k, (n, 8 * h, 8 * w)).astype(np.int64)
    labels[rng.random(labels.shape) < 0.2] = IGNORE
    scores = rng.normal(0, 2, (n, k, h, w))
    if case == 'threshold':
        scores[:, 3] += 6  # class 3 gets p > 0.6 where it is the label
    elif case == 'min_kept':
        sub = labels[:, 4::8, 4::8]
        onehot = np.eye(k)[np.where(sub == IGNORE, 0, sub)]
        scores += 8 * np.moveaxis(onehot, -1, 1)  # nearly every p > 0.6
    elif case == 'few_valid':
        labels[:, :, 8 * 6:] = IGNORE
    else:
        labels[:] = IGNORE
    head = shipped_voc_head()
    seg_logits = torch.tensor(scores, dtype=torch.float32, requires_grad=True)
    losses = head.loss_by_feat(seg_logits, samples_of(labels))
    losses['loss_ce'].backward()
    expected = reference_grad(scores, labels)
    got = seg_logits.grad.double().numpy()
    if case == 'all_ignored':
        assert np.abs(got).max() == 0 and np.abs(expected).max() == 0
        return
    rel = np.abs(got - expected).max() / np.abs(expected).max()
    assert rel <= 1e-4, rel
    kept = np.abs(expected).sum(axis=1) > 0
    num_valid = (labels[:, 4::8, 4::8] != IGNORE).sum()
    if case == 'threshold':
        assert 256 < kept.sum() < num_valid
    elif case == 'min_kept':
        assert kept.sum() == 256
    elif case == 'few_valid':
        assert num_valid <= 256 and kept.sum() == num_valid


def test_labels_must_align_with_the_scores():
    head = shipped_voc_head()
    labels = np.zeros((1, 8 * 5, 8 * 6), np.int64)
    with pytest.raises(ValueError, match='do not match the scores'):
        head.loss_by_feat(torch.zeros(1, 21, 4, 6), samples_of(labels))


def test_mmseg_full_resolution_loss_stays_available():
    head = shipped_voc_head()
    plain = build_wider_head(in_channels=8, channels=4, num_classes=21)
    labels = np.zeros((1, 32, 32), np.int64)
    losses = plain.loss_by_feat(torch.zeros(1, 21, 4, 4), samples_of(labels))
    assert torch.isclose(losses['loss_ce'], torch.log(torch.tensor(21.)))
    assert head.label_stride == 8
