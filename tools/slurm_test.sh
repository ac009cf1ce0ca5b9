#!/usr/bin/env bash
# Testing on a Slurm cluster, as mmseg's tools/slurm_test.sh:
#   [GPUS=4] tools/slurm_test.sh PARTITION JOB_NAME CONFIG CHECKPOINT [args]
set -x
GPUS=${GPUS:-4}
GPUS_PER_NODE=${GPUS_PER_NODE:-4}
source "$(dirname "$0")/launch.sh"
srun_tool "$1" "$2" test.py "$3" "$4" --launcher slurm "${@:5}"
