#!/usr/bin/env bash
# Distributed training with torchrun, as mmseg's tools/dist_train.sh:
#   tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Without a GPU, GPUS CPU processes train with the gloo backend.
source "$(dirname "$0")/launch.sh"
torchrun_tool "$2" train.py "$1" --launcher pytorch "${@:3}"
