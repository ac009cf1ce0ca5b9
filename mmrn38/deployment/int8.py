"""Post-training static int8 quantization of a ResNet-38 segmentor for
the CPU (``tools/analysis_tools/quantize.py``).

Route: PyTorch 2 export quantization (PT2E) from ``torchao``
(``torchao.quantization.pt2e``) with its ``X86InductorQuantizer``, then
``torch.compile`` (inductor, ``freezing``), which lowers the quantized
convolutions to oneDNN's int8 kernels (VNNI on AVX-512, AMX-INT8 where
present). Why this one: torch 2.13 no longer ships
``torch.ao.quantization.quantize_pt2e`` (moved to torchao); torchao's
wheel does not depend on a torch build (installing it leaves torch as it
is); the eager ``torch.ao.quantization`` flow (fbgemm/x86 backends) needs
QuantStub/DeQuantStub edits of the model and has no AMX path; mmdeploy's
int8 goes through TensorRT/ncnn/OpenVINO, not installable next to this
stack (``docs/en/user_guides/deployment.md``).

What is quantized: the graph of :class:`~.onnx_export.OnnxSegmentor`
(normalisation, backbone, head, bilinear resize) after the fast path's BN
folding, at one input shape: activations per tensor (affine, uint8),
weights per output channel (symmetric, int8), calibrated with a
histogram-free min/max observer on a few images; what the quantizer does
not annotate (the pre-activation BNs, the resize) runs in float32.
"""
import os.path as osp
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch import Tensor

from ..utils.atomic_file import atomic_output
from .onnx_export import ExportError, OnnxSegmentor, read_rgb

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def _torchao_pt2e():
    try:
        from torchao.quantization.pt2e.quantize_pt2e import (convert_pt2e,
                                                             prepare_pt2e)
        from torchao.quantization.pt2e.quantizer import \
            x86_inductor_quantizer as xiq
    except ImportError as error:
        raise ExportError(f'int8 needs torchao (pip install '
                          f'torchao==0.18.0, requirements/tests.txt): '
                          f'{error}') from None
    return prepare_pt2e, convert_pt2e, xiq


def image_tensor(image_rgb: np.ndarray, shape: Tuple[int, int]) -> Tensor:
    """``(H, W, 3)`` uint8 RGB -> ``(1, 3, h, w)`` float32 0..255 at
    ``shape`` (bilinear, as mmcv resizes)."""
    import mmcv
    h, w = shape
    if image_rgb.shape[:2] != (h, w):
        image_rgb = mmcv.imresize(image_rgb, (w, h))
    return torch.from_numpy(
        np.ascontiguousarray(image_rgb.transpose(2, 0, 1))).float()[None]


def read_folder(folder: str, limit: int = None) -> List[np.ndarray]:
    """The images of ``folder`` (sorted by name, at most ``limit``) as
    ``(H, W, 3)`` uint8 RGB.

    Raises:
        ExportError: the folder does not exist or holds no image.
    """
    if not osp.isdir(folder):
        raise ExportError(f'no such folder: {folder}')
    import os
    names = sorted(
        n for n in os.listdir(folder) if n.lower().endswith(IMAGE_SUFFIXES))
    if not names:
        raise ExportError(f'no image ({"/".join(IMAGE_SUFFIXES)}) in '
                          f'{folder}')
    return [read_rgb(osp.join(folder, n)) for n in names[:limit]]


def quantize_int8(segmentor: torch.nn.Module,
                  calibration: Sequence[Tensor]) -> torch.nn.Module:
    """The int8 graph of ``segmentor`` at the shape of the calibration
    images.

    Args:
        segmentor: An mmseg ``EncoderDecoder`` with a ResNet38, weights
            loaded (its BNs are folded into the convs in place).
        calibration: ``(1, 3, H, W)`` float32 RGB 0..255 images, all of
            one shape.

    Returns:
        The converted ``torch.fx.GraphModule``: ``(1, 3, H, W)`` RGB 0..255
        -> ``(1, num_classes, H, W)`` float32 logits (run it through
        :func:`compile_int8` for int8 kernels).
    """
    from ..models.inference_optimization import optimize_for_inference
    prepare_pt2e, convert_pt2e, xiq = _torchao_pt2e()
    shapes = {tuple(image.shape) for image in calibration}
    if len(shapes) != 1:
        raise ExportError(f'calibration images of several shapes: '
                          f'{sorted(shapes)}')
    optimize_for_inference(
        segmentor, winograd=False, channels_last=False, prepack=False)
    graph = OnnxSegmentor(segmentor).eval()
    exported = torch.export.export(graph, (calibration[0], )).module()
    quantizer = xiq.X86InductorQuantizer()
    quantizer.set_global(xiq.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(exported, quantizer)
    with torch.no_grad():
        for image in calibration:
            prepared(image)
    return convert_pt2e(prepared)


def compile_int8(graph: torch.nn.Module):
    """``graph`` compiled by inductor with ``freezing`` (weights as
    constants, packed for oneDNN's int8 convolutions); call it under
    ``torch.no_grad``. The first call compiles (minutes on 2 cores at
    width 1)."""
    import torch._inductor.config as inductor_config
    inductor_config.freezing = True
    return torch.compile(graph)


def save_int8(graph: torch.nn.Module, example: Tensor, path: str):
    """Write the converted graph as a ``torch.export`` program
    (``.pt2``), atomically."""
    program = torch.export.export(graph, (example, ))
    with atomic_output(path, suffix='.pt2') as tmp:
        torch.export.save(program, tmp)


def load_int8(path: str) -> torch.nn.Module:
    """The graph :func:`save_int8` wrote (not compiled)."""
    _torchao_pt2e()  # registers the quantized ops
    return torch.export.load(path).module()


__all__ = [
    'compile_int8', 'image_tensor', 'load_int8', 'quantize_int8',
    'read_folder', 'save_int8'
]
