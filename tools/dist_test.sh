#!/usr/bin/env bash
# Distributed testing with torchrun, as mmseg's tools/dist_test.sh:
#   tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args, e.g. --tta]
# Multi-node: set NNODES, NODE_RANK, MASTER_ADDR (and PORT) on every node.
# Without a GPU, GPUS CPU processes run with the gloo backend.
source "$(dirname "$0")/launch.sh"
torchrun_tool "$3" test.py "$1" "$2" --launcher pytorch "${@:4}"
