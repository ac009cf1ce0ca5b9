"""Peak tensor memory of a piece of code, on any device, by tracking the
storages that its operators allocate."""
import weakref

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves


def _storages(tensors):
    return [
        t.untyped_storage() for t in tensors
        if isinstance(t, torch.Tensor) and t.untyped_storage().nbytes() > 0
    ]


class TensorMemoryTracker(TorchDispatchMode):
    """Bytes of tensor storage allocated inside the context and still alive.

    Every operator call is seen (forward, autograd's backward and optimizer
    steps alike); an output whose storage is none of the call's inputs'
    storages is a new allocation (views and in-place results share an
    input's), and it counts until that storage is freed (a weak-reference
    finaliser; torch keeps a storage's Python object alive as long as the
    storage). Memory allocated before entering does not count, so
    :attr:`peak` is what the code inside needed beyond what was there: on
    CPU the counterpart of ``torch.cuda.max_memory_allocated()`` minus the
    ``memory_allocated()`` before. Memory that kernels allocate for
    themselves (e.g. oneDNN scratch space) holds no tensor and is not seen.

    Example:
        >>> with TensorMemoryTracker() as tracker:
        ...     loss = model(x).sum()
        ...     loss.backward()
        >>> tracker.peak  # bytes

    Attributes:
        current (int): Bytes allocated inside the context and alive now.
        peak (int): The largest ``current`` seen.
    """

    def __init__(self):
        super().__init__()
        self.current = 0
        self.peak = 0

    def _free(self, nbytes: int):
        self.current -= nbytes

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        inputs = {
            st.data_ptr()
            for st in _storages(tree_leaves((args, kwargs)))
        }
        for st in _storages(tree_leaves(out)):
            if st.data_ptr() not in inputs:
                inputs.add(st.data_ptr())  # an op may return it twice
                self.current += st.nbytes()
                weakref.finalize(st, self._free, st.nbytes())
        self.peak = max(self.peak, self.current)
        return out
