"""Readers and converters of the original ResNet-38 weights (MXNet
``.params`` of ademxapp, PyTorch files of the PSA port). No MXNet: the
NDArray reader (:mod:`.mxnet_ndarray`) needs numpy only; building and
filling the target model needs torch and the mmseg / mmpretrain stack."""
from .convert import Conversion, convert_rn38_weights, write_checkpoint
from .key_mapping import HeadSpec, find_head
from .mxnet_ndarray import MXNetParamsError, NDArrayList, load_ndarray_list
from .sources import (RELEASED_MD5, ConversionError, SourceWeights, file_md5,
                      read_source_weights)
from .target import ARCHS, OUT_STRIDES, TASKS, model_config

__all__ = [
    'ARCHS', 'OUT_STRIDES', 'TASKS', 'MXNetParamsError', 'NDArrayList',
    'load_ndarray_list', 'RELEASED_MD5', 'Conversion', 'ConversionError',
    'HeadSpec', 'SourceWeights', 'convert_rn38_weights', 'file_md5',
    'find_head', 'model_config', 'read_source_weights', 'write_checkpoint'
]
