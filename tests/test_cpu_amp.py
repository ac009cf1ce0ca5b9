"""``--amp`` without an accelerator: bfloat16 autocast training on CPUs with
native bfloat16 (CPUAmpOptimWrapper), one clear error on the others."""
import re

import pytest
import torch
import torch.nn as nn
from mmengine.config import Config
from rn38_testing import run_tool, tiny_voc_config

from mmrn38.apis import prepare_train
from mmrn38.apis.runner import ConfigError
from mmrn38.engine import CPUAmpOptimWrapper
from mmrn38.synthetic import write_voc
from mmrn38.utils import device_features

NATIVE_BF16 = device_features.bf16_support('cpu')[0]


def test_forward_in_bfloat16_parameters_in_float32():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 2, 1))
    wrapper = CPUAmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = [p.detach().clone() for p in model.parameters()]
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 3, 9, 9))
        loss = out.float().square().mean()
    assert out.dtype == torch.bfloat16
    wrapper.update_params(loss)
    for old, new in zip(before, model.parameters()):
        assert new.dtype == torch.float32 and not torch.equal(old, new)


def test_amp_on_cpu_needs_native_bfloat16(monkeypatch):
    if torch.cuda.is_available():
        pytest.skip('--amp takes mmengine\'s AmpOptimWrapper on a GPU')
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper')))
    monkeypatch.setattr(device_features, 'cpu_flags', lambda: ('avx2', ))
    with pytest.raises(
            ConfigError, match='--amp on a CPU needs native '
            'bfloat16') as error:
        prepare_train(cfg, amp=True)
    assert '\n' not in str(error.value)
    monkeypatch.setattr(device_features, 'cpu_flags', lambda:
                        ('avx2', 'avx512f', 'avx512_bf16'))
    prepare_train(cfg, amp=True)
    assert cfg.optim_wrapper.type == 'CPUAmpOptimWrapper'


@pytest.mark.skipif(torch.cuda.is_available(), reason='a GPU is here')
def test_train_tool_amp_on_cpu(tmp_path):
    """tools/train.py --amp as a user runs it on this machine: bfloat16
    training where the CPU has native bfloat16, else one error line."""
    data_root = write_voc(str(tmp_path), dict(train=4, val=2), size=(64, 64))
    cfg = tiny_voc_config(tmp_path / 'tiny_voc.py', data_root, max_iters=2)
    proc = run_tool(
        'train.py', cfg, '--amp', '--work-dir', tmp_path / 'work', check=False)
    if NATIVE_BF16:
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "type='CPUAmpOptimWrapper'" in proc.stdout
        losses = re.findall(r'Iter\(train\) \[\d/2\].* loss: ([0-9.]+)',
                            proc.stdout)
        # bfloat16 training gives finite losses (no seed: values vary)
        assert len(losses) == 2 and all(0 < float(v) < float('inf')
                                        for v in losses)
    else:
        assert proc.returncode != 0
        assert proc.stdout.strip().splitlines()[-1].startswith(
            'train.py: error: --amp on a CPU needs native bfloat16'), \
            proc.stdout[-2000:]


def test_benchmark_amp_training_step_on_cpu():
    """The benchmark's --amp on CPU trains through CPUAmpOptimWrapper (it
    used to build mmengine's AmpOptimWrapper, which refuses CPUs)."""
    from mmrn38.benchmark import BenchmarkSettings, measure_case
    settings = BenchmarkSettings(
        size=(33, 40), width=0.0625, repeats=1, warmup=0, amp=True)
    result = measure_case('rn38-os8', settings)
    assert result['train_s'] > 0 and result['peak_bytes'] > 0
