"""Export an mmseg segmentor holding ResNet-38 to ONNX and check the file
with ONNX Runtime against mmseg's own inference.

    python tools/deployment/pytorch2onnx.py configs/rn38_voc.py CKPT \\
        --out work_dirs/rn38_voc.onnx --dynamic --verify demo.jpg

The file: input ``image`` float32 ``(N, 3, H, W)`` RGB 0..255, output
``logits`` ``(N, num_classes, H, W)`` (see :mod:`mmrn38.deployment`).
``--verify`` runs it in ONNX Runtime on the images (a random one without
paths) and compares with mmseg's ``inference_model``: it exits 1 where the
logits differ by more than 1e-4 x their largest magnitude or fewer than
99.99 % of the labels agree.
"""
import os.path as osp
import sys

from mmrn38.apis.cli import add_size, output_error_line, tool_parser

PROG = 'pytorch2onnx'


def parse_args(argv=None):
    parser = tool_parser(
        PROG, 'Export a ResNet-38 segmentor to ONNX (normalisation and the '
        'resize to the input size inside the graph).',
        'mmseg config of the model',
        checkpoint=True)
    parser.add_argument('--out', required=True, help='the .onnx file')
    add_size(
        parser, '--shape', 'input height and width (default 512 512); with '
        '--dynamic only the size traced', [512, 512])
    parser.add_argument(
        '--dynamic',
        action='store_true',
        help='batch, height and width free: one file for every image size')
    parser.add_argument(
        '--opset',
        type=int,
        default=None,
        help='ONNX opset (default: mmrn38.deployment.DEFAULT_OPSET, 18)')
    parser.add_argument(
        '--verify',
        nargs='*',
        metavar='IMAGE',
        help='compare ONNX Runtime with mmseg\'s inference_model on these '
        'images (none: a random image of --shape)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.apis import InferenceError
    from mmrn38.deployment import (DEFAULT_OPSET, MAX_RELATIVE_DIFF,
                                   MIN_LABEL_AGREEMENT, ExportError,
                                   export_onnx, load_segmentor, random_image,
                                   read_rgb, verify_onnx)
    try:
        if not osp.isfile(args.config):
            raise ExportError(f'config not found: {args.config}')
        images = None
        if args.verify is not None:
            images = [read_rgb(path) for path in args.verify
                      ] or [random_image(tuple(args.shape))]
            for path, image in zip(args.verify, images):
                if not args.dynamic and image.shape[:2] != tuple(args.shape):
                    raise ExportError(
                        f'--verify image {path} is {image.shape[0]}x'
                        f'{image.shape[1]}, the file without --dynamic takes '
                        f'{args.shape[0]}x{args.shape[1]} only')
        model = load_segmentor(args.config, args.checkpoint)
        export_onnx(
            model,
            args.out,
            shape=tuple(args.shape),
            dynamic=args.dynamic,
            opset=args.opset or DEFAULT_OPSET)
    except (ExportError, InferenceError, OSError) as error:
        return output_error_line(PROG, error, args.out)
    print(f'\nwrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB)')
    if images is None:
        return 0
    names = args.verify or ['random image']
    results = verify_onnx(model, args.out, images)
    for name, result in zip(names, results):
        print(f'{name}: max |diff| {result["max_abs_diff"]:.3g} '
              f'(limit {MAX_RELATIVE_DIFF:g} x max |ref| '
              f'{result["max_abs_ref"]:.3g} = '
              f'{MAX_RELATIVE_DIFF * result["max_abs_ref"]:.3g}), labels '
              f'equal {100 * result["label_agreement"]:.4f} % (limit '
              f'{100 * MIN_LABEL_AGREEMENT:g} %): '
              f'{"ok" if result["passed"] else "FAILED"}')
    if not all(result['passed'] for result in results):
        print(f'\n{PROG}: verification failed', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
