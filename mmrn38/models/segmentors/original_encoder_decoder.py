"""The test procedure of the original segmentation code (ademxapp
``issegm/voc.py``, ``_val_impl``) as an mmseg segmentor and TTA model."""
from typing import List, Optional, Tuple

import torch
from mmengine.model import BaseTTAModel
from mmengine.structures import PixelData
from mmseg.models.segmentors import EncoderDecoder
from mmseg.structures import SegDataSample
from PIL import Image
from torch import Tensor

from mmrn38.registry import MMSEG_MODELS, register
from ...datasets.transforms import adaptive_filter, resize_float_map


@register(MMSEG_MODELS)
class OriginalEncoderDecoder(EncoderDecoder):
    """``EncoderDecoder`` whose prediction is ademxapp's.

    Training is ``EncoderDecoder``'s. To predict, the (already resized and
    normalised) image is placed top-left on a zero canvas, the network's
    softmax probabilities are taken at its output stride ``s``, and each
    class's probability map is upsampled ``s`` times with PIL's bicubic
    filter (a = -0.5), cropped to the image and resized to the original
    image size with the adaptive filter of
    :func:`~mmrn38.datasets.transforms.adaptive_filter`; the label is the
    argmax. With ``steps`` > 1 (ADE20K's ``--test-steps 2``) the image is
    shifted by multiples of ``s / steps`` on ``steps`` x ``steps`` canvases
    whose outputs interleave into a map of stride ``s / steps``. A
    horizontally flipped input (``flip`` in its meta, e.g. the second view
    of the flip TTA) runs the whole canvas flipped, and its probabilities
    are flipped back, as the original's ``--test-flipping``;
    :class:`OriginalTTAModel` averages the views at that stride.

    ``test_cfg`` (one of ``crop_size`` and ``size_divisor``):

    - ``crop_size`` (tuple[int, int]): the canvas (h, w), e.g. ``(504,
      504)``, ``make_divisible(500, 8)`` of VOC and ADE20K;
    - ``size_divisor`` (int): the canvas is the resized image rounded up to
      a multiple of it (Cityscapes: 8);
    - ``steps`` (int, default 1): shifts per axis; divides ``s``.

    Both canvas sizes must be multiples of the backbone's ``out_stride``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cfg = dict(self.test_cfg or {})
        unknown = set(cfg) - {'crop_size', 'size_divisor', 'steps'}
        if unknown:
            raise ValueError(f'OriginalEncoderDecoder: unknown test_cfg keys '
                             f'{sorted(unknown)}; it takes crop_size or '
                             f'size_divisor, and steps')
        self.stride = getattr(self.backbone, 'out_stride', None)
        if not isinstance(self.stride, int):
            raise ValueError('OriginalEncoderDecoder needs a backbone with '
                             'an int out_stride')
        if ('crop_size' in cfg) == ('size_divisor' in cfg):
            raise ValueError('OriginalEncoderDecoder: test_cfg needs exactly '
                             'one of crop_size and size_divisor')
        self.crop_size = cfg.get('crop_size')
        self.size_divisor = cfg.get('size_divisor')
        canvas = tuple(self.crop_size) if self.crop_size is not None \
            else (self.size_divisor, )
        if any(not isinstance(v, int) or v < 1 or v % self.stride
               for v in canvas):
            raise ValueError(f'OriginalEncoderDecoder: the canvas sizes '
                             f'{canvas} must be positive multiples of the '
                             f'output stride {self.stride}')
        self.steps = cfg.get('steps', 1)
        if not isinstance(self.steps, int) or self.steps < 1 or \
                self.stride % self.steps:
            raise ValueError(f'OriginalEncoderDecoder: steps must be a '
                             f'positive divisor of the output stride '
                             f'{self.stride}, got {self.steps!r}')

    @property
    def pred_stride(self) -> int:
        """Stride of the probability maps: ``out_stride / steps``."""
        return self.stride // self.steps

    def canvas_size(self, height: int, width: int) -> Tuple[int, int]:
        """(h, w) of the canvas of a resized image of ``height`` x
        ``width``."""
        if self.size_divisor is not None:
            div = self.size_divisor
            return -(-height // div) * div, -(-width // div) * div
        canvas_h, canvas_w = self.crop_size
        if height > canvas_h or width > canvas_w:
            raise ValueError(f'the resized image ({height}x{width}) does not '
                             f'fit the canvas {canvas_h}x{canvas_w}')
        return canvas_h, canvas_w

    def _probs(self, canvas: Tensor) -> Tensor:
        """(3, H, W) canvas -> (K, H / s, W / s) softmax probabilities."""
        logits = self.decode_head.forward(self.extract_feat(canvas[None]))
        expected = tuple(size // self.stride for size in canvas.shape[-2:])
        if tuple(logits.shape[-2:]) != expected:
            raise ValueError(f'a {tuple(canvas.shape[-2:])} canvas gave '
                             f'{tuple(logits.shape[-2:])} scores, expected '
                             f'{expected} at stride {self.stride}')
        return logits[0].softmax(dim=0)

    def image_probs(self, img: Tensor, flip: bool = False) -> Tensor:
        """Probabilities of one resized, normalised image on its canvas.

        Args:
            img (Tensor): (3, h, w).
            flip (bool): Run the canvases flipped left-right and flip the
                probabilities back.

        Returns:
            Tensor: (K, H / p, W / p), ``(H, W)`` the canvas and ``p`` the
            :attr:`pred_stride`.
        """
        height, width = img.shape[-2:]
        canvas_h, canvas_w = self.canvas_size(height, width)
        step = self.pred_stride
        # the original reads shifted windows of the image framed by s / 2
        # zeros: window k starts at p / 2 + k p, the image content moves by
        # s / 2 - (p / 2 + k p)
        shifts = [
            self.stride // 2 - (step // 2 + k * step)
            for k in range(self.steps)
        ]
        probs = None
        for iy, dy in enumerate(shifts):
            for ix, dx in enumerate(shifts):
                canvas = img.new_zeros(3, canvas_h, canvas_w)
                canvas[:, max(dy, 0):height + min(dy, 0),
                       max(dx, 0):width + min(dx, 0)] = \
                    img[:, max(-dy, 0):height - max(dy, 0),
                        max(-dx, 0):width - max(dx, 0)]
                if flip:
                    out = self._probs(canvas.flip(-1)).flip(-1)
                else:
                    out = self._probs(canvas)
                if probs is None:
                    probs = out.new_zeros(out.shape[0],
                                          out.shape[1] * self.steps,
                                          out.shape[2] * self.steps)
                probs[:, iy::self.steps, ix::self.steps] = out
        return probs

    def predict_probs(
            self, inputs: Tensor,
            data_samples: List[SegDataSample]) -> List[SegDataSample]:
        """Canvas probabilities of a batch, stored as ``canvas_probs``.

        Args:
            inputs (Tensor): (N, 3, H, W), each image top-left, of size
                ``img_shape``.
            data_samples (list[SegDataSample]): Their metas (``img_shape``,
                ``ori_shape``, ``flip`` / ``flip_direction``).

        Returns:
            list[SegDataSample]: ``data_samples`` with ``canvas_probs``
            (K, H / p, W / p) of the unflipped image (see
            :meth:`image_probs`).
        """
        if data_samples is None:
            raise ValueError('OriginalEncoderDecoder needs the data samples '
                             '(img_shape, ori_shape) to predict')
        for img, sample in zip(inputs, data_samples):
            height, width = sample.img_shape
            img = img[:, :height, :width]
            flip = bool(sample.metainfo.get('flip', False))
            if flip:
                if sample.flip_direction != 'horizontal':
                    raise ValueError(f'OriginalEncoderDecoder flips '
                                     f'horizontally only, got '
                                     f'{sample.flip_direction!r}')
                img = img.flip(-1)
            sample.set_data(
                dict(
                    canvas_probs=PixelData(
                        data=self.image_probs(img, flip=flip))))
        return data_samples

    def postprocess_probs(
            self, data_samples: List[SegDataSample]) -> List[SegDataSample]:
        """Labels at the original image size from ``canvas_probs``.

        Each class map (H / p, W / p) is upsampled p times with PIL bicubic,
        cropped to ``img_shape`` and, unless that is ``ori_shape``, resized
        to ``ori_shape`` with the adaptive filter; then argmax.

        Returns:
            list[SegDataSample]: ``data_samples`` with ``pred_sem_seg``
            (1, H0, W0).
        """
        step = self.pred_stride
        for sample in data_samples:
            probs = sample.canvas_probs.data
            height, width = sample.img_shape
            ori_shape = tuple(sample.ori_shape[:2])
            maps = resize_float_map(
                probs.float().cpu().numpy(),
                (probs.shape[1] * step, probs.shape[2] * step),
                Image.Resampling.BICUBIC)[:, :height, :width]
            if (height, width) != ori_shape:
                maps = resize_float_map(
                    maps, ori_shape, adaptive_filter((height, width),
                                                     ori_shape))
            labels = torch.from_numpy(maps.argmax(axis=0)[None])
            sample.set_data(
                dict(pred_sem_seg=PixelData(data=labels.to(probs.device))))
        return data_samples

    def predict(
        self,
        inputs: Tensor,
        data_samples: Optional[List[SegDataSample]] = None
    ) -> List[SegDataSample]:
        """(N, 3, H, W) -> data samples with ``pred_sem_seg`` and
        ``canvas_probs``, by the original's procedure."""
        return self.postprocess_probs(self.predict_probs(inputs, data_samples))


@register(MMSEG_MODELS)
class OriginalTTAModel(BaseTTAModel):
    """The original's ``--test-flipping``: the views (unflipped and flipped,
    from ``TestTimeAug``) of an :class:`OriginalEncoderDecoder` are averaged
    as probabilities at its prediction stride, then post-processed once."""

    def test_step(self, data: dict) -> List[SegDataSample]:
        """``data``: ``inputs`` and ``data_samples``, one list per view."""
        num_views = len(data['inputs'])
        predictions = []
        for i in range(num_views):
            view = self.module.data_preprocessor(
                {
                    key: value[i]
                    for key, value in data.items()
                }, False)
            predictions.append(
                self.module.predict_probs(view['inputs'],
                                          view['data_samples']))
        return self.merge_preds(list(zip(*predictions)))

    def merge_preds(
            self, data_samples_list: List[List[SegDataSample]]
    ) -> List[SegDataSample]:
        """Per image, the list of its views -> one sample: ``canvas_probs``
        averaged, ``pred_sem_seg`` from them."""
        merged = []
        for views in data_samples_list:
            shapes = {tuple(view.canvas_probs.shape) for view in views}
            if len(shapes) != 1:
                raise ValueError(f'OriginalTTAModel averages views of one '
                                 f'scale, got canvas probabilities of '
                                 f'shapes {sorted(shapes)}')
            probs = torch.stack([view.canvas_probs.data for view in views])
            sample = views[0]
            sample.set_data(dict(canvas_probs=PixelData(data=probs.mean(0))))
            merged.append(sample)
        return self.module.postprocess_probs(merged)
