"""Deterministic synthetic scenes written in real dataset layouts.

No dataset can be downloaded on the machines this project is built and
tested on, so the demo and the tests generate their data: scenes of objects
whose classes differ in shape, colour and texture, over varied textured
backgrounds, saved exactly as mmseg / mmpretrain expect the real datasets on
disk (PASCAL VOC 2012 + aug, PASCAL Context, Cityscapes, ADE20K, ImageNet).

Everything is a function of ``seed``: the same call writes the same bytes.
"""
import colorsys
import json
import os
import os.path as osp
import shutil
from typing import Callable, Dict, Sequence, Tuple

import numpy as np
from PIL import Image, ImageDraw

from mmrn38.utils.atomic_file import atomic_output
from mmrn38.utils.palette import voc_palette

SHAPES = ('disc', 'square', 'triangle', 'ring', 'cross', 'diamond')
TEXTURES = ('solid', 'stripes', 'checker', 'dots')
TEXTURE_ADJECTIVES = dict(
    solid='plain', stripes='striped', checker='checked', dots='dotted')
# written last into a dataset folder by ``write_once``
COMPLETION_MARKER = 'mmrn38_synthetic.json'


def class_style(class_id: int) -> Tuple[str, str, np.ndarray]:
    """Shape, texture and base RGB colour of object class ``class_id``
    (>= 1). Neighbouring classes differ in all three."""
    k = class_id - 1
    shape = SHAPES[k % len(SHAPES)]
    texture = TEXTURES[(k // 2 + k) % len(TEXTURES)]
    hue = (k * 0.381966) % 1.0  # golden-ratio steps spread the hues
    rgb = np.array(colorsys.hsv_to_rgb(hue, 0.85, 0.95), np.float32) * 255
    return shape, texture, rgb


def class_names(num_classes: int) -> Tuple[str, ...]:
    """Names of the labels ``0 .. num_classes - 1`` the writers draw:
    ``'background'``, then e.g. ``'striped square'`` from
    :func:`class_style` (a repeated name gets its label appended)."""
    names = ['background']
    for class_id in range(1, num_classes):
        shape, texture, _ = class_style(class_id)
        name = f'{TEXTURE_ADJECTIVES[texture]} {shape}'
        names.append(name if name not in names else f'{name} {class_id}')
    return tuple(names)


def _shape_mask(shape: str, size: Tuple[int, int], box: Sequence[float],
                angle: float) -> np.ndarray:
    """Boolean (H, W) mask of ``shape`` inside ``box`` = (cx, cy, r)."""
    h, w = size
    cx, cy, r = box
    canvas = Image.new('L', (w, h), 0)
    draw = ImageDraw.Draw(canvas)

    def polygon(points):
        rot = np.array([[np.cos(angle), -np.sin(angle)],
                        [np.sin(angle), np.cos(angle)]])
        pts = np.asarray(points, dtype=np.float64) @ rot.T * r + (cx, cy)
        draw.polygon([tuple(p) for p in pts], fill=1)

    if shape == 'disc':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
    elif shape == 'ring':
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=1)
        draw.ellipse([cx - r / 2, cy - r / 2, cx + r / 2, cy + r / 2], fill=0)
    elif shape == 'square':
        polygon([(-.8, -.8), (.8, -.8), (.8, .8), (-.8, .8)])
    elif shape == 'diamond':
        polygon([(0, -1), (.7, 0), (0, 1), (-.7, 0)])
    elif shape == 'triangle':
        polygon([(0, -1), (.87, .5), (-.87, .5)])
    elif shape == 'cross':
        polygon([(-.3, -1), (.3, -1), (.3, 1), (-.3, 1)])
        polygon([(-1, -.3), (1, -.3), (1, .3), (-1, .3)])
    return np.asarray(canvas, dtype=bool)


def _texture(texture: str, size: Tuple[int, int], rng: np.random.Generator,
             period: float) -> np.ndarray:
    """(H, W) modulation in [0.45, 1] for a texture."""
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, period)
    if texture == 'stripes':
        pattern = ((xx + yy + phase) // (period / 2)) % 2
    elif texture == 'checker':
        pattern = (((xx + phase) // period) + ((yy + phase) // period)) % 2
    elif texture == 'dots':
        pattern = (((xx + phase) % period - period / 2)**2 +
                   ((yy + phase) % period - period / 2)**2
                   < (period / 4)**2).astype(np.float32)
    else:
        pattern = np.ones((h, w), np.float32)
    return 0.45 + 0.55 * pattern


def _background(size: Tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    """A varied background: a two-colour gradient, low-frequency blobs and
    grain, in muted colours. (H, W, 3) float32."""
    h, w = size
    a, b = rng.uniform(40, 200, size=(2, 3)).astype(np.float32)
    direction = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    t = (np.cos(direction) * xx / w + np.sin(direction) * yy / h)
    t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
    img = a * (1 - t[..., None]) + b * t[..., None]
    coarse = rng.normal(0, 25, size=(4, 4, 3)).astype(np.float32)
    blobs = np.asarray(
        Image.fromarray(np.clip(coarse + 128, 0, 255).astype(np.uint8)).resize(
            (w, h), Image.BICUBIC), np.float32) - 128
    img = img + blobs + rng.normal(0, 8, size=(h, w, 3)).astype(np.float32)
    return img


def render_scene(rng: np.random.Generator,
                 size: Tuple[int, int],
                 class_ids: Sequence[int],
                 max_objects: int = 3) -> Tuple[np.ndarray, np.ndarray]:
    """Render one scene.

    Args:
        rng: Random generator (the only source of randomness).
        size: (H, W).
        class_ids: Object classes to draw from (labels >= 1).
        max_objects: At most this many objects (at least one).

    Returns:
        image (H, W, 3) uint8 RGB, label (H, W) uint8 with 0 for background
        and the class id on each object's pixels (later objects occlude).
    """
    h, w = size
    img = _background(size, rng)
    label = np.zeros((h, w), np.uint8)
    for _ in range(int(rng.integers(1, max_objects + 1))):
        cls = int(rng.choice(class_ids))
        shape, texture, colour = class_style(cls)
        r = rng.uniform(0.14, 0.3) * min(h, w)
        box = (rng.uniform(r * 0.6,
                           w - r * 0.6), rng.uniform(r * 0.6, h - r * 0.6), r)
        mask = _shape_mask(shape, size, box, rng.uniform(0, np.pi / 6))
        shade = colour * rng.uniform(0.8, 1.1)
        tex = _texture(texture, size, rng, period=max(4.0, r / 2.5))
        obj = shade[None, None] * tex[..., None]
        img[mask] = obj[mask] + rng.normal(0, 6, size=(int(mask.sum()), 3))
        label[mask] = cls
    return np.clip(img, 0, 255).astype(np.uint8), label


def _save(path: str, array: np.ndarray, palette: list = None):
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(array)
    if palette is not None:
        img = img.convert('P')
        img.putpalette(palette)
    with atomic_output(path, suffix=osp.splitext(path)[1]) as tmp:
        img.save(tmp, quality=95) if path.endswith(('.jpg', '.JPEG')) \
            else img.save(tmp)


def _write_list(path: str, lines: Sequence[str]):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write(''.join(f'{line}\n' for line in lines))


def _scenes(seed: int, count: int, size, class_ids, max_objects=3):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        yield render_scene(rng, size, class_ids, max_objects)


def write_voc(root: str,
              splits: Dict[str, int] = dict(train=8, val=4),
              size: Tuple[int, int] = (64, 64),
              num_classes: int = 21,
              seed: int = 0) -> str:
    """PASCAL VOC 2012 with SBD "aug" labels, as mmseg's
    ``pascal_voc12_aug.py`` reads it.

    Writes ``root/VOCdevkit/VOC2012/{JPEGImages/*.jpg,
    SegmentationClass/*.png (palette), SegmentationClassAug/*.png (grey),
    ImageSets/Segmentation/{train,val,trainval,aug}.txt}``; ``aug.txt``
    lists the training images. Labels use classes 1 .. num_classes-1.

    Returns:
        The ``data_root`` (``root/VOCdevkit/VOC2012``).
    """
    data_root = osp.join(root, 'VOCdevkit', 'VOC2012')
    palette = voc_palette()
    names = {}
    for split_index, (split, count) in enumerate(splits.items()):
        names[split] = [f'2007_{split_index:02d}{i:04d}' for i in range(count)]
        scenes = _scenes(seed * 1000 + split_index, count, size,
                         range(1, num_classes))
        for name, (img, label) in zip(names[split], scenes):
            _save(osp.join(data_root, 'JPEGImages', f'{name}.jpg'), img)
            _save(
                osp.join(data_root, 'SegmentationClass', f'{name}.png'), label,
                palette)
            _save(
                osp.join(data_root, 'SegmentationClassAug', f'{name}.png'),
                label)
    sets = osp.join(data_root, 'ImageSets', 'Segmentation')
    for split, split_names in names.items():
        _write_list(osp.join(sets, f'{split}.txt'), split_names)
    _write_list(
        osp.join(sets, 'trainval.txt'),
        [n for split_names in names.values() for n in split_names])
    _write_list(osp.join(sets, 'aug.txt'), names.get('train', []))
    return data_root


def write_context(root: str,
                  splits: Dict[str, int] = dict(train=4, val=2),
                  size: Tuple[int, int] = (64, 64),
                  seed: int = 0) -> str:
    """PASCAL Context (VOC 2010 images, ``SegmentationClassContext`` labels
    0..59 with 0 = background) as mmseg's ``pascal_context*.py`` read it.

    Returns:
        The ``data_root`` (``root/VOCdevkit/VOC2010``).
    """
    data_root = osp.join(root, 'VOCdevkit', 'VOC2010')
    for split_index, (split, count) in enumerate(splits.items()):
        names = [f'2008_{split_index:02d}{i:04d}' for i in range(count)]
        scenes = _scenes(seed * 1000 + split_index, count, size, range(1, 60))
        for name, (img, label) in zip(names, scenes):
            _save(osp.join(data_root, 'JPEGImages', f'{name}.jpg'), img)
            _save(
                osp.join(data_root, 'SegmentationClassContext', f'{name}.png'),
                label)
        _write_list(
            osp.join(data_root, 'ImageSets', 'SegmentationContext',
                     f'{split}.txt'), names)
    return data_root


def write_cityscapes(root: str,
                     splits: Dict[str, int] = dict(train=4, val=2),
                     size: Tuple[int, int] = (64, 128),
                     seed: int = 0) -> str:
    """Cityscapes ``leftImg8bit/{split}/{city}/*_leftImg8bit.png`` and
    ``gtFine/{split}/{city}/*_gtFine_labelTrainIds.png`` (train ids 0..18,
    255 ignored; here 0 plays the road under the objects).

    Returns:
        The ``data_root`` (``root/cityscapes``).
    """
    data_root = osp.join(root, 'cityscapes')
    for split_index, (split, count) in enumerate(splits.items()):
        city = ('aachen', 'frankfurt', 'berlin')[split_index % 3]
        scenes = _scenes(seed * 1000 + split_index, count, size, range(1, 19))
        for i, (img, label) in enumerate(scenes):
            stem = f'{city}_{i:06d}_000019'
            _save(
                osp.join(data_root, 'leftImg8bit', split, city,
                         f'{stem}_leftImg8bit.png'), img)
            _save(
                osp.join(data_root, 'gtFine', split, city,
                         f'{stem}_gtFine_labelTrainIds.png'), label)
    return data_root


def write_ade20k(root: str,
                 splits: Dict[str, int] = dict(training=4, validation=2),
                 size: Tuple[int, int] = (64, 64),
                 seed: int = 0) -> str:
    """ADE20K (SceneParsing) ``images/{training,validation}/*.jpg`` and
    ``annotations/.../*.png`` with labels 0..150, 0 = "other" (ignored by
    mmseg's ``reduce_zero_label``); the background here is class 1.

    Returns:
        The ``data_root`` (``root/ADEChallengeData2016``).
    """
    data_root = osp.join(root, 'ADEChallengeData2016')
    for split_index, (split, count) in enumerate(splits.items()):
        prefix = 'train' if split == 'training' else 'val'
        scenes = _scenes(seed * 1000 + split_index, count, size, range(2, 151))
        for i, (img, label) in enumerate(scenes):
            stem = f'ADE_{prefix}_{i + 1:08d}'
            _save(osp.join(data_root, 'images', split, f'{stem}.jpg'), img)
            _save(
                osp.join(data_root, 'annotations', split, f'{stem}.png'),
                np.where(label == 0, 1, label).astype(np.uint8))
    return data_root


def write_imagenet(root: str,
                   splits: Dict[str, int] = dict(train=8, val=4),
                   size: Tuple[int, int] = (64, 64),
                   num_classes: int = 4,
                   seed: int = 0) -> str:
    """ImageNet class folders ``{train,val}/n0000000k/*.JPEG`` and the
    ``meta/{train,val}.txt`` lists (``path label``) mmpretrain's ImageNet
    dataset reads; class ``k`` is the image's largest object.

    Returns:
        The ``data_root`` (``root/imagenet``).
    """
    data_root = osp.join(root, 'imagenet')
    for split_index, (split, count) in enumerate(splits.items()):
        lines = []
        scenes = _scenes(
            seed * 1000 + split_index,
            count,
            size,
            range(1, num_classes + 1),
            max_objects=1)
        for i, (img, label) in enumerate(scenes):
            cls = int(label.max()) - 1
            rel = f'n{cls:08d}/{split}_{i:05d}.JPEG'
            _save(osp.join(data_root, split, rel), img)
            lines.append(f'{rel} {cls}')
        _write_list(osp.join(data_root, 'meta', f'{split}.txt'), lines)
    return data_root


def write_once(root: str, writer: Callable[..., str], **kwargs) -> str:
    """Write a dataset with ``writer(root, **kwargs)`` unless ``root``
    already holds a complete one written with the same arguments.

    The writer fills ``<root>.partial`` (removed first if an interrupted run
    left one), a marker with the writer's name and arguments goes in last,
    and only then does the folder take the name ``root``; an older dataset
    there (one with a marker) is moved aside and deleted. A half-written
    dataset is therefore never found under ``root``. A ``root`` that exists
    without a marker was not written here and is left alone.

    Args:
        root: Folder of the dataset.
        writer: One of the ``write_*`` functions of this module.
        **kwargs: Its arguments (JSON-serialisable: splits, size, seed ...).

    Returns:
        The writer's ``data_root``, inside ``root``.

    Raises:
        FileExistsError: ``root`` exists but holds no marker.
    """
    root = osp.abspath(root)
    # JSON turns tuples into lists: compare records after a round trip
    record = json.loads(
        json.dumps(dict(writer=writer.__name__, kwargs=kwargs)))
    marker = osp.join(root, COMPLETION_MARKER)
    if osp.isfile(marker):
        with open(marker) as f:
            found = json.load(f)
        if {k: found.get(k) for k in record} == record:
            return osp.join(root, found['data_root'])
    elif osp.exists(root):
        raise FileExistsError(
            f'{root} exists but is not a dataset mmrn38 generated (no '
            f'{COMPLETION_MARKER}); remove it or choose another folder')
    partial, stale = f'{root}.partial', f'{root}.stale'
    for leftover in (partial, stale):
        shutil.rmtree(leftover, ignore_errors=True)
    data_root = writer(partial, **kwargs)
    record['data_root'] = osp.relpath(data_root, partial)
    with atomic_output(osp.join(partial, COMPLETION_MARKER)) as tmp, \
            open(tmp, 'w') as f:
        json.dump(record, f, indent=2)
    if osp.exists(root):
        os.rename(root, stale)
    os.rename(partial, root)
    shutil.rmtree(stale, ignore_errors=True)
    return osp.join(root, record['data_root'])
