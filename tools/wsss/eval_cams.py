"""mIoU of CAM pseudo-labels against the masks over background thresholds
(the "CAM mIoU" of weakly-supervised segmentation papers, on VOC train), and
of folders of label PNGs (random walk, a segmentation network), with mmseg's
IoU computation, side by side in one table.

    python tools/wsss/eval_cams.py --data-root data/VOCdevkit/VOC2012 \\
        --split train --cam-dir work_dirs/cams \\
        [--label-dir work_dirs/rw [--label-dir work_dirs/seg_pred ...]]

Reads the ``<name>.npy`` CAM dicts of ``tools/wsss/make_cams.py --out-cam``
(or PSA's ``infer_cls.py --out_cam``) and ``<name>.png`` labels 0 .. 20
(255: no label; PSA's ``infer_aff.py --out_rw``, mmseg's test ``--out``).
See :mod:`mmrn38.wsss.evaluation`.
"""
import os.path as osp
import sys

from mmrn38.apis.cli import (add_data_split, add_num_classes, error_line,
                             tool_parser)

PROG = 'eval_cams'


def parse_args(argv=None):
    parser = tool_parser(
        PROG,
        'CAM pseudo-label mIoU over a sweep of background thresholds.',
        config_help=None)
    add_data_split(parser, 'VOC2012 folder (mmseg layout) with the masks',
                   'ImageSets/Segmentation/<split>.txt')
    parser.add_argument('--cam-dir', help='folder of the <name>.npy CAMs')
    parser.add_argument(
        '--label-dir',
        action='append',
        default=[],
        help='folder of <name>.png labels (0 .. num-classes - 1, 255 for '
        'none); repeat it to compare several')
    add_num_classes(parser)
    parser.add_argument(
        '--thresholds',
        type=float,
        nargs='+',
        help='background thresholds (default 0.05, 0.10 ... 0.95)')
    return parser.parse_args(argv)


def class_names(num_classes):
    """VOC's names (mmseg's) for 21 labels, else ``class k``."""
    if num_classes == 21:
        from mmseg.datasets import PascalVOCDataset
        return list(PascalVOCDataset.METAINFO['classes'])
    return [f'class {k}' for k in range(num_classes)]


def report(sweep, names):
    """Lines of the sweep table, the best threshold and its classes."""
    lines = ['threshold  mIoU (%)']
    for t, miou in zip(sweep.thresholds, sweep.miou):
        lines.append(f'{t:9.2f}  {miou:8.2f}')
    best = sweep.best
    lines.append(f'best background threshold {sweep.thresholds[best]:.2f}: '
                 f'mIoU {sweep.miou[best]:.2f} % over {sweep.num_images} '
                 f'images')
    lines += [
        f'  {name:<14} {iou:6.2f}'
        for name, iou in zip(names, sweep.iou[best])
    ]
    return lines


def comparison(columns, names):
    """Lines of one table of per-class IoU (%), a column per source:
    ``columns`` is a list of ``(title, iou, miou)``."""
    widths = [max(8, len(title)) for title, _, _ in columns]
    lines = [
        '  '.join(
            [f'{"class":<14}'] +
            [f'{title:>{w}}' for (title, _, _), w in zip(columns, widths)])
    ]
    for k, name in enumerate(names):
        lines.append('  '.join(
            [f'{name:<14}'] +
            [f'{iou[k]:{w}.2f}' for (_, iou, _), w in zip(columns, widths)]))
    lines.append('  '.join(
        [f'{"mIoU":<14}'] +
        [f'{miou:{w}.2f}' for (_, _, miou), w in zip(columns, widths)]))
    return lines


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.wsss.data import WSSSDataError
    from mmrn38.wsss.evaluation import (DEFAULT_THRESHOLDS, evaluate_cams,
                                        evaluate_labels)
    problem = None
    if args.num_classes < 2:
        problem = ('--num-classes must be at least 2 (background and one '
                   'class)')
    elif args.cam_dir is None and not args.label_dir:
        problem = 'nothing to score: give --cam-dir and/or --label-dir'
    if problem:
        return error_line(PROG, None, problem, line_break=False)
    names = class_names(args.num_classes)
    columns, lines = [], []
    try:
        if args.cam_dir is not None:
            sweep = evaluate_cams(args.data_root, args.split, args.cam_dir,
                                  args.num_classes, args.thresholds
                                  or DEFAULT_THRESHOLDS)
            lines += report(sweep, names)
            best = sweep.best
            columns.append((f'CAM@{sweep.thresholds[best]:.2f}',
                            sweep.iou[best], sweep.miou[best]))
        for label_dir in args.label_dir:
            score = evaluate_labels(args.data_root, args.split, label_dir,
                                    args.num_classes)
            title = osp.basename(osp.normpath(label_dir))
            lines.append(f'{label_dir}: mIoU {score.miou:.2f} % over '
                         f'{score.num_images} images ({score.unlabelled:.2f} '
                         f'% of the pixels unlabelled)')
            columns.append((title, score.iou, score.miou))
    except WSSSDataError as error:
        return error_line(PROG, error)
    if args.label_dir:
        lines += comparison(columns, names)
    print()
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())
