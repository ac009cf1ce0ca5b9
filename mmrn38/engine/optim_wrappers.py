"""Mixed-precision training on a CPU: ``--amp`` where there is no
accelerator (mmengine's ``AmpOptimWrapper`` asserts one)."""
from contextlib import contextmanager

import torch
import torch.nn as nn
from mmengine.optim import OptimWrapper
from mmengine.runner.amp import autocast

from mmrn38.registry import OPTIM_WRAPPERS, register


@register(OPTIM_WRAPPERS)
class CPUAmpOptimWrapper(OptimWrapper):
    """:class:`~mmengine.optim.OptimWrapper` whose forward and loss run
    under bfloat16 autocast on the CPU; the backward follows autocast's
    dtypes, parameters and optimiser state stay float32.

    No loss scaling: bfloat16 keeps float32's exponent range (float16,
    which ``AmpOptimWrapper`` scales for, does not). Meant for CPUs with
    native bfloat16 (AVX512-BF16 or AMX-BF16): elsewhere oneDNN's reference
    kernels run slower than float32, and ``--amp`` refuses
    (:func:`mmrn38.apis.prepare_train`).
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        with super().optim_context(model), autocast(
                device_type='cpu', dtype=torch.bfloat16):
            yield
