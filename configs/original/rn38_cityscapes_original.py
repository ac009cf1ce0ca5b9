# The original release's Cityscapes model
# (cityscapes_rna-a1_cls19_s8_ep-0001.params, val 78.08 mIoU), evaluated
# with its own test protocol (ademxapp's --test-scales 2048 --test-flipping):
# the whole 1024x2048 image, scores averaged with those of the horizontally
# flipped image (the --tta pipeline):
#   tools/test.py configs/original/rn38_cityscapes_original.py CKPT --tta
_base_ = ['../rn38_cityscapes.py']
test_scale = (2048, 1024)  # the images' own size
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[[dict(type='Resize', scale=test_scale, keep_ratio=True)],
                    [
                        dict(type='RandomFlip', prob=0., direction='horizontal'),
                        dict(type='RandomFlip', prob=1., direction='horizontal')
                    ], [dict(type='LoadAnnotations')],
                    [dict(type='PackSegInputs')]])
]
# the converted checkpoint holds every weight
model = dict(backbone=dict(init_cfg=None))
