"""tools/benchmark.py on tiny networks: every figure is measured, the
table and the JSON report agree, and the memory-lean mode needs less
training memory than the plain one."""
import json

from rn38_testing import run_tool

from mmrn38.utils.benchmark import CASES, BenchmarkSettings, build_segmentor


def test_benchmark_tool_reports_every_case(tmp_path):
    report_file = tmp_path / 'report.json'
    cases = ['rn38-os8', 'rn38-os8-lean', 'r50-d8']
    proc = run_tool('benchmark.py', '--cases', *cases, '--size', 48, 40,
                    '--width', 0.0625, '--repeats', 1, '--warmup', 0,
                    '--bf16', '--json', report_file)
    report = json.loads(report_file.read_text())
    assert report['settings']['size'] == [48, 40]
    results = {r['case']: r for r in report['results']}
    assert list(results) == cases
    for result in results.values():
        for key in ('params', 'flops', 'infer_s', 'infer_bf16_s', 'train_s',
                    'peak_bytes', 'peak_rss_bytes'):
            assert result[key] > 0, (result['case'], key)
        assert 0 <= result['bf16_agreement'] <= 1
    plain, lean = results['rn38-os8'], results['rn38-os8-lean']
    # the same network: same parameters and forward arithmetic
    assert plain['params'] == lean['params']
    assert plain['flops'] == lean['flops']
    assert lean['peak_bytes'] < plain['peak_bytes']
    # one table row per case, with ratios to the first
    rows = [line for line in proc.stdout.splitlines()
            if line.startswith('| rn38') or line.startswith('| r50')]
    assert [row.split('|')[1].strip() for row in rows] == cases
    assert '(1.00x)' in rows[0]


def test_every_case_builds_and_segments():
    """Each case is an mmseg EncoderDecoder whose head reads the last
    features of its backbone, and predicts at input size."""
    import torch
    settings = BenchmarkSettings(width=0.0625, num_classes=5)
    for name in CASES:
        model = build_segmentor(CASES[name], settings).eval()
        with torch.no_grad():
            logits = model.encode_decode(
                torch.randn(1, 3, 33, 40),
                [dict(img_shape=(33, 40), pad_shape=(33, 40))])
        assert logits.shape == (1, 5, 33, 40), name
