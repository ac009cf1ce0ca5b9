# Sourced by the launch scripts (dist_train.sh, dist_test.sh, slurm_train.sh,
# slurm_test.sh): the torchrun and srun command lines of mmseg's scripts,
# written once. mmseg ships each script whole, a copy of the other; here
# the four share this body (and python_env.sh's interpreter), so that a fix
# reaches all of them, and each keeps mmseg's arguments and variables.
source "$(dirname "${BASH_SOURCE[0]}")/python_env.sh"
_tools_dir="$(dirname "${BASH_SOURCE[0]}")"

# torchrun_tool GPUS SCRIPT [ARGS...]: tools/SCRIPT in GPUS processes on this
# node (NNODES, NODE_RANK, MASTER_ADDR, PORT for several nodes).
torchrun_tool() {
    local gpus=$1 script=$2
    shift 2
    PYTHONPATH="$_tools_dir/..":$PYTHONPATH \
    "$PYTHON" -m torch.distributed.run \
        --nnodes="${NNODES:-1}" \
        --node_rank="${NODE_RANK:-0}" \
        --master_addr="${MASTER_ADDR:-127.0.0.1}" \
        --nproc_per_node="$gpus" \
        --master_port="${PORT:-29500}" \
        "$_tools_dir/$script" "$@"
}

# srun_tool PARTITION JOB_NAME SCRIPT [ARGS...]: tools/SCRIPT in GPUS Slurm
# tasks, GPUS_PER_NODE a node (CPUS_PER_TASK, SRUN_ARGS).
srun_tool() {
    local partition=$1 job_name=$2 script=$3
    shift 3
    # SRUN_ARGS unquoted: several srun options in one variable, as in mmseg
    # shellcheck disable=SC2086
    PYTHONPATH="$_tools_dir/..":$PYTHONPATH \
    srun -p "$partition" \
        --job-name="$job_name" \
        --gres=gpu:"$GPUS_PER_NODE" \
        --ntasks="$GPUS" \
        --ntasks-per-node="$GPUS_PER_NODE" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" \
        --kill-on-bad-exit=1 \
        ${SRUN_ARGS:-} \
        "$PYTHON" -u "$_tools_dir/$script" "$@"
}
