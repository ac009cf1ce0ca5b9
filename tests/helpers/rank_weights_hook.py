"""A test-only hook: each rank saves the model's weights at a chosen
moment, so tests can compare ranks or check what a resume loaded."""
import os.path as osp

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS


@HOOKS.register_module()
class DumpRankWeightsHook(Hook):
    """Save ``state_dict`` to ``work_dir/{when}_rank{rank}.pth``.

    Args:
        when (str): 'before_train' (right after a resume has loaded) or
            'after_run'.
    """

    def __init__(self, when='after_run'):
        self.when = when

    def _dump(self, runner):
        model = runner.model.module if is_model_wrapper(runner.model) \
            else runner.model
        torch.save({
            k: v.detach().cpu()
            for k, v in model.state_dict().items()
        }, osp.join(runner.work_dir, f'{self.when}_rank{runner.rank}.pth'))

    def before_train(self, runner):
        if self.when == 'before_train':
            self._dump(runner)

    def after_run(self, runner):
        if self.when == 'after_run':
            self._dump(runner)
