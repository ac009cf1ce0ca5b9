"""tools/analysis_tools/quantize.py and mmrn38.deployment.int8: bad input
ends in one line and writes nothing; a tiny demo-config model quantized to
int8 (torchao PT2E, x86 inductor quantizer) and compiled keeps float32's
labels on most pixels, and the saved program reloads to the same
outputs."""
import importlib.util
import json

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from rn38_testing import REPO, load_tool, run_tool

HAS_TORCHAO = importlib.util.find_spec('torchao') is not None


def demo_checkpoint(path, width=1 / 16):
    """configs/rn38_demo.py at ``width``, random weights (seed 0)."""
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS

    import mmrn38  # noqa: F401
    cfg = Config.fromfile(f'{REPO}/configs/rn38_demo.py')
    cfg.model.backbone.width = width
    cfg.model.decode_head.in_channels = round(4096 * width)
    cfg.model.decode_head.channels = round(512 * width)
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg.model)
    model.init_weights()
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    config = path.parent / 'config.py'
    cfg.dump(str(config))
    return str(config)


def images(folder, n, size=(32, 40), seed=0):
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (*size, 3),
                                     dtype=np.uint8)).save(folder / f'{i}.png')
    return str(folder)


def test_bad_input_one_line(tmp_path, capsys):
    tool = load_tool('analysis_tools/quantize.py')
    out = tmp_path / 'int8.pt2'
    ckpt = tmp_path / 'model.pth'
    config = demo_checkpoint(ckpt)
    calib = images(tmp_path / 'calib', 1)
    (tmp_path / 'empty').mkdir()
    for args, message in (
        (['missing.py', str(ckpt), '--calib',
          calib], 'config not found: missing.py'),
        ([config, str(ckpt), '--calib',
          str(tmp_path / 'nowhere')], 'no such folder: '),
        ([config, str(ckpt), '--calib',
          str(tmp_path / 'empty')], 'no image (.jpg/.jpeg/.png/.bmp) in '),
    ):
        assert tool.main(args + ['--out', str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith(f'quantize: error: {message}'), err
        assert not out.exists()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCHAO, reason='torchao is not installed')
def test_int8_keeps_labels(tmp_path, capsys):
    from mmrn38.deployment.int8 import load_int8
    tool = load_tool('analysis_tools/quantize.py')
    ckpt = tmp_path / 'model.pth'
    config = demo_checkpoint(ckpt)
    out = tmp_path / 'int8.pt2'
    assert tool.main([
        config,
        str(ckpt), '--calib',
        images(tmp_path / 'calib', 2), '--num-calib', '2', '--out',
        str(out), '--check',
        images(tmp_path / 'held_out', 2, seed=1)
    ]) == 0
    printed = capsys.readouterr().out
    assert 'int8 at 32x40, calibrated on 2 images' in printed
    agreement = float(
        printed.split('labels equal to float32 on ')[1].split(' %')[0])
    assert agreement >= 90, printed
    program = load_int8(str(out))
    x = torch.rand(1, 3, 32, 40) * 255
    with torch.no_grad():
        logits = program(x)
    assert logits.shape == (1, 7, 32, 40) and torch.isfinite(logits).all()


@pytest.mark.slow
@pytest.mark.skipif(not HAS_TORCHAO, reason='torchao is not installed')
def test_benchmark_int8_case(tmp_path):
    """The benchmark's int8 case: the same network as rn38-os8 (its FLOPs
    are counted on the float model), timed without training figures, and
    oneDNN ran int8 convolutions in it."""
    report_file = tmp_path / 'report.json'
    run_tool('analysis_tools/benchmark.py', '--cases', 'rn38-os8',
             'rn38-os8-int8', '--size', 32, 40, '--width', 0.0625, '--repeats',
             1, '--warmup', 1, '--json', report_file)
    results = {
        r['case']: r
        for r in json.loads(report_file.read_text())['results']
    }
    plain, int8 = results['rn38-os8'], results['rn38-os8-int8']
    assert int8['flops'] == plain['flops'] and int8['infer_s'] > 0
    assert 'train_s' not in int8
    ran = int8['onednn']['fp32']['primitives']
    assert any(k.startswith('convolution') and 'u8' in k for k in ran), ran
