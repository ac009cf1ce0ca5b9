"""mIoU of CAM pseudo-labels against the masks over background thresholds
(the "CAM mIoU" of weakly-supervised segmentation papers, on VOC train),
with mmseg's IoU computation.

    python tools/wsss/eval_cams.py --data-root data/VOCdevkit/VOC2012 \\
        --split train --cam-dir work_dirs/cams

Reads the ``<name>.npy`` CAM dicts of ``tools/wsss/make_cams.py --out-cam``
(or PSA's ``infer_cls.py --out_cam``). See :mod:`mmrn38.wsss.evaluation`.
"""
import argparse
import sys

PROG = 'eval_cams'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='CAM pseudo-label mIoU over a sweep of background '
        'thresholds.')
    parser.add_argument(
        '--data-root', required=True,
        help='VOC2012 folder (mmseg layout) with the masks')
    parser.add_argument(
        '--split', required=True, help='ImageSets/Segmentation/<split>.txt')
    parser.add_argument(
        '--cam-dir', required=True, help='folder of the <name>.npy CAMs')
    parser.add_argument(
        '--num-classes', type=int, default=21,
        help='labels with background (default 21, VOC)')
    parser.add_argument(
        '--thresholds', type=float, nargs='+',
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
    lines += [f'  {name:<14} {iou:6.2f}'
              for name, iou in zip(names, sweep.iou[best])]
    return lines


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.wsss.data import WSSSDataError
    from mmrn38.wsss.evaluation import DEFAULT_THRESHOLDS, evaluate_cams
    if args.num_classes < 2:
        print(f'{PROG}: error: --num-classes must be at least 2 (background '
              f'and one class)', file=sys.stderr)
        return 1
    try:
        sweep = evaluate_cams(
            args.data_root, args.split, args.cam_dir, args.num_classes,
            args.thresholds or DEFAULT_THRESHOLDS)
    except WSSSDataError as error:
        message = ' '.join(str(error).split())
        print(f'\n{PROG}: error: {message}', file=sys.stderr)
        return 1
    print()
    print('\n'.join(report(sweep, class_names(args.num_classes))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
