"""Reader of MXNet NDArray list files (``.params``) with numpy only.

``mx.nd.save`` writes a list of arrays and their names::

    uint64 0x112 (list magic), uint64 0 (reserved)
    uint64 array count, then per array:
        [uint32 array magic]      V1, V2, V3 (absent in the legacy layout)
        [int32 storage type]      V2, V3 (0 = dense)
        shape                     legacy: uint32 ndim + uint32 dims;
                                  V1, V2, V3: int32 ndim + int64 dims
        int32 device type, int32 device id
        int32 dtype flag
        raw little-endian data
    uint64 name count, then per name: uint64 length + bytes

The array magic is 0xF993FAC8 (V1), 0xF993FAC9 (V2, MXNet >= 1.0) or
0xF993FACA (V3, written in MXNet's NumPy-shape mode); any other value is the
``ndim`` of a legacy (2016-era) array. V3 differs from V2 only in what a
shape means: ``ndim == 0`` is a one-element scalar there, while in the other
layouts it marks an empty ("none") array with nothing after the shape; in V3
an unknown shape (``ndim == -1`` or a dimension of -1) marks it.

Nothing is unpickled: the file is parsed with :mod:`struct` and the data is
read straight into numpy buffers.
"""
import math
import os
import struct
from collections import Counter
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple

import numpy as np

LIST_MAGIC = 0x112
NDARRAY_V1_MAGIC = 0xF993FAC8
NDARRAY_V2_MAGIC = 0xF993FAC9
NDARRAY_V3_MAGIC = 0xF993FACA
LAYOUT_OF_MAGIC = {
    NDARRAY_V1_MAGIC: 'v1',
    NDARRAY_V2_MAGIC: 'v2',
    NDARRAY_V3_MAGIC: 'v3',
}
# mshadow's type flags
DTYPE_OF_FLAG = {
    0: np.float32,
    1: np.float64,
    2: np.float16,
    3: np.uint8,
    4: np.int32,
    5: np.int8,
    6: np.int64,
}
DENSE_STORAGE = 0
SPARSE_STORAGES = {1: 'row_sparse', 2: 'csr'}
# larger ndim values are garbage (e.g. a wrong array magic read as legacy)
MAX_NDIM = 32


class MXNetParamsError(ValueError):
    """An MXNet NDArray list file that cannot be read; the message names the
    file and what is wrong with it."""


class NDArrayList(NamedTuple):
    """The content of an NDArray list file.

    Attributes:
        arrays (dict[str, np.ndarray]): Arrays by name, in file order. Names
            keep MXNet's ``arg:`` / ``aux:`` prefixes.
        layouts (tuple[str]): Array layouts met in the file, in order of
            first use: ``'legacy'``, ``'v1'``, ``'v2'`` or ``'v3'``.
        num_bytes (int): Size of the file.
    """
    arrays: Dict[str, np.ndarray]
    layouts: Tuple[str, ...]
    num_bytes: int


class _Stream:
    """Bounds-checked little-endian reads of a file of known size."""

    def __init__(self, f, path: str, size: int):
        self.f = f
        self.path = path
        self.size = size
        self.offset = 0

    def error(self, message: str) -> MXNetParamsError:
        return MXNetParamsError(f'{self.path}: {message}')

    def _check_left(self, num_bytes: int, what: str):
        left = self.size - self.offset
        if num_bytes > left:
            raise self.error(f'truncated {what} at byte {self.offset}: '
                             f'needs {num_bytes} bytes, the file has '
                             f'{left} left')

    def unpack(self, fmt: str, what: str) -> tuple:
        """Read one ``struct`` record (``fmt`` without byte order)."""
        fmt = '<' + fmt
        num_bytes = struct.calcsize(fmt)
        self._check_left(num_bytes, what)
        values = struct.unpack(fmt, self.f.read(num_bytes))
        self.offset += num_bytes
        return values

    def read_bytes(self, num_bytes: int, what: str) -> bytearray:
        """Read ``num_bytes`` raw bytes into a fresh writable buffer."""
        self._check_left(num_bytes, what)
        buffer = bytearray(num_bytes)
        if self.f.readinto(buffer) != num_bytes:
            raise self.error(f'truncated {what} at byte {self.offset}: the '
                             f'file changed while being read')
        self.offset += num_bytes
        return buffer


def _read_shape(stream: _Stream, magic: int, what: str) -> Optional[List]:
    """The shape of one array, or None for an empty ("none") array."""
    if magic in LAYOUT_OF_MAGIC:
        ndim, = stream.unpack('i', f'{what} ndim')
        if magic == NDARRAY_V3_MAGIC and ndim == -1:
            return None
        if not 0 <= ndim <= MAX_NDIM:
            raise stream.error(f'{what} has an invalid ndim {ndim} at byte '
                               f'{stream.offset - 4}')
        shape = list(stream.unpack(f'{ndim}q', f'{what} shape'))
    else:
        # legacy layout: the first uint32 was already ndim
        ndim = magic
        shape = list(stream.unpack(f'{ndim}I', f'{what} shape'))
    if magic == NDARRAY_V3_MAGIC:
        if -1 in shape:
            return None
    elif ndim == 0:
        return None
    if any(d < 0 for d in shape):
        raise stream.error(f'{what} has a negative dimension in shape '
                           f'{tuple(shape)}')
    return shape


def _read_array(stream: _Stream, index: int) -> Tuple[np.ndarray, str]:
    """Read the array at the stream's position; returns it and its layout."""
    what = f'array #{index}'
    start = stream.offset
    magic, = stream.unpack('I', f'{what} header')
    if magic in LAYOUT_OF_MAGIC:
        layout = LAYOUT_OF_MAGIC[magic]
    elif magic <= MAX_NDIM:
        layout = 'legacy'
    else:
        raise stream.error(
            f'{what} at byte {start} starts with 0x{magic:08X}, '
            f'which is no NDArray magic (V1 0xF993FAC8, V2 '
            f'0xF993FAC9, V3 0xF993FACA) nor a legacy ndim')
    if magic in (NDARRAY_V2_MAGIC, NDARRAY_V3_MAGIC):
        storage, = stream.unpack('i', f'{what} storage type')
        if storage in SPARSE_STORAGES:
            raise stream.error(f'{what} at byte {start} has sparse storage '
                               f'({SPARSE_STORAGES[storage]}); only dense '
                               f'arrays can be converted')
        if storage != DENSE_STORAGE:
            raise stream.error(f'{what} at byte {start} has an unknown '
                               f'storage type {storage}')
    shape = _read_shape(stream, magic, what)
    if shape is None:
        raise stream.error(f'{what} at byte {start} is an empty (none) '
                           f'NDArray without data')
    stream.unpack('ii', f'{what} device')
    flag, = stream.unpack('i', f'{what} dtype flag')
    if flag not in DTYPE_OF_FLAG:
        raise stream.error(f'{what} at byte {start} has an unknown dtype flag '
                           f'{flag} (known: 0 float32, 1 float64, 2 float16, '
                           f'3 uint8, 4 int32, 5 int8, 6 int64)')
    dtype = np.dtype(DTYPE_OF_FLAG[flag]).newbyteorder('<')
    num_bytes = dtype.itemsize * math.prod(shape)
    data = stream.read_bytes(
        num_bytes, f'{what} (shape {tuple(shape)}, {dtype.name}) data')
    array = np.frombuffer(data, dtype=dtype).reshape(shape)
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder('='))
    return array, layout


def load_ndarray_list(
        path: str,
        progress: Optional[Callable[[int, int], None]] = None) -> NDArrayList:
    """Read an MXNet NDArray list file (``mx.nd.save`` / ``.params``).

    Args:
        path (str): The file.
        progress (callable, optional): Called as ``progress(bytes_read,
            file_size)`` after each array and once the whole file is read.

    Returns:
        NDArrayList: Every array, by name.

    Raises:
        MXNetParamsError: The file is not a complete, well-formed list of
            named dense arrays (wrong list magic, a truncated array, trailing
            bytes, a name count different from the array count, duplicate
            names, sparse storage, an unknown dtype flag ...). Nothing is
            returned then.
    """
    size = os.path.getsize(path)
    with open(path, 'rb') as f:
        stream = _Stream(f, path, size)
        header, reserved = stream.unpack('QQ', 'list header')
        if header != LIST_MAGIC:
            raise stream.error(f'wrong list magic 0x{header:X} (expected '
                               f'0x{LIST_MAGIC:X}): not an MXNet NDArray '
                               f'list file')
        if reserved != 0:
            raise stream.error(f'reserved header field is {reserved}, not 0')
        num_arrays, = stream.unpack('Q', 'array count')
        arrays, layouts = [], []
        for index in range(num_arrays):
            array, layout = _read_array(stream, index)
            arrays.append(array)
            if layout not in layouts:
                layouts.append(layout)
            if progress is not None:
                progress(stream.offset, size)
        num_names, = stream.unpack('Q', 'name count')
        if num_names != num_arrays:
            raise stream.error(f'name count {num_names} differs from array '
                               f'count {num_arrays}')
        names = []
        for index in range(num_names):
            length, = stream.unpack('Q', f'name #{index} length')
            raw = stream.read_bytes(length, f'name #{index}')
            try:
                names.append(raw.decode('utf-8'))
            except UnicodeDecodeError:
                raise stream.error(f'name #{index} is not valid UTF-8: '
                                   f'{bytes(raw[:40])!r}') from None
        if stream.offset != size:
            raise stream.error(f'{size - stream.offset} trailing bytes after '
                               f'the name list (which ends at byte '
                               f'{stream.offset})')
        if progress is not None:
            progress(size, size)
    duplicates = sorted(name for name, count in Counter(names).items()
                        if count > 1)
    if duplicates:
        raise MXNetParamsError(f'{path}: duplicate array names '
                               f'{", ".join(duplicates)}')
    return NDArrayList(dict(zip(names, arrays)), tuple(layouts), size)
