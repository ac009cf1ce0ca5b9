# The original release's ImageNet Model A
# (ilsvrc-cls_rna-a_cls1000_ep-0001.params, val top-1 error 19.20 %), with
# the test procedure of configs/original/rn38_in1k_original.py and the pools
# it was evaluated with (ademxapp's --pool-top-infer-style caffe): 3x3/2
# max-pools with padding 0 and floor rounding.
#   tools/test.py configs/original/rn38-a_in1k_original.py CKPT
_base_ = ['./rn38_in1k_original.py']
model = dict(backbone=dict(arch='A', pool_padding=0))
