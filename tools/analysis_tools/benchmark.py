"""Speed and memory of ResNet-38 against its plain PyTorch port, its
inference fast path and mmseg's ResNet-D8 networks.

Runs the cases (each in a fresh process, then their inference interleaved
in one more), prints a Markdown table with each figure's ratio to the
reference case, titled with the machine's CPU flags and load, and
optionally writes the report as JSON. See ``mmrn38/benchmark/`` for what is
measured and how.

Examples::

    python tools/analysis_tools/benchmark.py --size 512 \\
        --json work_dirs/benchmark.json
    python tools/analysis_tools/benchmark.py --cases plain-port rn38-os8 \\
        rn38-os8-fast --size 256 --repeats 5 --bf16
    python tools/analysis_tools/benchmark.py --device cuda --batch 8 --amp
    # another machine kind's kernels (the title says so)
    ONEDNN_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2 \\
        ATEN_CPU_CAPABILITY=avx2 python tools/analysis_tools/benchmark.py \\
        --cases plain-port rn38-os8-fast --size 256
"""
from mmrn38.apis.cli import add_device, call_with_args, tool_parser
from mmrn38.benchmark import (CASES, BenchmarkSettings, dump_json,
                              format_table, run_benchmark)
from mmrn38.utils.device_features import bf16_support


def parse_args():
    parser = tool_parser(
        None,
        'Benchmark ResNet-38 against its plain port, its fast path and mmseg '
        'ResNet-D8 networks',
        config_help=None)
    parser.add_argument(
        '--cases',
        nargs='+',
        choices=list(CASES),
        default=list(CASES),
        help='cases to run, in this order (default: all)')
    parser.add_argument(
        '--reference', help='case the ratios refer to (default: the first)')
    parser.add_argument(
        '--size',
        type=int,
        nargs='+',
        default=[512],
        help='input size: H [W] (default 512)')
    parser.add_argument('--batch', type=int, default=1, help='batch size')
    parser.add_argument(
        '--repeats',
        type=int,
        default=3,
        help='timed runs per measurement; the median is reported')
    parser.add_argument(
        '--warmup', type=int, default=1, help='untimed runs before them')
    add_device(parser, help='cpu, cuda or cuda:N (default cpu)')
    parser.add_argument(
        '--bf16',
        action='store_true',
        help='also time bfloat16-autocast inference and compare its argmax '
        'with float32')
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='model and inputs in channels_last memory format')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='train with mixed precision: mmengine AmpOptimWrapper (float16) '
        'on CUDA, mmrn38 CPUAmpOptimWrapper (bfloat16) on CPU')
    parser.add_argument(
        '--train-bn',
        action='store_true',
        help='train BN layers (norm_eval=False) instead of freezing them')
    parser.add_argument(
        '--width',
        type=float,
        default=1.0,
        help='multiplier of every channel count (e.g. 0.0625 for a quick '
        'check)')
    parser.add_argument(
        '--num-classes', type=int, default=21, help='classes of the head')
    parser.add_argument('--json', help='write the report to this JSON file')
    args = parser.parse_args()
    if len(args.size) not in (1, 2):
        parser.error('--size takes H or H W')
    if args.reference is not None and args.reference not in args.cases:
        parser.error(f'--reference {args.reference} is not among --cases')
    return args


def main():
    args = parse_args()
    settings = call_with_args(
        BenchmarkSettings, args, size=(args.size[0], args.size[-1]))
    bf16_flags = [
        flag for flag, used in (('--bf16', args.bf16),
                                ('--amp', args.amp and args.device == 'cpu'))
        if used
    ]
    if bf16_flags:
        supported, reason = bf16_support(args.device)
        if not supported:
            print(f'warning: {" and ".join(bf16_flags)} time the slow '
                  f'bfloat16 path: {reason}')
    report = run_benchmark(args.cases, settings)
    print()
    print(format_table(report, args.reference))
    if args.json:
        dump_json(report, args.json)
        print(f'\nreport written to {args.json}')


if __name__ == '__main__':
    main()
