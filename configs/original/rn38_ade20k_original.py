# The original release's ADE20K model (ade20k_rna-a1_cls150_s8_ep-0001.params,
# val 43.34 mIoU / 80.55 pixel accuracy), evaluated by its own test procedure
# (ademxapp's issegm/voc.py --test-scales 500 --test-flipping --test-steps 2):
#   tools/test.py configs/original/rn38_ade20k_original.py CKPT --tta
# As configs/original/rn38_voc_original.py, plus the test steps: 2x2 copies of
# the image shifted by 4 pixels, whose stride-8 probabilities interleave into
# a stride-4 map.
_base_ = ['../rn38_ade20k.py']
test_scale = 500  # the longer side
canvas = (504, 504)  # make_divisible(500, 8)
model = dict(
    type='OriginalEncoderDecoder',
    # the converted checkpoint holds every weight
    backbone=dict(init_cfg=None),
    test_cfg=dict(_delete_=True, crop_size=canvas, steps=2))
resize = dict(type='PILResizeEdge', scale=test_scale, edge='long')
test_pipeline = [
    # PIL decoding, as the original reads images
    dict(type='LoadImageFromFile', imdecode_backend='pillow'),
    resize,
    dict(type='LoadAnnotations', reduce_zero_label=True),
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
            [dict(type='LoadAnnotations', reduce_zero_label=True)],
            [dict(type='PackSegInputs')],
        ])
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
