"""Convert the original ResNet-38 weights into an mmseg / mmpretrain
checkpoint, with numpy and torch only (no MXNet).

SRC is an MXNet ``.params`` file of the original release (ademxapp) or a
PyTorch file of the PSA port (``resnet38d``); the format is told by the
file's content. DST receives ``{'meta': ..., 'state_dict': ...}``, written
atomically. Examples::

    python tools/model_converters/rn38_to_mm.py \\
        voc_rna-a1_cls21_s8_ep-0001.params checkpoints/rn38_a1_voc.pth
    python tools/model_converters/rn38_to_mm.py \\
        ilsvrc-cls_rna-a1_cls1000_ep-0001.params checkpoints/rn38_a1_in1k.pth
    python tools/model_converters/rn38_to_mm.py --task backbone \\
        res38_cls.pth checkpoints/rn38_psa_backbone.pth
    python tools/model_converters/rn38_to_mm.py \\
        res38_cls.pth checkpoints/rn38_psa_cls.pth   # for configs/wsss/
    python tools/model_converters/rn38_to_mm.py \
        res38_aff.pth checkpoints/rn38_psa_aff.pth   # AffinityNet
"""
import os.path as osp
import sys

from mmengine.utils import ProgressBar

from mmrn38.apis.cli import call_with_args, error_line, tool_parser
from mmrn38.converters import (ARCHS, OUT_STRIDES, TASKS, ConversionError,
                               MXNetParamsError, convert_rn38_weights,
                               write_checkpoint)

PROG = 'rn38_to_mm'
MODEL_OF_TASK = {
    'seg': 'mmseg EncoderDecoder: ResNet38 + WiderHead',
    'cls': 'mmpretrain ImageClassifier: ResNet38 + GlobalAveragePooling + '
    'LinearClsHead',
    'cam': 'mmpretrain ImageClassifier: ResNet38 (PSA dropout layout) + '
    'CAMHead, as configs/wsss/rn38_voc_cls.py',
    'aff': 'AffinityNet: ResNet38 (PSA dropout layout) + AffinityHead, as '
    'configs/wsss/rn38_voc_aff.py',
    'backbone': 'ResNet38 backbone only',
}


class ReadProgress:
    """mmengine's ``ProgressBar`` over the MiB read of a source file of at
    least ``min_bytes``, on stderr."""

    def __init__(self, min_bytes: int = 16 << 20):
        self.min_bytes = min_bytes
        self.bar = None
        self.mib_shown = 0

    def __call__(self, bytes_read: int, file_size: int):
        if file_size < self.min_bytes:
            return
        if self.bar is None:
            self.bar = ProgressBar(file_size >> 20, file=sys.stderr)
        mib = bytes_read >> 20
        if mib > self.mib_shown:
            self.bar.update(mib - self.mib_shown)
            self.mib_shown = mib

    def close(self):
        """End the progress line, if one was started."""
        if self.bar is not None:
            sys.stderr.write('\n')
            sys.stderr.flush()
            self.bar = None
            self.mib_shown = 0


def convert(src,
            dst,
            task='auto',
            num_classes=None,
            arch=None,
            out_stride=None,
            progress=None):
    """Convert ``src`` and save the checkpoint to ``dst`` atomically.

    The arguments are those of
    :func:`mmrn38.converters.convert_rn38_weights`.

    Returns:
        Conversion: What was converted, for the summary.
    """
    if osp.abspath(src) == osp.abspath(dst):
        raise ConversionError(f'{dst}: DST must differ from SRC')
    conversion = convert_rn38_weights(
        src,
        task=task,
        num_classes=num_classes,
        arch=arch,
        out_stride=out_stride,
        progress=progress)
    write_checkpoint(conversion.checkpoint, dst)
    return conversion


def summary(conversion, dst):
    """Lines describing a finished conversion."""
    meta = conversion.checkpoint['meta']
    num_keys = len(conversion.checkpoint['state_dict'])
    generated = [
        k for k in conversion.generated
        if not k.endswith('.num_batches_tracked')
    ]
    generated_note = f'{len(conversion.generated)} generated ' \
        f'(num_batches_tracked = 0' + \
        (f'; zeros: {", ".join(generated)})' if generated else ')')
    if meta['task'] in ('cls', 'cam', 'aff'):
        usage = f"load_from='{dst}'"
    else:
        usage = (f"init_cfg=dict(type='Pretrained', checkpoint='{dst}', "
                 f"prefix='backbone.') in the backbone")
        if meta['task'] == 'seg':
            usage = f"load_from='{dst}', or " + usage
    rows = [
        ('source', f"{meta['source']} ({meta['source_format']})"),
        ('md5', conversion.notes['md5']),
        ('arrays', f'{conversion.num_arrays} read, {num_keys} keys written, '
         f'{generated_note}'),
        ('parameters', f'{conversion.num_parameters:,}'),
        ('task', f"{meta['task']} ({MODEL_OF_TASK[meta['task']]})"),
        ('classes', str(meta['num_classes'] or '-')),
        ('arch', f"{meta['arch']} ({conversion.notes['arch']}), out_stride "
         f"{meta['out_stride']}, width {meta['width']:g}"),
        ('saved', dst),
        ('use', usage),
    ]
    if conversion.dropped:
        rows.insert(3, ('dropped', ', '.join(conversion.dropped)))
    return [f'{name:<11}{value}' for name, value in rows]


def parse_args(argv=None):
    parser = tool_parser(
        PROG, 'Convert original ResNet-38 weights (MXNet .params of ademxapp, '
        'PyTorch .pth of the PSA port) into an mmseg / mmpretrain '
        'checkpoint.',
        config_help=None)
    parser.add_argument('src', help='MXNet .params or PSA-port .pth file')
    parser.add_argument('dst', help='path of the checkpoint to write')
    parser.add_argument(
        '--task',
        choices=TASKS,
        default='auto',
        help='auto: from the head in SRC (cls for linear1000, cam for PSA\'s '
        'fc8, aff for PSA\'s AffinityNet f9, seg for conv6a/linear{K} convs, '
        'backbone if SRC has no head); '
        'cls with an fc8 file: a LinearClsHead instead of the CAMHead; '
        'backbone: keep only the backbone, dropping (and listing) everything '
        'else')
    parser.add_argument(
        '--num-classes',
        type=int,
        help='fail unless the head in SRC has this many classes')
    parser.add_argument(
        '--arch',
        choices=ARCHS,
        help='Model A or A1 (default: from the file name, rna-a_ or rna-a1_, '
        'else A1; their weights have identical names and shapes)')
    parser.add_argument(
        '--out-stride',
        type=int,
        choices=OUT_STRIDES,
        help='output stride recorded in the model config (default: from the '
        'file name, _s8, else 8 for segmentation and PSA files, 32 for '
        'classifiers)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    progress = ReadProgress()
    try:
        conversion = call_with_args(convert, args, progress=progress)
    except (ConversionError, MXNetParamsError, OSError) as error:
        progress.close()  # ends the progress line
        return error_line(PROG, error, line_break=False)
    except KeyboardInterrupt:
        progress.close()
        print(f'{PROG}: interrupted, {args.dst} not written', file=sys.stderr)
        return 130
    progress.close()
    for warning in conversion.warnings:
        print(f'{PROG}: warning: {warning}', file=sys.stderr)
    print('\n'.join(summary(conversion, args.dst)))
    return 0


if __name__ == '__main__':
    sys.exit(main())
