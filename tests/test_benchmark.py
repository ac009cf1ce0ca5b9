"""tools/analysis_tools/benchmark.py on tiny networks: every figure is
measured, the table (titled with the CPU flags and the kernels' limits) and
the JSON report agree, the plain port does the project's arithmetic, and
the memory-lean mode needs less training memory than the plain one."""
import dataclasses
import json

import pytest
import torch
from rn38_testing import run_tool

from mmrn38.benchmark import CASES, BenchmarkSettings, CaseRunner
from mmrn38.benchmark.plain_port import PlainResNet38Seg
from mmrn38.converters.key_mapping import backbone_source_name
from mmrn38.utils.device_features import cpu_flags


def test_benchmark_tool_reports_every_case(tmp_path):
    report_file = tmp_path / 'report.json'
    cases = [
        'rn38-os8', 'plain-port', 'rn38-os8-fast', 'rn38-os8-lean',
        'rn38-os8-cl', 'r50-d8', 'rn38-os8-tuned', 'rn38-os8-onednn'
    ]
    choices = tmp_path / 'choices.json'
    proc = run_tool(
        'analysis_tools/benchmark.py',
        '--cases',
        *cases,
        '--size',
        48,
        40,
        '--width',
        0.0625,
        '--repeats',
        1,
        '--warmup',
        0,
        '--bf16',
        '--json',
        report_file,
        env=dict(
            ONEDNN_MAX_CPU_ISA='AVX2', MMRN38_KERNEL_CHOICES=str(choices)))
    report = json.loads(report_file.read_text())
    assert report['settings']['size'] == [48, 40]
    assert report['machine']['cpu_flags'] == list(cpu_flags())
    # oneDNN's kernels limited to AVX2 (another machine kind's): said
    assert report['machine']['kernel_isa_limits']['ONEDNN_MAX_CPU_ISA'] \
        == 'AVX2'
    results = {r['case']: r for r in report['results']}
    assert list(results) == cases
    for result in results.values():
        keys = ('params', 'flops', 'infer_s', 'infer_bf16_s')
        if not CASES[result['case']].fast:  # inference only
            keys += ('train_s', 'peak_bytes', 'peak_rss_bytes')
        for key in keys:
            assert result[key] > 0, (result['case'], key)
        # bf16 autocast computes nearly the same classes as float32
        assert result['bf16_agreement'] > 0.5
    plain, lean = results['rn38-os8'], results['rn38-os8-lean']
    # the same network: same parameters and forward arithmetic
    for other in (lean, results['plain-port'], results['rn38-os8-fast'],
                  results['rn38-os8-cl'], results['rn38-os8-onednn']):
        assert other['flops'] == plain['flops'], other['case']
    # the autotuned kernels were timed before the FLOPs were counted: the
    # count is its plan's (Winograd's tiles and transforms count a little
    # more or less than the direct conv), not that of every candidate's
    # timed runs (3 kernels x 6 runs: 5.45x at width 1, 256x256)
    assert results['rn38-os8-tuned']['flops'] < 1.2 * plain['flops']
    assert lean['params'] == plain['params']
    assert results['plain-port']['params'] == plain['params']
    assert lean['peak_bytes'] < plain['peak_bytes']
    # one table row per case, with ratios to the first; the CPU flags in
    # the title
    rows = [
        line for line in proc.stdout.splitlines()
        if line.startswith(('| rn38', '| r50', '| plain'))
    ]
    assert [row.split('|')[1].strip() for row in rows] == cases
    assert '(1.00x)' in rows[0]
    assert f'CPU flags: {" ".join(cpu_flags()) or "unknown"}' in proc.stdout
    assert 'kernels limited to ONEDNN_MAX_CPU_ISA=AVX2' in proc.stdout
    # what oneDNN ran, from its verbose output: AVX2 kernels only (where
    # PyTorch used oneDNN at all), and a line for each case and mode
    ran = [
        k for result in results.values() for mode in ('fp32', 'bf16')
        for k in result['onednn'][mode]['primitives']
    ]
    assert any(k.startswith('convolution') and 'avx2' in k for k in ran)
    assert not any('avx512' in k for k in ran), ran
    assert proc.stdout.count('- oneDNN ran, ') == 2 * len(cases)
    assert 'oneDNN\'s instruction set limit on this CPU: Intel AVX2' in \
        proc.stdout
    # the kernel plans: the autotuned one timed into the choices file
    tuned = results['rn38-os8-tuned']['plan']
    assert set(tuned) == {'fp32', 'bf16'}
    assert 'Winograd F(4x4) float32' in results['rn38-os8-fast']['plan'][
        'fp32'] or 'oneDNN float32' in results['rn38-os8-fast']['plan']['fp32']
    assert f'- kernel plan, rn38-os8-tuned float32: {tuned["fp32"]}' in \
        proc.stdout
    assert len(json.loads(choices.read_text())) == 1


def test_every_case_builds_and_segments(tmp_path, monkeypatch):
    """Each case predicts at input size; the mmseg ones are EncoderDecoders
    whose head reads the last features of their backbone."""
    # the autotuned case's decisions: not into the user's cache
    monkeypatch.setenv('MMRN38_KERNEL_CHOICES', str(tmp_path / 'k.json'))
    settings = BenchmarkSettings(width=0.0625, num_classes=5)
    for name, case in CASES.items():
        if case.int8:  # one input shape: test_quantize.py's benchmark test
            continue
        runner = CaseRunner(case, settings)
        runner.model.eval()
        with torch.no_grad():
            logits = runner.infer(
                torch.randn(1, 3, 33, 40),
                [dict(img_shape=(33, 40), pad_shape=(33, 40))])
        assert logits.shape == (1, 5, 33, 40), name


@pytest.mark.parametrize('name', ['rn38-os8', 'rn38-os16'])
def test_plain_port_computes_the_projects_network(name):
    """The transcription is the rn38 network: its weights (PSA's names,
    mapped as the converter maps them) loaded strictly into the case give
    the same logits."""
    out_stride = CASES[name].backbone['out_stride']
    ours = CaseRunner(CASES[name],
                      BenchmarkSettings(width=0.0625, num_classes=5)).model
    torch.manual_seed(0)
    port = PlainResNet38Seg(5, 0.0625, out_stride)
    generator = torch.Generator().manual_seed(0)
    for m in port.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            for stat in (m.weight, m.bias, m.running_mean, m.running_var):
                stat.data = torch.rand(m.num_features, generator=generator) \
                    + 0.5
    source = port.state_dict()
    head = {
        'decode_head.conv.conv': 'conv6a',
        'decode_head.conv_seg': 'classifier'
    }
    state = {}
    for key in ours.state_dict():
        if key.startswith('backbone.'):
            name = backbone_source_name(key[len('backbone.'):], 'psa')
        else:
            module, suffix = key.rsplit('.', 1)
            name = f'{head[module]}.{suffix}'
        state[key] = source[name]
    ours.load_state_dict(state)
    assert len(state) == len(source)
    images = torch.randn(2, 3, 33, 40)
    with torch.no_grad():
        logits = ours.eval().encode_decode(
            images, [dict(img_shape=(33, 40), pad_shape=(33, 40))] * 2)
        torch.testing.assert_close(logits, port.eval()(images))


def test_training_out_of_memory_is_a_result(monkeypatch):
    """A case whose training step runs out of device memory keeps its other
    figures and shows OOM in the training columns, instead of ending the
    run."""
    from mmrn38.benchmark import format_table, measure
    from mmrn38.benchmark.report import TRAIN_KEYS

    def out_of_memory(fn, settings, device):
        raise torch.OutOfMemoryError('CUDA out of memory (simulated)')

    settings = BenchmarkSettings(
        size=(33, 40), width=0.0625, repeats=1, warmup=0)
    fits = measure.measure_case('r50-d8', settings)
    monkeypatch.setattr(measure, '_median_seconds', out_of_memory)
    too_large = measure.measure_case('rn38-os8', settings)
    assert too_large['train_oom'] and too_large['flops'] > 0
    assert not any(key in too_large for key in TRAIN_KEYS)
    report = dict(
        settings=dataclasses.asdict(settings),
        machine=measure.machine_info('cpu'),
        loadavg_before=(0, 0, 0),
        loadavg_after=(0, 0, 0),
        results=[fits, too_large])
    row = format_table(report).splitlines()[-1]
    assert row.startswith('| rn38-os8') and row.count('OOM') == 3


def test_onednn_isa_from_verbose_output():
    """The instruction set oneDNN's kernels used, read from its verbose
    output: AVX512-BF16 (``avx512_core_bf16``) for a bfloat16 conv and
    matmul where the CPU has it (AMX: ``avx512_core_amx``), AVX-512 or
    AVX2 in float32; nothing counted outside the block."""
    from mmrn38.benchmark.onednn import onednn_kernels, parse_verbose
    conv = torch.nn.Conv2d(
        64, 64, 3, padding=1).to(memory_format=torch.channels_last)
    x = torch.randn(1, 64, 32,
                    32).contiguous(memory_format=torch.channels_last)

    def run():
        with torch.no_grad():
            conv(x)
            with torch.autocast('cpu', dtype=torch.bfloat16):
                conv(x)
                torch.bmm(
                    x.reshape(1, 64, -1).bfloat16(),
                    x.reshape(1, -1, 64).bfloat16())

    ran = onednn_kernels(run)['primitives']
    conv(x)  # after the block: not seen
    assert sum(ran.values()) == 3, ran
    fp32, = (k for k in ran if k.startswith('convolution') and 'f32' in k)
    assert 'avx' in fp32
    if 'avx512_bf16' in cpu_flags() or 'amx_bf16' in cpu_flags():
        isa = 'avx512_core_amx' if 'amx_bf16' in cpu_flags() else \
            'avx512_core_bf16'
        assert any(
            k.startswith('convolution') and f':{isa} bf16' in k
            for k in ran), ran
        assert any(
            k.startswith('matmul') and f':{isa} bf16' in k for k in ran), ran
    parsed = parse_verbose(
        'onednn_verbose,v1,info,cpu,isa:Intel AVX-512 with AMX\n'
        'onednn_verbose,v1,primitive,exec,cpu,reorder,jit:uni,undef,'
        'src:f32::blocked:abcd::f0 dst:f32::blocked:aBcd16b::f0,,,1x2,0.1\n'
        'onednn_verbose,v1,primitive,exec,cpu,convolution,'
        'brg_conv_fwd:avx512_core_amx,forward_training,src:bf16::blocked:'
        'acdb::f0 wei:bf16:a:blocked:AcdB16b16a2b::f0 dst:bf16::blocked:'
        'acdb::f0,attr-scratchpad:user,alg:convolution_direct,mb1,0.5\n')
    assert parsed == dict(
        max_isa='Intel AVX-512 with AMX',
        primitives={'convolution brg_conv_fwd:avx512_core_amx bf16': 1})
