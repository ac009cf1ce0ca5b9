"""Export of mmseg segmentors holding ResNet-38 to ONNX, and its check.

The graph (:class:`OnnxSegmentor`) is mmseg's whole-image inference of one
image batch, normalisation and the final bilinear resize included:

- input ``image``: float32 ``(N, 3, H, W)``, RGB on the 0..255 scale;
- output ``logits``: float32 ``(N, num_classes, H, W)``, whose ``argmax``
  over axis 1 is the label map.

The exporter is torch's default one in torch 2.13, ``torch.onnx.export(...,
dynamo=True)``: it traces the model with ``torch.export`` (symbolic sizes
for ``dynamic``) and translates the graph with ``onnxscript``; the older
TorchScript exporter is deprecated. BN layers that follow a conv are folded
into it first (:func:`~mmrn38.optimize_for_inference` without its
CPU-runtime Winograd convs and memory layouts); the others export as
``BatchNormalization``. No custom operators.

A config's test-time resize (``Resize`` in its test pipeline, VOC's
2048x512) is the caller's step: the graph segments the image at the size it
is given, and :func:`verify_onnx` compares with mmseg's ``inference_model``
without that step.
"""
import copy
import errno
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from torch import Tensor

from ..utils.atomic_file import atomic_output

#: The default opset: the one torch 2.13's dynamo exporter writes its
#: operators in (torchlib); another goes through ONNX's version converter.
#: Run here by ONNX Runtime 1.32 and OpenVINO 2026.4.
DEFAULT_OPSET = 18
#: ``--verify``'s limits: max |ONNX - mmseg| logits relative to max |mmseg|
#: logits, and the share of pixels whose labels must agree.
MAX_RELATIVE_DIFF = 1e-4
MIN_LABEL_AGREEMENT = 0.9999

#: Why the original release's test procedure is not exported.
ORIGINAL_REFUSED = (
    'OriginalEncoderDecoder (the original release\'s test procedure: PIL '
    'resizing, zero canvases, PIL bicubic upsampling) is not a graph; export '
    'the checkpoint with the mmseg config the original one inherits (e.g. '
    'configs/rn38_voc.py)')


class ExportError(Exception):
    """A model or input the export cannot take, told in one line."""


class OnnxSegmentor(nn.Module):
    """The exported graph of an mmseg ``EncoderDecoder``: normalisation,
    backbone (and neck), decode head, bilinear resize to the input's size.

    Args:
        segmentor (EncoderDecoder): In eval mode, weights loaded. Its
            ``data_preprocessor``'s ``mean`` / ``std`` (when it normalises)
            move into the graph; its channel swap does not: the graph takes
            RGB.

    Shapes:
        input ``(N, 3, H, W)`` float32 RGB 0..255; output ``(N,
        num_classes, H, W)`` logits.
    """

    def __init__(self, segmentor: nn.Module):
        super().__init__()
        self.segmentor = segmentor
        preprocessor = segmentor.data_preprocessor
        self.normalize = bool(
            getattr(preprocessor, '_enable_normalize', False))
        if self.normalize:
            self.register_buffer(
                'mean',
                preprocessor.mean.detach().clone().view(1, -1, 1, 1))
            self.register_buffer(
                'std',
                preprocessor.std.detach().clone().view(1, -1, 1, 1))

    def forward(self, image: Tensor) -> Tensor:
        from mmseg.models.utils import resize
        x = (image - self.mean) / self.std if self.normalize else image
        head = self.segmentor.decode_head
        logits = head(self.segmentor.extract_feat(x))
        return resize(
            logits,
            size=image.shape[2:],
            mode='bilinear',
            align_corners=head.align_corners)


def check_exportable(model: nn.Module):
    """Raise :class:`ExportError` unless ``model`` is an mmseg
    ``EncoderDecoder`` holding a ResNet38 with whole-image inference.

    The original release's test procedure (``OriginalEncoderDecoder``)
    resizes with PIL, places images on canvases and upsamples with PIL's
    bicubic filter: no graph, refused.
    """
    from mmseg.models import EncoderDecoder

    from ..models import ResNet38
    from ..models.segmentors import OriginalEncoderDecoder
    name = type(model).__name__
    if isinstance(model, OriginalEncoderDecoder):
        raise ExportError(ORIGINAL_REFUSED)
    if not isinstance(model, EncoderDecoder):
        raise ExportError(f'the model is a {name}, not an mmseg '
                          f'EncoderDecoder segmentor')
    if not any(isinstance(m, ResNet38) for m in model.modules()):
        raise ExportError(f'the {name} holds no ResNet38 backbone')
    mode = (model.test_cfg or {}).get('mode', 'whole')
    if mode != 'whole':
        raise ExportError(f'test_cfg mode {mode!r}: only whole-image '
                          f'inference is exported')


def export_onnx(model: nn.Module,
                path: str,
                shape: Tuple[int, int] = (512, 512),
                batch: int = 1,
                dynamic: bool = False,
                opset: int = DEFAULT_OPSET,
                fold_bn: bool = True) -> str:
    """Export an mmseg segmentor holding ResNet-38 to an ONNX file.

    Args:
        model (EncoderDecoder): The segmentor, on CPU; left unchanged (a
            copy is exported).
        path (str): The ``.onnx`` file, written under a temporary name and
            renamed when complete.
        shape (tuple[int, int]): ``(H, W)`` of the traced input; the
            graph's size without ``dynamic``.
        batch (int): ``N`` of the traced input.
        dynamic (bool): ``N``, ``H`` and ``W`` free in the graph.
        opset (int): ONNX opset of the default domain.
        fold_bn (bool): Fold the BNs that follow a conv into it.

    Returns:
        ``path``.

    Raises:
        ExportError: see :func:`check_exportable`.
        OSError: ``path`` cannot be written.
    """
    from ..models.inference_optimization import optimize_for_inference
    check_exportable(model)
    if osp.isdir(path):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), path)
    model = copy.deepcopy(model).cpu().eval()
    if fold_bn:
        optimize_for_inference(
            model, channels_last=False, device='cpu', winograd=False)
    graph = OnnxSegmentor(model).eval()
    image = torch.rand(batch, 3, *shape) * 255
    # named free axes: the file's dims of image and logits read N, H, W
    dynamic_shapes = dict(image={0: 'N', 2: 'H', 3: 'W'}) if dynamic \
        else None
    with atomic_output(path, suffix='.onnx') as tmp:
        # an unwritable place fails here, before minutes of export
        open(tmp, 'wb').close()
        with torch.no_grad():
            program = torch.onnx.export(
                graph, (image, ),
                input_names=['image'],
                output_names=['logits'],
                opset_version=opset,
                dynamo=True,
                dynamic_shapes=dynamic_shapes)
        program.save(tmp, external_data=False)
    return path


def load_segmentor(config: Union[str, Config], checkpoint: str):
    """The segmentor of ``config`` with ``checkpoint`` on CPU, checked for
    export (:func:`check_exportable`).

    Raises:
        ExportError: the config does not build an exportable segmentor.
        InferenceError: the checkpoint is missing, unreadable, or its class
            count differs from the config's.
    """
    from ..apis.inference import init_segmentor
    cfg = Config.fromfile(config) if isinstance(config, str) else config
    model_type = cfg.model.get('type', '').split('.')[-1]
    if model_type == 'OriginalEncoderDecoder':
        raise ExportError(ORIGINAL_REFUSED)
    if 'decode_head' not in cfg.model:
        raise ExportError(f'the config\'s model ({model_type}) is not a '
                          f'segmentor with a decode_head')
    backbone = cfg.model.get('backbone', {}).get('type', '').split('.')[-1]
    if backbone != 'ResNet38':
        raise ExportError(f'the config\'s model.backbone is {backbone!r}, '
                          f'not ResNet38')
    model = init_segmentor(cfg, checkpoint, device='cpu')
    check_exportable(model)
    return model


def mmseg_logits(model: nn.Module, image_rgb: np.ndarray) -> np.ndarray:
    """mmseg's ``inference_model`` logits of one image at its own size.

    The model's test pipeline is replaced by loading and packing alone (no
    test-time resize), as the ONNX graph sees the image.

    Args:
        model: An mmseg segmentor (``init_model``'s).
        image_rgb: ``(H, W, 3)`` uint8 RGB.

    Returns:
        ``(num_classes, H, W)`` float32.
    """
    from mmseg.apis import inference_model
    cfg = model.cfg
    pipeline = cfg.test_pipeline
    cfg.test_pipeline = [
        dict(type='LoadImageFromNDArray'),
        dict(type='PackSegInputs')
    ]
    try:
        # mmseg's pipeline expects BGR, as cv2 reads images
        result = inference_model(model,
                                 np.ascontiguousarray(image_rgb[..., ::-1]))
    finally:
        cfg.test_pipeline = pipeline
    return result.seg_logits.data.cpu().numpy()


def verify_onnx(model: nn.Module, onnx_path: str,
                images: Sequence[np.ndarray]) -> List[dict]:
    """Compare ONNX Runtime's logits of ``onnx_path`` with mmseg's
    (:func:`mmseg_logits`) on each image.

    Args:
        model: The segmentor exported.
        onnx_path: Its ONNX file.
        images: ``(H, W, 3)`` uint8 RGB images.

    Returns:
        Per image: ``max_abs_diff``, ``max_abs_ref`` (logits),
        ``label_agreement`` (share of equal argmax labels) and ``passed``
        (``max_abs_diff <= MAX_RELATIVE_DIFF * max_abs_ref`` and
        ``label_agreement >= MIN_LABEL_AGREEMENT``).
    """
    from .runtimes import RuntimeSession
    session = RuntimeSession(onnx_path, 'onnxruntime')
    results = []
    for image in images:
        ref = mmseg_logits(model, image)
        out = session(image.transpose(2, 0, 1)[None].astype(np.float32))[0]
        if out.shape != ref.shape:
            raise ExportError(f'the ONNX file gives logits of shape '
                              f'{out.shape} for a {image.shape[:2]} image, '
                              f'mmseg {ref.shape}')
        diff = float(np.abs(out - ref).max())
        scale = float(np.abs(ref).max())
        agreement = float((out.argmax(0) == ref.argmax(0)).mean())
        results.append(
            dict(
                max_abs_diff=diff,
                max_abs_ref=scale,
                label_agreement=agreement,
                passed=diff <= MAX_RELATIVE_DIFF * scale
                and agreement >= MIN_LABEL_AGREEMENT))
    return results


def read_rgb(path: str) -> np.ndarray:
    """An image file as ``(H, W, 3)`` uint8 RGB, decoded as mmseg's
    ``LoadImageFromFile`` decodes it (:func:`mmrn38.apis.read_image`)."""
    from ..apis.inference import read_image
    return np.ascontiguousarray(read_image(path)[..., ::-1])


def random_image(shape: Tuple[int, int],
                 seed: Optional[int] = 0) -> np.ndarray:
    """A random ``(H, W, 3)`` uint8 image."""
    return np.random.default_rng(seed).integers(
        0, 256, (*shape, 3), dtype=np.uint8)
