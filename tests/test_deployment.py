"""mmrn38.deployment and tools/deployment: ONNX export (dynamo exporter,
``--dynamic``) of small-width ResNet-38 segmentors with random weights and
BN statistics, checked in ONNX Runtime against mmseg's inference; the
tool's one-line errors; the ONNX-Runtime-only example against
tools/infer.py's labels."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import onnxruntime
import pytest
import torch
from PIL import Image
from rn38_testing import REPO, load_tool, run_tool, tool_env

from mmrn38.deployment import (ExportError, export_onnx, mmseg_logits,
                               random_image, verify_onnx)

DEMO = osp.join(REPO, 'configs', 'rn38_demo.py')
# two odd sizes, neither a multiple of the output stride
SIZES = ((37, 53), (50, 29))


def randomize(model, seed=0):
    """Random weights (torch's default initialisation of each layer) and
    random BN parameters and statistics: an untrained model's BNs are
    identities, and its export's folding would go unchecked."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.modules.conv._ConvNd):
                module.reset_parameters()
            elif isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
                module.weight.uniform_(0.5, 1.5)
                module.bias.normal_(0, 0.2)
                module.running_mean.normal_(0, 0.2)
                module.running_var.uniform_(0.5, 1.5)
    return model.eval()


def tiny_segmentor(out_stride=8, num_convs=2, **backbone):
    """The demo config at width 1/16 (stem 4 channels, 256 features)."""
    from mmseg.apis import init_model
    channels = 256 if num_convs == 1 else 32
    model = init_model(
        DEMO,
        None,
        device='cpu',
        cfg_options={
            'model.backbone.width': 1 / 16,
            'model.backbone.out_stride': out_stride,
            **{
                f'model.backbone.{k}': v
                for k, v in backbone.items()
            },
            'model.decode_head.in_channels': 256,
            'model.decode_head.channels': channels,
            'model.decode_head.num_convs': num_convs,
        })
    return randomize(model)


def assert_close(onnx_path, model, sizes=SIZES):
    """ONNX Runtime's logits vs mmseg's inference_model on random images
    of ``sizes``: max |diff| <= 1e-4 max |ref|, labels >= 99.99 % equal."""
    images = [random_image(size, seed=i) for i, size in enumerate(sizes)]
    for image, result in zip(images, verify_onnx(model, onnx_path, images)):
        assert result['max_abs_diff'] <= 1e-4 * result['max_abs_ref'], result
        assert result['label_agreement'] >= 0.9999, result
        assert result['passed']


@pytest.mark.parametrize('out_stride,num_convs,backbone', [
    (8, 2, {}),
    (16, 1, {}),
    (8, 1, dict(arch='A')),
    (16, 2, dict(memory_lean=True)),
])
def test_dynamic_export_matches_mmseg(tmp_path, out_stride, num_convs,
                                      backbone):
    model = tiny_segmentor(out_stride, num_convs, **backbone)
    path = export_onnx(
        model, str(tmp_path / 'model.onnx'), shape=(41, 47), dynamic=True)
    assert_close(path, model)
    assert os.listdir(tmp_path) == ['model.onnx']
    session = onnxruntime.InferenceSession(
        path, providers=['CPUExecutionProvider'])
    (image, ), (logits, ) = session.get_inputs(), session.get_outputs()
    assert (image.name, image.shape) == ('image', ['N', 3, 'H', 'W'])
    assert (logits.name, logits.shape) == ('logits', ['N', 7, 'H', 'W'])
    # a batch of two
    batch = np.stack([random_image(SIZES[0], seed=i) for i in range(2)])
    out = session.run(
        ['logits'],
        {'image': batch.transpose(0, 3, 1, 2).astype(np.float32)})[0]
    for one, image in zip(out, batch):
        ref = mmseg_logits(model, image)
        assert np.abs(one - ref).max() <= 1e-4 * np.abs(ref).max()


def test_verify_tells_a_different_model(tmp_path):
    model = tiny_segmentor()
    path = export_onnx(model, str(tmp_path / 'model.onnx'), shape=SIZES[0])
    other = randomize(tiny_segmentor(), seed=1)
    (result, ) = verify_onnx(other, path, [random_image(SIZES[0])])
    assert not result['passed']
    assert result['max_abs_diff'] > 1e-4 * result['max_abs_ref']


def test_export_refuses_the_original_procedure(tmp_path):
    from mmseg.apis import init_model
    model = init_model(
        osp.join(REPO, 'configs', 'original', 'rn38_voc_original.py'),
        None,
        device='cpu',
        cfg_options={
            'model.backbone.width': 1 / 16,
            'model.decode_head.in_channels': 256,
            'model.decode_head.channels': 32
        })
    with pytest.raises(ExportError, match='OriginalEncoderDecoder'):
        export_onnx(model, str(tmp_path / 'x.onnx'))
    assert os.listdir(tmp_path) == []


@pytest.fixture(scope='module')
def checkpoint(tmp_path_factory):
    """A demo-config checkpoint (width 1/8, as ``make demo`` trains it) with
    random weights and BN statistics."""
    from mmseg.apis import init_model
    path = tmp_path_factory.mktemp('ckpt') / 'demo.pth'
    model = randomize(init_model(DEMO, None, device='cpu'))
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return str(path)


def test_tool_exports_and_verifies(tmp_path, checkpoint):
    image = tmp_path / 'odd.png'
    Image.fromarray(random_image((45, 67))).save(image)
    out = tmp_path / 'demo.onnx'
    proc = run_tool('deployment/pytorch2onnx.py', DEMO, checkpoint, '--out',
                    out, '--shape', 33, 39, '--dynamic', '--verify', image)
    assert f'wrote {out}' in proc.stdout
    assert 'odd.png: max |diff|' in proc.stdout and ': ok' in proc.stdout

    # the ONNX-Runtime-only example, with torch, mmseg and mmcv unimportable
    labels = tmp_path / 'labels.png'
    example = osp.join(REPO, 'tools', 'deployment', 'onnxruntime_infer.py')
    blocked = ('import runpy, sys; '
               'sys.modules.update(torch=None, mmseg=None, mmcv=None); '
               f'sys.argv = [{example!r}, *sys.argv[1:]]; '
               f"runpy.run_path({example!r}, run_name='__main__')")
    subprocess.run([
        sys.executable, '-c', blocked,
        str(out),
        str(image), '--out',
        str(labels)
    ],
                   check=True,
                   env=tool_env(),
                   timeout=300)
    # tools/infer.py's labels: mmseg's inference_model on the fast path
    from mmseg.apis import inference_model

    from mmrn38 import optimize_for_inference
    from mmrn38.apis import init_segmentor, read_image
    model = optimize_for_inference(init_segmentor(DEMO, checkpoint))
    expected = inference_model(model, read_image(
        str(image))).pred_sem_seg.data[0].numpy()
    np.testing.assert_array_equal(np.asarray(Image.open(labels)), expected)


def test_tool_static_shape_checks_verify_images(tmp_path, checkpoint):
    image = tmp_path / 'odd.png'
    Image.fromarray(random_image((45, 67))).save(image)
    proc = run_tool(
        'deployment/pytorch2onnx.py',
        DEMO,
        checkpoint,
        '--out',
        tmp_path / 'x.onnx',
        '--shape',
        33,
        39,
        '--verify',
        image,
        check=False)
    assert proc.returncode == 1
    assert 'pytorch2onnx: error: --verify image' in proc.stdout
    assert not (tmp_path / 'x.onnx').exists()


def error_line(proc):
    lines = [
        line for line in proc.stdout.splitlines()
        if line.startswith('pytorch2onnx: error:')
    ]
    assert proc.returncode == 1 and len(lines) == 1, proc.stdout[-3000:]
    return lines[0]


def test_tool_errors(tmp_path, checkpoint, capsys):
    """Each kind of bad input ends with one error line and leaves no
    file: the first as a user runs the tool (a process: stderr, exit
    status), the others through its main() in this process."""
    tool = load_tool('deployment/pytorch2onnx.py')

    def error_of(*args):
        assert tool.main([str(a) for a in args]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        # (the first in-process import may also warn on stderr)
        errors = [
            line for line in lines if line.startswith('pytorch2onnx: error:')
        ]
        assert errors == lines[-1:] and not any('Traceback' in line
                                                for line in lines), lines
        return errors[0]

    fcn = tmp_path / 'fcn.py'
    fcn.write_text("_base_ = ['mmseg::_base_/models/fcn_r50-d8.py']\n")
    out = tmp_path / 'out' / 'x.onnx'
    assert "'ResNetV1c', not ResNet38" in error_line(
        run_tool(
            'deployment/pytorch2onnx.py',
            fcn,
            checkpoint,
            '--out',
            out,
            check=False))
    cases = [
        ((osp.join(REPO, 'configs', 'rn38_in1k.py'), checkpoint, '--out', out),
         'not a segmentor'),
        ((osp.join(REPO, 'configs', 'original', 'rn38_voc_original.py'),
          checkpoint, '--out', out), 'OriginalEncoderDecoder'),
        ((DEMO, tmp_path / 'missing.pth', '--out', out),
         'checkpoint not found'),
        ((tmp_path / 'missing.py', checkpoint, '--out', out),
         'config not found'),
    ]
    for args, message in cases:
        assert message in error_of(*args)
    assert not (tmp_path / 'out').exists()

    # unwritable outputs: below a file, and a folder
    afile = tmp_path / 'afile'
    afile.write_text('')
    for target in (afile / 'x.onnx', tmp_path):
        assert f'cannot write {target}' in error_of(DEMO, checkpoint, '--out',
                                                    target, '--shape', 32, 32)
    assert sorted(os.listdir(tmp_path)) == ['afile', 'fcn.py']


@pytest.mark.parametrize('runtime', ['onnxruntime', 'openvino'])
def test_benchmark_runtime_case_is_the_rn38_network(runtime):
    """The benchmark's runtime cases segment as rn38-os8 (same weights)."""
    from mmrn38.benchmark import CASES, BenchmarkSettings, CaseRunner
    name = f'rn38-os8-{runtime}'
    if name not in CASES:
        pytest.skip(f'{runtime} is not installed')
    settings = BenchmarkSettings(size=(33, 40), width=1 / 16, num_classes=5)
    images = torch.randn(2, 3, 33, 40)
    metas = [dict(img_shape=(33, 40), pad_shape=(33, 40))] * 2
    logits = []
    for case in ('rn38-os8', name):
        torch.manual_seed(0)
        runner = CaseRunner(CASES[case], settings)
        runner.model.eval()
        with torch.no_grad():
            logits.append(runner.infer(images, metas))
    assert CASES[name].trains is False
    ref = logits[0].abs().max()
    assert (logits[1] - logits[0]).abs().max() <= 1e-4 * ref
