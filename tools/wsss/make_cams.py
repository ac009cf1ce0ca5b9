"""Class activation maps of a CAM classifier over a VOC split, by PSA's
procedure (infer_cls.py), in PSA's file format.

    python tools/wsss/make_cams.py configs/wsss/rn38_voc_cls.py CKPT \\
        --data-root data/VOCdevkit/VOC2012 --split train \\
        --out-cam work_dirs/cams [--out-pred work_dirs/cam_pred] [--fast] \\
        [--out-la-crf work_dirs/crf_la --out-ha-crf work_dirs/crf_ha]

``--out-cam``: ``<name>.npy`` = ``np.save`` of ``{class index 0..19: (H, W)
float32}`` for the image's classes (labels from its mask); ``--out-pred``:
``<name>.png`` pseudo-labels with a constant background score
(``--bg-thresh``); ``--out-la-crf`` / ``--out-ha-crf``: ``<name>.npy`` =
``{0: background, class + 1: (H, W) float32}`` CRF maps with the background
``(1 - max cam) ** alpha`` (PSA's ``infer_cls.py`` files of the same
names). See :mod:`mmrn38.wsss.cams` and :mod:`mmrn38.wsss.crf`.
"""
import sys

from mmrn38.apis.cli import (add_device, add_scales, run_split_tool,
                             split_tool_parser)

PROG = 'make_cams'


def parse_args(argv=None):
    from mmrn38.wsss.cams import DEFAULT_SCALES
    parser = split_tool_parser(
        PROG, 'PSA-format class activation maps of a CAM classifier over a '
        'VOC split (mmseg layout).', 'mmpretrain config with a CAMHead',
        'VOC2012 folder: JPEGImages/, SegmentationClassAug/ or '
        'SegmentationClass/, ImageSets/Segmentation/',
        'ImageSets/Segmentation/<split>.txt (train, val, aug ...)')
    parser.add_argument('--out-cam', help='folder of the <name>.npy CAMs')
    parser.add_argument(
        '--out-pred', help='folder of the <name>.png pseudo-labels')
    add_scales(parser, '--scales', DEFAULT_SCALES,
               'image scales, each also mirrored (default: PSA\'s)')
    parser.add_argument(
        '--bg-thresh',
        type=float,
        default=0.2,
        help='background score of --out-pred (default 0.2, PSA\'s)')
    parser.add_argument(
        '--out-la-crf',
        help='folder of the <name>.npy CRF maps with a weak background '
        '(--low-alpha)')
    parser.add_argument(
        '--out-ha-crf',
        help='folder of the <name>.npy CRF maps with a strong background '
        '(--high-alpha)')
    parser.add_argument(
        '--low-alpha',
        type=float,
        default=4,
        help='background power of --out-la-crf (default 4, PSA\'s)')
    parser.add_argument(
        '--high-alpha',
        type=float,
        default=32,
        help='background power of --out-ha-crf (default 32, PSA\'s)')
    add_device(parser, None,
               'cpu, cuda, cuda:1 ... (default: cuda if available)')
    parser.add_argument(
        '--fast',
        action='store_true',
        help='run the classifier through mmrn38.optimize_for_inference '
        '(float32: the same CAMs to float32 rounding, faster)')
    return parser.parse_args(argv)


def main(argv=None):
    from mmrn38.wsss.cams import make_cams
    return run_split_tool(PROG, make_cams, parse_args(argv), 'CAMs', 'out_cam',
                          'out_pred', 'out_la_crf', 'out_ha_crf')


if __name__ == '__main__':
    sys.exit(main())
