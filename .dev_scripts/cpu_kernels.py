"""The CPU kernels of issue 26 measured on the machine at hand (meant for
an AMX host; runs on any x86 CPU): ResNet-38 A1 OS 8 + the "2 conv" head
(the benchmark's ``rn38-os8`` segmentor), batch 1, random weights, in one
process, interleaved rounds (each round runs every case once at every
size), so that the ratios see the same machine load:

- ``plain``: the plain PyTorch port, float32;
- ``fp32`` / ``fp32-onednn`` / ``fp32-winograd`` / ``fp32-tuned``:
  ``optimize_for_inference`` with the rule-based plan, oneDNN only, the
  AVX-512 rule's Winograd F(4x4) (fixed), kernels chosen by timing;
- ``bf16`` / ``bf16-onednn`` / ``bf16-winograd`` / ``bf16-tuned``: the
  same with ``bf16=True`` (Winograd F(2x2));
- ``fp32-unpacked`` / ``bf16-unpacked``: ``fp32`` / ``bf16`` without
  prepacked oneDNN weights;
- ``int8``: :mod:`mmrn38.deployment.int8` (torchao PT2E, x86 inductor
  quantizer, calibrated on 2 random images, compiled), where torchao is
  installed and the time budget allows.

Also the oneDNN kernels each case ran and their instruction sets (from
oneDNN's verbose output) and the kernel plans. Each case is built and
timed under ``try``: failures are recorded, not fatal. ``OUT/cpu_kernels_
<threads>t.json`` and ``.md`` are rewritten after every case and round.

    python .dev_scripts/cpu_kernels.py OUT --threads 2 --sizes 256 512 \\
        --budget-s 200
"""
import argparse
import copy
import json
import os
import os.path as osp
import statistics
import sys
import time
import traceback

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


class Record:
    """The JSON record and its Markdown table, rewritten after every
    change."""

    def __init__(self, out, threads, sizes):
        self.base = osp.join(out, f'cpu_kernels_{threads}t')
        self.sizes = sizes
        self.data = dict(
            threads=threads,
            sizes=sizes,
            cases={},
            failures={},
            times={},
            kernels={},
            plans={},
            notes=[])

    def save(self):
        for ext, text in (('.json',
                           json.dumps(self.data, indent=1,
                                      default=str)), ('.md', self.markdown())):
            tmp = self.base + ext + '.tmp'
            with open(tmp, 'w') as f:
                f.write(text)
            os.replace(tmp, self.base + ext)

    def median(self, case, size):
        times = self.data['times'].get(case, {}).get(str(size), [])
        return statistics.median(times) if times else None

    def markdown(self):
        d = self.data
        lines = [f'# CPU kernels, {d["threads"]} threads', ''
                 ] + [f'- {k}: {v}' for k, v in d.get('machine', {}).items()]
        lines += [
            '', '| case | ' + ' | '.join(f'{s}² s | x plain'
                                         for s in self.sizes) + ' |',
            '|---|' + '---|---|' * len(self.sizes)
        ]
        for case in d['cases']:
            row = [case]
            for size in self.sizes:
                t, ref = self.median(case, size), self.median('plain', size)
                n = len(d['times'].get(case, {}).get(str(size), []))
                row += [
                    f'{t:.4f} (n={n})' if t else '-',
                    f'{ref / t:.2f}' if t and ref else '-'
                ]
            lines.append('| ' + ' | '.join(row) + ' |')
        for dtype in ('fp32', 'bf16'):
            for size in self.sizes:
                tuned = self.median(f'{dtype}-tuned', size)
                fixed = [
                    self.median(f'{dtype}-{k}', size)
                    for k in ('onednn', 'winograd')
                ]
                if tuned and all(fixed):
                    lines.append(f'- {dtype} {size}²: tuned / best fixed '
                                 f'choice = {tuned / min(fixed):.3f}')
        lines += ['', '## oneDNN kernels run (verbose output)', '']
        lines += [f'- {k}: {v}' for k, v in d['kernels'].items()]
        lines += ['', '## Kernel plans', '']
        lines += [f'- {k}: {v}' for k, v in d['plans'].items()]
        if d['failures']:
            lines += ['', '## Failures', '']
            lines += [f'- {k}: `{v[-600:]}`' for k, v in d['failures'].items()]
        lines += [''] + [f'- {n}' for n in d['notes']]
        return '\n'.join(lines) + '\n'


def build_cases(record, width, out, threads, int8_sizes, int8_by, only=None):
    """name -> (callable(images) -> logits, bf16)."""
    import mmrn38.models.inference_optimization as inference_optimization
    from mmrn38 import optimize_for_inference
    from mmrn38.benchmark import CASES, BenchmarkSettings
    from mmrn38.benchmark.cases import build_segmentor
    from mmrn38.benchmark.plain_port import PlainResNet38Seg
    settings = BenchmarkSettings(width=width)
    torch.manual_seed(0)
    base = build_segmentor(CASES['rn38-os8'], settings).eval()
    cache = osp.join(out, f'kernel_choices_{threads}t.json')
    no_amx = tuple(f for f in inference_optimization.cpu_flags()
                   if f != 'amx_bf16')
    options = {
        'fp32': {},
        'fp32-onednn': dict(winograd=False),
        'fp32-winograd': dict(rule_flags=no_amx),
        'fp32-tuned': dict(autotune=True, kernel_cache=cache),
        'fp32-unpacked': dict(prepack=False),
        'bf16': dict(bf16=True),
        'bf16-onednn': dict(bf16=True, winograd=False),
        'bf16-winograd': dict(bf16=True, rule_flags=no_amx),
        'bf16-tuned': dict(bf16=True, autotune=True, kernel_cache=cache),
        'bf16-unpacked': dict(bf16=True, prepack=False),
    }
    cases = {}

    def add(name, build):
        if only and name not in only:
            return
        start = time.time()
        try:
            cases[name] = build()
            record.data['cases'][name] = dict(
                build_s=round(time.time() - start, 1))
        except Exception:
            record.data['failures'][name] = traceback.format_exc()
        record.save()

    def plain():
        torch.manual_seed(0)
        model = PlainResNet38Seg(settings.num_classes, width).eval()
        return (lambda x: model(x)), False

    add('plain', plain)
    for name, kwargs in options.items():

        def fast(kwargs=dict(kwargs)):
            flags = kwargs.pop('rule_flags', None)
            saved = inference_optimization.cpu_flags
            if flags is not None:
                inference_optimization.cpu_flags = lambda: flags
            try:
                model = optimize_for_inference(copy.deepcopy(base), **kwargs)
            finally:
                inference_optimization.cpu_flags = saved

            def run(x):
                metas = [dict(img_shape=x.shape[2:], pad_shape=x.shape[2:])]
                with torch.autocast(
                        'cpu', dtype=torch.bfloat16,
                        enabled=model.inference_bf16):
                    return model.encode_decode(
                        x.contiguous(memory_format=torch.channels_last), metas)

            run.model = model
            return run, model.inference_bf16

        add(name, fast)
    for size in int8_sizes:
        if time.time() > int8_by:
            record.data['notes'].append(f'int8 {size}² skipped: too late')
            break

        def int8(size=size):
            from mmrn38.deployment.int8 import compile_int8, quantize_int8
            images = [torch.rand(1, 3, size, size) * 255 for _ in range(2)]
            graph = compile_int8(quantize_int8(copy.deepcopy(base), images))
            with torch.no_grad():
                graph(images[0])  # compiles

            def run(x):
                if x.shape[-1] != size:
                    return None
                return graph(x)

            return run, False

        add(f'int8-{size}', int8)
    return cases


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('out')
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--sizes', type=int, nargs='+', default=[256, 512])
    parser.add_argument(
        '--rounds',
        type=int,
        default=5,
        help='timed rounds at most (after one warm-up)')
    parser.add_argument(
        '--budget-s',
        type=float,
        default=200,
        help='no new round starts after this many seconds')
    parser.add_argument('--width', type=float, default=1.0)
    parser.add_argument(
        '--only',
        nargs='+',
        metavar='CASE',
        help='these cases only (default all)')
    parser.add_argument(
        '--int8-sizes',
        type=int,
        nargs='*',
        default=None,
        help='sizes to quantize at (default --sizes)')
    parser.add_argument(
        '--int8-by-s',
        type=float,
        default=100,
        help='no int8 quantization starts after this many '
        'seconds (each takes one to two minutes)')
    args = parser.parse_args()
    start = time.time()
    torch.set_num_threads(args.threads)
    os.makedirs(args.out, exist_ok=True)
    record = Record(args.out, args.threads, args.sizes)
    from mmrn38.benchmark.measure import machine_info
    from mmrn38.benchmark.onednn import isa_summary, onednn_kernels
    from mmrn38.models.conv_autotune import plan_summary
    record.data['machine'] = dict(
        machine_info('cpu'),
        loadavg=os.getloadavg(),
        affinity=sorted(os.sched_getaffinity(0)))
    record.save()
    import mmrn38.deployment.int8 as int8_module
    try:
        int8_module._torchao_pt2e()
        int8_sizes = args.sizes if args.int8_sizes is None else \
            args.int8_sizes
    except Exception as error:
        record.data['notes'].append(f'no int8: {error}')
        int8_sizes = []
    cases = build_cases(record, args.width, args.out, args.threads, int8_sizes,
                        start + args.int8_by_s, args.only)
    images = {s: torch.randn(1, 3, s, s) for s in args.sizes}
    for i in range(1 + args.rounds):
        if i > 1 and time.time() - start > args.budget_s:
            record.data['notes'].append(f'stopped after {i - 1} timed '
                                        f'rounds: budget')
            break
        for size in args.sizes:
            for name, (run, _) in cases.items():
                if name in record.data['failures']:
                    continue
                try:
                    with torch.no_grad():
                        t = time.perf_counter()
                        out = run(images[size])
                        t = time.perf_counter() - t
                    if out is None:
                        continue
                    if i > 0:
                        record.data['times'].setdefault(name, {}).setdefault(
                            str(size), []).append(t)
                    else:
                        record.data['cases'][name][f'first_{size}_s'] = t
                except Exception:
                    record.data['failures'][name] = traceback.format_exc()
                record.save()
        if i == 0:  # kernels and plans, once, after the warm-up
            size = args.sizes[0]
            for name, (run, _) in cases.items():
                try:

                    def once(run=run):
                        with torch.no_grad():
                            run(images[size])

                    record.data['kernels'][name] = isa_summary(
                        onednn_kernels(once))
                    plan = getattr(
                        getattr(run, 'model', None), 'inference_plan', None)
                    if plan is not None:
                        record.data['plans'][name] = plan_summary(plan)
                except Exception:
                    record.data['failures'][f'{name} kernels'] = \
                        traceback.format_exc()
                record.save()
    record.data['total_s'] = round(time.time() - start, 1)
    record.data['machine']['loadavg_after'] = os.getloadavg()
    record.save()
    print(record.markdown())


if __name__ == '__main__':
    main()
