"""Weakly-supervised segmentation in one command (``make demo-wsss``): on
the built-in dataset, train PSA's ResNet-38 CAM classifier from image-level
labels only, make CAMs of held-out images by PSA's procedure, report the
mIoU of their pseudo-labels against the hidden masks over background
thresholds, and draw CAM overlays."""
import argparse
import os.path as osp
import time

from mmrn38.wsss.demo import run_wsss_demo

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def parse_args():
    parser = argparse.ArgumentParser(
        description='Train a CAM classifier from image-level labels on '
        'built-in data and score its CAMs as pseudo-labels')
    parser.add_argument(
        '--config',
        default=osp.join(REPO, 'configs', 'wsss', 'rn38_demo_cls.py'),
        help='demo config')
    parser.add_argument(
        '--work-dir', default=osp.join(REPO, 'work_dirs', 'rn38_wsss_demo'),
        help='folder for the checkpoint, logs, CAMs and overlays')
    parser.add_argument(
        '--data-root', default=osp.join(REPO, 'data', 'rn38_wsss_demo'),
        help='folder of the generated dataset (made unless complete)')
    parser.add_argument(
        '--epochs', type=int, help='training epochs (default: config)')
    parser.add_argument(
        '--scales', type=float, nargs='+', default=[1.0, 0.5, 1.5, 2.0],
        help='CAM scales, each also mirrored (default: PSA\'s)')
    parser.add_argument(
        '--num-overlays', type=int, default=8,
        help='held-out images to draw')
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.time()
    result = run_wsss_demo(
        args.config, osp.abspath(args.work_dir), osp.abspath(args.data_root),
        max_epochs=args.epochs, scales=args.scales,
        num_overlays=args.num_overlays)
    sweep = result['sweep']
    best = sweep.best
    per_class = '\n'.join(
        f'  {name:<16} {iou:6.2f}'
        for name, iou in zip(result['classes'], sweep.iou[best]))
    curve = ', '.join(f'{t:.2f}: {m:.1f}'
                      for t, m in zip(sweep.thresholds, sweep.miou))
    print(f'\n==> done in {time.time() - start:.0f} s (training '
          f'{result["train_seconds"]:.0f} s, CAMs '
          f'{result["cam_seconds"]:.0f} s)\n'
          f'held-out images:       {result["splits"]["val"]} (trained on '
          f'{result["splits"]["train"]}, image-level labels only)\n'
          f'pseudo-label mIoU:     {sweep.miou[best]:.2f} % at background '
          f'threshold {sweep.thresholds[best]:.2f}\n'
          f'per class (IoU %):\n{per_class}\n'
          f'mIoU by threshold:     {curve}\n'
          f'checkpoint:            {result["checkpoint"]}\n'
          f'CAMs (PSA format):     {result["cam_dir"]}/\n'
          f'overlays:              {result["overlay_dir"]}/ '
          f'({len(result["overlays"])} x image | mask | CAMs | '
          f'pseudo-labels)', flush=True)


if __name__ == '__main__':
    main()
