"""Reading the source files of a conversion: the MXNet ``.params`` of the
original release (any NDArray layout, see :mod:`.mxnet_ndarray`) and the
PyTorch files of the PSA port (``torch.load(weights_only=True)``), and the
published MD5 sums of the released files."""
import hashlib
import struct
from typing import Callable, Dict, List, NamedTuple, Optional

import torch
from torch import Tensor

from .mxnet_ndarray import LIST_MAGIC, load_ndarray_list

# Published by the original release (ademxapp, models/checksum.md5).
RELEASED_MD5 = {
    'ilsvrc-cls_rna-a_cls1000_ep-0001.params':
    '2421c1945b6797cecd3f89db14ca73f6',
    'ilsvrc-cls_rna-a1_cls1000_ep-0001.params':
    'ff21f45d6bf03284100dcbec571edfad',
    'voc_rna-a1_cls21_s8_ep-0001.params': 'a34628a63d5f62dcb98c29c4e281f332',
    'voc_rna-a1_cls21_s8_coco_ep-0001.params':
    '328c0eca0c45b6345ada2f95edce68d4',
    'cityscapes_rna-a1_cls19_s8_ep-0001.params':
    '226b3e861a6be7d0dc84e537f4eab154',
    'ade20k_rna-a1_cls150_s8_ep-0001.params':
    '1faf29850bfa194678f0b8e1cbbffa98',
}
_ZIP_MAGIC = b'PK\x03\x04'
_PICKLE_PROTO = b'\x80'


class ConversionError(ValueError):
    """A source file that cannot become a complete mmrn38 checkpoint.

    Attributes:
        missing (list[str]): Source names the model needs but the file lacks.
        unexpected (list[str]): Source names the model has no place for.
        mismatched (list[str]): Source names whose shape or dtype is wrong,
            with both shapes.
    """

    def __init__(self, message: str, missing=(), unexpected=(), mismatched=()):
        super().__init__(message)
        self.missing = list(missing)
        self.unexpected = list(unexpected)
        self.mismatched = list(mismatched)


class SourceWeights(NamedTuple):
    """Named tensors of a source file.

    ``tensors`` maps source names (MXNet names without ``arg:`` / ``aux:``,
    PSA names without a ``module.`` prefix) to tensors; ``naming`` is
    ``'mxnet'`` or ``'psa'``; ``file_format`` describes the file.
    """
    tensors: Dict[str, Tensor]
    naming: str
    file_format: str


def file_md5(path: str, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file."""
    digest = hashlib.md5()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(chunk_size), b''):
            digest.update(chunk)
    return digest.hexdigest()


def read_source_weights(
        path: str,
        progress: Optional[Callable[[int, int],
                                    None]] = None) -> SourceWeights:
    """Read the named tensors of an MXNet ``.params`` or a PyTorch file.

    The format is told by the file's first bytes (NDArray list magic, zip or
    pickle), not by its name; a ``.params`` file that is neither is handed to
    the MXNet reader, whose error says what is wrong with it.

    Args:
        path (str): The source file.
        progress (callable, optional): ``progress(bytes_read, file_size)``,
            called while an MXNet file is read.

    Raises:
        MXNetParamsError: A malformed MXNet file.
        ConversionError: Any other unreadable or unrecognised file.
    """
    with open(path, 'rb') as f:
        head = f.read(8)
    is_mxnet = len(head) == 8 and struct.unpack('<Q', head)[0] == LIST_MAGIC
    is_torch = head.startswith(_ZIP_MAGIC) or head.startswith(_PICKLE_PROTO)
    if is_mxnet or (not is_torch and path.endswith('.params')):
        return _read_mxnet_weights(path, progress)
    if is_torch:
        return _read_torch_weights(path, head.startswith(_ZIP_MAGIC))
    raise ConversionError(f'{path}: neither an MXNet NDArray list file '
                          f'(.params) nor a PyTorch file (.pth); it starts '
                          f'with {head!r}')


def _read_mxnet_weights(path, progress):
    ndarrays = load_ndarray_list(path, progress)
    tensors = {}
    for name, array in ndarrays.arrays.items():
        bare = name.split(':', 1)[1] if name[:4] in ('arg:', 'aux:') else name
        if bare in tensors:
            raise ConversionError(f'{path}: {bare} is stored twice (as arg: '
                                  f'and aux:)')
        tensors[bare] = torch.from_numpy(array)
    layouts = '+'.join(ndarrays.layouts) or 'no arrays'
    return SourceWeights(tensors, _naming_of(path, tensors),
                         f'MXNet NDArray list, {layouts} layout')


def _read_torch_weights(path, is_zip):
    try:
        content = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as error:  # torch.load raises many types on bad files
        reason = str(error).strip().splitlines()
        raise ConversionError(
            f'{path}: torch.load(weights_only=True) cannot read it: '
            f'{type(error).__name__}: {reason[0] if reason else ""}') from None
    if isinstance(content, dict):
        for wrapper in ('state_dict', 'model'):
            if isinstance(content.get(wrapper), dict):
                content = content[wrapper]
                break
    if not isinstance(content, dict):
        raise ConversionError(f'{path}: holds a {type(content).__name__}, '
                              f'not a state dict')
    not_tensors = [
        str(k) for k, v in content.items()
        if not (isinstance(k, str) and isinstance(v, Tensor))
    ]
    if not_tensors:
        raise ConversionError(f'{path}: entries that are not named tensors: '
                              f'{short_list(not_tensors)}')
    tensors = dict(content)
    if tensors and all(k.startswith('module.') for k in tensors):
        tensors = {k[len('module.'):]: v for k, v in tensors.items()}
    kind = 'zip' if is_zip else 'legacy pickle'
    return SourceWeights(tensors, _naming_of(path, tensors),
                         f'PyTorch {kind} file')


def _naming_of(path: str, tensors: Dict[str, Tensor]) -> str:
    """``'mxnet'`` or ``'psa'``, told by the name of the stem conv."""
    if 'conv1a_weight' in tensors:
        return 'mxnet'
    if 'conv1a.weight' in tensors:
        return 'psa'
    if 'backbone.conv1a.weight' in tensors:
        raise ConversionError(f'{path}: already an mmrn38 checkpoint '
                              f'(backbone.conv1a.weight)')
    raise ConversionError(f'{path}: no ResNet-38 stem conv (conv1a_weight or '
                          f'conv1a.weight) among its {len(tensors)} arrays '
                          f'({short_list(list(tensors))})')


def short_list(items: List[str], limit: int = 4) -> str:
    """``'a, b, c and 7 more'``."""
    shown = ', '.join(items[:limit])
    if len(items) > limit:
        shown += f' and {len(items) - limit} more'
    return shown
