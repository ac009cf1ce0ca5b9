# The original release's PASCAL VOC 2012 models, evaluated by their own test
# procedure (ademxapp's issegm/voc.py --test-scales 500 --test-flipping):
#   voc_rna-a1_cls21_s8_ep-0001.params       (VOC + SBD, val 80.84 mIoU)
#   voc_rna-a1_cls21_s8_coco_ep-0001.params  (+ COCO,    val 82.86 mIoU)
# converted with tools/model_converters/rn38_to_mm.py, then
#   tools/test.py configs/original/rn38_voc_original.py CKPT --tta
# The longer side goes to 500 through PIL (Lanczos when shrinking, bicubic
# when enlarging, bilinear otherwise), the image sits top-left on a zero
# 504x504 canvas, softmax probabilities at stride 8 (with --tta averaged with
# those of the flipped canvas) are upsampled per class with PIL bicubic,
# cropped and resized back to the image size with the same filter rule.
_base_ = ['../rn38_voc.py']
test_scale = 500  # the longer side
canvas = (504, 504)  # make_divisible(500, 8)
model = dict(
    type='OriginalEncoderDecoder',
    # the converted checkpoint holds every weight
    backbone=dict(init_cfg=None),
    test_cfg=dict(_delete_=True, crop_size=canvas))
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
