"""Which oneDNN kernels a computation ran, read from oneDNN's verbose
output (``ONEDNN_VERBOSE=1``, here turned on for one call through
``torch.backends.mkldnn.verbose``).

Each executed primitive prints a line such as::

    onednn_verbose,v1,primitive,exec,cpu,convolution,
    brg_conv_fwd:avx512_core_amx,forward_training,src:bf16::...

whose implementation field names the instruction set after the colon
(``avx512_core`` float32 AVX-512, ``avx512_core_bf16`` AVX512-BF16,
``avx512_core_amx`` AMX, ``avx512_core_vnni`` VNNI int8 ...); the
``info`` lines name the most the CPU allows (``isa:...``). The CPU flags
say what the CPU could do; these lines say what ran.
"""
import collections
import os
import re
import sys
import tempfile
from typing import Callable, Dict

import torch

_EXEC = re.compile(r'^onednn_verbose,(?:v\d+,)?(?:primitive,)?exec,cpu,'
                   r'([^,]+),([^,]+),[^,]*,([^,]*)')
_ISA = re.compile(r'^onednn_verbose,(?:v\d+,)?info,cpu,isa:(.*)$')
_DTYPE = re.compile(r'(?:src|wei)[^:]*:([a-z0-9]+):')


def parse_verbose(text: str) -> dict:
    """``{'max_isa': str or None, 'primitives': {'kind impl dtypes':
    count}}`` of oneDNN verbose ``text``, reorders left out (they move
    data, not compute)."""
    counts: Dict[str, int] = collections.Counter()
    max_isa = None
    for line in text.splitlines():
        line = line.strip()
        isa = _ISA.match(line)
        if isa:
            max_isa = isa.group(1).strip()
            continue
        match = _EXEC.match(line)
        if not match or match.group(1) == 'reorder':
            continue
        kind, impl, descriptors = match.groups()
        dtypes = '/'.join(dict.fromkeys(_DTYPE.findall(descriptors)))
        counts[f'{kind} {impl} {dtypes}'.strip()] += 1
    return dict(max_isa=max_isa, primitives=dict(sorted(counts.items())))


def isa_summary(parsed: dict) -> str:
    """One line: each primitive kind's implementations and counts, e.g.
    ``convolution brg_conv_fwd:avx512_core_amx bf16 x36; ...``."""
    parts = [f'{name} x{n}' for name, n in parsed['primitives'].items()]
    return '; '.join(parts) or 'no oneDNN primitive ran'


def onednn_kernels(fn: Callable[[], object]) -> dict:
    """Run ``fn()`` once with oneDNN's verbose output on and return what
    :func:`parse_verbose` reads from it (oneDNN writes to the process's
    standard output: it is caught through a temporary file)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode='w+') as capture:
        os.dup2(capture.fileno(), 1)
        try:
            with torch.backends.mkldnn.verbose(
                    torch.backends.mkldnn.VERBOSE_ON):
                fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        capture.seek(0)
        return parse_verbose(capture.read())


__all__ = ['isa_summary', 'onednn_kernels', 'parse_verbose']
