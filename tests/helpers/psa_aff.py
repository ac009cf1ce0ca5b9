"""PSA's AffinityNet and random walk, transcribed in plain PyTorch / numpy
from jiwoon-ahn/psa (network/resnet38_aff.py, tool/pyutils.py
get_indices_of_pairs, infer_aff.py) as the tests' reference: PSA's
arithmetic and module names, on CPU, every channel count times ``width``
(resnet38d is mmrn38's plain port with PSA's dropout layout and BN eps; its
arithmetic uses nothing of mmrn38)."""
import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from rn38_testing import randomize_psa_net

from mmrn38.benchmark.plain_port import PlainResNet38
from mmrn38.models.backbones import scaled_channels

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def psa_search_dist(radius):
    """PSA's displacements ``(dy, dx)`` of the pairs within ``radius``."""
    dist = [(0, x) for x in range(1, radius)]
    for y in range(1, radius):
        for x in range(-radius + 1, radius):
            if x * x + y * y < radius * radius:
                dist.append((y, x))
    return dist


def psa_indices_of_pairs(radius, size):
    """PSA's ``get_indices_of_pairs`` on a ``size = (h, w)`` grid: the
    ``from`` indices ``(P, )`` and the ``to`` indices ``(D * P, )``, one
    block of ``P`` per displacement."""
    full = np.reshape(np.arange(0, size[0] * size[1], dtype=np.int64), size)
    rf = radius - 1
    ch, cw = size[0] - rf, size[1] - 2 * rf
    ind_from = np.reshape(full[:-rf, rf:-rf], [-1])
    ind_to = [
        np.reshape(full[dy:dy + ch, rf + dx:rf + dx + cw], [-1])
        for dy, dx in psa_search_dist(radius)
    ]
    return ind_from, np.concatenate(ind_to, axis=0)


class PSAAffNet(PlainResNet38):
    """PSA's ``resnet38_aff.Net``: resnet38d's ``conv4`` / ``conv5`` /
    ``conv6`` (the BN-ReLU inputs of ``b5`` and ``b6``, ReLU(bn7)) through
    bias-free 1x1 convs ``f8_3``, ``f8_4``, ``f8_5`` and ``f9`` with ELUs,
    every channel count times ``width``."""

    def __init__(self, width=1.0):
        super().__init__(width=width, dropout_layout='psa', eps=1e-5)

        def c(n):
            return scaled_channels(n, width)

        self.f8_3 = nn.Conv2d(c(512), c(64), 1, bias=False)
        self.f8_4 = nn.Conv2d(c(1024), c(128), 1, bias=False)
        self.f8_5 = nn.Conv2d(c(4096), c(256), 1, bias=False)
        self.f9 = nn.Conv2d(c(448), c(448), 1, bias=False)

    def forward_as_dict(self, x):
        x = self.conv1a(x)
        taps = {}
        for name in self.blocks:
            block = getattr(self, name)
            if name in ('b5', 'b6'):  # ResBlock(get_x_bn_relu=True)
                taps['conv4' if name == 'b5' else 'conv5'] = F.relu(
                    block.bn_branch2a(x))
            x = block(x)
        taps['conv6'] = F.relu(self.bn7(x))
        return taps

    def features(self, x):
        d = self.forward_as_dict(x)
        f8_3 = F.elu(self.f8_3(d['conv4']))
        f8_4 = F.elu(self.f8_4(d['conv5']))
        f8_5 = F.elu(self.f8_5(d['conv6']))
        return F.elu(self.f9(torch.cat([f8_3, f8_4, f8_5], dim=1)))

    def forward(self, x, to_dense=False):
        """PSA's forward: ``(B, 3, H, W)`` -> affinities ``(B, D, P)`` of
        the pairs, or with ``to_dense`` (one image) the ``(N, N)`` matrix
        (``N = H * W / 64``)."""
        x = self.features(x)
        ind_from, ind_to = psa_indices_of_pairs(5, (x.size(2), x.size(3)))
        ind_from = torch.from_numpy(ind_from)
        ind_to = torch.from_numpy(ind_to)
        x = x.view(x.size(0), x.size(1), -1)
        ff = torch.index_select(x, dim=2, index=ind_from)
        ft = torch.index_select(x, dim=2, index=ind_to)
        ff = torch.unsqueeze(ff, dim=2)
        ft = ft.view(ft.size(0), ft.size(1), -1, ff.size(3))
        aff = torch.exp(-torch.mean(torch.abs(ft - ff), dim=1))
        if not to_dense:
            return aff
        aff = aff.view(-1)
        ind_from_exp = torch.unsqueeze(
            ind_from, dim=0).expand(ft.size(2), -1).contiguous().view(-1)
        indices = torch.stack([ind_from_exp, ind_to])
        indices_tp = torch.stack([ind_to, ind_from_exp])
        area = x.size(2)
        indices_id = torch.stack(
            [torch.arange(0, area).long(),
             torch.arange(0, area).long()])
        return torch.sparse_coo_tensor(
            torch.cat([indices, indices_id, indices_tp], dim=1),
            torch.cat([aff, torch.ones([area]), aff]),
            (area, area)).to_dense()


def psa_random_aff_net(width, seed=0):
    """A PSAAffNet with random weights and BN statistics, in eval mode."""
    return randomize_psa_net(PSAAffNet(width), seed)


def psa_normalize(image):
    """PSA's ``Normalize`` + ``HWC_to_CHW`` of an ``(H, W, 3)`` RGB uint8
    array -> ``(1, 3, H, W)`` float32 tensor."""
    normed = np.empty_like(image, np.float32)
    for ch in range(3):
        normed[..., ch] = (image[..., ch] / 255. -
                           IMAGENET_MEAN[ch]) / IMAGENET_STD[ch]
    return torch.from_numpy(np.transpose(normed, (2, 0, 1)).copy())[None]


def psa_random_walk(aff_fn, img, cam, alpha=16, beta=8, logt=8):
    """PSA's ``infer_aff.py`` loop body for one image.

    Args:
        aff_fn: ``(1, 3, H8, W8)`` -> ``(N, N)`` dense affinities (PSA:
            ``model.forward(img, True)``).
        img: ``(1, 3, H, W)`` normalised image.
        cam: PSA's CAM dict ``{class index: (H, W)}``.

    Returns:
        ``(H, W)`` uint8 labels 0-20.
    """
    orig_shape = img.shape
    padded_size = (int(np.ceil(img.shape[2] / 8) * 8),
                   int(np.ceil(img.shape[3] / 8) * 8))
    p2d = (0, padded_size[1] - img.shape[3], 0, padded_size[0] - img.shape[2])
    img = F.pad(img, p2d)
    dheight = int(np.ceil(img.shape[2] / 8))
    dwidth = int(np.ceil(img.shape[3] / 8))
    cam_full_arr = np.zeros((21, orig_shape[2], orig_shape[3]), np.float32)
    for k, v in cam.items():
        cam_full_arr[k + 1] = v
    cam_full_arr[0] = (1 - np.max(cam_full_arr[1:],
                                  (0), keepdims=False))**alpha
    cam_full_arr = np.pad(
        cam_full_arr, ((0, 0), (0, p2d[3]), (0, p2d[1])), mode='constant')
    with torch.no_grad():
        aff_mat = torch.pow(aff_fn(img), beta)
        trans_mat = aff_mat / torch.sum(aff_mat, dim=0, keepdim=True)
        for _ in range(logt):
            trans_mat = torch.matmul(trans_mat, trans_mat)
        cam_full_arr = torch.from_numpy(cam_full_arr)
        cam_full_arr = F.avg_pool2d(cam_full_arr, 8, 8)
        cam_vec = cam_full_arr.view(21, -1)
        cam_rw = torch.matmul(cam_vec, trans_mat)
        cam_rw = cam_rw.view(1, 21, dheight, dwidth)
        # PSA's nn.Upsample(mode='bilinear') under PyTorch 0.4:
        # align_corners=False
        cam_rw = F.interpolate(
            cam_rw, (img.shape[2], img.shape[3]),
            mode='bilinear',
            align_corners=False)
        _, cam_rw_pred = torch.max(cam_rw, 1)
        return np.uint8(cam_rw_pred[0])[:orig_shape[2], :orig_shape[3]]
