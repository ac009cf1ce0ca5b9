#!/usr/bin/env bash
# mmrn38's GPU checks on a CUDA machine without network that has Python and
# a CUDA build of PyTorch but no OpenMMLab package: installs the stack from a
# wheel folder made by .dev_scripts/cuda_wheels.sh (mmcv 2.1.0 built there
# from its source release, CPU ops only: ResNet-38 uses no mmcv op, mmseg
# only imports them), puts this checkout's mmrn38 on PYTHONPATH, then runs
# .dev_scripts/cuda_check.py (benchmark, training with --amp, test, CAMs,
# the device tests). Run from the repository root:
#
#   bash .dev_scripts/cuda_check.sh WHEELS OUT [--steps STEP ...]
#
# (--steps and what follows OUT go to cuda_check.py; e.g. --steps
# cpu_kernels measures the host CPU's kernels only, about 5 minutes.)
#
# A second run on the same machine skips what is installed already.
# Environment: PYTHON (default python3), MAX_JOBS (mmcv's build, default all
# cores).
set -euo pipefail
wheels=${1:?usage: cuda_check.sh WHEELS OUT}
out=${2:?usage: cuda_check.sh WHEELS OUT}
python=${PYTHON:-python3}
mkdir -p "$out"
say() { printf '[cuda_check %s] %s\n' "$(date +%H:%M:%S)" "$*"; }
pip=("$python" -m pip install --quiet --no-index --no-deps --no-cache-dir)

say "$("$python" -c 'import sys, torch; print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CUDA {torch.version.cuda}, {torch.cuda.get_device_name(0)}")')"
if ! "$python" -c 'import mmengine, mmseg, mmpretrain' 2>/dev/null; then
    say "installing the OpenMMLab stack from $wheels"
    "${pip[@]}" "$wheels"/*.whl
elif ! "$python" -c 'import torchao' 2>/dev/null; then
    "${pip[@]}" "$wheels"/torchao-*.whl || say "torchao not installed: no int8"
fi
build_s=0
if ! "$python" -c 'import mmcv.ops' 2>/dev/null; then
    say "building mmcv 2.1.0 with its CPU ops (-O1 -g0, ${MAX_JOBS:-$(nproc)} jobs)"
    start=$SECONDS
    # no visible GPU: mmcv's setup.py then builds the CPU ops only
    if ! CUDA_VISIBLE_DEVICES= MMCV_WITH_OPS=1 MAX_JOBS=${MAX_JOBS:-$(nproc)} \
        CFLAGS="-O1 -g0" CXXFLAGS="-O1 -g0" \
        "${pip[@]}" --no-build-isolation "$wheels"/mmcv-2.1.0.tar.gz \
        >"$out/mmcv_build.log" 2>&1; then
        say "mmcv build failed; last lines of $out/mmcv_build.log:"
        tail -n 30 "$out/mmcv_build.log"
        exit 1
    fi
    build_s=$((SECONDS - start))
    say "mmcv built in $build_s s"
fi
# mmrn38 from this checkout (pip's editable install would need the network
# for its build dependencies), for the tools' subprocesses too
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH}
"$python" .dev_scripts/cuda_check.py "$out" --mmcv-build-s "$build_s" "${@:3}"
