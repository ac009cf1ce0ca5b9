# ResNet-38 (Model A1, output stride 8, "2 conv" head) on PASCAL Context
# with 60 classes (background counted, mmseg's PascalContextDataset);
# otherwise as rn38_context.py: the original's rules, mmseg's pipeline and
# schedule, the whole-image test.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/pascal_context.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_40k.py',
]
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=60))
# mmseg's pascal_context.py defines no tta_pipeline: the multi-scale + flip
# one of its pascal_context_59.py
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ], [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]
        ])
]
