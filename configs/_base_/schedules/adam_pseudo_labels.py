# The optimiser of the segmentation network trained on pseudo-labels
# (configs/wsss/rn38_voc_pseudo.py, whose header says which parts PSA states
# and which are chosen here): Adam, lr 1e-4, torch's betas and eps, weight
# decay 5e-4. Listed beside a segmentation recipe, which keeps its own
# optim_wrapper (lr rule, clipping); a config swaps the optimiser in with
# optim_wrapper = dict(optimizer=dict(_base_.adam_pseudo_labels,
# _delete_=True)).
adam_pseudo_labels = dict(
    type='Adam', lr=1e-4, betas=(0.9, 0.999), eps=1e-8, weight_decay=5e-4)
