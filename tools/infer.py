"""Segment images (files or folders) with a trained or converted checkpoint
and write one overlay per image (image | prediction). The model runs
through mmrn38's inference fast path (``mmrn38.optimize_for_inference``)."""
import argparse
import sys

from mmrn38.apis import InferenceError, infer_images


def parse_args():
    parser = argparse.ArgumentParser(
        description='Segment images and write overlays')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument(
        'images', nargs='+', help='image files or folders of images')
    parser.add_argument(
        '--out-dir', required=True, help='folder for the overlay PNGs')
    parser.add_argument(
        '--device', default='cpu', help='device, e.g. cpu or cuda:0')
    parser.add_argument(
        '--bf16', action='store_true',
        help='bfloat16 autocast where the CPU (AVX512-BF16, AMX) or GPU has '
        'native bfloat16; elsewhere float32, with one line saying so')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        written = infer_images(args.config, args.checkpoint, args.images,
                               args.out_dir, device=args.device,
                               bf16=args.bf16)
    except InferenceError as error:
        sys.exit(f'error: {error}')
    print(f'\nwrote {len(written)} overlays to {args.out_dir}')


if __name__ == '__main__':
    main()
