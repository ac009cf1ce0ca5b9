"""Segment images (files or folders) with a trained or converted checkpoint
and write one overlay per image (image | prediction). The model runs
through mmrn38's inference fast path (``mmrn38.optimize_for_inference``)."""
import sys

from mmrn38.apis import InferenceError, infer_images
from mmrn38.apis.cli import add_device, run_tool, tool_parser

PROG = 'infer.py'


def parse_args(argv=None):
    parser = tool_parser(
        PROG,
        'Segment images and write overlays',
        'config file of the model',
        checkpoint=True)
    parser.add_argument(
        'images', nargs='+', help='image files or folders of images')
    parser.add_argument(
        '--out-dir', required=True, help='folder for the overlay PNGs')
    add_device(parser)
    parser.add_argument(
        '--bf16',
        action='store_true',
        help='bfloat16 autocast where the CPU (AVX512-BF16, AMX) or GPU has '
        'native bfloat16; elsewhere float32, with one line saying so')
    return parser.parse_args(argv)


def main(argv=None):
    return run_tool(
        PROG, infer_images, parse_args(argv), InferenceError,
        lambda written, args: f'\nwrote {len(written)} overlays to '
        f'{args.out_dir}')


if __name__ == '__main__':
    sys.exit(main())
