"""Post-training static int8 quantization of a ResNet-38 segmentor for the
CPU (torchao's PT2E flow with the x86 inductor quantizer; see
:mod:`mmrn38.deployment.int8`), calibrated on a few images, written as a
``torch.export`` program; optionally checked against float32 on held-out
images (labels equal, seconds per image).

    python tools/analysis_tools/quantize.py configs/rn38_demo.py CKPT \\
        --calib data/rn38_demo/VOCdevkit/VOC2012/JPEGImages --num-calib 8 \\
        --out work_dirs/rn38_demo_int8.pt2 --check HELD_OUT_DIR

The program takes ``(1, 3, H, W)`` float32 RGB 0..255 at the one shape
it was quantized at (``--shape``, default the first calibration image's)
and returns ``(1, num_classes, H, W)`` logits; load it with
``mmrn38.deployment.int8.load_int8`` and run it through ``compile_int8``
(inductor lowers it to oneDNN's int8 kernels: VNNI, or AMX-INT8 where
present). Needs torchao (``requirements/tests.txt``: ``make setup``
installs it).
"""
import os.path as osp
import statistics
import sys
import time

from mmrn38.apis.cli import add_size, output_error_line, tool_parser

PROG = 'quantize'


def parse_args(argv=None):
    parser = tool_parser(
        PROG,
        'Quantize a ResNet-38 segmentor to int8 (static, post-training) for '
        'the CPU.',
        'mmseg config of the model',
        checkpoint=True,
        checkpoint_help='its checkpoint')
    parser.add_argument(
        '--calib',
        required=True,
        metavar='DIR',
        help='folder of calibration images (sorted by name)')
    parser.add_argument(
        '--num-calib',
        type=int,
        default=8,
        help='calibration images used (default 8)')
    parser.add_argument('--out', required=True, help='the .pt2 file')
    add_size(
        parser, '--shape', 'input height and width (default: the first '
        'calibration image\'s); images of other sizes are resized to it')
    parser.add_argument(
        '--check',
        metavar='DIR',
        help='compare int8 (compiled) with float32 on these images: share '
        'of equal labels and seconds per image')
    parser.add_argument(
        '--num-check',
        type=int,
        default=None,
        help='images of --check used (default all)')
    args = parser.parse_args(argv)
    if args.num_calib < 1:
        parser.error('--num-calib must be at least 1')
    return args


def check(model, program, images):
    """Label agreement and median seconds per image of float32 eager (the
    same graph unquantized) and int8 compiled."""
    import torch

    from mmrn38.deployment.int8 import compile_int8
    from mmrn38.deployment.onnx_export import OnnxSegmentor
    float32 = OnnxSegmentor(model).eval()
    int8 = compile_int8(program)
    equal = total = 0
    times = dict(float32=[], int8=[])
    with torch.no_grad():
        int8(images[0])  # compiles
        for image in images:
            outputs = {}
            for name, fn in (('float32', float32), ('int8', int8)):
                start = time.perf_counter()
                outputs[name] = fn(image).argmax(1)
                times[name].append(time.perf_counter() - start)
            equal += (outputs['float32'] == outputs['int8']).sum().item()
            total += outputs['int8'].numel()
    return dict(
        label_agreement=equal / total,
        images=len(images),
        **{
            f'{k}_s': statistics.median(v)
            for k, v in times.items()
        })


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.apis import InferenceError
    from mmrn38.deployment import ExportError, load_segmentor
    from mmrn38.deployment.int8 import (image_tensor, quantize_int8,
                                        read_folder, save_int8)
    try:
        if not osp.isfile(args.config):
            raise ExportError(f'config not found: {args.config}')
        calib = read_folder(args.calib, args.num_calib)
        shape = tuple(args.shape or calib[0].shape[:2])
        held_out = None
        if args.check is not None:
            held_out = [
                image_tensor(image, shape)
                for image in read_folder(args.check, args.num_check)
            ]
        model = load_segmentor(args.config, args.checkpoint)
        start = time.time()
        calibration = [image_tensor(image, shape) for image in calib]
        program = quantize_int8(model, calibration)
        save_int8(program, calibration[0], args.out)
    except (ExportError, InferenceError, OSError) as error:
        return output_error_line(PROG, error, args.out)
    print(f'\nwrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB): '
          f'int8 at {shape[0]}x{shape[1]}, calibrated on {len(calib)} '
          f'images in {time.time() - start:.0f} s')
    if held_out:
        result = check(model, program, held_out)
        print(f'{result["images"]} held-out images: labels equal to '
              f'float32 on {100 * result["label_agreement"]:.2f} % of '
              f'pixels; s/image float32 {result["float32_s"]:.4f}, int8 '
              f'{result["int8_s"]:.4f} '
              f'({result["float32_s"] / result["int8_s"]:.2f}x)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
