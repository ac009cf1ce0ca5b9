"""The released models' test protocols (``configs/original/``).

The segmentation procedure of the original code (ademxapp
``issegm/voc.py``, ``_val_impl`` and ``_interp_preds_as_impl``, with the
adaptive interpolation its ``__main__`` turns on) is written out below with
numpy and PIL, independently of mmrn38; torch only runs the network. It is
compared with ``tools/test.py configs/original/... --out DIR`` on images of
odd sizes that take each resize path, with the ``a1_s8_seg2_div16``
reference network (the released VOC model's names and layout, channels /
16) converted by ``rn38_to_mm.py``. ``pool_padding=0`` (Model A as the
release evaluates it) is checked against MXNet's own output of such a
network (``a_cls_caffe_div16``).
"""
import os
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope
from PIL import Image, ImageDraw
from rn38_testing import REPO, last_miou, run_tool, run_tool_here

import mmrn38  # noqa: F401  (registers the models and transforms)
from mmrn38.datasets.transforms import CeilCenterCrop, PILResizeEdge
from mmrn38.models import ResNet38

DATA = osp.join(REPO, 'tests', 'data', 'mxnet')
CONFIGS = osp.join(REPO, 'configs', 'original')
WIDTH = 1 / 16
RTOL = 1e-5  # of max |reference|
MIN_AGREEMENT = 0.999

# the original's preprocessing of "rna" models: RGB / 255, ImageNet mean/std
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


# --------------------------------------------------------------------------
# The original procedure, written out
# --------------------------------------------------------------------------
def original_filter(src_h, src_w, dst_h, dst_w):
    """ademxapp's get_interp_method with choose_interpolation_method on."""
    if dst_h < src_h and dst_w < src_w:
        return Image.Resampling.LANCZOS  # the former Image.ANTIALIAS
    if dst_h > src_h and dst_w > src_w:
        return Image.Resampling.BICUBIC
    return Image.Resampling.BILINEAR


def original_scale(rim, size, shorter_side, adaptive=True):
    """ademxapp's transformer.Scale on an (H, W, 3) uint8 image."""
    h, w = rim.shape[:2]
    edge = min(h, w) if shorter_side else max(h, w)
    if edge == size:
        return rim
    if edge == w:
        nw, nh = size, int(np.round(1. * size * h / w))
    else:
        nw, nh = int(np.round(1. * size * w / h)), size
    method = original_filter(h, w, nh, nw) if adaptive else \
        Image.Resampling.BICUBIC
    return np.array(Image.fromarray(rim).resize((nw, nh), method))


def original_center_crop(im, size):
    """ademxapp's transformer.CenterCrop."""
    h, w = im.shape[:2]
    y0 = int(np.ceil((h - size) / 2.))
    x0 = int(np.ceil((w - size) / 2.))
    return im[y0:y0 + size, x0:x0 + size]


def softmax(scores):
    """(K, h, w) -> probabilities over K."""
    e = np.exp(scores - scores.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def original_segment(net, path, scale, canvas, steps, flipping, stride=8):
    """Label map of one image by ademxapp's issegm/voc.py ``_val_impl``.

    ``net``: (1, 3, H, W) float32 -> (K, H / stride, W / stride) scores;
    ``canvas``: the fixed input (h, w), or None for the image's own size
    rounded up to a multiple of ``stride`` (Cityscapes' ``ident_size``).
    """
    rim = np.array(Image.open(path).convert('RGB'), np.uint8)
    im = original_scale(rim, scale, shorter_side=False)
    im = (im.astype(np.float32) * np.float32(1. / 255) - MEAN) / STD
    imh, imw = im.shape[:2]
    if canvas is None:
        canvas = [int(np.ceil(v / stride) * stride) for v in (imh, imw)]
    input_h, input_w = canvas
    pred_stride = stride // steps
    # the image framed by stride / 2 zeros, read at shifted windows
    nim = np.zeros((3, imh + stride, imw + stride), np.float32)
    nim[:, stride // 2:stride // 2 + imh,
        stride // 2:stride // 2 + imw] = im.transpose(2, 0, 1)
    starts = pred_stride // 2 + np.arange(steps) * pred_stride
    net_preds = None
    for ix in range(steps):
        for iy in range(steps):
            data = np.zeros((1, 3, input_h, input_w), np.float32)
            data[0, :, :imh, :imw] = nim[:, starts[iy]:starts[iy] + imh,
                                         starts[ix]:starts[ix] + imw]
            preds = softmax(net(data))
            if flipping:
                flipped = softmax(net(data[:, :, :, ::-1].copy()))
                preds = 0.5 * (preds + flipped[:, :, ::-1])
            if net_preds is None:
                net_preds = np.zeros((preds.shape[0], preds.shape[1] * steps,
                                      preds.shape[2] * steps), np.float32)
            net_preds[:, iy::steps, ix::steps] = preds
    # _interp_preds_as_impl, class by class
    interp = []
    for pred in net_preds:
        size = (pred.shape[1] * pred_stride, pred.shape[0] * pred_stride)
        up = np.array(
            Image.fromarray(pred).resize(size,
                                         Image.Resampling.BICUBIC))[:imh, :imw]
        if (imh, imw) != rim.shape[:2]:
            up = np.array(
                Image.fromarray(up).resize(
                    (rim.shape[1], rim.shape[0]),
                    original_filter(imh, imw, *rim.shape[:2])))
        interp.append(up)
    return np.array(interp).argmax(0)


# --------------------------------------------------------------------------
# Data and networks
# --------------------------------------------------------------------------
def photo(height, width, seed):
    """An (H, W, 3) uint8 image with smooth colour fields, shapes and
    grain."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(
        0, 256,
        (max(2, height // 24), max(2, width // 24), 3)).astype(np.uint8)
    img = Image.fromarray(coarse).resize((width, height),
                                         Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, x1 = sorted(rng.integers(0, width, 2))
        y0, y1 = sorted(rng.integers(0, height, 2))
        colour = tuple(int(c) for c in rng.integers(0, 256, 3))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    grain = rng.integers(-12, 13, (height, width, 3))
    return np.clip(np.asarray(img, np.int16) + grain, 0, 255).astype(np.uint8)


def write_images(img_dir, seg_dir, sizes, img_suffix, seg_suffix, num_labels):
    """One photo (JPEG or PNG by suffix) and a random label map per size;
    returns the image paths and the names."""
    os.makedirs(img_dir, exist_ok=True)
    os.makedirs(seg_dir, exist_ok=True)
    paths, names = [], []
    for i, (height, width) in enumerate(sizes):
        name = f'img{i}_{height}x{width}'
        path = osp.join(img_dir, name + img_suffix)
        Image.fromarray(photo(height, width, i)).save(path, quality=90)
        labels = np.random.default_rng(i).integers(0, num_labels,
                                                   (height, width))
        Image.fromarray(labels.astype(np.uint8)).save(
            osp.join(seg_dir, name + seg_suffix))
        paths.append(path)
        names.append(name)
    return paths, names


def write_voc(root, sizes):
    data_root = osp.join(root, 'VOC2012')
    paths, names = write_images(
        osp.join(data_root, 'JPEGImages'),
        osp.join(data_root, 'SegmentationClass'), sizes, '.jpg', '.png', 21)
    os.makedirs(osp.join(data_root, 'ImageSets', 'Segmentation'))
    with open(
            osp.join(data_root, 'ImageSets', 'Segmentation', 'val.txt'),
            'w') as f:
        f.write(''.join(name + '\n' for name in names))
    return data_root, paths


def write_ade20k(root, sizes):
    data_root = osp.join(root, 'ADEChallengeData2016')
    paths, _ = write_images(
        osp.join(data_root, 'images', 'validation'),
        osp.join(data_root, 'annotations', 'validation'), sizes, '.jpg',
        '.png', 151)
    return data_root, paths


def write_cityscapes(root, sizes):
    data_root = osp.join(root, 'cityscapes')
    paths, _ = write_images(
        osp.join(data_root, 'leftImg8bit', 'val', 'city'),
        osp.join(data_root, 'gtFine', 'val', 'city'), sizes,
        '_leftImg8bit.png', '_gtFine_labelTrainIds.png', 19)
    return data_root, paths


def seg_checkpoint(converted, tmp_path, num_classes):
    """The ``a1_s8_seg2_div16`` reference network converted by the CLI
    (``converted``); for a class count other than its 21, a copy with a
    random (seeded) classifier of ``num_classes``."""
    if num_classes == 21:
        return converted
    ckpt = str(tmp_path / f'seg_{num_classes}.pth')
    checkpoint = torch.load(converted, weights_only=True)
    state = checkpoint['state_dict']
    gen = torch.Generator().manual_seed(num_classes)
    weight = state['decode_head.conv_seg.weight']
    state['decode_head.conv_seg.weight'] = torch.randn(
        num_classes, *weight.shape[1:], generator=gen) * weight.std()
    state['decode_head.conv_seg.bias'] = torch.randn(
        num_classes, generator=gen) * 0.1
    checkpoint['meta']['model']['decode_head']['num_classes'] = num_classes
    torch.save(checkpoint, ckpt)
    return ckpt


def seg_net(ckpt):
    """(1, 3, H, W) float32 array -> (K, H / 8, W / 8) scores, the network
    of ``ckpt`` (as the converter describes it in its meta) run by mmseg's
    plain ``EncoderDecoder``."""
    from mmseg.registry import MODELS
    checkpoint = torch.load(ckpt, weights_only=True)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(checkpoint['meta']['model'])
    model.load_state_dict(checkpoint['state_dict'], strict=True)
    model.eval()

    def run(data):
        with torch.no_grad():
            return model(torch.from_numpy(data), mode='tensor')[0].numpy()

    return run


def run_test_tool(config, ckpt, data_root, out_dir, work_dir, tta):
    """``tools/test.py configs/original/<config> CKPT [--tta] --out DIR`` on
    ``data_root`` with the network shrunk to the reference's widths."""
    opts = [
        f'test_dataloader.dataset.data_root={data_root}',
        'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False',
        f'model.backbone.width={WIDTH}',
        'model.decode_head.in_channels=256',
        'model.decode_head.channels=32',
    ]
    args = [
        osp.join(CONFIGS, config), ckpt, '--out', out_dir, '--work-dir',
        work_dir, '--cfg-options', *opts
    ]
    return run_tool_here('test.py', *args, *(['--tta'] if tta else []))


def agreement(out_dir, paths, expected, label_offset=0):
    """Per image: the fraction of pixels where the label PNG of ``out_dir``
    equals ``expected`` (+ ``label_offset``, mmseg's PNGs for
    ``reduce_zero_label``)."""
    fractions = {}
    for path, labels in zip(paths, expected):
        name = osp.basename(path).rsplit('.', 1)[0]
        written = np.array(Image.open(osp.join(out_dir, name + '.png')))
        assert written.shape == labels.shape, (name, written.shape)
        fractions[name] = float(np.mean(written == labels + label_offset))
    return fractions


def miou(out_dir, seg_dir, paths, num_classes):
    """mIoU in % of the label PNGs of ``out_dir`` against those of
    ``seg_dir`` (no ignored pixels), as mmseg's ``IoUMetric``: per class
    the intersection over the union summed over the images, the classes
    neither predicted nor present left out of the mean."""
    intersect, union = np.zeros(num_classes), np.zeros(num_classes)
    for path in paths:
        name = osp.basename(path).rsplit('.', 1)[0] + '.png'
        pred = np.array(Image.open(osp.join(out_dir, name))).ravel()
        label = np.array(Image.open(osp.join(seg_dir, name))).ravel()
        hits = np.bincount(label[pred == label], minlength=num_classes)
        intersect += hits
        union += np.bincount(
            pred, minlength=num_classes) + np.bincount(
                label, minlength=num_classes) - hits
    present = union > 0
    return 100 * np.mean(intersect[present] / union[present])


# --------------------------------------------------------------------------
# Segmentation: VOC, ADE20K (test steps), Cityscapes (canvas)
# --------------------------------------------------------------------------
# (h, w) -> the resize path it takes with the longer side at 500
VOC_SIZES = [
    (375, 500),  # already 500: no resize, no resize back
    (611, 457),  # both sides shrink: Lanczos, back bicubic
    (173, 229),  # both sides grow: bicubic, back Lanczos
    (5, 503),  # the short side keeps its length: bilinear both ways
]


@pytest.mark.parametrize('tta', [True, False], ids=['flip', 'single'])
def test_voc_protocol_matches_original(tmp_path, tta,
                                       converted_voc_checkpoint):
    ckpt = seg_checkpoint(converted_voc_checkpoint, tmp_path, 21)
    data_root, paths = write_voc(str(tmp_path), VOC_SIZES)
    net = seg_net(ckpt)
    expected = [
        original_segment(net, p, 500, (504, 504), 1, tta) for p in paths
    ]
    out_dir = str(tmp_path / 'out')
    log = run_test_tool('rn38_voc_original.py', ckpt, data_root, out_dir,
                        str(tmp_path / 'work'), tta)
    assert 'OriginalEncoderDecoder' in log
    # the metric stays mmseg's IoUMetric: the mIoU of the written labels
    assert last_miou(log) == pytest.approx(
        miou(out_dir, osp.join(data_root, 'SegmentationClass'), paths, 21),
        abs=0.005)
    fractions = agreement(out_dir, paths, expected)
    print('VOC', 'flip' if tta else 'single', fractions)
    assert all(len(np.unique(labels)) >= 3 for labels in expected[:3])
    assert min(fractions.values()) >= MIN_AGREEMENT, fractions


def test_ade20k_test_steps_match_original(tmp_path, converted_voc_checkpoint):
    ckpt = seg_checkpoint(converted_voc_checkpoint, tmp_path, 150)
    data_root, paths = write_ade20k(str(tmp_path), [(333, 417), (521, 389)])
    net = seg_net(ckpt)
    expected = [
        original_segment(net, p, 500, (504, 504), 2, True) for p in paths
    ]
    out_dir = str(tmp_path / 'out')
    run_test_tool('rn38_ade20k_original.py', ckpt, data_root, out_dir,
                  str(tmp_path / 'work'), True)
    fractions = agreement(out_dir, paths, expected, label_offset=1)
    print('ADE20K steps 2 + flip', fractions)
    assert min(fractions.values()) >= MIN_AGREEMENT, fractions


def test_cityscapes_canvas_matches_original(tmp_path,
                                            converted_voc_checkpoint):
    """The canvas is the resized image rounded up to a multiple of 8: a
    1024x2048 image as it is; 701x1503 enlarged to 955x2048 on a 960x2048
    canvas."""
    ckpt = seg_checkpoint(converted_voc_checkpoint, tmp_path, 19)
    data_root, paths = write_cityscapes(
        str(tmp_path), [(1024, 2048), (701, 1503)])
    net = seg_net(ckpt)
    expected = [original_segment(net, p, 2048, None, 1, True) for p in paths]
    out_dir = str(tmp_path / 'out')
    run_test_tool('rn38_cityscapes_original.py', ckpt, data_root, out_dir,
                  str(tmp_path / 'work'), True)
    fractions = agreement(out_dir, paths, expected)
    print('Cityscapes flip', fractions)
    assert min(fractions.values()) >= MIN_AGREEMENT, fractions


# --------------------------------------------------------------------------
# ImageNet: Model A's pools, the resize and crop
# --------------------------------------------------------------------------
def caffe_model(pool_padding):
    """configs/original/rn38-a_in1k_original.py's classifier, shrunk to the
    reference's widths, with the converted ``a_cls_caffe_div16`` weights."""
    from mmpretrain.registry import MODELS

    from mmrn38.converters import convert_rn38_weights
    cfg = Config.fromfile(osp.join(CONFIGS, 'rn38-a_in1k_original.py'))
    cfg.model.backbone.update(
        width=WIDTH,
        norm_cfg=dict(type='BN', eps=1.001e-5),
        pool_padding=pool_padding)
    cfg.model.head.in_channels = 256
    conversion = convert_rn38_weights(
        osp.join(DATA, 'a_cls_caffe_div16.params'), arch='A', out_stride=32)
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(cfg.model)
    model.load_state_dict(conversion.checkpoint['state_dict'], strict=True)
    return model.eval()


def test_model_a_config_builds_caffe_pools():
    cfg = Config.fromfile(osp.join(CONFIGS, 'rn38-a_in1k_original.py'))
    assert cfg.model.backbone.arch == 'A'
    assert cfg.model.backbone.pool_padding == 0


def test_pool_padding_0_matches_mxnet_caffe_pools():
    inputs = torch.from_numpy(
        np.load(osp.join(DATA, 'a_cls_caffe_div16_in.npy')))
    reference = np.load(osp.join(DATA, 'a_cls_caffe_div16_out.npy'))
    assert inputs.shape[-2:] == (97, 97)
    with torch.no_grad():
        output = caffe_model(0)(inputs, mode='tensor').numpy()
        padded = caffe_model(1)(inputs, mode='tensor').numpy()
    max_diff = np.abs(output - reference).max()
    print(f'a_cls_caffe_div16: max |diff| {max_diff:.3g}, '
          f'max |ref| {np.abs(reference).max():.3g}')
    assert max_diff <= RTOL * np.abs(reference).max()
    # the default padding is another network on these odd sizes
    assert np.abs(padded -
                  reference).max() > 100 * RTOL * np.abs(reference).max()


def test_pool_padding_sizes_and_errors():
    x = torch.zeros(1, 3, 97, 97)
    sizes = []
    for pool_padding in (0, 1):
        model = ResNet38(
            arch='A',
            out_stride=32,
            width=WIDTH,
            out_indices=tuple(range(6)),
            pool_padding=pool_padding).eval()
        with torch.no_grad():
            sizes.append([out.shape[-1] for out in model(x)])
    assert sizes == [[48, 23, 11, 5, 2, 2], [49, 25, 13, 7, 4, 4]]
    # the stride-1 pools of dilated levels keep a padding of their dilation
    model = ResNet38(arch='A', out_stride=8, width=WIDTH, pool_padding=0)
    with torch.no_grad():
        assert model(x)[0].shape[-1] == 11
    with pytest.raises(ValueError, match='pool_padding must be 0 or 1'):
        ResNet38(arch='A', pool_padding=2)
    with pytest.raises(ValueError, match='Model A'):
        ResNet38(arch='A1', pool_padding=0)


@pytest.mark.parametrize('size', [(333, 500), (320, 451), (700, 320),
                                  (287, 289), (641, 401)])
def test_imagenet_resize_and_crop_match_original(size):
    rim = photo(*size, seed=size[0])
    expected = original_center_crop(
        original_scale(rim, 320, shorter_side=True, adaptive=False), 320)
    results = PILResizeEdge(
        320, edge='short', interpolation='bicubic')(
            dict(img=rim))
    results = CeilCenterCrop(320)(results)
    assert results['img_shape'] == (320, 320)
    np.testing.assert_array_equal(results['img'], expected)


@pytest.mark.parametrize('size', VOC_SIZES + [(503, 5), (250, 250)])
def test_segmentation_resize_matches_original(size):
    rim = photo(*size, seed=size[1])
    expected = original_scale(rim, 500, shorter_side=False)
    results = PILResizeEdge(500)(dict(img=rim))
    assert results['img_shape'] == expected.shape[:2]
    np.testing.assert_array_equal(results['img'], expected)


def test_transforms_reject_bad_input():
    with pytest.raises(ValueError, match='edge must be'):
        PILResizeEdge(500, edge='longer')
    with pytest.raises(ValueError, match='interpolation must be'):
        PILResizeEdge(500, interpolation='cubic')
    with pytest.raises(ValueError, match='uint8'):
        PILResizeEdge(500)(dict(img=np.zeros((4, 4, 3), np.float32)))
    with pytest.raises(ValueError, match='at least 320x320'):
        CeilCenterCrop(320)(dict(img=np.zeros((300, 400, 3), np.uint8)))


def test_imagenet_original_configs_test(tmp_path):
    """The released Model A's path: converted by the CLI, tested by
    ``tools/test.py`` with its config (shrunk network, tiny data)."""
    from mmrn38.synthetic import write_imagenet
    data_root = write_imagenet(str(tmp_path), dict(val=2), size=(99, 131))
    ckpt = str(tmp_path / 'a.pth')
    run_tool(
        osp.join('model_converters', 'rn38_to_mm.py'),
        osp.join(DATA, 'a_cls_caffe_div16.params'), ckpt, '--arch', 'A')
    log = run_tool_here('test.py', osp.join(CONFIGS,
                                            'rn38-a_in1k_original.py'), ckpt,
                        '--work-dir', tmp_path / 'work', '--cfg-options',
                        f'test_dataloader.dataset.data_root={data_root}',
                        'test_dataloader.num_workers=0',
                        'test_dataloader.persistent_workers=False',
                        'test_dataloader.batch_size=2',
                        f'model.backbone.width={WIDTH}',
                        'model.head.in_channels=256',
                        'test_dataloader.dataset.pipeline.1.scale=97',
                        'test_dataloader.dataset.pipeline.2.crop_size=97')
    assert 'pool_padding=0' in log
    assert 'accuracy/top1' in log


def test_segmentor_rejects_bad_test_cfg():
    from mmseg.registry import MODELS
    cfg = Config.fromfile(osp.join(CONFIGS, 'rn38_voc_original.py')).model
    cfg.backbone.update(width=WIDTH, norm_cfg=dict(type='BN'))
    cfg.decode_head.update(
        in_channels=256, channels=32, norm_cfg=dict(type='BN'))
    for test_cfg, pattern in [
        (dict(crop_size=(504, 504), mode='whole'), 'unknown test_cfg keys'),
        (dict(crop_size=(500, 500)), 'multiples of the output stride 8'),
        (dict(crop_size=(504, 504), size_divisor=8), 'exactly one of'),
        (dict(size_divisor=8, steps=3), 'positive divisor'),
    ]:
        cfg.test_cfg = test_cfg
        with DefaultScope.overwrite_default_scope('mmseg'):
            with pytest.raises(ValueError, match=pattern):
                MODELS.build(cfg)


def test_segmentor_rejects_bad_inputs():
    from mmseg.registry import MODELS
    from mmseg.structures import SegDataSample
    cfg = Config.fromfile(osp.join(CONFIGS, 'rn38_voc_original.py')).model
    cfg.backbone.update(width=WIDTH, norm_cfg=dict(type='BN'))
    cfg.decode_head.update(
        in_channels=256, channels=32, norm_cfg=dict(type='BN'))
    cfg.test_cfg.crop_size = (24, 24)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MODELS.build(cfg).eval()
    inputs = torch.zeros(1, 3, 32, 32)

    def sample(**meta):
        return SegDataSample(metainfo=dict(ori_shape=(32, 32), **meta))

    with torch.no_grad():
        with pytest.raises(ValueError, match='needs the data samples'):
            model.predict(inputs)
        with pytest.raises(ValueError, match='does not fit the canvas'):
            model.predict(inputs, [sample(img_shape=(32, 32))])
        with pytest.raises(ValueError, match='horizontally only'):
            model.predict(inputs, [
                sample(
                    img_shape=(20, 20), flip=True, flip_direction='vertical')
            ])
        labels = model.predict(inputs, [sample(img_shape=(20, 20))])
    assert labels[0].pred_sem_seg.shape == (32, 32)
    assert labels[0].canvas_probs.shape == (3, 3)
