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
import sys

from mmrn38.apis.cli import (add_device, add_num_classes, run_split_tool,
                             split_tool_parser)

PROG = 'random_walk'


def parse_args(argv=None):
    parser = split_tool_parser(
        PROG, 'PSA\'s random walk of CAMs over an AffinityNet\'s '
        'affinities, over a VOC split (mmseg layout).',
        'mmseg config of an AffinityNet',
        'VOC2012 folder: JPEGImages/, ImageSets/Segmentation/',
        'ImageSets/Segmentation/<split>.txt (train, aug ...)')
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
    add_num_classes(parser)
    add_device(parser, None,
               'cpu, cuda, cuda:1 ... (default: cuda if available)')
    return parser.parse_args(argv)


def main(argv=None):
    from mmrn38.wsss.random_walk import random_walk
    return run_split_tool(PROG, random_walk, parse_args(argv),
                          'random-walk labels', 'out_rw', 'out_rw_npy')


if __name__ == '__main__':
    sys.exit(main())
