"""Class activation maps of a CAM classifier over a VOC split, by PSA's
procedure (infer_cls.py), in PSA's file format.

    python tools/wsss/make_cams.py configs/wsss/rn38_voc_cls.py CKPT \\
        --data-root data/VOCdevkit/VOC2012 --split train \\
        --out-cam work_dirs/cams [--out-pred work_dirs/cam_pred] [--fast]

``--out-cam``: ``<name>.npy`` = ``np.save`` of ``{class index 0..19: (H, W)
float32}`` for the image's classes (labels from its mask); ``--out-pred``:
``<name>.png`` pseudo-labels with a constant background score
(``--bg-thresh``). See :mod:`mmrn38.wsss.cams`.
"""
import argparse
import sys

import torch

PROG = 'make_cams'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='PSA-format class activation maps of a CAM classifier '
        'over a VOC split (mmseg layout).')
    parser.add_argument('config', help='mmpretrain config with a CAMHead')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument(
        '--data-root', required=True,
        help='VOC2012 folder: JPEGImages/, SegmentationClassAug/ or '
        'SegmentationClass/, ImageSets/Segmentation/')
    parser.add_argument(
        '--split', required=True,
        help='ImageSets/Segmentation/<split>.txt (train, val, aug ...)')
    parser.add_argument('--out-cam', help='folder of the <name>.npy CAMs')
    parser.add_argument(
        '--out-pred', help='folder of the <name>.png pseudo-labels')
    parser.add_argument(
        '--scales', type=float, nargs='+', default=[1.0, 0.5, 1.5, 2.0],
        help='image scales, each also mirrored (default: PSA\'s)')
    parser.add_argument(
        '--bg-thresh', type=float, default=0.2,
        help='background score of --out-pred (default 0.2, PSA\'s)')
    parser.add_argument(
        '--device', default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu, cuda, cuda:1 ... (default: cuda if available)')
    parser.add_argument(
        '--fast', action='store_true',
        help='run the classifier through mmrn38.optimize_for_inference '
        '(float32: the same CAMs to float32 rounding, faster)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.wsss.cams import make_cams
    from mmrn38.wsss.data import WSSSDataError
    try:
        count = make_cams(
            args.config,
            args.checkpoint,
            args.data_root,
            args.split,
            out_cam=args.out_cam,
            out_pred=args.out_pred,
            scales=args.scales,
            bg_thresh=args.bg_thresh,
            device=args.device,
            fast=args.fast)
    except (WSSSDataError, OSError) as error:
        message = ' '.join(str(error).split())
        print(f'\n{PROG}: error: {message}', file=sys.stderr)
        return 1
    outputs = ' and '.join(
        d for d in (args.out_cam, args.out_pred) if d is not None)
    print(f'\n{count} images of {args.split}: CAMs in {outputs}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
