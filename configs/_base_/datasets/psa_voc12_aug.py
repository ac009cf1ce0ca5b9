# PSA's training data (jiwoon-ahn/psa's train_cls.py and train_aff.py): the
# PASCAL VOC 2012 train_aug images (mmseg's aug.txt), shuffled, the last
# partial batch dropped. The configs of configs/wsss/ add their dataset
# type, labels, pipeline and batch size.
data_root = 'data/VOCdevkit/VOC2012'
train_dataloader = dict(
    num_workers=8,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(data_root=data_root, split='aug'))
