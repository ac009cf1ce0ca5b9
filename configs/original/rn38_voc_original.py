# The original release's PASCAL VOC 2012 models, evaluated with their own
# test protocol (ademxapp's issegm/voc.py --test-scales 500 --test-flipping):
# the longer image side resized to 500, scores averaged with those of the
# horizontally flipped image. For
#   voc_rna-a1_cls21_s8_ep-0001.params       (VOC + SBD, val 80.84 mIoU)
#   voc_rna-a1_cls21_s8_coco_ep-0001.params  (+ COCO,    val 82.86 mIoU)
# converted with tools/model_converters/rn38_to_mm.py; the flip is the --tta
# pipeline:  tools/test.py configs/original/rn38_voc_original.py CKPT --tta
_base_ = ['../rn38_voc.py']
test_scale = (500, 500)  # keep_ratio: the longer side becomes 500
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
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
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# the converted checkpoint holds every weight
model = dict(backbone=dict(init_cfg=None))
