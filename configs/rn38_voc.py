# ResNet-38 (Model A1, output stride 8, "2 conv" head) on PASCAL VOC 2012
# with the SBD "aug" labels (10,582 training images), 21 classes.
# The original never released its VOC training recipe. The original's rules
# (see the _base_ files): the bootstrapped softmax loss on stride-8 labels,
# the "alex" lr rule (biases incl. BN beta 2x lr, no decay), N(0, 2/fan_in)
# head init, frozen BN statistics, SGD 0.0016 held then linear, ImageNet
# weights converted from the release. mmseg's defaults: the data pipeline
# (random scale 0.5-2.0 of 2048x512, 512x512 crops, flip, photometric
# distortion), batch 4 GPUs x 4 images ("4xb4"), 20k iterations, the test on
# the whole image resized to 2048x512. The released models' test protocol:
# configs/original/rn38_voc_original.py.
_base_ = [
    './_base_/models/rn38_a1_s8_wider.py',
    'mmseg::_base_/datasets/pascal_voc12_aug.py',
    'mmseg::_base_/default_runtime.py',
    './_base_/schedules/rn38_sgd_linear_20k.py',
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size), decode_head=dict(num_classes=21))
