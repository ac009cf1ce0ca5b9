"""Gradient by path length and effective depth of residual backbones (Veit
et al.'s procedure, "Wider or Deeper"'s Fig. 4), for the backbone of any
mmseg / mmpretrain config, several side by side.

    python tools/analysis_tools/path_lengths.py configs/rn38_in1k.py \\
        --compare mmpretrain::resnet/resnet50_8xb32_in1k.py \\
        --no-zero-init-residual --input-size 64 64 \\
        --out work_dirs/path_lengths

Writes ``OUT/path_lengths.json`` (per model: :func:`~mmrn38.analysis.
gradient_by_path_length`'s fields) and ``OUT/path_lengths.png``, and prints
the effective depths. mmpretrain's and mmseg's ResNets zero-initialise the
last BN of every residual branch (``zero_init_residual=True``): at
initialisation their branches then carry no gradient at all;
``--no-zero-init-residual`` switches it off to compare at init.
"""
import json
import os.path as osp
import sys
import time

from mmrn38.apis.cli import (add_cfg_options, add_device, add_size, error_line,
                             tool_parser)

PROG = 'path_lengths'


def parse_args(argv=None):
    parser = tool_parser(
        PROG, 'Gradient magnitude at the input by path length of a '
        'residual backbone (Veit et al.), and its effective depth',
        'mmseg / mmpretrain config')
    parser.add_argument(
        '--compare',
        nargs='+',
        default=[],
        help='more configs, analysed alike (mmpretrain::... names work)')
    parser.add_argument(
        '--checkpoint',
        help='weights of the first config\'s whole model '
        '(default: its initialisation)')
    parser.add_argument('--images', help='folder of input images')
    add_size(parser, '--input-size', 'input size (images are resized to it)',
             [224, 224])
    parser.add_argument('--batch', type=int, default=2, help='batch size')
    parser.add_argument(
        '--samples',
        type=int,
        default=100,
        help='subsets per path length (all where there are fewer)')
    parser.add_argument('--seed', type=int, default=0)
    add_device(parser)
    parser.add_argument(
        '--out', default='work_dirs/path_lengths', help='output folder')
    parser.add_argument(
        '--no-zero-init-residual',
        action='store_true',
        help='build the ResNets whose last BN of each branch starts at zero '
        '(mmpretrain\'s and mmseg\'s zero_init_residual) without that')
    add_cfg_options(parser, 'override settings of the first config')
    return parser.parse_args(argv)


def load(path, cfg_options=None):
    """The config of a file or of a ``mmseg::`` / ``mmpretrain::`` name (a
    config the package ships), with ``--cfg-options`` applied."""
    from mmrn38.apis.runner import load_config
    if '::' in path:  # the file mmengine finds for the name
        from mmengine.hub import get_config
        path = get_config(path).filename
    return load_config(path, cfg_options)


def main(argv=None):
    args = parse_args(argv)
    from mmrn38.analysis import gradient_by_path_length
    from mmrn38.analysis.models import (input_batch, model_from_config,
                                        plot_path_lengths, summary_rows)
    from mmrn38.apis.runner import ConfigError
    results = {}
    try:
        for i, path in enumerate([args.config] + args.compare):
            cfg = load(path, args.cfg_options if i == 0 else None)
            name = osp.splitext(osp.basename(path))[0]
            model = model_from_config(
                cfg,
                args.checkpoint if i == 0 else None,
                args.device,
                zero_init_residual=not args.no_zero_init_residual)
            backbone = getattr(model, 'backbone', model)
            inputs = input_batch(model, args.input_size, args.batch, args.seed,
                                 args.images)
            print(f'{name}: {type(backbone).__name__}', flush=True)
            start = time.time()
            results[name] = gradient_by_path_length(
                backbone,
                inputs,
                samples=args.samples,
                seed=args.seed,
                progress=True)
            results[name]['seconds'] = round(time.time() - start, 1)
    except (ConfigError, ValueError, OSError) as error:
        return error_line(PROG, error)
    from mmrn38.utils.atomic_file import atomic_output
    json_file = osp.join(args.out, 'path_lengths.json')
    with atomic_output(json_file) as tmp, open(tmp, 'w') as f:
        json.dump(results, f, indent=2)
    figure = osp.join(args.out, 'path_lengths.png')
    plot_path_lengths(results, figure)
    print('\neffective depth (input '
          f'{args.input_size[0]}x{args.input_size[1]}, batch {args.batch}, '
          f'{args.samples} subsets per length):')
    print('\n'.join(summary_rows(results)))
    print(f'\n{json_file}\n{figure}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
