"""The Runner's way onto the inference fast path (``tools/test.py
--fast``)."""
from mmengine.hooks import Hook

from mmrn38.models.inference_optimization import optimize_for_inference
from mmrn38.registry import HOOKS, register


@register(HOOKS)
class InferenceFastPathHook(Hook):
    """Apply :func:`~mmrn38.optimize_for_inference` to the Runner's model
    before testing, after the checkpoint is loaded.

    Registered in mmengine's root ``HOOKS``, so that mmseg's and
    mmpretrain's configs find it by its name.

    Args:
        bf16 (bool): Passed on to :func:`~mmrn38.optimize_for_inference`.
    """

    def __init__(self, bf16: bool = False):
        self.bf16 = bf16

    def before_test(self, runner):
        optimize_for_inference(runner.model, bf16=self.bf16)
