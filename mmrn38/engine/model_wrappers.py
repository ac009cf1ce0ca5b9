"""Distributed training on CPUs: ``--launcher pytorch`` without a GPU
(:func:`mmrn38.apis.runner.setup_cpu_distributed` picks this wrapper)."""
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel, revert_sync_batchnorm

from mmrn38.registry import MODEL_WRAPPERS, register


@register(MODEL_WRAPPERS)
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """mmengine's ``MMDistributedDataParallel`` for processes without a GPU:
    SyncBN layers become BN (``revert_sync_batchnorm``; SyncBN needs an
    accelerator) and no device ids are passed (CPU modules reject them).

    Args:
        module (nn.Module): The model.
        device_ids: Not used: mmengine's Runner passes the local rank, which
            a module on the CPU rejects.
        **kwargs: ``DistributedDataParallel`` arguments.
    """

    def __init__(self, module: nn.Module, device_ids=None, **kwargs):
        super().__init__(
            module=revert_sync_batchnorm(module), device_ids=None, **kwargs)
