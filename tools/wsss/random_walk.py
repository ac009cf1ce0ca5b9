"""Random-walk pseudo-labels: CAMs propagated over an AffinityNet's
semantic affinities, by PSA's procedure (infer_aff.py).

    python tools/wsss/random_walk.py configs/wsss/rn38_voc_aff.py CKPT \\
        --data-root data/VOCdevkit/VOC2012 --split train \\
        --cam-dir work_dirs/cams --out-rw work_dirs/rw

Reads the ``<name>.npy`` CAM dicts of ``tools/wsss/make_cams.py --out-cam``
(or PSA's ``infer_cls.py --out_cam``); writes ``<name>.png`` labels 0-20 in
the VOC palette (``--out-rw``) and optionally the walked scores
(``--out-rw-npy``). See :mod:`mmrn38.wsss.random_walk`.
"""
import argparse
import sys

import torch

PROG = 'random_walk'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        prog=PROG,
        description='PSA\'s random walk of CAMs over an AffinityNet\'s '
        'affinities, over a VOC split (mmseg layout).')
    parser.add_argument('config', help='mmseg config of an AffinityNet')
    parser.add_argument('checkpoint', help='its checkpoint')
    parser.add_argument(
        '--data-root',
        required=True,
        help='VOC2012 folder: JPEGImages/, ImageSets/Segmentation/')
    parser.add_argument(
        '--split',
        required=True,
        help='ImageSets/Segmentation/<split>.txt (train, aug ...)')
    parser.add_argument(
        '--cam-dir',
        required=True,
        help='folder of the <name>.npy CAM dicts (make_cams.py --out-cam)')
    parser.add_argument(
        '--out-rw', help='folder of the <name>.png pseudo-labels')
    parser.add_argument(
        '--out-rw-npy',
        help='folder of the <name>.npy walked scores {0: background, '
        'class index + 1: map}')
    parser.add_argument(
        '--alpha',
        type=float,
        default=16,
        help='power of the background score (1 - max CAM) (default 16, '
        'PSA\'s)')
    parser.add_argument(
        '--beta',
        type=float,
        default=8,
        help='power of the affinities (default 8, PSA\'s)')
    parser.add_argument(
        '--logt',
        type=int,
        default=8,
        help='squarings of the transition matrix: 2**logt steps (default '
        '8, PSA\'s)')
    parser.add_argument(
        '--num-classes',
        type=int,
        default=21,
        help='labels with background (default 21, VOC)')
    parser.add_argument(
        '--device',
        default='cuda' if torch.cuda.is_available() else 'cpu',
        help='cpu, cuda, cuda:1 ... (default: cuda if available)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.wsss.data import WSSSDataError
    from mmrn38.wsss.random_walk import random_walk
    try:
        count = random_walk(
            args.config,
            args.checkpoint,
            args.data_root,
            args.split,
            args.cam_dir,
            out_rw=args.out_rw,
            out_rw_npy=args.out_rw_npy,
            alpha=args.alpha,
            beta=args.beta,
            logt=args.logt,
            num_classes=args.num_classes,
            device=args.device)
    except (WSSSDataError, OSError) as error:
        message = ' '.join(str(error).split())
        print(f'\n{PROG}: error: {message}', file=sys.stderr)
        return 1
    outputs = ' and '.join(
        d for d in (args.out_rw, args.out_rw_npy) if d is not None)
    print(f'\n{count} images of {args.split}: random-walk labels in '
          f'{outputs}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
