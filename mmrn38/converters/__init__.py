"""Readers and converters of the original ResNet-38 weights (MXNet
``.params`` of ademxapp, PyTorch files of the PSA port); numpy and torch
only."""
from .mxnet_ndarray import MXNetParamsError, NDArrayList, load_ndarray_list
from .rn38_weights import (RELEASED_MD5, Conversion, ConversionError, HeadSpec,
                           SourceWeights, convert_rn38_weights, file_md5,
                           find_head, model_config, read_source_weights,
                           save_checkpoint)

__all__ = [
    'MXNetParamsError', 'NDArrayList', 'load_ndarray_list', 'RELEASED_MD5',
    'Conversion', 'ConversionError', 'HeadSpec', 'SourceWeights',
    'convert_rn38_weights', 'file_md5', 'find_head', 'model_config',
    'read_source_weights', 'save_checkpoint'
]
