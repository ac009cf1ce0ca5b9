# ImageNet-1k pretraining of Model A (3x3/2 max-pools instead of strided
# convs); otherwise as rn38_in1k.py.
_base_ = ['./rn38_in1k.py']
model = dict(backbone=dict(arch='A'))
