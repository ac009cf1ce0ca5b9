"""Deployment: ONNX export of segmentors holding ResNet-38
(:mod:`.onnx_export`) and the runtimes that run the file
(:mod:`.runtimes`)."""
from .onnx_export import (DEFAULT_OPSET, MAX_RELATIVE_DIFF,
                          MIN_LABEL_AGREEMENT, ExportError, OnnxSegmentor,
                          check_exportable, export_onnx, load_segmentor,
                          mmseg_logits, random_image, read_rgb, verify_onnx)
from .runtimes import RUNTIMES, RuntimeSession, runtime_available

__all__ = [
    'DEFAULT_OPSET', 'MAX_RELATIVE_DIFF', 'MIN_LABEL_AGREEMENT', 'ExportError',
    'OnnxSegmentor', 'check_exportable', 'export_onnx', 'load_segmentor',
    'mmseg_logits', 'random_image', 'read_rgb', 'verify_onnx', 'RUNTIMES',
    'RuntimeSession', 'runtime_available'
]
