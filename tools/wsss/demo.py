"""Weakly-supervised segmentation in one command (``make demo-wsss``): PSA's
whole pipeline on the built-in dataset. Train PSA's ResNet-38 CAM classifier
from image-level labels only, make CAMs by PSA's procedure and CRF label
files, train AffinityNet, random-walk the CAMs, train the segmentation
network on the walked labels, and report the held-out mIoU of each stage
(CAM, random walk, segmentation) against the hidden masks in one table."""
import os.path as osp
import time

from mmrn38.apis.cli import add_scales
from mmrn38.demo import add_num_overlays, call_demo, demo_parser
from mmrn38.wsss.cams import DEFAULT_SCALES
from mmrn38.wsss.demo import (DEMO_CRF_ALPHAS, DEMO_RW_ALPHA, DEMO_RW_LOGT,
                              run_wsss_demo)

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = osp.join(REPO, 'configs', 'wsss')


def parse_args():
    parser = demo_parser(
        'Train a CAM classifier from image-level labels on built-in data and '
        'score its CAMs as pseudo-labels',
        config=osp.join(CONFIGS, 'rn38_demo_cls.py'),
        work_dir=osp.join(REPO, 'work_dirs', 'rn38_wsss_demo'),
        data_root=osp.join(REPO, 'data', 'rn38_wsss_demo'),
        work_dir_help='folder for the checkpoint, logs, CAMs and overlays',
        more_configs=[('--aff-config', osp.join(CONFIGS, 'rn38_demo_aff.py'),
                       'AffinityNet demo config'),
                      ('--seg-config', osp.join(CONFIGS,
                                                'rn38_demo_pseudo.py'),
                       'demo config of the segmentation network on '
                       'pseudo-labels')])
    parser.add_argument(
        '--epochs', type=int, help='training epochs (default: config)')
    add_scales(
        parser, '--scales', DEFAULT_SCALES,
        'CAM scales of the held-out images, each also mirrored (default: '
        'PSA\'s)')
    add_scales(
        parser, '--train-scales', [1.0],
        'CAM scales of the training images, each also mirrored (default '
        '1.0, a quarter of the time of PSA\'s four: they only make the CRF '
        'files and the labels of the next networks)')
    parser.add_argument(
        '--crf-alphas',
        type=float,
        nargs=2,
        default=list(DEMO_CRF_ALPHAS),
        metavar=('LOW', 'HIGH'),
        help='background powers of the la / ha CRF files (default: the '
        'demo\'s, see mmrn38/wsss/demo.py; PSA\'s: 4 32)')
    parser.add_argument(
        '--rw-alpha',
        type=float,
        default=DEMO_RW_ALPHA,
        help='background power of the random walk (default: the demo\'s; '
        'PSA\'s: 16)')
    parser.add_argument(
        '--rw-logt',
        type=int,
        default=DEMO_RW_LOGT,
        help='squarings of the transition matrix (default: the demo\'s; '
        'PSA\'s: 8)')
    add_num_overlays(parser)
    return parser.parse_args()


def stage_table(result) -> str:
    """The held-out mIoU of each stage, one line each."""
    sweep = result['sweep']
    rows = [('CAM', sweep.miou[sweep.best],
             f'best background threshold {sweep.thresholds[sweep.best]:.2f}'),
            ('random walk', result['rw_miou'],
             'alpha {alpha:g}, beta {beta:g}, logt {logt}'.format(
                 **result['rw_params'])),
            ('segmentation', result['seg_miou'],
             'trained on the walked labels')]
    lines = ['stage          held-out mIoU (%)']
    lines += [
        f'{name:<14} {miou:8.2f}           {note}' for name, miou, note in rows
    ]
    return '\n'.join(lines)


def main():
    args = parse_args()
    start = time.time()
    result = call_demo(run_wsss_demo, args, max_epochs=args.epochs)
    sweep = result['sweep']
    best = sweep.best
    per_class = '\n'.join(
        f'  {name:<16} {iou:6.2f}'
        for name, iou in zip(result['classes'], sweep.iou[best]))
    curve = ', '.join(f'{t:.2f}: {m:.1f}'
                      for t, m in zip(sweep.thresholds, sweep.miou))
    times = ', '.join(f'{stage} {seconds:.0f} s'
                      for stage, seconds in result['seconds'].items())
    print(
        f'\n==> done in {time.time() - start:.0f} s ({times})\n'
        f'held-out images:       {result["splits"]["val"]} (trained on '
        f'{result["splits"]["train"]}, image-level labels only)\n'
        f'{stage_table(result)}\n'
        f'CAM IoU per class at the best threshold (%):\n{per_class}\n'
        f'CAM mIoU by threshold: {curve}\n'
        f'checkpoints:           {result["checkpoint"]} (classifier), '
        f'{result["aff_checkpoint"]} (AffinityNet), '
        f'{result["seg_checkpoint"]} (segmentation)\n'
        f'CAMs (PSA format):     {result["cam_dir"]}/\n'
        f'random-walk labels:    {result["rw_dir"]}/\n'
        f'overlays:              {result["overlay_dir"]}/ '
        f'({len(result["overlays"])} x image | mask | CAMs | '
        f'pseudo-labels)',
        flush=True)


if __name__ == '__main__':
    main()
