"""tools/infer.py and mmrn38.apis.inference: overlays for any image
(grayscale, RGBA, 16-bit, odd sizes) and one-line errors for bad input."""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image
from rn38_testing import REPO, run_tool

from mmrn38.apis import InferenceError, inspect_checkpoint, read_image

CONFIG = osp.join(REPO, 'configs', 'rn38_demo.py')


def save_untrained(path, num_classes=7, dataset_meta=None):
    """An untrained demo model saved as an mmengine-style checkpoint."""
    from mmseg.apis import init_model
    model = init_model(
        CONFIG,
        None,
        device='cpu',
        cfg_options={'model.decode_head.num_classes': num_classes})
    meta = {} if dataset_meta is None else dict(dataset_meta=dataset_meta)
    torch.save(dict(state_dict=model.state_dict(), meta=meta), path)
    return str(path)


@pytest.fixture(scope='module')
def inputs(tmp_path_factory):
    """A checkpoint and images of every kind, in a folder and loose."""
    root = tmp_path_factory.mktemp('infer')
    rng = np.random.default_rng(0)
    folder = root / 'images'
    folder.mkdir()
    Image.fromarray(rng.integers(0, 256, (65, 97),
                                 np.uint8)).save(folder / 'gray.png')
    Image.fromarray(rng.integers(0, 256, (65, 97, 4),
                                 np.uint8)).save(folder / 'rgba.png')
    Image.fromarray(rng.integers(0, 65536, (40, 33)).astype(np.uint16)).save(
        folder / 'gray16.png')
    (folder / 'notes.txt').write_text('not an image, skipped by extension')
    rgb = root / 'odd.jpg'
    Image.fromarray(rng.integers(0, 256, (97, 65, 3), np.uint8)).save(rgb)
    bad = root / 'broken.png'
    bad.write_bytes(b'this is not a PNG')
    return dict(
        root=root,
        folder=folder,
        rgb=rgb,
        bad=bad,
        checkpoint=save_untrained(root / 'untrained.pth'))


def test_read_image_gives_three_channels(inputs):
    for name, shape in (('gray.png', (65, 97, 3)), ('rgba.png', (65, 97, 3)),
                        ('gray16.png', (40, 33, 3))):
        image = read_image(str(inputs['folder'] / name))
        assert image.shape == shape and image.dtype == np.uint8
    with pytest.raises(InferenceError, match='cannot read image'):
        read_image(str(inputs['bad']))


def test_infer_writes_overlays(inputs):
    out_dir = inputs['root'] / 'out'
    proc = run_tool('infer.py', CONFIG, inputs['checkpoint'], inputs['folder'],
                    inputs['rgb'], '--out-dir', out_dir)
    assert 'wrote 4 overlays' in proc.stdout
    assert sorted(os.listdir(out_dir)) == [
        'gray.png', 'gray16.png', 'odd.png', 'rgba.png'
    ]
    # image | prediction at the input's own size
    for name, (width,
               height) in (('gray.png', (97, 65)), ('rgba.png', (97, 65)),
                           ('gray16.png', (33, 40)), ('odd.png', (65, 97))):
        with Image.open(out_dir / name) as overlay:
            assert overlay.format == 'PNG' and overlay.mode == 'RGB'
            assert overlay.size == (2 * width, height)


def assert_one_line_error(proc, *fragments):
    assert proc.returncode != 0
    assert 'Traceback' not in proc.stdout
    error_lines = [
        line for line in proc.stdout.splitlines()
        if line.startswith('infer.py: error: ')
    ]
    assert len(error_lines) == 1, proc.stdout[-3000:]
    for fragment in fragments:
        assert fragment in error_lines[0], error_lines[0]


def test_unreadable_and_missing_images(inputs):
    out_dir = inputs['root'] / 'out_bad'
    proc = run_tool(
        'infer.py',
        CONFIG,
        inputs['checkpoint'],
        inputs['rgb'],
        inputs['bad'],
        '--out-dir',
        out_dir,
        check=False)
    assert_one_line_error(proc, 'cannot read image', str(inputs['bad']))
    assert not osp.exists(out_dir)  # checked before anything is written
    proc = run_tool(
        'infer.py',
        CONFIG,
        inputs['checkpoint'],
        inputs['root'] / 'missing.png',
        '--out-dir',
        out_dir,
        check=False)
    assert_one_line_error(proc, 'image not found', 'missing.png')


def test_class_count_mismatch(inputs):
    checkpoint = save_untrained(inputs['root'] / 'five.pth', num_classes=5)
    assert inspect_checkpoint(checkpoint) == (5, None)
    proc = run_tool(
        'infer.py',
        CONFIG,
        checkpoint,
        inputs['rgb'],
        '--out-dir',
        inputs['root'] / 'out_five',
        check=False)
    assert_one_line_error(proc, 'class count mismatch', 'predicts 5 classes',
                          'num_classes=7')


def test_checkpoint_meta_names_the_classes(inputs):
    from mmrn38.apis import init_segmentor
    meta = dict(
        classes=tuple(f'c{i}' for i in range(7)),
        palette=[[i, i, i] for i in range(7)])
    checkpoint = save_untrained(inputs['root'] / 'meta.pth', dataset_meta=meta)
    assert inspect_checkpoint(checkpoint) == (7, meta)
    assert init_segmentor(CONFIG, checkpoint).dataset_meta['classes'] == \
        meta['classes']
    # without meta in the checkpoint: the config's metainfo
    model = init_segmentor(CONFIG, inputs['checkpoint'])
    assert model.dataset_meta['classes'][1] == 'plain disc'
