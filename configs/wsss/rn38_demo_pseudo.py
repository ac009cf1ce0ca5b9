# The WSSS demo's segmentation network (make demo-wsss, tools/wsss/
# demo.py): configs/wsss/rn38_voc_pseudo.py's recipe (ResNet-38 + the
# original's head trained with Adam on pseudo-labels) on configs/rn38_demo.py,
# the VOC recipe shrunk for the demo's data: trained on the random-walk
# labels of the demo's training images, tested on the real masks of its
# held-out images.
_base_ = ['../rn38_demo.py', '../_base_/schedules/adam_pseudo_labels.py']

# tools/wsss/demo.py sets these to its dataset and random-walk folder
data_root = 'data/rn38_wsss_demo/VOCdevkit/VOC2012'
pseudo_label_dir = 'work_dirs/rn38_wsss_demo/rw'

# The demo classifier's lighter dropout. No ImageNet weights offline: the
# backbone starts from the demo's CAM classifier (tools/wsss/demo.py sets
# init_cfg), whose BN statistics are learnt, so BN stays frozen as when the
# original fine-tunes.
model = dict(backbone=dict(dropouts=(0.1, 0.2), norm_eval=True))

# the training labels are the pseudo-labels, the held-out images keep their
# real masks
dataset = dict(_base_.dataset, data_root=data_root)
train_dataloader = dict(
    dataset=dict(
        data_root=data_root, data_prefix=dict(seg_map_path=pseudo_label_dir)))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

# rn38_voc_pseudo.py's Adam (lr 1e-4: a fine-tuning step, which starting
# from the classifier's backbone this is); 200 iterations of batch 8 (5
# passes over the 320 training images), the lr held for the first half,
# then linear to 0 as the base schedule.
max_iters = 200
optim_wrapper = dict(optimizer=dict(_base_.adam_pseudo_labels, _delete_=True))
param_scheduler = [
    dict(_base_.linear_decay, begin=max_iters // 2, end=max_iters)
]
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
