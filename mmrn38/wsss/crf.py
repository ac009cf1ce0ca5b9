"""PSA's CRF step (``infer_cls.py --out_la_crf / --out_ha_crf``): CAMs with
a background score, refined by a fully connected CRF (Krähenbühl and
Koltun's mean-field inference, through ``pydensecrf2``), in PSA's file
format. AffinityNet learns from two of them: with a low ``alpha`` (4) the
background score is strong (``1 - max cam`` < 1 raised to a small power), so
the foreground that remains is confident; with a high one (32) it is weak,
so the background that remains is confident.

For an image ``(H, W, 3)`` and its CAM dict ``{class c: (H, W)}``:

1. background ``(1 - max_c cam_c) ** alpha``, stacked before the maps;
2. the stack taken as probabilities, unnormalised as PSA: unary
   ``-log(clip(p, 1e-5, 1))`` (``pydensecrf.utils.unary_from_softmax``);
3. a Gaussian pairwise term (``sxy=3``, ``compat=3``) and a bilateral one
   (``sxy=80``, ``srgb=13``, ``compat=10``), both ``sxy`` divided by
   ``scale_factor`` (1), 10 mean-field iterations;
4. the marginals as ``{0: background, c + 1: class c}``, float32.

``pydensecrf2`` (installed by ``tools/setup_env.sh``) is imported when a CRF
runs, so the rest of :mod:`mmrn38.wsss` works without it.
"""
from typing import Dict

import numpy as np

from .data import WSSSDataError

ITERATIONS = 10  # PSA's crf_inference(t=10)
GAUSSIAN = dict(sxy=3, compat=3)
BILATERAL = dict(sxy=80, srgb=13, compat=10)
LOW_ALPHA = 4  # infer_cls.py's --low_alpha
HIGH_ALPHA = 32  # and --high_alpha


def densecrf():
    """``pydensecrf``'s ``densecrf`` and ``utils`` modules.

    Raises:
        WSSSDataError: ``pydensecrf2`` is not installed.
    """
    try:
        import pydensecrf.densecrf as dcrf
        import pydensecrf.utils as utils
    except ImportError:
        raise WSSSDataError(
            'the CRF step needs pydensecrf2 (tools/setup_env.sh installs '
            'it; elsewhere: pip install pydensecrf2)') from None
    return dcrf, utils


def crf_inference(image: np.ndarray,
                  probs: np.ndarray,
                  iterations: int = ITERATIONS,
                  scale_factor: float = 1.) -> np.ndarray:
    """Dense-CRF marginals of per-pixel label probabilities, as PSA's
    ``tool/imutils.py`` ``crf_inference``.

    Args:
        image: ``(H, W, 3)`` uint8 RGB, the bilateral term's colours.
        probs: ``(C, H, W)`` non-negative scores, read as probabilities
            (not normalised; values clipped to [1e-5, 1] for the unary).
        iterations: Mean-field iterations.
        scale_factor: Divides both terms' spatial ``sxy``.

    Returns:
        ``(C, H, W)`` float32 marginals (each pixel's sum is 1).

    Raises:
        ValueError: Not a uint8 RGB image of the maps' size.
    """
    if image.dtype != np.uint8 or image.shape != probs.shape[1:] + (3, ):
        raise ValueError(f'crf_inference needs a uint8 (H, W, 3) image of '
                         f'the maps\' size {probs.shape[1:]}, got '
                         f'{image.dtype} {image.shape}')
    dcrf, utils = densecrf()
    num_labels, h, w = probs.shape
    crf = dcrf.DenseCRF2D(w, h, num_labels)
    crf.setUnaryEnergy(
        np.ascontiguousarray(utils.unary_from_softmax(probs)))
    crf.addPairwiseGaussian(
        sxy=GAUSSIAN['sxy'] / scale_factor, compat=GAUSSIAN['compat'])
    crf.addPairwiseBilateral(
        sxy=BILATERAL['sxy'] / scale_factor,
        srgb=BILATERAL['srgb'],
        rgbim=np.copy(image, order='C'),  # a writable buffer
        compat=BILATERAL['compat'])
    return np.asarray(crf.inference(iterations),
                      np.float32).reshape(num_labels, h, w)


def crf_with_alpha(image: np.ndarray, cams: Dict[int, np.ndarray],
                   alpha: float) -> Dict[int, np.ndarray]:
    """PSA's ``_crf_with_alpha``: CRF over the background
    ``(1 - max cam) ** alpha`` and the image's CAMs.

    Args:
        image: ``(H, W, 3)`` uint8 RGB.
        cams: ``{class index c: (H, W) float}`` in [0, 1] (a CAM dict of
            :func:`~mmrn38.wsss.cams.cam_dict`).
        alpha: Power of the background score.

    Returns:
        ``{0: background, c + 1: class c}`` of ``(H, W)`` float32 CRF
        marginals. An image without classes gets ``{0: ones}`` (the CRF of
        a single label; PSA's code fails there).
    """
    keys = list(cams)
    shape = image.shape[:2]
    maps = np.stack([cams[k] for k in keys]) if keys else np.zeros(
        (0, ) + shape, np.float32)
    peak = maps.max(axis=0, keepdims=True) if keys else np.zeros(
        (1, ) + shape, maps.dtype)
    scores = np.concatenate([np.power(1 - peak, alpha), maps])
    marginals = crf_inference(image, scores)
    crf = {0: marginals[0]}
    crf.update({int(k) + 1: marginals[i + 1] for i, k in enumerate(keys)})
    return crf
