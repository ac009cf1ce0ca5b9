"""The environment tools/setup_env.sh builds: mmcv's compiled ops load and
compute (they are built with -O1 -g0 by default; a broken build must fail
here rather than in a user's first mmseg head that needs an op)."""
import torch


def test_mmcv_ops_compute():
    from mmcv.ops import RoIAlign, nms

    boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.],
                          [20., 20., 30., 30.]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))

    feat = torch.arange(16.).reshape(1, 1, 4, 4)
    rois = torch.tensor([[0., 0., 0., 4., 4.]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=1,
                   aligned=False)(feat, rois)
    # bin centres (1, 1), (3, 1), (1, 3), (3, 3) sampled bilinearly
    expected = torch.tensor([[[[5., 7.], [13., 15.]]]])
    assert torch.allclose(out, expected)
