#!/usr/bin/env bash
# The wheel folder .dev_scripts/cuda_check.sh installs from, on a machine with
# network: the OpenMMLab stack and its missing pure-Python dependencies as
# wheels for the GPU machine's Python (.dev_scripts/cuda_requirements.txt),
# and mmcv's source release (no binary release exists; cuda_check.sh builds
# it there).
#
#   bash .dev_scripts/cuda_wheels.sh [FOLDER]     (default: .cuda_wheels)
#
# Environment: CUDA_CHECK_PYTHON (the target's Python version, default 3.12);
# PYTHON (the pip to download with; default the project's .venv, made by
# `make setup`, whose setuptools < 81 can read mmcv's setup.py).
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
out=${1:-.cuda_wheels}
python_version=${CUDA_CHECK_PYTHON:-3.12}
python=${PYTHON:-$here/../.venv/bin/python}
mkdir -p "$out"
platforms=()
for tag in manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 \
    manylinux1_x86_64; do
    platforms+=(--platform "$tag")
done
"$python" -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version "$python_version" --implementation cp "${platforms[@]}" \
    -d "$out" -r "$here/cuda_requirements.txt"
# mmcv's setup.py needs pkg_resources to be read: no build isolation
"$python" -m pip download --quiet --no-deps --no-binary=:all: \
    --no-build-isolation -d "$out" \
    mmcv==2.1.0
echo "wheel folder $out: $(ls "$out" | wc -l) files, $(du -sh "$out" | cut -f1)"
