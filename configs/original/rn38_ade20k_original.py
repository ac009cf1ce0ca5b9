# The original release's ADE20K model (ade20k_rna-a1_cls150_s8_ep-0001.params,
# val 43.34 mIoU / 80.55 pixel accuracy), evaluated with its own test
# protocol (ademxapp's --test-scales 500 --test-flipping): the longer image
# side resized to 500, scores averaged with those of the horizontally flipped
# image (the --tta pipeline). ademxapp's --test-steps 2 (predicting from
# shifted copies at twice the output resolution) has no mmseg counterpart and
# is left out.
#   tools/test.py configs/original/rn38_ade20k_original.py CKPT --tta
_base_ = ['../rn38_ade20k.py']
test_scale = (500, 500)  # keep_ratio: the longer side becomes 500
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=test_scale, keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
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
                    ], [dict(type='LoadAnnotations', reduce_zero_label=True)],
                    [dict(type='PackSegInputs')]])
]
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
# the converted checkpoint holds every weight
model = dict(backbone=dict(init_cfg=None))
