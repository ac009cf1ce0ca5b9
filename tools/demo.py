"""The main job in one command (``make demo``): on a built-in synthetic
dataset, train ResNet-38 + WiderHead, evaluate it on held-out images
(per-class IoU, mIoU) without and with test-time augmentation, compare
bfloat16 inference with float32, and write prediction overlays and training
curves."""
import os.path as osp
import time

from mmrn38.demo import add_num_overlays, call_demo, demo_parser, run_demo

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def parse_args():
    parser = demo_parser(
        'Train, evaluate (+TTA) and show ResNet-38 on built-in data',
        config=osp.join(REPO, 'configs', 'rn38_demo.py'),
        work_dir=osp.join(REPO, 'work_dirs', 'rn38_demo'),
        data_root=osp.join(REPO, 'data', 'rn38_demo'),
        work_dir_help='folder for checkpoints, logs, overlays and the plot')
    add_num_overlays(parser)
    parser.add_argument(
        '--iters', type=int, help='training iterations (default: config)')
    parser.add_argument(
        '--num-images',
        type=int,
        help='images to generate, 4/5 train, 1/5 held out (default: config)')
    return parser.parse_args()


def main():
    args = parse_args()
    start = time.time()
    result = call_demo(run_demo, args, max_iters=args.iters)
    plain, tta, bf16 = result['metrics'], result['metrics_tta'], \
        result['bf16']
    print(
        f'\n==> done in {time.time() - start:.0f} s (training '
        f'{result["train_seconds"]:.0f} s)\n'
        f'held-out images: {result["splits"]["val"]} '
        f'(trained on {result["splits"]["train"]})\n'
        f'mIoU:            {plain["mIoU"]:.2f} %  (aAcc {plain["aAcc"]:.2f}, '
        f'mAcc {plain["mAcc"]:.2f}; per-class table above)\n'
        f'mIoU with TTA:   {tta["mIoU"]:.2f} %  (aAcc {tta["aAcc"]:.2f}, '
        f'mAcc {tta["mAcc"]:.2f})\n'
        f'fast path:       {bf16["fp32_s"] / bf16["fast_s"]:.2f}x the '
        f'plain float32 speed, same class on '
        f'{100 * bf16["fast_agreement"]:.2f} % of the held-out pixels\n' +
        (f'bf16 inference:  not run, float32 kept: '
         f'{bf16["bf16_reason"]}\n' if bf16['bf16_s'] is None else
         f'bf16 inference:  same class as float32 on '
         f'{100 * bf16["agreement"]:.2f} % of the held-out pixels, '
         f'{bf16["fp32_s"] / bf16["bf16_s"]:.2f}x the plain float32 '
         f'speed (fast path)\n') + f'checkpoint:      {result["checkpoint"]}\n'
        f'overlays:        {result["overlay_dir"]}/ '
        f'({len(result["overlays"])} x image | ground truth | '
        f'prediction)\n'
        f'curves:          {result["plot"]}',
        flush=True)


if __name__ == '__main__':
    main()
