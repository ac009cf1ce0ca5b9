"""What the path-length tool analyses: a config's model (whose backbone it
routes), its inputs (images through the model's data preprocessor, or
seeded noise) and the figure."""
import copy
import inspect
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.registry import DefaultScope

from mmrn38.apis.runner import ConfigError, config_scope
from mmrn38.utils.atomic_file import atomic_output

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp')


def model_from_config(cfg: Config,
                      checkpoint: Optional[str] = None,
                      device: str = 'cpu',
                      zero_init_residual: bool = True) -> nn.Module:
    """The model of ``cfg.model`` (an mmseg segmentor, an mmpretrain
    classifier, or a bare backbone config), built through its library's
    registry and initialised as a training run starts (``init_weights``;
    ``Pretrained`` checkpoints are not read: pass ``checkpoint`` for
    trained weights, a file of the whole model), on ``device`` in eval
    mode; the analysis takes its ``backbone`` (a bare backbone is its own).
    ``zero_init_residual=False`` builds a backbone that takes that argument
    (mmpretrain's and mmseg's ResNets) without it.

    Raises:
        ConfigError: no such checkpoint.
    """
    import mmrn38  # noqa: F401  registers ResNet38
    scope = config_scope(cfg)
    model_cfg = copy.deepcopy(cfg.model)
    if 'backbone' in model_cfg:
        model_cfg.backbone.pop('init_cfg', None)
        model_cfg.pop('pretrained', None)
    else:
        model_cfg.pop('init_cfg', None)
    if scope == 'mmseg':
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    else:
        from mmpretrain.registry import MODELS
        from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        backbone_cfg = model_cfg.get('backbone', model_cfg)
        backbone_cls = MODELS.get(backbone_cfg['type'])
        if not zero_init_residual and 'zero_init_residual' in \
                inspect.signature(backbone_cls).parameters:
            backbone_cfg['zero_init_residual'] = False
        model = MODELS.build(model_cfg)
    model.init_weights()
    if checkpoint is not None:
        from mmengine.runner import load_checkpoint
        if not osp.isfile(checkpoint):
            raise ConfigError(f'no checkpoint {checkpoint}')
        load_checkpoint(model, checkpoint, map_location='cpu', logger='silent')
    model.to(device)
    model.eval()  # mmpretrain's ResNet.train() returns None
    return model


def input_batch(model: nn.Module,
                size: Sequence[int],
                batch: int,
                seed: int = 0,
                image_dir: Optional[str] = None) -> torch.Tensor:
    """``(batch, 3, H, W)`` on the model's device: the first ``batch``
    images of ``image_dir`` (sorted names) resized to ``size`` and
    prepared by the model's own ``data_preprocessor`` (BGR as mmcv loads
    them; a bare backbone has none and takes them as they are), or
    standard normal noise from ``seed``.

    Raises:
        ConfigError: the folder has fewer images than ``batch``.
    """
    h, w = size
    device = next(model.parameters()).device
    if image_dir is None:
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(batch, 3, h, w, generator=generator).to(device)
    import mmcv
    names = sorted(n for n in os.listdir(image_dir)
                   if n.lower().endswith(IMAGE_SUFFIXES)) \
        if osp.isdir(image_dir) else []
    if len(names) < batch:
        raise ConfigError(f'{image_dir} holds {len(names)} images, '
                          f'--batch needs {batch}')
    images = [
        torch.from_numpy(
            mmcv.imresize(mmcv.imread(osp.join(image_dir, name)),
                          (w, h))).permute(2, 0, 1).contiguous()
        for name in names[:batch]
    ]
    preprocessor = getattr(model, 'data_preprocessor', None)
    if preprocessor is None:
        return torch.stack(images).float().to(device)
    return preprocessor(dict(inputs=images))['inputs']


def plot_path_lengths(results: Dict[str, dict], path: str):
    """Veit et al.'s two panels, one line per model: the input-gradient
    magnitude of paths of length k (log scale), and the total gradient
    that paths of each length carry (shares of the model's sum)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
    for name, result in results.items():
        k = np.arange(result['units'] + 1)
        mean = np.asarray(result['mean'])
        total = np.asarray(result['total'])
        left.semilogy(k[mean > 0], mean[mean > 0], marker='.', label=name)
        right.plot(k, total / total.sum(), marker='.', label=name)
    left.set(
        xlabel='path length k',
        ylabel='gradient magnitude at input',
        title='magnitude of a path of length k')
    right.set(
        xlabel='path length k',
        ylabel='share of the total gradient',
        title='total gradient of length-k paths')
    for ax in (left, right):
        ax.grid(alpha=0.3)
    right.legend(fontsize=8)
    fig.tight_layout()
    with atomic_output(path, suffix='.png') as tmp:
        fig.savefig(tmp, format='png', dpi=90)
    plt.close(fig)


def summary_rows(results: Dict[str, dict]) -> List[str]:
    """A Markdown table: units, mode and 90 % range of path lengths."""
    rows = [
        '| model | units | mode of total | 90 % of the total in k |',
        '| --- | --- | --- | --- |'
    ]
    for name, result in results.items():
        depth = result['effective_depth']
        lo, hi = depth['range']
        rows.append(f'| {name} | {result["units"]} | {depth["mode"]} | '
                    f'{lo}-{hi} |')
    return rows
