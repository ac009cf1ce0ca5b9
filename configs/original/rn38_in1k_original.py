# The original release's ImageNet Model A1
# (ilsvrc-cls_rna-a1_cls1000_ep-0001.params, val top-1 error 19.54 %),
# evaluated by its own test procedure (ademxapp's iclass/ilsvrc.py
# --test-scales 320 --no-choose-interp-method): the shorter side to 320 with
# PIL bicubic, the 320x320 centre crop at ceil((size - 320) / 2), one scale,
# no flip.
#   tools/test.py configs/original/rn38_in1k_original.py CKPT
_base_ = ['../rn38_in1k.py']
test_pipeline = [
    # PIL decoding, as the original reads images
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(
        type='PILResizeEdge', scale=320, edge='short',
        interpolation='bicubic'),
    dict(type='CeilCenterCrop', crop_size=320),
    dict(type='PackInputs'),
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
