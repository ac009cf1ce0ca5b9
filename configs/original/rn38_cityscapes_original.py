# The original release's Cityscapes model
# (cityscapes_rna-a1_cls19_s8_ep-0001.params, val 78.08 mIoU), evaluated by
# its own test procedure (ademxapp's issegm/voc.py --test-scales 2048
# --test-flipping):
#   tools/test.py configs/original/rn38_cityscapes_original.py CKPT --tta
# As configs/original/rn38_voc_original.py, with the longer side at 2048 (the
# 1024x2048 images stay as they are) and a canvas of the image's own size
# rounded up to a multiple of 8 (1024x2048).
_base_ = ['../rn38_cityscapes.py']
test_scale = 2048  # the longer side
model = dict(
    type='OriginalEncoderDecoder',
    # the converted checkpoint holds every weight
    backbone=dict(init_cfg=None),
    test_cfg=dict(_delete_=True, size_divisor=8))
resize = dict(type='PILResizeEdge', scale=test_scale, edge='long')
test_pipeline = [
    # PIL decoding, as the original reads images
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    resize,
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# --tta: the flip, averaged at the output stride by OriginalTTAModel
tta_model = dict(type='OriginalTTAModel')
tta_pipeline = [
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    dict(
        type='TestTimeAug',
        transforms=[
            [resize],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ],
            [dict(type='LoadAnnotations')],
            [dict(type='PackSegInputs')],
        ])
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
