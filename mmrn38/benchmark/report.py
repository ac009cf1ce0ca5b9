"""The benchmark's report: a Markdown table with ratios to a reference
case, titled with the machine (CPU model and flags, threads) and its load,
and the JSON file."""
import json
from typing import Optional

from mmrn38.utils.atomic_file import atomic_output


def _mib(n):
    return n / 2**20


COLUMNS = (
    # header, key, value -> number shown, format, ratio of the shown value
    ('params (M)', 'params', lambda v: v / 1e6, '{:.2f}'),
    ('GFLOPs', 'flops', lambda v: v / 1e9, '{:.1f}'),
    ('infer img/s', 'infer_s', None, '{:.3g}'),
    ('bf16 img/s', 'infer_bf16_s', None, '{:.3g}'),
    ('bf16 argmax =', 'bf16_agreement', lambda v: 100 * v, '{:.2f} %'),
    ('train s/step', 'train_s', lambda v: v, '{:.3g}'),
    ('peak MiB', 'peak_bytes', _mib, '{:.0f}'),
    ('peak RSS MiB', 'peak_rss_bytes', _mib, '{:.0f}'),
)

# the figures a training step that ran out of memory leaves out
TRAIN_KEYS = ('train_s', 'peak_bytes', 'peak_rss_bytes')


def _limits(machine: dict) -> str:
    """'; kernels limited to ONEDNN_MAX_CPU_ISA=AVX2 ...' where such
    environment variables were set (else '')."""
    limits = machine.get('kernel_isa_limits')
    if not limits:
        return ''
    return '; kernels limited to ' + ' '.join(
        f'{name}={value}' for name, value in limits.items())


def format_table(report: dict, reference: Optional[str] = None) -> str:
    """The report as a Markdown table; each number is followed by its ratio
    to the ``reference`` case (default: the first). The title names the
    settings, the machine with its CPU flags (and the kernels' instruction
    set limits, where set) and the load average."""
    settings = report['settings']
    results = report['results']
    by_name = {r['case']: r for r in results}
    reference = reference or results[0]['case']
    if reference not in by_name:
        raise ValueError(f'reference {reference!r} is not among the cases '
                         f'{list(by_name)}')
    ref = by_name[reference]
    batch = settings['batch']

    def shown(result, key, transform):
        value = result.get(key)
        if value is None:
            return None
        if transform is None:  # seconds per batch -> images per second
            return batch / value
        return transform(value)

    columns = [
        c for c in COLUMNS if any(r.get(c[1]) is not None for r in results)
    ]
    header = ['case', 'backbone'] + [c[0] for c in columns]
    rows = []
    for result in results:
        row = [result['case'], result['description']]
        for _, key, transform, fmt in columns:
            value = shown(result, key, transform)
            ref_value = shown(ref, key, transform)
            if value is None:
                row.append('OOM' if result.get('train_oom')
                           and key in TRAIN_KEYS else '-')
            elif key == 'bf16_agreement' or not ref_value:
                row.append(fmt.format(value))
            else:
                row.append(f'{fmt.format(value)} ({value / ref_value:.2f}x)')
        rows.append(row)
    h, w = settings['size']
    machine = report['machine']
    title = (f'{h}x{w}, batch {batch}, {settings["device"]} '
             f'({machine.get("gpu", machine["cpu"])}, '
             f'{machine["torch_threads"]} threads; CPU flags: '
             f'{" ".join(machine["cpu_flags"]) or "unknown"}'
             f'{_limits(machine)}), '
             f'torch {machine["torch"]}; '
             f'median of {settings["repeats"]} after {settings["warmup"]} '
             f'warm-up; channels_last={settings["channels_last"]}, '
             f'amp={settings["amp"]}, BN '
             f'{"trained" if settings["train_bn"] else "frozen"}, '
             f'width {settings["width"]:g}; ratios to {reference}; load '
             f'{report["loadavg_before"][0]:.2f} before, '
             f'{report["loadavg_after"][0]:.2f} after')
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = [title, '']
    for i, row in enumerate([header] + rows):
        lines.append('| ' +
                     ' | '.join(str(x).ljust(n)
                                for x, n in zip(row, widths)) + ' |')
        if i == 0:
            lines.append('|' + '|'.join('-' * (n + 2) for n in widths) + '|')
    return '\n'.join(lines + kernel_lines(results))


MODE_NAMES = dict(fp32='float32', bf16='bfloat16')


def kernel_lines(results) -> list:
    """Below the table: each fast-path case's kernel plan and each case's
    oneDNN kernels with their instruction sets, per mode (with the most
    the CPU allows, as oneDNN names it, once)."""
    from .onednn import isa_summary
    lines, max_isa = [], None
    for result in results:
        for mode, plan in result.get('plan', {}).items():
            lines.append(f'- kernel plan, {result["case"]} '
                         f'{MODE_NAMES[mode]}: {plan}')
        for mode, parsed in result.get('onednn', {}).items():
            max_isa = max_isa or parsed.get('max_isa')
            lines.append(f'- oneDNN ran, {result["case"]} '
                         f'{MODE_NAMES[mode]}: {isa_summary(parsed)}')
    if max_isa:
        lines.append(f'- oneDNN\'s instruction set limit on this CPU: '
                     f'{max_isa}')
    return [''] + lines if lines else []


def dump_json(report: dict, path: str):
    """Write ``report`` to ``path`` atomically (a temporary file in the same
    folder, then a rename)."""
    with atomic_output(path) as tmp, open(tmp, 'w') as f:
        json.dump(report, f, indent=2)


__all__ = ['COLUMNS', 'dump_json', 'format_table', 'kernel_lines']
