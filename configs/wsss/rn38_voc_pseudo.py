# The last step of PSA's pipeline: ResNet-38 + the original's segmentation
# head trained on pseudo-labels (random-walk labels of VOC train_aug from
# tools/wsss/random_walk.py or PSA's infer_aff.py, or any PNG labels
# 0-20, 255 = no label) instead of the real masks, validated on VOC val's
# real masks. PSA's "Ours-ResNet38" (61.7 mIoU on val, 63.7 on test in
# PSA's paper).
#
# Known (psa issue #7, the author): "The original ResNet-38 code will do
# [ademxapp]. The only difference is that I adopted Adam instead of SGD."
# So: the network, head, loss and training rules of configs/rn38_voc.py
# (the original's, see its header), trained on train_aug's images
# (PSA's labels are made for train_aug), with Adam.
# Not stated anywhere, so chosen here:
# - Adam's lr 1e-4 with torch's betas (0.9, 0.999) and eps 1e-8: Adam moves
#   every weight by about lr per step whatever its gradient's scale, and
#   1e-4 is 0.5 % of the typical ImageNet weight of ResNet-38's 3x3 convs
#   (std ~ 0.02), a usual fine-tuning step; SGD's 0.0016 would be far too
#   large for Adam. Not measured on VOC (no VOC or GPU here);
# - the rest as configs/rn38_voc.py: weight decay 5e-4 (L2, as torch's
#   Adam applies it), the "alex" lr rule (biases 2x, no decay), the lr held
#   for 10k iterations then linear to 0 at 20k, batch 16 (4 GPUs x 4), 512
#   crops and mmseg's VOC pipeline, the bootstrapped loss;
# - one pass over aug.txt (mmseg's train_aug list, 10,582 images) instead
#   of mmseg's VOC train + aug concatenation: the pseudo-labels exist once
#   per image.
#
# The labels: <pseudo_label_dir>/<image id>.png (palette or grey), inside
# data_root when relative (mmseg's data_prefix rule), anywhere when
# absolute. On the command line the folder is the dataset's seg_map_path:
#   --cfg-options \
#   train_dataloader.dataset.data_prefix.seg_map_path=/path/to/rw_labels
_base_ = ['../rn38_voc.py', '../_base_/schedules/adam_pseudo_labels.py']

data_root = 'data/VOCdevkit/VOC2012'
pseudo_label_dir = 'SegmentationClassPseudo'

train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        type='PascalVOCDataset',
        data_root=data_root,
        data_prefix=dict(img_path='JPEGImages', seg_map_path=pseudo_label_dir),
        ann_file='ImageSets/Segmentation/aug.txt',
        pipeline={{_base_.train_pipeline}}))
optim_wrapper = dict(optimizer=dict(_base_.adam_pseudo_labels, _delete_=True))
