#!/usr/bin/env bash
# Training on a Slurm cluster, as mmseg's tools/slurm_train.sh:
#   [GPUS=8] tools/slurm_train.sh PARTITION JOB_NAME CONFIG [train.py args]
set -x
GPUS=${GPUS:-8}
GPUS_PER_NODE=${GPUS_PER_NODE:-8}
source "$(dirname "$0")/launch.sh"
srun_tool "$1" "$2" train.py "$3" --launcher slurm "${@:4}"
