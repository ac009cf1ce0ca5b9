# ResNet-38 (Model A1, output stride 8, "2 conv" head) on PASCAL Context,
# 59 classes (background ignored, mmseg's PascalContextDataset59).
# The original's rules (loss, lr rule, init, frozen BN, schedule shape: see
# the _base_ files); mmseg's defaults: the pipeline (random scale 0.5-2.0 of
# 520x520, 480x480 crops, flip, photometric distortion), batch 4 GPUs x 4
# images ("4xb4"), 40k iterations.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/pascal_context_59.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_40k.py',
]
crop_size = (480, 480)
model = dict(
    data_preprocessor=dict(size=crop_size),
    # whole-image test (the _base_'s) as the original; mmseg's Context
    # configs slide 480
    decode_head=dict(num_classes=59))
