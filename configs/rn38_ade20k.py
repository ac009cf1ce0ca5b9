# ResNet-38 (Model A1, output stride 8, "2 conv" head) on ADE20K
# (SceneParsing, 150 classes). The original's rules (loss, lr rule, init,
# frozen BN, schedule shape: see the _base_ files); mmseg's defaults: the
# pipeline (random scale 0.5-2.0 of 2048x512, 512x512 crops, flip,
# photometric distortion), batch 4 GPUs x 4 images ("4xb4"), 80k iterations.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/ade20k.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_80k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=150))
