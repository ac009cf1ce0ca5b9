"""The training labels of PSA's AffinityNet (``voc12/data.py``:
``VOC12AffDataset``) as mmseg pipeline steps (imported by
:mod:`mmrn38.wsss`).

PSA stacks an image's la and ha CRF score maps (make_cams.py
``--out-la-crf`` / ``--out-ha-crf``: the CAMs refined with a low and a high
background power) as extra channels of the image, crops and flips them with
it, average-pools them over 8 x 8 blocks and labels each block: the la
argmax where it is a class (confident foreground), background where the ha
argmax is background (confident background), ignored elsewhere and where no
score reaches it (padding). :class:`LoadCRFScores` puts the scores in
``gt_seg_map`` so that mmseg's crop and mmcv's flip move them with the
image; :class:`AffinityLabelFromCRF` makes the block labels after them.
"""
import numpy as np
from mmcv.transforms import BaseTransform

from mmrn38.registry import MMSEG_TRANSFORMS, register

IGNORE_INDEX = 255
NO_SCORE = 1e-5  # PSA: blocks whose every score is below are ignored


@register(MMSEG_TRANSFORMS)
class LoadCRFScores(BaseTransform):
    """Load an image's la and ha CRF label files (PSA's format:
    ``np.save`` of ``{0: background, c + 1: class c}`` ``(H, W)`` score
    maps; read with ``allow_pickle``, so only files you trust).

    Required keys: ``img``, ``la_crf_path``, ``ha_crf_path``.

    Added keys: ``gt_seg_map`` ``(H, W, 2K)`` float32, the K la maps then
    the K ha maps, labels in ascending order; ``crf_labels`` ``(K,)`` int64,
    those labels (0 = background); ``seg_fields`` gets ``gt_seg_map``.

    Raises:
        WSSSDataError: An unreadable file, la and ha files with other
            labels, or maps of another size than the image.
    """

    def transform(self, results: dict) -> dict:
        # mmrn38.wsss imports this module: imported here, not circularly
        from mmrn38.wsss.data import WSSSDataError
        from mmrn38.wsss.evaluation import load_cam_dict
        la_path, ha_path = results['la_crf_path'], results['ha_crf_path']
        la, ha = load_cam_dict(la_path), load_cam_dict(ha_path)
        labels = sorted(la)
        if sorted(ha) != labels or 0 not in labels:
            raise WSSSDataError(f'{la_path} and {ha_path}: CRF labels '
                                f'{labels} and {sorted(ha)} (both need the '
                                f'same, with 0 for background)')
        size = results['img'].shape[:2]
        maps = [la[k] for k in labels] + [ha[k] for k in labels]
        if any(np.shape(m) != size for m in maps):
            raise WSSSDataError(f'{la_path} and {ha_path}: score maps of '
                                f'{np.shape(maps[0])}, not the image size '
                                f'{size}')
        results['gt_seg_map'] = np.stack(maps, axis=-1).astype(np.float32)
        results['crf_labels'] = np.array(labels, dtype=np.int64)
        fields = results.setdefault('seg_fields', [])
        if 'gt_seg_map' not in fields:
            fields.append('gt_seg_map')
        return results


@register(MMSEG_TRANSFORMS)
class AffinityLabelFromCRF(BaseTransform):
    """PSA's AffinityNet label of the (cropped, flipped) CRF scores.

    The ``(h, w, 2K)`` scores are averaged over ``stride x stride`` blocks
    from the top-left corner (zeros beyond the edge, as PSA's
    ``AvgPool2d``); a block is labelled with the la argmax, set to
    ``IGNORE_INDEX`` where that is background, then to background where
    the ha argmax is, and to ``IGNORE_INDEX`` where no score reaches
    ``1e-5``. Each block's label fills the block: ``gt_seg_map`` becomes
    ``(h, w)`` uint8, constant on blocks, which later steps may only pad
    at the bottom and right (mmcv's ``Pad``, ``seg=255``) so that
    :class:`~mmrn38.models.segmentors.affinity_net.AffinityNet` reads the
    labels at the block corners.

    Required keys: ``gt_seg_map`` (of :class:`LoadCRFScores`),
    ``crf_labels``. Modified keys: ``gt_seg_map``.

    Args:
        stride (int): The network's output stride (PSA: 8).
    """

    def __init__(self, stride: int = 8):
        if not isinstance(stride, int) or stride < 1:
            raise ValueError(f'stride must be a positive int, got '
                             f'{stride!r}')
        self.stride = stride

    def transform(self, results: dict) -> dict:
        scores, labels = results['gt_seg_map'], results['crf_labels']
        s = self.stride
        h, w, channels = scores.shape
        rows, cols = -(-h // s), -(-w // s)
        padded = np.zeros((rows * s, cols * s, channels), np.float32)
        padded[:h, :w] = scores
        pooled = padded.reshape(rows, s, cols, s, channels).mean((1, 3))
        num = len(labels)
        la = labels[pooled[..., :num].argmax(-1)]
        ha = labels[pooled[..., num:].argmax(-1)]
        label = np.where(la == 0, IGNORE_INDEX, la)
        label[ha == 0] = 0
        label[pooled.max(-1) < NO_SCORE] = IGNORE_INDEX
        label = np.repeat(np.repeat(label, s, axis=0), s, axis=1)[:h, :w]
        results['gt_seg_map'] = label.astype(np.uint8)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(stride={self.stride})'
